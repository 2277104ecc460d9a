// Int8 2-D convolution (the `qconv2d` op): u8 activations × i8 weights → i32 accumulators,
// then QuantizedGEMM.swift's output formulas (requantisation to u8, or f32), per output channel.
// Layout NCHW, row-major, like Convolution.swift (whose `ConvGeometry` describes the shape):
//   x       u8 [batch, C, H, W]            (scale s_x, zero point z_x)
//   weight  i8 [O, C / groups, kH, kW]     (per-output-channel scales)
//   acc[n, o, oy, ox] = bias[o] + Σ_{c, i, j} xz(n, gC + c, oy·sH − top + i·dH, ox·sW − left + j·dW) · weight[o, c, i, j]
// where g is o's group, C its input channel count, and xz is x inside the image and z_x
// outside it (padding is the quantised 0.0). As for qlinear, bias already holds the
// zero-point correction −z_x·Σweight[o] (the exporter folds it), so padding needs none.
//
// Two fast paths, both giving the reference's integers exactly:
//   - GEMM (two or more input channels per group; 1×1 pointwise convolutions included): per
//     image and group, the group's planes transposed to channels-last [H·W, C/groups], then
//     im2col into u8 rows [OH·OW, k4] (k = patch in (i, j, c) order — a tap's channels are one
//     contiguous copy — padded to 4 with zeros), then `qgemm` — the same register tile as
//     qlinear, `vpdpbusd` on CPUs with AVX-512 VNNI (Sources/MyelinRuntime/QuantizedTileVNNI.swift),
//     plain loops elsewhere — on weights packed in the same (i, j, c) order, its epilogue
//     writing NCHW directly.
//   - direct (one input channel per group: depthwise convolutions, and stems on one-channel images):
//     i32 rows accumulated 16 lanes at a time over a z_x-padded copy of the input plane.
// i32 sums cannot overflow while patch < 2^16 (`qconvMaxPatch`; the op checks it).

/// The largest patch (C/groups·kH·kW) whose i32 sums cannot overflow: 255·127·patch < 2^31.
public let qconvMaxPatch = 65535

// MARK: Reference

/// Naive reference: the accumulators `acc` i32 [batch, O, OH, OW] of the formula above, in
/// wrapping i32. Shapes from `g` (its bottom/right padding must not be negative).
public func qconvReference(_ g: ConvGeometry, x: UnsafePointer<UInt8>, inputZeroPoint: Int32, weight: UnsafePointer<Int8>,
                           bias: UnsafePointer<Int32>, acc: UnsafeMutablePointer<Int32>) {
    let cg = g.inChannels / g.groups, ng = g.outChannels / g.groups
    let oh = g.outHeight, ow = g.outWidth
    for n in 0..<g.batch {
        for o in 0..<g.outChannels {
            let group = o / ng
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var s = bias[o]
                    for c in 0..<cg {
                        let plane = x + (n * g.inChannels + group * cg + c) * g.height * g.width
                        for i in 0..<g.kernelH {
                            for j in 0..<g.kernelW {
                                let iy = oy * g.strideH - g.padTop + i * g.dilationH
                                let ix = ox * g.strideW - g.padLeft + j * g.dilationW
                                let inside = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width
                                let v = inside ? Int32(plane[iy * g.width + ix]) : inputZeroPoint
                                s &+= v &* Int32(weight[((o * cg + c) * g.kernelH + i) * g.kernelW + j])
                            }
                        }
                    }
                    acc[((n * g.outChannels + o) * oh + oy) * ow + ox] = s
                }
            }
        }
    }
}

/// The output formula on `count` accumulators of one channel (multiplier `multiplier`),
/// written contiguously from element `at` of `output` (its `ld` is not used).
@inline(never) @_optimize(speed)
public func qconvStoreChannel(_ acc: UnsafePointer<Int32>, count: Int, multiplier: Float, output: QGEMMOutput, at: Int) {
    if let y = output.f32 {
        let dst = y + at
        if output.relu {
            for p in 0..<count { dst[p] = dequantizeAccumulator(acc[p], multiplier: multiplier, relu: true) }
        } else {
            for p in 0..<count { dst[p] = dequantizeAccumulator(acc[p], multiplier: multiplier, relu: false) }
        }
    } else if let y = output.u8 {
        let dst = y + at, z = Float(output.zeroPoint), low: Float = output.relu ? z : 0
        for p in 0..<count { dst[p] = requantizeToU8(acc[p], multiplier: multiplier, zeroPoint: z, low: low) }
    }
}

// MARK: Weights and scratch

extension ConvGeometry {
    /// One input channel per group (depthwise; a first layer on a one-channel image): the
    /// direct path, whose rows are NCHW output rows. (A stem through the GEMM path spent most of
    /// its time scattering 6-pixel tile rows into output planes: anchor CNN int8 ~25% slower.)
    @inline(__always) var qconvIsDirect: Bool { inChannels == groups }
}

/// Bytes of weights packed for the GEMM path (one `qgemmPackWeights` panel set per group,
/// each 64-byte aligned); 0 for the direct path, which reads the row-major weights.
public func qconvPackedBytes(_ g: ConvGeometry) -> Int {
    g.qconvIsDirect ? 0 : g.groups * qconvGroupPackedBytes(g)
}

@inline(__always)
func qconvGroupPackedBytes(_ g: ConvGeometry) -> Int {
    kernelRoundUp(qgemmPackedBytes(n: g.outChannels / g.groups, k: g.patch), 64)
}

/// Packs weight i8 [O, C/groups, kH, kW] for `qconv` (`qconvPackedBytes(g)` bytes at `dst`):
/// per group, `qgemmPackWeights`'s layout of the [O/groups, patch] matrix whose rows are in
/// (i, j, c) order, im2col's.
public func qconvPackWeights(_ g: ConvGeometry, weight: UnsafePointer<Int8>, into dst: UnsafeMutablePointer<Int8>) {
    guard !g.qconvIsDirect else { return }
    let ng = g.outChannels / g.groups, k = g.patch, cg = g.inChannels / g.groups, taps = g.kernelH * g.kernelW
    let k4 = kernelRoundUp(k, 4), n16 = kernelRoundUp(ng, 16)
    for group in 0..<g.groups {
        let w = weight + group * ng * k, groupDst = dst + group * qconvGroupPackedBytes(g)
        var q0 = 0
        while q0 < n16 {
            let width = Swift.min(qgemmPanelCols, n16 - q0)
            let panel = groupDst + q0 * k4
            for g4 in 0..<(k4 / 4) {
                for j in 0..<width {
                    for t in 0..<4 {
                        // Column p of the (i, j, c) row is tap p / cg of channel p % cg.
                        let col = q0 + j, p = 4 * g4 + t
                        panel[(g4 * width + j) * 4 + t] = col < ng && p < k ? w[col * k + (p % cg) * taps + p / cg] : 0
                    }
                }
            }
            q0 += qgemmPanelCols
        }
    }
}

/// Bytes of scratch `qconv` needs (independent of the batch: it works image by image).
public func qconvScratchBytes(_ g: ConvGeometry) -> Int {
    let pixels = g.outHeight * g.outWidth
    if g.qconvIsDirect {
        let pw = g.width + g.padLeft + g.padRight
        let padded = (g.height + g.padTop + g.padBottom) * pw + (g.kernelW - 1) * g.dilationW
        return kernelRoundUp(padded, 64) + kernelRoundUp(Swift.max(g.outWidth, g.outHeight * pw) * 4, 64)
    }
    let columns = kernelRoundUp(pixels * kernelRoundUp(g.patch, 4), 64)
    let channelsLast = kernelRoundUp(g.height * g.width * (g.inChannels / g.groups), 64)
    return columns + channelsLast + qgemmTileCount * 4 + qgemmTileRows * qgemmPanelCols
}

// MARK: Fast kernel

/// y = output formula(acc) for `g.batch` images, exactly the reference's accumulators.
/// `packed` from `qconvPackWeights` (GEMM path; ignored by the direct path, which reads
/// `weight`), bias i32 [O], multipliers f32 [O], output f32 or u8 [batch, O, OH, OW]
/// (`output.ld` unused), `scratch` of `qconvScratchBytes(g)` bytes, 64-byte aligned.
/// Allocates nothing.
@inline(never)
@_optimize(speed)
public func qconv(_ g: ConvGeometry, x: UnsafePointer<UInt8>, inputZeroPoint: Int32, weight: UnsafePointer<Int8>,
                  packed: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>,
                  output: QGEMMOutput, scratch: UnsafeMutableRawPointer) {
    if g.qconvIsDirect {
        qconvDirect(g, x: x, inputZeroPoint: inputZeroPoint, weight: weight, bias: bias, multipliers: multipliers,
                    output: output, scratch: scratch)
    } else {
        qconvGEMM(g, x: x, inputZeroPoint: inputZeroPoint, packed: packed, bias: bias, multipliers: multipliers,
                  output: output, scratch: scratch)
    }
}

/// Fills `columns` u8 [OH·OW, k4]: row p holds the patch under output pixel p in (i, j, c)
/// order, read from `pixels` u8 [H·W, C/groups] (channels-last), z_x where the window leaves
/// the image, zeros from patch to k4.
@inline(never)
@_optimize(speed)
func qconvIm2col(_ g: ConvGeometry, pixels: UnsafePointer<UInt8>, zeroPoint: UInt8, columns: UnsafeMutablePointer<UInt8>) {
    let cg = g.inChannels / g.groups, k = g.patch, k4 = kernelRoundUp(k, 4)
    let oh = g.outHeight, ow = g.outWidth, h = g.height, w = g.width, kh = g.kernelH, kw = g.kernelW
    for oy in 0..<oh {
        for ox in 0..<ow {
            let row = columns + (oy * ow + ox) * k4
            var t = 0
            let x0 = ox * g.strideW - g.padLeft
            if cg == 1 && g.dilationW == 1 && x0 >= 0 && x0 + kw <= w {
                // One channel, the window inside horizontally: each kernel row is one run of kw bytes.
                for i in 0..<kh {
                    let iy = oy * g.strideH - g.padTop + i * g.dilationH
                    if iy >= 0 && iy < h {
                        for j in 0..<kw { row[t + j] = pixels[iy * w + x0 + j] }
                    } else {
                        (row + t).update(repeating: zeroPoint, count: kw)
                    }
                    t += kw
                }
                while t < k4 { row[t] = 0; t += 1 }
                continue
            }
            for i in 0..<kh {
                let iy = oy * g.strideH - g.padTop + i * g.dilationH
                for j in 0..<kw {
                    let ix = ox * g.strideW - g.padLeft + j * g.dilationW
                    if iy >= 0 && iy < h && ix >= 0 && ix < w {
                        qconvCopyBytes(row + t, pixels + (iy * w + ix) * cg, cg)
                    } else {
                        (row + t).update(repeating: zeroPoint, count: cg)
                    }
                    t += cg
                }
            }
            while t < k4 { row[t] = 0; t += 1 }
        }
    }
}

/// dst[0..<n] = src[0..<n]: 16- or 4-byte pieces for the short runs of im2col (a tap's channels).
@inline(__always) @_optimize(speed)
func qconvCopyBytes(_ dst: UnsafeMutablePointer<UInt8>, _ src: UnsafePointer<UInt8>, _ n: Int) {
    var i = 0
    while i + 16 <= n {
        UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<UInt8>.self), as: SIMD16<UInt8>.self)
        i += 16
    }
    while i + 4 <= n {
        UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: UInt32.self), as: UInt32.self)
        i += 4
    }
    while i < n { dst[i] = src[i]; i += 1 }
}

@inline(never)
@_optimize(speed)
func qconvGEMM(_ g: ConvGeometry, x: UnsafePointer<UInt8>, inputZeroPoint: Int32, packed: UnsafePointer<Int8>,
               bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>, output: QGEMMOutput,
               scratch: UnsafeMutableRawPointer) {
    let cg = g.inChannels / g.groups, ng = g.outChannels / g.groups, k = g.patch, k4 = kernelRoundUp(k, 4)
    let pixels = g.outHeight * g.outWidth, planeSize = g.height * g.width
    let columns = scratch.assumingMemoryBound(to: UInt8.self)
    let channelsLast = (scratch + kernelRoundUp(pixels * k4, 64)).assumingMemoryBound(to: UInt8.self)
    let tile = (UnsafeMutableRawPointer(channelsLast) + kernelRoundUp(planeSize * cg, 64)).assumingMemoryBound(to: Int32.self)
    let zero = UInt8(truncatingIfNeeded: inputZeroPoint)
    for n in 0..<g.batch {
        for group in 0..<g.groups {
            let planes = x + (n * g.inChannels + group * cg) * planeSize
            if cg == 1 {
                qconvIm2col(g, pixels: planes, zeroPoint: zero, columns: columns)
            } else {
                qconvTranspose(planes, pixels: cg, channels: planeSize, into: channelsLast)
                qconvIm2col(g, pixels: channelsLast, zeroPoint: zero, columns: columns)
            }
            qgemm(m: pixels, n: ng, k: k, x: columns, ldx: k4, packed: packed + group * qconvGroupPackedBytes(g),
                  bias: bias + group * ng, multipliers: multipliers + group * ng, output: output, tile: tile,
                  planesFrom: n * g.outChannels + group * ng)
        }
    }
}

/// The output formula on `rows × cols` of the tile (row stride 64) into staging (the tile
/// itself for f32, the 384 bytes after it for u8) — contiguous loops the compiler vectorises —
/// then column j's `rows` values to `at + j·planeSize` (a run of pixels of one output channel).
@inline(__always) @_optimize(speed)
func qconvEpilogue(tile: UnsafeMutablePointer<Int32>, rows: Int, cols: Int, bias: UnsafePointer<Int32>,
                   multipliers: UnsafePointer<Float>, output: QGEMMOutput, at: Int, planeSize: Int) {
    if let y = output.f32 {
        let staged = UnsafeMutableRawPointer(tile).assumingMemoryBound(to: Float.self)
        for r in 0..<rows {
            let t = tile + r * qgemmPanelCols, s = staged + r * qgemmPanelCols
            if output.relu {
                for j in 0..<cols { s[j] = dequantizeAccumulator(t[j] &+ bias[j], multiplier: multipliers[j], relu: true) }
            } else {
                for j in 0..<cols { s[j] = dequantizeAccumulator(t[j] &+ bias[j], multiplier: multipliers[j], relu: false) }
            }
        }
        for j in 0..<cols {
            let dst = y + at + j * planeSize
            for r in 0..<rows { dst[r] = staged[r * qgemmPanelCols + j] }
        }
    } else if let y = output.u8 {
        let staged = UnsafeMutableRawPointer(tile + qgemmTileCount).assumingMemoryBound(to: UInt8.self)
        let z = Float(output.zeroPoint), low: Float = output.relu ? z : 0
        for r in 0..<rows {
            let t = tile + r * qgemmPanelCols, s = staged + r * qgemmPanelCols
            for j in 0..<cols { s[j] = requantizeToU8(t[j] &+ bias[j], multiplier: multipliers[j], zeroPoint: z, low: low) }
        }
        for j in 0..<cols {
            let dst = y + at + j * planeSize
            for r in 0..<rows { dst[r] = staged[r * qgemmPanelCols + j] }
        }
    }
}

/// row[0..<n] += i32(src[0..<n]) · w, 16 lanes at a time (integer widening only: float
/// conversions of SIMD types are lane-by-lane calls in Embedded Swift).
@inline(never) @_optimize(speed)
func qconvAccumulateRow(_ row: UnsafeMutablePointer<Int32>, _ src: UnsafePointer<UInt8>, _ n: Int, _ w: Int32) {
    let wv = SIMD16<Int32>(repeating: w)
    var ox = 0
    while ox + 16 <= n {
        let x = SIMD16<Int32>(truncatingIfNeeded: UnsafeRawPointer(src + ox).loadUnaligned(as: SIMD16<UInt8>.self))
        let r = UnsafeMutableRawPointer(row + ox)
        r.storeBytes(of: r.loadUnaligned(as: SIMD16<Int32>.self) &+ x &* wv, as: SIMD16<Int32>.self)
        ox += 16
    }
    while ox < n { row[ox] &+= Int32(src[ox]) &* w; ox += 1 }
}

/// row[0..<n] += i32(src[ox·stride]) · w (strided depthwise rows).
@inline(never) @_optimize(speed)
func qconvAccumulateStridedRow(_ row: UnsafeMutablePointer<Int32>, _ src: UnsafePointer<UInt8>, _ n: Int, _ stride: Int, _ w: Int32) {
    for ox in 0..<n { row[ox] &+= Int32(src[ox * stride]) &* w }
}

/// dst [channels, pixels] = src [pixels, channels]ᵀ (bytes).
@inline(__always) @_optimize(speed)
func qconvTranspose(_ src: UnsafePointer<UInt8>, pixels: Int, channels: Int, into dst: UnsafeMutablePointer<UInt8>) {
    for j in 0..<channels {
        let d = dst + j * pixels
        for p in 0..<pixels { d[p] = src[p * channels + j] }
    }
}

// Size-optimised loop nest (the library's 200 KB budget); its per-row work runs in the
// speed-compiled qconvAccumulateRow and qconvStoreChannel.
@inline(never)
func qconvDirect(_ g: ConvGeometry, x: UnsafePointer<UInt8>, inputZeroPoint: Int32, weight: UnsafePointer<Int8>,
                 bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>, output: QGEMMOutput,
                 scratch: UnsafeMutableRawPointer) {
    let ng = g.outChannels / g.groups, oh = g.outHeight, ow = g.outWidth, kh = g.kernelH, kw = g.kernelW, dw0 = g.dilationW
    let ph = g.height + g.padTop + g.padBottom, pw = g.width + g.padLeft + g.padRight
    let padded = scratch.assumingMemoryBound(to: UInt8.self)
    let row = (scratch + kernelRoundUp(ph * pw + (kw - 1) * dw0, 64)).assumingMemoryBound(to: Int32.self)
    let zero = UInt8(truncatingIfNeeded: inputZeroPoint)
    let sh = g.strideH, sw = g.strideW, dh = g.dilationH, dw = g.dilationW
    for n in 0..<g.batch {
        for c in 0..<g.inChannels {
            // The plane inside a border of z_x.
            let plane = x + (n * g.inChannels + c) * g.height * g.width
            padded.update(repeating: zero, count: ph * pw + (kw - 1) * dw)
            for iy in 0..<g.height {
                qconvCopyBytes(padded + (iy + g.padTop) * pw + g.padLeft, plane + iy * g.width, g.width)
            }
            for t in 0..<ng {
                let o = c * ng + t
                let w = weight + o * kh * kw
                if sh == 1 && sw == 1 {
                    // Stride 1: the whole plane as rows of the padded width, one long run per tap
                    // (columns ow ..< pw of each row are never stored).
                    let count = oh * pw
                    for p in 0..<count { row[p] = bias[o] }
                    for i in 0..<kh {
                        for j in 0..<kw { qconvAccumulateRow(row, padded + i * dh * pw + j * dw, count, Int32(w[i * kw + j])) }
                    }
                    for oy in 0..<oh {
                        qconvStoreChannel(row + oy * pw, count: ow, multiplier: multipliers[o], output: output,
                                          at: ((n * g.outChannels + o) * oh + oy) * ow)
                    }
                    continue
                }
                for oy in 0..<oh {
                    for ox in 0..<ow { row[ox] = bias[o] }
                    for i in 0..<kh {
                        let line = padded + (oy * sh + i * dh) * pw
                        for j in 0..<kw {
                            let wv = Int32(w[i * kw + j]), src = line + j * dw
                            if sw == 1 {
                                qconvAccumulateRow(row, src, ow, wv)
                            } else {
                                qconvAccumulateStridedRow(row, src, ow, sw, wv)
                            }
                        }
                    }
                    qconvStoreChannel(row, count: ow, multiplier: multipliers[o], output: output,
                                      at: ((n * g.outChannels + o) * oh + oy) * ow)
                }
            }
        }
    }
}
