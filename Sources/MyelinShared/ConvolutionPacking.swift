// Inference f32 convolution on weights packed once at load: y = act(bias + conv(x, W)), one
// image at a time, NCHW (shapes as in Convolution.swift).
//
// Shared at source level by the training module and the Embedded-Swift runtime; the
// runtime's conv2d runs it (training runs `convForwardBlocks`, which sums in another order, so
// the two agree within rounding, as both do with the naive reference `conv2dReference`).
// What differs from im2col + `gemm`:
// - the weights are packed into 8-row panels once, at load (`gemm` packs them per image);
// - im2col writes the column matrix straight into the 32-column panels the register tile
//   reads, one row at a time through a row buffer (no second pass over the columns);
// - an 8×32 register tile (16 SIMD16 accumulators): CNN channel counts are multiples of 8,
//   where `gemm`'s 6-row tile leaves partial tiles;
// - bias and ReLU are applied as the tile is stored (no passes over y before and after).
//
// Packed weights, per group gi (base gi·outPad·patch, outPad = outChannels/groups rounded up
// to 8): depth blocks of `convDepthStep(patch)` patch rows in order, the block at patch row pc
// starting at pc·outPad; inside a block of depth kc, row panel r holds W[8r + i, pc + p] at
// r·8·kc + p·8 + i (zero for 8r + i ≥ outChannels/groups). When `convPoolsByLanes`, the
// weights follow once more in 32-channel lane blocks (`convPooledLanes`).
// Packed columns (scratch, one image-group): the same with 32-column panels over output
// positions: depth block pc at pc·nPad (nPad = outHeight·outWidth rounded up to 32), column
// panel q at q·32·kc, element (p, j) at p·32 + j (zero for positions past the plane).

/// Rows (output channels) of the packed convolution's register tile.
let convTileRows = 8

/// Most patch rows in one depth block: a 32-column panel of 320 rows (40 KB) and the 8-row
/// weight panel stay in L1 while the panel's row tiles run.
let convMaxBlockDepth = 320

/// Patch rows per depth block: the patch cut into the fewest blocks of at most
/// `convMaxBlockDepth` rows, of equal depth (the last may be shorter), so that no thin last
/// block (3×3 over 32 channels: 288 rows) costs a second pass over the output tile.
@inline(__always)
func convDepthStep(_ patch: Int) -> Int {
    let blocks = (patch + convMaxBlockDepth - 1) / convMaxBlockDepth
    return (patch + blocks - 1) / blocks
}

/// Whether conv2d runs `g` on packed weights: every convolution but the direct depthwise
/// ones, unless padding the output channels of a group to whole panels would more than
/// double the weights (then they are packed into the scratch at each run instead of at load).
public func convPacksWeights(_ g: ConvGeometry) -> Bool {
    let outGroup = g.outChannels / g.groups
    return !g.isDepthwise && kernelRoundUp(outGroup, convTileRows) <= 2 * outGroup
}

/// Floats of packed weights for `g` (see the layout above), and after them, when
/// `convPoolsByLanes(g)`, the same weights in lane blocks (`convPooledLanes`).
public func convPackedWeightsCount(_ g: ConvGeometry) -> Int {
    (g.groups * kernelRoundUp(g.outChannels / g.groups, convTileRows) + (convPacksLanes(g) ? g.outChannels : 0)) * g.patch
}

/// Output channels of a lane block: two 16-float vectors (`convPooledLanes`).
let convLaneChannels = 32

/// Whether a pooled `convForwardPacked` runs `g` with `convPooledLanes`: one group, stride and
/// dilation 1, whole 32-channel lane blocks, a patch of one depth block (so that each output
/// sums as the register tile sums it), and at least 3 pooled columns.
@inline(never)
@_optimize(size)
func convPoolsByLanes(_ g: ConvGeometry) -> Bool {
    g.groups == 1 && convReadsColumnsInPlace(g) && g.outChannels % convLaneChannels == 0 && g.patch <= convMaxBlockDepth
        && g.outHeight >= 2 && g.outWidth >= 6
}

/// Floats of scratch `convForwardPacked` needs for `images` images side by side: one
/// image-group's packed columns, a row buffer and an edge tile (`convPackedColumnsCount`), or
/// more for columns read in place (`convPackedScratchExtra`).
public func convPackedScratchCount(_ g: ConvGeometry, images: Int = 1) -> Int {
    convPackedColumnsCount(g, images: images) + convPackedScratchExtra(g, images: images)
}

/// Floats of im2col's part of the scratch (its products are bounded by the conv2d check).
func convPackedColumnsCount(_ g: ConvGeometry, images: Int) -> Int {
    let nPad = kernelRoundUp(images * g.outHeight * g.outWidth, gemmTileCols)
    return g.patch * nPad + nPad + convTileRows * gemmTileCols
}

/// Floats of scratch beyond `convPackedColumnsCount`: the patch rows' offsets (an Int each) and,
/// when the columns are read in place, what their padded planes, wide output and edge tile need
/// beyond im2col's room. At stride and dilation 1 the planes are at most patch·plane floats and
/// the wide output outChannels·outHeight·paddedW (below 2⁶⁰ for any valid bundle).
func convPackedScratchExtra(_ g: ConvGeometry, images: Int) -> Int {
    let offsets = 2 * g.patch
    guard images == 1 && convReadsColumnsInPlace(g) else { return offsets }
    let pw = g.paddedW, span = (g.outHeight - 1) * pw + g.outWidth, shifted = convShiftsPlanes(g)
    let wide = pw != g.outWidth && !shifted ? g.outChannels / g.groups * span : 0
    let planes = g.inChannels / g.groups * g.paddedH * (pw + (shifted ? g.kernelW * g.outWidth : 0)) + (shifted ? gemmTileCols : 0)
    let inPlace = planes + gemmTileCols + wide + convTileRows * gemmTileCols
    return offsets + Swift.max(0, inPlace - convPackedColumnsCount(g, images: 1))
}

/// Images conv2d lays side by side in one column matrix at batch > 1 (`convForwardPacked`'s
/// `images`): 1 when one plane fills at least 7/8 of its 32-column panels, else the fewest
/// (up to 8) that do. Small planes (late layers, 7 × 7: 3 images; 4 × 4: 2) would otherwise
/// leave much of the register tile's last panel empty.
public func convPackedImages(_ g: ConvGeometry) -> Int {
    let plane = g.outHeight * g.outWidth
    for k in 1...8 where 8 * k * plane >= 7 * kernelRoundUp(k * plane, gemmTileCols) { return k }
    return 1
}

/// Whether conv2d can write the 2×2, stride-2 max pool of its output instead of the output
/// (`convForwardPacked`'s `pooled`, run by `convPooledLanes`): weights packed at load, one
/// image per column matrix at any batch, and `convPoolsByLanes(g)`.
@_optimize(size)
public func convPoolsOutput(_ g: ConvGeometry) -> Bool {
    convPacksWeights(g) && convPackedImages(g) == 1 && convPoolsByLanes(g)
}

/// Floats of scratch a pooled `convForwardPacked` needs beyond `convPackedScratchCount`:
/// `convPooledLanes`'s tile and windows.
public func convPoolScratchCount(_ g: ConvGeometry) -> Int {
    15 * convLaneChannels
}

/// Packs the weights `[outChannels, inChannels / groups, kernelH, kernelW]` (PyTorch order,
/// f32, or f16 when `f16`) into `dst` (`convPackedWeightsCount(g)` floats). Runs at load
/// (or, for weights not packed at load, once per run).
@inline(never)
@_optimize(size)
public func convPackWeights(_ g: ConvGeometry, weights: UnsafeRawPointer, f16: Bool, into dst: UnsafeMutablePointer<Float>) {
    let outGroup = g.outChannels / g.groups, outPad = kernelRoundUp(outGroup, convTileRows), patch = g.patch
    let depth = convDepthStep(patch)
    for gi in 0..<g.groups {
        let groupBase = dst + gi * outPad * patch
        var pc = 0
        while pc < patch {
            let kc = Swift.min(depth, patch - pc)
            for r in stride(from: 0, to: outPad, by: convTileRows) {
                let panel = groupBase + pc * outPad + r * kc
                for p in 0..<kc {
                    for i in 0..<convTileRows {
                        let o = r + i, e = (gi * outGroup + o) * patch + pc + p
                        panel[p * convTileRows + i] = o >= outGroup ? 0
                            : f16 ? halfBitsToFloat(weights.load(fromByteOffset: 2 * e, as: UInt16.self))
                            : weights.load(fromByteOffset: 4 * e, as: Float.self)
                    }
                }
            }
            pc += kc
        }
    }
    guard convPacksLanes(g) else { return }
    // Lane blocks, W[32b + i, p] at (b·patch + p)·32 + i (one group).
    let lanes = dst + convPackedWeightsCount(g) - g.outChannels * patch
    for o in 0..<g.outChannels {
        for p in 0..<patch {
            let e = o * patch + p
            lanes[(o / convLaneChannels * patch + p) * convLaneChannels + o % convLaneChannels] =
                f16 ? halfBitsToFloat(weights.load(fromByteOffset: 2 * e, as: UInt16.self)) : weights.load(fromByteOffset: 4 * e, as: Float.self)
        }
    }
}

/// Whether `convPackWeights` writes the lane blocks too (`convPooledLanes`, `convForwardLanes`).
@inline(never)
@_optimize(size)
func convPacksLanes(_ g: ConvGeometry) -> Bool { convPoolsByLanes(g) || convConvolvesByLanes(g) }

/// y `[outChannels, images, outHeight·outWidth]` = bias (or 0) + conv(x `[images,
/// inChannels, height, width]`, W), then `max(·, 0)` when `relu` (a NaN stays NaN): the
/// images side by side in one column matrix (for one image, y is `[outChannels, outHeight,
/// outWidth]`). Each output sums in the same order whatever `images` is and whichever path
/// runs it (stem, columns in place, im2col). `packed` comes from `convPackWeights`
/// (`convPacksWeights(g)` must hold); `scratch` holds `convPackedScratchCount(g, images:
/// images)` floats. `viaIm2col` runs every geometry through im2col (the tests compare the
/// paths). With `pooled` (`convPoolsOutput(g)`, one image, `convPoolScratchCount(g)` more
/// floats of scratch, `convPooledLanes`), y is not written: pooled `[outChannels, ⌊outHeight/2⌋, ⌊outWidth/2⌋]`
/// receives its 2×2, stride-2 max pool, the values `maxPool2dForward` gives. Allocates nothing.
@inline(never)
@_optimize(speed)
public func convForwardPacked(_ g: ConvGeometry, images: Int = 1, x: UnsafePointer<Float>, packed: UnsafePointer<Float>,
                              bias: UnsafePointer<Float>?, relu: Bool, y: UnsafeMutablePointer<Float>,
                              scratch: UnsafeMutablePointer<Float>, viaIm2col: Bool = false,
                              pooled: UnsafeMutablePointer<Float>? = nil) {
    let inGroup = g.inChannels / g.groups, outGroup = g.outChannels / g.groups
    let outPad = kernelRoundUp(outGroup, convTileRows), patch = g.patch
    let planeIn = g.height * g.width, plane = images * g.outHeight * g.outWidth
    let depth = convDepthStep(patch)
    // Where patch row p of a depth block starts, relative to the block's B panel (Ints).
    let offsets = UnsafeMutableRawPointer(scratch), work = scratch + 2 * patch
    let columnsPad = kernelRoundUp(plane, gemmTileCols)
    let columns = work, rowBuffer = work + patch * columnsPad
    if let pooled {
        convPooledLanes(g, x: x, lanes: packed + convPackedWeightsCount(g) - g.outChannels * patch, bias: bias, relu: relu,
                        pooled: pooled, scratch: scratch)
        return
    }
    if !viaIm2col && images == 1 && convRunsAsStem(g) {
        convStemForward(g, x: x, packed: packed, bias: bias, relu: relu, y: y, offsets: offsets, scratch: work,
                        edge: rowBuffer + columnsPad)
        return
    }
    let inPlace = !viaIm2col && images == 1 && convReadsColumnsInPlace(g), shifted = inPlace && convShiftsPlanes(g)
    let pw = g.paddedW, paddedPlane = g.paddedH * pw, shiftedPlane = g.paddedH * g.outWidth
    // In place, the output is computed on the wide plane [outHeight, paddedW] (on shifted planes, on the plane itself).
    let planeOut = inPlace && !shifted ? (g.outHeight - 1) * pw + g.outWidth : plane
    let nPad = kernelRoundUp(planeOut, gemmTileCols)
    // Shifted planes follow the padded planes and their 32 zeros.
    let shiftedPlanes = inGroup * paddedPlane + gemmTileCols
    let staged = work + shiftedPlanes + (shifted ? inGroup * g.kernelW * shiftedPlane + gemmTileCols : 0)
    let wide = inPlace && !shifted && pw != g.outWidth
    let edgeTile = inPlace ? staged + (wide ? outGroup * planeOut : 0) : rowBuffer + nPad
    if inPlace {
        var p = 0
        for c in 0..<inGroup {
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    let offset = shifted ? shiftedPlanes + (c * g.kernelW + j) * shiftedPlane + i * g.outWidth
                                         : c * paddedPlane + i * pw + j
                    offsets.storeBytes(of: offset, toByteOffset: 8 * p, as: Int.self)
                    p += 1
                }
            }
        }
    } else {
        for p in 0..<depth { offsets.storeBytes(of: p * gemmTileCols, toByteOffset: 8 * p, as: Int.self) }
        convZeroRow(rowBuffer + planeOut, nPad - planeOut)
    }
    for gi in 0..<g.groups {
        let image = x + gi * inGroup * planeIn
        if inPlace {
            convPadPlanes(g, image, channels: inGroup, into: work)
            if shifted { convShiftPlanes(g, padded: work, channels: inGroup, into: work + shiftedPlanes) }
        } else {
            convIm2colPanels(g, image: image, images: images, channels: inGroup, rowBuffer: rowBuffer, columns: columns, nPad: nPad)
        }
        let weights = packed + gi * outPad * patch
        let yGroup = y + gi * outGroup * plane, out = wide ? staged : yGroup
        let groupBias = bias.map { $0 + gi * outGroup }
        var pc = 0
        while pc < patch {
            let kc = Swift.min(depth, patch - pc)
            let first = pc == 0, last = pc + kc == patch
            let rowOffsets = UnsafeRawPointer(offsets) + (inPlace ? 8 * pc : 0)
            convPanels(kc: kc, a: weights + pc * outPad, rows: outGroup,
                       b: inPlace ? UnsafePointer(work) : UnsafePointer(columns) + pc * nPad, columnStride: inPlace ? 1 : kc,
                       offsets: rowOffsets, columns: planeOut, bias: first ? groupBias : nil, start: first, relu: relu && last,
                       c: out, ldc: planeOut, edge: edgeTile)
            pc += kc
        }
        if wide {
            let oh = g.outHeight, ow = g.outWidth
            for o in 0..<outGroup {
                for oy in 0..<oh { convCopyRow(yGroup + (o * oh + oy) * ow, staged + o * planeOut + oy * pw, ow) }
            }
        }
    }
}

/// One depth block of a packed product: C [rows, columns] (row stride `ldc`) = or += A·B by
/// `convTile` (a half tile for a last panel of 16 or fewer columns), A the block's 8-row weight
/// panels (`a`, panel r at r·kc), B's 32-column panel at column q read from b + q·columnStride
/// (row p at `offsets`' p-th Int from there: im2col's panels, padded planes read in place, or
/// a row-major matrix). Bias, `start`, `relu` and `edge` as for `convTile`.
@inline(never)
@_optimize(speed)
func convPanels(kc: Int, a: UnsafePointer<Float>, rows: Int, b: UnsafePointer<Float>, columnStride: Int, offsets: UnsafeRawPointer,
                columns: Int, bias: UnsafePointer<Float>?, start: Bool, relu: Bool,
                c: UnsafeMutablePointer<Float>, ldc: Int, edge: UnsafeMutablePointer<Float>) {
    var q = 0
    while q < columns {
        let cols = Swift.min(gemmTileCols, columns - q), bPanel = b + q * columnStride
        var r = 0
        while r < rows {
            let tileRows = Swift.min(convTileRows, rows - r), rowBias = bias.map { $0 + r }
            if cols <= gemmTileCols / 2 {
                convTileHalf(kc: kc, a: a + r * kc, b: bPanel, offsets: offsets, rows: tileRows, cols: cols,
                             bias: rowBias, start: start, relu: relu, c: c + r * ldc + q, ldc: ldc, edge: edge)
            } else {
                convTile(kc: kc, a: a + r * kc, b: bPanel, offsets: offsets, rows: tileRows, cols: cols,
                         bias: rowBias, start: start, relu: relu, c: c + r * ldc + q, ldc: ldc, edge: edge)
            }
            r += convTileRows
        }
        q += gemmTileCols
    }
}

/// A pooled convolution (`convPoolsByLanes(g)`, one image) with the output channels in the
/// vector lanes: for each 32-channel lane block, three 2×2 windows at a time in row-major order,
/// across pooled rows (the last three overlapping earlier ones when the count is not a multiple
/// of 3), 12 outputs ×
/// 32 channels in 24 accumulators summed over the patch, each input broadcast from the
/// (zero-padded) planes; then bias, rectifier and the windows' maxima in `maxPool2x2RowValues`'s
/// order into `pooled` [outChannels, ⌊outHeight/2⌋, ⌊outWidth/2⌋]. Only the outputs the pool
/// reads are computed, and no lane is spent on a wide plane's junk columns. Each output sums its
/// patch in the order and with the fused multiply-adds of the register tile, then adds the bias:
/// the values of `convForwardPacked`'s other paths, bit for bit. `lanes`: W[32b + i, p] at
/// (b·patch + p)·32 + i; `scratch` as for `convForwardPacked`'s columns read in place.
@inline(never)
@_optimize(size)
func convPooledLanes(_ g: ConvGeometry, x: UnsafePointer<Float>, lanes: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                     relu: Bool, pooled: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    let patch = g.patch, ph = g.outHeight / 2, pw = g.outWidth / 2
    let offsets = UnsafeMutableRawPointer(scratch), work = scratch + 2 * patch
    var source = x, width = g.width, planeStride = g.height * g.width
    if g.padTop != 0 || g.padLeft != 0 || g.padBottom != 0 || g.padRight != 0 {
        convPadPlanes(g, x, channels: g.inChannels, into: work)
        source = UnsafePointer(work)
        width = g.paddedW
        planeStride = g.paddedH * width
    }
    let edge = work + g.inChannels * g.paddedH * g.paddedW + gemmTileCols
    var p = 0
    for c in 0..<g.inChannels {
        for i in 0..<g.kernelH {
            for j in 0..<g.kernelW { offsets.storeBytes(of: c * planeStride + i * width + j, toByteOffset: 8 * p, as: Int.self); p += 1 }
        }
    }
    for block in 0..<(g.outChannels / convLaneChannels) {
        let blockWeights = lanes + block * patch * convLaneChannels
        var window = 0
        while window < ph * pw {
            // Windows first, first + 1, first + 2 in row-major order (across pooled rows).
            let first = Swift.min(window, ph * pw - 3)
            @inline(__always) func corner(_ k: Int) -> UnsafePointer<Float> {
                source + 2 * ((first + k) / pw) * width + 2 * ((first + k) % pw)
            }
            let corner0 = corner(0), corner1 = corner(1), corner2 = corner(2)
#if MYELIN_AVX2
            // Two passes of 6 outputs × 16 channels per half (`convLanePassAVX2`): the three
            // windows' top rows, then their bottom rows.
            let below0 = corner0 + width, below1 = corner1 + width, below2 = corner2 + width
            for half in 0..<2 {
                let w = blockWeights + 16 * half, e = edge + 16 * half
                convLanePassAVX2(corner0, corner0 + 1, corner1, corner1 + 1, corner2, corner2 + 1, offsets: offsets, step: 0,
                                 weights: w, depth: 0..<patch, into: e)
                convLanePassAVX2(below0, below0 + 1, below1, below1 + 1, below2, below2 + 1, offsets: offsets, step: 0,
                                 weights: w, depth: 0..<patch, into: e + 6 * convLaneChannels)
            }
#else
            var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), b0 = V(), b1 = V(), b2 = V(), b3 = V(), b4 = V(), b5 = V()
            var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V(), d0 = V(), d1 = V(), d2 = V(), d3 = V(), d4 = V(), d5 = V()
            var w = blockWeights
            for q in 0..<patch {
                let o = offsets.load(fromByteOffset: 8 * q, as: Int.self)
                let t0 = corner0 + o, t1 = corner1 + o, t2 = corner2 + o
                let lo = V.load(w), hi = V.load(w + 16)
                var s: V
                s = V(repeating: t0[0]); a0.addProduct(s, lo); b0.addProduct(s, hi)
                s = V(repeating: t0[1]); a1.addProduct(s, lo); b1.addProduct(s, hi)
                s = V(repeating: t1[0]); a2.addProduct(s, lo); b2.addProduct(s, hi)
                s = V(repeating: t1[1]); a3.addProduct(s, lo); b3.addProduct(s, hi)
                s = V(repeating: t2[0]); a4.addProduct(s, lo); b4.addProduct(s, hi)
                s = V(repeating: t2[1]); a5.addProduct(s, lo); b5.addProduct(s, hi)
                s = V(repeating: t0[width]); c0.addProduct(s, lo); d0.addProduct(s, hi)
                s = V(repeating: t0[width + 1]); c1.addProduct(s, lo); d1.addProduct(s, hi)
                s = V(repeating: t1[width]); c2.addProduct(s, lo); d2.addProduct(s, hi)
                s = V(repeating: t1[width + 1]); c3.addProduct(s, lo); d3.addProduct(s, hi)
                s = V(repeating: t2[width]); c4.addProduct(s, lo); d4.addProduct(s, hi)
                s = V(repeating: t2[width + 1]); c5.addProduct(s, lo); d5.addProduct(s, hi)
                w += convLaneChannels
            }
            let e = UnsafeMutableRawPointer(edge)
            e.storeBytes(of: a0, toByteOffset: 0, as: V.self); e.storeBytes(of: b0, toByteOffset: 64, as: V.self)
            e.storeBytes(of: a1, toByteOffset: 128, as: V.self); e.storeBytes(of: b1, toByteOffset: 192, as: V.self)
            e.storeBytes(of: a2, toByteOffset: 256, as: V.self); e.storeBytes(of: b2, toByteOffset: 320, as: V.self)
            e.storeBytes(of: a3, toByteOffset: 384, as: V.self); e.storeBytes(of: b3, toByteOffset: 448, as: V.self)
            e.storeBytes(of: a4, toByteOffset: 512, as: V.self); e.storeBytes(of: b4, toByteOffset: 576, as: V.self)
            e.storeBytes(of: a5, toByteOffset: 640, as: V.self); e.storeBytes(of: b5, toByteOffset: 704, as: V.self)
            e.storeBytes(of: c0, toByteOffset: 768, as: V.self); e.storeBytes(of: d0, toByteOffset: 832, as: V.self)
            e.storeBytes(of: c1, toByteOffset: 896, as: V.self); e.storeBytes(of: d1, toByteOffset: 960, as: V.self)
            e.storeBytes(of: c2, toByteOffset: 1024, as: V.self); e.storeBytes(of: d2, toByteOffset: 1088, as: V.self)
            e.storeBytes(of: c3, toByteOffset: 1152, as: V.self); e.storeBytes(of: d3, toByteOffset: 1216, as: V.self)
            e.storeBytes(of: c4, toByteOffset: 1280, as: V.self); e.storeBytes(of: d4, toByteOffset: 1344, as: V.self)
            e.storeBytes(of: c5, toByteOffset: 1408, as: V.self); e.storeBytes(of: d5, toByteOffset: 1472, as: V.self)
#endif
            convPoolLaneTile(edge, bias: bias.map { $0 + block * convLaneChannels }, relu: relu,
                             pooled: pooled + block * convLaneChannels * ph * pw + first, channelStride: ph * pw)
            window = first + 3
        }
    }
}

/// The three windows of a `convPooledLanes` tile: outputs in `edge` (output k of the top row
/// at k·32, of the bottom row at (6 + k)·32, 32 channels each) get the bias and rectifier as
/// `convStoreTile` applies them, then each window's maximum as `maxPool2x2RowValues` takes it
/// (top left, top right, bottom left, bottom right) goes to pooled[i·channelStride + k] for
/// channel i and window k.
@inline(never)
@_optimize(size)
func convPoolLaneTile(_ edge: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, relu: Bool,
                      pooled: UnsafeMutablePointer<Float>, channelStride: Int) {
    typealias V = SIMD16<Float>
    for h in stride(from: 0, to: convLaneChannels, by: 16) {
        for k in 0..<3 {
            @inline(__always) func output(_ at: Int) -> V {
                var y = V.load(edge + at * convLaneChannels + h)
                if let bias { y = y + V.load(bias + h) }
                return relu ? y.replacing(with: 0, where: y .< 0) : y
            }
            var best = output(2 * k)
            @inline(__always) func visit(_ v: V) { best.replace(with: v, where: .!(v .<= best) .& (best .== best)) }
            visit(output(2 * k + 1))
            visit(output(6 + 2 * k))
            visit(output(7 + 2 * k))
            best.store(edge + 12 * convLaneChannels + k * convLaneChannels + h)
        }
    }
#if MYELIN_AVX2
    // 8 channels at a time: the three windows' vectors (and a fourth of zeros) transposed in
    // registers by three even/odd splits — the 32 floats' index bits rotated so that each
    // channel's three maxima sit side by side — then stored 3 floats per channel (the fourth
    // slot is the next tile's). The scalar loop below stalls on loading single floats of the
    // vectors just stored.
    typealias H = SIMD8<Float>
    @inline(__always) func split(_ v: (H, H, H, H)) -> (H, H, H, H) {
        let p0 = SIMD16<Float>(lowHalf: v.0, highHalf: v.1), p1 = SIMD16<Float>(lowHalf: v.2, highHalf: v.3)
        return (p0.evenHalf, p1.evenHalf, p0.oddHalf, p1.oddHalf)
    }
    let windows = UnsafeRawPointer(edge + 12 * convLaneChannels)
    for group in 0..<(convLaneChannels / 8) {
        let at = 32 * group
        let t = split(split(split((windows.loadUnaligned(fromByteOffset: at, as: H.self),
                                   windows.loadUnaligned(fromByteOffset: at + 4 * convLaneChannels, as: H.self),
                                   windows.loadUnaligned(fromByteOffset: at + 8 * convLaneChannels, as: H.self), H()))))
        @inline(__always) func store(_ channel: Int, _ v: SIMD4<Float>) {
            let out = pooled + (8 * group + channel) * channelStride
            UnsafeMutableRawPointer(out).storeBytes(of: v.lowHalf, as: SIMD2<Float>.self)
            out[2] = v[2]
        }
        store(0, t.0.lowHalf); store(1, t.0.highHalf); store(2, t.1.lowHalf); store(3, t.1.highHalf)
        store(4, t.2.lowHalf); store(5, t.2.highHalf); store(6, t.3.lowHalf); store(7, t.3.highHalf)
    }
#else
    var out = pooled, from = edge + 12 * convLaneChannels
    for _ in 0..<convLaneChannels {
        out[0] = from[0]
        out[1] = from[convLaneChannels]
        out[2] = from[2 * convLaneChannels]
        out += channelStride
        from += 1
    }
#endif
}

/// Whether `convForwardPacked` reads the column matrix of `g` (one image) in place: stride and
/// dilation 1. Then patch row (c, i, j) over the wide output plane [outHeight, paddedW] (junk at
/// ox ≥ outWidth) is input plane c, zero-padded to [paddedH, paddedW], from i·paddedW + j on:
/// the register tile reads it there, with no im2col (whose rows, as short as a plane's width,
/// cost a quarter of ResNet-mini's time).
@inline(__always)
func convReadsColumnsInPlace(_ g: ConvGeometry) -> Bool {
    g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1 && g.padBottom >= 0 && g.padRight >= 0
}

/// Whether `convForwardPacked` reads the columns of `g` in place from shifted planes
/// (`convShiftPlanes`), over the output plane itself rather than the wide one: when the wide
/// plane's junk columns would cost over a third more lanes of the register tile
/// (`convTileLanes`; a 4 × 4 output padded by 1: 16 lanes, a half tile, against 22 → 32).
@inline(never)
@_optimize(size)
func convShiftsPlanes(_ g: ConvGeometry) -> Bool {
    4 * convTileLanes(g.outHeight * g.outWidth) < 3 * convTileLanes((g.outHeight - 1) * g.paddedW + g.outWidth)
}

/// Lanes the register tile spends on `columns` output columns: whole 32-column panels, and a
/// last one of 16 lanes (`convTileHalf`) when 16 or fewer columns are left.
@inline(__always)
func convTileLanes(_ columns: Int) -> Int {
    let rest = columns % gemmTileCols
    return columns - rest + (rest == 0 ? 0 : rest <= gemmTileCols / 2 ? gemmTileCols / 2 : gemmTileCols)
}

/// The kernelW shifted planes [paddedH, outWidth] of each of `channels` zero-padded planes
/// [paddedH, paddedW] (`convPadPlanes`), plane (c, j) at (c·kernelW + j)·paddedH·outWidth: its
/// row r, column x is the padded input at (r, x + j), so patch row (c, i, j) over the output
/// plane is plane (c, j) from row i on.
@inline(never)
@_optimize(size)
func convShiftPlanes(_ g: ConvGeometry, padded: UnsafePointer<Float>, channels: Int, into shifted: UnsafeMutablePointer<Float>) {
    let pw = g.paddedW, ow = g.outWidth
    var dst = shifted
    for c in 0..<channels {
        for j in 0..<g.kernelW {
            var src = padded + c * g.paddedH * pw + j
            for _ in 0..<g.paddedH {
                convCopyRow(dst, src, ow)
                dst += ow
                src += pw
            }
        }
    }
}

/// The zero-padded planes [channels, paddedH, paddedW] of `image` [channels, height, width],
/// then 32 zeros (the junk lanes of the last panel read up to 31 floats past the planes).
@inline(never)
@_optimize(size)
func convPadPlanes(_ g: ConvGeometry, _ image: UnsafePointer<Float>, channels: Int, into padded: UnsafeMutablePointer<Float>) {
    let pw = g.paddedW, count = channels * g.paddedH * pw
    if g.padTop == 0 && g.padLeft == 0 && g.padBottom == 0 && g.padRight == 0 {
        convCopyRow(padded, image, count)
        convZeroRow(padded + count, gemmTileCols)
        return
    }
    convZeroRow(padded, count + gemmTileCols)
    var src = image, dst = padded + g.padTop * pw + g.padLeft
    for _ in 0..<channels {
        for iy in 0..<g.height { convCopyRow(dst + iy * pw, src + iy * g.width, g.width) }
        src += g.height * g.width
        dst += g.paddedH * pw
    }
}

/// Whether `convForwardPacked` runs `g` (one image) as a stem, `convStemForward`: one input
/// channel and one group (a grey image's first convolution), stride and dilation 1, output rows
/// of at least 16 and a patch of one depth block. Its patch (the kernel's taps) is too shallow
/// for the register tile: 9 rows of a 3 × 3 kernel cost less than storing the tile.
@inline(__always)
func convRunsAsStem(_ g: ConvGeometry) -> Bool {
    g.inChannels == 1 && g.groups == 1 && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1
        && g.outWidth >= 16 && g.patch <= convMaxBlockDepth && g.padBottom >= 0 && g.padRight >= 0
}

/// A stem convolution (`convRunsAsStem(g)`) straight from the image: for each 8-channel panel of
/// the packed weights and each output row, two 16-column vectors of the row (the second ending
/// at the row's end, overlapping the first on rows under 32 columns) for 8 channels in 16
/// accumulators, summed tap by tap from the input rows. A padded image is first copied into a
/// zero-padded plane in `scratch` (`convPackedScratchCount(g)` floats; `edge`, 8×32 floats
/// past the column matrix, holds the accumulators for the store). Each output sums its taps in
/// the order and with the fused multiply-adds of the register tile, then adds the bias:
/// the same values as `convForwardPacked`'s GEMM path, bit for bit. On AVX2 the tile is
/// `convTilePassAVX2` over the taps' `offsets` (`g.patch` Ints).
@inline(never)
@_optimize(size)
func convStemForward(_ g: ConvGeometry, x: UnsafePointer<Float>, packed: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                     relu: Bool, y: UnsafeMutablePointer<Float>, offsets: UnsafeMutableRawPointer,
                     scratch: UnsafeMutablePointer<Float>, edge: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    let ow = g.outWidth, plane = g.outHeight * ow, taps = g.patch
    var source = x, width = g.width
    if g.padTop != 0 || g.padLeft != 0 || g.padBottom != 0 || g.padRight != 0 {
        // paddedH·paddedW + 32 ≤ taps·outHeight·outWidth + 32 at stride and dilation 1: inside the columns' room.
        width = g.paddedW
        convPadPlanes(g, x, channels: 1, into: scratch)
        source = UnsafePointer(scratch)
    }
#if MYELIN_AVX2
    // Tap (i, j) of an output row's first column at i·width + j (`convTilePassAVX2`'s offsets).
    for i in 0..<g.kernelH {
        for j in 0..<g.kernelW { offsets.storeBytes(of: i * width + j, toByteOffset: 8 * (i * g.kernelW + j), as: Int.self) }
    }
#endif
    var r = 0
    while r < g.outChannels {
        let rows = Swift.min(convTileRows, g.outChannels - r), panel = packed + r * taps
        for oy in 0..<g.outHeight {
            var block = 0
            while block < ow {
                let c0 = Swift.min(block, ow - 16), c1 = Swift.min(block + 16, ow - 16)
#if MYELIN_AVX2
                // 4 channels × 16 columns per pass (8 ymm accumulators; the 32 of the AVX-512 tile spill).
                let line = source + oy * width
                for pass in 0..<4 {
                    let half = pass & 1, column = pass < 2 ? c0 : c1
                    convTilePassAVX2(kc: taps, a: panel + 4 * half, b: line + column, offsets: UnsafeRawPointer(offsets),
                                     into: edge + 4 * half * gemmTileCols + (pass < 2 ? 0 : 16))
                }
#else
                var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V(), a7 = V()
                var b0 = V(), b1 = V(), b2 = V(), b3 = V(), b4 = V(), b5 = V(), b6 = V(), b7 = V()
                var w = panel, line = source + oy * width
                for _ in 0..<g.kernelH {
                    for j in 0..<g.kernelW {
                        let s0 = V.load(line + c0 + j), s1 = V.load(line + c1 + j)
                        var s = V(repeating: w[0]); a0.addProduct(s, s0); b0.addProduct(s, s1)
                        s = V(repeating: w[1]); a1.addProduct(s, s0); b1.addProduct(s, s1)
                        s = V(repeating: w[2]); a2.addProduct(s, s0); b2.addProduct(s, s1)
                        s = V(repeating: w[3]); a3.addProduct(s, s0); b3.addProduct(s, s1)
                        s = V(repeating: w[4]); a4.addProduct(s, s0); b4.addProduct(s, s1)
                        s = V(repeating: w[5]); a5.addProduct(s, s0); b5.addProduct(s, s1)
                        s = V(repeating: w[6]); a6.addProduct(s, s0); b6.addProduct(s, s1)
                        s = V(repeating: w[7]); a7.addProduct(s, s0); b7.addProduct(s, s1)
                        w += convTileRows
                    }
                    line += width
                }
                a0.store(edge); b0.store(edge + 16); a1.store(edge + 32); b1.store(edge + 48)
                a2.store(edge + 64); b2.store(edge + 80); a3.store(edge + 96); b3.store(edge + 112)
                a4.store(edge + 128); b4.store(edge + 144); a5.store(edge + 160); b5.store(edge + 176)
                a6.store(edge + 192); b6.store(edge + 208); a7.store(edge + 224); b7.store(edge + 240)
#endif
                for i in 0..<rows {
                    var v0 = V.load(edge + 32 * i), v1 = V.load(edge + 32 * i + 16)
                    if let b = bias {
                        let bv = V(repeating: b[r + i])
                        v0 = v0 + bv
                        v1 = v1 + bv
                    }
                    if relu {
                        v0 = v0.replacing(with: 0, where: v0 .< 0)
                        v1 = v1.replacing(with: 0, where: v1 .< 0)
                    }
                    let out = y + (r + i) * plane + oy * ow
                    v0.store(out + c0)
                    v1.store(out + c1)
                }
                block += 32
            }
        }
        r += convTileRows
    }
}


/// Depth of the block that patch row `p` falls in.
@inline(__always)
func convBlockDepth(_ p: Int, _ patch: Int) -> Int {
    let depth = convDepthStep(patch), pc = p / depth * depth
    return Swift.min(depth, patch - pc)
}

/// Where patch row `p` starts in the packed columns (its block, row p − pc of panel 0).
@inline(__always)
func convPanelRow(_ columns: UnsafeMutablePointer<Float>, p: Int, patch: Int, nPad: Int) -> UnsafeMutablePointer<Float> {
    let depth = convDepthStep(patch), pc = p / depth * depth
    return columns + pc * nPad + (p - pc) * gemmTileCols
}

/// im2col of one image-group (of `images` images side by side, `inChannels` planes apart),
/// each row built in `rowBuffer` (`nPad` floats, zero past the planes) and scattered into the
/// column panels: tap by tap, so that the tap's valid output rows and columns are worked out
/// once for all channels.
@inline(never)
@_optimize(size)
func convIm2colPanels(_ g: ConvGeometry, image: UnsafePointer<Float>, images: Int, channels: Int, rowBuffer: UnsafeMutablePointer<Float>,
                      columns: UnsafeMutablePointer<Float>, nPad: Int) {
    let oh = g.outHeight, ow = g.outWidth, plane = g.height * g.width, taps = g.kernelH * g.kernelW, patch = g.patch
    let step = g.strideH * g.width, imageIn = g.inChannels * plane, imageOut = oh * ow
    for i in 0..<g.kernelH {
        let top = i * g.dilationH - g.padTop
        let (yLo, yHi) = convValidRange(offset: top, stride: g.strideH, size: g.height, count: oh)
        for j in 0..<g.kernelW {
            let offset = j * g.dilationW - g.padLeft
            let (lo, hi) = convValidRange(offset: offset, stride: g.strideW, size: g.width, count: ow)
            for m in 0..<images {
                convIm2colPadding(rowBuffer + m * imageOut, rows: yLo..<yHi, columns: lo..<hi, outHeight: oh, outWidth: ow)
            }
            let first = image + (yLo * g.strideH + top) * g.width + offset
            for c in 0..<channels {
                for m in 0..<images {
                    let out = rowBuffer + m * imageOut, from = first + m * imageIn + c * plane
                    if g.strideW == 1 {
                        var dst = out + yLo * ow + lo
                        var src = from + lo
                        for _ in yLo..<yHi { convCopyRow(dst, src, hi - lo); dst += ow; src += step }
                    } else {
                        convIm2colStridedRows(g, out + yLo * ow, from, rows: yHi - yLo, columns: lo..<hi)
                    }
                }
                let p = c * taps + i * g.kernelW + j
                convScatterRow(UnsafePointer(rowBuffer), count: nPad, into: convPanelRow(columns, p: p, patch: patch, nPad: nPad),
                               panelStride: gemmTileCols * convBlockDepth(p, patch))
            }
        }
    }
}

/// Zeroes the padding of an im2col row [outHeight, outWidth]: the output rows outside
/// `rows` and, inside them, the columns outside `columns` (it stays zero for all channels).
@inline(never)
@_optimize(size)
func convIm2colPadding(_ row: UnsafeMutablePointer<Float>, rows: Range<Int>, columns: Range<Int>, outHeight: Int, outWidth: Int) {
    // A tap inside the input for every output (no padding reached): nothing to zero.
    if columns.count == outWidth && rows.count == outHeight { return }
    for oy in 0..<outHeight {
        let line = row + oy * outWidth
        if !rows.contains(oy) { convZeroRow(line, outWidth); continue }
        convZeroRow(line, columns.lowerBound)
        convZeroRow(line + columns.upperBound, outWidth - columns.upperBound)
    }
}

/// The valid part of an im2col row for a horizontal stride above 1: `rows` output rows from
/// dst (rows `outWidth` apart) and src (input rows `strideH·width` apart), columns `columns`;
/// at stride 2, rows of 5 or more 4 or 8 at a time.
@inline(never)
@_optimize(size)
func convIm2colStridedRows(_ g: ConvGeometry, _ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, rows: Int, columns: Range<Int>) {
    // Pointers stepped (no index products per element).
    let sw = g.strideW, step = g.strideH * g.width, n = columns.count
    var out = dst + columns.lowerBound, line = src + columns.lowerBound * sw
    if sw == 2 && n >= 5 {
        // The even lanes of 16 (or 8) inputs; the last block ends at the row's last output and is
        // read from one float earlier (odd lanes), so that no load passes the row's last input.
        for _ in 0..<rows {
            if n >= 9 {
                var k = 0
                while k + 9 <= n {
                    UnsafeMutableRawPointer(out + k).storeBytes(of: SIMD16<Float>.load(line + 2 * k).evenHalf, as: SIMD8<Float>.self)
                    k += 8
                }
                UnsafeMutableRawPointer(out + n - 8).storeBytes(of: SIMD16<Float>.load(line + 2 * n - 17).oddHalf, as: SIMD8<Float>.self)
            } else {
                let first = UnsafeRawPointer(line).loadUnaligned(as: SIMD8<Float>.self)
                let last = UnsafeRawPointer(line + 2 * n - 9).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(out).storeBytes(of: first.evenHalf, as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(out + n - 4).storeBytes(of: last.oddHalf, as: SIMD4<Float>.self)
            }
            out += g.outWidth
            line += step
        }
        return
    }
    for _ in 0..<rows {
        var from = line
        for k in 0..<columns.count { out[k] = from.pointee; from += sw }
        out += g.outWidth
        line += step
    }
}

/// dst[q·panelStride + j] = row[32q + j] for j < 32, q < count / 32 (count a multiple of 32).
@inline(__always)
@_optimize(speed)
func convScatterRow(_ row: UnsafePointer<Float>, count: Int, into dst: UnsafeMutablePointer<Float>, panelStride: Int) {
    typealias V = SIMD16<Float>
    var src = UnsafeRawPointer(row), out = dst
    for _ in 0..<(count / gemmTileCols) {
        let o = UnsafeMutableRawPointer(out)
        o.storeBytes(of: src.loadUnaligned(as: V.self), as: V.self)
        o.storeBytes(of: src.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
        src += 4 * gemmTileCols
        out += panelStride
    }
}

/// The 8×32 register tile: acc = Apanel[kc×8]ᵀ · B[kc×32], B's row p the 32 floats at
/// b + offsets[p] (`offsets`: kc Ints; p·32 in im2col's panels, the patch row's place in the
/// padded planes in place), then for the `rows` × `cols` valid part of C (row stride `ldc`): C = acc + bias[row] (first depth block with a bias),
/// C = acc (first block without), C = C + acc (later blocks); then max(C, 0) when `relu`.
/// `edge` holds 8×32 floats.
@inline(__always)
@_optimize(speed)
func convTile(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafeRawPointer, rows: Int, cols: Int,
              bias: UnsafePointer<Float>?, start: Bool, relu: Bool,
              c: UnsafeMutablePointer<Float>, ldc: Int, edge: UnsafeMutablePointer<Float>) {
#if MYELIN_AVX2
    for pass in 0..<4 {
        let row = 4 * (pass >> 1), column = 16 * (pass & 1)
        convTilePassAVX2(kc: kc, a: a + row, b: b + column, offsets: offsets, into: edge + row * gemmTileCols + column)
    }
#else
    typealias V = SIMD16<Float>
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
    var c40 = V(), c41 = V(), c50 = V(), c51 = V(), c60 = V(), c61 = V(), c70 = V(), c71 = V()
    var ap = a
    for p in 0..<kc {
        let bp = UnsafeRawPointer(b + offsets.load(fromByteOffset: 8 * p, as: Int.self))
        let b0 = bp.loadUnaligned(as: V.self)
        let b1 = bp.loadUnaligned(fromByteOffset: 64, as: V.self)
        var s = V(repeating: ap[0]); c00.addProduct(s, b0); c01.addProduct(s, b1)
        s = V(repeating: ap[1]); c10.addProduct(s, b0); c11.addProduct(s, b1)
        s = V(repeating: ap[2]); c20.addProduct(s, b0); c21.addProduct(s, b1)
        s = V(repeating: ap[3]); c30.addProduct(s, b0); c31.addProduct(s, b1)
        s = V(repeating: ap[4]); c40.addProduct(s, b0); c41.addProduct(s, b1)
        s = V(repeating: ap[5]); c50.addProduct(s, b0); c51.addProduct(s, b1)
        s = V(repeating: ap[6]); c60.addProduct(s, b0); c61.addProduct(s, b1)
        s = V(repeating: ap[7]); c70.addProduct(s, b0); c71.addProduct(s, b1)
        ap += convTileRows
    }
    // The accumulators go through `edge` (in L1): one out-of-line epilogue for all tiles keeps
    // the code small, and 16 stores and loads are little beside the tile's kc·10 loads.
    let e = UnsafeMutableRawPointer(edge)
    e.storeBytes(of: c00, toByteOffset: 0, as: V.self); e.storeBytes(of: c01, toByteOffset: 64, as: V.self)
    e.storeBytes(of: c10, toByteOffset: 128, as: V.self); e.storeBytes(of: c11, toByteOffset: 192, as: V.self)
    e.storeBytes(of: c20, toByteOffset: 256, as: V.self); e.storeBytes(of: c21, toByteOffset: 320, as: V.self)
    e.storeBytes(of: c30, toByteOffset: 384, as: V.self); e.storeBytes(of: c31, toByteOffset: 448, as: V.self)
    e.storeBytes(of: c40, toByteOffset: 512, as: V.self); e.storeBytes(of: c41, toByteOffset: 576, as: V.self)
    e.storeBytes(of: c50, toByteOffset: 640, as: V.self); e.storeBytes(of: c51, toByteOffset: 704, as: V.self)
    e.storeBytes(of: c60, toByteOffset: 768, as: V.self); e.storeBytes(of: c61, toByteOffset: 832, as: V.self)
    e.storeBytes(of: c70, toByteOffset: 896, as: V.self); e.storeBytes(of: c71, toByteOffset: 960, as: V.self)
#endif
    convStoreTile(edge, rows: rows, cols: cols, c: c, ldc: ldc, bias: bias, start: start, relu: relu)
}

/// `convTile` on the left half of the column panel (an 8×16 register tile), for a last panel
/// with 16 or fewer valid columns (a 4 × 4 plane at batch 1): half the multiply-adds, each
/// output summed in the same order.
@inline(__always)
@_optimize(speed)
func convTileHalf(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafeRawPointer, rows: Int, cols: Int,
                  bias: UnsafePointer<Float>?, start: Bool, relu: Bool,
                  c: UnsafeMutablePointer<Float>, ldc: Int, edge: UnsafeMutablePointer<Float>) {
#if MYELIN_AVX2
    convTilePassAVX2(kc: kc, a: a, b: b, offsets: offsets, into: edge)
    convTilePassAVX2(kc: kc, a: a + 4, b: b, offsets: offsets, into: edge + 4 * gemmTileCols)
#else
    typealias V = SIMD16<Float>
    var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V(), c6 = V(), c7 = V()
    var ap = a
    for p in 0..<kc {
        let b0 = UnsafeRawPointer(b + offsets.load(fromByteOffset: 8 * p, as: Int.self)).loadUnaligned(as: V.self)
        c0.addProduct(V(repeating: ap[0]), b0); c1.addProduct(V(repeating: ap[1]), b0)
        c2.addProduct(V(repeating: ap[2]), b0); c3.addProduct(V(repeating: ap[3]), b0)
        c4.addProduct(V(repeating: ap[4]), b0); c5.addProduct(V(repeating: ap[5]), b0)
        c6.addProduct(V(repeating: ap[6]), b0); c7.addProduct(V(repeating: ap[7]), b0)
        ap += convTileRows
    }
    let e = UnsafeMutableRawPointer(edge)
    e.storeBytes(of: c0, toByteOffset: 0, as: V.self); e.storeBytes(of: c1, toByteOffset: 128, as: V.self)
    e.storeBytes(of: c2, toByteOffset: 256, as: V.self); e.storeBytes(of: c3, toByteOffset: 384, as: V.self)
    e.storeBytes(of: c4, toByteOffset: 512, as: V.self); e.storeBytes(of: c5, toByteOffset: 640, as: V.self)
    e.storeBytes(of: c6, toByteOffset: 768, as: V.self); e.storeBytes(of: c7, toByteOffset: 896, as: V.self)
#endif
    convStoreTile(edge, rows: rows, cols: cols, c: c, ldc: ldc, bias: bias, start: start, relu: relu)
}

#if MYELIN_AVX2
/// `convTile`'s register tile on AVX2, a quarter at a time (its 32 ymm accumulators would spill
/// on 16 registers): 4 rows × 16 columns in 8 accumulators, acc[r][j] = Σ_p a[8p + r] ·
/// b[offsets[p] + j] in p order, one fused multiply-add each (the wide tile's sums, bit for
/// bit); row r's 16 sums at into + 32r.
@inline(never)
@_optimize(speed)
func convTilePassAVX2(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafeRawPointer,
                      into edge: UnsafeMutablePointer<Float>) {
    typealias H = SIMD8<Float>
    var c00 = H(), c01 = H(), c10 = H(), c11 = H(), c20 = H(), c21 = H(), c30 = H(), c31 = H()
    var ap = a
    for p in 0..<kc {
        let bp = UnsafeRawPointer(b + offsets.load(fromByteOffset: 8 * p, as: Int.self))
        let b0 = bp.loadUnaligned(as: H.self), b1 = bp.loadUnaligned(fromByteOffset: 32, as: H.self)
        var s = H(repeating: ap[0]); c00.addProduct(s, b0); c01.addProduct(s, b1)
        s = H(repeating: ap[1]); c10.addProduct(s, b0); c11.addProduct(s, b1)
        s = H(repeating: ap[2]); c20.addProduct(s, b0); c21.addProduct(s, b1)
        s = H(repeating: ap[3]); c30.addProduct(s, b0); c31.addProduct(s, b1)
        ap += convTileRows
    }
    let e = UnsafeMutableRawPointer(edge)
    e.storeBytes(of: c00, as: H.self); e.storeBytes(of: c01, toByteOffset: 32, as: H.self)
    e.storeBytes(of: c10, toByteOffset: 128, as: H.self); e.storeBytes(of: c11, toByteOffset: 160, as: H.self)
    e.storeBytes(of: c20, toByteOffset: 256, as: H.self); e.storeBytes(of: c21, toByteOffset: 288, as: H.self)
    e.storeBytes(of: c30, toByteOffset: 384, as: H.self); e.storeBytes(of: c31, toByteOffset: 416, as: H.self)
}
#endif

/// The valid `rows` × `cols` of a tile (accumulators v in `edge`, 32 floats a row) into C:
/// C = v + bias[row] (first depth block with a bias), C = v (first block without), C = C + v
/// (later blocks); then max(C, 0) when `relu` (a NaN stays NaN). A row of 16 or more columns
/// as two 16-float vectors, the second ending at `cols` and overlapping the first on a ragged
/// panel: both are computed from C as it was before either is stored, so an overlapped
/// element gets the same value twice.
@inline(never)
@_optimize(speed)
func convStoreTile(_ edge: UnsafePointer<Float>, rows: Int, cols: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                   bias: UnsafePointer<Float>?, start: Bool, relu: Bool) {
    typealias V = SIMD16<Float>
    for r in 0..<rows {
        let out = c + r * ldc, v = edge + r * gemmTileCols
        if cols >= 16 {
            let p = UnsafeMutableRawPointer(out), from = UnsafeRawPointer(v), tail = 4 * (cols - 16)
            var y0 = from.loadUnaligned(as: V.self), y1 = from.loadUnaligned(fromByteOffset: tail, as: V.self)
            if !start {
                y0 = p.loadUnaligned(as: V.self) + y0
                y1 = p.loadUnaligned(fromByteOffset: tail, as: V.self) + y1
            } else if let b = bias {
                let bv = V(repeating: b[r])
                y0 = y0 + bv
                y1 = y1 + bv
            }
            if relu {
                y0 = y0.replacing(with: 0, where: y0 .< 0)
                y1 = y1.replacing(with: 0, where: y1 .< 0)
            }
            p.storeBytes(of: y0, as: V.self)
            p.storeBytes(of: y1, toByteOffset: tail, as: V.self)
        } else {
            for j in 0..<cols {
                var y = v[j]
                if !start { y = out[j] + y } else if let b = bias { y = y + b[r] }
                if relu && y < 0 { y = 0 }
                out[j] = y
            }
        }
    }
}
