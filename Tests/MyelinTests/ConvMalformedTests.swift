import XCTest
@testable import Myelin
@testable import MyelinShared

/// Every attribute of every convolutional-family op, damaged: each bundle gets its documented
/// status (docs/bundle-format.md) from the Swift reader and from the C runtime alike, and
/// neither crashes. Each damage starts from a small valid bundle of the op.
final class ConvMalformedTests: XCTestCase {
    typealias Attributes = [(BundleAttribute, ModelBundle.AttributeValue)]

    /// One op reading graph inputs `inputs` (dtype, per-sample shape) and writing `outputs`.
    static func single(_ code: BundleOpCode, inputs: [(BundleDType, [Int])], outputs: [(BundleDType, [Int])],
                       tensors: [(BundleDType, [Int])] = [], _ attributes: Attributes) -> ModelBundle {
        let g = Generator(seed: 1)
        let entries = tensors.enumerated().map { i, t -> ModelBundle.TensorEntry in
            let data = Tensor.randn([t.1.reduce(1, *)], generator: g).data
            if t.0 == .f32 { return .init(name: "t\(i)", floats: data, shape: t.1) }
            let bytes: [UInt8] = t.0 == .f16 ? data.map(floatToHalfBits).withUnsafeBytes { Array($0) }
                : [UInt8](repeating: 1, count: t.1.reduce(1, *) * t.0.size)
            return .init(name: "t\(i)", dtype: t.0, shape: t.1, data: bytes)
        }
        let values = inputs.enumerated().map { ModelBundle.Value(name: "in\($0.offset)", dtype: $0.element.0, shape: $0.element.1) }
            + outputs.enumerated().map { ModelBundle.Value(name: "out\($0.offset)", dtype: $0.element.0, shape: $0.element.1) }
        let ins = Array(0..<inputs.count), outs = Array(inputs.count..<(inputs.count + outputs.count))
        return ModelBundle(precision: .f32, tensors: entries, values: values, inputs: ins, outputs: outs,
                           ops: [.init(code, inputs: ins, outputs: outs, tensors: Array(0..<tensors.count), attributes: attributes)])
    }

    static func ints(_ v: Int...) -> ModelBundle.AttributeValue { .ints(v.map { Int64($0) }) }

    /// Valid bundles, one per op (name, bundle).
    static func bases() -> [(String, ModelBundle)] {
        [
            ("conv2d", single(.conv2d, inputs: [(.f32, [4, 5, 5])], outputs: [(.f32, [6, 5, 5])], tensors: [(.f32, [6, 2, 3, 3]), (.f32, [6])],
                              [(.stride, ints(1, 1)), (.padding, ints(1, 1, 1, 1)), (.dilation, ints(1, 1)), (.groups, .int(2))])),
            ("conv2d-f16", single(.conv2d, inputs: [(.f32, [4, 5, 5])], outputs: [(.f32, [6, 3, 3])], tensors: [(.f16, [6, 4, 3, 3])],
                                  [(.stride, ints(2, 2)), (.padding, ints(1, 1, 1, 1)), (.dilation, ints(1, 1)), (.activation, .int(1))])),
            ("conv_transpose2d", single(.convTranspose2d, inputs: [(.f32, [4, 3, 3])], outputs: [(.f32, [3, 6, 6])],
                                        tensors: [(.f32, [4, 3, 3, 3]), (.f32, [3])],
                                        [(.stride, ints(2, 2)), (.padding, ints(1, 1, 1, 1)), (.outputPadding, ints(1, 1)),
                                         (.dilation, ints(1, 1))])),
            ("max_pool2d", single(.maxPool2d, inputs: [(.f32, [2, 6, 6])], outputs: [(.f32, [2, 3, 3]), (.i32, [2, 3, 3])],
                                  [(.kernel, ints(2, 2)), (.stride, ints(2, 2)), (.padding, ints(0, 0, 0, 0)), (.dilation, ints(1, 1))])),
            ("avg_pool2d", single(.avgPool2d, inputs: [(.f32, [2, 6, 6])], outputs: [(.f32, [2, 3, 3])],
                                  [(.kernel, ints(3, 3)), (.stride, ints(2, 2)), (.padding, ints(1, 1, 1, 1)), (.countIncludePad, .int(0))])),
            ("adaptive_avg_pool2d", single(.adaptiveAvgPool2d, inputs: [(.f32, [2, 6, 6])], outputs: [(.f32, [2, 4, 4])],
                                           [(.outputSize, ints(4, 4))])),
            ("max_unpool2d", single(.maxUnpool2d, inputs: [(.f32, [2, 3, 3]), (.i32, [2, 3, 3])], outputs: [(.f32, [2, 6, 6])],
                                    [(.outputSize, ints(6, 6))])),
            ("upsample_nearest2d", single(.upsampleNearest2d, inputs: [(.f32, [2, 3, 3])], outputs: [(.f32, [2, 6, 9])],
                                          [(.scale, ints(2, 3))])),
            ("channel_shuffle", single(.channelShuffle, inputs: [(.f32, [4, 3, 3])], outputs: [(.f32, [4, 3, 3])], [(.groups, .int(2))])),
        ]
    }

    func swiftStatus(_ b: ModelBundle) -> BundleStatus {
        do {
            _ = try ModelBundle(decoding: b.encode())
            return .ok
        } catch {
            return (error as? BundleError)?.status ?? .io
        }
    }

    func testValidBundlesLoad() throws {
        let library = try requireRuntime()
        for (name, b) in Self.bases() {
            XCTAssertEqual(swiftStatus(b), .ok, name)
            XCTAssertEqual(library.loadStatus(b.encode()), 0, name)
        }
    }

    /// Memory a load allocates stays a function of what the file stores: many ops that each
    /// widen one stored weight into their own block are refused past 5 × DATA + 1 MiB,
    /// while the same chain of a few ops loads.
    func testManyOpsWideningOneStoredWeightAreRefused() throws {
        let library = try requireRuntime()
        func chain(_ count: Int) -> ModelBundle {
            var b = Self.single(.conv2d, inputs: [(.f32, [16, 8, 8])], outputs: [(.f32, [16, 8, 8])], tensors: [(.f16, [16, 16, 3, 3])],
                                [(.stride, Self.ints(1, 1)), (.padding, Self.ints(1, 1, 1, 1)), (.dilation, Self.ints(1, 1))])
            let template = b.ops[0]
            b.values = [b.values[0]]
            b.ops = []
            for i in 0..<count {
                b.values.append(.init(name: "v\(i + 1)", dtype: .f32, shape: [16, 8, 8]))
                var op = template
                op.inputs = [i]
                op.outputs = [i + 1]
                b.ops.append(op)
            }
            b.outputs = [count]
            return b
        }
        // Each op's block: 16·16·9 f32 = 9 KiB; DATA holds 4.5 KiB of f16. 8 ops fit in 1 MiB + 5 × DATA; 200 do not.
        XCTAssertEqual(swiftStatus(chain(8)), .ok)
        XCTAssertEqual(library.loadStatus(chain(8).encode()), 0)
        XCTAssertEqual(swiftStatus(chain(200)), .limitExceeded)
        XCTAssertEqual(library.loadStatus(chain(200).encode()), BundleStatus.limitExceeded.rawValue)
    }

    func testDamagedAttributesGetTheirStatus() throws {
        let library = try requireRuntime()
        let bases = Dictionary(uniqueKeysWithValues: Self.bases())
        var count = 0
        /// `base` with attribute `key` set to `value` (nil: removed).
        func check(_ base: String, _ key: BundleAttribute, _ value: ModelBundle.AttributeValue?, _ expected: BundleStatus,
                   line: UInt = #line) {
            var b = bases[base]!
            b.ops[0].attributes.removeAll { $0.key == key.rawValue }
            if let value { b.ops[0].attributes.append((key.rawValue, value)) }
            let label = "\(base) \(key.name)=\(value.map { "\($0)" } ?? "missing")"
            XCTAssertEqual(swiftStatus(b), expected, label, line: line)
            XCTAssertEqual(library.loadStatus(b.encode()), expected.rawValue, label, line: line)
            count += 1
        }
        let ints = Self.ints
        for conv in ["conv2d", "conv_transpose2d"] {
            check(conv, .stride, ints(0, 1), .corrupt)
            check(conv, .stride, ints(1, -2), .corrupt)
            check(conv, .stride, ints(1), .corrupt)
            check(conv, .stride, ints(1 << 40, 1), .corrupt)
            check(conv, .stride, .int(1), .corrupt)
            check(conv, .stride, nil, .corrupt)
            check(conv, .dilation, ints(0, 1), .corrupt)
            check(conv, .dilation, ints(1, -1), .corrupt)
            check(conv, .dilation, ints(1, 1, 1), .corrupt)
            check(conv, .padding, ints(-1, 1, 1, 1), .corrupt)
            check(conv, .padding, ints(1, 1), .corrupt)
            check(conv, .padding, ints(1, 1, 3, 1), .shapeMismatch) // beyond the 3-tap kernel's extent
            check(conv, .groups, .int(0), .corrupt)
            check(conv, .groups, .int(-2), .corrupt)
            check(conv, .groups, .int(3), .shapeMismatch)            // does not divide 4 channels
            check(conv, .activation, .int(7), .unsupported)
            check(conv, .axis, .int(0), .unsupported)                // a key the op does not take
        }
        check("conv2d", .groups, .int(4), .shapeMismatch)            // divides 4 inputs, not the weight's 2 per group
        check("conv2d", .stride, ints(2, 1), .shapeMismatch)         // the declared output is no longer the result
        check("conv2d", .dilation, ints(2, 2), .shapeMismatch)
        check("conv2d", .padding, ints(0, 0, 0, 0), .shapeMismatch)
        check("conv2d-f16", .padding, ints(3, 3, 3, 3), .shapeMismatch)
        check("conv_transpose2d", .outputPadding, ints(2, 1), .corrupt)   // not below the stride
        check("conv_transpose2d", .outputPadding, ints(-1, 1), .corrupt)
        check("conv_transpose2d", .outputPadding, ints(1), .corrupt)
        check("conv_transpose2d", .outputPadding, nil, .corrupt)
        check("conv_transpose2d", .outputPadding, ints(0, 1), .shapeMismatch)
        for pool in ["max_pool2d", "avg_pool2d"] {
            check(pool, .kernel, ints(0, 2), .corrupt)
            check(pool, .kernel, ints(2), .corrupt)
            check(pool, .kernel, ints(7, 7), .shapeMismatch)          // larger than the (padded) input, or another output size
            check(pool, .kernel, nil, .corrupt)
            check(pool, .stride, ints(0, 2), .corrupt)
            check(pool, .stride, ints(2, 3), .shapeMismatch)
            check(pool, .padding, ints(-1, 0, 0, 0), .corrupt)
            check(pool, .padding, ints(2, 2, 2, 2), .corrupt)          // more than half the kernel
            check(pool, .groups, .int(1), .unsupported)
        }
        check("max_pool2d", .dilation, ints(0, 1), .corrupt)
        check("max_pool2d", .dilation, ints(3, 3), .shapeMismatch)
        check("max_pool2d", .kernel, ints(3, 3), .shapeMismatch)      // output would be 2 × 2
        check("avg_pool2d", .countIncludePad, .int(2), .corrupt)
        check("avg_pool2d", .countIncludePad, .int(-1), .corrupt)
        check("avg_pool2d", .dilation, ints(1, 1), .unsupported)
        check("avg_pool2d", .countIncludePad, .float(1), .corrupt)
        for (op, key) in [("adaptive_avg_pool2d", BundleAttribute.outputSize), ("max_unpool2d", .outputSize), ("upsample_nearest2d", .scale)] {
            check(op, key, ints(0, 1), .corrupt)
            check(op, key, ints(-3, 1), .corrupt)
            check(op, key, ints(2), .corrupt)
            check(op, key, nil, .corrupt)
            check(op, key, ints(5, 5), .shapeMismatch)
            check(op, key, ints(1 << 30, 1), .corrupt)
        }
        check("channel_shuffle", .groups, .int(0), .corrupt)
        check("channel_shuffle", .groups, .int(-1), .corrupt)
        check("channel_shuffle", .groups, .int(3), .shapeMismatch)
        check("channel_shuffle", .groups, nil, .corrupt)
        check("channel_shuffle", .groups, .int(1 << 40), .corrupt)
        XCTAssertEqual(count, 92, "every damage above was tried")
    }

    /// Operands that do not fit: wrong counts, dtypes, ranks and sizes.
    func testDamagedOperandsGetTheirStatus() throws {
        let library = try requireRuntime()
        let bases = Dictionary(uniqueKeysWithValues: Self.bases())
        func expect(_ b: ModelBundle, _ expected: BundleStatus, _ label: String, line: UInt = #line) {
            XCTAssertEqual(swiftStatus(b), expected, label, line: line)
            XCTAssertEqual(library.loadStatus(b.encode()), expected.rawValue, label, line: line)
        }
        var b = bases["conv2d"]!
        b.tensors[1].shape = [5]; b.tensors[1].data = Array(b.tensors[1].data[0..<20])
        expect(b, .shapeMismatch, "conv2d bias of 5 for 6 outputs")
        b = bases["conv2d"]!; b.ops[0].tensors = [0, 1, 1]
        expect(b, .corrupt, "conv2d with three tensors")
        b = bases["conv2d"]!; b.ops[0].tensors = []
        expect(b, .corrupt, "conv2d without a weight")
        b = bases["conv2d"]!; b.tensors[0].dtype = BundleDType.i8.rawValue; b.tensors[0].data = [UInt8](repeating: 0, count: 6 * 2 * 9)
        expect(b, .unsupported, "conv2d with i8 weights")
        b = bases["conv2d"]!; b.values[0].shape = [4, 25]
        expect(b, .shapeMismatch, "conv2d on a rank-2 value")
        b = bases["conv2d"]!; b.values[0].shape = [4, 2, 2]; b.values[1].shape = [6, 2, 2]; b.ops[0].attributes.removeAll { $0.key == BundleAttribute.padding.rawValue }
        b.ops[0].attributes.append((BundleAttribute.padding.rawValue, Self.ints(0, 0, 0, 0)))
        expect(b, .shapeMismatch, "conv2d kernel 3 × 3 larger than the 2 × 2 input")
        b = bases["conv2d"]!; b.values[1].shape = [6, 5, 4]
        expect(b, .shapeMismatch, "conv2d declared output of another size")
        b = bases["conv2d"]!; b.values[1].shape = [7, 5, 5]
        expect(b, .shapeMismatch, "conv2d output channels unlike the weight's")
        b = bases["conv_transpose2d"]!; b.values[0].shape = [5, 3, 3]
        expect(b, .shapeMismatch, "conv_transpose2d input channels unlike the weight's")
        b = bases["conv_transpose2d"]!; b.values[1].shape = [3, 7, 6]
        expect(b, .shapeMismatch, "conv_transpose2d declared output of another size")
        b = bases["max_pool2d"]!; b.values[2].dtype = BundleDType.f32.rawValue
        expect(b, .unsupported, "max_pool2d f32 indices")
        b = bases["max_pool2d"]!; b.values[2].shape = [2, 9]
        expect(b, .shapeMismatch, "max_pool2d indices of another shape")
        b = bases["max_pool2d"]!; b.values[1].shape = [2, 2, 2]; b.values[2].shape = [2, 2, 2]
        expect(b, .shapeMismatch, "max_pool2d declared output of another size")
        b = bases["max_pool2d"]!; b.values[0].shape = [2, 1, 1]
        expect(b, .shapeMismatch, "max_pool2d window larger than its input")
        b = bases["avg_pool2d"]!; b.values.append(.init(name: "extra", dtype: .i32, shape: [2, 3, 3])); b.outputs.append(2); b.ops[0].outputs.append(2)
        expect(b, .corrupt, "avg_pool2d with indices")
        b = bases["max_unpool2d"]!; b.values[1].dtype = BundleDType.f32.rawValue
        expect(b, .unsupported, "max_unpool2d f32 indices")
        b = bases["max_unpool2d"]!; b.values[1].shape = [2, 3, 2]
        expect(b, .shapeMismatch, "max_unpool2d indices of another shape")
        b = bases["max_unpool2d"]!; b.ops[0].inputs = [0]
        expect(b, .corrupt, "max_unpool2d without indices")
        b = bases["upsample_nearest2d"]!; b.values[1].shape = [3, 6, 9]
        expect(b, .shapeMismatch, "upsample_nearest2d channels changed")
        b = bases["channel_shuffle"]!; b.values[1].shape = [4, 9]
        expect(b, .shapeMismatch, "channel_shuffle output reshaped")
        b = bases["adaptive_avg_pool2d"]!; b.values[1].dtype = BundleDType.u8.rawValue; b.values[1].scale = 1
        expect(b, .unsupported, "adaptive_avg_pool2d u8 output")
    }

    /// max_unpool2d handed indices from the caller, outside the plane or negative: they are
    /// skipped, the rest placed, no crash (C runtime and Swift executor agree).
    func testUnpoolSkipsIndicesOutsideThePlane() throws {
        let library = try requireRuntime()
        let b = Self.bases().first { $0.0 == "max_unpool2d" }!.1
        let values = (0..<18).map { Float($0 + 1) }
        let raw: [Int32] = [0, 35, 36, -1, Int32.max, Int32.min, 7, 7, 100, 5, 6, 0, 1, 2, 3, 4, 40, 8]
        let indices = raw.map { Float(bitPattern: UInt32(bitPattern: $0)) }
        var expected = [Float](repeating: 0, count: 72)
        for i in 0..<18 where raw[i] >= 0 && raw[i] < 36 { expected[(i / 9) * 36 + Int(raw[i])] = values[i] }
        let c = try ConvRuntimeTests.runC(library, b, [values, indices], n: 1)
        XCTAssertEqual(c[0], expected)
        XCTAssertEqual(BundleExecutor(b).run([.f32(values), .i32(raw)], batch: 1)[0].floats, expected)
    }
}

/// Pooling windows a bundle may declare but training never makes (bottom/right padding only,
/// dilation, windows partly outside): the runtime reads nothing outside the input and matches
/// a naive computation, in C and in Swift.
final class PoolEdgeTests: XCTestCase {
    func testAsymmetricPaddingAndDilationMatchNaivePooling() throws {
        let library = try requireRuntime()
        struct Case { var h, w, kh, kw, sh, sw: Int; var pads: [Int]; var dh, dw: Int }
        let cases = [
            Case(h: 5, w: 5, kh: 2, kw: 2, sh: 2, sw: 2, pads: [0, 0, 1, 1], dh: 1, dw: 1),
            Case(h: 7, w: 9, kh: 3, kw: 2, sh: 2, sw: 3, pads: [1, 0, 0, 1], dh: 2, dw: 3),
            Case(h: 4, w: 17, kh: 2, kw: 2, sh: 2, sw: 2, pads: [0, 0, 0, 1], dh: 1, dw: 1),
        ]
        for (k, t) in cases.enumerated() {
            let oh = (t.h + t.pads[0] + t.pads[2] - t.dh * (t.kh - 1) - 1) / t.sh + 1
            let ow = (t.w + t.pads[1] + t.pads[3] - t.dw * (t.kw - 1) - 1) / t.sw + 1
            let c = 3, x = Tensor.randn([2, c, t.h, t.w], generator: Generator(seed: UInt64(80 + k))).data
            var expected: [Float] = []
            for plane in 0..<(2 * c) {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var best = -Float.infinity
                        for i in 0..<t.kh {
                            for j in 0..<t.kw {
                                let iy = oy * t.sh - t.pads[0] + i * t.dh, ix = ox * t.sw - t.pads[1] + j * t.dw
                                if iy >= 0 && iy < t.h && ix >= 0 && ix < t.w { best = Swift.max(best, x[(plane * t.h + iy) * t.w + ix]) }
                            }
                        }
                        expected.append(best)
                    }
                }
            }
            let ints = ConvMalformedTests.ints
            let b = ConvMalformedTests.single(.maxPool2d, inputs: [(.f32, [c, t.h, t.w])], outputs: [(.f32, [c, oh, ow])],
                                              [(.kernel, ints(t.kh, t.kw)), (.stride, ints(t.sh, t.sw)),
                                               (.padding, .ints(t.pads.map { Int64($0) })), (.dilation, ints(t.dh, t.dw))])
            XCTAssertEqual(try ConvRuntimeTests.runC(library, b, [x], n: 2)[0], expected, "case \(k): C")
            XCTAssertEqual(BundleExecutor(b).run(x, batch: 2), expected, "case \(k): Swift")
        }
    }
}
