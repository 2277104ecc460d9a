// Inference f32 convolution on weights packed once at load: y = act(bias + conv(x, W)), one
// image at a time, NCHW (shapes as in Convolution.swift).
//
// Shared at source level by the training module and the Embedded-Swift runtime; the
// runtime's conv2d runs it (training runs `convForward`). Each output is computed with
// `gemm`'s arithmetic — its products summed in input order from zero with fused
// multiply-adds, in blocks of `gemmBlockDepth`, each block's sum added to the bias (or to
// the previous blocks) — so both paths give the same bits, and the naive reference
// `conv2dReference` gives them within rounding. What differs from im2col + `gemm`:
// - the weights are packed into 8-row panels once, at load (`gemm` packs them per image);
// - im2col writes the column matrix straight into the 32-column panels the register tile
//   reads, one row at a time through a row buffer (no second pass over the columns);
// - an 8×32 register tile (16 SIMD16 accumulators): CNN channel counts are multiples of 8,
//   where `gemm`'s 6-row tile leaves partial tiles;
// - bias and ReLU are applied as the tile is stored (no passes over y before and after).
//
// Packed weights, per group gi (base gi·outPad·patch, outPad = outChannels/groups rounded up
// to 8): depth blocks of `gemmBlockDepth` patch rows in order, the block at patch row pc
// starting at pc·outPad; inside a block of depth kc, row panel r holds W[8r + i, pc + p] at
// r·8·kc + p·8 + i (zero for 8r + i ≥ outChannels/groups).
// Packed columns (scratch, one image-group): the same with 32-column panels over output
// positions: depth block pc at pc·nPad (nPad = outHeight·outWidth rounded up to 32), column
// panel q at q·32·kc, element (p, j) at p·32 + j (zero for positions past the plane).

/// Rows (output channels) of the packed convolution's register tile.
let convTileRows = 8

/// Whether conv2d runs `g` on packed weights: every convolution but the direct depthwise
/// ones, unless padding the output channels of a group to whole panels would more than
/// double the weights (then `convForward` runs it on the weights as stored).
public func convPacksWeights(_ g: ConvGeometry) -> Bool {
    let outGroup = g.outChannels / g.groups
    return !g.isDepthwise && kernelRoundUp(outGroup, convTileRows) <= 2 * outGroup
}

/// Floats of packed weights for `g` (see the layout above).
public func convPackedWeightsCount(_ g: ConvGeometry) -> Int {
    g.groups * kernelRoundUp(g.outChannels / g.groups, convTileRows) * g.patch
}

/// Floats of scratch `convForwardPacked` needs: one image-group's packed columns, a row
/// buffer and an edge tile.
public func convPackedScratchCount(_ g: ConvGeometry) -> Int {
    let nPad = kernelRoundUp(g.outHeight * g.outWidth, gemmTileCols)
    return g.patch * nPad + nPad + convTileRows * gemmTileCols
}

/// Packs the weights `[outChannels, inChannels / groups, kernelH, kernelW]`, element `e`
/// (PyTorch order) being `weight(e)`, into `dst` (`convPackedWeightsCount(g)` floats).
/// Runs once at load: f32 and f16 weights both come through `weight`.
public func convPackWeights(_ g: ConvGeometry, into dst: UnsafeMutablePointer<Float>, _ weight: (Int) -> Float) {
    let outGroup = g.outChannels / g.groups, outPad = kernelRoundUp(outGroup, convTileRows), patch = g.patch
    for gi in 0..<g.groups {
        let groupBase = dst + gi * outPad * patch
        var pc = 0
        while pc < patch {
            let kc = Swift.min(gemmBlockDepth, patch - pc)
            for r in stride(from: 0, to: outPad, by: convTileRows) {
                let panel = groupBase + pc * outPad + r * kc
                for p in 0..<kc {
                    for i in 0..<convTileRows {
                        let o = r + i
                        panel[p * convTileRows + i] = o < outGroup ? weight((gi * outGroup + o) * patch + pc + p) : 0
                    }
                }
            }
            pc += kc
        }
    }
}

/// y `[outChannels, outHeight, outWidth]` = bias (or 0) + conv(x `[inChannels, height,
/// width]`, W), then `max(·, 0)` when `relu` (a NaN stays NaN), for one image. `packed`
/// comes from `convPackWeights` (`convPacksWeights(g)` must hold); `scratch` holds
/// `convPackedScratchCount(g)` floats. Allocates nothing.
@inline(never)
@_optimize(speed)
public func convForwardPacked(_ g: ConvGeometry, x: UnsafePointer<Float>, packed: UnsafePointer<Float>,
                              bias: UnsafePointer<Float>?, relu: Bool, y: UnsafeMutablePointer<Float>,
                              scratch: UnsafeMutablePointer<Float>) {
    let inGroup = g.inChannels / g.groups, outGroup = g.outChannels / g.groups
    let outPad = kernelRoundUp(outGroup, convTileRows), patch = g.patch, taps = g.kernelH * g.kernelW
    let planeIn = g.height * g.width, planeOut = g.outHeight * g.outWidth
    let nPad = kernelRoundUp(planeOut, gemmTileCols)
    let columns = scratch, rowBuffer = scratch + patch * nPad, edgeTile = rowBuffer + nPad
    convZeroRow(rowBuffer + planeOut, nPad - planeOut)
    for gi in 0..<g.groups {
        let image = x + gi * inGroup * planeIn
        // im2col, each row scattered into the column panels of its depth block.
        for p in 0..<patch {
            let c = p / taps, tap = p - c * taps
            let row: UnsafePointer<Float>
            if g.isPointwise && planeOut == nPad {
                row = image + c * planeIn
            } else if g.isPointwise {
                convCopyRow(rowBuffer, image + c * planeIn, planeOut)
                row = UnsafePointer(rowBuffer)
            } else {
                convIm2colRow(g, plane: image + c * planeIn, tapRow: tap / g.kernelW, tapColumn: tap % g.kernelW, into: rowBuffer)
                row = UnsafePointer(rowBuffer)
            }
            let pc = p / gemmBlockDepth * gemmBlockDepth, kc = Swift.min(gemmBlockDepth, patch - pc)
            convScatterRow(row, count: nPad, into: columns + pc * nPad + (p - pc) * gemmTileCols, panelStride: gemmTileCols * kc)
        }
        let weights = packed + gi * outPad * patch
        let yGroup = y + gi * outGroup * planeOut
        let groupBias = bias.map { $0 + gi * outGroup }
        var pc = 0
        while pc < patch {
            let kc = Swift.min(gemmBlockDepth, patch - pc)
            let first = pc == 0, last = pc + kc == patch
            var q = 0
            while q < planeOut {
                let cols = Swift.min(gemmTileCols, planeOut - q)
                let bPanel = columns + pc * nPad + q * kc
                var r = 0
                while r < outGroup {
                    convTile(kc: kc, a: weights + pc * outPad + r * kc, b: bPanel, rows: Swift.min(convTileRows, outGroup - r),
                             cols: cols, bias: first ? groupBias.map { $0 + r } : nil, start: first, relu: relu && last,
                             c: yGroup + r * planeOut + q, ldc: planeOut, edge: edgeTile)
                    r += convTileRows
                }
                q += gemmTileCols
            }
            pc += kc
        }
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

/// The 8×32 register tile: acc = Apanel[kc×8]ᵀ · Bpanel[kc×32], then for the `rows` × `cols`
/// valid part of C (row stride `ldc`): C = acc + bias[row] (first depth block with a bias),
/// C = acc (first block without), C = C + acc (later blocks); then max(C, 0) when `relu`.
/// A partial tile goes through `edge` (8×32 floats).
@inline(__always)
@_optimize(speed)
func convTile(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, rows: Int, cols: Int,
              bias: UnsafePointer<Float>?, start: Bool, relu: Bool,
              c: UnsafeMutablePointer<Float>, ldc: Int, edge: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
    var c40 = V(), c41 = V(), c50 = V(), c51 = V(), c60 = V(), c61 = V(), c70 = V(), c71 = V()
    var ap = a
    var bp = UnsafeRawPointer(b)
    for _ in 0..<kc {
        let b0 = bp.load(as: V.self)
        let b1 = bp.load(fromByteOffset: 64, as: V.self)
        var s = V(repeating: ap[0]); c00.addProduct(s, b0); c01.addProduct(s, b1)
        s = V(repeating: ap[1]); c10.addProduct(s, b0); c11.addProduct(s, b1)
        s = V(repeating: ap[2]); c20.addProduct(s, b0); c21.addProduct(s, b1)
        s = V(repeating: ap[3]); c30.addProduct(s, b0); c31.addProduct(s, b1)
        s = V(repeating: ap[4]); c40.addProduct(s, b0); c41.addProduct(s, b1)
        s = V(repeating: ap[5]); c50.addProduct(s, b0); c51.addProduct(s, b1)
        s = V(repeating: ap[6]); c60.addProduct(s, b0); c61.addProduct(s, b1)
        s = V(repeating: ap[7]); c70.addProduct(s, b0); c71.addProduct(s, b1)
        ap += convTileRows
        bp += 4 * gemmTileCols
    }
    let full = rows == convTileRows && cols == gemmTileCols
    let out = full ? c : edge, ld = full ? ldc : gemmTileCols
    @inline(__always)
    func store(_ row: Int, _ v0: V, _ v1: V) {
        let p = UnsafeMutableRawPointer(out + row * ld)
        var y0 = v0, y1 = v1
        if !start {
            let from = UnsafeRawPointer(c + row * ldc)
            if full {
                y0 = from.loadUnaligned(as: V.self) + v0
                y1 = from.loadUnaligned(fromByteOffset: 64, as: V.self) + v1
            } else if row < rows {
                // Partial tile: the valid part of C into the edge tile first.
                var previous = (V(), V())
                for j in 0..<cols { if j < 16 { previous.0[j] = c[row * ldc + j] } else { previous.1[j - 16] = c[row * ldc + j] } }
                y0 = previous.0 + v0
                y1 = previous.1 + v1
            }
        } else if let b = bias, row < rows {
            let bv = V(repeating: b[row])
            y0 = v0 + bv
            y1 = v1 + bv
        }
        if relu {
            y0 = y0.replacing(with: 0, where: y0 .< 0)
            y1 = y1.replacing(with: 0, where: y1 .< 0)
        }
        p.storeBytes(of: y0, as: V.self)
        p.storeBytes(of: y1, toByteOffset: 64, as: V.self)
    }
    store(0, c00, c01); store(1, c10, c11); store(2, c20, c21); store(3, c30, c31)
    store(4, c40, c41); store(5, c50, c51); store(6, c60, c61); store(7, c70, c71)
    if !full {
        for r in 0..<rows {
            for j in 0..<cols { c[r * ldc + j] = edge[r * gemmTileCols + j] }
        }
    }
}
