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
//     image and group, im2col into u8 rows [OH·OW, k4] (k = patch, padded to 4 with zeros),
//     then `qgemm` — the same register tile as qlinear, `vpdpbusd` on CPUs with AVX-512 VNNI
//     (Sources/MyelinRuntime/QuantizedTileVNNI.swift), plain loops elsewhere — writing
//     [OH·OW, O/groups] into scratch, transposed into NCHW.
//   - direct (one input channel per group: depthwise convolutions, and a first layer on a
//     one-channel image): i32 rows accumulated over a z_x-padded copy of the input plane.
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
@inline(__always)
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
    /// One input channel per group: the direct path.
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

/// Packs weight i8 [O, C/groups, kH, kW] for `qconv` (`qconvPackedBytes(g)` bytes at `dst`).
public func qconvPackWeights(_ g: ConvGeometry, weight: UnsafePointer<Int8>, into dst: UnsafeMutablePointer<Int8>) {
    guard !g.qconvIsDirect else { return }
    let ng = g.outChannels / g.groups, k = g.patch
    for group in 0..<g.groups {
        qgemmPackWeights(n: ng, k: k, w: weight + group * ng * k, into: dst + group * qconvGroupPackedBytes(g))
    }
}

/// Bytes of scratch `qconv` needs (independent of the batch: it works image by image).
public func qconvScratchBytes(_ g: ConvGeometry) -> Int {
    let pixels = g.outHeight * g.outWidth
    if g.qconvIsDirect {
        let padded = (g.height + g.padTop + g.padBottom) * (g.width + g.padLeft + g.padRight)
        return kernelRoundUp(padded, 64) + kernelRoundUp(g.outWidth * 4, 64)
    }
    let columns = kernelRoundUp(pixels * kernelRoundUp(g.patch, 4), 64)
    let products = kernelRoundUp(pixels * (g.outChannels / g.groups) * 4, 64)
    return columns + products + qgemmTileCount * 4
}

// MARK: Fast kernel

/// y = output formula(acc) for `g.batch` images, exactly the reference's accumulators.
/// `packed` from `qconvPackWeights` (GEMM path; ignored by the direct path, which reads
/// `weight`), bias i32 [O], multipliers f32 [O], output f32 or u8 [batch, O, OH, OW]
/// (`output.ld` unused), `scratch` of `qconvScratchBytes(g)` bytes, 64-byte aligned.
/// Allocates nothing.
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

/// Fills `columns` u8 [OH·OW, k4]: row p holds image `plane0`'s patch under output pixel p in
/// (c, i, j) order, z_x where the window leaves the image, zeros from patch to k4.
func qconvIm2col(_ g: ConvGeometry, planes: UnsafePointer<UInt8>, zeroPoint: UInt8, columns: UnsafeMutablePointer<UInt8>) {
    let cg = g.inChannels / g.groups, k = g.patch, k4 = kernelRoundUp(k, 4)
    let oh = g.outHeight, ow = g.outWidth, h = g.height, w = g.width, kh = g.kernelH, kw = g.kernelW
    let planeSize = h * w
    if kh == 1 && kw == 1 && g.strideH == 1 && g.strideW == 1 && g.padTop == 0 && g.padLeft == 0 {
        // Pointwise: the rows are x's pixels across channels (a transpose).
        for p in 0..<(oh * ow) {
            let row = columns + p * k4
            for c in 0..<cg { row[c] = planes[c * planeSize + p] }
            for t in k..<k4 { row[t] = 0 }
        }
        return
    }
    for oy in 0..<oh {
        for ox in 0..<ow {
            let row = columns + (oy * ow + ox) * k4
            let x0 = ox * g.strideW - g.padLeft
            // The whole window row inside the image horizontally: no per-tap test on x.
            let rowInside = x0 >= 0 && x0 + (kw - 1) * g.dilationW < w
            var t = 0
            for c in 0..<cg {
                let plane = planes + c * planeSize
                for i in 0..<kh {
                    let iy = oy * g.strideH - g.padTop + i * g.dilationH
                    if iy < 0 || iy >= h {
                        for _ in 0..<kw { row[t] = zeroPoint; t += 1 }
                    } else if rowInside {
                        let src = plane + iy * w + x0
                        for j in 0..<kw { row[t] = src[j * g.dilationW]; t += 1 }
                    } else {
                        for j in 0..<kw {
                            let ix = x0 + j * g.dilationW
                            row[t] = ix >= 0 && ix < w ? plane[iy * w + ix] : zeroPoint
                            t += 1
                        }
                    }
                }
            }
            while t < k4 { row[t] = 0; t += 1 }
        }
    }
}

func qconvGEMM(_ g: ConvGeometry, x: UnsafePointer<UInt8>, inputZeroPoint: Int32, packed: UnsafePointer<Int8>,
               bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>, output: QGEMMOutput,
               scratch: UnsafeMutableRawPointer) {
    let cg = g.inChannels / g.groups, ng = g.outChannels / g.groups, k = g.patch, k4 = kernelRoundUp(k, 4)
    let pixels = g.outHeight * g.outWidth, planeSize = g.height * g.width
    let columns = scratch.assumingMemoryBound(to: UInt8.self)
    let products = scratch + kernelRoundUp(pixels * k4, 64)
    let tile = (products + kernelRoundUp(pixels * ng * 4, 64)).assumingMemoryBound(to: Int32.self)
    let zero = UInt8(truncatingIfNeeded: inputZeroPoint)
    for n in 0..<g.batch {
        for group in 0..<g.groups {
            qconvIm2col(g, planes: x + (n * g.inChannels + group * cg) * planeSize, zeroPoint: zero, columns: columns)
            let channel0 = n * g.outChannels + group * ng
            let weights = packed + group * qconvGroupPackedBytes(g)
            if let y = output.f32 {
                let rows = products.assumingMemoryBound(to: Float.self)
                qgemm(m: pixels, n: ng, k: k, x: columns, ldx: k4, packed: weights, bias: bias + group * ng,
                      multipliers: multipliers + group * ng, output: QGEMMOutput(f32: rows, ld: ng, relu: output.relu), tile: tile)
                qconvTranspose(rows, pixels: pixels, channels: ng, into: y + channel0 * pixels)
            } else if let y = output.u8 {
                let rows = products.assumingMemoryBound(to: UInt8.self)
                qgemm(m: pixels, n: ng, k: k, x: columns, ldx: k4, packed: weights, bias: bias + group * ng,
                      multipliers: multipliers + group * ng,
                      output: QGEMMOutput(u8: rows, ld: ng, relu: output.relu, zeroPoint: output.zeroPoint), tile: tile)
                qconvTranspose(rows, pixels: pixels, channels: ng, into: y + channel0 * pixels)
            }
        }
    }
}

/// dst [channels, pixels] = src [pixels, channels]ᵀ.
@inline(__always)
func qconvTranspose<T>(_ src: UnsafePointer<T>, pixels: Int, channels: Int, into dst: UnsafeMutablePointer<T>) {
    for j in 0..<channels {
        let d = dst + j * pixels
        for p in 0..<pixels { d[p] = src[p * channels + j] }
    }
}

func qconvDirect(_ g: ConvGeometry, x: UnsafePointer<UInt8>, inputZeroPoint: Int32, weight: UnsafePointer<Int8>,
                 bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>, output: QGEMMOutput,
                 scratch: UnsafeMutableRawPointer) {
    let ng = g.outChannels / g.groups, oh = g.outHeight, ow = g.outWidth, kh = g.kernelH, kw = g.kernelW
    let ph = g.height + g.padTop + g.padBottom, pw = g.width + g.padLeft + g.padRight
    let padded = scratch.assumingMemoryBound(to: UInt8.self)
    let row = (scratch + kernelRoundUp(ph * pw, 64)).assumingMemoryBound(to: Int32.self)
    let zero = UInt8(truncatingIfNeeded: inputZeroPoint)
    let sh = g.strideH, sw = g.strideW, dh = g.dilationH, dw = g.dilationW
    for n in 0..<g.batch {
        for c in 0..<g.inChannels {
            // The plane inside a border of z_x.
            let plane = x + (n * g.inChannels + c) * g.height * g.width
            padded.update(repeating: zero, count: ph * pw)
            for iy in 0..<g.height {
                (padded + (iy + g.padTop) * pw + g.padLeft).update(from: plane + iy * g.width, count: g.width)
            }
            for t in 0..<ng {
                let o = c * ng + t
                let w = weight + o * kh * kw
                for oy in 0..<oh {
                    for ox in 0..<ow { row[ox] = bias[o] }
                    for i in 0..<kh {
                        let line = padded + (oy * sh + i * dh) * pw
                        for j in 0..<kw {
                            let wv = Int32(w[i * kw + j]), src = line + j * dw
                            if sw == 1 {
                                for ox in 0..<ow { row[ox] &+= Int32(src[ox]) &* wv }
                            } else {
                                for ox in 0..<ow { row[ox] &+= Int32(src[ox * sw]) &* wv }
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
