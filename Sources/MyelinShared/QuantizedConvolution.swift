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
// Three fast paths, all giving the reference's integers exactly:
//   - GEMM (every convolution the other two do not take; 1×1 pointwise convolutions included): per
//     image and group, the group's planes transposed to channels-last [H·W, C/groups]
//     (BlockTranspose.swift's 8×8 byte blocks); a 1×1 convolution without stride or padding
//     reads those rows as they are, any other is im2col'd into u8 rows [OH·OW, k4] (k = patch in
//     (i, j, c) order — a tap's channels are one contiguous copy — padded to 4 with zeros);
//     then `qgemm` — the same register tile as qlinear, `vpdpbusd` on CPUs with AVX-512 VNNI
//     (Sources/MyelinRuntime/QuantizedTileVNNI.swift), `vpmaddwd` on other AVX2 CPUs
//     (QuantizedTileAVX2.swift), plain loops elsewhere — on weights packed
//     in the same (i, j, c) order writes channels-last rows [OH·OW, O/groups], which one more
//     transpose turns into the NCHW output planes.
//   - depthwise (one input and one output channel per group): channels as the 16 lanes. Per
//     image and 16 channels the planes transposed to channels-last rows [H·W, 16] (or copied
//     from channels-last input) into a z_x-padded image (16 planes at least 16 pixels wide:
//     transposed straight into it), then per output pixel and 16 channels
//     each of the 3 kernel rows' (≤ 4) taps summed by one `dpbusd` on their bytes interleaved
//     into the i32 lanes, the output formula, and a transpose back to NCHW (or not: channels-last
//     output). Other kernel shapes and dilation along W take the GEMM path. (The earlier
//     per-channel loop on stride phases cost MobileNet-mini's two int8 depthwise layers about
//     20 µs of its 47 per image; the per-tap multiplies about twice the dpbusd rows' time.)
//   - direct (one input channel and at least 4 outputs per group, ≤ 12 taps: stems on one-channel
//     images): the z_x-padded input plane split into its stride phases (phase (a, b) holds the
//     padded pixels (sH·y + a, sW·x + b)), so that every tap reads one phase contiguously; 16
//     outputs at a time, their 12 taps' bytes packed 4 to an i32 lane and summed against each
//     output channel's weights by 3 `vpdpbusd` (`dpbusd`, `qconvDirectTaps`).
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
/// written contiguously from element `at` of `output` (its `ld` is not used): 16 at a time,
/// the last `count % 16` one by one.
@inline(never) @_optimize(speed)
public func qconvStoreChannel(_ acc: UnsafePointer<Int32>, count: Int, multiplier: Float, output: QGEMMOutput, at: Int) {
    let count16 = count & ~15, m = SIMD16<Float>(repeating: multiplier)
    if let y = output.f32 {
        let dst = y + at
        var p = 0
        while p < count16 { store16(dequantize16(load16(acc + p), multiplier: m, relu: output.relu), dst + p); p += 16 }
        for p in count16..<count { dst[p] = dequantizeAccumulator(acc[p], multiplier: multiplier, relu: output.relu) }
    } else if let y = output.u8 {
        let dst = y + at, z = Float(output.zeroPoint), low: Float = output.relu ? z : 0
        var p = 0
        while p < count16 { store16(requantize16(load16(acc + p), multiplier: m, zeroPoint: z, low: low), dst + p); p += 16 }
        for p in count16..<count { dst[p] = requantizeToU8(acc[p], multiplier: multiplier, zeroPoint: z, low: low) }
    }
}

// MARK: Weights and scratch

extension ConvGeometry {
    /// One input and one output channel per group, 3 kernel rows of at most 4 taps, no dilation
    /// along W (a kernel row's taps are 4 adjacent pixels): the depthwise path. (Other depthwise
    /// layers take the GEMM path.)
    @inline(__always) var qconvIsDepthwise: Bool {
        inChannels == groups && outChannels == groups && kernelH == 3 && kernelW <= 4 && dilationW == 1
    }

    /// One input channel per group, several outputs (stems on one-channel images), at most 12
    /// taps, outputs in runs of 16 or more (rows of 16 or more, or whole rows): the direct path.
    /// (One-channel stems through the GEMM path — im2col, tile, transposes — cost the anchor CNN
    /// 24 µs of CPU per image against 18.6 µs with a per-tap loop, and less with `qconvDirectTaps`.)
    @inline(__always) var qconvIsDirect: Bool {
        inChannels == groups && outChannels >= 4 * groups && kernelH * kernelW <= 12
            && (outWidth >= 16 || qconvPhaseWidth == outWidth && outHeight * outWidth >= 16)
    }

    @inline(__always) var qconvUsesGEMM: Bool { !qconvIsDepthwise && !qconvIsDirect }
}

/// Bytes of weights packed for the GEMM path (one `qgemmPackWeights` panel set per group,
/// each 64-byte aligned), the depthwise path (i32 [kH, C16], `qconvPackWeights`) or the
/// direct path (12 bytes per output channel).
public func qconvPackedBytes(_ g: ConvGeometry) -> Int {
    if g.qconvIsDirect { return kernelRoundUp(12 * g.outChannels, 64) }
    return g.qconvIsDepthwise ? kernelRoundUp(g.kernelH * g.qconvLanes * 4, 64) : g.groups * qconvGroupPackedBytes(g)
}

@inline(__always)
func qconvGroupPackedBytes(_ g: ConvGeometry) -> Int {
    kernelRoundUp(qgemmPackedBytes(n: g.outChannels / g.groups, k: g.patch), 64)
}

/// Packs weight i8 [O, C/groups, kH, kW] for `qconv` (`qconvPackedBytes(g)` bytes at `dst`):
/// per group, `qgemmPackWeights`'s layout of the [O/groups, patch] matrix whose rows are in
/// (i, j, c) order, im2col's; depthwise: row i lane c holds the taps of kernel row i of channel
/// c as 4 bytes, zeros past kW and past the channels; direct: output channel o's taps as 12
/// bytes (3 groups of 4), zeros past the last tap.
public func qconvPackWeights(_ g: ConvGeometry, weight: UnsafePointer<Int8>, into dst: UnsafeMutablePointer<Int8>) {
    if g.qconvIsDirect {
        let taps = g.kernelH * g.kernelW
        for i in 0..<(12 * g.outChannels) { dst[i] = i % 12 < taps ? weight[i / 12 * taps + i % 12] : 0 }
        return
    }
    if g.qconvIsDepthwise {
        let lanes = g.qconvLanes
        for i in 0..<(g.kernelH * lanes * 4) {
            // Byte j of lane l of kernel row r: tap (r, j) of channel l.
            let r = i / (4 * lanes), l = i / 4 % lanes, j = i % 4
            dst[i] = l < g.inChannels && j < g.kernelW ? weight[(l * g.kernelH + r) * g.kernelW + j] : 0
        }
        return
    }
    guard g.qconvUsesGEMM else { return }
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

extension ConvGeometry {
    /// A 1×1 convolution without stride or padding: its im2col rows are the channels-last pixels.
    @inline(__always) var qconvSkipsIm2col: Bool {
        kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && !qconvIsPadded
    }

    @inline(__always) var qconvIsPadded: Bool { padTop != 0 || padLeft != 0 || padBottom != 0 || padRight != 0 }

    /// Any other convolution whose window rows are runs of a multiple of 4 bytes in the
    /// channels-last image (no dilation along W, C/groups a multiple of 4): no im2col either;
    /// `qgemm` reads each window's kH rows in place (`QGEMMRows`), from a z_x-padded copy of the
    /// image if there is padding (ResNet-mini: im2col was about 16% of its int8 time).
    @inline(__always) var qconvReadsWindows: Bool { !qconvSkipsIm2col && dilationW == 1 && (inChannels / groups) % 4 == 0 }
    @inline(__always) var qconvPaddedRowBytes: Int { (width + padLeft + padRight) * (inChannels / groups) }

    /// Direct path: the width of a stride phase (⌈padded width / sW⌉), its rows (OH plus the
    /// kernel's reach in phase rows), and its bytes (plus the kernel's reach in phase columns,
    /// which the last run reads past the rows), 64-byte aligned.
    @inline(__always) var qconvPhaseWidth: Int { (width + padLeft + padRight + strideW - 1) / strideW }
    @inline(__always) var qconvPhaseRows: Int { outHeight + dilationH * (kernelH - 1) / strideH }
    @inline(__always) var qconvPhaseBytes: Int {
        kernelRoundUp(qconvPhaseRows * qconvPhaseWidth + dilationW * (kernelW - 1) / strideW, 64)
    }

    /// Direct path: bytes of the 12 taps' offsets (Int).
    @inline(__always) var qconvTapBytes: Int { kernelRoundUp(12 * 8, 64) }

    /// Depthwise path: channels rounded up to 16 (the lanes), the padded image's width, and the
    /// scratch's pieces (the packed weights are i32 [kH, C16], `qconvPackWeights`): bias i32 and
    /// multipliers f32 [C16], the channels-last image of 16 channels [H·W, 16], and the
    /// z_x-padded image in blocks of 16 channels [C16 / 16, H + top + bottom, padded width, 16],
    /// plus the 48 bytes a window's 4-pixel row read passes the last one by.
    @inline(__always) var qconvLanes: Int { kernelRoundUp(inChannels, 16) }
    @inline(__always) var qconvPaddedWidth: Int { width + padLeft + padRight }
    @inline(__always) var qconvDepthwiseHeadBytes: Int { 2 * qconvLanes * 4 }
    @inline(__always) var qconvChannelsLastBytes: Int { kernelRoundUp(height * width * 16, 64) }
    @inline(__always) var qconvPaddedBlockBytes: Int { (height + padTop + padBottom) * qconvPaddedWidth * 16 }
    @inline(__always) var qconvPaddedBytes: Int {
        kernelRoundUp(qconvLanes / 16 * qconvPaddedBlockBytes + 48, 64)
    }
}

/// Bytes of scratch `qconv` needs for outputs of `outputBytes` bytes each (4: f32, 1: u8;
/// independent of the batch: it works image by image).
/// GEMM path: the tile | im2col rows (or the padded image windows are read from, or nothing) |
/// channels-last input (+ the 3 bytes a
/// last row of 4-byte groups reads past it) | channels-last output.
/// Direct path: the taps' offsets and weights | the stride phases.
/// Depthwise path: weights, bias, multipliers | channels-last image | its padded copy |
/// channels-last outputs [OH·OW, C16].
public func qconvScratchBytes(_ g: ConvGeometry, outputBytes: Int = 4) -> Int {
    let pixels = g.outHeight * g.outWidth
    if g.qconvIsDirect { return g.qconvTapBytes + g.strideH * g.strideW * g.qconvPhaseBytes }
    if g.qconvIsDepthwise {
        return kernelRoundUp(g.qconvDepthwiseHeadBytes, 64) + g.qconvChannelsLastBytes + g.qconvPaddedBytes
            + pixels * g.qconvLanes * outputBytes
    }
    let padded = g.qconvIsPadded ? kernelRoundUp((g.height + g.padTop + g.padBottom) * g.qconvPaddedRowBytes, 64) : 0
    let columns = g.qconvSkipsIm2col ? 0 : g.qconvReadsWindows ? padded : kernelRoundUp(pixels * kernelRoundUp(g.patch, 4), 64)
    let channelsLast = kernelRoundUp(g.height * g.width * (g.inChannels / g.groups) + 4, 64)
    let staging = kernelRoundUp(pixels * (g.outChannels / g.groups) * outputBytes, 64)
    return qgemmTileCount * 4 + columns + channelsLast + staging
}

// MARK: Fast kernel

/// y = output formula(acc) for `g.batch` images, exactly the reference's accumulators.
/// `packed` from `qconvPackWeights` (`weight` is not read), bias i32 [O], multipliers f32 [O], output f32 or u8 [batch, O, OH, OW]
/// (`output.ld` unused), `scratch` of `qconvScratchBytes(g)` bytes, 64-byte aligned.
/// `inputChannelsLast` / `outputChannelsLast`: x / y per image in channels-last rows [H·W, C]
/// instead of NCHW planes, where `g.qconvReadsChannelsLast` / `g.qconvWritesChannelsLast`
/// allow it (consecutive quantised convolutions hand over their u8 values without the
/// transposes; chosen at load, Ops/QConv.swift). `pooled` (GEMM path, no groups, O a multiple
/// of 16, f32 output): instead of y, its global average per image and channel, f32 [batch, O],
/// summed over the pixels in order then divided by their count, as `adaptiveAvgPool2dForward`.
/// Allocates nothing.
@inline(never)
@_optimize(speed)
public func qconv(_ g: ConvGeometry, x: UnsafePointer<UInt8>, inputZeroPoint: Int32, weight: UnsafePointer<Int8>,
                  packed: UnsafePointer<Int8>, bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>,
                  output: QGEMMOutput, scratch: UnsafeMutableRawPointer, inputChannelsLast: Bool = false,
                  outputChannelsLast: Bool = false, pooled: UnsafeMutablePointer<Float>? = nil) {
    if g.qconvIsDirect {
        qconvDirect(g, x: x, inputZeroPoint: inputZeroPoint, packed: packed, bias: bias, multipliers: multipliers,
                    output: output, scratch: scratch)
    } else if g.qconvIsDepthwise {
        qconvDepthwise(g, x: x, inputZeroPoint: inputZeroPoint, packed: packed, bias: bias, multipliers: multipliers,
                       output: output, scratch: scratch, inputChannelsLast: inputChannelsLast, outputChannelsLast: outputChannelsLast)
    } else {
        qconvGEMM(g, x: x, inputZeroPoint: inputZeroPoint, packed: packed, bias: bias, multipliers: multipliers,
                  output: output, scratch: scratch, inputChannelsLast: inputChannelsLast, outputChannelsLast: outputChannelsLast,
                  pooled: pooled)
    }
}

extension ConvGeometry {
    /// Whether `qconv` can read its u8 input as channels-last rows [H·W, C] (depthwise on
    /// whole blocks of 16 channels; a 1×1 convolution without stride, padding or groups, whose
    /// GEMM reads those rows as they are) and write its u8 output that way (the same depthwise
    /// layers; GEMM layers without groups, whose rows are that layout).
    /// (Without groups and with more than one channel a convolution takes the GEMM path.)
    public var qconvReadsChannelsLast: Bool {
        qconvWritesChannelsLast && (qconvIsDepthwise || kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && !qconvIsPadded)
    }
    public var qconvWritesChannelsLast: Bool { qconvIsDepthwise && inChannels % 16 == 0 || groups == 1 && inChannels > 1 }
}

/// Fills `columns` u8 [OH·OW, k4]: row p holds the patch under output pixel p in (i, j, c)
/// order, read from `pixels` u8 [H·W, C/groups] (channels-last), z_x where the window leaves
/// the image, zeros from patch to k4. (Only for C/groups not a multiple of 4 or dilation along
/// W: the rest reads its windows in place, so this copies tap by tap, size-optimised.)
@inline(never)
func qconvIm2col(_ g: ConvGeometry, pixels: UnsafePointer<UInt8>, zeroPoint: UInt8, columns: UnsafeMutablePointer<UInt8>) {
    let cg = g.inChannels / g.groups, k = g.patch, k4 = kernelRoundUp(k, 4)
    let oh = g.outHeight, ow = g.outWidth, h = g.height, w = g.width, kh = g.kernelH, kw = g.kernelW
    for oy in 0..<oh {
        for ox in 0..<ow {
            let row = columns + (oy * ow + ox) * k4
            var t = 0
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

/// dst[0..<n] = src[0..<n]: 64-, 16- or 4-byte pieces for the short runs of im2col (a window row's
/// or a tap's channels).
@inline(__always) @_optimize(speed)
func qconvCopyBytes(_ dst: UnsafeMutablePointer<UInt8>, _ src: UnsafePointer<UInt8>, _ n: Int) {
    var i = 0
    while i + 64 <= n {
        UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD64<UInt8>.self), as: SIMD64<UInt8>.self)
        i += 64
    }
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

// Size-optimised loop nest: its work runs in the speed-compiled transposes, im2col and qgemm.
@inline(never)
func qconvGEMM(_ g: ConvGeometry, x: UnsafePointer<UInt8>, inputZeroPoint: Int32, packed: UnsafePointer<Int8>,
               bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>, output: QGEMMOutput,
               scratch: UnsafeMutableRawPointer, inputChannelsLast: Bool, outputChannelsLast: Bool,
               pooled: UnsafeMutablePointer<Float>?) {
    let cg = g.inChannels / g.groups, ng = g.outChannels / g.groups, k = g.patch, k4 = kernelRoundUp(k, 4)
    let pixels = g.outHeight * g.outWidth, planeSize = g.height * g.width
    let tile = scratch.assumingMemoryBound(to: Int32.self)
    let columns = (scratch + qgemmTileCount * 4).assumingMemoryBound(to: UInt8.self)
    let windows = g.qconvReadsWindows, paddedRow = g.qconvPaddedRowBytes
    let paddedBytes = (g.height + g.padTop + g.padBottom) * paddedRow
    let channelsLast = columns + (g.qconvSkipsIm2col || windows && !g.qconvIsPadded ? 0
        : kernelRoundUp(windows ? paddedBytes : pixels * k4, 64))
    let staging = UnsafeMutableRawPointer(channelsLast) + kernelRoundUp(planeSize * cg + 4, 64)
    let zero = UInt8(truncatingIfNeeded: inputZeroPoint)
    // The padded image: z_x once; each image and group then overwrites the inside.
    if windows && g.qconvIsPadded { columns.update(repeating: zero, count: paddedBytes) }
    for n in 0..<g.batch {
        for group in 0..<g.groups {
            // [C/groups, H·W] planes → [H·W, C/groups] rows, the GEMM's operand directly or im2col's input
            // (or those rows as they come, one image after the other).
            var operand = UnsafePointer(channelsLast), ldx = cg, layout = QGEMMRows()
            if inputChannelsLast {
                operand = x + n * g.inChannels * planeSize
            } else {
                transposeBytes(x + (n * g.inChannels + group * cg) * planeSize, rows: cg, cols: planeSize, srcStride: planeSize,
                               into: channelsLast, dstStride: cg)
            }
            if windows {
                if g.qconvIsPadded {
                    for iy in 0..<g.height {
                        UnsafeMutableRawPointer(columns + (iy + g.padTop) * paddedRow + g.padLeft * cg)
                            .copyMemory(from: channelsLast + iy * g.width * cg, byteCount: g.width * cg)
                    }
                    operand = UnsafePointer(columns)
                }
                ldx = g.strideW * cg
                layout = QGEMMRows(perLine: g.outWidth, lineStride: g.strideH * paddedRow, pieces: g.kernelH,
                                   pieceStride: g.dilationH * paddedRow)
            } else if !g.qconvSkipsIm2col {
                qconvIm2col(g, pixels: channelsLast, zeroPoint: zero, columns: columns)
                operand = UnsafePointer(columns)
                ldx = k4
            }
            // Channels-last [OH·OW, O/groups] outputs, then transposed into the group's NCHW planes.
            let groupPacked = packed + group * qconvGroupPackedBytes(g), plane0 = (n * g.outChannels + group * ng) * pixels
            if let y = output.f32 {
                let rows = staging.assumingMemoryBound(to: Float.self)
                qgemm(m: pixels, n: ng, k: k, x: operand, ldx: ldx, packed: groupPacked, bias: bias + group * ng,
                      multipliers: multipliers + group * ng, output: QGEMMOutput(f32: rows, ld: ng, relu: output.relu), tile: tile,
                      layout: layout)
                if let pooled {
                    qconvAveragePixels(rows, pixels: pixels, channels: ng, into: pooled + n * g.outChannels)
                } else {
                    transposeFloats(rows, rows: pixels, cols: ng, srcStride: ng, into: y + plane0, dstStride: pixels)
                }
            } else if let y = output.u8 {
                let rows = outputChannelsLast ? y + n * g.outChannels * pixels : staging.assumingMemoryBound(to: UInt8.self)
                var rowOutput = QGEMMOutput(u8: rows, ld: ng, relu: output.relu, zeroPoint: output.zeroPoint)
                rowOutput.bounded = output.bounded
                qgemm(m: pixels, n: ng, k: k, x: operand, ldx: ldx, packed: groupPacked, bias: bias + group * ng,
                      multipliers: multipliers + group * ng, output: rowOutput, tile: tile, layout: layout)
                if !outputChannelsLast { transposeBytes(rows, rows: pixels, cols: ng, srcStride: ng, into: y + plane0, dstStride: pixels) }
            }
        }
    }
}

/// The stride phases of one input plane u8 [H, W] (layout in `qconvScratchBytes`): phase
/// (a, b) row y column x holds the pixel at padded (sH·y + a, sW·x + b), z_x outside the image
/// (and in the phase's tail). Stride 2 rows de-interleave 16, then 8 bytes at a time.
@inline(never)
func qconvFillPhases(_ g: ConvGeometry, plane: UnsafePointer<UInt8>, zeroPoint: UInt8, phases: UnsafeMutablePointer<UInt8>) {
    let sh = g.strideH, sw = g.strideW, width = g.qconvPhaseWidth, bytes = g.qconvPhaseBytes
    // z_x everywhere first, 16 bytes at a time (the phases are whole multiples of 64 bytes).
    let fill = SIMD16<UInt8>(repeating: zeroPoint)
    var i = 0
    while i < sh * sw * bytes { UnsafeMutableRawPointer(phases + i).storeBytes(of: fill, as: SIMD16<UInt8>.self); i += 16 }
    for a in 0..<sh {
        for b in 0..<sw {
            let phase = phases + (a * sw + b) * bytes
            // Phase columns x0 ..< x1 are inside the image: 0 ≤ sW·x + b − left < W.
            let x0 = g.padLeft > b ? (g.padLeft - b + sw - 1) / sw : 0
            let x1 = Swift.min(width, g.width + g.padLeft > b ? (g.width + g.padLeft - b + sw - 1) / sw : 0)
            guard x1 > x0 else { continue }
            let count = x1 - x0
            for y in 0..<g.qconvPhaseRows {
                let iy = y * sh + a - g.padTop
                guard iy >= 0 && iy < g.height else { continue }
                let src = plane + iy * g.width + x0 * sw + b - g.padLeft, dst = phase + y * width + x0
                if sw == 1 {
                    qconvCopyBytes(dst, src, count)
                    continue
                }
                var x = 0
                if sw == 2 {
                    // 32 bytes read from 2x: the last one, 2x + 31, stays at or before 2(count − 1).
                    while x + 17 <= count {
                        let pair = UnsafeRawPointer(src + 2 * x).loadUnaligned(as: SIMD32<UInt8>.self)
                        UnsafeMutableRawPointer(dst + x).storeBytes(of: pair.evenHalf, as: SIMD16<UInt8>.self)
                        x += 16
                    }
                    // 16 bytes read from 2x: the last one, 2x + 15, likewise.
                    while x + 9 <= count {
                        let pair = UnsafeRawPointer(src + 2 * x).loadUnaligned(as: SIMD16<UInt8>.self)
                        UnsafeMutableRawPointer(dst + x).storeBytes(of: pair.evenHalf, as: SIMD8<UInt8>.self)
                        x += 8
                    }
                }
                while x < count { dst[x] = src[x * sw]; x += 1 }
            }
        }
    }
}

/// `channels` output channels of one input channel, the taps as the dot product's dimension:
/// for 16 outputs at a time in output order (lanes past a row's end read the next phase row,
/// `width − cols` further; so `cols` ≥ 16 unless cols = width), the bytes of taps 4q ..< 4q + 4
/// (q < 3; `taps` holds 12 offsets, those past the last tap any in the phases) packed into the
/// i32 lanes, then per channel t acc = bias[t] + Σ_q dpbusd(those, weights[3t + q]) (each
/// weight 4 tap bytes, zeros past the last tap) and the output formula, written at
/// `at + t·planeSize + r·cols + c`. Three `vpdpbusd` per channel and 16 outputs where the
/// per-tap loop takes nine multiplies.
@inline(never) @_optimize(speed)
func qconvDirectTaps(_ phases: UnsafePointer<UInt8>, taps: UnsafePointer<Int>, weights: UnsafePointer<Int32>, channels: Int,
                     rows: Int, width: Int, cols: Int, bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>,
                     output: QGEMMOutput, at: Int, planeSize: Int) {
    typealias V = SIMD16<Int32>
    // Lanes where `rowMask` is 0 read the next row: `gap` phase columns further.
    let gap = width - cols
    @inline(__always) func byte(_ t: Int, _ p: Int, _ rowMask: SIMD16<UInt8>) -> V {
        let here = load16(phases + taps[t] + p), below = load16(phases + taps[t] + p + gap)
        return zeroExtend(below ^ ((here ^ below) & rowMask))
    }
    @inline(__always) func quad(_ q: Int, _ p: Int, _ m: SIMD16<UInt8>) -> V {
        byte(4 * q, p, m) | byte(4 * q + 1, p, m) &<< 8 | byte(4 * q + 2, p, m) &<< 16 | byte(4 * q + 3, p, m) &<< 24
    }
    let z = Float(output.zeroPoint), low: Float = output.relu ? z : 0
    @inline(__always) func block(_ p: Int, _ d: Int, _ rowMask: SIMD16<UInt8>) {
        let a0 = quad(0, p, rowMask), a1 = quad(1, p, rowMask), a2 = quad(2, p, rowMask)
        for t in 0..<channels {
            let w = weights + 3 * t
            let acc = dpbusd(dpbusd(dpbusd(V(repeating: bias[t]), a0, V(repeating: w[0])), a1, V(repeating: w[1])), a2, V(repeating: w[2]))
            let m = SIMD16<Float>(repeating: multipliers[t]), o = at + t * planeSize + d
            if let y = output.f32 { store16(dequantize16(acc, multiplier: m, relu: output.relu), y + o) }
            if let y = output.u8 { store16(requantize16(acc, multiplier: m, zeroPoint: z, low: low), y + o) }
        }
    }
    // 16 outputs at a time in output order, across row ends (cols ≥ 16 or whole rows: at most
    // two rows a block); the last 16 overlap the ones before.
    var q = 0
    while q < rows * cols {
        let q16 = Swift.min(q, rows * cols - 16), r = q16 / cols, c = q16 - r * cols
        // 0xFF in lanes l < cols − c (this row): the sign of l − min(cols − c, 16) as a byte.
        let lanes = SIMD16<Int8>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let rowMask = SIMD16<UInt8>(truncatingIfNeeded: (lanes &- SIMD16<Int8>(repeating: Int8(Swift.min(cols - c, 16)))) &>> 7)
        block(r * width + c, q16, rowMask)
        q += 16
    }
}

// Size-optimised loop nests; their work runs in the speed-compiled qconvFillPhases,
// qconvDirectTaps, qconvDepthwiseRows and the transposes.
@inline(never)
func qconvDirect(_ g: ConvGeometry, x: UnsafePointer<UInt8>, inputZeroPoint: Int32, packed: UnsafePointer<Int8>,
                 bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>, output: QGEMMOutput,
                 scratch: UnsafeMutableRawPointer) {
    let ng = g.outChannels / g.groups, oh = g.outHeight, ow = g.outWidth, kh = g.kernelH, kw = g.kernelW
    let sh = g.strideH, sw = g.strideW, dh = g.dilationH, dw = g.dilationW
    let width = g.qconvPhaseWidth, bytes = g.qconvPhaseBytes, taps = kh * kw
    let tapOffsets = scratch.assumingMemoryBound(to: Int.self)
    let phases = (scratch + g.qconvTapBytes).assumingMemoryBound(to: UInt8.self)
    // Output (oy, ox) at position oy·width + ox; tap (i, j) reads phase (i·dH mod sH, j·dW mod sW)
    // from its row ⌊i·dH / sH⌋, column ⌊j·dW / sW⌋: a contiguous run for every tap. The taps
    // past the last (up to 12) read the first phase with zero weights.
    for t in 0..<12 {
        let i = t / kw, j = t % kw
        tapOffsets[t] = t < taps ? ((i * dh % sh) * sw + j * dw % sw) * bytes + (i * dh / sh) * width + j * dw / sw : 0
    }
    let zero = UInt8(truncatingIfNeeded: inputZeroPoint)
    for n in 0..<g.batch {
        for c in 0..<g.inChannels {
            qconvFillPhases(g, plane: x + (n * g.inChannels + c) * g.height * g.width, zeroPoint: zero, phases: phases)
            // Per output channel, its taps' weights as 3 groups of 4 bytes (packed at load).
            let tapWeights = UnsafeRawPointer(packed + c * ng * 12).assumingMemoryBound(to: Int32.self)
            qconvDirectTaps(phases, taps: tapOffsets, weights: tapWeights, channels: ng, rows: oh,
                            width: width, cols: ow, bias: bias + c * ng, multipliers: multipliers + c * ng, output: output,
                            at: (n * g.outChannels + c * ng) * oh * ow, planeSize: oh * ow)
        }
    }
}

@inline(never)
func qconvDepthwise(_ g: ConvGeometry, x: UnsafePointer<UInt8>, inputZeroPoint: Int32, packed: UnsafePointer<Int8>,
                    bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>, output: QGEMMOutput,
                    scratch: UnsafeMutableRawPointer, inputChannelsLast: Bool, outputChannelsLast: Bool) {
    let c = g.inChannels, lanes = g.qconvLanes
    let plane = g.height * g.width, pixels = g.outHeight * g.outWidth
    let laneBiasCopy = scratch.assumingMemoryBound(to: Int32.self)
    let laneMultipliersCopy = UnsafeMutableRawPointer(laneBiasCopy + lanes).assumingMemoryBound(to: Float.self)
    let channelsLast = (scratch + kernelRoundUp(g.qconvDepthwiseHeadBytes, 64)).assumingMemoryBound(to: UInt8.self)
    let padded = channelsLast + g.qconvChannelsLastBytes
    let staging = UnsafeMutableRawPointer(padded + g.qconvPaddedBytes)
    // Lanes past the channels: zero weights (packed), bias and multipliers (their outputs are not
    // copied out), in copies; whole blocks of 16 channels read bias and multipliers as they are.
    var laneBias = bias, laneMultipliers = multipliers
    if c != lanes {
        for l in 0..<lanes {
            laneBiasCopy[l] = l < c ? bias[l] : 0
            laneMultipliersCopy[l] = l < c ? multipliers[l] : 0
        }
        laneBias = UnsafePointer(laneBiasCopy)
        laneMultipliers = UnsafePointer(laneMultipliersCopy)
    }
    let zero = UInt8(truncatingIfNeeded: inputZeroPoint)
    for n in 0..<g.batch {
        var l = 0
        while l < c {
            let block = padded + l / 16 * g.qconvPaddedBlockBytes
            if inputChannelsLast {
                // Rows [H·W, C] (C a multiple of 16): 16 bytes per pixel into the block.
                qconvPadChannelBlock(g, x + n * c * plane + l, stride: c, zeroPoint: zero, border: n == 0, into: block)
            } else if c - l >= 16 && g.width >= 16 {
                // 16 whole planes at least 16 pixels wide: transposed row by row straight into the block.
                qconvTransposeIntoBlock(g, x + (n * c + l) * plane, into: block)
                qconvPadChannelBlock(g, nil, stride: 0, zeroPoint: zero, border: n == 0, into: block)
            } else {
                transposeBytes(x + (n * c + l) * plane, rows: Swift.min(16, c - l), cols: plane, srcStride: plane, into: channelsLast,
                               dstStride: 16)
                qconvPadChannelBlock(g, channelsLast, stride: 16, zeroPoint: zero, border: n == 0, into: block)
            }
            l += 16
        }
        // Channels-last u8 outputs (C = C16) go straight into y.
        let staged = output.f32 != nil
            ? QGEMMOutput(f32: staging.assumingMemoryBound(to: Float.self), ld: lanes, relu: output.relu)
            : QGEMMOutput(u8: outputChannelsLast ? output.u8! + n * c * pixels : staging.assumingMemoryBound(to: UInt8.self), ld: lanes,
                          relu: output.relu, zeroPoint: output.zeroPoint)
        qconvDepthwiseRows(g, padded: padded, weights: UnsafeRawPointer(packed).assumingMemoryBound(to: Int32.self), bias: laneBias,
                           multipliers: laneMultipliers, output: staged)
        if outputChannelsLast {
            continue
        } else if let y = output.f32 {
            transposeFloats(staged.f32!, rows: pixels, cols: c, srcStride: lanes, into: y + n * c * pixels, dstStride: pixels)
        } else if let y = output.u8 {
            transposeBytes(staged.u8!, rows: pixels, cols: c, srcStride: lanes, into: y + n * c * pixels, dstStride: pixels)
        }
    }
}

/// y[c] = (Σ_p rows[p·channels + c], in pixel order from 0) / pixels for c < channels (a
/// multiple of 16): `adaptiveAvgPool2dForward`'s global average, read from channels-last rows.
@inline(never) @_optimize(speed)
func qconvAveragePixels(_ rows: UnsafePointer<Float>, pixels: Int, channels: Int, into y: UnsafeMutablePointer<Float>) {
    var c = 0
    while c < channels {
        var sum = SIMD16<Float>()
        for p in 0..<pixels { sum += load16(rows + p * channels + c) }
        store16(sum / SIMD16<Float>(repeating: Float(pixels)), y + c)
        c += 16
    }
}

/// One block of the depthwise path's padded image [H + top + bottom, padded width, 16]: the
/// 16 bytes of pixel (y, x) from `src` + (y·W + x)·`stride` (16 channels of channels-last
/// rows; none without `src`), z_x around them (`border`: the first image of a call; the later
/// ones leave it as it is) — row by row, every byte written once (no fill of the whole block
/// before the copy).
@inline(never) @_optimize(speed)
func qconvPadChannelBlock(_ g: ConvGeometry, _ src: UnsafePointer<UInt8>?, stride: Int, zeroPoint: UInt8, border: Bool,
                          into dst: UnsafeMutablePointer<UInt8>) {
    let fill = SIMD16<UInt8>(repeating: zeroPoint), paddedWidth = g.qconvPaddedWidth
    let rows = g.height + g.padTop + g.padBottom, right = g.padLeft + g.width
    for y in 0..<rows {
        let iy = y - g.padTop, row = dst + y * paddedWidth * 16
        guard iy >= 0 && iy < g.height else {
            if border { for x in 0..<paddedWidth { store16(fill, row + 16 * x) } }
            continue
        }
        if border {
            for x in 0..<g.padLeft { store16(fill, row + 16 * x) }
            for x in right..<paddedWidth { store16(fill, row + 16 * x) }
        }
        guard let src else { continue }
        let pixels = src + iy * g.width * stride, inside = row + 16 * g.padLeft
        for x in 0..<g.width { store16(load16(pixels + x * stride), inside + 16 * x) }
    }
}

/// The inside of one block of the depthwise path's padded image from 16 NCHW planes u8 [16, H, W]
/// (W ≥ 16): each image row's 16 × W bytes by 16×16 transposes (the last one overlapping the one
/// before when W is not a multiple of 16) into the block's row, 16 bytes per pixel.
@inline(never) @_optimize(speed)
func qconvTransposeIntoBlock(_ g: ConvGeometry, _ planes: UnsafePointer<UInt8>, into block: UnsafeMutablePointer<UInt8>) {
    let plane = g.height * g.width
    for y in 0..<g.height {
        let row = block + ((y + g.padTop) * g.qconvPaddedWidth + g.padLeft) * 16
        var x = 0
        while x < g.width {
            let x16 = Swift.min(x, g.width - 16)
            transposeByteBlock16(planes + y * g.width + x16, plane, row + 16 * x16, 16)
            x += 16
        }
    }
}

/// The depthwise path's arithmetic on one image, 16 channels as the i32 lanes: `padded` in
/// blocks of 16 channels [C16 / 16, H + top + bottom, padded width, 16] (z_x around the
/// image), weights i32 [3, C16] (a kernel row's ≤ 4 taps' bytes per lane), bias i32 and
/// multipliers f32 [C16]; output [OH·OW, C16] gets the output formula of acc = bias + Σ over
/// the window's 3 kernel rows of one `dpbusd`: the row's 4 adjacent pixels' bytes interleaved
/// into the lanes (`interleaveAdjacentBytes4`; taps past kW have zero weights) — 3 per 3×3
/// window instead of 9 multiplies.
@inline(never) @_optimize(speed)
func qconvDepthwiseRows(_ g: ConvGeometry, padded: UnsafePointer<UInt8>, weights: UnsafePointer<Int32>,
                        bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>, output: QGEMMOutput) {
    let lanes = g.qconvLanes, paddedRow = g.qconvPaddedWidth * 16
    let rowStep = g.strideH * paddedRow, columnStep = g.strideW * 16, ow = g.outWidth, tapRow = g.dilationH * paddedRow
    let z = Float(output.zeroPoint), low: Float = output.relu ? z : 0
    var l = 0
    while l < lanes {
        let block = padded + l / 16 * g.qconvPaddedBlockBytes
        let b = load16(bias + l), m = load16(multipliers + l)
        // The 3 kernel rows' weights in registers.
        let w0 = load16(weights + l), w1 = load16(weights + lanes + l), w2 = load16(weights + 2 * lanes + l)
        for oy in 0..<g.outHeight {
            for ox in 0..<ow {
                let window = block + oy * rowStep + ox * columnStep, at = (oy * ow + ox) * lanes + l
                let acc = dpbusd(dpbusd(dpbusd(b, interleaveAdjacentBytes4(window), w0), interleaveAdjacentBytes4(window + tapRow), w1),
                                 interleaveAdjacentBytes4(window + 2 * tapRow), w2)
                if let y = output.f32 { store16(dequantize16(acc, multiplier: m, relu: output.relu), y + at) }
                if let y = output.u8 { store16(requantize16(acc, multiplier: m, zeroPoint: z, low: low), y + at) }
            }
        }
        l += 16
    }
}

#if !MYELIN_VNNI
/// Lane l: the bytes p[l], p[16 + l], p[32 + l], p[48 + l], in that order from the low byte —
/// four 16-byte runs interleaved (the runtime's AVX-512 build has a one-`vpermb` twin in
/// QuantizedTileVNNI.swift).
@inline(__always)
func interleaveAdjacentBytes4(_ p: UnsafePointer<UInt8>) -> SIMD16<Int32> {
    zeroExtend(load16(p)) | zeroExtend(load16(p + 16)) &<< 8 | zeroExtend(load16(p + 32)) &<< 16 | zeroExtend(load16(p + 48)) &<< 24
}
#endif
