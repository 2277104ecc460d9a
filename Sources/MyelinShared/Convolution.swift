// 2-D convolution on raw pointers: im2col / col2im feeding the shared GEMM, and the naive
// direct convolutions the fast path is tested against.
//
// Standard library only: the Embedded-Swift runtime compiles this same file. Layout NCHW,
// row-major:
//   x      [batch, inChannels, height, width]
//   weight [outChannels, inChannels / groups, kernelH, kernelW]     (PyTorch layout)
//   y      [batch, outChannels, outHeight, outWidth]
// A 1-D convolution is the 2-D one with height 1 and kernelH 1. A transposed convolution is
// described by the geometry of the convolution it is the adjoint of (its input is that
// convolution's y, its output that convolution's x, and its weight has the same layout), so
// the routines serve both. Training runs them over blocks of images (ConvolutionBlocks.swift:
// forward, backward data, weight gradient); the C runtime's conv2d runs on weights packed at
// load (ConvolutionPacking.swift) and its transposed convolution on `convBackwardData` below,
// one image at a time (the block routines would cost the size-limited library 4 KB more).
//
// Per image and group, with patch = (inChannels / groups)·kernelH·kernelW:
//   columns [patch, outHeight·outWidth] = im2col(x)
//   y       [outChannels / groups, outHeight·outWidth] = weight [outChannels / groups, patch] · columns
// Depthwise convolutions (one input channel per group) skip im2col and GEMM for direct
// loops (`isDepthwise`: the forward in ConvolutionDepthwise.swift, the backward passes further down).

/// The shape of one 2-D convolution: sizes, stride, padding per side, dilation and groups.
/// Callers validate it (channels divisible by `groups`, positive output size) first. Bottom
/// and right padding may be negative (the adjoint of a transposed convolution with output
/// padding reads fewer rows than it has).
public struct ConvGeometry: Equatable {
    public var batch: Int
    public var inChannels: Int
    public var height: Int
    public var width: Int
    public var outChannels: Int
    public var kernelH: Int
    public var kernelW: Int
    public var strideH: Int
    public var strideW: Int
    public var padTop: Int
    public var padLeft: Int
    public var padBottom: Int
    public var padRight: Int
    public var dilationH: Int
    public var dilationW: Int
    public var groups: Int

    public init(batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int, kernelH: Int, kernelW: Int,
                strideH: Int = 1, strideW: Int = 1, padTop: Int = 0, padLeft: Int = 0, padBottom: Int = 0, padRight: Int = 0,
                dilationH: Int = 1, dilationW: Int = 1, groups: Int = 1) {
        self.batch = batch
        self.inChannels = inChannels
        self.height = height
        self.width = width
        self.outChannels = outChannels
        self.kernelH = kernelH
        self.kernelW = kernelW
        self.strideH = strideH
        self.strideW = strideW
        self.padTop = padTop
        self.padLeft = padLeft
        self.padBottom = padBottom
        self.padRight = padRight
        self.dilationH = dilationH
        self.dilationW = dilationW
        self.groups = groups
    }

    /// (height + padTop + padBottom − dilationH·(kernelH − 1) − 1) / strideH + 1.
    public var outHeight: Int { (height + padTop + padBottom - dilationH * (kernelH - 1) - 1) / strideH + 1 }
    /// (width + padLeft + padRight − dilationW·(kernelW − 1) − 1) / strideW + 1.
    public var outWidth: Int { (width + padLeft + padRight - dilationW * (kernelW - 1) - 1) / strideW + 1 }
    /// Rows of the im2col matrix: input channels of one group times the kernel's taps.
    public var patch: Int { inChannels / groups * kernelH * kernelW }
    /// Multiply-adds of one forward pass (the same count for each of the two backward products).
    public var multiplyAdds: Int { batch * outChannels * outHeight * outWidth * patch }
    /// One input channel per group and fewer outputs per group than GEMM's register tile has
    /// rows (depthwise convolutions): direct loops beat im2col + GEMM, which would fill at most
    /// 5 of the tile's 6 rows from a 9-deep product.
    var isDepthwise: Bool { inChannels == groups && outChannels / groups < gemmTileRows }
    /// A 1×1 kernel with stride 1 and no padding reads x as its own column matrix.
    var isPointwise: Bool {
        kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1
            && padTop == 0 && padLeft == 0 && padBottom == 0 && padRight == 0
    }
}

/// Floats of scratch the three fast routines need for `g`: one image-group's column matrix
/// plus a [patch, outChannels / groups] matrix (transposed weights or weight-gradient sums),
/// or for a depthwise convolution at least `convDepthwiseScratchCount(g)`.
public func convColumnsCount(_ g: ConvGeometry) -> Int {
    let gemmPath = g.patch * g.outHeight * g.outWidth + g.patch * (g.outChannels / g.groups)
    return g.isDepthwise ? Swift.max(gemmPath, convDepthwiseScratchCount(g)) : gemmPath
}

/// Floats of scratch every depthwise routine runs in: the forward's phase planes
/// (ConvolutionDepthwise.swift) or the backward passes' padded planes.
func convDepthwiseScratchCount(_ g: ConvGeometry) -> Int {
    Swift.max(convPaddedPlanesCount(g), convDepthwiseForwardScratchCount(g))
}

/// dst[0..<n] = src[0..<n], in 16-, 8- or 4-float vectors, the last one overlapping the one
/// before: im2col's rows are as short as a feature map's width (11 floats in the anchor CNN),
/// where a scalar loop or a memcpy call costs more than the copy.
@inline(__always)
@_optimize(speed)
func convCopyRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    @inline(__always) func move<V: SIMD>(_ at: Int, _: V.Type) where V.Scalar == Float {
        UnsafeMutableRawPointer(dst + at).storeBytes(of: UnsafeRawPointer(src + at).loadUnaligned(as: V.self), as: V.self)
    }
    if n >= 16 {
        var k = 0
        while k + 16 <= n { move(k, SIMD16<Float>.self); k += 16 }
        if k < n { move(n - 16, SIMD16<Float>.self) }
    } else if n >= 8 {
        move(0, SIMD8<Float>.self); move(n - 8, SIMD8<Float>.self)
    } else if n >= 4 {
        move(0, SIMD4<Float>.self); move(n - 4, SIMD4<Float>.self)
    } else {
        for k in 0..<n { dst[k] = src[k] }
    }
}

/// dst[0..<n] += src[0..<n] (col2im's rows), 16 floats at a time; rows of 5–15 floats as two
/// overlapping 4- or 8-float vectors, both loaded before either is stored (the overlap gets
/// the same sum twice), since col2im's rows are as short as a feature map's width.
@inline(__always)
@_optimize(speed)
func convAddRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    @inline(__always) func addPair<V: SIMD>(_: V.Type) where V.Scalar == Float {
        let width = V.scalarCount
        let d0 = UnsafeMutableRawPointer(dst), d1 = UnsafeMutableRawPointer(dst + n - width)
        let low = d0.loadUnaligned(as: V.self) + UnsafeRawPointer(src).loadUnaligned(as: V.self)
        let high = d1.loadUnaligned(as: V.self) + UnsafeRawPointer(src + n - width).loadUnaligned(as: V.self)
        d0.storeBytes(of: low, as: V.self)
        d1.storeBytes(of: high, as: V.self)
    }
    if n >= 4 && n <= 8 { addPair(SIMD4<Float>.self); return }
    if n > 8 && n <= 16 { addPair(SIMD8<Float>.self); return }
    var k = 0
    while k + 16 <= n {
        let d = UnsafeMutableRawPointer(dst + k)
        d.storeBytes(of: d.loadUnaligned(as: SIMD16<Float>.self) + UnsafeRawPointer(src + k).loadUnaligned(as: SIMD16<Float>.self),
                     as: SIMD16<Float>.self)
        k += 16
    }
    if k + 8 <= n {
        let d = UnsafeMutableRawPointer(dst + k)
        d.storeBytes(of: d.loadUnaligned(as: SIMD8<Float>.self) + UnsafeRawPointer(src + k).loadUnaligned(as: SIMD8<Float>.self),
                     as: SIMD8<Float>.self)
        k += 8
    }
    if k + 4 <= n {
        let d = UnsafeMutableRawPointer(dst + k)
        d.storeBytes(of: d.loadUnaligned(as: SIMD4<Float>.self) + UnsafeRawPointer(src + k).loadUnaligned(as: SIMD4<Float>.self),
                     as: SIMD4<Float>.self)
        k += 4
    }
    while k < n { dst[k] += src[k]; k += 1 }
}

/// dst[0..<n] = 0.
@inline(__always)
@_optimize(speed)
func convZeroRow(_ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    var k = 0
    while k + 16 <= n { UnsafeMutableRawPointer(dst + k).storeBytes(of: SIMD16<Float>(), as: SIMD16<Float>.self); k += 16 }
    while k < n { dst[k] = 0; k += 1 }
}

/// Output positions `o` in 0..<count with 0 ≤ o·stride + offset < size, as a half-open range.
@inline(__always)
func convValidRange(offset: Int, stride: Int, size: Int, count: Int) -> (Int, Int) {
    let lo = offset >= 0 ? 0 : Swift.min(count, (-offset + stride - 1) / stride)
    let last = size - 1 - offset
    let hi = last < 0 ? 0 : Swift.min(count, last / stride + 1)
    return (lo, Swift.max(lo, hi))
}

/// The adjoint of im2col: adds every element of columns
/// [channels·kernelH·kernelW, outHeight·outWidth] into the image [channels, height, width]
/// position it was read from (padding positions are dropped).
public func convCol2im(_ g: ConvGeometry, columns: UnsafePointer<Float>, channels: Int,
                       image: UnsafeMutablePointer<Float>) {
    let oh = g.outHeight, ow = g.outWidth, plane = g.height * g.width
    var row = columns
    for c in 0..<channels {
        let dst = image + c * plane
        for i in 0..<g.kernelH {
            let top = i * g.dilationH - g.padTop
            let (yLo, yHi) = convValidRange(offset: top, stride: g.strideH, size: g.height, count: oh)
            for j in 0..<g.kernelW {
                let offset = j * g.dilationW - g.padLeft
                let (lo, hi) = convValidRange(offset: offset, stride: g.strideW, size: g.width, count: ow)
                var src = row + yLo * ow
                var d = dst + (yLo * g.strideH + top) * g.width + offset
                let step = g.strideH * g.width
                for _ in yLo..<yHi {
                    if g.strideW == 1 {
                        convAddRow(d + lo, src + lo, hi - lo)
                    } else {
                        for ox in lo..<hi { d[ox * g.strideW] += src[ox] }
                    }
                    src += ow
                    d += step
                }
                row += oh * ow
            }
        }
    }
}

/// The C runtime's transposed convolution (training uses `convBackwardDataBlocks`).
/// gradX += the gradient of conv(x, weight) with respect to x, for the images in `images`:
/// per group, columns = weightᵀ · gradY, then col2im. Shapes: gradY like y, gradX like x.
/// weightᵀ [patch, outChannels / groups] is written once per group into the scratch after the
/// column matrix, so GEMM packs it from contiguous rows. (Depthwise ones too, one GEMM per
/// channel: the rare depthwise transposed convolution does not carry training's 3 KB per-tap
/// kernel, `convDepthwiseBackwardData`, into the size-bounded runtime.)
public func convBackwardData(_ g: ConvGeometry, images: Range<Int>, gradY: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                             gradX: UnsafeMutablePointer<Float>,
                             columns: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>) {
    let inGroup = g.inChannels / g.groups, outGroup = g.outChannels / g.groups, patch = g.patch
    let planeIn = g.height * g.width, planeOut = g.outHeight * g.outWidth
    let transposed = columns + patch * planeOut   // [patch, outGroup]
    for gi in 0..<g.groups {
        let w = weight + gi * outGroup * patch
        for o in 0..<outGroup {
            for r in 0..<patch { transposed[r * outGroup + o] = w[o * patch + r] }
        }
        for n in images {
            let dst = gradX + (n * g.inChannels + gi * inGroup) * planeIn
            let dy = gradY + (n * g.outChannels + gi * outGroup) * planeOut
            if g.isPointwise {
                gemm(m: patch, n: planeOut, k: outGroup, a: transposed, aRowStride: outGroup, aColStride: 1,
                     b: dy, bRowStride: planeOut, bColStride: 1, c: dst, ldc: planeIn, accumulate: true, workspace: workspace)
            } else {
                gemm(m: patch, n: planeOut, k: outGroup, a: transposed, aRowStride: outGroup, aColStride: 1,
                     b: dy, bRowStride: planeOut, bColStride: 1, c: columns, ldc: planeOut, accumulate: false, workspace: workspace)
                convCol2im(g, columns: columns, channels: inGroup, image: dst)
            }
        }
    }
}

/// Calls `body(tap, rows, columns, offset)` for each kernel tap (i, j) of a depthwise
/// convolution: the output rows and columns whose input lies inside the image, and the
/// offset of output (0, 0)'s input for that tap (input position = oy·strideH·width +
/// ox·strideW + offset).
@inline(__always)
@_optimize(speed)
func convForEachTap(_ g: ConvGeometry, _ body: (_ tap: Int, _ rows: Range<Int>, _ columns: Range<Int>, _ offset: Int) -> Void) {
    for i in 0..<g.kernelH {
        let top = i * g.dilationH - g.padTop
        let (yLo, yHi) = convValidRange(offset: top, stride: g.strideH, size: g.height, count: g.outHeight)
        for j in 0..<g.kernelW {
            let left = j * g.dilationW - g.padLeft
            let (lo, hi) = convValidRange(offset: left, stride: g.strideW, size: g.width, count: g.outWidth)
            body(i * g.kernelW + j, yLo..<yHi, lo..<hi, top * g.width + left)
        }
    }
}

// Depthwise backward passes with stride 1 work on a zero-padded copy of each input plane
// [paddedH, paddedW]: there, the input of output (oy, ox) for tap (i, j) is at a constant
// shift i·dilationH·paddedW + j·dilationW from index q = oy·paddedW + ox, so a tap is one
// long multiply-add over q < span = (outHeight − 1)·paddedW + outWidth rather than one short
// one per output row. The "wide" output plane [outHeight, paddedW] holds junk (or, for
// gradients, zeros) at ox ≥ outWidth. Larger strides use the per-row loops after these.

extension ConvGeometry {
    /// Stride 1 and no negative padding (a transposed convolution's adjoint may have some).
    var depthwiseOnPaddedPlanes: Bool { isDepthwise && strideH == 1 && strideW == 1 && padBottom >= 0 && padRight >= 0 }
    var paddedH: Int { height + padTop + padBottom }
    var paddedW: Int { width + padLeft + padRight }
}

/// Floats of scratch for the padded-plane path: one padded plane and one wide output plane.
func convPaddedPlanesCount(_ g: ConvGeometry) -> Int { g.paddedH * g.paddedW + g.outHeight * g.paddedW }

/// y[0..<n] += a · x[0..<n], 16 lanes at a time.
@inline(__always)
@_optimize(speed)
func convAxpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, _ n: Int) {
    typealias V = SIMD16<Float>
    let av = V(repeating: a)
    var k = 0
    while k + 16 <= n {
        let d = UnsafeMutableRawPointer(y + k)
        d.storeBytes(of: d.loadUnaligned(as: V.self) + av * UnsafeRawPointer(x + k).loadUnaligned(as: V.self), as: V.self)
        k += 16
    }
    while k < n { y[k] += a * x[k]; k += 1 }
}

/// Σ a[i]·b[i] over i < n, with 16 lanes of partial sums.
@inline(__always)
@_optimize(speed)
func convDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    typealias V = SIMD16<Float>
    var acc = V(), k = 0
    while k + 16 <= n {
        acc += UnsafeRawPointer(a + k).loadUnaligned(as: V.self) * UnsafeRawPointer(b + k).loadUnaligned(as: V.self)
        k += 16
    }
    var s = acc.sum()
    while k < n { s += a[k] * b[k]; k += 1 }
    return s
}

/// padded [paddedH, paddedW] = plane [height, width] surrounded by zeros.
@inline(__always)
@_optimize(speed)
func convPadPlane(_ g: ConvGeometry, _ plane: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>) {
    convZeroRow(padded, g.paddedH * g.paddedW)
    for iy in 0..<g.height {
        convCopyRow(padded + (iy + g.padTop) * g.paddedW + g.padLeft, plane + iy * g.width, g.width)
    }
}

/// wide [outHeight, paddedW] = plane [outHeight, outWidth] with zeros at ox ≥ outWidth.
@inline(__always)
@_optimize(speed)
func convWidenPlane(_ g: ConvGeometry, _ plane: UnsafePointer<Float>, into wide: UnsafeMutablePointer<Float>) {
    let ow = g.outWidth, pw = g.paddedW
    for oy in 0..<g.outHeight {
        convCopyRow(wide + oy * pw, plane + oy * ow, ow)
        convZeroRow(wide + oy * pw + ow, pw - ow)
    }
}

/// Depthwise backward-data: each tap adds weight · gradY back onto the shifted input plane.
func convDepthwiseBackwardData(_ g: ConvGeometry, images: Range<Int>, gradY: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               gradX: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
    let outGroup = g.outChannels / g.groups, taps = g.kernelH * g.kernelW
    if g.depthwiseOnPaddedPlanes {
        let pw = g.paddedW, ow = g.outWidth, span = (g.outHeight - 1) * pw + ow
        let padded = scratch, wide = scratch + g.paddedH * pw
        for n in images {
            for gi in 0..<g.groups {
                convZeroRow(padded, g.paddedH * pw)
                for o in (gi * outGroup)..<((gi + 1) * outGroup) {
                    convWidenPlane(g, gradY + (n * g.outChannels + o) * g.outHeight * ow, into: wide)
                    for i in 0..<g.kernelH {
                        for j in 0..<g.kernelW {
                            convAxpy(padded + i * g.dilationH * pw + j * g.dilationW, weight[o * taps + i * g.kernelW + j], wide, span)
                        }
                    }
                }
                let dst = gradX + (n * g.inChannels + gi) * g.height * g.width
                for iy in 0..<g.height {
                    convAxpy(dst + iy * g.width, 1, padded + (iy + g.padTop) * pw + g.padLeft, g.width)
                }
            }
        }
        return
    }
    let planeIn = g.height * g.width, planeOut = g.outHeight * g.outWidth, ow = g.outWidth
    let rowStep = g.strideH * g.width, sw = g.strideW
    for n in images {
        for o in 0..<g.outChannels {
            let dst = gradX + (n * g.inChannels + o / outGroup) * planeIn
            let dy = gradY + (n * g.outChannels + o) * planeOut
            convForEachTap(g) { tap, rows, columns, offset in
                let w = weight[o * taps + tap]
                for oy in rows {
                    let d = dst + oy * rowStep + offset, r = dy + oy * ow
                    if sw == 1 {
                        for ox in columns { d[ox] += w * r[ox] }
                    } else {
                        for ox in columns { d[ox * sw] += w * r[ox] }
                    }
                }
            }
        }
    }
}

/// Depthwise backward-weight: gradW[o, tap] += Σ gradY · the shifted input plane, with 16
/// lanes of partial sums on unit stride.
func convDepthwiseBackwardWeight(_ g: ConvGeometry, images: Range<Int>, x: UnsafePointer<Float>, gradY: UnsafePointer<Float>,
                                 gradW: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
    let outGroup = g.outChannels / g.groups, taps = g.kernelH * g.kernelW
    if g.depthwiseOnPaddedPlanes {
        let pw = g.paddedW, ow = g.outWidth, span = (g.outHeight - 1) * pw + ow
        let padded = scratch, wide = scratch + g.paddedH * pw
        for n in images {
            for gi in 0..<g.groups {
                convPadPlane(g, x + (n * g.inChannels + gi) * g.height * g.width, into: padded)
                for o in (gi * outGroup)..<((gi + 1) * outGroup) {
                    convWidenPlane(g, gradY + (n * g.outChannels + o) * g.outHeight * ow, into: wide)
                    for i in 0..<g.kernelH {
                        for j in 0..<g.kernelW {
                            gradW[o * taps + i * g.kernelW + j] += convDot(wide, padded + i * g.dilationH * pw + j * g.dilationW, span)
                        }
                    }
                }
            }
        }
        return
    }
    let planeIn = g.height * g.width, planeOut = g.outHeight * g.outWidth, ow = g.outWidth
    let rowStep = g.strideH * g.width, sw = g.strideW
    for n in images {
        for o in 0..<g.outChannels {
            let src = x + (n * g.inChannels + o / outGroup) * planeIn
            let dy = gradY + (n * g.outChannels + o) * planeOut
            convForEachTap(g) { tap, rows, columns, offset in
                var acc = SIMD16<Float>(), sum: Float = 0
                for oy in rows {
                    let s = src + oy * rowStep + offset, r = dy + oy * ow
                    var ox = columns.lowerBound
                    if sw == 1 {
                        while ox + 16 <= columns.upperBound {
                            acc += UnsafeRawPointer(s + ox).loadUnaligned(as: SIMD16<Float>.self)
                                * UnsafeRawPointer(r + ox).loadUnaligned(as: SIMD16<Float>.self)
                            ox += 16
                        }
                    }
                    while ox < columns.upperBound { sum += s[ox * sw] * r[ox]; ox += 1 }
                }
                gradW[o * taps + tap] += acc.sum() + sum
            }
        }
    }
}

/// Naive reference: y = bias + conv(x, weight), seven loops, straight from the definition
/// y[n, o, oy, ox] = bias[o] + Σ_{c, i, j} x[n, g·C/G + c, oy·sh − pt + i·dh, ox·sw − pl + j·dw] · weight[o, c, i, j]
/// with g = o / (outChannels / groups) and out-of-range x reading as 0.
public func conv2dReference(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                            bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
    let inGroup = g.inChannels / g.groups, outGroup = g.outChannels / g.groups
    let oh = g.outHeight, ow = g.outWidth
    for n in 0..<g.batch {
        for o in 0..<g.outChannels {
            let first = (o / outGroup) * inGroup
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var s: Float = bias?[o] ?? 0
                    for c in 0..<inGroup {
                        for i in 0..<g.kernelH {
                            let iy = oy * g.strideH - g.padTop + i * g.dilationH
                            if iy < 0 || iy >= g.height { continue }
                            for j in 0..<g.kernelW {
                                let ix = ox * g.strideW - g.padLeft + j * g.dilationW
                                if ix < 0 || ix >= g.width { continue }
                                s += x[((n * g.inChannels + first + c) * g.height + iy) * g.width + ix]
                                    * weight[((o * inGroup + c) * g.kernelH + i) * g.kernelW + j]
                            }
                        }
                    }
                    y[((n * g.outChannels + o) * oh + oy) * ow + ox] = s
                }
            }
        }
    }
}

/// Naive reference of the transposed convolution whose adjoint convolution has geometry `g`:
/// input t [batch, outChannels, outHeight, outWidth], weight as `conv2dReference`'s
/// ([outChannels, inChannels / groups, kernelH, kernelW], i.e. PyTorch's ConvTranspose2d
/// layout [in, out / groups, kH, kW] seen from the transposed side), bias [inChannels] or nil,
/// output z [batch, inChannels, height, width]: every t element scatters t·weight onto the
/// positions the convolution would have read it from.
public func convTranspose2dReference(_ g: ConvGeometry, t: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                     bias: UnsafePointer<Float>?, z: UnsafeMutablePointer<Float>) {
    let inGroup = g.inChannels / g.groups, outGroup = g.outChannels / g.groups
    let oh = g.outHeight, ow = g.outWidth, plane = g.height * g.width
    for n in 0..<g.batch {
        for c in 0..<g.inChannels {
            for p in 0..<plane { z[(n * g.inChannels + c) * plane + p] = bias?[c] ?? 0 }
        }
        for o in 0..<g.outChannels {
            let first = (o / outGroup) * inGroup
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let v = t[((n * g.outChannels + o) * oh + oy) * ow + ox]
                    for c in 0..<inGroup {
                        for i in 0..<g.kernelH {
                            let iy = oy * g.strideH - g.padTop + i * g.dilationH
                            if iy < 0 || iy >= g.height { continue }
                            for j in 0..<g.kernelW {
                                let ix = ox * g.strideW - g.padLeft + j * g.dilationW
                                if ix < 0 || ix >= g.width { continue }
                                z[((n * g.inChannels + first + c) * g.height + iy) * g.width + ix]
                                    += v * weight[((o * inGroup + c) * g.kernelH + i) * g.kernelW + j]
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Naive reference of the weight gradient: gradW[o, c, i, j] = Σ_{n, oy, ox} gradY[n, o, oy, ox] ·
/// x[n, g·C/G + c, oy·sh − pt + i·dh, ox·sw − pl + j·dw] (overwrites gradW).
public func conv2dWeightGradientReference(_ g: ConvGeometry, x: UnsafePointer<Float>, gradY: UnsafePointer<Float>,
                                          gradW: UnsafeMutablePointer<Float>) {
    let inGroup = g.inChannels / g.groups, outGroup = g.outChannels / g.groups
    let oh = g.outHeight, ow = g.outWidth
    for o in 0..<g.outChannels {
        let first = (o / outGroup) * inGroup
        for c in 0..<inGroup {
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    var s: Float = 0
                    for n in 0..<g.batch {
                        for oy in 0..<oh {
                            let iy = oy * g.strideH - g.padTop + i * g.dilationH
                            if iy < 0 || iy >= g.height { continue }
                            for ox in 0..<ow {
                                let ix = ox * g.strideW - g.padLeft + j * g.dilationW
                                if ix < 0 || ix >= g.width { continue }
                                s += gradY[((n * g.outChannels + o) * oh + oy) * ow + ox]
                                    * x[((n * g.inChannels + first + c) * g.height + iy) * g.width + ix]
                            }
                        }
                    }
                    gradW[((o * inGroup + c) * g.kernelH + i) * g.kernelW + j] = s
                }
            }
        }
    }
}
