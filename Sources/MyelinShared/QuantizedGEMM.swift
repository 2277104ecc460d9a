// Int8 fully connected layer: u8 activations × i8 weights → i32 accumulators, then
// requantisation to u8 or dequantisation to f32 (formulas in docs/bundle-format.md).
//
// Shared at source level by the training module (exporter's reference executor, tests)
// and the Embedded-Swift runtime. It holds the scalar quantisation formulas, the naive
// reference kernel, the weight packing, and the fast kernel in three builds:
//   - MYELIN_VNNI (the runtime on CPUs with AVX-512 VNNI; Sources/MyelinRuntime/QuantizedTileVNNI.swift,
//     runtime-only): a 6×64 register tile of
//     `vpdpbusd` (4 u8·i8 products summed into each i32 lane). LLVM does not form this
//     instruction from plain Swift integer code (it stops at 16-bit `vpdpwssd`, a quarter
//     of the rate), so it is called through the `Builtin` module.
//   - MYELIN_AVX2 (the runtime on AVX2 CPUs without VNNI; QuantizedTileAVX2.swift): strips of
//     16 columns × 4 rows of `vpmaddwd` on bytes widened to i16.
//   - otherwise a portable tile written as plain loops.
// All produce exactly the reference's integers: i32 sums cannot overflow for k < 2^16.

@inline(__always)
public func kernelRoundUp(_ x: Int, _ multiple: Int) -> Int { (x + multiple - 1) / multiple * multiple }

// MARK: Scalar formulas (normative)

/// `1/s` rounded to f32: the multiplier `quantize` uses.
@inline(__always)
public func quantizationInverseScale(_ scale: Float) -> Float { 1 / scale }

/// `q = clamp(roundEven(x · invScale) + zeroPoint, 0, 255)`; NaN gives 0.
@inline(__always)
public func quantizeToU8(_ x: Float, invScale: Float, zeroPoint: Float) -> UInt8 {
    let v = (x * invScale).rounded(.toNearestOrEven) + zeroPoint
    return UInt8(v > 0 ? (v < 255 ? v : 255) : 0)
}

/// Per-channel multiplier of `qlinear`: `s_x·s_w` for f32 outputs, `(s_x·s_w)/s_y` for u8 outputs.
@inline(__always)
public func qlinearMultiplier(inputScale: Float, weightScale: Float, outputScale: Float?) -> Float {
    let m = inputScale * weightScale
    if let s = outputScale { return m / s }
    return m
}

/// u8 output: `clamp(roundEven(f32(acc) · multiplier) + zeroPoint, low, 255)`; NaN gives `low`.
@inline(__always)
public func requantizeToU8(_ acc: Int32, multiplier: Float, zeroPoint: Float, low: Float) -> UInt8 {
    let v = (Float(acc) * multiplier).rounded(.toNearestOrEven) + zeroPoint
    return UInt8(v > low ? (v < 255 ? v : 255) : low)
}

/// f32 output: `f32(acc) · multiplier`, then `max(·, 0)` when `relu`.
@inline(__always)
public func dequantizeAccumulator(_ acc: Int32, multiplier: Float, relu: Bool) -> Float {
    let y = Float(acc) * multiplier
    return relu ? Swift.max(y, 0) : y
}

// MARK: 16 lanes at a time

/// `requantizeToU8` on 16 lanes, the same bytes: roundEven by adding and subtracting 1.5·2^23
/// (exact below 2^22 in magnitude; beyond, both land past the clamp), the clamp as comparisons
/// (NaN gives `low`), the byte as the low mantissa bits of v + 2^23. (`@_transparent`: in the
/// size-optimised runtime `@inline(__always)` still left it, and the conversions, out of line.)
/// `capped: false` only where no |acc|·multiplier reaches 2^30 (`QGEMMOutput.bounded`).
@_transparent
func requantize16(_ acc: SIMD16<Int32>, multiplier: SIMD16<Float>, zeroPoint: Float, low: Float, capped: Bool = true) -> SIMD16<UInt8> {
    roundToBytes16(int32ToFloat(acc) * multiplier, zeroPoint: zeroPoint, low: low, capped: capped)
}

#if !MYELIN_VNNI && !MYELIN_AVX2
/// `clamp(roundEven(y) + zeroPoint, low, 255)` per lane as bytes (NaN gives `low`): the rounding
/// and clamp of `requantize16` and of `quantizeRow`'s 16 lanes (`quantizeToU8`'s bytes, low 0).
/// (Exact at any magnitude: `capped` matters only to the AVX-512 and AVX2 twins.)
@_transparent
func roundToBytes16(_ y: SIMD16<Float>, zeroPoint: Float, low: Float, capped: Bool = true) -> SIMD16<UInt8> {
    let magic = SIMD16<Float>(repeating: 12_582_912)
    let v = ((y + magic) - magic) + SIMD16<Float>(repeating: zeroPoint)
    let lowV = SIMD16<Float>(repeating: low), high = SIMD16<Float>(repeating: 255)
    var c = lowV.replacing(with: v, where: v .> lowV)
    c = c.replacing(with: high, where: c .> high)
    return lowBytes(unsafeBitCast(c + SIMD16<Float>(repeating: 8_388_608), to: SIMD16<UInt32>.self))
}
#endif

/// `dequantizeAccumulator` on 16 lanes, the same floats.
@_transparent
func dequantize16(_ acc: SIMD16<Int32>, multiplier: SIMD16<Float>, relu: Bool) -> SIMD16<Float> {
    let y = int32ToFloat(acc) * multiplier
    let zero = SIMD16<Float>()
    return relu ? y.replacing(with: zero, where: y .<= zero) : y
}

#if !MYELIN_VNNI && !MYELIN_AVX2
/// f32(v) per lane. (This, `lowBytes`, `maxBytes` and `zeroExtend` have `Builtin` twins in the
/// runtime's AVX-512 and AVX2 builds, Sources/MyelinRuntime/VectorBuiltins.swift: in Embedded
/// Swift these conversions are out-of-line calls; `dpbusd` has twins in QuantizedTileVNNI.swift
/// and QuantizedTileAVX2.swift.)
@_transparent
func int32ToFloat(_ v: SIMD16<Int32>) -> SIMD16<Float> { SIMD16<Float>(v) }

/// The low byte of each lane.
@_transparent
func lowBytes(_ v: SIMD16<UInt32>) -> SIMD16<UInt8> { SIMD16<UInt8>(truncatingIfNeeded: v) }

/// Lane-wise maxima of bytes (`maxPool2dU8`).
@_transparent
func maxBytes<V: SIMD>(_ a: V, _ b: V) -> V where V.Scalar == UInt8 { pointwiseMax(a, b) }

/// Each byte zero-extended to its i32 lane.
@_transparent
func zeroExtend(_ v: SIMD16<UInt8>) -> SIMD16<Int32> { SIMD16<Int32>(truncatingIfNeeded: v) }

/// acc + Σ_{t<4} u8(byte t of a) · i8(byte t of b) per i32 lane: `vpdpbusd`'s definition.
@inline(__always)
func dpbusd(_ acc: SIMD16<Int32>, _ a: SIMD16<Int32>, _ b: SIMD16<Int32>) -> SIMD16<Int32> {
    var r = acc
    for t in 0..<4 {
        let up = SIMD16<Int32>(repeating: Int32(24 - 8 * t)), down = SIMD16<Int32>(repeating: 24)
        r &+= ((a &<< up) &>> down & 255) &* ((b &<< up) &>> down)
    }
    return r
}
#endif

@inline(__always)
func load16<T: SIMDScalar>(_ p: UnsafePointer<T>) -> SIMD16<T> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<T>.self) }

@inline(__always)
func store16<T: SIMDScalar>(_ v: SIMD16<T>, _ p: UnsafeMutablePointer<T>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<T>.self) }

/// Quantizes `count` floats to u8 with the `quantize` formula: 16 at a time (`roundToBytes16`,
/// the same bytes), the last `count % 16` one by one.
@inline(never)
@_optimize(speed)
public func quantizeRow(_ x: UnsafePointer<Float>, count: Int, invScale: Float, zeroPoint: Int32,
                        into q: UnsafeMutablePointer<UInt8>) {
    let z = Float(zeroPoint), count16 = count & ~15, inverse = SIMD16<Float>(repeating: invScale)
    var i = 0
    while i < count16 { store16(roundToBytes16(load16(x + i) * inverse, zeroPoint: z, low: 0), q + i); i += 16 }
    quantizeRowTail(x + count16, count: count - count16, invScale: invScale, zeroPoint: z, into: q + count16)
}

/// `quantizeRow`'s last `count % 16` values, one by one (size-optimised).
@inline(never)
func quantizeRowTail(_ x: UnsafePointer<Float>, count: Int, invScale: Float, zeroPoint: Float, into q: UnsafeMutablePointer<UInt8>) {
    for i in 0..<count { q[i] = quantizeToU8(x[i], invScale: invScale, zeroPoint: zeroPoint) }
}

// MARK: Reference

/// Naive reference: `acc[i, j] = bias[j] + Σ_p x[i, p] · w[j, p]` in wrapping i32.
/// Shapes: x u8 `[m × k]` (row stride `ldx`), w i8 `[n × k]` (row j = output j), bias `[n]`,
/// acc `[m × n]` (row stride `ldacc`).
public func qgemmReference(m: Int, n: Int, k: Int, x: UnsafePointer<UInt8>, ldx: Int,
                           w: UnsafePointer<Int8>, bias: UnsafePointer<Int32>,
                           acc: UnsafeMutablePointer<Int32>, ldacc: Int) {
    for i in 0..<m {
        for j in 0..<n {
            var s = bias[j]
            for p in 0..<k { s &+= Int32(x[i * ldx + p]) &* Int32(w[j * k + p]) }
            acc[i * ldacc + j] = s
        }
    }
}

// MARK: Packing

/// Columns of a full weight panel.
public let qgemmPanelCols = 64
/// Rows of the register tile.
public let qgemmTileRows = 6
/// i32 scratch the fast kernel needs (one tile).
public let qgemmTileCount = 6 * 64

/// Bytes of packed weights for w `[n × k]`: n padded to 16, k padded to 4.
public func qgemmPackedBytes(n: Int, k: Int) -> Int { kernelRoundUp(n, 16) * kernelRoundUp(k, 4) }

/// Packs w i8 `[n × k]` (row j = output j) for `qgemm`. Columns go in panels of 64 (the last
/// one 16, 32, 48 or 64 wide); panel q starts at byte `64·q·k4` (k4 = k rounded up to 4)
/// and holds, for each group g of 4 inputs and each of its `width` columns j, the 4 bytes
/// `w[64q + j, 4g ..< 4g+4]` at `(g·width + j)·4`. Padding is zero.
@inline(never)
public func qgemmPackWeights(n: Int, k: Int, w: UnsafePointer<Int8>, into dst: UnsafeMutablePointer<Int8>) {
    let k4 = kernelRoundUp(k, 4), n16 = kernelRoundUp(n, 16)
    var q0 = 0
    while q0 < n16 {
        let width = Swift.min(qgemmPanelCols, n16 - q0)
        let panel = dst + q0 * k4
        for g in 0..<(k4 / 4) {
            for j in 0..<width {
                for t in 0..<4 {
                    let col = q0 + j, p = 4 * g + t
                    panel[(g * width + j) * 4 + t] = col < n && p < k ? w[col * k + p] : 0
                }
            }
        }
        q0 += qgemmPanelCols
    }
}

// MARK: Fast kernel

/// Where `qgemm` writes: f32 (dequantised) or u8 (requantised), row stride `ld`.
public struct QGEMMOutput {
    public var f32: UnsafeMutablePointer<Float>?
    public var u8: UnsafeMutablePointer<UInt8>?
    public var ld: Int
    public var relu: Bool
    public var zeroPoint: Int32
    /// u8 output whose accumulators, times their multipliers, all stay below 2^30 in magnitude
    /// (`qconv2d` works it out at load): `qgemm` requantises its whole 6 × 32 and 6 × 64 blocks
    /// in the register tile (`qgemmTile6`), rounding without the cap (one instruction fewer per
    /// 16 outputs in the AVX-512 build).
    public var bounded = false

    public init(f32: UnsafeMutablePointer<Float>, ld: Int, relu: Bool) {
        self.f32 = f32; u8 = nil; self.ld = ld; self.relu = relu; zeroPoint = 0
    }

    public init(u8: UnsafeMutablePointer<UInt8>, ld: Int, relu: Bool, zeroPoint: Int32) {
        f32 = nil; self.u8 = u8; self.ld = ld; self.relu = relu; self.zeroPoint = zeroPoint
    }
}

/// Where `qgemm` reads the rows of x: by default row i at x + i·ldx, its k bytes contiguous.
/// For a convolution's windows on a padded channels-last image (no im2col): row i (output
/// pixel (i / perLine, i mod perLine)) at x + (i / perLine)·lineStride + (i mod perLine)·ldx, its
/// k bytes in `pieces` runs of k / pieces (a multiple of 4) bytes, `pieceStride` apart.
public struct QGEMMRows {
    public var perLine = Int.max, lineStride = 0, pieces = 1, pieceStride = 0
    public init() {}
    public init(perLine: Int, lineStride: Int, pieces: Int, pieceStride: Int) {
        self.perLine = perLine; self.lineStride = lineStride; self.pieces = pieces; self.pieceStride = pieceStride
    }
}

/// y = epilogue(bias + x · wᵀ). Shapes: x u8 `[m × k]` with row stride `ldx` (the k4 bytes
/// of each row are read and must be readable — rows may overlap, ldx ≥ k; bytes past k meet
/// zero weights; or as `layout` says), `packed` from `qgemmPackWeights`, bias i32 `[n]`,
/// multipliers f32 `[n]`, y `[m × n]` with row stride `output.ld`. `tile` holds
/// `qgemmTileCount` i32. Allocates nothing.
@inline(never)  // one copy for runQLinear's two calls and qconv
@_optimize(speed)
public func qgemm(m: Int, n: Int, k: Int, x: UnsafePointer<UInt8>, ldx: Int, packed: UnsafePointer<Int8>,
                  bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>, output: QGEMMOutput,
                  tile: UnsafeMutablePointer<Int32>, layout: QGEMMRows = QGEMMRows()) {
    let k4 = kernelRoundUp(k, 4), n16 = kernelRoundUp(n, 16)
    let pieces = layout.pieces, groups = k4 / 4 / pieces, skip = layout.pieceStride - 4 * groups
    // Row i is at line + column·ldx; the rows are stepped through (no division per row).
    var i = 0, line = UnsafeRawPointer(x), column = 0
    while i < m {
        let rows = Swift.min(qgemmTileRows, m - i)
        // Short blocks repeat their last row; only valid rows are written.
        @inline(__always) func row(_ r: Int) -> UnsafeRawPointer {
            let p = line + column * ldx
            if r < rows - 1 {
                column += 1
                if column == layout.perLine { column = 0; line += layout.lineStride }
            }
            return p
        }
        let a0 = row(0), a1 = row(1), a2 = row(2), a3 = row(3), a4 = row(4), a5 = row(5)
        column += 1
        if column == layout.perLine { column = 0; line += layout.lineStride }
        var q0 = 0
        while q0 < n16 {
            let width = Swift.min(qgemmPanelCols, n16 - q0)
            let panel = UnsafeRawPointer(packed + q0 * k4)
            // A whole 6 × 64 or 6 × 32 block of a bounded u8 output: requantised in registers.
            if rows == qgemmTileRows && output.bounded && (width == 32 || width == qgemmPanelCols) && n - q0 >= width, let y = output.u8 {
                let z = Float(output.zeroPoint)
                let requantized = QGEMMRequantizedTile(bias: bias + q0, multipliers: multipliers + q0, y: y + i * output.ld + q0,
                                                       ld: output.ld, zeroPoint: z, low: output.relu ? z : 0)
                if width == 32 {
                    qgemmTile6x32(pieces, skip, groups, a0, a1, a2, a3, a4, a5, panel, width * 4, tile, requantized: requantized)
                } else {
                    qgemmTile6x64(pieces, skip, groups, a0, a1, a2, a3, a4, a5, panel, tile, requantized: requantized)
                }
                q0 += qgemmPanelCols
                continue
            }
            if width == qgemmPanelCols {
                if rows == 1 {
                    qgemmTile1x64(pieces, skip, groups, a0, panel, tile)
                } else if rows <= 4 {
                    qgemmTile4x64(pieces, skip, groups, a0, a1, a2, a3, panel, tile)
                } else {
                    qgemmTile6x64(pieces, skip, groups, a0, a1, a2, a3, a4, a5, panel, tile)
                }
            } else {
                // Panels of 16, 32 or 48 columns: a 32-wide tile where it fits, then a 16-wide one.
                var s = 0
                if width >= 32 {
                    if rows == 1 { qgemmTile1x32(pieces, skip, groups, a0, panel, width * 4, tile) } else { qgemmTile6x32(pieces, skip, groups, a0, a1, a2, a3, a4, a5, panel, width * 4, tile) }
                    s = 32
                }
                while s < width {
                    if rows == 1 {
                        qgemmTile1x16(pieces, skip, groups, a0, panel + s * 4, width * 4, tile + s)
                    } else {
                        qgemmTile6x16(pieces, skip, groups, a0, a1, a2, a3, a4, a5, panel + s * 4, width * 4, tile + s)
                    }
                    s += 16
                }
            }
            qgemmEpilogue(tile: tile, rows: rows, row0: i, col0: q0, cols: Swift.min(width, n - q0),
                          bias: bias, multipliers: multipliers, output: output)
            q0 += qgemmPanelCols
        }
        i += qgemmTileRows
    }
}

/// Applies bias and the output formula to `rows × cols` of the tile (row stride 64): 16
/// columns at a time (`requantize16`, `dequantize16`), the last `cols % 16` one by one.
@inline(__always)
@_optimize(speed)
func qgemmEpilogue(tile: UnsafeMutablePointer<Int32>, rows: Int, row0: Int, col0: Int, cols: Int,
                   bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>, output: QGEMMOutput) {
    let b = bias + col0, mult = multipliers + col0, cols16 = cols & ~15
    if let y = output.f32 {
        for r in 0..<rows {
            let dst = y + (row0 + r) * output.ld + col0, t = tile + r * qgemmPanelCols
            var j = 0
            while j < cols16 {
                store16(dequantize16(load16(t + j) &+ load16(b + j), multiplier: load16(mult + j), relu: output.relu), dst + j)
                j += 16
            }
            if cols16 < cols { qgemmEpilogueTail(t, b, mult, from: cols16, to: cols, output: output, at: (row0 + r) * output.ld + col0) }
        }
    } else if let y = output.u8 {
        // Capped whether or not the output is bounded (the cap changes nothing then; bounded
        // outputs' whole blocks skip it in `qgemmTile6`).
        let z = Float(output.zeroPoint), low: Float = output.relu ? z : 0
        for r in 0..<rows {
            let dst = y + (row0 + r) * output.ld + col0, t = tile + r * qgemmPanelCols
            var j = 0
            while j < cols16 {
                store16(requantize16(load16(t + j) &+ load16(b + j), multiplier: load16(mult + j), zeroPoint: z, low: low), dst + j)
                j += 16
            }
            if cols16 < cols { qgemmEpilogueTail(t, b, mult, from: cols16, to: cols, output: output, at: (row0 + r) * output.ld + col0) }
        }
    }
}

/// The epilogue's last `cols % 16` columns of a tile row, one by one (outputs not a multiple of
/// 16 wide: a classifier's few; size-optimised), written from element `at` of the output.
@inline(never) @_optimize(size)
func qgemmEpilogueTail(_ t: UnsafePointer<Int32>, _ b: UnsafePointer<Int32>, _ mult: UnsafePointer<Float>, from: Int, to: Int,
                       output: QGEMMOutput, at: Int) {
    let z = Float(output.zeroPoint), low: Float = output.relu ? z : 0
    for j in from..<to {
        if let y = output.f32 { y[at + j] = dequantizeAccumulator(t[j] &+ b[j], multiplier: mult[j], relu: output.relu) }
        if let y = output.u8 { y[at + j] = requantizeToU8(t[j] &+ b[j], multiplier: mult[j], zeroPoint: z, low: low) }
    }
}

#if !MYELIN_VNNI
/// `qgemmTileSums` (QuantizedTileVNNI.swift) through the tile: the portable tile's sums, plus
/// `initial`, handed to `finish` row by row.
@inline(__always)
func qgemmTileSums(rows: Int, vecs: Int, _ pieces: Int, _ skip: Int, _ groups: Int, _ a0: UnsafeRawPointer, _ a1: UnsafeRawPointer,
                   _ a2: UnsafeRawPointer, _ a3: UnsafeRawPointer, _ a4: UnsafeRawPointer, _ a5: UnsafeRawPointer,
                   _ b: UnsafeRawPointer, _ bStride: Int, _ tile: UnsafeMutablePointer<Int32>,
                   initial: (SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>),
                   finish: (Int, SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>) -> Void) {
    qgemmTile(rows: rows, vecs: vecs, pieces, skip, groups, a0, a1, a2, a3, a4, a5, b, bStride, tile)
    for r in 0..<rows {
        let t = tile + r * qgemmPanelCols
        finish(r, load16(t) &+ initial.0, load16(t + 16) &+ initial.1, load16(t + 32) &+ initial.2, load16(t + 48) &+ initial.3)
    }
}
#endif

#if !MYELIN_VNNI && !MYELIN_AVX2

/// Portable register tile with the same contract as the VNNI and AVX2 ones: `rows` (1, 4 or 6) ×
/// 16·`vecs` i32 sums over `pieces` × `groups` groups of 4 inputs (A skips `skip` bytes after
/// each piece); B advances `bStride` bytes per group.
@inline(__always)
@_optimize(speed)
func qgemmTile(rows: Int, vecs: Int, _ pieces: Int, _ skip: Int, _ groups: Int, _ a0: UnsafeRawPointer, _ a1: UnsafeRawPointer, _ a2: UnsafeRawPointer,
               _ a3: UnsafeRawPointer, _ a4: UnsafeRawPointer, _ a5: UnsafeRawPointer,
               _ b: UnsafeRawPointer, _ bStride: Int, _ tile: UnsafeMutablePointer<Int32>) {
    let cols = 16 * vecs
    for r in 0..<rows { for j in 0..<cols { tile[r * qgemmPanelCols + j] = 0 } }
    let rowPointers = (a0, a1, a2, a3, a4, a5)
    for r in 0..<rows {
        let a: UnsafePointer<UInt8>
        switch r {
        case 0: a = rowPointers.0.assumingMemoryBound(to: UInt8.self)
        case 1: a = rowPointers.1.assumingMemoryBound(to: UInt8.self)
        case 2: a = rowPointers.2.assumingMemoryBound(to: UInt8.self)
        case 3: a = rowPointers.3.assumingMemoryBound(to: UInt8.self)
        case 4: a = rowPointers.4.assumingMemoryBound(to: UInt8.self)
        default: a = rowPointers.5.assumingMemoryBound(to: UInt8.self)
        }
        let t = tile + r * qgemmPanelCols
        for piece in 0..<pieces {
            for gg in 0..<groups {
                let g = piece * groups + gg, at = piece * (4 * groups + skip) + 4 * gg
                let bg = (b + g * bStride).assumingMemoryBound(to: Int8.self)
                let x0 = Int32(a[at]), x1 = Int32(a[at + 1]), x2 = Int32(a[at + 2]), x3 = Int32(a[at + 3])
                for j in 0..<cols {
                    t[j] &+= x0 &* Int32(bg[4 * j]) &+ x1 &* Int32(bg[4 * j + 1]) &+ x2 &* Int32(bg[4 * j + 2]) &+ x3 &* Int32(bg[4 * j + 3])
                }
            }
        }
    }
}
#endif

@inline(never)
@_optimize(speed)
func qgemmTile6x64(_ pieces: Int, _ skip: Int, _ groups: Int, _ a0: UnsafeRawPointer, _ a1: UnsafeRawPointer, _ a2: UnsafeRawPointer,
                   _ a3: UnsafeRawPointer, _ a4: UnsafeRawPointer, _ a5: UnsafeRawPointer,
                   _ b: UnsafeRawPointer, _ tile: UnsafeMutablePointer<Int32>, requantized: QGEMMRequantizedTile? = nil) {
    qgemmTile6(vecs: 4, pieces, skip, groups, a0, a1, a2, a3, a4, a5, b, 256, tile, requantized: requantized)
}

/// A 6-row tile of 16·`vecs` columns (2 or 4) into the tile, or with `requantized` through the
/// u8 output formula in registers (no cap), the sums started from the bias: 6 rows of 16·`vecs`
/// bytes at y + r·ld; the tile is not written then (except by the portable build, whose sums
/// pass through it).
@inline(__always)
@_optimize(speed)
func qgemmTile6(vecs: Int, _ pieces: Int, _ skip: Int, _ groups: Int, _ a0: UnsafeRawPointer, _ a1: UnsafeRawPointer,
                _ a2: UnsafeRawPointer, _ a3: UnsafeRawPointer, _ a4: UnsafeRawPointer, _ a5: UnsafeRawPointer,
                _ b: UnsafeRawPointer, _ bStride: Int, _ tile: UnsafeMutablePointer<Int32>, requantized: QGEMMRequantizedTile?) {
    typealias V = SIMD16<Int32>
    let initial = requantized.map { (load16($0.bias), load16($0.bias + 16), vecs > 2 ? load16($0.bias + 32) : V(), vecs > 2 ? load16($0.bias + 48) : V()) }
    qgemmTileSums(rows: 6, vecs: vecs, pieces, skip, groups, a0, a1, a2, a3, a4, a5, b, bStride, tile,
                  initial: initial ?? (V(), V(), V(), V())) { r, v0, v1, v2, v3 in
        if let e = requantized {
            @inline(__always) func put(_ v: V, _ c: Int) {
                store16(requantize16(v, multiplier: load16(e.multipliers + c), zeroPoint: e.zeroPoint, low: e.low, capped: false),
                        e.y + r * e.ld + c)
            }
            put(v0, 0); put(v1, 16)
            if vecs > 2 { put(v2, 32); put(v3, 48) }
        } else {
            let t = tile + r * qgemmPanelCols
            store16(v0, t); store16(v1, t + 16)
            if vecs > 2 { store16(v2, t + 32); store16(v3, t + 48) }
        }
    }
}

/// Where `qgemmTile6x64` requantises its 6 × 64 sums to (a bounded u8 output's whole panel):
/// bias and multipliers of its 64 columns, rows at y + r·ld, the output formula's zero point and low.
struct QGEMMRequantizedTile {
    var bias: UnsafePointer<Int32>, multipliers: UnsafePointer<Float>
    var y: UnsafeMutablePointer<UInt8>, ld: Int
    var zeroPoint: Float, low: Float
}

/// The last 2 to 4 rows of an M not a multiple of 6 (16-pixel images: 6 + 6 + 4 rows, not 18).
@inline(never)
@_optimize(speed)
func qgemmTile4x64(_ pieces: Int, _ skip: Int, _ groups: Int, _ a0: UnsafeRawPointer, _ a1: UnsafeRawPointer, _ a2: UnsafeRawPointer,
                   _ a3: UnsafeRawPointer, _ b: UnsafeRawPointer, _ tile: UnsafeMutablePointer<Int32>) {
    qgemmTile(rows: 4, vecs: 4, pieces, skip, groups, a0, a1, a2, a3, a3, a3, b, 256, tile)
}

@inline(never)
@_optimize(speed)
func qgemmTile1x64(_ pieces: Int, _ skip: Int, _ groups: Int, _ a0: UnsafeRawPointer, _ b: UnsafeRawPointer, _ tile: UnsafeMutablePointer<Int32>) {
    qgemmTile(rows: 1, vecs: 4, pieces, skip, groups, a0, a0, a0, a0, a0, a0, b, 256, tile)
}

@inline(never)
@_optimize(speed)
func qgemmTile6x32(_ pieces: Int, _ skip: Int, _ groups: Int, _ a0: UnsafeRawPointer, _ a1: UnsafeRawPointer, _ a2: UnsafeRawPointer,
                   _ a3: UnsafeRawPointer, _ a4: UnsafeRawPointer, _ a5: UnsafeRawPointer,
                   _ b: UnsafeRawPointer, _ bStride: Int, _ tile: UnsafeMutablePointer<Int32>, requantized: QGEMMRequantizedTile? = nil) {
    qgemmTile6(vecs: 2, pieces, skip, groups, a0, a1, a2, a3, a4, a5, b, bStride, tile, requantized: requantized)
}

@inline(never)
@_optimize(speed)
func qgemmTile1x32(_ pieces: Int, _ skip: Int, _ groups: Int, _ a0: UnsafeRawPointer, _ b: UnsafeRawPointer, _ bStride: Int,
                   _ tile: UnsafeMutablePointer<Int32>) {
    qgemmTile(rows: 1, vecs: 2, pieces, skip, groups, a0, a0, a0, a0, a0, a0, b, bStride, tile)
}

@inline(never)
@_optimize(speed)
func qgemmTile6x16(_ pieces: Int, _ skip: Int, _ groups: Int, _ a0: UnsafeRawPointer, _ a1: UnsafeRawPointer, _ a2: UnsafeRawPointer,
                   _ a3: UnsafeRawPointer, _ a4: UnsafeRawPointer, _ a5: UnsafeRawPointer,
                   _ b: UnsafeRawPointer, _ bStride: Int, _ tile: UnsafeMutablePointer<Int32>) {
    qgemmTile(rows: 6, vecs: 1, pieces, skip, groups, a0, a1, a2, a3, a4, a5, b, bStride, tile)
}

@inline(never)
@_optimize(speed)
func qgemmTile1x16(_ pieces: Int, _ skip: Int, _ groups: Int, _ a0: UnsafeRawPointer, _ b: UnsafeRawPointer, _ bStride: Int,
                   _ tile: UnsafeMutablePointer<Int32>) {
    qgemmTile(rows: 1, vecs: 1, pieces, skip, groups, a0, a0, a0, a0, a0, a0, b, bStride, tile)
}
