// Depthwise convolution forward (one input channel per group, `ConvGeometry.isDepthwise`),
// vectorised, for training and the C runtime alike. Layout as in Convolution.swift (NCHW).
//
// Each input plane is copied once, zero-padded, into strideH·strideW "phase" planes
// [phaseH, phaseW]: phase (a, b) holds padded rows a, a + strideH, … and columns b,
// b + strideW, … Output (oy, ox) reads, for tap (i, j), phase ((i·dilationH) % strideH,
// (j·dilationW) % strideW) at (oy + i·dilationH / strideH, ox + j·dilationW / strideW): a
// constant shift from index q = oy·phaseW + ox, whatever the stride. So a tap is one
// multiply-add over a "wide" output plane [outHeight, phaseW] read 16 lanes at a time, across
// row ends (the lanes at ox ≥ outWidth are junk, dropped when the plane is copied out). That
// keeps the 16 lanes busy on the small planes of late layers (7 × 7: 4 vectors for 49 outputs).
// Four vectors are summed at once (four independent addition chains) and stay in registers over
// all taps. Each output is bias + Σ_taps weight·x in tap order, multiply then add, as
// `conv2dReference` sums it: the two agree exactly (padding adds a zero product).

/// Sizes of the phase planes and of the wide output plane for depthwise geometry `g`.
struct DepthwisePhases {
    /// Rows and columns of one phase plane.
    var height: Int, width: Int
    /// Outputs of the wide plane that matter, (outHeight − 1)·width + outWidth, and that
    /// count rounded up to whole blocks of 64 (the kernel computes the rest as junk).
    var span: Int, spanPadded: Int
    /// Largest shift of a tap inside a phase plane.
    var maxShift: Int
    /// Floats from one phase plane to the next: the plane and a 16-float tail.
    var planeStride: Int { height * width + 16 }

    init(_ g: ConvGeometry) {
        height = (g.height + g.padTop + g.padBottom + g.strideH - 1) / g.strideH
        width = (g.width + g.padLeft + g.padRight + g.strideW - 1) / g.strideW
        span = (g.outHeight - 1) * width + g.outWidth
        spanPadded = kernelRoundUp(span, 64)
        maxShift = (g.kernelH - 1) * g.dilationH / g.strideH * width + (g.kernelW - 1) * g.dilationW / g.strideW
    }

    /// Floats of all phase planes plus the slack the junk lanes read past the last one.
    func planesCount(_ g: ConvGeometry) -> Int { g.strideH * g.strideW * planeStride + maxShift + spanPadded }
}

/// Floats of scratch `convDepthwiseForward` needs: the phase planes, the wide output plane and
/// the taps' offsets (an Int each).
func convDepthwiseForwardScratchCount(_ g: ConvGeometry) -> Int {
    let p = DepthwisePhases(g)
    return p.planesCount(g) + p.spanPadded + 2 * g.kernelH * g.kernelW
}

/// Depthwise forward: y = bias (or 0) + conv(x, weight) for the images in `images`, added to y
/// when `accumulate`, then max(·, 0) when `relu` (a NaN stays NaN). Shapes: x [batch,
/// inChannels, height, width], weight [outChannels, 1, kernelH, kernelW], bias [outChannels]
/// or nil, y [batch, outChannels, outHeight, outWidth]. `scratch` holds
/// `convDepthwiseForwardScratchCount(g)` floats. Bit-identical to `conv2dReference`.
@inline(never)
@_optimize(speed)
func convDepthwiseForward(_ g: ConvGeometry, images: Range<Int>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                          bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, accumulate: Bool,
                          relu: Bool = false, scratch: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    let p = DepthwisePhases(g), plane = p.planeStride
    let outGroup = g.outChannels / g.groups, taps = g.kernelH * g.kernelW
    let oh = g.outHeight, ow = g.outWidth, sh = g.strideH, sw = g.strideW
    let phases = scratch, wide = scratch + p.planesCount(g)
    let rowStep = (phase: g.dilationH % sh, shift: g.dilationH / sh), columnStep = (phase: g.dilationW % sw, shift: g.dilationW / sw)
    // Tap (i, j) reads phase (i·dh % sh, j·dw % sw) at shift (i·dh / sh, j·dw / sw): its byte
    // offset from the phase planes, worked out once (stepped without divisions).
    let offsets = UnsafeMutableRawPointer(wide + p.spanPadded)
    var rowPhase = 0, rowShift = 0, t = 0
    for _ in 0..<g.kernelH {
        var columnPhase = 0, columnShift = 0
        for _ in 0..<g.kernelW {
            let offset = (rowPhase * sw + columnPhase) * plane + rowShift * p.width + columnShift
            offsets.storeBytes(of: 4 * offset, toByteOffset: 8 * t, as: Int.self)
            t += 1
            columnPhase += columnStep.phase; columnShift += columnStep.shift
            if columnPhase >= sw { columnPhase -= sw; columnShift += 1 }
        }
        rowPhase += rowStep.phase; rowShift += rowStep.shift
        if rowPhase >= sh { rowPhase -= sh; rowShift += 1 }
    }
    // The padding (and the slack the junk lanes read) is zeroed once: each plane then only
    // has its interior written.
    convZeroRow(phases, p.planesCount(g))
    for n in images {
        for gi in 0..<g.groups {
            convDepthwisePhasePlanes(g, p, x + (n * g.inChannels + gi) * g.height * g.width, into: phases)
            for o in (gi * outGroup)..<((gi + 1) * outGroup) {
                let w = weight + o * taps
                let start = V(repeating: bias?[o] ?? 0)
                var q = 0
                while q < p.spanPadded {
                    var acc0 = start, acc1 = start, acc2 = start, acc3 = start
                    let base = UnsafeRawPointer(phases + q)
                    for t in 0..<taps {
                        let s = base + offsets.load(fromByteOffset: 8 * t, as: Int.self)
                        let wv = V(repeating: w[t])
                        acc0 = acc0 + wv * s.loadUnaligned(as: V.self)
                        acc1 = acc1 + wv * s.loadUnaligned(fromByteOffset: 64, as: V.self)
                        acc2 = acc2 + wv * s.loadUnaligned(fromByteOffset: 128, as: V.self)
                        acc3 = acc3 + wv * s.loadUnaligned(fromByteOffset: 192, as: V.self)
                    }
                    if relu && !accumulate {
                        acc0 = acc0.replacing(with: 0, where: acc0 .< 0); acc1 = acc1.replacing(with: 0, where: acc1 .< 0)
                        acc2 = acc2.replacing(with: 0, where: acc2 .< 0); acc3 = acc3.replacing(with: 0, where: acc3 .< 0)
                    }
                    let d = UnsafeMutableRawPointer(wide + q)
                    d.storeBytes(of: acc0, as: V.self); d.storeBytes(of: acc1, toByteOffset: 64, as: V.self)
                    d.storeBytes(of: acc2, toByteOffset: 128, as: V.self); d.storeBytes(of: acc3, toByteOffset: 192, as: V.self)
                    q += 64
                }
                let dst = y + (n * g.outChannels + o) * oh * ow
                for oy in 0..<oh {
                    let out = dst + oy * ow, src = wide + oy * p.width
                    if !accumulate {
                        convCopyRow(out, src, ow)
                    } else {
                        for ox in 0..<ow {
                            let v = out[ox] + src[ox]
                            out[ox] = relu && v < 0 ? 0 : v
                        }
                    }
                }
            }
        }
    }
}

/// Writes the interior of the phase planes of one input plane [height, width] (see the top of
/// the file); their padding stays as `convDepthwiseForward` zeroed it.
@inline(never)
@_optimize(speed)
func convDepthwisePhasePlanes(_ g: ConvGeometry, _ p: DepthwisePhases, _ image: UnsafePointer<Float>,
                              into phases: UnsafeMutablePointer<Float>) {
    let sh = g.strideH, sw = g.strideW, plane = p.planeStride
    // Input rows and columns that land inside the padded plane (negative padding drops some).
    let rows = Swift.min(g.height, sh * p.height - g.padTop), columns = Swift.min(g.width, sw * p.width - g.padLeft)
    // Padded row r = iy + padTop is row r / sh of row phase r % sh, stepped without divisions;
    // one loop per column split, so that a row costs its copy and a few additions.
    let phaseStep = sw * plane, wrapStep = p.width - (sh - 1) * phaseStep
    var rowPhase = g.padTop % sh
    var dst = phases + rowPhase * phaseStep + g.padTop / sh * p.width, src = image
    @inline(__always) func nextRow() {
        src += g.width
        rowPhase += 1
        if rowPhase == sh { rowPhase = 0; dst += wrapStep } else { dst += phaseStep }
    }
    if sw == 1 {
        for _ in 0..<rows { convCopyRow(dst + g.padLeft, src, columns); nextRow() }
    } else if sw == 2 && columns >= 16 {
        // 16 input columns at a time, their even and odd lanes to the two phases; the last
        // block overlaps the one before.
        for _ in 0..<rows {
            var x = 0
            while x + 16 <= columns { convSplitColumns(SIMD16<Float>.self, src, dst, plane: plane, column: x + g.padLeft, x: x); x += 16 }
            if x < columns { convSplitColumns(SIMD16<Float>.self, src, dst, plane: plane, column: columns - 16 + g.padLeft, x: columns - 16) }
            nextRow()
        }
    } else if sw == 2 && columns >= 8 {
        for _ in 0..<rows {
            convSplitColumns(SIMD8<Float>.self, src, dst, plane: plane, column: g.padLeft, x: 0)
            convSplitColumns(SIMD8<Float>.self, src, dst, plane: plane, column: columns - 8 + g.padLeft, x: columns - 8)
            nextRow()
        }
    } else {
        for _ in 0..<rows { convSplitColumnsScalar(src, dst, columns: columns, padLeft: g.padLeft, strideW: sw, plane: plane); nextRow() }
    }
}

/// Any stride, one column at a time: src[0 ..< columns], padded columns padLeft…, to their
/// phase rows at `row` (phase column c / strideW of phase c % strideW). Out of line: the
/// rare case stays out of the row loop.
@inline(never)
@_optimize(size)
func convSplitColumnsScalar(_ src: UnsafePointer<Float>, _ row: UnsafeMutablePointer<Float>, columns: Int, padLeft: Int,
                            strideW: Int, plane: Int) {
    for ix in 0..<columns {
        let c = ix + padLeft
        row[(c % strideW) * plane + c / strideW] = src[ix]
    }
}

/// Stride 2: src[x ..< x + V.scalarCount], padded columns `column`…, to the even and odd
/// phase rows at `row` (phase column c / 2 of phase c % 2).
@inline(__always)
func convSplitColumns<V: SIMD>(_: V.Type, _ src: UnsafePointer<Float>, _ row: UnsafeMutablePointer<Float>, plane: Int,
                               column: Int, x: Int) where V.Scalar == Float {
    let v = UnsafeRawPointer(src + x).loadUnaligned(as: V.self)
    let first = row + (column & 1) * plane + (column >> 1), second = row + ((column + 1) & 1) * plane + ((column + 1) >> 1)
    if V.scalarCount == 16 {
        let w = unsafeBitCast(v, to: SIMD16<Float>.self)
        UnsafeMutableRawPointer(first).storeBytes(of: w.evenHalf, as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(second).storeBytes(of: w.oddHalf, as: SIMD8<Float>.self)
    } else {
        let w = unsafeBitCast(v, to: SIMD8<Float>.self)
        UnsafeMutableRawPointer(first).storeBytes(of: w.evenHalf, as: SIMD4<Float>.self)
        UnsafeMutableRawPointer(second).storeBytes(of: w.oddHalf, as: SIMD4<Float>.self)
    }
}
