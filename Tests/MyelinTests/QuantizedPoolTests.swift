import XCTest
@testable import Myelin
@testable import MyelinShared

/// `max_pool2d` on u8 values (the int8 exports keep activations u8 through max pooling): the
/// codes against a naive max over the documented quantisation, and against quantising the f32
/// pooling (max commutes with the monotone quantisation, so the two are equal), in C and in
/// Swift; damaged u8 pooling bundles get the same status from both readers; an int8 CNN export
/// runs its pools in u8 with no f32 round trip, C equal to the Swift integer reference.
final class QuantizedPoolTests: XCTestCase {
    typealias Op = ModelBundle.Op
    static let ints = ConvMalformedTests.ints

    /// quantize (scale, zero point) → max_pool2d u8 → dequantize, per sample [c, h, w] → [c, oh, ow].
    static func chain(c: Int, h: Int, w: Int, kernel: (Int, Int), stride: (Int, Int), pads: [Int], dilation: (Int, Int),
                      scale: Float = 0.03, zeroPoint: Int32 = 100) -> ModelBundle {
        let oh = (h + pads[0] + pads[2] - dilation.0 * (kernel.0 - 1) - 1) / stride.0 + 1
        let ow = (w + pads[1] + pads[3] - dilation.1 * (kernel.1 - 1) - 1) / stride.1 + 1
        let values: [ModelBundle.Value] = [
            .init(name: "x", dtype: .f32, shape: [c, h, w]),
            .init(name: "xq", dtype: .u8, shape: [c, h, w], scale: scale, zeroPoint: zeroPoint),
            .init(name: "pq", dtype: .u8, shape: [c, oh, ow], scale: scale, zeroPoint: zeroPoint),
            .init(name: "y", dtype: .f32, shape: [c, oh, ow]),
        ]
        let ops = [Op(.quantize, inputs: [0], outputs: [1]),
                   Op(.maxPool2d, inputs: [1], outputs: [2],
                      attributes: [(.kernel, ints(kernel.0, kernel.1)), (.stride, ints(stride.0, stride.1)),
                                   (.padding, .ints(pads.map { Int64($0) })), (.dilation, ints(dilation.0, dilation.1))]),
                   Op(.dequantize, inputs: [2], outputs: [3])]
        return ModelBundle(precision: .int8, tensors: [], values: values, inputs: [0], outputs: [3], ops: ops)
    }

    /// The documented quantisation: clamp(roundEven(x · (1/s)) + z, 0, 255).
    static func code(_ x: Float, scale: Float, zeroPoint: Int32) -> Int32 {
        let v = (x * (1 / scale)).rounded(.toNearestOrEven)
        return Int32(Swift.max(0, Swift.min(255, v + Float(zeroPoint))))
    }

    func testU8MaxPoolingEqualsTheNaiveMaxOfTheCodesAndTheQuantisedFloatPooling() throws {
        let library = try requireRuntime()
        struct Case { var h, w, kh, kw, sh, sw: Int; var pads: [Int]; var dh, dw: Int }
        let cases = [
            Case(h: 26, w: 26, kh: 2, kw: 2, sh: 2, sw: 2, pads: [0, 0, 0, 0], dh: 1, dw: 1),   // 13 wide: 8 + overlapping 8
            Case(h: 8, w: 40, kh: 2, kw: 2, sh: 2, sw: 2, pads: [0, 0, 0, 0], dh: 1, dw: 1),    // 20 wide
            Case(h: 9, w: 17, kh: 2, kw: 2, sh: 2, sw: 2, pads: [0, 0, 0, 0], dh: 1, dw: 1),    // odd sizes: last row/column unused
            Case(h: 6, w: 10, kh: 2, kw: 2, sh: 2, sw: 2, pads: [0, 0, 0, 0], dh: 1, dw: 1),    // 5 wide: 4 + overlapping 4
            Case(h: 6, w: 6, kh: 2, kw: 2, sh: 2, sw: 2, pads: [0, 0, 0, 0], dh: 1, dw: 1),     // narrower than 4
            Case(h: 5, w: 5, kh: 2, kw: 2, sh: 2, sw: 2, pads: [0, 0, 1, 1], dh: 1, dw: 1),
            Case(h: 11, w: 12, kh: 3, kw: 3, sh: 2, sw: 2, pads: [1, 1, 1, 1], dh: 1, dw: 1),
            Case(h: 7, w: 9, kh: 3, kw: 2, sh: 2, sw: 3, pads: [1, 0, 0, 1], dh: 2, dw: 3),
            Case(h: 4, w: 4, kh: 3, kw: 3, sh: 1, sw: 1, pads: [1, 1, 1, 1], dh: 2, dw: 2),
            Case(h: 10, w: 31, kh: 2, kw: 2, sh: 2, sw: 2, pads: [0, 0, 0, 0], dh: 1, dw: 1),   // even height, rows ≤ 32: a row per step, odd width
            Case(h: 4, w: 32, kh: 2, kw: 2, sh: 2, sw: 2, pads: [0, 0, 0, 0], dh: 1, dw: 1),    // 16 outputs a row, rows of exactly 32
            Case(h: 12, w: 9, kh: 2, kw: 2, sh: 2, sw: 2, pads: [0, 0, 0, 0], dh: 1, dw: 1),    // 4 wide: 12 bytes of each store rewritten
            Case(h: 2, w: 5, kh: 2, kw: 1, sh: 1, sw: 1, pads: [1, 0, 1, 0], dh: 3, dw: 1),     // rows -1 and 2: wholly in the padding
        ]
        let scale: Float = 0.03, zeroPoint: Int32 = 100
        for (k, t) in cases.enumerated() {
            let c = 3, n = 2
            let b = Self.chain(c: c, h: t.h, w: t.w, kernel: (t.kh, t.kw), stride: (t.sh, t.sw), pads: t.pads, dilation: (t.dh, t.dw),
                               scale: scale, zeroPoint: zeroPoint)
            let oh = b.values[2].shape[1], ow = b.values[2].shape[2]
            // Values over the whole u8 range and beyond (clamped codes), with ties.
            var x = Tensor.uniform([n, c, t.h, t.w], low: -4, high: 6, generator: Generator(seed: UInt64(40 + k))).data
            for i in stride(from: 0, to: x.count, by: 7) { x[i] = x[Swift.max(0, i - 1)] }
            var expected: [Float] = [], emptyWindows = 0
            for plane in 0..<(n * c) {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var best: Int32 = 0, taps = 0
                        for i in 0..<t.kh {
                            for j in 0..<t.kw {
                                let iy = oy * t.sh - t.pads[0] + i * t.dh, ix = ox * t.sw - t.pads[1] + j * t.dw
                                guard iy >= 0 && iy < t.h && ix >= 0 && ix < t.w else { continue }
                                best = Swift.max(best, Self.code(x[(plane * t.h + iy) * t.w + ix], scale: scale, zeroPoint: zeroPoint))
                                taps += 1
                            }
                        }
                        if taps == 0 { emptyWindows += 1 }
                        expected.append(scale * Float(best - zeroPoint))
                    }
                }
            }
            if k == cases.count - 1 { XCTAssertGreaterThan(emptyWindows, 0, "the last case has windows wholly in the padding") }
            XCTAssertEqual(try ConvRuntimeTests.runC(library, b, [x], n: n)[0], expected, "case \(k): C")
            XCTAssertEqual(BundleExecutor(b, reference: false).run(x, batch: n), expected, "case \(k): Swift kernels")
            XCTAssertEqual(BundleExecutor(b, reference: true).run(x, batch: n), expected, "case \(k): Swift reference")
            // The same as pooling in f32 and quantising after (windows with an input element).
            if emptyWindows == 0 {
                var f = b
                f.values[1] = .init(name: "p", dtype: .f32, shape: b.values[2].shape)
                f.values[2] = .init(name: "pq", dtype: .u8, shape: b.values[2].shape, scale: scale, zeroPoint: zeroPoint)
                var pool = b.ops[1]
                pool.inputs = [0]; pool.outputs = [1]
                f.ops = [pool,
                         Op(.quantize, inputs: [1], outputs: [2]), Op(.dequantize, inputs: [2], outputs: [3])]
                XCTAssertEqual(try ConvRuntimeTests.runC(library, f, [x], n: n)[0], expected, "case \(k): f32 pooling, then quantize")
            }
        }
    }

    func testDamagedU8PoolingGetsItsStatusInSwiftAndC() throws {
        let library = try requireRuntime()
        let base = Self.chain(c: 2, h: 6, w: 6, kernel: (2, 2), stride: (2, 2), pads: [0, 0, 0, 0], dilation: (1, 1))
        func status(_ b: ModelBundle) -> BundleStatus {
            do { _ = try ModelBundle(decoding: b.encode()); return .ok } catch { return (error as? BundleError)?.status ?? .io }
        }
        func expect(_ b: ModelBundle, _ expected: BundleStatus, _ label: String, line: UInt = #line) {
            XCTAssertEqual(status(b), expected, label, line: line)
            XCTAssertEqual(library.loadStatus(b.encode()), expected.rawValue, label, line: line)
        }
        expect(base, .ok, "valid u8 pooling")
        var b = base; b.values[2].scale = 0.031
        expect(b, .unsupported, "u8 max_pool2d output of another scale")
        b = base; b.values[2].zeroPoint = 99
        expect(b, .unsupported, "u8 max_pool2d output of another zero point")
        b = base; b.values[2] = .init(name: "pf", dtype: .f32, shape: [2, 3, 3]); b.ops[2] = Op(.relu, inputs: [2], outputs: [3])
        expect(b, .unsupported, "u8 max_pool2d writing f32")
        b = base; b.values.append(.init(name: "i", dtype: .i32, shape: [2, 3, 3])); b.ops[1].outputs.append(4); b.outputs.append(4)
        expect(b, .unsupported, "u8 max_pool2d with indices")
        b = base; b.ops[1] = Op(.avgPool2d, inputs: [1], outputs: [2],
                                attributes: [(.kernel, Self.ints(2, 2)), (.stride, Self.ints(2, 2)), (.padding, Self.ints(0, 0, 0, 0))])
        expect(b, .unsupported, "avg_pool2d on u8")
        b = base; b.values[2].shape = [2, 2, 3]; b.values[3].shape = [2, 2, 3]
        expect(b, .shapeMismatch, "u8 max_pool2d declared output of another size")
        b = base; b.ops[1].attributes[1] = (BundleAttribute.stride.rawValue, Self.ints(0, 2))
        expect(b, .corrupt, "u8 max_pool2d zero stride")
        b = base; b.ops[1].attributes[2] = (BundleAttribute.padding.rawValue, Self.ints(2, 0, 0, 0))
        expect(b, .corrupt, "u8 max_pool2d padding beyond half the window")
    }

    /// quantize → channel_shuffle u8 → dequantize is the f32 shuffle of the quantised values, in
    /// C and in Swift; another scale or zero point on the output is refused by both readers.
    func testU8ChannelShuffleMovesCodesAndRefusesAnotherScale() throws {
        let library = try requireRuntime()
        let c = 6, groups = 3, inner = 5, n = 2, scale: Float = 0.05, zeroPoint: Int32 = 17
        let values: [ModelBundle.Value] = [
            .init(name: "x", dtype: .f32, shape: [c, 1, inner]),
            .init(name: "xq", dtype: .u8, shape: [c, 1, inner], scale: scale, zeroPoint: zeroPoint),
            .init(name: "sq", dtype: .u8, shape: [c, 1, inner], scale: scale, zeroPoint: zeroPoint),
            .init(name: "y", dtype: .f32, shape: [c, 1, inner]),
        ]
        let b = ModelBundle(precision: .int8, tensors: [], values: values, inputs: [0], outputs: [3],
                            ops: [Op(.quantize, inputs: [0], outputs: [1]), Op(.channelShuffle, inputs: [1], outputs: [2], attributes: [(.groups, .int(Int64(groups)))]),
                                  Op(.dequantize, inputs: [2], outputs: [3])])
        let x = Tensor.uniform([n, c, 1, inner], low: -1, high: 12, generator: Generator(seed: 3)).data
        var expected = [Float](repeating: 0, count: x.count)
        for s in 0..<n {
            for o in 0..<c {
                let source = (o % groups) * (c / groups) + o / groups
                for i in 0..<inner {
                    expected[(s * c + o) * inner + i] = scale * Float(Self.code(x[(s * c + source) * inner + i], scale: scale, zeroPoint: zeroPoint) - zeroPoint)
                }
            }
        }
        XCTAssertEqual(try ConvRuntimeTests.runC(library, b, [x], n: n)[0], expected, "C")
        XCTAssertEqual(BundleExecutor(b, reference: false).run(x, batch: n), expected, "Swift")
        var damaged = b
        damaged.values[2].scale = 0.04
        XCTAssertEqual(library.loadStatus(damaged.encode()), BundleStatus.unsupported.rawValue)
        XCTAssertThrowsError(try ModelBundle(decoding: damaged.encode())) { XCTAssertEqual(($0 as? BundleError)?.status, .unsupported) }
        damaged = b
        damaged.values[2].zeroPoint = 18
        XCTAssertEqual(library.loadStatus(damaged.encode()), BundleStatus.unsupported.rawValue)
    }

    /// ShuffleNet-mini exported in int8 keeps its channel shuffles u8 (no f32 round trip
    /// around them); C equals the Swift integer reference.
    func testShuffleNetInt8KeepsChannelShuffleInU8() throws {
        let library = try requireRuntime()
        let model = ModelZoo.make("shufflenet", generator: Generator(seed: 4))
        ConvRuntimeTests.randomizeBatchNorms(model, seed: 5)
        model.eval()
        let x = Tensor.uniform([32, 1, 28, 28], generator: Generator(seed: 6))
        var options = BundleExporter.Options(precision: .int8)
        options.calibration = x
        let bundle = try BundleExporter.export(model, options: options)
        let shuffles = bundle.ops.filter { $0.code == .channelShuffle }
        XCTAssertFalse(shuffles.isEmpty)
        for s in shuffles {
            XCTAssertEqual(bundle.values[s.inputs[0]].dtype, BundleDType.u8.rawValue, "shuffle input u8")
            XCTAssertEqual(bundle.values[s.outputs[0]].dtype, BundleDType.u8.rawValue, "shuffle output u8")
        }
        let n = 4, input = Array(x.data[0..<(n * 784)])
        XCTAssertEqual(try ConvRuntimeTests.runC(library, bundle, [input], n: n)[0], BundleExecutor(bundle, reference: true).run(input, batch: n))
    }

    /// conv → ReLU → max pool → conv → ReLU → max pool → flatten → linear, exported in int8:
    /// the pools read and write u8 (one quantize at the input, no dequantize), C equals the
    /// Swift integer reference, and the argmax agrees with float.
    func testInt8CNNExportKeepsU8ThroughMaxPooling() throws {
        let library = try requireRuntime()
        let g = Generator(seed: 7)
        let model = Sequential(Conv2d(1, 6, kernelSize: 3, generator: g), ReLU(), MaxPool2d(kernelSize: 2),
                               Conv2d(6, 8, kernelSize: 3, generator: g), ReLU(), MaxPool2d(kernelSize: 2),
                               Flatten(), Linear(8 * 5 * 5, 10, generator: g))
        model.eval()
        let x = Tensor.uniform([64, 1, 28, 28], generator: Generator(seed: 8))
        var options = BundleExporter.Options(precision: .int8)
        options.calibration = x
        let bundle = try BundleExporter.export(model, options: options)
        let pools = bundle.ops.filter { $0.code == .maxPool2d }
        XCTAssertEqual(pools.count, 2)
        for p in pools {
            XCTAssertEqual(bundle.values[p.inputs[0]].dtype, BundleDType.u8.rawValue, "pool input u8")
            XCTAssertEqual(bundle.values[p.outputs[0]].dtype, BundleDType.u8.rawValue, "pool output u8")
        }
        XCTAssertEqual(bundle.ops.filter { $0.code == .quantize }.count, 1, "only the input is quantised")
        XCTAssertFalse(bundle.ops.contains { $0.code == .dequantize }, "no f32 round trip")
        let n = 16
        let input = Array(x.data[0..<(n * 784)])
        let c = try ConvRuntimeTests.runC(library, bundle, [input], n: n)[0]
        XCTAssertEqual(c, BundleExecutor(bundle, reference: true).run(input, batch: n), "C equals the Swift integer reference")
        let float = noGrad { model(x.rows(0..<n)) }.data
        func argmax(_ v: [Float], _ i: Int) -> Int { (0..<10).max { v[i * 10 + $0] < v[i * 10 + $1] }! }
        let agree = (0..<n).filter { argmax(c, $0) == argmax(float, $0) }.count
        XCTAssertGreaterThanOrEqual(agree, n - 1, "int8 argmax agrees with float")
    }
}
