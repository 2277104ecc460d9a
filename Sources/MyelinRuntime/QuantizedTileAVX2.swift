// The int8 register tile and rounding on AVX2 CPUs without AVX-512 VNNI (runtime only; CMake
// defines MYELIN_AVX2 when the target CPU has AVX2 and FMA and the VNNI kernel is off). Same
// contracts as the portable `qgemmTile`, `dpbusd` and `roundToBytes16` in
// Sources/MyelinShared/QuantizedGEMM.swift, and the same integers and bytes.
//
// AVX2 has no u8 × i8 dot product that is exact (`vpmaddubsw` saturates its i16 pair sums), so
// `vpdpbusd` is built from `vpmaddwd`: the even and odd bytes of each 4-byte group widened to
// i16 (u8 zero-extended, i8 sign-extended), two exact i16 · i16 → i32 pair sums per lane.

#if MYELIN_AVX2
import Builtin

/// Σ of the two products of adjacent i16 lanes, per i32 lane (`vpmaddwd`, 256-bit).
@_transparent
func multiplyAddPairs(_ x: SIMD16<Int16>, _ y: SIMD16<Int16>) -> SIMD8<Int32> {
    unsafeBitCast(Builtin.int_x86_avx2_pmadd_wd(unsafeBitCast(x, to: Builtin.Vec16xInt16.self), unsafeBitCast(y, to: Builtin.Vec16xInt16.self)),
                  to: SIMD8<Int32>.self)
}

/// The bytes of `b` (i8, 32 of them) as i16: the even ones (low byte of each i16 lane) and the
/// odd ones (high byte), sign-extended.
@_transparent
func splitSignedBytes(_ b: SIMD16<Int16>) -> (even: SIMD16<Int16>, odd: SIMD16<Int16>) {
    ((b &<< 8) &>> 8, b &>> 8)
}

/// A 4-byte group of u8 broadcast to every i32 lane, as i16: bytes 0 and 2 (`even`), 1 and 3 (`odd`).
@_transparent
func splitBroadcastBytes(_ x: UInt32) -> (even: SIMD16<Int16>, odd: SIMD16<Int16>) {
    (unsafeBitCast(SIMD8<UInt32>(repeating: x & 0x00FF_00FF), to: SIMD16<Int16>.self),
     unsafeBitCast(SIMD8<UInt32>(repeating: (x &>> 8) & 0x00FF_00FF), to: SIMD16<Int16>.self))
}

/// acc + Σ_{t<4} u8(byte t of a) · i8(byte t of b) per i32 lane: `vpdpbusd`'s definition, as
/// four `vpmaddwd` (used by the depthwise and direct int8 convolutions).
@inline(__always)
func dpbusd(_ acc: SIMD16<Int32>, _ a: SIMD16<Int32>, _ b: SIMD16<Int32>) -> SIMD16<Int32> {
    typealias Halves = (SIMD16<Int16>, SIMD16<Int16>)
    let mask = SIMD16<Int32>(repeating: 0x00FF_00FF)
    let aEven = unsafeBitCast(a & mask, to: Halves.self), aOdd = unsafeBitCast((a &>> 8) & mask, to: Halves.self)
    let bHalves = unsafeBitCast(b, to: Halves.self)
    let low = splitSignedBytes(bHalves.0), high = splitSignedBytes(bHalves.1)
    let sums = (multiplyAddPairs(aEven.0, low.even) &+ multiplyAddPairs(aOdd.0, low.odd),
                multiplyAddPairs(aEven.1, high.even) &+ multiplyAddPairs(aOdd.1, high.odd))
    return acc &+ unsafeBitCast(sums, to: SIMD16<Int32>.self)
}

/// `roundToBytes16` (QuantizedGEMM.swift), the same bytes: y clamped above at 2^30 (`vminps`
/// with y second keeps NaN), `vcvtps2dq` rounding to nearest even on each 8-lane half (NaN, −∞
/// and values below −2^31 give −2^31), + zeroPoint, clamped to [low, 255], the low bytes.
/// `capped: false` (|y| < 2^30 known, no NaN) leaves out the `vminps`.
@_transparent
func roundToBytes16(_ y: SIMD16<Float>, zeroPoint: Float, low: Float, capped: Bool = true) -> SIMD16<UInt8> {
    typealias F = Builtin.Vec8xFPIEEE32
    let halves = unsafeBitCast(y, to: (SIMD8<Float>, SIMD8<Float>).self), cap = unsafeBitCast(SIMD8<Float>(repeating: 1_073_741_824), to: F.self)
    @_transparent func round(_ h: SIMD8<Float>) -> SIMD8<Int32> {
        let v = unsafeBitCast(h, to: F.self)
        return unsafeBitCast(Builtin.int_x86_avx_cvt_ps2dq_256(capped ? Builtin.int_x86_avx_min_ps_256(cap, v) : v), to: SIMD8<Int32>.self)
    }
    let shifted = unsafeBitCast((round(halves.0), round(halves.1)), to: SIMD16<Int32>.self) &+ SIMD16<Int32>(repeating: Int32(zeroPoint))
    let clamped = Builtin.int_smin_Vec16xInt32(
        Builtin.int_smax_Vec16xInt32(unsafeBitCast(shifted, to: Builtin.Vec16xInt32.self),
                                     unsafeBitCast(SIMD16<Int32>(repeating: Int32(low)), to: Builtin.Vec16xInt32.self)),
        unsafeBitCast(SIMD16<Int32>(repeating: 255), to: Builtin.Vec16xInt32.self))
    return unsafeBitCast(Builtin.trunc_Vec16xInt32_Vec16xInt8(clamped), to: SIMD16<UInt8>.self)
}

/// The register tile with the portable one's contract (QuantizedGEMM.swift): `rows` (1, 4 or 6)
/// × 16·`vecs` i32 sums over `pieces` × `groups` groups of 4 inputs (A skips `skip` bytes after
/// each piece), B advancing `bStride` bytes per group, stored into the tile (row stride 64) —
/// as strips of 16 columns × up to 4 rows (`qgemmStripAVX2`), which fit the 16 ymm registers.
@inline(__always)
@_optimize(speed)
func qgemmTile(rows: Int, vecs: Int, _ pieces: Int, _ skip: Int, _ groups: Int, _ a0: UnsafeRawPointer, _ a1: UnsafeRawPointer, _ a2: UnsafeRawPointer,
               _ a3: UnsafeRawPointer, _ a4: UnsafeRawPointer, _ a5: UnsafeRawPointer,
               _ b: UnsafeRawPointer, _ bStride: Int, _ tile: UnsafeMutablePointer<Int32>) {
    for v in 0..<vecs {
        qgemmStripAVX2(rows: Swift.min(rows, 4), pieces, skip, groups, a0, a1, a2, a3, b + 64 * v, bStride, tile + 16 * v)
        if rows > 4 {
            qgemmStripAVX2(rows: rows - 4, pieces, skip, groups, a4, a5, a5, a5, b + 64 * v, bStride, tile + 4 * qgemmPanelCols + 16 * v)
        }
    }
}

/// `rows` (1, 2 or 4) × 16 i32 sums of the tile: per group, B's 16 columns widened to i16 once
/// (4 registers), then per row its 4 bytes split and broadcast and four `vpmaddwd` into the
/// row's two accumulators. Written to tile rows 0..<rows (row stride 64).
@inline(never)
@_optimize(speed)
func qgemmStripAVX2(rows: Int, _ pieces: Int, _ skip: Int, _ groups: Int, _ a0: UnsafeRawPointer, _ a1: UnsafeRawPointer,
                    _ a2: UnsafeRawPointer, _ a3: UnsafeRawPointer, _ b: UnsafeRawPointer, _ bStride: Int,
                    _ tile: UnsafeMutablePointer<Int32>) {
    typealias S = SIMD8<Int32>
    var c0 = (S(), S()), c1 = c0, c2 = c0, c3 = c0
    var bp = b, off = 0
    for _ in 0..<pieces {
        for _ in 0..<groups {
            let low = splitSignedBytes(bp.loadUnaligned(as: SIMD16<Int16>.self))
            let high = splitSignedBytes(bp.loadUnaligned(fromByteOffset: 32, as: SIMD16<Int16>.self))
            @inline(__always) func accumulate(_ a: UnsafeRawPointer, _ c: inout (S, S)) {
                let x = splitBroadcastBytes(a.loadUnaligned(fromByteOffset: off, as: UInt32.self))
                c.0 &+= multiplyAddPairs(x.even, low.even) &+ multiplyAddPairs(x.odd, low.odd)
                c.1 &+= multiplyAddPairs(x.even, high.even) &+ multiplyAddPairs(x.odd, high.odd)
            }
            accumulate(a0, &c0)
            if rows > 1 { accumulate(a1, &c1) }
            if rows > 2 { accumulate(a2, &c2); accumulate(a3, &c3) }
            bp += bStride
            off += 4
        }
        off += skip
    }
    @inline(__always) func store(_ r: Int, _ c: (S, S)) {
        UnsafeMutableRawPointer(tile + r * qgemmPanelCols).storeBytes(of: unsafeBitCast(c, to: SIMD16<Int32>.self), as: SIMD16<Int32>.self)
    }
    store(0, c0)
    if rows > 1 { store(1, c1) }
    if rows > 2 { store(2, c2); store(3, c3) }
}
#endif
