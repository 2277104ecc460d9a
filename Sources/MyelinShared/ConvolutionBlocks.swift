// Convolutions over blocks of images side by side, the form training uses (Myelin's autograd;
// the runtime runs conv2d with `convForwardPacked` and conv_transpose2d with `convBackwardData`,
// one image at a time).
//
// Standard library only: the Embedded-Swift runtime compiles this same file. Shapes and
// geometry as in Convolution.swift. Per group, a block of B images has one column matrix
//   columns [patch, B·planeOut]   (image b's im2col in columns b·planeOut ..< (b + 1)·planeOut)
// so each product is one GEMM whose wide side is B·planeOut (up to `convBlockColumns`)
// rather than B GEMMs of planeOut columns: the small feature maps of strided networks
// (7×7 = 49 positions) fill a 32-column register tile 49/64 full, repack the weights per
// image and, for the weight gradient, rewrite the whole gradient once per image.
//
// im2col and col2im go through a zero-padded copy of one input plane split into strideW
// column phases, `phases [strideW, phaseRows, phaseWidth]`, phase p holding padded columns
// p, p + strideW, p + 2·strideW, …: there the taps of one kernel column read a contiguous
// run of outWidth floats per output row whatever the stride, so the copies (and col2im's
// adds) are vector rows instead of strided scalar gathers.

/// Output positions per block the block routines aim at, at most.
public let convBlockColumns = 1024
/// Floats of a block's column matrix, at most (1 MB: one core's L2 on the machine measured).
public let convBlockFloats = 262_144

extension ConvGeometry {
    /// Images per block: as many as keep the block's columns within `convBlockColumns`
    /// output positions and `convBlockFloats` floats, at least one.
    public var imagesPerBlock: Int {
        let columns = Swift.min(convBlockColumns, convBlockFloats / Swift.max(1, patch))
        return Swift.max(1, Swift.min(batch, columns / Swift.max(1, outHeight * outWidth)))
    }
    /// Rows of the padded plane (negative bottom padding pads nothing: those rows are never read).
    var phaseRows: Int { padTop + height + Swift.max(0, padBottom) }
    /// Columns of one phase of the padded plane.
    var phaseWidth: Int { (padLeft + width + Swift.max(0, padRight) + strideW - 1) / strideW }
    /// Floats of the phase-split padded plane.
    var phasePlaneCount: Int { strideW * phaseRows * phaseWidth }
}

/// Floats of scratch the block routines need with blocks of `imagesPerBlock` images: the
/// column matrix [patch, B·planeOut], an output-side matrix [outChannels / groups, B·planeOut],
/// a [patch, outChannels / groups] matrix (transposed weights or weight-gradient sums) and
/// one phase-split plane; a depthwise convolution needs `convColumnsCount(g)`.
public func convBlockScratchCount(_ g: ConvGeometry, imagesPerBlock: Int) -> Int {
    if g.isDepthwise { return convColumnsCount(g) }
    let span = imagesPerBlock * g.outHeight * g.outWidth, outGroup = g.outChannels / g.groups
    return g.patch * span + outGroup * span + g.patch * outGroup + g.phasePlaneCount
}

/// phases [strideW, phaseRows, phaseWidth] = plane [height, width] zero-padded and split into
/// column phases: phase p, row r, column q holds plane[r − padTop, q·strideW + p − padLeft], or 0.
@inline(__always)
@_optimize(speed)
func convSplitPhases(_ g: ConvGeometry, plane: UnsafePointer<Float>, phases: UnsafeMutablePointer<Float>) {
    let s = g.strideW, qw = g.phaseWidth, phaseSize = g.phaseRows * qw
    convZeroRow(phases, s * phaseSize)
    for y in 0..<g.height {
        let src = plane + y * g.width, row = phases + (y + g.padTop) * qw
        if s == 1 {
            convCopyRow(row + g.padLeft, src, g.width)
            continue
        }
        if s == 2 && g.width >= 8 {
            // 16 or 8 floats at a time, their even and odd lanes to the two phases; the last
            // chunk overlaps the one before (it stores the same values again).
            if g.width >= 16 {
                var x = 0
                while x + 16 <= g.width { convSplitPair16(src, row, phaseSize: phaseSize, padLeft: g.padLeft, x: x); x += 16 }
                if x < g.width { convSplitPair16(src, row, phaseSize: phaseSize, padLeft: g.padLeft, x: g.width - 16) }
            } else {
                convSplitPair8(src, row, phaseSize: phaseSize, padLeft: g.padLeft, x: 0)
                convSplitPair8(src, row, phaseSize: phaseSize, padLeft: g.padLeft, x: g.width - 8)
            }
            continue
        }
        for p in 0..<s {
            // The first x with (x + padLeft) mod s = p, and its column q in phase p.
            var x = ((p - g.padLeft) % s + s) % s, q = (x + g.padLeft) / s
            let dst = row + p * phaseSize
            while x < g.width { dst[q] = src[x]; x += s; q += 1 }
        }
    }
}

/// Stride 2: src[x ..< x + 16] to the phases of row `row` (element x + padLeft + k goes to
/// phase (x + padLeft + k) mod 2, column (x + padLeft + k) / 2).
@inline(__always)
@_optimize(speed)
func convSplitPair16(_ src: UnsafePointer<Float>, _ row: UnsafeMutablePointer<Float>, phaseSize: Int, padLeft: Int, x: Int) {
    let v = UnsafeRawPointer(src + x).loadUnaligned(as: SIMD16<Float>.self)
    let even = x + padLeft, odd = even + 1
    UnsafeMutableRawPointer(row + (even & 1) * phaseSize + (even >> 1)).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
    UnsafeMutableRawPointer(row + (odd & 1) * phaseSize + (odd >> 1)).storeBytes(of: v.oddHalf, as: SIMD8<Float>.self)
}

/// `convSplitPair16` for 8 floats.
@inline(__always)
@_optimize(speed)
func convSplitPair8(_ src: UnsafePointer<Float>, _ row: UnsafeMutablePointer<Float>, phaseSize: Int, padLeft: Int, x: Int) {
    let v = UnsafeRawPointer(src + x).loadUnaligned(as: SIMD8<Float>.self)
    let even = x + padLeft, odd = even + 1
    UnsafeMutableRawPointer(row + (even & 1) * phaseSize + (even >> 1)).storeBytes(of: v.evenHalf, as: SIMD4<Float>.self)
    UnsafeMutableRawPointer(row + (odd & 1) * phaseSize + (odd >> 1)).storeBytes(of: v.oddHalf, as: SIMD4<Float>.self)
}

/// plane [height, width] (+)= the plane positions of `phases` (the adjoint of `convSplitPhases`;
/// the padding is dropped): added when `accumulate`, else every element written.
@inline(__always)
@_optimize(speed)
func convMergePhases(_ g: ConvGeometry, phases: UnsafePointer<Float>, plane: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let s = g.strideW, qw = g.phaseWidth, phaseSize = g.phaseRows * qw
    for y in 0..<g.height {
        let dst = plane + y * g.width, row = phases + (y + g.padTop) * qw
        if s == 1 {
            if accumulate { convAddRow(dst, row + g.padLeft, g.width) } else { convCopyRow(dst, row + g.padLeft, g.width) }
            continue
        }
        var start = 0
        if s == 2 && y + 1 < g.height && g.width >= 8 && qw >= 8 {
            // A row of 8–16 floats (a 14-wide map) as one vector, 8 floats of each phase
            // interleaved; the lanes past the row (the next row's, read from within the next
            // phase row) are stored back unchanged. Not on the last row: nothing past the plane
            // is touched.
            if g.width <= 16 {
                let even = g.padLeft, odd = even + 1
                let e = UnsafeRawPointer(row + (even & 1) * phaseSize + (even >> 1)).loadUnaligned(as: SIMD8<Float>.self)
                let o = UnsafeRawPointer(row + (odd & 1) * phaseSize + (odd >> 1)).loadUnaligned(as: SIMD8<Float>.self)
                let v = SIMD16(e[0], o[0], e[1], o[1], e[2], o[2], e[3], o[3], e[4], o[4], e[5], o[5], e[6], o[6], e[7], o[7])
                let d = UnsafeMutableRawPointer(dst), old = d.loadUnaligned(as: SIMD16<Float>.self)
                let inRow = SIMD16<Float>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) .< SIMD16<Float>(repeating: Float(g.width))
                d.storeBytes(of: old.replacing(with: accumulate ? old + v : v, where: inRow), as: SIMD16<Float>.self)
                continue
            }
        }
        if s == 2 {
            // 8 then 4 floats at a time, interleaved from the two phases.
            while start + 8 <= g.width {
                let even = start + g.padLeft, odd = even + 1
                let e = UnsafeRawPointer(row + (even & 1) * phaseSize + (even >> 1)).loadUnaligned(as: SIMD4<Float>.self)
                let o = UnsafeRawPointer(row + (odd & 1) * phaseSize + (odd >> 1)).loadUnaligned(as: SIMD4<Float>.self)
                let d = UnsafeMutableRawPointer(dst + start), v = SIMD8(e[0], o[0], e[1], o[1], e[2], o[2], e[3], o[3])
                d.storeBytes(of: accumulate ? d.loadUnaligned(as: SIMD8<Float>.self) + v : v, as: SIMD8<Float>.self)
                start += 8
            }
            if start + 4 <= g.width {
                let even = start + g.padLeft, odd = even + 1
                let e = UnsafeRawPointer(row + (even & 1) * phaseSize + (even >> 1)).loadUnaligned(as: SIMD2<Float>.self)
                let o = UnsafeRawPointer(row + (odd & 1) * phaseSize + (odd >> 1)).loadUnaligned(as: SIMD2<Float>.self)
                let d = UnsafeMutableRawPointer(dst + start), v = SIMD4(e[0], o[0], e[1], o[1])
                d.storeBytes(of: accumulate ? d.loadUnaligned(as: SIMD4<Float>.self) + v : v, as: SIMD4<Float>.self)
                start += 4
            }
        }
        for p in 0..<s {
            var x = start + ((p - start - g.padLeft) % s + s) % s, q = (x + g.padLeft) / s
            let src = row + p * phaseSize
            while x < g.width { dst[x] = accumulate ? dst[x] + src[q] : src[q]; x += s; q += 1 }
        }
    }
}

/// columns [patch, B·planeOut] for the B = `images.count` images of group `group`: row
/// (c, i, j), column b·planeOut + oy·outWidth + ox holds x[images.lowerBound + b, group·inGroup + c,
/// oy·strideH − padTop + i·dilationH, ox·strideW − padLeft + j·dilationW], or 0 in the padding.
/// `phases` holds `g.phasePlaneCount` floats.
@inline(never)
@_optimize(speed)
public func convIm2colBlock(_ g: ConvGeometry, x: UnsafePointer<Float>, images: Range<Int>, group: Int,
                            columns: UnsafeMutablePointer<Float>, phases: UnsafeMutablePointer<Float>) {
    let inGroup = g.inChannels / g.groups, planeIn = g.height * g.width, ow = g.outWidth
    let planeOut = g.outHeight * ow, span = images.count * planeOut
    let qw = g.phaseWidth, phaseSize = g.phaseRows * qw, rowStep = g.strideH * qw
    for (b, n) in images.enumerated() {
        for c in 0..<inGroup {
            convSplitPhases(g, plane: x + (n * g.inChannels + group * inGroup + c) * planeIn, phases: phases)
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    let column = j * g.dilationW
                    let src = UnsafePointer(phases + (column % g.strideW) * phaseSize + i * g.dilationH * qw + column / g.strideW)
                    let dst = columns + ((c * g.kernelH + i) * g.kernelW + j) * span + b * planeOut
                    convCopyTapRows(dst, src, rows: g.outHeight, width: ow, sourceStride: rowStep)
                }
            }
        }
    }
}

/// dst [rows, width] = `rows` runs of `width` floats at src, src + sourceStride, …: one tap of
/// `convIm2colBlock` (sourceStride ≥ width). Rows of 4–16 floats (a strided network's small
/// maps: 7 or 14 wide) go as one 8- or 16-float vector each while another row follows, whose
/// store overwrites the spill; the last row is copied exactly, so nothing past dst's rows is
/// written, nor past the last source row read.
@inline(__always)
@_optimize(speed)
func convCopyTapRows(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, rows: Int, width: Int, sourceStride: Int) {
    @inline(__always) func spilling<V: SIMD>(_: V.Type) where V.Scalar == Float {
        var d = dst, s = src
        for _ in 0..<(rows - 1) {
            UnsafeMutableRawPointer(d).storeBytes(of: UnsafeRawPointer(s).loadUnaligned(as: V.self), as: V.self)
            d += width
            s += sourceStride
        }
        convCopyRow(d, s, width)
    }
    if rows > 1 && width >= 4 && width <= 8 {
        spilling(SIMD8<Float>.self)
    } else if rows > 1 && width > 8 && width <= 16 {
        spilling(SIMD16<Float>.self)
    } else {
        for r in 0..<rows { convCopyRow(dst + r * width, src + r * sourceStride, width) }
    }
}

/// The adjoint of `convIm2colBlock`: x's gradient [batch, inChannels, height, width] += every
/// element of columns [patch, B·planeOut] at the position it was read from. Unless
/// `accumulate`, the group's planes of these images are overwritten instead (they may hold junk).
@inline(never)
@_optimize(speed)
public func convCol2imBlock(_ g: ConvGeometry, columns: UnsafePointer<Float>, images: Range<Int>, group: Int,
                            gradX: UnsafeMutablePointer<Float>, accumulate: Bool, phases: UnsafeMutablePointer<Float>) {
    let inGroup = g.inChannels / g.groups, planeIn = g.height * g.width, ow = g.outWidth
    let planeOut = g.outHeight * ow, span = images.count * planeOut
    let qw = g.phaseWidth, phaseSize = g.phaseRows * qw, rowStep = g.strideH * qw
    for (b, n) in images.enumerated() {
        for c in 0..<inGroup {
            convZeroRow(phases, g.phasePlaneCount)
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    let column = j * g.dilationW
                    let dst = phases + (column % g.strideW) * phaseSize + i * g.dilationH * qw + column / g.strideW
                    let src = columns + ((c * g.kernelH + i) * g.kernelW + j) * span + b * planeOut
                    convAddTapRows(dst, src, rows: g.outHeight, width: ow, destinationStride: rowStep)
                }
            }
            convMergePhases(g, phases: phases, plane: gradX + (n * g.inChannels + group * inGroup + c) * planeIn,
                            accumulate: accumulate)
        }
    }
}

/// The `rows` runs of `width` floats at dst, dst + destinationStride, … += src [rows, width]: one
/// tap of `convCol2imBlock` (destinationStride ≥ width). Rows of 4–16 floats go as one 8- or
/// 16-float vector each while another row follows, the lanes past `width` left exactly as they
/// were (stored back unchanged); the last row is added exactly, so nothing is read or written
/// past the last rows.
@inline(__always)
@_optimize(speed)
func convAddTapRows(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, rows: Int, width: Int,
                    destinationStride: Int) {
    // The mask comes in built on the concrete vector type: SIMD's generic comparison runs lane
    // by lane (it took more time than the adds when it was built here).
    @inline(__always) func masked<V: SIMD>(_: V.Type, _ inRow: SIMDMask<V.MaskStorage>) where V.Scalar == Float {
        var d = dst, s = src
        for _ in 0..<(rows - 1) {
            let old = UnsafeRawPointer(d).loadUnaligned(as: V.self)
            let sum = old + UnsafeRawPointer(s).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(d).storeBytes(of: old.replacing(with: sum, where: inRow), as: V.self)
            d += destinationStride
            s += width
        }
        convAddRow(d, s, width)
    }
    if rows > 1 && width >= 4 && width <= 8 {
        masked(SIMD8<Float>.self, SIMD8<Float>(0, 1, 2, 3, 4, 5, 6, 7) .< SIMD8<Float>(repeating: Float(width)))
    } else if rows > 1 && width > 8 && width <= 16 {
        masked(SIMD16<Float>.self, SIMD16<Float>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
                                   .< SIMD16<Float>(repeating: Float(width)))
    } else {
        for r in 0..<rows { convAddRow(dst + r * destinationStride, src + r * width, width) }
    }
}

/// The scratch of one block routine: column matrix, output-side matrix, square matrix, phases.
struct ConvBlockScratch {
    var columns: UnsafeMutablePointer<Float>
    var outputSide: UnsafeMutablePointer<Float>
    var square: UnsafeMutablePointer<Float>
    var phases: UnsafeMutablePointer<Float>

    init(_ g: ConvGeometry, imagesPerBlock: Int, scratch: UnsafeMutablePointer<Float>) {
        let span = imagesPerBlock * g.outHeight * g.outWidth, outGroup = g.outChannels / g.groups
        columns = scratch
        outputSide = columns + g.patch * span
        square = outputSide + outGroup * span
        phases = square + g.patch * outGroup
    }
}

/// Calls `body(block)` for consecutive blocks of at most `imagesPerBlock` images of `images`.
@inline(__always)
func convForEachBlock(_ images: Range<Int>, imagesPerBlock: Int, _ body: (Range<Int>) -> Void) {
    var start = images.lowerBound
    while start < images.upperBound {
        let end = Swift.min(images.upperBound, start + imagesPerBlock)
        body(start..<end)
        start = end
    }
}

/// packed [outGroup, B·planeOut] = the group's channels of gradY [batch, outChannels, planeOut]
/// for the images of `block`, side by side.
@inline(__always)
@_optimize(speed)
func convGatherOutputs(_ g: ConvGeometry, gradY: UnsafePointer<Float>, block: Range<Int>, group: Int,
                       packed: UnsafeMutablePointer<Float>) {
    let outGroup = g.outChannels / g.groups, planeOut = g.outHeight * g.outWidth, span = block.count * planeOut
    for (b, n) in block.enumerated() {
        for o in 0..<outGroup {
            convCopyRow(packed + o * span + b * planeOut, gradY + (n * g.outChannels + group * outGroup + o) * planeOut, planeOut)
        }
    }
}

/// y (+)= bias + weight_g · the block's columns (already in `s.columns`), each image's rows
/// copied out of the product [outGroup, B·planeOut]; with `rectifierSlope` (only when not
/// `accumulate`) y is rectified in that copy (v > 0 ? v : slope·v; ReLU, max(v, 0), for slope 0),
/// the same values as `leakyReluForward` on the unrectified y.
@inline(__always)
@_optimize(speed)
func convBlockForwardProduct(_ g: ConvGeometry, _ s: ConvBlockScratch, block: Range<Int>, group gi: Int,
                             weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
                             accumulate: Bool, rectifierSlope: Float? = nil, workspace: UnsafeMutablePointer<Float>) {
    let outGroup = g.outChannels / g.groups, patch = g.patch, planeOut = g.outHeight * g.outWidth
    let span = block.count * planeOut
    // outputSide [outGroup, span] = weight_g [outGroup, patch] · columns [patch, span]
    gemm(m: outGroup, n: span, k: patch, a: weight + gi * outGroup * patch, aRowStride: patch, aColStride: 1,
         b: s.columns, bRowStride: span, bColStride: 1, c: s.outputSide, ldc: span, accumulate: false, workspace: workspace)
    for (b, n) in block.enumerated() {
        for o in 0..<outGroup {
            let channel = gi * outGroup + o
            let dst = y + (n * g.outChannels + channel) * planeOut, src = s.outputSide + o * span + b * planeOut
            let shift = bias?[channel] ?? 0
            if accumulate {
                for p in 0..<planeOut { dst[p] += src[p] + shift }
            } else if let slope = rectifierSlope {
                if slope == 0 {
                    for p in 0..<planeOut { let v = src[p] + shift; dst[p] = v <= 0 ? 0 : v }
                } else {
                    for p in 0..<planeOut { let v = src[p] + shift; dst[p] = v > 0 ? v : slope * v }
                }
            } else {
                for p in 0..<planeOut { dst[p] = src[p] + shift }
            }
        }
    }
}

/// Whether the weight gradient is computed transposed (see `convBackwardWeightBlocks`).
func convWeightGradientIsTransposed(_ g: ConvGeometry) -> Bool {
    func padded(_ v: Int, _ to: Int) -> Int { (v + to - 1) / to * to }
    let outGroup = g.outChannels / g.groups
    return padded(g.patch, gemmTileRows) * padded(outGroup, gemmTileCols) < padded(outGroup, gemmTileRows) * padded(g.patch, gemmTileCols)
}

/// gradW_g [outGroup, patch] += gradY_g of the block · its columns (already in `s.columns`)ᵀ,
/// or when `transposed` square [patch, outGroup] (+)= columns · gradY_gᵀ (overwritten when `first`).
@inline(__always)
@_optimize(speed)
func convBlockWeightProduct(_ g: ConvGeometry, _ s: ConvBlockScratch, block: Range<Int>, group gi: Int,
                            gradY: UnsafePointer<Float>, gradW: UnsafeMutablePointer<Float>, transposed: Bool, first: Bool,
                            workspace: UnsafeMutablePointer<Float>) {
    let outGroup = g.outChannels / g.groups, patch = g.patch, span = block.count * g.outHeight * g.outWidth
    convGatherOutputs(g, gradY: gradY, block: block, group: gi, packed: s.outputSide)
    if transposed {
        // square [patch, outGroup] (+)= columns [patch, span] · outputSideᵀ [span, outGroup]
        gemm(m: patch, n: outGroup, k: span, a: s.columns, aRowStride: span, aColStride: 1,
             b: s.outputSide, bRowStride: 1, bColStride: span, c: s.square, ldc: outGroup,
             accumulate: !first, workspace: workspace)
    } else {
        // gradW_g [outGroup, patch] += outputSide [outGroup, span] · columnsᵀ [span, patch]
        gemm(m: outGroup, n: patch, k: span, a: s.outputSide, aRowStride: span, aColStride: 1,
             b: s.columns, bRowStride: 1, bColStride: span, c: gradW + gi * outGroup * patch, ldc: patch,
             accumulate: true, workspace: workspace)
    }
}

/// gradW_g += squareᵀ (the end of a transposed weight gradient).
func convAddTransposedSquare(_ g: ConvGeometry, _ s: ConvBlockScratch, group gi: Int, gradW: UnsafeMutablePointer<Float>) {
    let outGroup = g.outChannels / g.groups, patch = g.patch, w = gradW + gi * outGroup * patch
    for o in 0..<outGroup {
        for r in 0..<patch { w[o * patch + r] += s.square[r * outGroup + o] }
    }
}

/// y (+)= bias + conv(x, weight) for the images in `images`, in blocks of `imagesPerBlock`
/// (im2col of the block, one GEMM, then each image's rows copied out). Shapes as in
/// Convolution.swift; `scratch` holds `convBlockScratchCount(g, imagesPerBlock:)` floats,
/// `workspace` `gemmWorkspaceCount`. With `rectifierSlope` (not with `accumulate`), y is then
/// rectified in the same pass: v > 0 ? v : slope·v (ReLU, max(v, 0), for slope 0).
@inline(never)
@_optimize(speed)
public func convForwardBlocks(_ g: ConvGeometry, images: Range<Int>, imagesPerBlock: Int, x: UnsafePointer<Float>,
                              weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
                              accumulate: Bool, rectifierSlope: Float? = nil,
                              scratch: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>) {
    precondition(rectifierSlope == nil || !accumulate, "convForwardBlocks: a rectifier on an accumulated output")
    if g.isDepthwise {
        convDepthwiseForward(g, images: images, x: x, weight: weight, bias: bias, y: y, accumulate: accumulate, scratch: scratch)
        if let slope = rectifierSlope {
            let perImage = g.outChannels * g.outHeight * g.outWidth, out = y + images.lowerBound * perImage
            for i in 0..<images.count * perImage {
                let v = out[i]
                out[i] = slope == 0 ? (v <= 0 ? 0 : v) : (v > 0 ? v : slope * v)
            }
        }
        return
    }
    let s = ConvBlockScratch(g, imagesPerBlock: imagesPerBlock, scratch: scratch)
    convForEachBlock(images, imagesPerBlock: imagesPerBlock) { block in
        for gi in 0..<g.groups {
            convIm2colBlock(g, x: x, images: block, group: gi, columns: s.columns, phases: s.phases)
            convBlockForwardProduct(g, s, block: block, group: gi, weight: weight, bias: bias, y: y, accumulate: accumulate,
                                    rectifierSlope: rectifierSlope, workspace: workspace)
        }
    }
}

/// gradX (+)= the gradient of conv(x, weight) with respect to x for the images in `images`, in
/// blocks: per group, columns [patch, span] = weightᵀ · the block's gradY side by side, then
/// col2im. Unless `accumulate`, these images' planes of gradX are overwritten (no zero fill
/// needed first). Scratch as `convForwardBlocks`.
@inline(never)
@_optimize(speed)
public func convBackwardDataBlocks(_ g: ConvGeometry, images: Range<Int>, imagesPerBlock: Int, gradY: UnsafePointer<Float>,
                                   weight: UnsafePointer<Float>, gradX: UnsafeMutablePointer<Float>, accumulate: Bool,
                                   scratch: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>) {
    if g.isDepthwise {
        let imageCount = g.inChannels * g.height * g.width
        if !accumulate { convZeroRow(gradX + images.lowerBound * imageCount, images.count * imageCount) }
        convDepthwiseBackwardData(g, images: images, gradY: gradY, weight: weight, gradX: gradX, scratch: scratch)
        return
    }
    let s = ConvBlockScratch(g, imagesPerBlock: imagesPerBlock, scratch: scratch)
    let outGroup = g.outChannels / g.groups, patch = g.patch, planeOut = g.outHeight * g.outWidth
    for gi in 0..<g.groups {
        // square [patch, outGroup] = weight_gᵀ, so GEMM packs A from contiguous rows.
        let w = weight + gi * outGroup * patch
        for o in 0..<outGroup {
            for r in 0..<patch { s.square[r * outGroup + o] = w[o * patch + r] }
        }
        convForEachBlock(images, imagesPerBlock: imagesPerBlock) { block in
            let span = block.count * planeOut
            convGatherOutputs(g, gradY: gradY, block: block, group: gi, packed: s.outputSide)
            gemm(m: patch, n: span, k: outGroup, a: s.square, aRowStride: outGroup, aColStride: 1,
                 b: s.outputSide, bRowStride: span, bColStride: 1, c: s.columns, ldc: span, accumulate: false,
                 workspace: workspace)
            convCol2imBlock(g, columns: s.columns, images: block, group: gi, gradX: gradX, accumulate: accumulate,
                            phases: s.phases)
        }
    }
}

/// gradW [outChannels, inChannels / groups, kernelH, kernelW] += Σ over `images` of
/// gradY_g · columnsᵀ, one GEMM per block of images (its depth B·planeOut). When that
/// product's shape wastes most of the register tile (few output channels per group, or a
/// small patch such as one input channel's 4×4), it is computed transposed — columns ·
/// gradY_gᵀ into the square scratch — and added back. Scratch as `convForwardBlocks`.
@inline(never)
@_optimize(speed)
public func convBackwardWeightBlocks(_ g: ConvGeometry, images: Range<Int>, imagesPerBlock: Int, x: UnsafePointer<Float>,
                                     gradY: UnsafePointer<Float>, gradW: UnsafeMutablePointer<Float>,
                                     scratch: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>) {
    if images.isEmpty { return }
    if g.isDepthwise {
        convDepthwiseBackwardWeight(g, images: images, x: x, gradY: gradY, gradW: gradW, scratch: scratch)
        return
    }
    let s = ConvBlockScratch(g, imagesPerBlock: imagesPerBlock, scratch: scratch)
    let transposed = convWeightGradientIsTransposed(g)
    for gi in 0..<g.groups {
        var first = true
        convForEachBlock(images, imagesPerBlock: imagesPerBlock) { block in
            convIm2colBlock(g, x: x, images: block, group: gi, columns: s.columns, phases: s.phases)
            convBlockWeightProduct(g, s, block: block, group: gi, gradY: gradY, gradW: gradW, transposed: transposed,
                                   first: first, workspace: workspace)
            first = false
        }
        if transposed { convAddTransposedSquare(g, s, group: gi, gradW: gradW) }
    }
}

/// Both products that read x's columns, from one im2col per block: y (+)= conv(x, weight) and
/// gradW += Σ gradY_g · columnsᵀ, as `convForwardBlocks` (no bias; y added to when
/// `accumulate`, else overwritten) and `convBackwardWeightBlocks`. A transposed convolution's backward is exactly this pair
/// (its output gradient is x, its input t is gradY). Scratch as `convForwardBlocks`.
@inline(never)
@_optimize(speed)
public func convForwardAndWeightGradientBlocks(_ g: ConvGeometry, images: Range<Int>, imagesPerBlock: Int,
                                               x: UnsafePointer<Float>, weight: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                               accumulate: Bool, gradY: UnsafePointer<Float>, gradW: UnsafeMutablePointer<Float>,
                                               scratch: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>) {
    if images.isEmpty { return }
    if g.isDepthwise {
        convDepthwiseForward(g, images: images, x: x, weight: weight, bias: nil, y: y, accumulate: accumulate, scratch: scratch)
        convDepthwiseBackwardWeight(g, images: images, x: x, gradY: gradY, gradW: gradW, scratch: scratch)
        return
    }
    let s = ConvBlockScratch(g, imagesPerBlock: imagesPerBlock, scratch: scratch)
    let transposed = convWeightGradientIsTransposed(g)
    for gi in 0..<g.groups {
        var first = true
        convForEachBlock(images, imagesPerBlock: imagesPerBlock) { block in
            convIm2colBlock(g, x: x, images: block, group: gi, columns: s.columns, phases: s.phases)
            convBlockForwardProduct(g, s, block: block, group: gi, weight: weight, bias: nil, y: y, accumulate: accumulate,
                                    workspace: workspace)
            convBlockWeightProduct(g, s, block: block, group: gi, gradY: gradY, gradW: gradW, transposed: transposed,
                                   first: first, workspace: workspace)
            first = false
        }
        if transposed { convAddTransposedSquare(g, s, group: gi, gradW: gradW) }
    }
}
