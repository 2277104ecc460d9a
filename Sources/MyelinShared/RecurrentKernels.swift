// Kernels of the recurrent ops (Ops/SequenceRecurrent.swift): the gate nonlinearities of one
// step, 16 lanes at a time, beside their scalar references (libm, the training formulas), and
// the batch-1 products with f16 and with int8 weights, each beside its naive reference.
//
// Shared at source level by the training module (tests) and the Embedded-Swift runtime.

#if MYELIN_RUNTIME
import CZlibRuntime
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: Vector exp, sigmoid, tanh

/// eˣ lane by lane: Cody–Waite reduction by ln 2 and a degree-6 polynomial (Cephes `expf`),
/// within 2 ulp of libm's; inputs clamped to [−87.3, 88.7] (no overflow, no NaN from ±∞).
@inline(__always)
public func vectorExp(_ value: SIMD16<Float>) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    let low = V(repeating: -87.33654), high = V(repeating: 88.72283)
    let x = value.replacing(with: low, where: value .< low).replacing(with: high, where: value .> high)
    // n = round(x / ln 2) by the 1.5·2²³ trick (round to nearest even), kept as float and int.
    let shifter = V(repeating: 12_582_912)
    let shifted = x * V(repeating: 1.442_695_04) + shifter
    let n = shifted - shifter
    let r = x - n * V(repeating: 0.693_359_375) + n * V(repeating: 2.121_944_4e-4)
    var p = V(repeating: 1.987_569_15e-4)
    p = p * r + V(repeating: 1.398_199_95e-3)
    p = p * r + V(repeating: 8.333_451_9e-3)
    p = p * r + V(repeating: 4.166_579_59e-2)
    p = p * r + V(repeating: 0.166_666_655)
    p = p * r + V(repeating: 0.500_000_01)
    let e = p * r * r + r + V(repeating: 1)
    // 2ⁿ from n's integer bits (the shifter's low mantissa bits), n ∈ [−126, 128).
    let bits = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- SIMD16<Int32>(repeating: 0x4B40_0000)
    let scale = unsafeBitCast((bits &+ SIMD16<Int32>(repeating: 127)) &<< 23, to: V.self)
    // n = 128 (x near 88.7) would overflow the exponent: scale by 2ⁿ⁻¹ twice instead.
    let big = bits .== SIMD16<Int32>(repeating: 128)
    if any(big) {
        let half = unsafeBitCast((bits &+ SIMD16<Int32>(repeating: 126)) &<< 23, to: V.self)
        return (e * half * V(repeating: 2)).replacing(with: e * scale, where: .!big)
    }
    return e * scale
}

/// erf x lane by lane (Abramowitz & Stegun 7.1.26): absolute error below 1.5·10⁻⁷;
/// also returns e^{−x²}, which callers (GELU's derivative) reuse.
@inline(__always)
public func vectorErf(_ x: SIMD16<Float>) -> (erf: SIMD16<Float>, gaussian: SIMD16<Float>) {
    typealias V = SIMD16<Float>
    let magnitude = x.replacing(with: -x, where: x .< 0)
    let t = V(repeating: 1) / (V(repeating: 1) + V(repeating: 0.327_591_1) * magnitude)
    var p = V(repeating: 1.061_405_429)
    p = p * t + V(repeating: -1.453_152_027)
    p = p * t + V(repeating: 1.421_413_741)
    p = p * t + V(repeating: -0.284_496_736)
    p = p * t + V(repeating: 0.254_829_592)
    let gaussian = vectorExp(-(magnitude * magnitude))
    let e = V(repeating: 1) - p * t * gaussian
    return (e.replacing(with: -e, where: x .< 0), gaussian)
}

/// 1 / (1 + e⁻ˣ) lane by lane.
@inline(__always)
public func vectorSigmoid(_ x: SIMD16<Float>) -> SIMD16<Float> {
    SIMD16<Float>(repeating: 1) / (SIMD16<Float>(repeating: 1) + vectorExp(-x))
}

/// tanh x lane by lane, as sign(x)·(1 − 2/(e^{2|x|} + 1)): absolute error below 2·10⁻⁷.
@inline(__always)
public func vectorTanh(_ x: SIMD16<Float>) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    let magnitude = x.replacing(with: -x, where: x .< 0)
    let t = V(repeating: 1) - V(repeating: 2) / (vectorExp(magnitude * 2) + V(repeating: 1))
    return t.replacing(with: -t, where: x .< 0)
}

/// σ(v) as the training op computes it (Autograd/RecurrentCells.swift `stableSigmoid`).
@inline(__always)
public func scalarSigmoid(_ v: Float) -> Float {
    if v >= 0 { return 1 / (1 + expf(-v)) }
    let e = expf(v)
    return e / (1 + e)
}

// MARK: One step of a cell, for one sample

/// LSTM: gates = xg + hg `[4H]` (i, f, g, o); updates c and h `[H]` in place.
/// `vector`: 16 lanes at a time (the runtime), else the scalar reference.
@inline(__always)
@_optimize(speed)
public func lstmCellStep(xg: UnsafePointer<Float>, hg: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                         h: UnsafeMutablePointer<Float>, count n: Int, vector: Bool) {
    typealias V = SIMD16<Float>
    var j = 0
    if vector {
        while j + 16 <= n {
            let i = vectorSigmoid(V.load(xg + j) + V.load(hg + j)), f = vectorSigmoid(V.load(xg + n + j) + V.load(hg + n + j))
            let g = vectorTanh(V.load(xg + 2 * n + j) + V.load(hg + 2 * n + j))
            let o = vectorSigmoid(V.load(xg + 3 * n + j) + V.load(hg + 3 * n + j))
            let cNew = f * V.load(c + j) + i * g
            cNew.store(c + j)
            (o * vectorTanh(cNew)).store(h + j)
            j += 16
        }
    }
    while j < n {
        let i = scalarSigmoid(xg[j] + hg[j]), f = scalarSigmoid(xg[n + j] + hg[n + j])
        let g = tanhf(xg[2 * n + j] + hg[2 * n + j]), o = scalarSigmoid(xg[3 * n + j] + hg[3 * n + j])
        let cNew = f * c[j] + i * g
        c[j] = cNew
        h[j] = o * tanhf(cNew)
        j += 1
    }
}

/// GRU: xg `[3H]` (input projection with b_ih), hg `[3H]` (W_hh h + b_hh), r, z, n; updates h.
@inline(__always)
@_optimize(speed)
public func gruCellStep(xg: UnsafePointer<Float>, hg: UnsafePointer<Float>, h: UnsafeMutablePointer<Float>, count n: Int, vector: Bool) {
    typealias V = SIMD16<Float>
    var j = 0
    if vector {
        while j + 16 <= n {
            let r = vectorSigmoid(V.load(xg + j) + V.load(hg + j)), z = vectorSigmoid(V.load(xg + n + j) + V.load(hg + n + j))
            let candidate = vectorTanh(V.load(xg + 2 * n + j) + r * V.load(hg + 2 * n + j))
            ((V(repeating: 1) - z) * candidate + z * V.load(h + j)).store(h + j)
            j += 16
        }
    }
    while j < n {
        let r = scalarSigmoid(xg[j] + hg[j]), z = scalarSigmoid(xg[n + j] + hg[n + j])
        let candidate = tanhf(xg[2 * n + j] + r * hg[2 * n + j])
        h[j] = (1 - z) * candidate + z * h[j]
        j += 1
    }
}

/// Elman RNN: h = tanh(xg + hg), or max(xg + hg, 0) with `relu`.
@inline(__always)
@_optimize(speed)
public func rnnCellStep(xg: UnsafePointer<Float>, hg: UnsafePointer<Float>, h: UnsafeMutablePointer<Float>, count n: Int,
                        relu: Bool, vector: Bool) {
    typealias V = SIMD16<Float>
    var j = 0
    if vector && !relu {
        while j + 16 <= n {
            vectorTanh(V.load(xg + j) + V.load(hg + j)).store(h + j)
            j += 16
        }
    }
    while j < n {
        h[j] = relu ? Swift.max(xg[j] + hg[j], 0) : tanhf(xg[j] + hg[j])
        j += 1
    }
}

// MARK: f16 weights

/// Whether every f16 of `count` at `p` is finite (weights must be).
@inline(never)
@_optimize(speed)
public func halfWeightsFinite(_ p: UnsafeRawPointer, count: Int) -> Bool {
    for i in 0..<count where p.load(fromByteOffset: 2 * i, as: UInt16.self) & 0x7C00 == 0x7C00 { return false }
    return true
}

/// 16 f16 bit patterns → f32 (exact; one vcvtph2ps with F16C).
@inline(__always)
func widenHalf(_ h: SIMD16<UInt16>) -> SIMD16<Float> {
    SIMD16<Float>(unsafeBitCast(h, to: SIMD16<Float16>.self))
}

/// y `[n]` = bias + W · x for one row x `[k]`, W f16 `[n × k]` packed by
/// `linearPackWeights(elementSize: 2)` (the f32 GEMV's layout: blocks of `gemmBlockDepth`
/// inputs, panels of 32 outputs), widened as it is read: half the bytes of f32 weights for
/// a product that reads every weight once per step. Sums in input order, as `linearPacked`.
@inline(never)
@_optimize(speed)
public func linearPackedHalfGEMV(n: Int, k: Int, x: UnsafePointer<Float>, packed: UnsafeRawPointer, bias: UnsafePointer<Float>?,
                                 y: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    typealias H = SIMD16<UInt16>
    if let b = bias { for j in 0..<n { y[j] = b[j] } } else { for j in 0..<n { y[j] = 0 } }
    let n32 = kernelRoundUp(n, gemmTileCols)
    var pc = 0
    while pc < k {
        let kc = Swift.min(gemmBlockDepth, k - pc)
        let block = packed + 2 * pc * n32, xs = x + pc
        var jr = 0
        while jr < n {
            // Two panels (64 outputs, four accumulator chains); a last lone panel reads itself twice.
            let p0 = block + 2 * jr * kc, p1 = jr + gemmTileCols < n ? p0 + 2 * gemmTileCols * kc : p0
            var c0 = V(), c1 = V(), c2 = V(), c3 = V()
            var off = 0
            for p in 0..<kc {
                let s = V(repeating: xs[p])
                c0.addProduct(s, widenHalf(p0.loadUnaligned(fromByteOffset: off, as: H.self)))
                c1.addProduct(s, widenHalf(p0.loadUnaligned(fromByteOffset: off + 32, as: H.self)))
                c2.addProduct(s, widenHalf(p1.loadUnaligned(fromByteOffset: off, as: H.self)))
                c3.addProduct(s, widenHalf(p1.loadUnaligned(fromByteOffset: off + 32, as: H.self)))
                off += 64
            }
            var sums = (c0, c1, c2, c3)
            withUnsafeBytes(of: &sums) { raw in
                let sum = raw.baseAddress!.assumingMemoryBound(to: Float.self)
                for i in 0..<Swift.min(2 * gemmTileCols, n - jr) { y[jr + i] = y[jr + i] + sum[i] }
            }
            jr += 2 * gemmTileCols
        }
        pc += kc
    }
}

/// The reference of `linearPackedHalfGEMV`: W f16 `[n × k]` row-major, widened by
/// `halfBitsToFloat`, summed in input order.
public func halfGEMVReference(n: Int, k: Int, x: UnsafePointer<Float>, weights: UnsafeRawPointer, bias: UnsafePointer<Float>?,
                              y: UnsafeMutablePointer<Float>) {
    for j in 0..<n {
        var s: Float = 0
        for p in 0..<k { s += halfBitsToFloat(weights.load(fromByteOffset: 2 * (j * k + p), as: UInt16.self)) * x[p] }
        y[j] = (bias?[j] ?? 0) + s
    }
}

// MARK: int8 weights

/// Packs W i8 `[n × k]` (row-major) into panels of 32 outputs: panel q holds, input after
/// input, the 32 weights W[32q ..< 32q + 32, p] (rows past n are zero), so the GEMV reads each
/// panel front to back. `linearPackedCount(outputs: n, inputs: k)` bytes.
public func int8PackWeights(outputs n: Int, inputs k: Int, weights w: UnsafePointer<Int8>, into packed: UnsafeMutablePointer<Int8>) {
    for j in 0..<kernelRoundUp(n, 32) {
        for p in 0..<k { packed[(j / 32) * 32 * k + p * 32 + j % 32] = j < n ? w[j * k + p] : 0 }
    }
}

/// 16 i8 → f32 (exact). Lane by lane, which LLVM turns into vpmovsxbd + vcvtdq2ps: the
/// standard library's generic SIMD conversions stay calls in the size-optimised runtime.
@inline(__always)
func widenInt8(_ v: SIMD16<Int8>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    for i in 0..<16 { r[i] = Float(v[i]) }
    return r
}

/// y `[n]` = bias + scale ⊙ (W · x) for one row x f32 `[k]`, W i8 `[n × k]` packed by
/// `int8PackWeights`, scale f32 `[n]` per output row (weight-only quantisation: x and the sums
/// stay f32). Each weight is widened to f32 as it is read — a quarter of the bytes of f32
/// weights, and the recurrent step's 0.5 MiB (LSTM 256) fit in L2. Sums in input order with
/// fused multiply–adds, then one product by the row's scale: `int8GEMVReference` bit for bit.
@inline(never)
@_optimize(speed)
public func linearPackedInt8GEMV(n: Int, k: Int, x: UnsafePointer<Float>, packed: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
                                 bias: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    typealias B = SIMD16<Int8>
    var j = 0
    while j < n {
        // Two panels (64 outputs, four accumulator chains); a last lone panel reads itself twice.
        let p0 = UnsafeRawPointer(packed + j * k), p1 = j + 32 < n ? p0 + 32 * k : p0
        var c0 = V(), c1 = V(), c2 = V(), c3 = V()
        var off = 0
        for p in 0..<k {
            let s = V(repeating: x[p])
            c0.addProduct(s, widenInt8(p0.loadUnaligned(fromByteOffset: off, as: B.self)))
            c1.addProduct(s, widenInt8(p0.loadUnaligned(fromByteOffset: off + 16, as: B.self)))
            c2.addProduct(s, widenInt8(p1.loadUnaligned(fromByteOffset: off, as: B.self)))
            c3.addProduct(s, widenInt8(p1.loadUnaligned(fromByteOffset: off + 16, as: B.self)))
            off += 32
        }
        // Epilogue through memory (64 of the panel pair's k·64 products): one short loop for
        // full and partial pairs alike.
        var sums = (c0, c1, c2, c3)
        withUnsafeBytes(of: &sums) { raw in
            let sum = raw.baseAddress!.assumingMemoryBound(to: Float.self)
            for i in 0..<Swift.min(64, n - j) { y[j + i] = bias[j + i] + scales[j + i] * sum[i] }
        }
        j += 64
    }
}

/// The reference of `linearPackedInt8GEMV`: W i8 `[n × k]` row-major, y_j = b_j + s_j · Σ_p W_jp x_p
/// summed in input order with fused multiply–adds.
public func int8GEMVReference(n: Int, k: Int, x: UnsafePointer<Float>, weights: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
                              bias: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    for j in 0..<n {
        var s: Float = 0
        for p in 0..<k { s = s.addingProduct(x[p], Float(weights[j * k + p])) }
        y[j] = bias[j] + scales[j] * s
    }
}
