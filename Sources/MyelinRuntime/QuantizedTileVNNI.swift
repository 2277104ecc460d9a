// The int8 register tile on CPUs with AVX-512 VNNI (runtime only; CMake defines MYELIN_VNNI
// when the target CPU has the instructions), its rounding and byte shuffles. Same contracts as
// the portable `qgemmTile`, `roundToBytes16` and transposes in Sources/MyelinShared, which every
// other build compiles instead (the AVX2 build has its own tile and rounding,
// QuantizedTileAVX2.swift). The lane-wise conversions both use are in VectorBuiltins.swift.

#if MYELIN_VNNI
import Builtin

typealias QVector = SIMD16<Int32>

/// acc + Σ_{t<4} u8(a[4l+t]) · i8(b[4l+t]) per i32 lane l (`vpdpbusd`).
@inline(__always)
func dpbusd(_ acc: QVector, _ a: QVector, _ b: QVector) -> QVector {
    unsafeBitCast(Builtin.int_x86_avx512_vpdpbusd_512(unsafeBitCast(acc, to: Builtin.Vec16xInt32.self),
                                                      unsafeBitCast(a, to: Builtin.Vec16xInt32.self),
                                                      unsafeBitCast(b, to: Builtin.Vec16xInt32.self)), to: QVector.self)
}

/// `roundToBytes16` (QuantizedGEMM.swift), the same bytes in four instructions after a `vminps`:
/// y clamped above at 2^30 (`vminps` with y second keeps NaN), `vcvtps2dq` rounding to nearest
/// even (NaN, −∞ and values below −2^31 give −2^31), + zeroPoint, `vpmaxsd` with low, and
/// `vpmovusdb`'s unsigned saturation at 255. `capped: false` (|y| < 2^30 known, no NaN) leaves
/// out the `vminps`.
@_transparent
func roundToBytes16(_ y: SIMD16<Float>, zeroPoint: Float, low: Float, capped: Bool = true) -> SIMD16<UInt8> {
    let limited = capped
        ? Builtin.int_x86_avx512_min_ps_512(unsafeBitCast(SIMD16<Float>(repeating: 1_073_741_824), to: Builtin.Vec16xFPIEEE32.self),
                                            unsafeBitCast(y, to: Builtin.Vec16xFPIEEE32.self), Int32(4)._value)
        : unsafeBitCast(y, to: Builtin.Vec16xFPIEEE32.self)
    let rounded = Builtin.int_x86_avx512_mask_cvtps2dq_512(limited, unsafeBitCast(SIMD16<Int32>(), to: Builtin.Vec16xInt32.self),
                                                          Int16(-1)._value, Int32(8)._value)
    let shifted = unsafeBitCast(rounded, to: SIMD16<Int32>.self) &+ SIMD16<Int32>(repeating: Int32(zeroPoint))
    let clamped = Builtin.int_smax_Vec16xInt32(unsafeBitCast(shifted, to: Builtin.Vec16xInt32.self),
                                               unsafeBitCast(SIMD16<Int32>(repeating: Int32(low)), to: Builtin.Vec16xInt32.self))
    return unsafeBitCast(Builtin.int_x86_avx512_mask_pmovus_db_512(clamped, unsafeBitCast(SIMD16<UInt8>(), to: Builtin.Vec16xInt8.self),
                                                                   Int16(-1)._value), to: SIMD16<UInt8>.self)
}

/// `interleaveAdjacentBytes4` (QuantizedConvolution.swift; adjacent taps of the depthwise
/// path): lane l gets bytes p[l], p[16 + l], p[32 + l], p[48 + l] — one 64-byte load and one
/// `vpermb`.
@inline(__always)
func interleaveAdjacentBytes4(_ p: UnsafePointer<UInt8>) -> SIMD16<Int32> {
    // Byte 4l + t from byte 16t + l.
    let index = SIMD16<UInt32>(0x3020_1000, 0x3121_1101, 0x3222_1202, 0x3323_1303, 0x3424_1404, 0x3525_1505, 0x3626_1606,
                               0x3727_1707, 0x3828_1808, 0x3929_1909, 0x3A2A_1A0A, 0x3B2B_1B0B, 0x3C2C_1C0C, 0x3D2D_1D0D,
                               0x3E2E_1E0E, 0x3F2F_1F0F)
    let bytes = UnsafeRawPointer(p).loadUnaligned(as: SIMD64<UInt8>.self)
    return unsafeBitCast(Builtin.int_x86_avx512_permvar_qi_512(unsafeBitCast(bytes, to: Builtin.Vec64xInt8.self),
                                                               unsafeBitCast(index, to: Builtin.Vec64xInt8.self)),
                         to: SIMD16<Int32>.self)
}

/// `transposeByteBlock8` (BlockTranspose.swift) in one 512-bit register: the 8 rows as its 8
/// qwords; `vpshufb` pairs rows 2k and 2k + 1 column by column inside each 128-bit lane (word j
/// of lane k = bytes (2k, j), (2k + 1, j)), then `vpermw` gathers word j of the four lanes into
/// qword j: column j.
@inline(__always)
func transposeByteBlock8(_ src: UnsafePointer<UInt8>, _ ss: Int, _ dst: UnsafeMutablePointer<UInt8>, _ ds: Int) {
    let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
    let rows = SIMD8<UInt64>(s.loadUnaligned(as: UInt64.self), s.loadUnaligned(fromByteOffset: ss, as: UInt64.self),
                             s.loadUnaligned(fromByteOffset: 2 * ss, as: UInt64.self), s.loadUnaligned(fromByteOffset: 3 * ss, as: UInt64.self),
                             s.loadUnaligned(fromByteOffset: 4 * ss, as: UInt64.self), s.loadUnaligned(fromByteOffset: 5 * ss, as: UInt64.self),
                             s.loadUnaligned(fromByteOffset: 6 * ss, as: UInt64.self), s.loadUnaligned(fromByteOffset: 7 * ss, as: UInt64.self))
    // Byte 2j of a lane from byte j (row 2k), byte 2j + 1 from byte 8 + j (row 2k + 1).
    let low: UInt64 = 0x0B03_0A02_0901_0800, high: UInt64 = 0x0F07_0E06_0D05_0C04
    let pairIndex = SIMD8<UInt64>(low, high, low, high, low, high, low, high)
    // Word 4j + k from word 8k + j.
    let words = SIMD8<UInt64>(0, 1, 2, 3, 4, 5, 6, 7) &* 0x0001_0001_0001_0001 &+ 0x0018_0010_0008_0000
    let pairs = Builtin.int_x86_avx512_pshuf_b_512(unsafeBitCast(rows, to: Builtin.Vec64xInt8.self),
                                                   unsafeBitCast(pairIndex, to: Builtin.Vec64xInt8.self))
    let columns = unsafeBitCast(Builtin.int_x86_avx512_permvar_hi_512(unsafeBitCast(pairs, to: Builtin.Vec32xInt16.self),
                                                                      unsafeBitCast(words, to: Builtin.Vec32xInt16.self)),
                                to: SIMD8<UInt64>.self)
    for r in 0..<8 { d.storeBytes(of: columns[r], toByteOffset: r * ds, as: UInt64.self) }
}

/// 16×16 bytes (`transposeByteBlock16`, BlockTranspose.swift) in four 512-bit registers (4 rows
/// each, a row per 128-bit lane) and two rounds of `vpermt2b`: rows 0–7 and 8–15 to 8×8 column
/// blocks (column j's 8 bytes at 8j), then each register to 4 whole columns (16 bytes each).
@inline(__always)
func transposeByteBlock16(_ src: UnsafePointer<UInt8>, _ ss: Int, _ dst: UnsafeMutablePointer<UInt8>, _ ds: Int) {
    typealias B = Builtin.Vec64xInt8
    typealias Quarters = (SIMD16<UInt8>, SIMD16<UInt8>, SIMD16<UInt8>, SIMD16<UInt8>)
    @inline(__always) func rows(_ r: Int) -> B {
        unsafeBitCast((load16(src + r * ss), load16(src + (r + 1) * ss), load16(src + (r + 2) * ss), load16(src + (r + 3) * ss)) as Quarters,
                      to: B.self)
    }
    @inline(__always) func merge(_ a: B, _ index: SIMD8<UInt64>, _ b: B) -> B {
        Builtin.int_x86_avx512_vpermi2var_qi_512(a, unsafeBitCast(index, to: B.self), b)
    }
    // Byte 8j + r of the first round: row r (< 8), column j (+ 8 for the high one) of the operands'
    // rows 0–3 (first) and 4–7 (second; index + 64).
    let blockLow = SIMD8<UInt64>(0x7060_5040_3020_1000, 0x7161_5141_3121_1101, 0x7262_5242_3222_1202, 0x7363_5343_3323_1303, 0x7464_5444_3424_1404, 0x7565_5545_3525_1505, 0x7666_5646_3626_1606, 0x7767_5747_3727_1707)
    let blockHigh = blockLow &+ 0x0808_0808_0808_0808
    // Byte 16c + r of the second round: column c (+ 4 for the high one), row r of the 8×8 blocks
    // of rows 0–7 (first) and 8–15 (second).
    let columnsLow = SIMD8<UInt64>(0x0706_0504_0302_0100, 0x4746_4544_4342_4140, 0x0F0E_0D0C_0B0A_0908, 0x4F4E_4D4C_4B4A_4948, 0x1716_1514_1312_1110, 0x5756_5554_5352_5150, 0x1F1E_1D1C_1B1A_1918, 0x5F5E_5D5C_5B5A_5958)
    let columnsHigh = columnsLow &+ 0x2020_2020_2020_2020
    let r0 = rows(0), r4 = rows(4), r8 = rows(8), r12 = rows(12)
    let top0 = merge(r0, blockLow, r4), top1 = merge(r0, blockHigh, r4), bottom0 = merge(r8, blockLow, r12), bottom1 = merge(r8, blockHigh, r12)
    @inline(__always) func store(_ v: B, _ column: Int) {
        let q = unsafeBitCast(v, to: Quarters.self)
        store16(q.0, dst + column * ds); store16(q.1, dst + (column + 1) * ds)
        store16(q.2, dst + (column + 2) * ds); store16(q.3, dst + (column + 3) * ds)
    }
    store(merge(top0, columnsLow, bottom0), 0); store(merge(top0, columnsHigh, bottom0), 4)
    store(merge(top1, columnsLow, bottom1), 8); store(merge(top1, columnsHigh, bottom1), 12)
}

/// `transposeFloatBlock8x16` (BlockTranspose.swift) in registers: the 8 rows of 16 floats, then
/// three rounds of two-source `vpermt2ps` — rows interleaved in pairs (2 floats a column), pairs
/// of rows in pairs (4), halves (8: one column's 8 rows) — so that each register holds columns
/// 2k and 2k + 1 of a group, stored as two rows of `dst`.
@inline(__always)
func transposeFloatBlock8x16(_ src: UnsafePointer<Float>, _ ss: Int, _ dst: UnsafeMutablePointer<Float>, _ ds: Int) {
    typealias F = Builtin.Vec16xFPIEEE32
    @inline(__always) func row(_ r: Int) -> F { unsafeBitCast(UnsafeRawPointer(src + r * ss).loadUnaligned(as: SIMD16<Float>.self), to: F.self) }
    @inline(__always) func merge(_ a: F, _ index: SIMD16<Int32>, _ b: F) -> F {
        Builtin.int_x86_avx512_vpermi2var_ps_512(a, unsafeBitCast(index, to: Builtin.Vec16xInt32.self), b)
    }
    // Index k < 16 picks lane k of the first operand, 16 + k lane k of the second; the high
    // variants read the operands' upper 8 lanes. Round 1, floats: lane 2c + t from column c of
    // operand t. Round 2, float pairs: lane 4c + 2t + u from lane 2c + u of operand t. Round 3,
    // quads: lane 8c + 4t + u from lane 4c + u of operand t.
    let pairsLow = SIMD16<Int32>(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), pairsHigh = pairsLow &+ 8
    let quadsLow = SIMD16<Int32>(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23), quadsHigh = quadsLow &+ 8
    let octetsLow = SIMD16<Int32>(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23), octetsHigh = octetsLow &+ 8
    let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3), r4 = row(4), r5 = row(5), r6 = row(6), r7 = row(7)
    let a0 = merge(r0, pairsLow, r1), a1 = merge(r0, pairsHigh, r1), b0 = merge(r2, pairsLow, r3), b1 = merge(r2, pairsHigh, r3)
    let c0 = merge(r4, pairsLow, r5), c1 = merge(r4, pairsHigh, r5), d0 = merge(r6, pairsLow, r7), d1 = merge(r6, pairsHigh, r7)
    // Rows 0–3 (ab) and 4–7 (cd) of columns 0–3, 4–7, 8–11, 12–15.
    let ab0 = merge(a0, quadsLow, b0), ab1 = merge(a0, quadsHigh, b0), ab2 = merge(a1, quadsLow, b1), ab3 = merge(a1, quadsHigh, b1)
    let cd0 = merge(c0, quadsLow, d0), cd1 = merge(c0, quadsHigh, d0), cd2 = merge(c1, quadsLow, d1), cd3 = merge(c1, quadsHigh, d1)
    @inline(__always) func store(_ v: F, _ column: Int) {
        let halves = unsafeBitCast(v, to: (SIMD8<Float>, SIMD8<Float>).self)
        UnsafeMutableRawPointer(dst + column * ds).storeBytes(of: halves.0, as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(dst + (column + 1) * ds).storeBytes(of: halves.1, as: SIMD8<Float>.self)
    }
    store(merge(ab0, octetsLow, cd0), 0); store(merge(ab0, octetsHigh, cd0), 2)
    store(merge(ab1, octetsLow, cd1), 4); store(merge(ab1, octetsHigh, cd1), 6)
    store(merge(ab2, octetsLow, cd2), 8); store(merge(ab2, octetsHigh, cd2), 10)
    store(merge(ab3, octetsLow, cd3), 12); store(merge(ab3, octetsHigh, cd3), 14)
}

/// Register tile: `rows` (1, 4 or 6) × 16·`vecs` (1, 2 or 4) i32 sums over `pieces` × `groups`
/// groups of 4 inputs (A skips `skip` bytes after each piece); B advances `bStride` bytes per
/// group. Constant arguments fold the branches away.
@inline(__always)
@_optimize(speed)
func qgemmTile(rows: Int, vecs: Int, _ pieces: Int, _ skip: Int, _ groups: Int, _ a0: UnsafeRawPointer, _ a1: UnsafeRawPointer, _ a2: UnsafeRawPointer,
               _ a3: UnsafeRawPointer, _ a4: UnsafeRawPointer, _ a5: UnsafeRawPointer,
               _ b: UnsafeRawPointer, _ bStride: Int, _ tile: UnsafeMutablePointer<Int32>) {
    qgemmTileSums(rows: rows, vecs: vecs, pieces, skip, groups, a0, a1, a2, a3, a4, a5, b, bStride, tile,
                  initial: (QVector(), QVector(), QVector(), QVector())) { r, v0, v1, v2, v3 in
        let p = UnsafeMutableRawPointer(tile + r * qgemmPanelCols)
        p.storeBytes(of: v0, as: QVector.self)
        if vecs > 1 { p.storeBytes(of: v1, toByteOffset: 64, as: QVector.self) }
        if vecs > 2 {
            p.storeBytes(of: v2, toByteOffset: 128, as: QVector.self)
            p.storeBytes(of: v3, toByteOffset: 192, as: QVector.self)
        }
    }
}

/// The register tile's sums, each column vector starting from `initial`, handed to `finish`
/// row by row (row, its 1 to 4 vectors) while they are in registers.
@inline(__always)
@_optimize(speed)
func qgemmTileSums(rows: Int, vecs: Int, _ pieces: Int, _ skip: Int, _ groups: Int, _ a0: UnsafeRawPointer, _ a1: UnsafeRawPointer,
                   _ a2: UnsafeRawPointer, _ a3: UnsafeRawPointer, _ a4: UnsafeRawPointer, _ a5: UnsafeRawPointer,
                   _ b: UnsafeRawPointer, _ bStride: Int, _ tile: UnsafeMutablePointer<Int32>,
                   initial: (QVector, QVector, QVector, QVector), finish: (Int, QVector, QVector, QVector, QVector) -> Void) {
    typealias V = QVector
    var c00 = initial.0, c01 = initial.1, c02 = initial.2, c03 = initial.3, c10 = c00, c11 = c01, c12 = c02, c13 = c03
    var c20 = c00, c21 = c01, c22 = c02, c23 = c03, c30 = c00, c31 = c01, c32 = c02, c33 = c03
    var c40 = c00, c41 = c01, c42 = c02, c43 = c03, c50 = c00, c51 = c01, c52 = c02, c53 = c03
    var bp = b
    var off = 0
    for _ in 0..<pieces {
    for _ in 0..<groups {
        let b0 = bp.loadUnaligned(as: V.self)
        let b1 = vecs > 1 ? bp.loadUnaligned(fromByteOffset: 64, as: V.self) : V()
        let b2 = vecs > 2 ? bp.loadUnaligned(fromByteOffset: 128, as: V.self) : V()
        let b3 = vecs > 2 ? bp.loadUnaligned(fromByteOffset: 192, as: V.self) : V()
        var s = V(repeating: a0.loadUnaligned(fromByteOffset: off, as: Int32.self))
        c00 = dpbusd(c00, s, b0)
        if vecs > 1 { c01 = dpbusd(c01, s, b1) }
        if vecs > 2 { c02 = dpbusd(c02, s, b2); c03 = dpbusd(c03, s, b3) }
        if rows > 1 {
            s = V(repeating: a1.loadUnaligned(fromByteOffset: off, as: Int32.self))
            c10 = dpbusd(c10, s, b0)
            if vecs > 1 { c11 = dpbusd(c11, s, b1) }
            if vecs > 2 { c12 = dpbusd(c12, s, b2); c13 = dpbusd(c13, s, b3) }
            s = V(repeating: a2.loadUnaligned(fromByteOffset: off, as: Int32.self))
            c20 = dpbusd(c20, s, b0)
            if vecs > 1 { c21 = dpbusd(c21, s, b1) }
            if vecs > 2 { c22 = dpbusd(c22, s, b2); c23 = dpbusd(c23, s, b3) }
            s = V(repeating: a3.loadUnaligned(fromByteOffset: off, as: Int32.self))
            c30 = dpbusd(c30, s, b0)
            if vecs > 1 { c31 = dpbusd(c31, s, b1) }
            if vecs > 2 { c32 = dpbusd(c32, s, b2); c33 = dpbusd(c33, s, b3) }
            if rows > 4 {
                s = V(repeating: a4.loadUnaligned(fromByteOffset: off, as: Int32.self))
                c40 = dpbusd(c40, s, b0)
                if vecs > 1 { c41 = dpbusd(c41, s, b1) }
                if vecs > 2 { c42 = dpbusd(c42, s, b2); c43 = dpbusd(c43, s, b3) }
                s = V(repeating: a5.loadUnaligned(fromByteOffset: off, as: Int32.self))
                c50 = dpbusd(c50, s, b0)
                if vecs > 1 { c51 = dpbusd(c51, s, b1) }
                if vecs > 2 { c52 = dpbusd(c52, s, b2); c53 = dpbusd(c53, s, b3) }
            }
        }
        bp += bStride
        off += 4
    }
    off += skip
    }
    finish(0, c00, c01, c02, c03)
    if rows > 1 {
        finish(1, c10, c11, c12, c13); finish(2, c20, c21, c22, c23); finish(3, c30, c31, c32, c33)
        if rows > 4 { finish(4, c40, c41, c42, c43); finish(5, c50, c51, c52, c53) }
    }
}
#endif
