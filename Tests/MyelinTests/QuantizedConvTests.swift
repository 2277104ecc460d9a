import XCTest
@testable import Myelin
@testable import MyelinShared

/// The int8 convolution kernels (QuantizedConvolution.swift): `qconvReference` against the
/// float convolution of the zero-point-shifted integers (its definition), and the fast `qconv`
/// (GEMM and direct paths; the portable tile in this build, the runtime's VNNI tile is checked
/// through the C API) against `qconvReference` with exact integer equality, for strides,
/// padding, dilation, groups, depthwise (stride phases), pointwise (no im2col) and one-channel
/// inputs; the layout transposes and the 16-lane output formulas against their definitions.
final class QuantizedConvTests: XCTestCase {
    /// (C, H, W, O, kH, kW, stride h/w, padding t/l/b/r, dilation h/w, groups)
    static let geometries: [ConvGeometry] = [
        .init(batch: 2, inChannels: 3, height: 7, width: 6, outChannels: 5, kernelH: 3, kernelW: 3),
        .init(batch: 1, inChannels: 4, height: 9, width: 9, outChannels: 8, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
        .init(batch: 2, inChannels: 6, height: 10, width: 11, outChannels: 70, kernelH: 3, kernelW: 2, strideH: 2, strideW: 3,
              padTop: 2, padLeft: 1, padBottom: 0, padRight: 1),
        .init(batch: 1, inChannels: 4, height: 12, width: 12, outChannels: 6, kernelH: 3, kernelW: 3, padTop: 2, padLeft: 2,
              padBottom: 2, padRight: 2, dilationH: 2, dilationW: 2),
        .init(batch: 2, inChannels: 8, height: 6, width: 7, outChannels: 12, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1,
              padBottom: 1, padRight: 1, groups: 4),
        .init(batch: 2, inChannels: 8, height: 9, width: 8, outChannels: 8, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1,
              padBottom: 1, padRight: 1, groups: 8),                                              // depthwise
        .init(batch: 1, inChannels: 6, height: 9, width: 9, outChannels: 12, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2,
              padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 6),                     // depthwise × 2, stride 2
        .init(batch: 1, inChannels: 5, height: 11, width: 10, outChannels: 5, kernelH: 5, kernelW: 3, padTop: 4, padLeft: 2,
              padBottom: 4, padRight: 2, dilationH: 2, dilationW: 1, groups: 5),                // depthwise, dilated
        .init(batch: 3, inChannels: 16, height: 5, width: 5, outChannels: 24, kernelH: 1, kernelW: 1),   // pointwise
        .init(batch: 1, inChannels: 12, height: 4, width: 6, outChannels: 9, kernelH: 1, kernelW: 1, groups: 3),  // grouped pointwise
        .init(batch: 1, inChannels: 7, height: 8, width: 8, outChannels: 3, kernelH: 1, kernelW: 1, strideH: 2, strideW: 2),
        .init(batch: 2, inChannels: 1, height: 28, width: 28, outChannels: 32, kernelH: 3, kernelW: 3),  // anchor CNN's first layer
        .init(batch: 1, inChannels: 32, height: 13, width: 13, outChannels: 64, kernelH: 3, kernelW: 3), // its second
        .init(batch: 1, inChannels: 3, height: 2, width: 3, outChannels: 4, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1,
              padBottom: 1, padRight: 1),                                                       // kernel larger than the image
        // 1×1 without im2col: channels, pixels and outputs not multiples of 8 (nor channels of 4).
        .init(batch: 2, inChannels: 10, height: 5, width: 7, outChannels: 19, kernelH: 1, kernelW: 1),
        .init(batch: 1, inChannels: 6, height: 3, width: 3, outChannels: 4, kernelH: 1, kernelW: 1, groups: 2),
        // GEMM path with 35 pixels and 13 outputs (the transposes' ragged edges).
        .init(batch: 1, inChannels: 9, height: 7, width: 5, outChannels: 13, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1,
              padBottom: 1, padRight: 1),
        // Stride phases: stride 2 with phases wider than 16 (the de-interleaving loop), a multiplier of 2.
        .init(batch: 2, inChannels: 3, height: 9, width: 40, outChannels: 6, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2,
              padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 3),
        // Strides 3 × 2 with dilations 2 × 3 and uneven padding.
        .init(batch: 1, inChannels: 2, height: 13, width: 19, outChannels: 2, kernelH: 3, kernelW: 3, strideH: 3, strideW: 2,
              padTop: 2, padLeft: 3, padBottom: 1, padRight: 0, dilationH: 2, dilationW: 3, groups: 2),
        // Stride 2 on MobileNet-mini's 28-wide planes: phases of 14 (the 8-byte de-interleaving step).
        .init(batch: 1, inChannels: 2, height: 6, width: 28, outChannels: 2, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2,
              padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 2),
        // A one-channel stem with a 5×5 window, stride 2, on a wide image.
        .init(batch: 1, inChannels: 1, height: 11, width: 35, outChannels: 3, kernelH: 5, kernelW: 5, strideH: 2, strideW: 2,
              padTop: 2, padLeft: 2, padBottom: 2, padRight: 2),
        // Several output channels per input channel with at most 12 taps (qconvDirectTaps): a padded
        // stem (rows of 20 in phases 22 wide), whole rows of 7 (49 outputs), a 2×2 stride-2 stem
        // (4 taps, rows of 17), a channel multiplier of 4 with groups; and whole rows of 6 outputs
        // (fewer than 16: the per-tap loop).
        .init(batch: 2, inChannels: 1, height: 12, width: 20, outChannels: 16, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1,
              padBottom: 1, padRight: 1),
        .init(batch: 1, inChannels: 1, height: 9, width: 9, outChannels: 5, kernelH: 3, kernelW: 3),
        .init(batch: 1, inChannels: 1, height: 20, width: 34, outChannels: 4, kernelH: 2, kernelW: 2, strideH: 2, strideW: 2),
        .init(batch: 2, inChannels: 2, height: 6, width: 18, outChannels: 8, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1,
              padBottom: 1, padRight: 1, groups: 2),
        .init(batch: 1, inChannels: 1, height: 4, width: 5, outChannels: 4, kernelH: 3, kernelW: 3),
        // Windows read in place (C/groups a multiple of 4, no dilation along W): strides 2 × 3, uneven
        // padding and dilation 2 along H; groups of 8 channels with padding; 1×1 with stride 2.
        .init(batch: 2, inChannels: 8, height: 9, width: 11, outChannels: 20, kernelH: 3, kernelW: 2, strideH: 2, strideW: 3,
              padTop: 2, padLeft: 1, padBottom: 0, padRight: 1, dilationH: 2, dilationW: 1),
        .init(batch: 2, inChannels: 16, height: 6, width: 7, outChannels: 12, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1,
              padBottom: 1, padRight: 1, groups: 2),
        .init(batch: 1, inChannels: 8, height: 7, width: 9, outChannels: 5, kernelH: 1, kernelW: 1, strideH: 2, strideW: 2),
        // 40 outputs: a 48-wide panel, the 32- then the 16-wide tile, on 1 and 7 pixels (1- and 6-row tiles).
        .init(batch: 2, inChannels: 20, height: 1, width: 1, outChannels: 40, kernelH: 1, kernelW: 1),
        .init(batch: 1, inChannels: 8, height: 7, width: 1, outChannels: 40, kernelH: 1, kernelW: 1),
        // Depthwise, a kernel row's taps in one dpbusd: 20 and 33 channels (blocks of 16, the last
        // partial), stride 2 on the second; a 2×2 kernel (two zero taps a row). Depthwise layers the
        // GEMM path takes: 5 taps a row (stride 2), dilation 2 along W, a 1×7 row kernel.
        .init(batch: 2, inChannels: 20, height: 9, width: 10, outChannels: 20, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1,
              padBottom: 1, padRight: 1, groups: 20),
        .init(batch: 1, inChannels: 33, height: 7, width: 7, outChannels: 33, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2,
              padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 33),
        .init(batch: 1, inChannels: 18, height: 11, width: 9, outChannels: 18, kernelH: 5, kernelW: 5, strideH: 2, strideW: 2,
              padTop: 2, padLeft: 2, padBottom: 2, padRight: 2, groups: 18),
        .init(batch: 2, inChannels: 4, height: 10, width: 12, outChannels: 4, kernelH: 3, kernelW: 3, padTop: 2, padLeft: 2,
              padBottom: 2, padRight: 2, dilationH: 2, dilationW: 2, groups: 4),
        .init(batch: 1, inChannels: 3, height: 5, width: 9, outChannels: 3, kernelH: 1, kernelW: 7, padTop: 0, padLeft: 3,
              padBottom: 0, padRight: 3, groups: 3),
        .init(batch: 1, inChannels: 16, height: 6, width: 6, outChannels: 16, kernelH: 2, kernelW: 2, groups: 16),
        // Depthwise on NCHW planes at least 16 wide (`qconvTransposeIntoBlock`: 16 planes transposed
        // row by row into the padded block): 40 channels 21 wide (a last transpose overlapping the
        // first, the third block of 8 channels the other way), three images, uneven padding; 16
        // channels exactly 16 wide, stride 2.
        .init(batch: 3, inChannels: 40, height: 5, width: 21, outChannels: 40, kernelH: 3, kernelW: 3, padTop: 1, padLeft: 2,
              padBottom: 0, padRight: 1, groups: 40),
        .init(batch: 2, inChannels: 16, height: 5, width: 16, outChannels: 16, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2,
              padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 16),
    ]

    struct Case {
        var x: [UInt8], w: [Int8], bias: [Int32], zeroPoint: Int32
    }

    static func randomCase(_ g: ConvGeometry, _ rng: Generator) -> Case {
        let x = (0..<(g.batch * g.inChannels * g.height * g.width)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let w = (0..<(g.outChannels * g.patch)).map { _ in Int8(Int(rng.next() % 255) - 127) }
        let bias = (0..<g.outChannels).map { _ in Int32(truncatingIfNeeded: Int64(rng.next() % 200_001) - 100_000) }
        return Case(x: x, w: w, bias: bias, zeroPoint: Int32(rng.next() % 256))
    }

    static func reference(_ g: ConvGeometry, _ c: Case) -> [Int32] {
        var acc = [Int32](repeating: 0, count: g.batch * g.outChannels * g.outHeight * g.outWidth)
        qconvReference(g, x: c.x, inputZeroPoint: c.zeroPoint, weight: c.w, bias: c.bias, acc: &acc)
        return acc
    }

    /// The reference is the definition: bias + Σ (x − z_x)·w over the unpadded image plus
    /// z_x·Σw (padding reads z_x), computed here in exact f32 by `conv2dReference`.
    func testReferenceIsTheConvolutionOfTheShiftedIntegers() {
        let rng = Generator(seed: 31)
        for g in Self.geometries where g.patch * 255 * 127 < 1 << 24 {
            let c = Self.randomCase(g, rng)
            let acc = Self.reference(g, c)
            let shifted = c.x.map { Float(Int32($0) - c.zeroPoint) }
            let wf = c.w.map { Float($0) }
            var y = [Float](repeating: 0, count: acc.count)
            conv2dReference(g, x: shifted, weight: wf, bias: nil, y: &y)
            // conv2dReference reads padding as 0, i.e. x = z_x there: acc = bias + conv(x − z_x) + z_x·Σw.
            let plane = g.outHeight * g.outWidth
            for i in 0..<acc.count {
                let o = (i / plane) % g.outChannels
                var rowSum: Int32 = 0
                for p in 0..<g.patch { rowSum += Int32(c.w[o * g.patch + p]) }
                XCTAssertEqual(Int32(y[i]) + c.bias[o] + c.zeroPoint * rowSum, acc[i], "\(g) at \(i)")
            }
        }
    }

    /// The fast kernel gives the reference's integers exactly, through both output formulas.
    func testFastKernelMatchesReferenceExactly() {
        let rng = Generator(seed: 32)
        for g in Self.geometries {
            let c = Self.randomCase(g, rng)
            let acc = Self.reference(g, c)
            var packed = [Int8](repeating: 99, count: Swift.max(1, qconvPackedBytes(g)))
            qconvPackWeights(g, weight: c.w, into: &packed)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: qconvScratchBytes(g), alignment: 64)
            defer { scratch.deallocate() }
            scratch.initializeMemory(as: UInt8.self, repeating: 0xAB, count: qconvScratchBytes(g))
            let plane = g.outHeight * g.outWidth
            func channel(_ i: Int) -> Int { (i / plane) % g.outChannels }

            // f32 with unit multipliers: exactly Float(acc).
            var y = [Float](repeating: .nan, count: acc.count)
            let ones = [Float](repeating: 1, count: g.outChannels)
            y.withUnsafeMutableBufferPointer { yp in
                qconv(g, x: c.x, inputZeroPoint: c.zeroPoint, weight: c.w, packed: packed, bias: c.bias, multipliers: ones,
                      output: QGEMMOutput(f32: yp.baseAddress!, ld: 0, relu: false), scratch: scratch)
            }
            XCTAssertEqual(y, acc.map { Float($0) }, "f32 \(g)")

            // f32 with multipliers and ReLU.
            // Spread the typical accumulator (bias ±1e5, sums of about √patch·127·150) over ±50 steps.
            let spread = 50 / (Float(g.patch).squareRoot() * 127 * 150 + 1e5)
            let multipliers = (0..<g.outChannels).map { _ in (rng.nextUniform() + 0.5) * spread }
            y.withUnsafeMutableBufferPointer { yp in
                qconv(g, x: c.x, inputZeroPoint: c.zeroPoint, weight: c.w, packed: packed, bias: c.bias, multipliers: multipliers,
                      output: QGEMMOutput(f32: yp.baseAddress!, ld: 0, relu: true), scratch: scratch)
            }
            XCTAssertEqual(y, acc.indices.map { dequantizeAccumulator(acc[$0], multiplier: multipliers[channel($0)], relu: true) },
                           "f32 relu \(g)")

            // u8 with a zero point, with and without ReLU, in the scratch sized for u8 outputs.
            let u8Scratch = UnsafeMutableRawPointer.allocate(byteCount: qconvScratchBytes(g, outputBytes: 1), alignment: 64)
            defer { u8Scratch.deallocate() }
            for relu in [false, true] {
                var q = [UInt8](repeating: 0, count: acc.count)
                q.withUnsafeMutableBufferPointer { qp in
                    qconv(g, x: c.x, inputZeroPoint: c.zeroPoint, weight: c.w, packed: packed, bias: c.bias, multipliers: multipliers,
                          output: QGEMMOutput(u8: qp.baseAddress!, ld: 0, relu: relu, zeroPoint: 121), scratch: u8Scratch)
                }
                let expected = acc.indices.map {
                    requantizeToU8(acc[$0], multiplier: multipliers[channel($0)], zeroPoint: 121, low: relu ? 121 : 0)
                }
                XCTAssertEqual(q, expected, "u8 relu \(relu) \(g)")
                XCTAssertTrue(Set(q).count > 2, "the u8 outputs are not saturated: \(g)")
            }
        }
    }

    /// Extreme operands (all 255 against ±127 weights, the widest patch of the tests) give the
    /// reference's sums: nothing saturates inside the kernel.
    func testExtremeOperandsMatchReference() {
        for weightValue in [Int8(127), Int8(-127)] {
            let g = ConvGeometry(batch: 1, inChannels: 64, height: 5, width: 5, outChannels: 16, kernelH: 3, kernelW: 3,
                                 padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
            let c = Case(x: [UInt8](repeating: 255, count: 64 * 25), w: [Int8](repeating: weightValue, count: 16 * g.patch),
                         bias: [Int32](repeating: 7, count: 16), zeroPoint: 255)
            let acc = Self.reference(g, c)
            XCTAssertEqual(acc[0], 7 + 255 * Int32(weightValue) * Int32(g.patch))
            var packed = [Int8](repeating: 0, count: qconvPackedBytes(g))
            qconvPackWeights(g, weight: c.w, into: &packed)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: qconvScratchBytes(g), alignment: 64)
            defer { scratch.deallocate() }
            var y = [Float](repeating: 0, count: acc.count)
            y.withUnsafeMutableBufferPointer { yp in
                qconv(g, x: c.x, inputZeroPoint: c.zeroPoint, weight: c.w, packed: packed, bias: c.bias,
                      multipliers: [Float](repeating: 1, count: 16), output: QGEMMOutput(f32: yp.baseAddress!, ld: 0, relu: false),
                      scratch: scratch)
            }
            XCTAssertEqual(y, acc.map { Float($0) })
        }
    }

    /// The 8×8-block byte transpose and the strip f32 transpose equal the naive one, ragged edges
    /// and strides wider than the rows included, and write nothing outside the transposed matrix.
    func testTransposesMatchReference() {
        let rng = Generator(seed: 33)
        for (rows, cols) in [(8, 8), (3, 5), (16, 24), (13, 21), (9, 70), (35, 19), (1, 9), (64, 7)] {
            let srcStride = cols + 3, dstStride = rows + 5
            let bytes = (0..<(rows * srcStride)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            var expected = [UInt8](repeating: 0xAB, count: cols * dstStride), got = expected
            transposeReference(bytes, rows: rows, cols: cols, srcStride: srcStride, into: &expected, dstStride: dstStride)
            transposeBytes(bytes, rows: rows, cols: cols, srcStride: srcStride, into: &got, dstStride: dstStride)
            XCTAssertEqual(got, expected, "bytes \(rows)×\(cols)")
            let floats = bytes.map { Float($0) - 100.5 }
            var expectedF = [Float](repeating: -7, count: cols * dstStride), gotF = expectedF
            transposeReference(floats, rows: rows, cols: cols, srcStride: srcStride, into: &expectedF, dstStride: dstStride)
            transposeFloats(floats, rows: rows, cols: cols, srcStride: srcStride, into: &gotF, dstStride: dstStride)
            XCTAssertEqual(gotF, expectedF, "floats \(rows)×\(cols)")
        }
    }

    /// `qconvStoreChannel` (16 lanes, then the rest one by one) gives `requantizeToU8`'s bytes
    /// and `dequantizeAccumulator`'s floats on extreme accumulators, exact ties (multiplier 0.5),
    /// products past 2^22 (where the vector rounding trick stops being exact), huge, tiny,
    /// infinite and zero multipliers.
    /// `quantizeRow` (16 lanes, then the rest one by one) gives `quantizeToU8`'s bytes: ties of
    /// roundEven, the clamp at both ends, magnitudes past 2^22, infinities and NaN.
    func testQuantizeRowMatchesTheScalarFormula() {
        let rng = Generator(seed: 35)
        var x: [Float] = [0, -0.0, 0.5, 1.5, 2.5, -0.5, -1.5, 127.5, 128.5, 254.5, 255.5, -120.5, 4_194_303.5, 4_194_304.5,
                          8_388_609, -8_388_609, 3e38, -3e38, .infinity, -.infinity, .nan, 1e-30, -1e-30]
        while x.count < 53 { x.append((rng.nextUniform() - 0.3) * 400) }
        for (invScale, zeroPoint) in [(Float(1), Int32(0)), (1, 121), (2, 255), (1.0 / 3, 7), (0.02, 128)] {
            var q = [UInt8](repeating: 7, count: x.count)
            quantizeRow(x, count: x.count, invScale: invScale, zeroPoint: zeroPoint, into: &q)
            XCTAssertEqual(q, x.map { quantizeToU8($0, invScale: invScale, zeroPoint: Float(zeroPoint)) }, "1/s \(invScale) z \(zeroPoint)")
        }
    }

    func testVectorOutputFormulasMatchTheScalarOnes() {
        let rng = Generator(seed: 34)
        var acc: [Int32] = [.min, .max, 0, 1, -1, 3, -3, 5, -5, 255, 256, 511, -511, 1 << 22, (1 << 22) + 1, -(1 << 22) - 3,
                            (1 << 24) + 1, -(1 << 24) - 1, 16_777_217, 1 << 30]
        while acc.count < 53 { acc.append(Int32(truncatingIfNeeded: Int64(rng.next() % 2_000_001) - 1_000_000)) }
        for multiplier: Float in [0.5, 1, 1.0 / 3, 1e-7, 1e9, .infinity, 0, 0.0123] {
            for relu in [false, true] {
                var y = [Float](repeating: 7, count: acc.count)
                y.withUnsafeMutableBufferPointer { yp in
                    qconvStoreChannel(acc, count: acc.count, multiplier: multiplier, output: QGEMMOutput(f32: yp.baseAddress!, ld: 0, relu: relu), at: 0)
                }
                for (i, a) in acc.enumerated() {
                    let e = dequantizeAccumulator(a, multiplier: multiplier, relu: relu)
                    XCTAssertTrue(y[i] == e || (y[i].isNaN && e.isNaN), "f32 \(a)·\(multiplier) relu \(relu): \(y[i]) against \(e)")
                }
                for zeroPoint: Int32 in [0, 121, 255] {
                    var q = [UInt8](repeating: 7, count: acc.count)
                    q.withUnsafeMutableBufferPointer { qp in
                        qconvStoreChannel(acc, count: acc.count, multiplier: multiplier,
                                          output: QGEMMOutput(u8: qp.baseAddress!, ld: 0, relu: relu, zeroPoint: zeroPoint), at: 0)
                    }
                    let low: Float = relu ? Float(zeroPoint) : 0
                    XCTAssertEqual(q, acc.map { requantizeToU8($0, multiplier: multiplier, zeroPoint: Float(zeroPoint), low: low) },
                                   "u8 ·\(multiplier) z \(zeroPoint) relu \(relu)")
                }
            }
        }
    }
}
