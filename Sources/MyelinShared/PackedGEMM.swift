// Inference f32 fully connected layer on weights packed once: y = bias + x · Wᵀ.
//
// Shared at source level by the training module and the Embedded-Swift runtime. It reuses
// GEMM.swift's packing routines, register tile and block depth, and adds each block's
// partial sums to y in the same order as `gemm`, so its results are bit-identical to the
// training `linear()` — for every batch size, including the batch-1 path (GEMV), which
// keeps the register tile's per-element order — when the layer has more than
// `narrowLinearMaxOutputs` (4) outputs; with fewer, `linear()` runs 16-lane dot products
// and the two agree within rounding. The reference it is tested against is `gemmReference`
// (within rounding) and `linear()` (exactly, above 4 outputs).

/// Floats of packed weights for W `[n × k]`.
public func linearPackedCount(outputs n: Int, inputs k: Int) -> Int { kernelRoundUp(n, gemmTileCols) * k }

/// Floats of scratch `linearPacked` needs (a packed block of x and one edge tile).
public let linearPackedWorkspaceCount = gemmBlockRows * gemmBlockDepth + gemmTileRows * gemmTileCols

/// Packs W f32 `[n × k]` (row j = output j, PyTorch layout). Layout: blocks of
/// `gemmBlockDepth` inputs in order, block at `pc` starting at float `pc·n32` (n32 = n
/// rounded up to 32); inside a block of depth kc, panel q holds W[32q + j, pc + p] at
/// `q·32·kc + p·32 + j` (zero for 32q + j ≥ n) — what `packBlockB` makes of Wᵀ, written
/// here in output order, which runs faster at load time (the 32 source rows stay in L1).
@inline(never)
public func linearPackWeights(outputs n: Int, inputs k: Int, weights w: UnsafePointer<Float>,
                              into dst: UnsafeMutablePointer<Float>) {
    let n32 = kernelRoundUp(n, gemmTileCols)
    var pc = 0
    while pc < k {
        let kc = Swift.min(gemmBlockDepth, k - pc)
        var q0 = 0
        while q0 < n32 {
            let panel = dst + pc * n32 + q0 * kc
            let rows = w + q0 * k + pc
            let valid = Swift.min(gemmTileCols, n - q0)
            for p in 0..<kc {
                let out = panel + p * gemmTileCols
                if valid == gemmTileCols {
                    for j in 0..<gemmTileCols { out[j] = rows[j * k + p] }
                } else {
                    for j in 0..<gemmTileCols { out[j] = j < valid ? rows[j * k + p] : 0 }
                }
            }
            q0 += gemmTileCols
        }
        pc += kc
    }
}

/// y `[m × n]` (row stride `ldy`) = bias (or 0) + x `[m × k]` (row stride `ldx`) · Wᵀ, then
/// `max(·, 0)` when `relu`. `packed` comes from `linearPackWeights`; `workspace` holds
/// `linearPackedWorkspaceCount` floats. Allocates nothing.
@inline(never)
@_optimize(speed)
public func linearPacked(m: Int, n: Int, k: Int, x: UnsafePointer<Float>, ldx: Int,
                         packed: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                         y: UnsafeMutablePointer<Float>, ldy: Int, relu: Bool,
                         workspace: UnsafeMutablePointer<Float>) {
    for i in 0..<m {
        let row = y + i * ldy
        if let b = bias { for j in 0..<n { row[j] = b[j] } } else { for j in 0..<n { row[j] = 0 } }
    }
    let n32 = kernelRoundUp(n, gemmTileCols)
    var pc = 0
    while pc < k {
        let kc = Swift.min(gemmBlockDepth, k - pc)
        let block = packed + pc * n32
        if m == 1 {
            linearBlockGEMV(n: n, kc: kc, x: x + pc, block: block, y: y)
        } else {
            linearBlockGEMM(m: m, n: n, kc: kc, x: x + pc, ldx: ldx, block: block, y: y, ldy: ldy, workspace: workspace)
        }
        pc += kc
    }
    if relu {
        for i in 0..<m {
            let row = y + i * ldy
            for j in 0..<n { row[j] = Swift.max(row[j], 0) }
        }
    }
}

/// y += x-block · W-block for m > 1: GEMM.swift's register tile over packed A panels.
@inline(never)
@_optimize(size)
func linearBlockGEMM(m: Int, n: Int, kc: Int, x: UnsafePointer<Float>, ldx: Int, block: UnsafePointer<Float>,
                     y: UnsafeMutablePointer<Float>, ldy: Int, workspace: UnsafeMutablePointer<Float>) {
    let packedA = workspace
    let edgeTile = workspace + gemmBlockRows * gemmBlockDepth
    var ic = 0
    while ic < m {
        let mc = Swift.min(gemmBlockRows, m - ic)
        packBlockA(mc: mc, kc: kc, a: x + ic * ldx, rowStride: ldx, colStride: 1, into: packedA)
        var ir = 0
        while ir < mc {
            let rows = Swift.min(gemmTileRows, mc - ir)
            let aPanel = packedA + ir * kc
            var jr = 0
            while jr < n {
                let cols = Swift.min(gemmTileCols, n - jr)
                let bPanel = block + jr * kc
                let cTile = y + (ic + ir) * ldy + jr
                let full = rows == gemmTileRows && cols == gemmTileCols
                gemmMicroKernel(kc: kc, a: aPanel, b: bPanel, c: full ? cTile : edgeTile, ldc: full ? ldy : gemmTileCols, add: full)
                if !full {
                    for r in 0..<rows {
                        for col in 0..<cols { cTile[r * ldy + col] = cTile[r * ldy + col] + edgeTile[r * gemmTileCols + col] }
                    }
                }
                jr += gemmTileCols
            }
            ir += gemmTileRows
        }
        ic += gemmBlockRows
    }
}

/// y += x-block · W-block for one row (batch 1): four 32-column panels at a time keep eight
/// independent accumulators in flight; each element still sums its products in input
/// order from zero with fused multiply-adds and is then added to y, exactly as the
/// register tile does.
@inline(__always)
@_optimize(speed)
func linearBlockGEMV(n: Int, kc: Int, x: UnsafePointer<Float>, block: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    let panelFloats = gemmTileCols * kc
    var jr = 0
#if !MYELIN_AVX2
    while jr + 4 * gemmTileCols <= n {
        var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V(), c6 = V(), c7 = V()
        let p0 = UnsafeRawPointer(block + jr * kc)
        let p1 = p0 + 4 * panelFloats, p2 = p1 + 4 * panelFloats, p3 = p2 + 4 * panelFloats
        var off = 0
        for p in 0..<kc {
            let s = V(repeating: x[p])
            c0.addProduct(s, p0.loadUnaligned(fromByteOffset: off, as: V.self)); c1.addProduct(s, p0.loadUnaligned(fromByteOffset: off + 64, as: V.self))
            c2.addProduct(s, p1.loadUnaligned(fromByteOffset: off, as: V.self)); c3.addProduct(s, p1.loadUnaligned(fromByteOffset: off + 64, as: V.self))
            c4.addProduct(s, p2.loadUnaligned(fromByteOffset: off, as: V.self)); c5.addProduct(s, p2.loadUnaligned(fromByteOffset: off + 64, as: V.self))
            c6.addProduct(s, p3.loadUnaligned(fromByteOffset: off, as: V.self)); c7.addProduct(s, p3.loadUnaligned(fromByteOffset: off + 64, as: V.self))
            off += 128
        }
        let out = UnsafeMutableRawPointer(y + jr)
        @inline(__always) func add(_ at: Int, _ v: V) {
            out.storeBytes(of: out.loadUnaligned(fromByteOffset: at, as: V.self) + v, toByteOffset: at, as: V.self)
        }
        add(0, c0); add(64, c1); add(128, c2); add(192, c3); add(256, c4); add(320, c5); add(384, c6); add(448, c7)
        jr += 4 * gemmTileCols
    }
#endif
#if MYELIN_AVX2
    // Two panels at a time: 8 ymm accumulators (the four panels' 16 spill on AVX2's 16 registers).
    while jr + 2 * gemmTileCols <= n {
        var c0 = V(), c1 = V(), c2 = V(), c3 = V()
        let p0 = UnsafeRawPointer(block + jr * kc), p1 = p0 + 4 * panelFloats
        var off = 0
        for p in 0..<kc {
            let s = V(repeating: x[p])
            c0.addProduct(s, p0.loadUnaligned(fromByteOffset: off, as: V.self)); c1.addProduct(s, p0.loadUnaligned(fromByteOffset: off + 64, as: V.self))
            c2.addProduct(s, p1.loadUnaligned(fromByteOffset: off, as: V.self)); c3.addProduct(s, p1.loadUnaligned(fromByteOffset: off + 64, as: V.self))
            off += 128
        }
        let out = UnsafeMutableRawPointer(y + jr)
        @inline(__always) func add(_ at: Int, _ v: V) {
            out.storeBytes(of: out.loadUnaligned(fromByteOffset: at, as: V.self) + v, toByteOffset: at, as: V.self)
        }
        add(0, c0); add(64, c1); add(128, c2); add(192, c3)
        jr += 2 * gemmTileCols
    }
#endif
    while jr < n {
        var c0 = V(), c1 = V()
        let panel = UnsafeRawPointer(block + jr * kc)
        var off = 0
        for p in 0..<kc {
            let s = V(repeating: x[p])
            c0.addProduct(s, panel.loadUnaligned(fromByteOffset: off, as: V.self)); c1.addProduct(s, panel.loadUnaligned(fromByteOffset: off + 64, as: V.self))
            off += 128
        }
        let cols = Swift.min(gemmTileCols, n - jr)
        for j in 0..<cols { y[jr + j] = y[jr + j] + (j < 16 ? c0[j] : c1[j - 16]) }
        jr += gemmTileCols
    }
}
