import XCTest
@testable import Myelin
@testable import MyelinShared

/// The C runtime's 16-lane rounding to u8 (`roundToBytes16`: its AVX-512 build has its own
/// instructions, which only the C library runs) gives the scalar formulas' bytes: `quantize`
/// on ties of roundEven, both clamps, magnitudes past 2^22, infinities and NaN; `qlinear`'s u8
/// output (`requantize16`) on exact ties, huge and tiny multipliers, accumulators past 2^22 and
/// 2^30, with and without ReLU.
final class QuantizedRoundingRuntimeTests: XCTestCase {
    typealias Op = ModelBundle.Op

    func testQuantizeInCGivesTheScalarFormulasBytes() throws {
        let library = try requireRuntime()
        var x: [Float] = [0, -0.0, 0.5, 1.5, 2.5, -0.5, -1.5, 127.5, 128.5, 254.5, 255.5, -120.5, 4_194_303.5, 4_194_304.5,
                          8_388_609, -8_388_609, 3e38, -3e38, .infinity, -.infinity, .nan, 1e-30, -1e-30, 2_147_483_648, -2_147_483_904,
                          1_073_741_824, 1_200_000_000]
        let rng = Generator(seed: 36)
        while x.count < 48 { x.append((rng.nextUniform() - 0.3) * 400) }
        for (scale, zeroPoint) in [(Float(1), Int32(0)), (1, 121), (0.5, 255), (3, 7), (50, 128)] {
            let values: [ModelBundle.Value] = [.init(name: "x", dtype: .f32, shape: [x.count]),
                                               .init(name: "q", dtype: .u8, shape: [x.count], scale: scale, zeroPoint: zeroPoint),
                                               .init(name: "y", dtype: .f32, shape: [x.count])]
            let bundle = ModelBundle(precision: .f32, tensors: [], values: values, inputs: [0], outputs: [2],
                                     ops: [Op(.quantize, inputs: [0], outputs: [1]), Op(.dequantize, inputs: [1], outputs: [2])])
            let c = try ConvRuntimeTests.runC(library, bundle, [x], n: 1)[0]
            let expected = x.map { scale * Float(Int32(quantizeToU8($0, invScale: quantizationInverseScale(scale), zeroPoint: Float(zeroPoint))) - zeroPoint) }
            XCTAssertEqual(c, expected, "scale \(scale) zero point \(zeroPoint)")
        }
    }

    func testQLinearU8OutputInCGivesTheScalarFormulasBytes() throws {
        let library = try requireRuntime()
        // One input (q = 1 after quantize with scale 1, zero point 0), so acc = bias + w.
        let n = 48
        let extremes: [Int32] = [0, 1, -1, 3, -3, 5, -5, 255, 256, 511, -511, 1 << 22, (1 << 22) + 1, -(1 << 22) - 3,
                                 (1 << 24) + 1, -(1 << 24) - 1, 1 << 30, -(1 << 30), Int32.max - 200, Int32.min + 200]
        let bias: [Int32] = (0..<n).map { (j: Int) -> Int32 in extremes[j % 20] &+ Int32(j * 131 % 1000) }
        let w: [Int8] = (0..<n).map { (j: Int) -> Int8 in Int8(j * 37 % 255 - 127) }
        // Multiplier s_x·s_w / s_y per channel: ties (0.5, 1.5), 1/3, tiny, huge.
        let multipliers: [Float] = [0.5, 1.5, 1.0 / 3, 1e-7, 1e9, 0.0123, 2, 1e-3]
        let scales: [Float] = (0..<n).map { (j: Int) -> Float in multipliers[j % 8] }
        for (sy, zy) in [(Float(1), Int32(0)), (1, 121), (1, 255)] {
            for relu in [false, true] {
                let values: [ModelBundle.Value] = [.init(name: "x", dtype: .f32, shape: [1]),
                                                   .init(name: "q", dtype: .u8, shape: [1], scale: 1, zeroPoint: 0),
                                                   .init(name: "h", dtype: .u8, shape: [n], scale: sy, zeroPoint: zy),
                                                   .init(name: "y", dtype: .f32, shape: [n])]
                let tensors: [ModelBundle.TensorEntry] = [
                    .init(name: "w", dtype: .i8, shape: [n, 1], data: w.map { UInt8(bitPattern: $0) }),
                    .init(name: "s", floats: scales, shape: [n]),
                    .init(name: "b", dtype: .i32, shape: [n], data: bias.withUnsafeBytes { Array($0) }),
                ]
                let ops = [Op(.quantize, inputs: [0], outputs: [1]),
                           Op(.qlinear, inputs: [1], outputs: [2], tensors: [0, 1, 2], attributes: [(.activation, .int(relu ? 1 : 0))]),
                           Op(.dequantize, inputs: [2], outputs: [3])]
                let bundle = ModelBundle(precision: .f32, tensors: tensors, values: values, inputs: [0], outputs: [3], ops: ops)
                let c = try ConvRuntimeTests.runC(library, bundle, [[1, 1, 1]], n: 3)[0]
                let expected = (0..<n).map { j -> Float in
                    let m = qlinearMultiplier(inputScale: 1, weightScale: scales[j], outputScale: sy)
                    let u = requantizeToU8(bias[j] &+ Int32(w[j]), multiplier: m, zeroPoint: Float(zy), low: relu ? Float(zy) : 0)
                    return sy * Float(Int32(u) - zy)
                }
                XCTAssertEqual(c, expected + expected + expected, "zero point \(zy) relu \(relu)")
            }
        }
    }
}

/// qconv2d's bounded flag (`QGEMMOutput.bounded`, worked out at load): u8 outputs whose
/// accumulators, scaled, stay below 2^30 round without the cap in the C runtime's GEMM epilogue;
/// a layer with channels whose scaled accumulators pass 2^31 (weight scale 1 against an output
/// scale of 10^-6) keeps the cap. Both give the integer reference's bytes from C (1×1, 16 → 64
/// channels, batch 2).
final class QuantizedBoundedRuntimeTests: XCTestCase {
    typealias Op = ModelBundle.Op

    func testQConv2dRoundsWithoutTheCapOnlyWhereNoAccumulatorCanReachIt() throws {
        let library = try requireRuntime()
        let g = Generator(seed: 53)
        let weights = (0..<(64 * 16)).map { _ in UInt8(truncatingIfNeeded: Int(g.next() % 255) - 127) }
        let bias = (0..<64).map { _ in Int32(Int(g.next() % 40001) - 20000) }
        for huge in [false, true] {
            // Weight scales: every other channel 1 (multiplier 10^6 against s_y = 10^-6) when `huge`,
            // else 1–5·10^-9 (multipliers 0.001–0.005).
            let scales = (0..<64).map { (c: Int) -> Float in huge && c % 2 == 0 ? 1 : 1e-9 * (1 + Float(c % 5)) }
            let tensors: [ModelBundle.TensorEntry] = [
                .init(name: "w", dtype: .i8, shape: [64, 16, 1, 1], data: weights), .init(name: "s", floats: scales, shape: [64]),
                .init(name: "b", dtype: .i32, shape: [64], data: bias.withUnsafeBytes { Array($0) }),
            ]
            let values: [ModelBundle.Value] = [
                .init(name: "x", dtype: .f32, shape: [16, 3, 5]), .init(name: "xq", dtype: .u8, shape: [16, 3, 5], scale: 1, zeroPoint: 0),
                .init(name: "yq", dtype: .u8, shape: [64, 3, 5], scale: 1e-6, zeroPoint: 40), .init(name: "y", dtype: .f32, shape: [64, 3, 5]),
            ]
            let attributes: [(BundleAttribute, ModelBundle.AttributeValue)] = [
                (.stride, .ints([1, 1])), (.padding, .ints([0, 0, 0, 0])), (.dilation, .ints([1, 1])), (.groups, .int(1))]
            let bundle = ModelBundle(precision: .int8, tensors: tensors, values: values, inputs: [0], outputs: [3],
                                     ops: [Op(.quantize, inputs: [0], outputs: [1]),
                                           Op(.qconv2d, inputs: [1], outputs: [2], tensors: [0, 1, 2], attributes: attributes),
                                           Op(.dequantize, inputs: [2], outputs: [3])])
            let bytes = bundle.encode(compressed: false, packWeights: false)
            var loaded = try bytes.withUnsafeBytes { try LoadedBundle.load($0.baseAddress!, count: $0.count, reference: false) }
            defer { loaded.release() }
            let flag = loaded.model.graph.ops![1].prepared!.load(fromByteOffset: 4 * 64, as: Int32.self)
            XCTAssertEqual(flag, huge ? 0 : 1, "bounded flag, huge multipliers \(huge)")

            let x = (0..<(2 * 16 * 15)).map { i in Float((i * 7919) % 256) }
            let reference = try BundleExecutor(validating: bundle, reference: true).run([x], batch: 2)[0]
            XCTAssertEqual(try ConvRuntimeTests.runC(library, bundle, [x], n: 2)[0], reference, "C, huge multipliers \(huge)")
            XCTAssertGreaterThan(Set(reference).count, huge ? 3 : 30)
            if huge { XCTAssertTrue(reference.contains(1e-6 * Float(255 - 40)), "some scaled accumulators pass 2^31 and give 255") }
        }
    }
}

/// The C runtime's qconv2d GEMM path against the Swift integer reference, batch 3: f32 outputs
/// through `transposeFloats` (blocks of 8 rows × 16 columns in registers in its AVX-512 build):
/// 40 channels (two blocks and 8 columns past them) over 7×7 pixels (six strips and one row past
/// them); and images whose pixel counts leave 2, 3 or 4 rows after the 6-row tiles (the 4-row
/// tile on 64-column panels), with u8 and f32 outputs; u8 transposes of 16-row strips.
final class QuantizedTransposeRuntimeTests: XCTestCase {
    typealias Op = ModelBundle.Op

    func check(inChannels c: Int, outChannels o: Int, height h: Int, width w: Int, u8Output: Bool, seed: UInt64,
               file: StaticString = #filePath, line: UInt = #line) throws {
        let library = try requireRuntime()
        let g = Generator(seed: seed)
        let weights = (0..<(o * c * 9)).map { _ in UInt8(truncatingIfNeeded: Int(g.next() % 255) - 127) }
        let scales = (0..<o).map { _ in 0.002 + g.nextUniform() * 0.01 }
        let bias = (0..<o).map { _ in Int32(Int(g.next() % 4001) - 2000) }
        let tensors: [ModelBundle.TensorEntry] = [
            .init(name: "w", dtype: .i8, shape: [o, c, 3, 3], data: weights), .init(name: "s", floats: scales, shape: [o]),
            .init(name: "b", dtype: .i32, shape: [o], data: bias.withUnsafeBytes { Array($0) }),
        ]
        var values: [ModelBundle.Value] = [.init(name: "x", dtype: .f32, shape: [c, h, w]),
                                           .init(name: "xq", dtype: .u8, shape: [c, h, w], scale: 0.02, zeroPoint: 90),
                                           .init(name: "y", dtype: .f32, shape: [o, h, w])]
        let attributes: [(BundleAttribute, ModelBundle.AttributeValue)] = [
            (.stride, .ints([1, 1])), (.padding, .ints([1, 1, 1, 1])), (.dilation, .ints([1, 1])), (.groups, .int(1))]
        var ops = [Op(.quantize, inputs: [0], outputs: [1]), Op(.qconv2d, inputs: [1], outputs: [2], tensors: [0, 1, 2], attributes: attributes)]
        var output = 2
        if u8Output {
            values[2] = .init(name: "yq", dtype: .u8, shape: [o, h, w], scale: 0.05, zeroPoint: 20)
            values.append(.init(name: "y", dtype: .f32, shape: [o, h, w]))
            ops.append(Op(.dequantize, inputs: [2], outputs: [3]))
            output = 3
        }
        let bundle = ModelBundle(precision: .int8, tensors: tensors, values: values, inputs: [0], outputs: [output], ops: ops)
        let batch = 3
        let x = (0..<(batch * c * h * w)).map { i in Float((i * 7919) % 1000) / 250 - 1.6 }
        let reference = try BundleExecutor(validating: bundle, reference: true).run([x], batch: batch)[0]
        let fromC = try ConvRuntimeTests.runC(library, bundle, [x], n: batch)[0]
        XCTAssertEqual(fromC, reference, "\(c)→\(o) channels on \(h)×\(w), u8 output \(u8Output)", file: file, line: line)
        XCTAssertGreaterThan(Set(reference).count, u8Output ? 20 : 100, "the outputs differ from each other", file: file, line: line)
    }

    func testQConv2dF32OutputsInCEqualTheReference() throws {
        try check(inChannels: 8, outChannels: 40, height: 7, width: 7, u8Output: false, seed: 37)
    }

    /// u8 transposes in 16×16 blocks (`transposeBytes`; registers in the AVX-512 build) with 8×8
    /// blocks and single bytes past them: 32 input planes of 49 and 21 pixels, 40 u8 output channels.
    func testQConv2dByteTransposesInCEqualTheReference() throws {
        try check(inChannels: 32, outChannels: 40, height: 7, width: 7, u8Output: true, seed: 45)
        try check(inChannels: 32, outChannels: 40, height: 3, width: 7, u8Output: true, seed: 46)
    }

    /// Images 1, 2 and 3 pixels wide: each 6-row block of the register tile spans several
    /// output rows of the windows read in place (`QGEMMRows.perLine` below 6), which `qgemm`
    /// steps through row by row.
    func testQConv2dNarrowImagesInCEqualTheReference() throws {
        for (k, (h, w)) in [(9, 1), (7, 2), (5, 3)].enumerated() {
            for u8Output in [false, true] {
                try check(inChannels: 8, outChannels: 24, height: h, width: w, u8Output: u8Output, seed: UInt64(50 + k))
            }
        }
    }

    func testQConv2dTailRowsInCEqualTheReference() throws {
        for (k, (h, w)) in [(4, 4), (3, 3), (2, 4), (5, 2)].enumerated() {
            for u8Output in [false, true] {
                try check(inChannels: 8, outChannels: 72, height: h, width: w, u8Output: u8Output, seed: UInt64(38 + k))
            }
        }
    }
}
