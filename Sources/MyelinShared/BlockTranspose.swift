// Matrix transposes between the int8 convolution's layouts: NCHW planes [C, H·W] and the
// channels-last rows [H·W, C] its GEMM reads and writes. Bytes (u8 activations) go in 8×8
// blocks held in eight UInt64 registers and transposed by three rounds of masked exchanges
// (blocks of 4, 2, then 1 byte); f32 values (dequantised outputs) in strips of 8 rows.
// `transposeReference` is the definition both are tested against.

/// Naive reference: dst[j·dstStride + i] = src[i·srcStride + j] for i < rows, j < cols.
public func transposeReference<T>(_ src: UnsafePointer<T>, rows: Int, cols: Int, srcStride: Int,
                                  into dst: UnsafeMutablePointer<T>, dstStride: Int) {
    for i in 0..<rows {
        for j in 0..<cols { dst[j * dstStride + i] = src[i * srcStride + j] }
    }
}

/// Swaps the bits of `a` selected by `mask << shift` with the bits of `b` selected by `mask`.
@inline(__always)
func exchangeBits(_ a: inout UInt64, _ b: inout UInt64, _ shift: UInt64, _ mask: UInt64) {
    let t = ((a &>> shift) ^ b) & mask
    a ^= t &<< shift
    b ^= t
}

#if !MYELIN_VNNI
/// One 8×8 byte block: row i of `src` (stride `ss`) becomes column i of `dst` (stride `ds`).
/// Byte j of a little-endian UInt64 is column j of its row. (The runtime's AVX-512 build has a
/// two-shuffle twin in QuantizedTileVNNI.swift.)
@inline(__always)
func transposeByteBlock8(_ src: UnsafePointer<UInt8>, _ ss: Int, _ dst: UnsafeMutablePointer<UInt8>, _ ds: Int) {
    let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
    var a0 = s.loadUnaligned(as: UInt64.self), a1 = s.loadUnaligned(fromByteOffset: ss, as: UInt64.self)
    var a2 = s.loadUnaligned(fromByteOffset: 2 * ss, as: UInt64.self), a3 = s.loadUnaligned(fromByteOffset: 3 * ss, as: UInt64.self)
    var a4 = s.loadUnaligned(fromByteOffset: 4 * ss, as: UInt64.self), a5 = s.loadUnaligned(fromByteOffset: 5 * ss, as: UInt64.self)
    var a6 = s.loadUnaligned(fromByteOffset: 6 * ss, as: UInt64.self), a7 = s.loadUnaligned(fromByteOffset: 7 * ss, as: UInt64.self)
    // Off-diagonal 4×4 blocks, then 2×2 blocks inside them, then single bytes.
    exchangeBits(&a0, &a4, 32, 0x0000_0000_FFFF_FFFF); exchangeBits(&a1, &a5, 32, 0x0000_0000_FFFF_FFFF)
    exchangeBits(&a2, &a6, 32, 0x0000_0000_FFFF_FFFF); exchangeBits(&a3, &a7, 32, 0x0000_0000_FFFF_FFFF)
    exchangeBits(&a0, &a2, 16, 0x0000_FFFF_0000_FFFF); exchangeBits(&a1, &a3, 16, 0x0000_FFFF_0000_FFFF)
    exchangeBits(&a4, &a6, 16, 0x0000_FFFF_0000_FFFF); exchangeBits(&a5, &a7, 16, 0x0000_FFFF_0000_FFFF)
    exchangeBits(&a0, &a1, 8, 0x00FF_00FF_00FF_00FF); exchangeBits(&a2, &a3, 8, 0x00FF_00FF_00FF_00FF)
    exchangeBits(&a4, &a5, 8, 0x00FF_00FF_00FF_00FF); exchangeBits(&a6, &a7, 8, 0x00FF_00FF_00FF_00FF)
    d.storeBytes(of: a0, as: UInt64.self); d.storeBytes(of: a1, toByteOffset: ds, as: UInt64.self)
    d.storeBytes(of: a2, toByteOffset: 2 * ds, as: UInt64.self); d.storeBytes(of: a3, toByteOffset: 3 * ds, as: UInt64.self)
    d.storeBytes(of: a4, toByteOffset: 4 * ds, as: UInt64.self); d.storeBytes(of: a5, toByteOffset: 5 * ds, as: UInt64.self)
    d.storeBytes(of: a6, toByteOffset: 6 * ds, as: UInt64.self); d.storeBytes(of: a7, toByteOffset: 7 * ds, as: UInt64.self)
}
#endif

#if !MYELIN_VNNI
/// One 16×16 byte block as four 8×8 ones (the runtime's AVX-512 build has a register twin in
/// QuantizedTileVNNI.swift).
@inline(__always)
func transposeByteBlock16(_ src: UnsafePointer<UInt8>, _ ss: Int, _ dst: UnsafeMutablePointer<UInt8>, _ ds: Int) {
    transposeByteBlock8(src, ss, dst, ds)
    transposeByteBlock8(src + 8, ss, dst + 8 * ds, ds)
    transposeByteBlock8(src + 8 * ss, ss, dst + 8, ds)
    transposeByteBlock8(src + 8 * ss + 8, ss, dst + 8 * ds + 8, ds)
}
#endif

#if MYELIN_AVX2
/// An 8 × 8 block of floats in registers, rows in, columns out: the 64 floats, row-major across
/// 8 vectors, split three times into their even- and odd-indexed elements (each split rotates
/// the element index's 6 bits by one; three swap the row bits and the column bits).
@inline(__always)
func transposeFloats8x8(_ rows: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>,
                                 SIMD8<Float>, SIMD8<Float>))
    -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    typealias H = SIMD8<Float>
    @inline(__always) func split(_ v: (H, H, H, H, H, H, H, H)) -> (H, H, H, H, H, H, H, H) {
        let p0 = SIMD16<Float>(lowHalf: v.0, highHalf: v.1), p1 = SIMD16<Float>(lowHalf: v.2, highHalf: v.3)
        let p2 = SIMD16<Float>(lowHalf: v.4, highHalf: v.5), p3 = SIMD16<Float>(lowHalf: v.6, highHalf: v.7)
        return (p0.evenHalf, p1.evenHalf, p2.evenHalf, p3.evenHalf, p0.oddHalf, p1.oddHalf, p2.oddHalf, p3.oddHalf)
    }
    return split(split(split(rows)))
}
#endif

/// dst[j·dstStride + i] = src[i·srcStride + j] (bytes) for i < rows, j < cols: 16×16 blocks where
/// 16 rows remain, then 8×8 blocks, the rows and columns past the last multiple of 8 one by one.
@inline(never) @_optimize(speed)
public func transposeBytes(_ src: UnsafePointer<UInt8>, rows: Int, cols: Int, srcStride: Int,
                           into dst: UnsafeMutablePointer<UInt8>, dstStride: Int) {
    let rows8 = rows & ~7
    var i = 0
    while i < rows8 {
        var j = 0
        if i + 16 <= rows {
            while j + 16 <= cols {
                transposeByteBlock16(src + i * srcStride + j, srcStride, dst + j * dstStride + i, dstStride)
                j += 16
            }
            transposeBytesStrip8(src + i * srcStride + j, cols: cols - j, srcStride: srcStride, into: dst + j * dstStride + i, dstStride: dstStride)
            i += 8
        }
        transposeBytesStrip8(src + i * srcStride + j, cols: cols - j, srcStride: srcStride, into: dst + j * dstStride + i, dstStride: dstStride)
        i += 8
    }
    transposeBytesEdge(src + rows8 * srcStride, rows: rows - rows8, cols: cols, srcStride: srcStride, into: dst + rows8, dstStride: dstStride)
}

#if !MYELIN_VNNI
/// One block of 8 rows × 16 columns of f32: column j of `src` (stride `ss`) becomes row j of
/// `dst` (stride `ds`). (The runtime's AVX-512 build has a register twin in QuantizedTileVNNI.swift.)
@inline(__always)
func transposeFloatBlock8x16(_ src: UnsafePointer<Float>, _ ss: Int, _ dst: UnsafeMutablePointer<Float>, _ ds: Int) {
#if MYELIN_AVX2
    // Each 8 × 8 half in registers.
    typealias H = SIMD8<Float>
    for half in 0..<2 {
        let s = UnsafeRawPointer(src + 8 * half)
        @inline(__always) func row(_ r: Int) -> H { s.loadUnaligned(fromByteOffset: 4 * r * ss, as: H.self) }
        let t = transposeFloats8x8((row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7)))
        let d = UnsafeMutableRawPointer(dst + 8 * half * ds)
        d.storeBytes(of: t.0, as: H.self); d.storeBytes(of: t.1, toByteOffset: 4 * ds, as: H.self)
        d.storeBytes(of: t.2, toByteOffset: 8 * ds, as: H.self); d.storeBytes(of: t.3, toByteOffset: 12 * ds, as: H.self)
        d.storeBytes(of: t.4, toByteOffset: 16 * ds, as: H.self); d.storeBytes(of: t.5, toByteOffset: 20 * ds, as: H.self)
        d.storeBytes(of: t.6, toByteOffset: 24 * ds, as: H.self); d.storeBytes(of: t.7, toByteOffset: 28 * ds, as: H.self)
    }
#else
    for j in 0..<16 {
        for r in 0..<8 { dst[j * ds + r] = src[r * ss + j] }
    }
#endif
}
#endif

/// dst[j·dstStride + i] = src[i·srcStride + j] (f32) for i < rows, j < cols: blocks of 8 rows
/// × 16 columns (`transposeFloatBlock8x16`), the columns and rows past them one by one.
@inline(never) @_optimize(speed)
public func transposeFloats(_ src: UnsafePointer<Float>, rows: Int, cols: Int, srcStride: Int,
                            into dst: UnsafeMutablePointer<Float>, dstStride: Int) {
    let rows8 = rows & ~7, cols16 = cols & ~15
    var i = 0
    while i < rows8 {
        var j = 0
        while j < cols16 {
            transposeFloatBlock8x16(src + i * srcStride + j, srcStride, dst + j * dstStride + i, dstStride)
            j += 16
        }
        i += 8
    }
    transposeFloatsEdge(src + cols16, rows: rows8, cols: cols - cols16, srcStride: srcStride, into: dst + cols16 * dstStride, dstStride: dstStride)
    transposeFloatsEdge(src + rows8 * srcStride, rows: rows - rows8, cols: cols, srcStride: srcStride, into: dst + rows8, dstStride: dstStride)
}

/// `transposeFloats`' ragged edges, one float at a time (size-optimised: they are a few rows
/// or columns of the matrix).
@inline(never)
func transposeFloatsEdge(_ src: UnsafePointer<Float>, rows: Int, cols: Int, srcStride: Int,
                         into dst: UnsafeMutablePointer<Float>, dstStride: Int) {
    for i in 0..<rows {
        for j in 0..<cols { dst[j * dstStride + i] = src[i * srcStride + j] }
    }
}

/// 8 rows × `cols` bytes of `transposeBytes`: 8×8 blocks, the columns past the last multiple of 8
/// one by one. (Not inlined: it is the tail of each 16-row strip and the last 8-row strip.)
@inline(never) @_optimize(speed)
func transposeBytesStrip8(_ src: UnsafePointer<UInt8>, cols: Int, srcStride: Int, into dst: UnsafeMutablePointer<UInt8>, dstStride: Int) {
    let cols8 = cols & ~7
    var j = 0
    while j < cols8 {
        transposeByteBlock8(src + j, srcStride, dst + j * dstStride, dstStride)
        j += 8
    }
    transposeBytesEdge(src + cols8, rows: 8, cols: cols - cols8, srcStride: srcStride, into: dst + cols8 * dstStride, dstStride: dstStride)
}

/// `transposeBytes`' ragged edges, one byte at a time (size-optimised: a few rows or columns).
@inline(never)
func transposeBytesEdge(_ src: UnsafePointer<UInt8>, rows: Int, cols: Int, srcStride: Int,
                        into dst: UnsafeMutablePointer<UInt8>, dstStride: Int) {
    for i in 0..<rows {
        for j in 0..<cols { dst[j * dstStride + i] = src[i * srcStride + j] }
    }
}
