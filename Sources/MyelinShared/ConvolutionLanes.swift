// Inference f32 convolutions with the channels in the vector lanes: every depthwise conv2d, and
// the pointwise 1×1 convolutions of depthwise-separable chains. On the small planes of late
// layers a plane in 16-lane vectors fills few lanes (7 × 7: 49 of 64, on the depthwise's wide
// plane too); channels in the lanes fill them all.
//
// Channels-last rows: per sample [H·W, C] (pixel-major, channel fastest), the layout the two
// kernels hand each other where `ConvOps.keepChannelsLast` chooses so at load (never stored);
// the pointwise reads NCHW or rows, the depthwise either and writes either (NCHW through a
// transpose). Each output sums as the NCHW kernels sum it, bit for bit:
// - pointwise (`convPointwiseLanes`): Σ_c W[o, c]·x[c] from 0 with fused multiply-adds in c
//   order, then + bias, then max(·, 0): `convForwardPacked`'s register tile for a patch of one
//   depth block (≤ 320 input channels);
// - other convolutions, NCHW in and out (`convForwardLanes`): each depth block of the patch from
//   0 with fused multiply-adds in patch order, the first plus the bias, the next ones added, then
//   max(·, 0): `convForwardPacked`'s register tile (ResNet-mini's 3 × 3 convolutions, on 14 × 14,
//   7 × 7 and 4 × 4 planes, where the register tile's 32-column panels leave lanes empty). MobileNet-mini's pointwise layers keep their own kernel: run through this
//   one, they measured 5% slower;
// - depthwise (`convDepthwiseLanes`): bias (or 0) + Σ_taps w·x in tap order, multiply then add,
//   the padding adding zero products: `convDepthwiseForward` (training's) and `conv2dReference`.

/// Pixels of a pointwise lane tile, by 32 output channels (the lane blocks `convPackWeights`
/// writes when `convPoolsByLanes`): 14 accumulators; 7 × 7 and 14 × 14 planes in whole tiles.
let convPointwiseTilePixels = 7

/// Output pixels of `convForwardLanes`' tile (`convLanePassPixels` on AVX2): 16 accumulators (ResNet-mini's 4 × 4 planes in two
/// whole tiles, 14 × 14 in 25 with the last overlapping; 7 × 7 in 7, 56 lanes for 49 pixels).
let convLaneTilePixels = 8

/// Whether conv2d can run `g` as `convPointwiseLanes`: 1×1, stride and dilation 1, unpadded,
/// one group, whole 32-channel lane blocks packed at load (`convPoolsByLanes`, which needs a
/// patch of one depth block), and at least one whole 7-pixel tile.
@_optimize(size)
public func convPointwiseByLanes(_ g: ConvGeometry) -> Bool {
    g.kernelH == 1 && g.kernelW == 1 && g.padTop == 0 && g.padLeft == 0 && g.padBottom == 0 && g.padRight == 0
        && convPacksWeights(g) && convPoolsByLanes(g) && g.height * g.width >= convPointwiseTilePixels
}

/// Whether conv2d runs `g` (NCHW in and out, not fused with a pool) as `convForwardLanes`
/// rather than the register tile: one group, undilated, no negative padding, more than one input
/// channel (not a stem), a kernel larger than 1 × 1, whole 32-channel lane blocks, at least one
/// tile of output pixels (`convLaneTilePixels`), weights packed at load.
@_optimize(size)
public func convConvolvesByLanes(_ g: ConvGeometry) -> Bool {
    g.groups == 1 && g.dilationH == 1 && g.dilationW == 1 && g.padBottom >= 0 && g.padRight >= 0 && g.inChannels > 1
        && g.kernelH * g.kernelW > 1
        && g.outChannels % convLaneChannels == 0 && g.outHeight * g.outWidth >= convLaneTilePixels && convPacksWeights(g)
}

/// Whether a depthwise conv2d `g` (which always runs `convDepthwiseLanes`) can read and write
/// channels-last rows: one filter per channel (as many output as input channels), whole
/// 16-channel vectors.
@_optimize(size)
public func convDepthwiseByLanes(_ g: ConvGeometry) -> Bool {
    g.isDepthwise && g.outChannels == g.inChannels && g.inChannels % 16 == 0
}

/// Channels of `convDepthwiseLanes`' rows and lane weights: the output channels rounded up to 16.
@inline(__always)
func convDepthwiseLaneChannels(_ g: ConvGeometry) -> Int { kernelRoundUp(g.outChannels, 16) }

/// Floats of scratch the lane kernels need: `convForwardLanes`' patch offsets, padded planes and
/// two 8 × 32 tiles (more than the pointwise tile's 7 × 32 outputs); for the depthwise, its input
/// and its output in rows [pixels, lane channels] when NCHW, and a zero input row.
public func convLanesScratchCount(_ g: ConvGeometry) -> Int {
    guard g.isDepthwise else {
        let planes = g.padTop + g.padLeft + g.padBottom + g.padRight > 0 ? g.inChannels * g.paddedH * g.paddedW + gemmTileCols : 0
        return 2 * g.patch + planes + 2 * convLaneTilePixels * convLaneChannels
    }
    return (g.height * g.width + g.outHeight * g.outWidth + g.width) * convDepthwiseLaneChannels(g)
}

/// Pointwise conv2d (`convPointwiseByLanes(g)`) of one image with the output channels in the
/// lanes: for each 32-channel lane block, 7 pixels at a time (the last 7 overlapping earlier
/// ones when the plane is not a multiple of 7) in 14 accumulators over the input channels, each
/// input broadcast. x: [inChannels, H·W] (NCHW), or [H·W, inChannels] when `inputChannelsLast`.
/// Writes y [H·W, outChannels] (channels-last rows) or, when `averaged`, only the mean over the
/// plane of each channel, y [outChannels], summed in pixel order then divided by the pixel
/// count, as `adaptiveAvgPool2dForward` to 1 × 1 does. `lanes`: W[32b + i, c] at (b·C + c)·32 + i;
/// `edge`: `convLanesScratchCount(g)` floats.
@inline(never)
@_optimize(size)
public func convPointwiseLanes(_ g: ConvGeometry, x: UnsafePointer<Float>, inputChannelsLast: Bool, lanes: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, relu: Bool, y: UnsafeMutablePointer<Float>, averaged: Bool,
                               edge: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
#if MYELIN_AVX2
    let tile = convLanePassPixels
#else
    let tile = convPointwiseTilePixels
#endif
    let pixels = g.height * g.width, channels = g.inChannels
    let channelStride = inputChannelsLast ? 1 : pixels, pixelStride = inputChannelsLast ? channels : 1
    for block in 0..<(g.outChannels / convLaneChannels) {
        let blockWeights = lanes + block * channels * convLaneChannels, o = block * convLaneChannels
        let bias0 = bias.map { V.load($0 + o) }, bias1 = bias.map { V.load($0 + o + 16) }
        var sum0 = V(), sum1 = V(), next = 0
        while next < pixels {
            let first = Swift.min(next, pixels - tile)
#if MYELIN_AVX2
            // 6 pixels × 16 channels per pass (`convLanePassAVX2`).
            let p0 = x + first * pixelStride
            for half in 0..<2 {
                convLanePassAVX2(p0, p0 + pixelStride, p0 + 2 * pixelStride, p0 + 3 * pixelStride, p0 + 4 * pixelStride,
                                 p0 + 5 * pixelStride, offsets: nil, step: channelStride, weights: blockWeights + 16 * half,
                                 depth: 0..<channels, into: edge + 16 * half)
            }
#else
            var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V()
            var b0 = V(), b1 = V(), b2 = V(), b3 = V(), b4 = V(), b5 = V(), b6 = V()
            var w = blockWeights, p0 = x + first * pixelStride
            let p4 = p0 + 4 * pixelStride
            var at = 0
            for _ in 0..<channels {
                let lo = V.load(w), hi = V.load(w + 16)
                var s: V
                s = V(repeating: p0[at]); a0.addProduct(s, lo); b0.addProduct(s, hi)
                s = V(repeating: p0[at + pixelStride]); a1.addProduct(s, lo); b1.addProduct(s, hi)
                s = V(repeating: p0[at + 2 * pixelStride]); a2.addProduct(s, lo); b2.addProduct(s, hi)
                s = V(repeating: p0[at + 3 * pixelStride]); a3.addProduct(s, lo); b3.addProduct(s, hi)
                s = V(repeating: p4[at]); a4.addProduct(s, lo); b4.addProduct(s, hi)
                s = V(repeating: p4[at + pixelStride]); a5.addProduct(s, lo); b5.addProduct(s, hi)
                s = V(repeating: p4[at + 2 * pixelStride]); a6.addProduct(s, lo); b6.addProduct(s, hi)
                at += channelStride
                w += convLaneChannels
            }
            a0.store(edge); b0.store(edge + 16); a1.store(edge + 32); b1.store(edge + 48)
            a2.store(edge + 64); b2.store(edge + 80); a3.store(edge + 96); b3.store(edge + 112)
            a4.store(edge + 128); b4.store(edge + 144); a5.store(edge + 160); b5.store(edge + 176)
            a6.store(edge + 192); b6.store(edge + 208)
#endif
            // Pixels before `next` were written (or summed) by the tile before.
            for k in (next - first)..<tile {
                var y0 = V.load(edge + k * convLaneChannels), y1 = V.load(edge + k * convLaneChannels + 16)
                if let bias0, let bias1 { y0 = y0 + bias0; y1 = y1 + bias1 }
                if relu { y0 = y0.replacing(with: 0, where: y0 .< 0); y1 = y1.replacing(with: 0, where: y1 .< 0) }
                if averaged {
                    sum0 = sum0 + y0; sum1 = sum1 + y1
                } else {
                    let out = y + (first + k) * g.outChannels + o
                    y0.store(out); y1.store(out + 16)
                }
            }
            next = first + tile
        }
        if averaged {
            let count = V(repeating: Float(pixels))
            (sum0 / count).store(y + o); (sum1 / count).store(y + o + 16)
        }
    }
}

/// conv2d (`convConvolvesByLanes(g)`) of one image, x [C, H, W] → y [outChannels, outHeight,
/// outWidth] (NCHW), with the output channels in the lanes: for each 32-channel lane block,
/// 8 output pixels at a time in 16 accumulators over each depth block of the patch
/// (`convDepthStep`), each input broadcast from x (zero-padded into `scratch` when padded) at
/// its patch row's offset. Each output sums as the register tile sums it (`convForwardPacked`):
/// each depth block from 0 with fused multiply-adds in patch order, the first plus the bias,
/// the next ones added, then max(·, 0) (a NaN stays NaN). `lanes`: W[32b + i, p] at
/// (b·patch + p)·32 + i; `scratch`: `convLanesScratchCount(g)` floats.
@inline(never)
@_optimize(size)
public func convForwardLanes(_ g: ConvGeometry, x: UnsafePointer<Float>, lanes: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                             relu: Bool, y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
#if MYELIN_AVX2
    // Each 16-channel half of a lane block in turn, so that its weights (≤ 320 taps × 64 bytes)
    // stay in L1 from one pixel tile to the next.
    let tile = convLanePassPixels, laneWidth = 16
#else
    let tile = convLaneTilePixels, laneWidth = convLaneChannels
#endif
    let patch = g.patch, depth = convDepthStep(patch), ow = g.outWidth, pixels = g.outHeight * ow
    let offsets = UnsafeMutableRawPointer(scratch), work = scratch + 2 * patch
    var source = x, width = g.width, planeStride = g.height * g.width, edge = work
    if g.padTop + g.padLeft + g.padBottom + g.padRight > 0 {
        convPadPlanes(g, x, channels: g.inChannels, into: work)
        source = UnsafePointer(work)
        width = g.paddedW
        planeStride = g.paddedH * width
        edge = work + g.inChannels * planeStride + gemmTileCols
    }
    let tap = edge + tile * convLaneChannels
    var p = 0
    for c in 0..<g.inChannels {
        for i in 0..<g.kernelH {
            for j in 0..<g.kernelW {
                offsets.storeBytes(of: c * planeStride + i * width + j, toByteOffset: 8 * p, as: Int.self)
                p += 1
            }
        }
    }
    let sw = g.strideW
    for lane in stride(from: 0, to: g.outChannels, by: laneWidth) {
        let blockWeights = lanes + lane / convLaneChannels * patch * convLaneChannels + lane % convLaneChannels, o = lane
        var next = 0
        while next < pixels {
            // `tile` output pixels in row-major order (across rows; the last tile overlapping
            // earlier ones when the plane is not a multiple of it, which write the same values again).
            let first = Swift.min(next, pixels - tile)
            @inline(__always) func pixel(_ k: Int) -> UnsafePointer<Float> {
                source + (first + k) / ow * g.strideH * width + (first + k) % ow * sw
            }
#if MYELIN_AVX2
            let tilePixels = (pixel(0), pixel(1), pixel(2), pixel(3), pixel(4), pixel(5))
#else
            let tilePixels = (pixel(0), pixel(1), pixel(2), pixel(3), pixel(4), pixel(5), pixel(6), pixel(7))
#endif
            var pc = 0
            while pc < patch {
                let end = Swift.min(pc + depth, patch)
                convLaneTileSums(tilePixels, offsets: offsets, weights: blockWeights + pc * convLaneChannels,
                                 depth: pc..<end, into: tap)
                // The first block plus the bias, later blocks added (`convStoreTile`'s order):
                // pixel k's `laneWidth` sums at 32k.
                for k in 0..<tile {
                    for part in stride(from: 0, to: laneWidth, by: 16) {
                        let e = k * convLaneChannels + part
                        var v = V.load(tap + e)
                        if pc > 0 { v = V.load(edge + e) + v } else if let bias { v = v + V.load(bias + o + part) }
                        if relu && end == patch { v = v.replacing(with: 0, where: v .< 0) }
                        v.store(edge + e)
                    }
                }
                pc = end
            }
            // Each channel's pixels, contiguous in its plane.
            for i in 0..<laneWidth {
                let e = edge + i, out = y + (o + i) * pixels + first
#if MYELIN_AVX2
                for k in 0..<tile { out[k] = e[k * convLaneChannels] }
#else
                let v = SIMD8<Float>(e[0], e[32], e[64], e[96], e[128], e[160], e[192], e[224])
                UnsafeMutableRawPointer(out).storeBytes(of: v, as: SIMD8<Float>.self)
#endif
            }
            next = first + tile
        }
    }
}

#if MYELIN_AVX2
/// `convForwardLanes`' register tile on AVX2: for the 6 pixels at `pixels` (each input read at
/// the `offsets` of the depth block's taps) and 16 output channels, Σ_q input · weight over the
/// taps q in `depth` (weights: tap q's 16 channels at (q − depth.lowerBound)·32), fused
/// multiply-adds in tap order; pixel k's 16 sums stored at tap + 32k.
@inline(__always)
func convLaneTileSums(_ pixels: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
                                 UnsafePointer<Float>, UnsafePointer<Float>),
                      offsets: UnsafeRawPointer, weights: UnsafePointer<Float>, depth: Range<Int>, into tap: UnsafeMutablePointer<Float>) {
    convLanePassAVX2(pixels.0, pixels.1, pixels.2, pixels.3, pixels.4, pixels.5, offsets: offsets, step: 0,
                     weights: weights, depth: depth, into: tap)
}
#else
/// `convForwardLanes`' register tile: for the 8 pixels at `pixels` (each input read at the
/// `offsets` of the depth block's taps) and 32 output channels, Σ_q input · weight over the
/// taps q in `depth` (weights: tap q's 32 channels at (q − depth.lowerBound)·32), fused
/// multiply-adds in tap order; pixel k's 32 sums stored at tap + 32k.
@inline(__always)
@_optimize(speed)
func convLaneTileSums(_ pixels: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
                                 UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
                      offsets: UnsafeRawPointer, weights: UnsafePointer<Float>, depth: Range<Int>, into tap: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    let (p0, p1, p2, p3, p4, p5, p6, p7) = pixels
    var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V(), a7 = V()
    var b0 = V(), b1 = V(), b2 = V(), b3 = V(), b4 = V(), b5 = V(), b6 = V(), b7 = V()
    var w = weights
    for q in depth {
        let at = offsets.load(fromByteOffset: 8 * q, as: Int.self)
        let lo = V.load(w), hi = V.load(w + 16)
        var s: V
        s = V(repeating: p0[at]); a0.addProduct(s, lo); b0.addProduct(s, hi)
        s = V(repeating: p1[at]); a1.addProduct(s, lo); b1.addProduct(s, hi)
        s = V(repeating: p2[at]); a2.addProduct(s, lo); b2.addProduct(s, hi)
        s = V(repeating: p3[at]); a3.addProduct(s, lo); b3.addProduct(s, hi)
        s = V(repeating: p4[at]); a4.addProduct(s, lo); b4.addProduct(s, hi)
        s = V(repeating: p5[at]); a5.addProduct(s, lo); b5.addProduct(s, hi)
        s = V(repeating: p6[at]); a6.addProduct(s, lo); b6.addProduct(s, hi)
        s = V(repeating: p7[at]); a7.addProduct(s, lo); b7.addProduct(s, hi)
        w += convLaneChannels
    }
    a0.store(tap); b0.store(tap + 16); a1.store(tap + 32); b1.store(tap + 48)
    a2.store(tap + 64); b2.store(tap + 80); a3.store(tap + 96); b3.store(tap + 112)
    a4.store(tap + 128); b4.store(tap + 144); a5.store(tap + 160); b5.store(tap + 176)
    a6.store(tap + 192); b6.store(tap + 208); a7.store(tap + 224); b7.store(tap + 240)
}
#endif

/// Depthwise conv2d (`g.isDepthwise`, any kernel, stride, padding, dilation and channel
/// multiplier) of one image with the output channels in the lanes, 16 at a time: from
/// channels-last rows [H·W, C] when `inputChannelsLast`, else from x [C, H·W] (NCHW) transposed
/// into rows of the lane channels (output channel o reading input channel o / multiplier); each
/// tap one load, a zero vector for taps in the padding. y is [outChannels, outHeight·outWidth],
/// or rows [outHeight·outWidth, outChannels] when `outputChannelsLast` (both only with
/// `convDepthwiseByLanes(g)`). `lanes`: the weights tap-major (`convDepthwiseLaneWeights`);
/// `scratch`: `convLanesScratchCount(g)` floats. Each output is bias (or 0) + Σ_taps w·x in
/// tap order, multiply then add (a zero product for padding), then max(·, 0) when `relu` (a NaN
/// stays NaN): the values of `convDepthwiseForward` and `conv2dReference`, bit for bit.
@inline(never)
@_optimize(size)
public func convDepthwiseLanes(_ g: ConvGeometry, x: UnsafePointer<Float>, inputChannelsLast: Bool, lanes: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, relu: Bool, y: UnsafeMutablePointer<Float>, outputChannelsLast: Bool,
                               scratch: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    let c = convDepthwiseLaneChannels(g), o = g.outChannels, multiplier = o / g.inChannels
    let plane = g.height * g.width, outPlane = g.outHeight * g.outWidth
    var rows = x
    if !inputChannelsLast {
        if multiplier == 1 {
            transposeFloats(x, rows: g.inChannels, cols: plane, srcStride: plane, into: scratch, dstStride: c)
        } else {
            for ch in 0..<o {
                for p in 0..<plane { scratch[p * c + ch] = x[ch / multiplier * plane + p] }
            }
        }
        rows = UnsafePointer(scratch)
    }
    let out = outputChannelsLast ? y : scratch + plane * c
    // Outputs whose 3 × 3 taps all fall inside the input columns: columns
    // interior.lowerBound..<upperBound (none for other kernels), their taps in padding rows read
    // from a zero row, as the other outputs' taps in the padding (the same zero products).
    let threeByThree = g.kernelH == 3 && g.kernelW == 3
    let zeroRow = UnsafeRawPointer(scratch + (plane + outPlane) * c)
    convZeroRow(scratch + (plane + outPlane) * c, g.width * c)
    let firstColumn = (g.padLeft + g.strideW - 1) / g.strideW
    let interior = firstColumn..<Swift.max(firstColumn, (g.width - 1 - 2 * g.dilationW + g.padLeft) / g.strideW + 1)
    var h = 0
    while h < c {
        var start = V()
        if let bias {
            if o - h >= 16 { start = V.load(bias + h) } else { for i in 0..<(o - h) { start[i] = bias[h + i] } }
        }
        let weights = UnsafeRawPointer(lanes + h), source = UnsafeRawPointer(rows + h)
        for oy in 0..<g.outHeight {
            let top = oy * g.strideH - g.padTop
            @inline(__always) func inputRow(_ i: Int) -> UnsafeRawPointer {
                let iy = top + i * g.dilationH
                return UInt(bitPattern: iy) < UInt(g.height) ? source + 4 * iy * g.width * c : zeroRow
            }
            var ox = 0
            while ox < g.outWidth {
                if threeByThree && ox == interior.lowerBound && !interior.isEmpty {
                    let left = 4 * (ox * g.strideW - g.padLeft) * c
                    convDepthwiseLanes3x3((inputRow(0) + left, inputRow(1) + left, inputRow(2) + left), weights: weights, channels: c,
                                          column: 4 * g.dilationW * c, step: 4 * g.strideW * c,
                                          count: interior.count, start: start, relu: relu,
                                          to: out + (oy * g.outWidth + ox) * c + h)
                    ox = interior.upperBound
                    continue
                }
                let left = ox * g.strideW - g.padLeft
                var acc = start, tap = 0
                for i in 0..<g.kernelH {
                    let iy = top + i * g.dilationH
                    for j in 0..<g.kernelW {
                        let ix = left + j * g.dilationW
                        // A tap in the padding reads zeros (a select, not a branch: the pattern changes output by output).
                        let inside = UInt(bitPattern: iy) < UInt(g.height) && UInt(bitPattern: ix) < UInt(g.width)
                        let v = (inside ? source + 4 * (iy * g.width + ix) * c : zeroRow).loadUnaligned(as: V.self)
                        acc = acc + weights.loadUnaligned(fromByteOffset: 4 * tap * c, as: V.self) * v
                        tap += 1
                    }
                }
                if relu { acc = acc.replacing(with: 0, where: acc .< 0) }
                UnsafeMutableRawPointer(out + (oy * g.outWidth + ox) * c + h).storeBytes(of: acc, as: V.self)
                ox += 1
            }
        }
        h += 16
    }
    if !outputChannelsLast { transposeFloats(out, rows: outPlane, cols: o, srcStride: c, into: y, dstStride: outPlane) }
}

/// `count` outputs of a row of `convDepthwiseLanes` whose 3 × 3 taps all fall inside the input
/// columns: 16 channels each, the first reading its taps of kernel row i from `rows.i` on (a zero
/// row for padding rows), the next `step` bytes on; taps `column` bytes apart, weights
/// (tap-major) `4·channels` bytes apart; outputs `channels` floats apart from `to`. Sums as
/// `convDepthwiseLanes`.
@inline(never)
@_optimize(speed)
func convDepthwiseLanes3x3(_ rows: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer), weights: UnsafeRawPointer, channels: Int,
                           column: Int, step: Int, count: Int, start: SIMD16<Float>, relu: Bool, to: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    let tapWeights = 4 * channels
    var (r0, r1, r2) = rows, out = to
    for _ in 0..<count {
        var acc = start
        for j in 0..<3 {
            acc = acc + weights.loadUnaligned(fromByteOffset: j * tapWeights, as: V.self) * r0.loadUnaligned(fromByteOffset: j * column, as: V.self)
        }
        for j in 0..<3 {
            acc = acc + weights.loadUnaligned(fromByteOffset: (3 + j) * tapWeights, as: V.self) * r1.loadUnaligned(fromByteOffset: j * column, as: V.self)
        }
        for j in 0..<3 {
            acc = acc + weights.loadUnaligned(fromByteOffset: (6 + j) * tapWeights, as: V.self) * r2.loadUnaligned(fromByteOffset: j * column, as: V.self)
        }
        if relu { acc = acc.replacing(with: 0, where: acc .< 0) }
        UnsafeMutableRawPointer(out).storeBytes(of: acc, as: V.self)
        r0 += step
        r1 += step
        r2 += step
        out += channels
    }
}

/// Writes the depthwise weights [O, 1, kH, kW] (f32, or f16 when `f16`) tap-major for
/// `convDepthwiseLanes`: w[t, o] at t·C + o, C the lane channels (zero past O).
@_optimize(size)
public func convDepthwiseLaneWeights(_ g: ConvGeometry, _ weights: UnsafeRawPointer, f16: Bool, into dst: UnsafeMutablePointer<Float>) {
    let taps = g.kernelH * g.kernelW, c = convDepthwiseLaneChannels(g)
    for ch in 0..<c {
        for t in 0..<taps {
            let e = ch * taps + t
            dst[t * c + ch] = ch >= g.outChannels ? 0
                : f16 ? halfBitsToFloat(weights.load(fromByteOffset: 2 * e, as: UInt16.self)) : weights.load(fromByteOffset: 4 * e, as: Float.self)
        }
    }
}

#if MYELIN_AVX2
/// Pixels of the lane kernels' AVX2 register tile (`convLanePassAVX2`), where the 24 to 32
/// accumulators of the AVX-512 tiles spill on 16 ymm registers: 6 pixels × 16 channels in 12.
let convLanePassPixels = 6

/// The lane kernels' register tile on AVX2: one pass of 6 pixels × 16 output channels in 12
/// accumulators (two FMA pipes of latency 4 need at least 8 in flight; 12 leave slack for the
/// loads). Pixel k's input at tap q is read at qk[offsets[q]] (Ints), or qk[q·step] without
/// offsets; the 16 channels' weights of tap q at weights + (q − depth.lowerBound)·32.
/// Σ over the taps in order, one fused multiply-add each — the sums of the wide tiles, bit for
/// bit; pixel k's 16 sums stored at into + 32k.
@inline(never)
@_optimize(speed)
func convLanePassAVX2(_ q0: UnsafePointer<Float>, _ q1: UnsafePointer<Float>, _ q2: UnsafePointer<Float>, _ q3: UnsafePointer<Float>,
                      _ q4: UnsafePointer<Float>, _ q5: UnsafePointer<Float>, offsets: UnsafeRawPointer?, step: Int,
                      weights: UnsafePointer<Float>, depth: Range<Int>, into tap: UnsafeMutablePointer<Float>) {
    typealias H = SIMD8<Float>
    var a0 = H(), a1 = H(), a2 = H(), a3 = H(), a4 = H(), a5 = H(), b0 = H(), b1 = H(), b2 = H(), b3 = H(), b4 = H(), b5 = H()
    var w = UnsafeRawPointer(weights)
    for q in depth {
        let at = offsets?.load(fromByteOffset: 8 * q, as: Int.self) ?? q * step
        let lo = w.loadUnaligned(as: H.self), hi = w.loadUnaligned(fromByteOffset: 32, as: H.self)
        var s: H
        s = H(repeating: q0[at]); a0.addProduct(s, lo); b0.addProduct(s, hi)
        s = H(repeating: q1[at]); a1.addProduct(s, lo); b1.addProduct(s, hi)
        s = H(repeating: q2[at]); a2.addProduct(s, lo); b2.addProduct(s, hi)
        s = H(repeating: q3[at]); a3.addProduct(s, lo); b3.addProduct(s, hi)
        s = H(repeating: q4[at]); a4.addProduct(s, lo); b4.addProduct(s, hi)
        s = H(repeating: q5[at]); a5.addProduct(s, lo); b5.addProduct(s, hi)
        w += 4 * convLaneChannels  // bytes: the next tap's 32 floats
    }
    let t = UnsafeMutableRawPointer(tap)
    t.storeBytes(of: a0, as: H.self); t.storeBytes(of: b0, toByteOffset: 32, as: H.self)
    t.storeBytes(of: a1, toByteOffset: 128, as: H.self); t.storeBytes(of: b1, toByteOffset: 160, as: H.self)
    t.storeBytes(of: a2, toByteOffset: 256, as: H.self); t.storeBytes(of: b2, toByteOffset: 288, as: H.self)
    t.storeBytes(of: a3, toByteOffset: 384, as: H.self); t.storeBytes(of: b3, toByteOffset: 416, as: H.self)
    t.storeBytes(of: a4, toByteOffset: 512, as: H.self); t.storeBytes(of: b4, toByteOffset: 544, as: H.self)
    t.storeBytes(of: a5, toByteOffset: 640, as: H.self); t.storeBytes(of: b5, toByteOffset: 672, as: H.self)
}
#endif
