// Pooling and resampling of NCHW feature maps on raw pointers, forward only: the one
// implementation the training ops (Sources/Myelin/Autograd/Pooling.swift) and the runtime ops
// (Ops/Pool.swift) both call. Every routine works plane by plane ([planes] planes of
// height × width, planes = batch · channels).
//
// Standard library only: the Embedded-Swift runtime compiles this same file. A pooling
// window is described by a `ConvGeometry` (height, width, kernel, stride, padding per side,
// dilation; channel counts and groups unused): output size
// ⌊(n + padBefore + padAfter − d·(k − 1) − 1) / s⌋ + 1 per dimension.

/// Taps of window `o` along one dimension that fall inside the input: the window starts at
/// `o·stride − pad`; taps `lo ..< hi` (of `kernel`) read rows `start + tap·dilation`.
@inline(__always)
func poolTaps(_ o: Int, stride: Int, pad: Int, dilation: Int, kernel: Int, size: Int) -> (start: Int, lo: Int, hi: Int) {
    let start = o * stride - pad
    if dilation == 1 {
        // No division on the common path (this runs once per output column).
        let lo = Swift.max(0, -start), hi = Swift.min(kernel, size - start)
        return (start, lo, Swift.max(lo, hi))
    }
    let lo = start >= 0 ? 0 : (-start + dilation - 1) / dilation
    let hi = Swift.min(kernel, start > size - 1 ? 0 : (size - 1 - start) / dilation + 1)
    return (start, lo, Swift.max(lo, hi))
}

/// Max pooling of `planes` planes: values [planes, outHeight, outWidth] and, when `indices`
/// is given, the flat in-plane index (h·width + w) of each maximum (−1 for a window entirely in
/// the padding). As PyTorch: the first maximum in window order wins, a NaN wins and stays.
@inline(never)
@_optimize(speed)
public func maxPool2dForward(_ g: ConvGeometry, planes: Int, x: UnsafePointer<Float>, values: UnsafeMutablePointer<Float>,
                             indices: UnsafeMutablePointer<Int32>?) {
    let h = g.height, w = g.width, oh = g.outHeight, ow = g.outWidth
    // The usual 2×2 window with stride 2 runs 8 outputs at a time.
    let fastPair = g.kernelH == 2 && g.kernelW == 2 && g.strideH == 2 && g.strideW == 2 && g.padTop == 0 && g.padLeft == 0
        && g.padBottom == 0 && g.padRight == 0 && g.dilationH == 1 && g.dilationW == 1
    if fastPair && indices == nil && ow >= 4 {
        // Values of 2×2 windows, all inside the input: row after row, no per-row bookkeeping.
        var out = values
        for plane in 0..<planes {
            var top = x + plane * h * w
            for _ in 0..<oh {
                _ = maxPool2x2RowValues(top, width: w, outputs: ow, values: out)
                top += 2 * w
                out += ow
            }
        }
        return
    }
    for plane in 0..<planes {
        let src = x + plane * h * w
        for oy in 0..<oh {
            let r = poolTaps(oy, stride: g.strideH, pad: g.padTop, dilation: g.dilationH, kernel: g.kernelH, size: h)
            let out = values + (plane * oh + oy) * ow
            let at = indices.map { $0 + (plane * oh + oy) * ow }
            var first = 0
            // Both rows of the pair must exist (a negative bottom padding is not a pooling).
            if fastPair && 2 * oy + 1 < h {
                if let at = at {
                    first = maxPool2x2Row(src + 2 * oy * w, width: w, outputs: ow, rowIndex: 2 * oy * w, values: out, indices: at)
                } else {
                    first = maxPool2x2RowValues(src + 2 * oy * w, width: w, outputs: ow, values: out)
                }
            }
            for ox in first..<ow {
                let c = poolTaps(ox, stride: g.strideW, pad: g.padLeft, dilation: g.dilationW, kernel: g.kernelW, size: w)
                // Start from −∞ at the first tap inside; a larger value or a NaN takes over, and a
                // NaN stays. Written so that the data-dependent comparison feeds selects, not a
                // branch (the winner is random).
                var best = -Float.infinity
                var index = (r.start + r.lo * g.dilationH) * w + c.start + c.lo * g.dilationW
                for i in r.lo..<r.hi {
                    let rowStart = (r.start + i * g.dilationH) * w + c.start
                    for j in c.lo..<c.hi {
                        let k = rowStart + j * g.dilationW
                        let v = src[k]
                        let take = !best.isNaN && !(v <= best)
                        best = take ? v : best
                        index = take ? k : index
                    }
                }
                out[ox] = best
                at?[ox] = r.lo == r.hi || c.lo == c.hi ? -1 : Int32(truncatingIfNeeded: index)
            }
        }
    }
}

/// One output row of 2×2, stride-2 max pooling, 8 outputs at a time from two input rows
/// (`top` and the row below, `width` apart): values and in-plane indices (`rowIndex` is the
/// index of `top[0]`), with `maxPool2dForward`'s order and NaN rule. Returns how many leading
/// outputs it wrote (a multiple of 8, so the anchor CNN's 13-wide rows use it too); the
/// caller does the rest.
@inline(__always)
@_optimize(speed)
public func maxPool2x2Row(_ top: UnsafePointer<Float>, width: Int, outputs: Int, rowIndex: Int,
                          values: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>) -> Int {
    typealias V = SIMD8<Float>
    typealias I = SIMD8<Int32>
    let lanes = I(0, 2, 4, 6, 8, 10, 12, 14)
    var ox = 0
    while ox + 8 <= outputs {
        let a = UnsafeRawPointer(top + 2 * ox).loadUnaligned(as: SIMD16<Float>.self)
        let b = UnsafeRawPointer(top + width + 2 * ox).loadUnaligned(as: SIMD16<Float>.self)
        let base = I(repeating: Int32(truncatingIfNeeded: rowIndex + 2 * ox)) &+ lanes
        var best = a.evenHalf, at = base
        @inline(__always) func visit(_ v: V, _ offset: Int) {
            let take = .!(v .<= best) .& (best .== best)
            best.replace(with: v, where: take)
            at.replace(with: base &+ Int32(truncatingIfNeeded: offset), where: take)
        }
        visit(a.oddHalf, 1)
        visit(b.evenHalf, width)
        visit(b.oddHalf, width + 1)
        UnsafeMutableRawPointer(values + ox).storeBytes(of: best, as: V.self)
        UnsafeMutableRawPointer(indices + ox).storeBytes(of: at, as: I.self)
        ox += 8
    }
    return ox
}

/// `maxPool2x2Row` without indices (the same values), for any row of at least 4 outputs:
/// 8 (or 4) at a time, the last group overlapping the one before (it rewrites equal values).
/// Returns how many leading outputs it wrote (all of them, or 0 below 4).
@inline(__always)
@_optimize(speed)
func maxPool2x2RowValues(_ top: UnsafePointer<Float>, width: Int, outputs: Int, values: UnsafeMutablePointer<Float>) -> Int {
    @inline(__always) func eight(_ ox: Int) {
        let a = UnsafeRawPointer(top + 2 * ox).loadUnaligned(as: SIMD16<Float>.self)
        let b = UnsafeRawPointer(top + width + 2 * ox).loadUnaligned(as: SIMD16<Float>.self)
        var best = a.evenHalf
        @inline(__always) func visit(_ v: SIMD8<Float>) { best.replace(with: v, where: .!(v .<= best) .& (best .== best)) }
        visit(a.oddHalf)
        visit(b.evenHalf)
        visit(b.oddHalf)
        UnsafeMutableRawPointer(values + ox).storeBytes(of: best, as: SIMD8<Float>.self)
    }
    @inline(__always) func four(_ ox: Int) {
        let a = UnsafeRawPointer(top + 2 * ox).loadUnaligned(as: SIMD8<Float>.self)
        let b = UnsafeRawPointer(top + width + 2 * ox).loadUnaligned(as: SIMD8<Float>.self)
        var best = a.evenHalf
        @inline(__always) func visit(_ v: SIMD4<Float>) { best.replace(with: v, where: .!(v .<= best) .& (best .== best)) }
        visit(a.oddHalf)
        visit(b.evenHalf)
        visit(b.oddHalf)
        UnsafeMutableRawPointer(values + ox).storeBytes(of: best, as: SIMD4<Float>.self)
    }
    if outputs >= 8 {
        var ox = 0
        while ox + 8 <= outputs { eight(ox); ox += 8 }
        if ox < outputs { eight(outputs - 8) }
        return outputs
    }
    if outputs >= 4 {
        four(0)
        if outputs > 4 { four(outputs - 4) }
        return outputs
    }
    return 0
}

/// Max pooling of u8 planes (quantised values; input and output share scale and zero point, so
/// the result is exactly the quantised f32 max): y [planes, outHeight, outWidth]. A window
/// entirely in the padding gives 0, the code f32's −∞ quantises to. Rows of the usual 2×2
/// window with stride 2 run whole (even heights, rows ≤ 32 bytes) or 8 (or 4) outputs at a time;
/// the rest `maxPool2dU8Rows`.
@inline(never)
@_optimize(speed)
public func maxPool2dU8(_ g: ConvGeometry, planes: Int, x: UnsafePointer<UInt8>, y: UnsafeMutablePointer<UInt8>) {
    let h = g.height, w = g.width, oh = g.outHeight, ow = g.outWidth
    guard g.kernelH == 2 && g.kernelW == 2 && g.strideH == 2 && g.strideW == 2 && g.padTop == 0 && g.padLeft == 0
        && g.padBottom == 0 && g.padRight == 0 && g.dilationH == 1 && g.dilationW == 1 && ow >= 4 else {
        maxPool2dU8Rows(g, planes: planes, x: x, y: y)
        return
    }
    // Even heights and rows of at most 32 bytes: the planes' row pairs follow one another, so
    // output row r (of all planes) reads input rows 2r and 2r + 1, one 32-byte vector each, and
    // its ow ≤ 16 outputs go out as 16 bytes (those past ow are rewritten by the next row). The
    // last rows, whose vectors would reach past the input or the output, run below.
    var r = 0
    if h == 2 * oh && w <= 32 {
        while r < planes * oh && 2 * w * r + w + 32 <= planes * h * w && r * ow + 16 <= planes * oh * ow {
            let top = x + 2 * w * r
            let m = maxBytes(UnsafeRawPointer(top).loadUnaligned(as: SIMD32<UInt8>.self),
                             UnsafeRawPointer(top + w).loadUnaligned(as: SIMD32<UInt8>.self))
            UnsafeMutableRawPointer(y + r * ow).storeBytes(of: maxOfBytePairs(m), as: SIMD16<UInt8>.self)
            r += 1
        }
    }
    // Every window inside; groups of 8 (4) outputs, the last overlapping the one before.
    // (`maxBytes`: one instruction in the runtime's AVX-512 and AVX2 builds, VectorBuiltins.swift.)
    while r < planes * oh {
        let plane = r / oh, oy = r % oh
        let top = x + plane * h * w + 2 * oy * w, out = y + r * ow
        @inline(__always) func eight(_ ox: Int) {
            let a = UnsafeRawPointer(top + 2 * ox).loadUnaligned(as: SIMD16<UInt8>.self)
            let b = UnsafeRawPointer(top + w + 2 * ox).loadUnaligned(as: SIMD16<UInt8>.self)
            let m = maxBytes(a, b)
            UnsafeMutableRawPointer(out + ox).storeBytes(of: maxBytes(m.evenHalf, m.oddHalf), as: SIMD8<UInt8>.self)
        }
        @inline(__always) func four(_ ox: Int) {
            let a = UnsafeRawPointer(top + 2 * ox).loadUnaligned(as: SIMD8<UInt8>.self)
            let b = UnsafeRawPointer(top + w + 2 * ox).loadUnaligned(as: SIMD8<UInt8>.self)
            let m = maxBytes(a, b)
            UnsafeMutableRawPointer(out + ox).storeBytes(of: maxBytes(m.evenHalf, m.oddHalf), as: SIMD4<UInt8>.self)
        }
        if ow >= 8 {
            var ox = 0
            while ox + 8 <= ow { eight(ox); ox += 8 }
            if ox < ow { eight(ow - 8) }
        } else {
            four(0)
            if ow > 4 { four(ow - 4) }
        }
        r += 1
    }
}

#if !MYELIN_VNNI && !MYELIN_AVX2
/// The larger byte of each of the 16 pairs (the runtime's AVX-512 and AVX2 builds have a
/// shift-and-truncate twin in Sources/MyelinRuntime/VectorBuiltins.swift).
@_transparent
func maxOfBytePairs(_ m: SIMD32<UInt8>) -> SIMD16<UInt8> { maxBytes(m.evenHalf, m.oddHalf) }
#endif

/// `maxPool2dU8` for any window: per output, the max over the taps inside the input.
@inline(never)
func maxPool2dU8Rows(_ g: ConvGeometry, planes: Int, x: UnsafePointer<UInt8>, y: UnsafeMutablePointer<UInt8>) {
    let h = g.height, w = g.width, oh = g.outHeight, ow = g.outWidth
    for plane in 0..<planes {
        let src = x + plane * h * w
        for oy in 0..<oh {
            let r = poolTaps(oy, stride: g.strideH, pad: g.padTop, dilation: g.dilationH, kernel: g.kernelH, size: h)
            let out = y + (plane * oh + oy) * ow
            for ox in 0..<ow {
                let c = poolTaps(ox, stride: g.strideW, pad: g.padLeft, dilation: g.dilationW, kernel: g.kernelW, size: w)
                var best: UInt8 = 0
                for i in r.lo..<r.hi {
                    let row = src + (r.start + i * g.dilationH) * w + c.start
                    for j in c.lo..<c.hi { best = Swift.max(best, row[j * g.dilationW]) }
                }
                out[ox] = best
            }
        }
    }
}

/// The window of average-pooling output (oy, ox) clipped to the input, `[y0, y1) × [x0, x1)`,
/// and 1 / its divisor: the window's size within the padded input with `countIncludePad`,
/// else the number of input elements in it.
@inline(__always)
public func avgPoolWindow(_ g: ConvGeometry, _ oy: Int, _ ox: Int, countIncludePad: Bool) -> (y0: Int, y1: Int, x0: Int, x1: Int, scale: Float) {
    let ys = oy * g.strideH - g.padTop, xs = ox * g.strideW - g.padLeft
    let ye = Swift.min(ys + g.kernelH, g.height + g.padBottom), xe = Swift.min(xs + g.kernelW, g.width + g.padRight)
    let padded = (ye - ys) * (xe - xs)
    let y0 = Swift.max(ys, 0), y1 = Swift.min(ye, g.height), x0 = Swift.max(xs, 0), x1 = Swift.min(xe, g.width)
    let divisor = countIncludePad ? padded : (y1 - y0) * (x1 - x0)
    return (y0, y1, x0, x1, 1 / Float(divisor))
}

/// Average pooling (dilation 1) of `planes` planes into y [planes, outHeight, outWidth]:
/// the window's sum (rows, then columns, in order) times `avgPoolWindow`'s scale.
@inline(never)
@_optimize(size)
public func avgPool2dForward(_ g: ConvGeometry, planes: Int, countIncludePad: Bool, x: UnsafePointer<Float>,
                             y: UnsafeMutablePointer<Float>) {
    let h = g.height, w = g.width, oh = g.outHeight, ow = g.outWidth
    for plane in 0..<planes {
        let src = x + plane * h * w, dst = y + plane * oh * ow
        for oy in 0..<oh {
            for ox in 0..<ow {
                let win = avgPoolWindow(g, oy, ox, countIncludePad: countIncludePad)
                var s: Float = 0
                for iy in win.y0..<win.y1 { for ix in win.x0..<win.x1 { s += src[iy * w + ix] } }
                dst[oy * ow + ox] = s * win.scale
            }
        }
    }
}

/// Rows (or columns) of adaptive-pooling cell `i` of `n` over `size`: ⌊i·size/n⌋ ..< ⌈(i+1)·size/n⌉.
@inline(__always)
public func adaptivePoolSpan(_ i: Int, _ n: Int, _ size: Int) -> (lo: Int, hi: Int) {
    (i * size / n, ((i + 1) * size + n - 1) / n)
}

/// Adaptive average pooling (PyTorch's `adaptive_avg_pool2d`) of `planes` planes
/// [height, width] into y [planes, outHeight, outWidth]: each cell is the mean of its span
/// (sum in order, divided by the count). Output size 1 × 1 is global average pooling.
/// Four planes at a time: their sums are independent chains of adds (one plane's sum is a
/// chain as long as its cell, bound by the add latency), each still in order; past the last
/// plane a chain repeats the last one (and writes the same value again).
@inline(never)
@_optimize(size)
public func adaptiveAvgPool2dForward(planes: Int, height h: Int, width w: Int, outHeight oh: Int, outWidth ow: Int,
                                     x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    var p = 0
    while p < planes {
        let last = planes - 1 - p, k1 = Swift.min(1, last), k2 = Swift.min(2, last), k3 = Swift.min(3, last)
        let src = x + p * h * w, d1 = k1 * h * w, d2 = k2 * h * w, d3 = k3 * h * w
        for oy in 0..<oh {
            let rows = adaptivePoolSpan(oy, oh, h)
            for ox in 0..<ow {
                let cols = adaptivePoolSpan(ox, ow, w)
                var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
                for iy in rows.lo..<rows.hi {
                    for ix in cols.lo..<cols.hi {
                        let at = src + iy * w + ix
                        s0 += at[0]; s1 += at[d1]; s2 += at[d2]; s3 += at[d3]
                    }
                }
                let count = Float((rows.hi - rows.lo) * (cols.hi - cols.lo)), out = y + (p * oh + oy) * ow + ox
                out[k3 * oh * ow] = s3 / count; out[k2 * oh * ow] = s2 / count; out[k1 * oh * ow] = s1 / count; out[0] = s0 / count
            }
        }
        p += 4
    }
}

/// Nearest upsampling by integer factors: y [planes, height·scaleH, width·scaleW] with
/// y[p, oy, ox] = x[p, oy / scaleH, ox / scaleW].
public func upsampleNearest2dForward(planes: Int, height h: Int, width w: Int, scaleH: Int, scaleW: Int,
                                     x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    let oh = h * scaleH, ow = w * scaleW
    for plane in 0..<planes {
        for oy in 0..<oh {
            let src = x + (plane * h + oy / scaleH) * w
            let dst = y + (plane * oh + oy) * ow
            if scaleW == 1 {
                convCopyRow(dst, src, w)
            } else {
                for ox in 0..<ow { dst[ox] = src[ox / scaleW] }
            }
        }
    }
}

/// Channel shuffle of `batch` samples of `channels` channels of `inner` elements each: output
/// channel o reads input channel (o mod groups)·(channels / groups) + o / groups.
public func channelShuffleForward(batch: Int, channels: Int, groups: Int, inner: Int, x: UnsafePointer<Float>,
                                  y: UnsafeMutablePointer<Float>) {
    channelShuffleBytes(batch: batch, channels: channels, groups: groups, innerBytes: inner * 4, x: UnsafeRawPointer(x),
                        y: UnsafeMutableRawPointer(y))
}

/// `channelShuffleForward` on channels of `innerBytes` bytes each (f32 or u8 elements).
public func channelShuffleBytes(batch: Int, channels: Int, groups: Int, innerBytes: Int, x: UnsafeRawPointer,
                                y: UnsafeMutableRawPointer) {
    let perGroup = channels / groups
    for b in 0..<batch {
        for o in 0..<channels {
            let source = (o % groups) * perGroup + o / groups
            (y + (b * channels + o) * innerBytes).copyMemory(from: x + (b * channels + source) * innerBytes, byteCount: innerBytes)
        }
    }
}

/// Max unpooling: y [planes, planeOut] is zero except y[p, indices[p, i]] = x[p, i], written in
/// order of i (a later duplicate wins). An index outside 0 ..< planeOut is skipped (the
/// runtime may be handed any indices; training checks them first).
public func maxUnpool2dForward(planes: Int, planeIn: Int, planeOut: Int, x: UnsafePointer<Float>, indices: UnsafePointer<Int32>,
                               y: UnsafeMutablePointer<Float>) {
    convZeroRow(y, planes * planeOut)
    for plane in 0..<planes {
        let src = x + plane * planeIn, at = indices + plane * planeIn, dst = y + plane * planeOut
        for i in 0..<planeIn {
            let k = Int(at[i])
            if k >= 0 && k < planeOut { dst[k] = src[i] }
        }
    }
}
