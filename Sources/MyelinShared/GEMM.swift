// Single-precision matrix multiply: C = op(A) · op(B), optionally accumulated into C.
//
// This file uses the Swift standard library only, so the Embedded-Swift runtime compiles
// the very same source (it is shared at source level, see DESIGN.md). It holds the fast
// kernel (packed, cache-blocked, a 6×32 register tile of SIMD16<Float> accumulators) and
// the naive reference kernel it is tested against.
//
// Matrices are described by a base pointer and two strides, so transposes cost nothing:
//   A(i, p) = a[i * aRowStride + p * aColStride]   for i < m, p < k
//   B(p, j) = b[p * bRowStride + j * bColStride]   for p < k, j < n
//   C(i, j) = c[i * ldc + j]                        (row-major, ldc >= n)

/// Rows of the register tile.
public let gemmTileRows = 6
/// Columns of the register tile (two SIMD16 vectors).
public let gemmTileCols = 32
/// Depth of one packed block (kept in L1/L2 with the tiles).
let gemmBlockDepth = 256
/// Rows of A packed per block (a multiple of `gemmTileRows`).
let gemmBlockRows = 96
/// Columns of B packed per block (a multiple of `gemmTileCols`).
let gemmBlockCols = 512

/// Floats of scratch memory `gemm` needs for any problem size (packed A and B blocks
/// plus one edge tile). Callers that must not allocate (the runtime) reserve it once.
public let gemmWorkspaceCount = gemmBlockRows * gemmBlockDepth + gemmBlockDepth * gemmBlockCols + gemmTileRows * gemmTileCols

/// Naive reference: C (+)= op(A)·op(B), three loops, accumulating in Float.
/// Shapes: A is m×k, B is k×n, C is m×n (row-major, leading dimension ldc).
public func gemmReference(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, aRowStride: Int, aColStride: Int,
    b: UnsafePointer<Float>, bRowStride: Int, bColStride: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
) {
    for i in 0..<m {
        for j in 0..<n {
            var s: Float = accumulate ? c[i * ldc + j] : 0
            for p in 0..<k { s += a[i * aRowStride + p * aColStride] * b[p * bRowStride + j * bColStride] }
            c[i * ldc + j] = s
        }
    }
}

/// Fast kernel: C (+)= op(A)·op(B). Shapes: A is m×k, B is k×n, C is m×n row-major with
/// leading dimension `ldc`. `workspace` must hold `gemmWorkspaceCount` floats and be
/// 64-byte aligned for best speed; the kernel allocates nothing.
#if MYELIN_RUNTIME
// The runtime calls it only for conv_transpose2d: optimised for size there (5 KB less), for
// speed in training, where every convolution's backward pass runs on it.
@inline(never) @_optimize(size)
public func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRowStride: Int, aColStride: Int,
                 b: UnsafePointer<Float>, bRowStride: Int, bColStride: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                 accumulate: Bool, workspace: UnsafeMutablePointer<Float>) {
    gemmBlocks(m: m, n: n, k: k, a: a, aRowStride: aRowStride, aColStride: aColStride, b: b, bRowStride: bRowStride,
               bColStride: bColStride, c: c, ldc: ldc, accumulate: accumulate, workspace: workspace)
}
#else
@inline(never) @_optimize(speed)
public func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRowStride: Int, aColStride: Int,
                 b: UnsafePointer<Float>, bRowStride: Int, bColStride: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                 accumulate: Bool, workspace: UnsafeMutablePointer<Float>) {
    gemmBlocks(m: m, n: n, k: k, a: a, aRowStride: aRowStride, aColStride: aColStride, b: b, bRowStride: bRowStride,
               bColStride: bColStride, c: c, ldc: ldc, accumulate: accumulate, workspace: workspace)
}
#endif

/// `gemm`'s body: blocks of B and A packed, the register tile over them.
@inline(__always)
func gemmBlocks(
    m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, aRowStride: Int, aColStride: Int,
    b: UnsafePointer<Float>, bRowStride: Int, bColStride: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
    workspace: UnsafeMutablePointer<Float>
) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        if !accumulate { for i in 0..<m { for j in 0..<n { c[i * ldc + j] = 0 } } }
        return
    }
    let packedA = workspace
    let packedB = workspace + gemmBlockRows * gemmBlockDepth
    let edgeTile = packedB + gemmBlockDepth * gemmBlockCols

    var jc = 0
    while jc < n {
        let nc = min(gemmBlockCols, n - jc)
        var pc = 0
        while pc < k {
            let kc = min(gemmBlockDepth, k - pc)
            let addToC = accumulate || pc > 0
            packBlockB(kc: kc, nc: nc, b: b + pc * bRowStride + jc * bColStride,
                       rowStride: bRowStride, colStride: bColStride, into: packedB)
            var ic = 0
            while ic < m {
                let mc = min(gemmBlockRows, m - ic)
                packBlockA(mc: mc, kc: kc, a: a + ic * aRowStride + pc * aColStride,
                           rowStride: aRowStride, colStride: aColStride, into: packedA)
                var jr = 0
                while jr < nc {
                    let cols = min(gemmTileCols, nc - jr)
                    let bPanel = packedB + jr * kc
                    var ir = 0
                    while ir < mc {
                        let rows = min(gemmTileRows, mc - ir)
                        let aPanel = packedA + ir * kc
                        let cTile = c + (ic + ir) * ldc + jc + jr
                        // An edge tile is computed whole into scratch, its valid part then copied
                        // (one inlined register tile for both keeps the code small).
                        let full = rows == gemmTileRows && cols == gemmTileCols
                        gemmMicroKernel(kc: kc, a: aPanel, b: bPanel, c: full ? cTile : edgeTile, ldc: full ? ldc : gemmTileCols,
                                        add: full && addToC)
                        if !full {
                            for r in 0..<rows {
                                for col in 0..<cols {
                                    let v = edgeTile[r * gemmTileCols + col]
                                    cTile[r * ldc + col] = addToC ? cTile[r * ldc + col] + v : v
                                }
                            }
                        }
                        ir += gemmTileRows
                    }
                    jr += gemmTileCols
                }
                ic += gemmBlockRows
            }
            pc += kc
        }
        jc += nc
    }
}

/// Packs an mc×kc block of A into row panels of `gemmTileRows`: panel r holds
/// A(r*6 + i, p) at [r*6*kc + p*6 + i]; rows past mc are zero.
@inline(__always)
@_optimize(speed)
func packBlockA(mc: Int, kc: Int, a: UnsafePointer<Float>, rowStride: Int, colStride: Int,
                into dst: UnsafeMutablePointer<Float>) {
    var panel = 0
    while panel < mc {
        let rows = min(gemmTileRows, mc - panel)
        let out = dst + panel * kc
        if rows == gemmTileRows && colStride == 1 {
            let r0 = a + panel * rowStride
            for p in 0..<kc {
                for i in 0..<gemmTileRows { out[p * gemmTileRows + i] = r0[i * rowStride + p] }
            }
        } else {
            for p in 0..<kc {
                for i in 0..<gemmTileRows {
                    out[p * gemmTileRows + i] = i < rows ? a[(panel + i) * rowStride + p * colStride] : 0
                }
            }
        }
        panel += gemmTileRows
    }
}

/// Packs a kc×nc block of B into column panels of `gemmTileCols`: panel q holds
/// B(p, q*32 + j) at [q*32*kc + p*32 + j]; columns past nc are zero. (Compiled as `gemm` is:
/// for speed in training, for size in the runtime.)
@inline(__always)
func packBlockB(kc: Int, nc: Int, b: UnsafePointer<Float>, rowStride: Int, colStride: Int,
                into dst: UnsafeMutablePointer<Float>) {
    var panel = 0
    while panel < nc {
        let cols = min(gemmTileCols, nc - panel)
        let out = dst + panel * kc
        if cols == gemmTileCols && colStride == 1 {
            for p in 0..<kc {
                let src = UnsafeRawPointer(b + p * rowStride + panel)
                let o = UnsafeMutableRawPointer(out + p * gemmTileCols)
                o.storeBytes(of: src.loadUnaligned(as: SIMD16<Float>.self), as: SIMD16<Float>.self)
                (o + 64).storeBytes(of: src.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self), as: SIMD16<Float>.self)
            }
        } else if cols == gemmTileCols {
            // Transposed B (colStride > 1), e.g. a Linear weight [out, in] read as Wᵀ.
            var p = 0
            if rowStride == 1 {
                // 16×16 blocks: 16 contiguous loads, a transpose in registers, 16 stores.
                // One 16×16 block per step (the two halves of the panel in turn: one inlined copy).
                var half = 0
                while p + 16 <= kc {
                    transposeBlock16(b + (panel + half) * colStride + p, sourceStride: colStride, into: out + p * gemmTileCols + half)
                    half ^= 16
                    if half == 0 { p += 16 }
                }
            }
            for j in 0..<gemmTileCols {
                let src = b + (panel + j) * colStride
                for q in p..<kc { out[q * gemmTileCols + j] = src[q * rowStride] }
            }
        } else {
            for p in 0..<kc {
                for j in 0..<gemmTileCols {
                    out[p * gemmTileCols + j] = j < cols ? b[p * rowStride + (panel + j) * colStride] : 0
                }
            }
        }
        panel += gemmTileCols
    }
}

/// Transposes a 16×16 block: row r of the source (16 floats at `source + r·sourceStride`)
/// becomes column r of the destination (rows of 16 floats, `gemmTileCols` apart).
///
/// Four rounds of a perfect unshuffle of the 256 elements rotate each element's 8-bit
/// index (row, column) by four bits, i.e. swap row and column; each round is 16 two-source
/// shuffles, which keeps the packing of transposed weights free of scattered stores.
@inline(__always)
@_optimize(speed)
func transposeBlock16(_ source: UnsafePointer<Float>, sourceStride: Int, into destination: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    func row(_ r: Int) -> V { UnsafeRawPointer(source + r * sourceStride).loadUnaligned(as: V.self) }
    var v = (row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7),
             row(8), row(9), row(10), row(11), row(12), row(13), row(14), row(15))
    for _ in 0..<4 {
        let a = v
        v = (V(lowHalf: a.0.evenHalf, highHalf: a.1.evenHalf), V(lowHalf: a.2.evenHalf, highHalf: a.3.evenHalf),
             V(lowHalf: a.4.evenHalf, highHalf: a.5.evenHalf), V(lowHalf: a.6.evenHalf, highHalf: a.7.evenHalf),
             V(lowHalf: a.8.evenHalf, highHalf: a.9.evenHalf), V(lowHalf: a.10.evenHalf, highHalf: a.11.evenHalf),
             V(lowHalf: a.12.evenHalf, highHalf: a.13.evenHalf), V(lowHalf: a.14.evenHalf, highHalf: a.15.evenHalf),
             V(lowHalf: a.0.oddHalf, highHalf: a.1.oddHalf), V(lowHalf: a.2.oddHalf, highHalf: a.3.oddHalf),
             V(lowHalf: a.4.oddHalf, highHalf: a.5.oddHalf), V(lowHalf: a.6.oddHalf, highHalf: a.7.oddHalf),
             V(lowHalf: a.8.oddHalf, highHalf: a.9.oddHalf), V(lowHalf: a.10.oddHalf, highHalf: a.11.oddHalf),
             V(lowHalf: a.12.oddHalf, highHalf: a.13.oddHalf), V(lowHalf: a.14.oddHalf, highHalf: a.15.oddHalf))
    }
    withUnsafeBytes(of: v) { raw in
        for r in 0..<16 {
            UnsafeMutableRawPointer(destination + r * gemmTileCols)
                .storeBytes(of: raw.load(fromByteOffset: r * 64, as: V.self), as: V.self)
        }
    }
}

/// The register tile: C[6×32] (+)= Apanel[kc×6]ᵀ · Bpanel[kc×32].
/// `addProduct` is one fused multiply-add instruction when the CPU target has FMA (haswell
/// and later); on a baseline x86-64 target it becomes a library call per lane.
@inline(__always)
@_optimize(speed)
func gemmMicroKernel(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                     c: UnsafeMutablePointer<Float>, ldc: Int, add: Bool) {
#if MYELIN_AVX2
    gemmHalfTileAVX2(kc: kc, a: a, b: b, c: c, ldc: ldc, add: add)
    gemmHalfTileAVX2(kc: kc, a: a, b: b + 16, c: c + 16, ldc: ldc, add: add)
#else
    typealias V = SIMD16<Float>
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
    var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
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
        ap += gemmTileRows
        bp += 128
    }
    @inline(__always)
    func store(_ row: Int, _ v0: V, _ v1: V) {
        let p = UnsafeMutableRawPointer(c + row * ldc)
        if add {
            p.storeBytes(of: p.loadUnaligned(as: V.self) + v0, as: V.self)
            p.storeBytes(of: p.loadUnaligned(fromByteOffset: 64, as: V.self) + v1, toByteOffset: 64, as: V.self)
        } else {
            p.storeBytes(of: v0, as: V.self)
            p.storeBytes(of: v1, toByteOffset: 64, as: V.self)
        }
    }
    store(0, c00, c01); store(1, c10, c11); store(2, c20, c21)
    store(3, c30, c31); store(4, c40, c41); store(5, c50, c51)
#endif
}

#if MYELIN_AVX2
/// `gemmMicroKernel` on AVX2, one 16-column half of the tile at a time (its 24 ymm accumulators
/// would spill on 16 registers): C[6×16] (+)= Apanel[kc×6]ᵀ · B[kc×16] in 12 accumulators, B's
/// rows 32 floats apart; each element the same fused multiply-adds in the same order.
@inline(never)
@_optimize(speed)
func gemmHalfTileAVX2(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, add: Bool) {
    typealias H = SIMD8<Float>
    var c00 = H(), c01 = H(), c10 = H(), c11 = H(), c20 = H(), c21 = H()
    var c30 = H(), c31 = H(), c40 = H(), c41 = H(), c50 = H(), c51 = H()
    var ap = a, bp = UnsafeRawPointer(b)
    for _ in 0..<kc {
        let b0 = bp.loadUnaligned(as: H.self), b1 = bp.loadUnaligned(fromByteOffset: 32, as: H.self)
        var s = H(repeating: ap[0]); c00.addProduct(s, b0); c01.addProduct(s, b1)
        s = H(repeating: ap[1]); c10.addProduct(s, b0); c11.addProduct(s, b1)
        s = H(repeating: ap[2]); c20.addProduct(s, b0); c21.addProduct(s, b1)
        s = H(repeating: ap[3]); c30.addProduct(s, b0); c31.addProduct(s, b1)
        s = H(repeating: ap[4]); c40.addProduct(s, b0); c41.addProduct(s, b1)
        s = H(repeating: ap[5]); c50.addProduct(s, b0); c51.addProduct(s, b1)
        ap += gemmTileRows
        bp += 4 * gemmTileCols
    }
    @inline(__always)
    func store(_ row: Int, _ v0: H, _ v1: H) {
        let p = UnsafeMutableRawPointer(c + row * ldc)
        if add {
            p.storeBytes(of: p.loadUnaligned(as: H.self) + v0, as: H.self)
            p.storeBytes(of: p.loadUnaligned(fromByteOffset: 32, as: H.self) + v1, toByteOffset: 32, as: H.self)
        } else {
            p.storeBytes(of: v0, as: H.self)
            p.storeBytes(of: v1, toByteOffset: 32, as: H.self)
        }
    }
    store(0, c00, c01); store(1, c10, c11); store(2, c20, c21)
    store(3, c30, c31); store(4, c40, c41); store(5, c50, c51)
}
#endif
