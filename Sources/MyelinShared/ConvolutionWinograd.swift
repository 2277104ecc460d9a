// Winograd convolution F(2×2, 3×3) for the runtime's f32 conv2d: 3×3 kernels, stride and
// dilation 1, one group, padding 0 or 1 per side (`convRunsWinograd`). Each 2×2 output tile is
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
// summed over the input channels, d the 4×4 input tile at (2·ty − padTop, 2·tx − padLeft) (zero
// outside the image), g a 3×3 kernel, with
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
//   Aᵀ = [1 1 1 0; 0 1 −1 −1]:
// 16 multiplies per tile and channel pair against 36 for the direct convolution. The sum over
// channels is 16 products (one per transform point t = 4k + l)
//   M_t [outChannels, tiles] = U_t [outChannels, inChannels] · V_t [inChannels, tiles]
// run by the packed convolution's register tile (`convPanels`), U_t packed at load as
// `convPackWeights` packs a 1×1 convolution's weights (`winogradPackWeights`). V_t and M_t are
// row-major with the tiles of all the batch's images along the row, in blocks of
// `winogradBlockTiles` tiles so that V and M stay in L2; channel c's 16 rows V_t[c] are adjacent
// (row 16c + t), as are output channel o's M_t[o]. The output transform adds bias and ReLU and
// clips the edge tiles. The transforms run 16 tiles (or tile columns) to a SIMD16 vector.
// `conv2dWinogradReference` is the naive reference (the textbook matrices, plain loops); both
// agree with the direct convolution within the bound WinogradConvolutionTests derives.

/// Whether conv2d runs `g` by Winograd F(2×2, 3×3): a 3×3 kernel, stride and dilation 1, one
/// group, padding 0 or 1 on each side, and at least 8 input channels (the stem convolution
/// reads one plane: its transforms would cost more than they save).
public func convRunsWinograd(_ g: ConvGeometry) -> Bool {
    g.kernelH == 3 && g.kernelW == 3 && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1
        && g.groups == 1 && g.inChannels >= 8
        && (0...1).contains(g.padTop) && (0...1).contains(g.padLeft) && (0...1).contains(g.padBottom) && (0...1).contains(g.padRight)
}

/// Floats of the transformed weights: 16 packed [outChannels rounded up to 8, inChannels] matrices.
public func winogradWeightsCount(_ g: ConvGeometry) -> Int {
    16 * kernelRoundUp(g.outChannels, convTileRows) * g.inChannels
}

/// Tiles per block: V and M (16·(inChannels + outChannels) floats a tile) in about 192 KB
/// (L2; larger blocks measured slower), whole 32-column panels, at least one.
func winogradBlockTiles(_ g: ConvGeometry) -> Int {
    Swift.max(gemmTileCols, 49_152 / (16 * (g.inChannels + g.outChannels)) / gemmTileCols * gemmTileCols)
}

/// Row stride of V_t and M_t for a block of `tiles` tiles: whole panels and 32 floats of slack
/// (the transforms write and read 16 lanes, up to 15 floats past a row's tiles).
@inline(__always)
func winogradRowStride(_ tiles: Int) -> Int { kernelRoundUp(tiles, gemmTileCols) + gemmTileCols }

/// Floats of scratch `convWinogradForward` needs: the GEMM's row offsets (Ints) and edge tile,
/// the input transform's rows (`winogradRowsCount`), V and M of one block, and their slack.
public func winogradScratchCount(_ g: ConvGeometry) -> Int {
    let ld = winogradRowStride(winogradBlockTiles(g))
    return 2 * g.inChannels + convTileRows * gemmTileCols + winogradRowsCount(g) + 16 * (g.inChannels + g.outChannels) * ld
}

/// Floats of the transforms' buffers: the image's planes zero-padded to the tiles' extent
/// ([inChannels, 2·tilesH + 2, 2·tilesW + 2]) and 48 floats past them (the last 32-float loads
/// run into junk lanes there), `winogradLag` + 1 sets of eight planes of rows transformed along
/// the row (`winogradHalfPlaneCount`), and 64 floats for the output transform's two
/// interleaved rows.
@inline(__always)
func winogradRowsCount(_ g: ConvGeometry) -> Int {
    g.inChannels * winogradPaddedPlaneCount(g) + 48 + 8 * (winogradLag + 1) * winogradHalfPlaneCount(g) + 64
}

/// Channels the input transform's second pass runs behind its first.
let winogradLag = 3

/// Floats of one input plane zero-padded to the tiles' extent.
@inline(__always)
func winogradPaddedPlaneCount(_ g: ConvGeometry) -> Int { (2 * ((g.outHeight + 1) / 2) + 2) * (2 * ((g.outWidth + 1) / 2) + 2) }

/// Floats of one of the input transform's planes of transformed rows (even or odd input rows,
/// one of 4 values): `(outHeight + 1) / 2 + 1` rows of the tile columns, and 16 floats of slack.
@inline(__always)
func winogradHalfPlaneCount(_ g: ConvGeometry) -> Int { ((g.outHeight + 1) / 2 + 1) * ((g.outWidth + 1) / 2) + 16 }

/// The 1-D input transform Bᵀ d of d = (d0, d1, d2, d3).
@inline(__always)
func winogradInput(_ d0: SIMD16<Float>, _ d1: SIMD16<Float>, _ d2: SIMD16<Float>, _ d3: SIMD16<Float>)
    -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
    (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
}

/// The 1-D output transform Aᵀ m of m = (m0, m1, m2, m3).
@inline(__always)
func winogradOutput(_ m0: SIMD16<Float>, _ m1: SIMD16<Float>, _ m2: SIMD16<Float>, _ m3: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
    (m0 + m1 + m2, m1 - m2 - m3)
}

/// Packs U_t = (G g Gᵀ)_t of the weights `[outChannels, inChannels, 3, 3]` (f32, or f16 when
/// `f16`) into `dst` (`winogradWeightsCount(g)` floats): U_t at t·outPad·inChannels, laid out
/// as `convPackWeights` lays out a 1×1 convolution's [outPad, inChannels] weights (depth blocks of
/// `convDepthStep(inChannels)` channels; zero rows past outChannels).
@inline(never)
@_optimize(size)
public func winogradPackWeights(_ g: ConvGeometry, weights: UnsafeRawPointer, f16: Bool, into dst: UnsafeMutablePointer<Float>) {
    let channels = g.inChannels, outPad = kernelRoundUp(g.outChannels, convTileRows), depth = convDepthStep(channels)
    for o in 0..<outPad {
        for c in 0..<channels {
            // Rows of G g (4 × 3), then (G g) Gᵀ (4 × 4); G's rows are (g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2).
            var w = SIMD16<Float>()
            if o < g.outChannels {
                for k in 0..<9 {
                    let e = (o * channels + c) * 9 + k
                    w[k] = f16 ? halfBitsToFloat(weights.load(fromByteOffset: 2 * e, as: UInt16.self))
                               : weights.load(fromByteOffset: 4 * e, as: Float.self)
                }
            }
            let pc = c / depth * depth, kc = Swift.min(depth, channels - pc)
            let at = pc * outPad + o / convTileRows * convTileRows * kc + (c - pc) * convTileRows + o % convTileRows
            for k in 0..<4 {
                // Row k of G g.
                var r = (Float(0), Float(0), Float(0))
                for j in 0..<3 {
                    let (a, b, cc) = (w[j], w[3 + j], w[6 + j])
                    let v = k == 0 ? a : k == 1 ? (a + b + cc) * 0.5 : k == 2 ? (a - b + cc) * 0.5 : cc
                    if j == 0 { r.0 = v } else if j == 1 { r.1 = v } else { r.2 = v }
                }
                let u = (r.0, (r.0 + r.1 + r.2) * 0.5, (r.0 - r.1 + r.2) * 0.5, r.2)
                let base = dst + 4 * k * outPad * channels + at
                base[0] = u.0
                base[outPad * channels] = u.1
                base[2 * outPad * channels] = u.2
                base[3 * outPad * channels] = u.3
            }
        }
    }
}

/// y `[images, outChannels, outHeight, outWidth]` = bias (or 0) + conv(x `[images, inChannels,
/// height, width]`, W), then max(·, 0) when `relu` (a NaN stays NaN), by Winograd F(2×2, 3×3)
/// (`convRunsWinograd(g)`). `packed`: `winogradPackWeights`; `scratch`: `winogradScratchCount(g)`
/// floats. Allocates nothing.
@inline(never)
@_optimize(size)
public func convWinogradForward(_ g: ConvGeometry, images: Int, x: UnsafePointer<Float>, packed: UnsafePointer<Float>,
                                bias: UnsafePointer<Float>?, relu: Bool, y: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>) {
    let channels = g.inChannels, outChannels = g.outChannels, outPad = kernelRoundUp(outChannels, convTileRows)
    let total = images * ((g.outWidth + 1) / 2) * ((g.outHeight + 1) / 2)
    let block = Swift.min(winogradBlockTiles(g), total), ld = winogradRowStride(block), depth = convDepthStep(channels)
    let offsets = UnsafeMutableRawPointer(scratch), edge = scratch + 2 * channels
    let rows = edge + convTileRows * gemmTileCols, v = rows + winogradRowsCount(g), m = v + 16 * channels * ld
    for p in 0..<depth { offsets.storeBytes(of: 16 * p * ld, toByteOffset: 8 * p, as: Int.self) }
    convZeroRow(rows, channels * winogradPaddedPlaneCount(g) + 48)
    var first = 0
    while first < total {
        let count = Swift.min(block, total - first)
        winogradInputTransform(g, x: x, tiles: first..<(first + count), rows: rows, v: v, ld: ld)
        for t in 0..<16 {
            var pc = 0
            while pc < channels {
                let kc = Swift.min(depth, channels - pc)
                convPanels(kc: kc, a: packed + t * outPad * channels + pc * outPad, rows: outChannels,
                           b: UnsafePointer(v) + (16 * pc + t) * ld, columnStride: 1, offsets: offsets, columns: count,
                           bias: nil, start: pc == 0, relu: false, c: m + t * ld, ldc: 16 * ld, edge: edge)
                pc += kc
            }
        }
        winogradOutputTransform(g, m: m, ld: ld, tiles: first..<(first + count), bias: bias, relu: relu, y: y,
                                stage: rows + winogradRowsCount(g) - 64)
        first += count
    }
}

/// Calls `body(image, tiles, at)` for each image with some of `tiles` (numbered image by image,
/// row by row): its tiles among them, numbered within the image, and where the first is in the
/// block (relative to `tiles.lowerBound`).
@inline(__always)
func winogradForEachImage(_ g: ConvGeometry, _ tiles: Range<Int>, _ body: (_ image: Int, _ range: Range<Int>, _ at: Int) -> Void) {
    let perImage = ((g.outWidth + 1) / 2) * ((g.outHeight + 1) / 2)
    var image = tiles.lowerBound / perImage
    while image * perImage < tiles.upperBound {
        let lo = Swift.max(tiles.lowerBound - image * perImage, 0), hi = Swift.min(tiles.upperBound - image * perImage, perImage)
        body(image, lo..<hi, image * perImage + lo - tiles.lowerBound)
        image += 1
    }
}

/// V_t[c, n] for the tiles n of `tiles` (row (16c + t)·ld of `v`, n relative to the block).
/// Per image: its planes copied into the zero-padded planes at `rows` (their border stays
/// zero), then per channel each padded row the tiles read transformed along the row (Bᵀ on
/// each tile's 4 columns, 16 tile columns at a time) into eight planes (even or odd row, 4
/// values; tile columns contiguous, so that tile row ty's input rows 2ty … 2ty + 3 are rows ty
/// and ty + 1 of the even and odd planes, at the tile's own index), and Bᵀ down the columns
/// for 16 consecutive tiles at a time, `winogradLag` channels behind (no load waits on the
/// overlapping stores just made). Vectors run up to 15 floats past the last tile: what the
/// next row, tile or image writes later, or slack.
@inline(never)
@_optimize(speed)
func winogradInputTransform(_ g: ConvGeometry, x: UnsafePointer<Float>, tiles: Range<Int>, rows: UnsafeMutablePointer<Float>,
                            v: UnsafeMutablePointer<Float>, ld: Int) {
    typealias V = SIMD16<Float>
    let channels = g.inChannels, tilesW = (g.outWidth + 1) / 2, plane = g.height * g.width
    let half = winogradHalfPlaneCount(g), paddedPlane = winogradPaddedPlaneCount(g)
    let pw = 2 * tilesW + 2, sets = rows + channels * paddedPlane + 48
    winogradForEachImage(g, tiles) { image, range, at in
        let firstRow = range.lowerBound / tilesW, lastRow = (range.upperBound - 1) / tilesW
        for c in 0..<channels {
            let src = x + (image * channels + c) * plane, dst = rows + c * paddedPlane + g.padTop * pw + g.padLeft
            for iy in 0..<g.height { convCopyRow(dst + iy * pw, src + iy * g.width, g.width) }
        }
        for c in 0..<(channels + winogradLag) {
            if c < channels {
                let planes = sets + (c % (winogradLag + 1)) * 8 * half
                for r in (2 * firstRow)..<(2 * lastRow + 4) {
                    let from = UnsafePointer(rows) + c * paddedPlane + r * pw, out = planes + (r & 1) * 4 * half + (r >> 1) * tilesW
                    var j = 0
                    while j < tilesW {
                        let a = winogradDeinterleave(from + 2 * j), b = winogradDeinterleave(from + 2 * j + 2)
                        let h = winogradInput(a.0, a.1, b.0, b.1)
                        h.0.store(out + j); h.1.store(out + half + j); h.2.store(out + 2 * half + j); h.3.store(out + 3 * half + j)
                        j += 16
                    }
                }
            }
            guard c >= winogradLag else { continue }
            let planes = sets + ((c - winogradLag) % (winogradLag + 1)) * 8 * half
            var n = range.lowerBound
            while n < range.upperBound {
                let dst = v + 16 * (c - winogradLag) * ld + at + n - range.lowerBound
                for l in 0..<4 {
                    let even = planes + l * half + n, odd = even + 4 * half
                    let k = winogradInput(V.load(even), V.load(odd), V.load(even + tilesW), V.load(odd + tilesW))
                    k.0.store(dst + l * ld)
                    k.1.store(dst + (4 + l) * ld)
                    k.2.store(dst + (8 + l) * ld)
                    k.3.store(dst + (12 + l) * ld)
                }
                n += 16
            }
        }
    }
}

/// y from M_t[o, n] (row (16o + t)·ld of `m`, n relative to the block) for the tiles of `tiles`: per
/// output channel and 16 consecutive tiles, Aᵀ M A, bias and ReLU, each tile's two output rows
/// interleaved into `stage` (64 floats), then copied out a tile row's run of tiles at a time,
/// clipped to the plane.
@inline(never)
@_optimize(speed)
func winogradOutputTransform(_ g: ConvGeometry, m: UnsafePointer<Float>, ld: Int, tiles: Range<Int>,
                             bias: UnsafePointer<Float>?, relu: Bool, y: UnsafeMutablePointer<Float>, stage: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    let outChannels = g.outChannels, tilesW = (g.outWidth + 1) / 2, oh = g.outHeight, ow = g.outWidth
    winogradForEachImage(g, tiles) { image, range, at in
        for o in 0..<outChannels {
            let b = V(repeating: bias?[o] ?? 0), plane = y + (image * outChannels + o) * oh * ow
            var n = range.lowerBound
            while n < range.upperBound {
                let from = m + 16 * o * ld + at + n - range.lowerBound
                @inline(__always) func column(_ l: Int) -> (V, V) {
                    winogradOutput(V.load(from + l * ld), V.load(from + (4 + l) * ld), V.load(from + (8 + l) * ld), V.load(from + (12 + l) * ld))
                }
                let s0 = column(0), s1 = column(1), s2 = column(2), s3 = column(3)
                let top = winogradOutput(s0.0, s1.0, s2.0, s3.0), bottom = winogradOutput(s0.1, s1.1, s2.1, s3.1)
                winogradInterleave(top.0 + b, top.1 + b, relu, stage)
                winogradInterleave(bottom.0 + b, bottom.1 + b, relu, stage + 32)
                var k = n
                let end = Swift.min(n + 16, range.upperBound)
                while k < end {
                    let ty = k / tilesW, tx = k - ty * tilesW, run = Swift.min(tilesW - tx, end - k)
                    let dst = plane + 2 * ty * ow + 2 * tx, cols = Swift.min(2 * run, ow - 2 * tx)
                    convCopyRow(dst, stage + 2 * (k - n), cols)
                    if 2 * ty + 1 < oh { convCopyRow(dst + ow, stage + 32 + 2 * (k - n), cols) }
                    k += run
                }
                n += 16
            }
        }
    }
}

/// stage[2i] = a[i], stage[2i + 1] = b[i], each max(·, 0) when `relu` (a NaN stays NaN).
@inline(__always)
func winogradInterleave(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ relu: Bool, _ stage: UnsafeMutablePointer<Float>) {
    var a = a, b = b
    if relu {
        a = a.replacing(with: 0, where: a .< 0)
        b = b.replacing(with: 0, where: b .< 0)
    }
    // A loop the compiler turns into two permutes per 16 floats (a 32-lane initialiser goes through memory).
    for i in 0..<16 {
        stage[2 * i] = a[i]
        stage[2 * i + 1] = b[i]
    }
}

/// (p[0], p[2], …, p[30]) and (p[1], p[3], …, p[31]).
@inline(__always)
func winogradDeinterleave(_ p: UnsafePointer<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
    let a = SIMD16<Float>.load(p), b = SIMD16<Float>.load(p + 16)
    return (SIMD16(lowHalf: a.evenHalf, highHalf: b.evenHalf), SIMD16(lowHalf: a.oddHalf, highHalf: b.oddHalf))
}

/// Naive reference of `convWinogradForward`: per image, output channel and 2×2 tile, the
/// textbook Aᵀ [Σ_c (G g Gᵀ) ⊙ (Bᵀ d B)] A with plain loops over the matrices (row-major in
/// SIMD16 values), then bias, ReLU and the tile clipped to the plane. Same conditions on `g`
/// (`convRunsWinograd`); g.batch images.
public func conv2dWinogradReference(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                    bias: UnsafePointer<Float>?, relu: Bool, y: UnsafeMutablePointer<Float>) {
    typealias M = SIMD16<Float>
    let bt = M(1, 0, -1, 0, 0, 1, 1, 0, 0, -1, 1, 0, 0, 1, 0, -1)                 // Bᵀ 4×4
    let gm = M(1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1, 0, 0, 0, 0)        // G 4×3
    let at = SIMD8<Float>(1, 1, 1, 0, 0, 1, -1, -1)                                // Aᵀ 2×4
    let oh = g.outHeight, ow = g.outWidth, c = g.inChannels
    for n in 0..<g.batch {
        for o in 0..<g.outChannels {
            for ty in 0..<((oh + 1) / 2) {
                for tx in 0..<((ow + 1) / 2) {
                    var sum = M()
                    for ch in 0..<c {
                        var d = M(), w = M(), gw = M(), u = M(), btd = M(), v = M()
                        for i in 0..<4 {
                            for j in 0..<4 {
                                let iy = 2 * ty - g.padTop + i, ix = 2 * tx - g.padLeft + j
                                if iy >= 0 && iy < g.height && ix >= 0 && ix < g.width { d[i * 4 + j] = x[((n * c + ch) * g.height + iy) * g.width + ix] }
                            }
                        }
                        for k in 0..<9 { w[k] = weight[(o * c + ch) * 9 + k] }
                        // U = G g Gᵀ.
                        for i in 0..<4 { for j in 0..<3 { for k in 0..<3 { gw[i * 3 + j] += gm[i * 3 + k] * w[k * 3 + j] } } }
                        for i in 0..<4 { for j in 0..<4 { for k in 0..<3 { u[i * 4 + j] += gw[i * 3 + k] * gm[j * 3 + k] } } }
                        // V = Bᵀ d B.
                        for i in 0..<4 { for j in 0..<4 { for k in 0..<4 { btd[i * 4 + j] += bt[i * 4 + k] * d[k * 4 + j] } } }
                        for i in 0..<4 { for j in 0..<4 { for k in 0..<4 { v[i * 4 + j] += btd[i * 4 + k] * bt[j * 4 + k] } } }
                        sum += u * v
                    }
                    // Y = Aᵀ sum A.
                    var ats = SIMD8<Float>(), out = SIMD4<Float>()
                    for i in 0..<2 { for j in 0..<4 { for k in 0..<4 { ats[i * 4 + j] += at[i * 4 + k] * sum[k * 4 + j] } } }
                    for i in 0..<2 { for j in 0..<2 { for k in 0..<4 { out[i * 2 + j] += ats[i * 4 + k] * at[j * 4 + k] } } }
                    for i in 0..<2 {
                        for j in 0..<2 {
                            let oy = 2 * ty + i, ox = 2 * tx + j
                            guard oy < oh && ox < ow else { continue }
                            var value = out[i * 2 + j] + (bias?[o] ?? 0)
                            if relu && value < 0 { value = 0 }
                            y[((n * g.outChannels + o) * oh + oy) * ow + ox] = value
                        }
                    }
                }
            }
        }
    }
}
