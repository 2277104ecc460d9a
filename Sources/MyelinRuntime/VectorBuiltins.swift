// Lane-wise conversions and maxima of the int8 kernels as single instructions, for the
// runtime's AVX-512 VNNI and AVX2 builds (CMake defines MYELIN_VNNI or MYELIN_AVX2 and enables
// the Builtin module). In Embedded Swift the stdlib's SIMD conversions and `pointwiseMax` are
// out-of-line calls; these `Builtin` twins of the portable ones in Sources/MyelinShared
// (QuantizedGEMM.swift, Pooling.swift) are plain LLVM vector instructions (sitofp, trunc, zext,
// umax), so the same definitions serve every x86 target.

#if MYELIN_VNNI || MYELIN_AVX2
import Builtin

/// f32(v) per lane (`vcvtdq2ps`), and the low byte of each lane (`vpmovdb` with AVX-512; used by
/// the int8 epilogues).
@_transparent
func int32ToFloat(_ v: SIMD16<Int32>) -> SIMD16<Float> {
    unsafeBitCast(Builtin.sitofp_Vec16xInt32_Vec16xFPIEEE32(unsafeBitCast(v, to: Builtin.Vec16xInt32.self)), to: SIMD16<Float>.self)
}

@_transparent
func lowBytes(_ v: SIMD16<UInt32>) -> SIMD16<UInt8> {
    unsafeBitCast(Builtin.trunc_Vec16xInt32_Vec16xInt8(unsafeBitCast(v, to: Builtin.Vec16xInt32.self)), to: SIMD16<UInt8>.self)
}

/// Each byte zero-extended to its i32 lane (`vpmovzxbd`; used by `qconvDirectTaps`).
@_transparent
func zeroExtend(_ v: SIMD16<UInt8>) -> SIMD16<Int32> {
    unsafeBitCast(Builtin.zext_Vec16xInt8_Vec16xInt32(unsafeBitCast(v, to: Builtin.Vec16xInt8.self)), to: SIMD16<Int32>.self)
}

/// Lane-wise maxima of bytes (`vpmaxub`; used by `maxPool2dU8`).
@_transparent
func maxBytes(_ a: SIMD16<UInt8>, _ b: SIMD16<UInt8>) -> SIMD16<UInt8> {
    unsafeBitCast(Builtin.int_umax_Vec16xInt8(unsafeBitCast(a, to: Builtin.Vec16xInt8.self), unsafeBitCast(b, to: Builtin.Vec16xInt8.self)),
                  to: SIMD16<UInt8>.self)
}

@_transparent
func maxBytes(_ a: SIMD32<UInt8>, _ b: SIMD32<UInt8>) -> SIMD32<UInt8> {
    unsafeBitCast(Builtin.int_umax_Vec32xInt8(unsafeBitCast(a, to: Builtin.Vec32xInt8.self), unsafeBitCast(b, to: Builtin.Vec32xInt8.self)),
                  to: SIMD32<UInt8>.self)
}

/// The larger byte of each of the 16 pairs (`maxPool2dU8`): each 16-bit lane shifted right by 8
/// against itself in one `vpmaxub` (the low byte gets the pair's max), then a truncation to bytes.
@_transparent
func maxOfBytePairs(_ m: SIMD32<UInt8>) -> SIMD16<UInt8> {
    let high = unsafeBitCast(unsafeBitCast(m, to: SIMD16<UInt16>.self) &>> 8, to: SIMD32<UInt8>.self)
    return unsafeBitCast(Builtin.trunc_Vec16xInt16_Vec16xInt8(unsafeBitCast(maxBytes(m, high), to: Builtin.Vec16xInt16.self)),
                         to: SIMD16<UInt8>.self)
}

@_transparent
func maxBytes(_ a: SIMD8<UInt8>, _ b: SIMD8<UInt8>) -> SIMD8<UInt8> {
    unsafeBitCast(Builtin.int_umax_Vec8xInt8(unsafeBitCast(a, to: Builtin.Vec8xInt8.self), unsafeBitCast(b, to: Builtin.Vec8xInt8.self)),
                  to: SIMD8<UInt8>.self)
}

@_transparent
func maxBytes(_ a: SIMD4<UInt8>, _ b: SIMD4<UInt8>) -> SIMD4<UInt8> {
    unsafeBitCast(Builtin.int_umax_Vec4xInt8(unsafeBitCast(a, to: Builtin.Vec4xInt8.self), unsafeBitCast(b, to: Builtin.Vec4xInt8.self)),
                  to: SIMD4<UInt8>.self)
}

#endif
