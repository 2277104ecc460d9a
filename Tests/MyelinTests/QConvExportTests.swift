import XCTest
@testable import Myelin
@testable import MyelinShared

/// The `qconv2d` op and int8 exports of convolutional networks: the op against the integer
/// formulas (Swift reference and fast kernels, and the C runtime, which has the VNNI tile);
/// every damaged attribute gets its status from both readers; every zoo preset exports in int8
/// and runs from C exactly like the Swift integer reference; a briefly trained CNN keeps its
/// float predictions (argmax agreement ≥ 99%); mixed precision and the per-layer report.
final class QConvExportTests: XCTestCase {
    typealias Op = ModelBundle.Op
    static func ints(_ v: Int...) -> ModelBundle.AttributeValue { .ints(v.map { Int64($0) }) }

    /// quantize → qconv2d (u8 output, ReLU, groups 2, stride 2, padding) → qconv2d (depthwise,
    /// f32 output, dilation 2), plus a pointwise qconv2d reading the same u8 input.
    static func chain(batch: Int) -> (ModelBundle, wq: [Int8], scales: [Float], bias: [Int32]) {
        let g = Generator(seed: 5)
        let w1 = (0..<(8 * 2 * 9)).map { _ in Int8(Int(g.next() % 255) - 127) }
        let s1 = (0..<8).map { _ in 0.002 + g.nextUniform() * 0.01 }
        let b1 = (0..<8).map { _ in Int32(Int(g.next() % 4001) - 2000) }
        let w2 = (0..<(8 * 9)).map { _ in Int8(Int(g.next() % 255) - 127) }
        let w3 = (0..<(5 * 4)).map { _ in Int8(Int(g.next() % 255) - 127) }
        func i8(_ name: String, _ w: [Int8], _ shape: [Int]) -> ModelBundle.TensorEntry {
            .init(name: name, dtype: .i8, shape: shape, data: w.map { UInt8(bitPattern: $0) })
        }
        func i32(_ name: String, _ b: [Int32]) -> ModelBundle.TensorEntry {
            .init(name: name, dtype: .i32, shape: [b.count], data: b.withUnsafeBytes { Array($0) })
        }
        let tensors: [ModelBundle.TensorEntry] = [
            i8("w1", w1, [8, 2, 3, 3]), .init(name: "s1", floats: s1, shape: [8]), i32("b1", b1),
            i8("w2", w2, [8, 1, 3, 3]), .init(name: "s2", floats: [Float](repeating: 0.01, count: 8), shape: [8]), i32("b2", [Int32](repeating: -300, count: 8)),
            i8("w3", w3, [5, 4, 1, 1]), .init(name: "s3", floats: [Float](repeating: 0.02, count: 5), shape: [5]), i32("b3", [Int32](repeating: 50, count: 5)),
        ]
        let values: [ModelBundle.Value] = [
            .init(name: "x", dtype: .f32, shape: [4, 9, 9]), .init(name: "xq", dtype: .u8, shape: [4, 9, 9], scale: 0.02, zeroPoint: 90),
            .init(name: "h", dtype: .u8, shape: [8, 5, 5], scale: 0.05, zeroPoint: 20),
            .init(name: "y", dtype: .f32, shape: [8, 3, 3]), .init(name: "p", dtype: .f32, shape: [5, 9, 9]),
        ]
        let ops = [Op(.quantize, inputs: [0], outputs: [1]),
                   Op(.qconv2d, inputs: [1], outputs: [2], tensors: [0, 1, 2],
                      attributes: [(.stride, ints(2, 2)), (.padding, ints(1, 1, 1, 1)), (.dilation, ints(1, 1)), (.groups, .int(2)),
                                   (.activation, .int(1))]),
                   Op(.qconv2d, inputs: [2], outputs: [3], tensors: [3, 4, 5],
                      attributes: [(.stride, ints(1, 1)), (.padding, ints(1, 0, 1, 0)), (.dilation, ints(2, 1)), (.groups, .int(8))]),
                   Op(.qconv2d, inputs: [1], outputs: [4], tensors: [6, 7, 8],
                      attributes: [(.stride, ints(1, 1)), (.padding, ints(0, 0, 0, 0)), (.dilation, ints(1, 1))])]
        let bundle = ModelBundle(precision: .int8, tensors: tensors, values: values, inputs: [0], outputs: [3, 4], ops: ops)
        return (bundle, w1, s1, b1)
    }

    func testQConv2dFollowsTheFormulasInSwiftAndC() throws {
        let batch = 3
        let (bundle, w1, s1, b1) = Self.chain(batch: batch)
        let x = (0..<(batch * 4 * 81)).map { i in Float((i * 7919) % 1000) / 250 - 1.6 }
        let reference = try BundleExecutor(validating: bundle, reference: true).run([x], batch: batch)
        let fast = try BundleExecutor(validating: bundle, reference: false).run([x], batch: batch)
        XCTAssertEqual(fast[0], reference[0], "fast kernels against the naive reference")
        XCTAssertEqual(fast[1], reference[1], "pointwise")
        let library = try requireRuntime()
        let c = try ConvRuntimeTests.runC(library, bundle, [x], n: batch)
        XCTAssertEqual(c[0], reference[0], "C (VNNI where the CPU has it) against the Swift integer reference")
        XCTAssertEqual(c[1], reference[1], "C pointwise")

        // The first op by hand: acc from qconvReference, the u8 formula with m = s_x·s_w/s_y.
        let q = x.map { quantizeToU8($0, invScale: quantizationInverseScale(0.02), zeroPoint: 90) }
        let geometry = ConvGeometry(batch: batch, inChannels: 4, height: 9, width: 9, outChannels: 8, kernelH: 3, kernelW: 3,
                                    strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 2)
        var acc = [Int32](repeating: 0, count: batch * 8 * 25)
        qconvReference(geometry, x: q, inputZeroPoint: 90, weight: w1, bias: b1, acc: &acc)
        var h = [UInt8](repeating: 0, count: acc.count)
        var observed: [UInt8] = []
        _ = try BundleExecutor(validating: bundle, reference: true).run([.f32(x)], batch: batch) { id, contents in
            if id == 2, case .u8(let v) = contents { observed = v }
        }
        for i in acc.indices {
            let o = (i / 25) % 8
            h[i] = requantizeToU8(acc[i], multiplier: qlinearMultiplier(inputScale: 0.02, weightScale: s1[o], outputScale: 0.05),
                                  zeroPoint: 20, low: 20)
        }
        XCTAssertEqual(observed, h)
        XCTAssertGreaterThan(Set(h).count, 10, "the test data spans the u8 range")
    }

    /// Every depthwise geometry of `QuantizedConvTests` as one quantize → qconv2d bundle (f32
    /// output, ReLU): the C runtime (whose AVX-512 build interleaves adjacent taps' bytes with
    /// `vpermb`) gives the Swift integer reference's values exactly.
    func testDepthwiseQConv2dInCMatchesTheReference() throws {
        let library = try requireRuntime()
        let rng = Generator(seed: 41)
        for g in QuantizedConvTests.geometries where g.inChannels == g.groups && g.outChannels == g.groups {
            let c = g.inChannels, taps = g.kernelH * g.kernelW
            let w = (0..<(c * taps)).map { _ in Int8(Int(rng.next() % 255) - 127) }
            let bias = (0..<c).map { _ in Int32(Int(rng.next() % 4001) - 2000) }
            let tensors: [ModelBundle.TensorEntry] = [
                .init(name: "w", dtype: .i8, shape: [c, 1, g.kernelH, g.kernelW], data: w.map { UInt8(bitPattern: $0) }),
                .init(name: "s", floats: (0..<c).map { _ in 0.002 + rng.nextUniform() * 0.01 }, shape: [c]),
                .init(name: "b", dtype: .i32, shape: [c], data: bias.withUnsafeBytes { Array($0) }),
            ]
            let attributes: [(BundleAttribute, ModelBundle.AttributeValue)] = [
                (.stride, Self.ints(g.strideH, g.strideW)), (.padding, Self.ints(g.padTop, g.padLeft, g.padBottom, g.padRight)),
                (.dilation, Self.ints(g.dilationH, g.dilationW)), (.groups, .int(Int64(c))), (.activation, .int(1)),
            ]
            let x = (0..<(g.batch * c * g.height * g.width)).map { _ in rng.nextUniform() * 4 - 1 }
            let values: [ModelBundle.Value] = [
                .init(name: "x", dtype: .f32, shape: [c, g.height, g.width]),
                .init(name: "xq", dtype: .u8, shape: [c, g.height, g.width], scale: 0.02, zeroPoint: 50),
                .init(name: "y", dtype: .f32, shape: [c, g.outHeight, g.outWidth]),
            ]
            let bundle = ModelBundle(precision: .int8, tensors: tensors, values: values, inputs: [0], outputs: [2],
                                     ops: [Op(.quantize, inputs: [0], outputs: [1]),
                                           Op(.qconv2d, inputs: [1], outputs: [2], tensors: [0, 1, 2], attributes: attributes)])
            let reference = try BundleExecutor(validating: bundle, reference: true).run([x], batch: g.batch)
            let fromC = try ConvRuntimeTests.runC(library, bundle, [x], n: g.batch)
            XCTAssertEqual(fromC[0], reference[0], "\(g)")
            XCTAssertGreaterThan(Set(reference[0]).count, 10, "\(g)")
        }
    }

    /// quantize → pointwise (16 → 32) → depthwise (stride 2) → pointwise (32 → 16, f32) → global
    /// average pooling: the two u8 values between the convolutions stay channels-last at load
    /// (no transposes), the last convolution writes the pool's output (the pool does not run),
    /// and the outputs are the integer reference's in Swift and C, bit for bit; a context whose
    /// values stay readable runs unfused and sees them in NCHW, equal to the reference's.
    func testChannelsLastU8BetweenConvolutionsKeepsTheReferenceValues() throws {
        let rng = Generator(seed: 43)
        func i8(_ name: String, _ shape: [Int]) -> ModelBundle.TensorEntry { randomQConvWeights(rng, name, shape) }
        func scales(_ name: String, _ n: Int) -> ModelBundle.TensorEntry { randomQConvScales(rng, name, n, floor: 0.002) }
        func i32(_ name: String, _ n: Int) -> ModelBundle.TensorEntry { randomQConvBiases(rng, name, n) }
        let tensors = [i8("w1", [32, 16, 1, 1]), scales("s1", 32), i32("b1", 32), i8("w2", [32, 1, 3, 3]), scales("s2", 32), i32("b2", 32),
                       i8("w3", [16, 32, 1, 1]), scales("s3", 16), i32("b3", 16)]
        let values: [ModelBundle.Value] = [
            .init(name: "x", dtype: .f32, shape: [16, 9, 9]), .init(name: "xq", dtype: .u8, shape: [16, 9, 9], scale: 0.02, zeroPoint: 60),
            .init(name: "a", dtype: .u8, shape: [32, 9, 9], scale: 0.03, zeroPoint: 0),
            .init(name: "b", dtype: .u8, shape: [32, 5, 5], scale: 0.04, zeroPoint: 0), .init(name: "y", dtype: .f32, shape: [16, 5, 5]),
            .init(name: "pooled", dtype: .f32, shape: [16, 1, 1]),
        ]
        func conv(_ x: Int, _ y: Int, _ t: Int, stride: Int, padding: Int, groups: Int) -> Op {
            Op(.qconv2d, inputs: [x], outputs: [y], tensors: [t, t + 1, t + 2],
               attributes: [(.stride, Self.ints(stride, stride)), (.padding, Self.ints(padding, padding, padding, padding)),
                            (.dilation, Self.ints(1, 1)), (.groups, .int(Int64(groups))), (.activation, .int(1))])
        }
        let bundle = ModelBundle(precision: .int8, tensors: tensors, values: values, inputs: [0], outputs: [5],
                                 ops: [Op(.quantize, inputs: [0], outputs: [1]), conv(1, 2, 0, stride: 1, padding: 0, groups: 1),
                                       conv(2, 3, 3, stride: 2, padding: 1, groups: 32), conv(3, 4, 6, stride: 1, padding: 0, groups: 1),
                                       Op(.adaptiveAvgPool2d, inputs: [4], outputs: [5], attributes: [(.outputSize, Self.ints(1, 1))])])
        let bytes = bundle.encode(compressed: false, packWeights: false)
        var loaded = try bytes.withUnsafeBytes { try LoadedBundle.load($0.baseAddress!, count: $0.count, reference: false) }
        defer { loaded.release() }
        let ops = loaded.model.graph.ops!
        XCTAssertEqual((1...3).map { ops[$0].params.channelsLastInput }, [false, true, true])
        XCTAssertEqual((1...3).map { ops[$0].params.channelsLastOutput }, [true, true, false])
        XCTAssertEqual(ops[3].params.pooledInto, 5, "the last convolution writes the pooled output")
        XCTAssertTrue(ops[4].params.pooledByConv)

        let batch = 3
        let x = (0..<(batch * 16 * 81)).map { _ in rng.nextUniform() * 4 - 1 }
        var expected: [Int: BundleExecutor.Contents] = [:], observed: [Int: BundleExecutor.Contents] = [:]
        let reference = try BundleExecutor(validating: bundle, reference: true).run([.f32(x)], batch: batch) { expected[$0] = $1 }
        XCTAssertEqual(try BundleExecutor(validating: bundle, reference: false).run([.f32(x)], batch: batch), reference, "Swift, channels-last")
        _ = try BundleExecutor(validating: bundle, reference: false).run([.f32(x)], batch: batch) { observed[$0] = $1 }
        XCTAssertEqual(observed[2], expected[2], "readable values in NCHW")
        XCTAssertEqual(observed[3], expected[3], "readable values in NCHW")
        XCTAssertEqual(observed[4], expected[4], "readable values in NCHW")
        XCTAssertGreaterThan(Set(reference[0].floats).count, 12)
        let library = try requireRuntime()
        XCTAssertEqual(try ConvRuntimeTests.runC(library, bundle, [x], n: batch)[0], reference[0].floats, "C, channels-last")
    }

    /// The depthwise path's padded blocks (`qconvPadChannelBlock`: z_x written around each image,
    /// not filled beforehand): 40 channels from NCHW planes (stride 2, padding 1, 2, 1, 0: the
    /// last block half empty, bias and multipliers copied to 48 lanes), and 48 channels read
    /// channels-last after a pointwise layer whose GEMM tile used the same scratch (padding 2, 0,
    /// 0, 2): Swift and C give the integer reference's outputs bit for bit.
    func testDepthwisePaddingIsWrittenAroundEveryImage() throws {
        let rng = Generator(seed: 49)
        func i8(_ name: String, _ shape: [Int]) -> ModelBundle.TensorEntry { randomQConvWeights(rng, name, shape) }
        func scales(_ name: String, _ n: Int) -> ModelBundle.TensorEntry { randomQConvScales(rng, name, n, floor: 0.003) }
        func i32(_ name: String, _ n: Int) -> ModelBundle.TensorEntry { randomQConvBiases(rng, name, n) }
        func conv(_ x: Int, _ y: Int, _ t: Int, stride: Int, padding: [Int], groups: Int) -> Op {
            Op(.qconv2d, inputs: [x], outputs: [y], tensors: [t, t + 1, t + 2],
               attributes: [(.stride, Self.ints(stride, stride)), (.padding, .ints(padding.map { Int64($0) })),
                            (.dilation, Self.ints(1, 1)), (.groups, .int(Int64(groups))), (.activation, .int(1))])
        }
        // 40 channels in NCHW, stride 2, padding (top 1, left 2, bottom 1, right 0): 7×9 → 4×5.
        let planes = ModelBundle(
            precision: .int8, tensors: [i8("w", [40, 1, 3, 3]), scales("s", 40), i32("b", 40)],
            values: [.init(name: "x", dtype: .f32, shape: [40, 7, 9]), .init(name: "xq", dtype: .u8, shape: [40, 7, 9], scale: 0.02, zeroPoint: 77),
                     .init(name: "y", dtype: .f32, shape: [40, 4, 5])],
            inputs: [0], outputs: [2],
            ops: [Op(.quantize, inputs: [0], outputs: [1]), conv(1, 2, 0, stride: 2, padding: [1, 2, 1, 0], groups: 40)])
        // 16 → 48 pointwise (u8, channels-last), then the depthwise layer, padding (2, 0, 0, 2): 7×9 → 7×9.
        let rows = ModelBundle(
            precision: .int8,
            tensors: [i8("w1", [48, 16, 1, 1]), scales("s1", 48), i32("b1", 48), i8("w2", [48, 1, 3, 3]), scales("s2", 48), i32("b2", 48)],
            values: [.init(name: "x", dtype: .f32, shape: [16, 7, 9]), .init(name: "xq", dtype: .u8, shape: [16, 7, 9], scale: 0.02, zeroPoint: 30),
                     .init(name: "a", dtype: .u8, shape: [48, 7, 9], scale: 0.05, zeroPoint: 11), .init(name: "y", dtype: .f32, shape: [48, 7, 9])],
            inputs: [0], outputs: [3],
            ops: [Op(.quantize, inputs: [0], outputs: [1]), conv(1, 2, 0, stride: 1, padding: [0, 0, 0, 0], groups: 1),
                  conv(2, 3, 3, stride: 1, padding: [2, 0, 0, 2], groups: 48)])
        let bytes = rows.encode(compressed: false, packWeights: false)
        var loaded = try bytes.withUnsafeBytes { try LoadedBundle.load($0.baseAddress!, count: $0.count, reference: false) }
        defer { loaded.release() }
        XCTAssertTrue(loaded.model.graph.ops![2].params.channelsLastInput, "the depthwise layer reads channels-last")
        XCTAssertTrue(loaded.model.graph.ops![2].params.window.qconvIsDepthwise)

        let library = try requireRuntime()
        for (name, bundle, count) in [("NCHW", planes, 40 * 63), ("channels-last", rows, 16 * 63)] {
            let batch = 3
            let x = (0..<(batch * count)).map { _ in rng.nextUniform() * 3 - 0.5 }
            let reference = try BundleExecutor(validating: bundle, reference: true).run([.f32(x)], batch: batch)
            XCTAssertEqual(try BundleExecutor(validating: bundle, reference: false).run([.f32(x)], batch: batch), reference, "Swift, \(name)")
            XCTAssertEqual(try ConvRuntimeTests.runC(library, bundle, [x], n: batch)[0], reference[0].floats, "C, \(name)")
            XCTAssertGreaterThan(Set(reference[0].floats).count, 100, name)
        }
    }

    /// Pointwise layers whose u8 outputs are bounded take the 6-row tiles' requantisation in
    /// registers on their whole 64- and 32-column panels (24 → 96 with ReLU: one of each; 96 → 80
    /// without: a 64-wide one and a 16-wide one through the tile and epilogue; 7 × 7 pixels: eight
    /// 6-row blocks and one row), the sums started from the bias: Swift (the portable tile) and C
    /// (VNNI) give the integer reference's outputs bit for bit.
    func testPointwiseLayersRequantisedInTheTileMatchTheReference() throws {
        let rng = Generator(seed: 53)
        func conv(_ x: Int, _ y: Int, _ t: Int, relu: Bool) -> Op {
            Op(.qconv2d, inputs: [x], outputs: [y], tensors: [t, t + 1, t + 2],
               attributes: [(.stride, Self.ints(1, 1)), (.padding, Self.ints(0, 0, 0, 0)), (.dilation, Self.ints(1, 1)),
                            (.groups, .int(1)), (.activation, .int(relu ? 1 : 0))])
        }
        let bundle = ModelBundle(
            precision: .int8,
            tensors: [randomQConvWeights(rng, "w1", [96, 24, 1, 1]), randomQConvScales(rng, "s1", 96, floor: 0.002), randomQConvBiases(rng, "b1", 96),
                      randomQConvWeights(rng, "w2", [80, 96, 1, 1]), randomQConvScales(rng, "s2", 80, floor: 0.002), randomQConvBiases(rng, "b2", 80),
                      randomQConvWeights(rng, "w3", [16, 80, 1, 1]), randomQConvScales(rng, "s3", 16, floor: 0.002), randomQConvBiases(rng, "b3", 16)],
            values: [.init(name: "x", dtype: .f32, shape: [24, 7, 7]), .init(name: "xq", dtype: .u8, shape: [24, 7, 7], scale: 0.02, zeroPoint: 40),
                     .init(name: "a", dtype: .u8, shape: [96, 7, 7], scale: 0.04, zeroPoint: 20),
                     .init(name: "b", dtype: .u8, shape: [80, 7, 7], scale: 0.3, zeroPoint: 128),
                     .init(name: "y", dtype: .f32, shape: [16, 7, 7])],
            inputs: [0], outputs: [4],
            ops: [Op(.quantize, inputs: [0], outputs: [1]), conv(1, 2, 0, relu: true), conv(2, 3, 3, relu: false), conv(3, 4, 6, relu: false)])
        let bytes = bundle.encode(compressed: false, packWeights: false)
        var loaded = try bytes.withUnsafeBytes { try LoadedBundle.load($0.baseAddress!, count: $0.count, reference: false) }
        defer { loaded.release() }
        for (o, channels) in [(1, 96), (2, 80)] {
            let flag = loaded.model.graph.ops![o].prepared!.load(fromByteOffset: 4 * channels, as: Int32.self)
            XCTAssertEqual(flag, 1, "op \(o) is bounded: its full panels are requantised in the tile")
        }
        let batch = 2
        let x = (0..<(batch * 24 * 49)).map { _ in rng.nextUniform() * 3 - 0.6 }
        var expected: [Int: BundleExecutor.Contents] = [:]
        let reference = try BundleExecutor(validating: bundle, reference: true).run([.f32(x)], batch: batch) { expected[$0] = $1 }
        XCTAssertEqual(try BundleExecutor(validating: bundle, reference: false).run([.f32(x)], batch: batch), reference, "Swift")
        let library = try requireRuntime()
        XCTAssertEqual(try ConvRuntimeTests.runC(library, bundle, [x], n: batch)[0], reference[0].floats, "C")
        for v in [2, 3] {
            guard case .u8(let codes)? = expected[v] else { return XCTFail("value \(v)") }
            XCTAssertGreaterThan(Set(codes).count, 60, "value \(v) spans the codes")
        }
        XCTAssertGreaterThan(Set(reference[0].floats).count, 500)
    }

    /// Every attribute and operand of qconv2d, damaged: the documented status from the Swift
    /// reader and from the C runtime, and no crash.
    func testDamagedQConv2dGetsItsStatus() throws {
        let library = try requireRuntime()
        let (base, _, _, _) = Self.chain(batch: 1)
        var count = 0
        func expect(_ b: ModelBundle, _ expected: BundleStatus, _ label: String, line: UInt = #line) {
            var status = BundleStatus.ok
            do { _ = try ModelBundle(decoding: b.encode()) } catch { status = (error as? BundleError)?.status ?? .io }
            XCTAssertEqual(status, expected, label, line: line)
            XCTAssertEqual(library.loadStatus(b.encode()), expected.rawValue, label, line: line)
            count += 1
        }
        func damaged(_ op: Int, _ key: BundleAttribute, _ value: ModelBundle.AttributeValue?) -> ModelBundle {
            var b = base
            b.ops[op].attributes.removeAll { $0.key == key.rawValue }
            if let value { b.ops[op].attributes.append((key.rawValue, value)) }
            return b
        }
        let ints = Self.ints
        expect(base, .ok, "valid")
        expect(damaged(1, .stride, ints(0, 2)), .corrupt, "stride 0")
        expect(damaged(1, .stride, ints(2, -1)), .corrupt, "negative stride")
        expect(damaged(1, .stride, ints(2)), .corrupt, "stride of one entry")
        expect(damaged(1, .stride, nil), .corrupt, "no stride")
        expect(damaged(1, .stride, ints(1 << 40, 1)), .corrupt, "huge stride")
        expect(damaged(1, .stride, ints(1, 1)), .shapeMismatch, "another output size")
        expect(damaged(1, .padding, ints(-1, 1, 1, 1)), .corrupt, "negative padding")
        expect(damaged(1, .padding, ints(3, 1, 1, 1)), .shapeMismatch, "padding beyond the kernel's extent")
        expect(damaged(1, .padding, ints(1, 1)), .corrupt, "padding of two entries")
        expect(damaged(1, .dilation, ints(0, 1)), .corrupt, "dilation 0")
        expect(damaged(1, .dilation, .int(1)), .corrupt, "dilation not a list")
        expect(damaged(1, .dilation, ints(5, 5)), .shapeMismatch, "dilated kernel larger than the padded input")
        expect(damaged(1, .groups, .int(0)), .corrupt, "groups 0")
        expect(damaged(1, .groups, .int(-2)), .corrupt, "negative groups")
        expect(damaged(1, .groups, .int(3)), .shapeMismatch, "groups not dividing the channels")
        expect(damaged(1, .groups, .int(4)), .shapeMismatch, "groups dividing the channels, not the weight")
        expect(damaged(1, .activation, .int(2)), .unsupported, "unknown activation")
        expect(damaged(1, .axis, .int(0)), .unsupported, "a key qconv2d does not take")
        var b = base; b.values[1].dtype = BundleDType.f32.rawValue; b.values[1].scale = 0; b.values[1].zeroPoint = 0
        b.ops[0] = Op(.relu, inputs: [0], outputs: [1])
        expect(b, .unsupported, "f32 input")
        b = base; b.tensors[0].dtype = BundleDType.u8.rawValue
        expect(b, .unsupported, "u8 weights")
        b = base; b.ops[1].tensors = [0, 1]
        expect(b, .corrupt, "two tensors")
        b = base; b.tensors[1] = .init(name: "s1", floats: [Float](repeating: 0.01, count: 7), shape: [7])
        expect(b, .shapeMismatch, "7 scales for 8 channels")
        b = base; b.tensors[2] = .init(name: "b1", dtype: .i32, shape: [9], data: [UInt8](repeating: 0, count: 36))
        expect(b, .shapeMismatch, "9 biases for 8 channels")
        b = base; b.tensors[1] = .init(name: "s1", floats: [Float](repeating: 0.01, count: 7) + [-1], shape: [8])
        expect(b, .corrupt, "a negative weight scale")
        b = base; b.tensors[1] = .init(name: "s1", floats: [Float](repeating: 0.01, count: 7) + [.nan], shape: [8])
        expect(b, .corrupt, "a NaN weight scale")
        b = base; b.values[2].shape = [8, 4, 5]
        expect(b, .shapeMismatch, "declared output of another size")
        b = base; b.values[0].shape = [4, 2, 2]; b.values[1].shape = [4, 2, 2]; b.values[4].shape = [5, 2, 2]
        b.ops[1].attributes = [(BundleAttribute.stride.rawValue, ints(1, 1)), (BundleAttribute.padding.rawValue, ints(0, 0, 0, 0)),
                               (BundleAttribute.dilation.rawValue, ints(1, 1)), (BundleAttribute.groups.rawValue, .int(2))]
        expect(b, .shapeMismatch, "3 × 3 kernel larger than the 2 × 2 input")
        b = base; b.values[0].shape = [4, 81]; b.values[1].shape = [4, 81]
        expect(b, .shapeMismatch, "rank-2 input")
        // A patch whose i32 sums could overflow: 8192 input channels of 3 × 3 per group.
        b = base; b.values[0].shape = [16384, 9, 9]; b.values[1].shape = [16384, 9, 9]
        b.tensors[0] = .init(name: "w1", dtype: .i8, shape: [8, 8192, 3, 3], data: [UInt8](repeating: 1, count: 8 * 8192 * 9))
        b.ops.removeLast()
        b.values.removeLast()
        b.outputs = [3]
        expect(b, .unsupported, "patch of 73728 beyond 65535")
        XCTAssertEqual(count, 30)
    }

    /// Every zoo preset (random weights, BatchNorm statistics far from the identity) exports
    /// in int8 with its convolutions as qconv2d, and the C runtime gives the Swift integer
    /// reference's outputs; the report names each conv and linear layer.
    func testEveryZooPresetExportsInt8AndMatchesTheIntegerReferenceInC() throws {
        let library = try requireRuntime()
        let n = 4
        for (i, name) in ModelZoo.names.enumerated() {
            let model = ModelZoo.make(name, generator: Generator(seed: UInt64(40 + i)))
            ConvRuntimeTests.randomizeBatchNorms(model, seed: UInt64(50 + i))
            model.eval()
            let calibration = Tensor.uniform([16, 1, 28, 28], generator: Generator(seed: UInt64(60 + i)))
            var options = BundleExporter.Options(precision: .int8, calibration: calibration)
            options.int8.reportSamples = 4
            let (bundle, report) = try BundleExporter.exportWithReport(model, options: options)
            let codes = bundle.ops.map(\.code)
            XCTAssertFalse(codes.contains(.conv2d), "\(name): every conv2d quantised")
            XCTAssertTrue(codes.contains(.qconv2d), name)
            let r = try XCTUnwrap(report)
            let convs = model.namedModules().filter { $0.1 is Conv2d }.count, linears = model.namedModules().filter { $0.1 is Linear }.count
            XCTAssertEqual(r.layers.filter { $0.op == "conv2d" }.count, convs, name)
            XCTAssertEqual(r.layers.filter { $0.op == "linear" }.count, linears, name)
            for l in r.layers { XCTAssertTrue(l.sqnr > 10, "\(name) \(l.name): SQNR \(l.sqnr) dB") }
            XCTAssertNotNil(r.argmaxAgreement)
            let x = calibration.rows(0..<n)
            let reference = BundleExecutor(bundle).run(x.data, batch: n)
            let c = try ConvRuntimeTests.runC(library, bundle, [x.data], n: n)[0]
            XCTAssertEqual(c, reference, "\(name): C against the Swift integer reference")
        }
    }

    /// Briefly trained on Fashion-MNIST, the anchor CNN's int8 bundle keeps float's
    /// predictions on held-out images (≥ 99% agreement, accuracy within 0.5 points), with
    /// u8 flowing from conv to conv through f32 pooling islands; the report's figures are
    /// those of the bundle; layers kept in float by name or by SQNR threshold stay conv2d.
    func testTrainedCNNKeepsItsPredictionsAndMixedPrecisionWorks() throws {
        guard let (train, test) = try? FashionMNIST.load() else {
            XCTFail("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist; scripts/test.sh does)")
            return
        }
        let g = Generator(seed: 11)
        let model = SimpleCNN(generator: g)
        let optimizer = Adam(model.parameters(), lr: 2e-3)
        let loader = DataLoader(train, batchSize: 32, shuffle: true, generator: g)
        model.train()
        for batch in loader.epoch().prefix(120) {
            optimizer.zeroGrad()
            crossEntropy(model(batch.inputs), batch.labels).backward()
            optimizer.step()
        }
        model.eval()
        let held = test.subset(Array(0..<1000))
        var options = BundleExporter.Options(precision: .int8, calibration: train.subset(Array(0..<256)).inputs)
        options.inputShape = [784]
        options.int8.validationInputs = held.inputs
        options.int8.validationLabels = held.labels
        options.int8.reportSamples = 16
        let (bundle, reportOrNil) = try BundleExporter.exportWithReport(model, options: options)
        let report = try XCTUnwrap(reportOrNil)
        print(report)
        XCTAssertEqual(bundle.ops.filter { $0.code == .qconv2d }.count, 2)
        XCTAssertEqual(bundle.ops.filter { $0.code == .qlinear }.count, 2)
        let agreement = try XCTUnwrap(report.argmaxAgreement)
        XCTAssertGreaterThanOrEqual(agreement, 0.99, "\(report)")
        let (f, q) = (try XCTUnwrap(report.floatAccuracy), try XCTUnwrap(report.int8Accuracy))
        XCTAssertGreaterThan(f, 0.6, "the float model learned something")
        XCTAssertLessThanOrEqual(f - q, 0.005, "\(report)")
        XCTAssertTrue(report.warnings.isEmpty, "\(report)")
        XCTAssertEqual(bundle.metadata.first { $0.key == "int8.argmax_agreement" }?.value, String(format: "%.4f", agreement))

        // The report's figures are the bundle's: recompute agreement from the C runtime.
        let library = try requireRuntime()
        let c = try ConvRuntimeTests.runC(library, bundle, [held.inputs.data], n: held.count)[0]
        let floatScores = noGrad { model(held.inputs) }.data
        XCTAssertEqual(c, BundleExecutor(bundle).run(held.inputs.data, batch: held.count), "C against the Swift integer reference")
        let agree = zip(RuntimeParityTests.argmaxes(c, classes: 10), RuntimeParityTests.argmaxes(floatScores, classes: 10)).filter { $0 == $1 }.count
        XCTAssertEqual(Double(agree) / Double(held.count), agreement)

        // Mixed precision by name: the second convolution stays f32 (a smaller held-out set from here on).
        options.int8.validationInputs = held.inputs.rows(0..<200)
        options.int8.validationLabels = Array(held.labels[0..<200])
        let secondConv = try XCTUnwrap(report.layers.filter { $0.op == "conv2d" }.last).name
        options.int8.keepFloat = [secondConv]
        let (mixed, mixedReport) = try BundleExporter.exportWithReport(model, options: options)
        XCTAssertEqual(mixed.ops.filter { $0.code == .qconv2d }.count, 1)
        XCTAssertEqual(mixed.ops.filter { $0.code == .conv2d }.count, 1)
        XCTAssertEqual(mixedReport?.layers.filter { !$0.quantized }.map(\.name), [secondConv])
        XCTAssertEqual(mixed.metadata.first { $0.key == "int8.float_layers" }?.value, secondConv)
        let mixedC = try ConvRuntimeTests.runC(library, mixed, [held.inputs.data], n: 64)[0]
        XCTAssertEqual(mixedC, BundleExecutor(mixed).run(Array(held.inputs.data[0..<(64 * 784)]), batch: 64))

        // Automatic fallback: a threshold above every layer's SQNR keeps all of them in f32.
        options.int8.keepFloat = []
        options.int8.minimumSQNR = report.layers.map(\.sqnr).max()! + 1
        let (all, allReport) = try BundleExporter.exportWithReport(model, options: options)
        XCTAssertFalse(all.ops.contains { $0.code == .qconv2d || $0.code == .qlinear })
        XCTAssertTrue(allReport!.layers.allSatisfy { !$0.quantized && $0.reason?.hasPrefix("SQNR below") == true })
        // A threshold between the worst and best layer keeps exactly the layers below it.
        let sorted = report.layers.map(\.sqnr).sorted()
        options.int8.minimumSQNR = (sorted[0] + sorted[1]) / 2
        let (_, someReport) = try BundleExporter.exportWithReport(model, options: options)
        XCTAssertEqual(someReport!.layers.filter { !$0.quantized }.count, 1)

        // An unknown layer name is an error naming the layers.
        options.int8.minimumSQNR = nil
        options.int8.keepFloat = ["no.such.layer"]
        XCTAssertThrowsError(try BundleExporter.exportWithReport(model, options: options)) { error in
            XCTAssertTrue("\(error)".contains(secondConv), "\(error)")
        }
    }

    /// A model whose int8 version collapses (a layer whose weights span 10⁶ within a channel,
    /// so per-channel scales lose its small weights) warns with figures; it is never silent.
    func testCollapseIsAWarningWithFigures() throws {
        let g = Generator(seed: 3)
        let model = Sequential(Conv2d(1, 4, kernelSize: 3, generator: g), ReLU(), Flatten(), Linear(4 * 6 * 6, 10, generator: g))
        model.eval()
        // One huge weight per output row: every other weight of the row rounds to 0.
        let linear = model.namedModules().compactMap { $0.1 as? Linear }.first!
        var w = linear.weight.data
        for j in 0..<10 { w[j * 144] = 1e5 }
        linear.weight.data = w
        let x = Tensor.uniform([64, 1, 8, 8], generator: g)
        var options = BundleExporter.Options(precision: .int8, calibration: x)
        options.int8.validationLabels = noGrad { model(x) }.argmax(axis: 1)
        options.int8.warnBelowAgreement = 0.99
        let (_, report) = try BundleExporter.exportWithReport(model, options: options)
        let r = try XCTUnwrap(report)
        XCTAssertLessThan(r.argmaxAgreement!, 0.99, "\(r)")
        XCTAssertFalse(r.warnings.isEmpty, "\(r)")
        XCTAssertTrue(r.description.contains("WARNING: int8 argmax agrees with float on only"), r.description)
        XCTAssertTrue(r.description.contains("%"), r.description)
    }

    /// `myelin export --precision int8` on a zoo CNN prints the per-layer error table and the
    /// agreement on the test set; `--keep-float` keeps a layer in f32, an unknown name is an
    /// error naming the layers.
    func testCLIExportPrintsTheReportAndKeepsLayersInFloat() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-qconv-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(dir)/tiny", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeTinyImageFolder("\(dir)/tiny")
        let train = try runProduct("myelin", ["train", "--model", "lenet5", "--data", "tiny", "--epochs", "1", "--batch-size", "8",
                                              "--validation", "0", "--out", "run"], directory: dir)
        XCTAssertEqual(train.status, 0, train.stderr)
        let export = try runProduct("myelin", ["export", "run/checkpoint.ckpt", "--data", "tiny", "--precision", "int8",
                                               "--keep-float", "features.0", "--out", "m.myelin"], directory: dir)
        XCTAssertEqual(export.status, 0, export.stderr)
        for needle in ["int8 quantisation error per layer", "SQNR dB", "features.0", "f32 (kept by the user)", "features.3",
                       "int8 on 20 test samples: accuracy"] {
            XCTAssertTrue(export.stdout.contains(needle), "missing \(needle) in:\n\(export.stdout)")
        }
        let bundle = try ModelBundle.read(from: "\(dir)/m.myelin")
        XCTAssertEqual(bundle.ops.filter { $0.code == .conv2d }.count, 1)
        XCTAssertEqual(bundle.ops.filter { $0.code == .qconv2d }.count, 1)
        let unknown = try runProduct("myelin", ["export", "run/checkpoint.ckpt", "--data", "tiny", "--precision", "int8",
                                                "--keep-float", "conv9", "--out", "x.myelin"], directory: dir)
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("no layer \"conv9\"") && unknown.stderr.contains("features.3"), unknown.stderr)
        // --min-agreement: a percentage; 100 ends with full agreement on the test samples.
        let bad = try runProduct("myelin", ["export", "run/checkpoint.ckpt", "--data", "tiny", "--precision", "int8",
                                            "--min-agreement", "150", "--out", "x.myelin"], directory: dir)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--min-agreement must be a percentage"), bad.stderr)
        let full = try runProduct("myelin", ["export", "run/checkpoint.ckpt", "--data", "tiny", "--precision", "int8",
                                             "--min-agreement", "100", "--out", "a.myelin"], directory: dir)
        XCTAssertEqual(full.status, 0, full.stderr)
        XCTAssertTrue(full.stdout.contains("argmax agreement with float 100.00%"), full.stdout)
    }
}

/// Random qconv2d operands drawn from `rng`: int8 weights in [−127, 127] of `shape`.
private func randomQConvWeights(_ rng: Generator, _ name: String, _ shape: [Int]) -> ModelBundle.TensorEntry {
    .init(name: name, dtype: .i8, shape: shape, data: (0..<shape.reduce(1, *)).map { _ in UInt8(bitPattern: Int8(Int(rng.next() % 255) - 127)) })
}

/// `n` per-channel weight scales in [floor, floor + 0.004).
private func randomQConvScales(_ rng: Generator, _ name: String, _ n: Int, floor: Float) -> ModelBundle.TensorEntry {
    .init(name: name, floats: (0..<n).map { _ in floor + rng.nextUniform() * 0.004 }, shape: [n])
}

/// `n` int32 biases in [−2000, 2000].
private func randomQConvBiases(_ rng: Generator, _ name: String, _ n: Int) -> ModelBundle.TensorEntry {
    let b = (0..<n).map { _ in Int32(Int(rng.next() % 4001) - 2000) }
    return .init(name: name, dtype: .i32, shape: [n], data: b.withUnsafeBytes { Array($0) })
}
