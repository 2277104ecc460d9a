import XCTest
@testable import Myelin
@testable import MyelinShared

/// The exporter's rules: folding, dropping and fusing layers, int8 quantisation,
/// metadata, self-test vectors, sizes, and the inspector's report.
final class BundleExportTests: XCTestCase {
    func outputs(_ model: any Layer, _ x: Tensor) -> [Float] { noGrad { model(x).data } }

    func assertClose(_ a: [Float], _ b: [Float], relative: Float, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, message, file: file, line: line)
        for (u, v) in zip(a, b) where !(abs(u - v) <= relative * Swift.max(1, abs(v))) {
            XCTFail("\(message): \(u) vs \(v)", file: file, line: line)
            return
        }
    }

    func testBatchNormFoldsIntoLinearAndDropoutDisappears() throws {
        let model = BundleFixtureTests.tinyModel()
        let bundle = try BundleExporter.export(model)
        XCTAssertEqual(bundle.ops.map(\.code), [.linear, .linear, .tanh, .linear])
        XCTAssertEqual(bundle.ops[0].attribute(.activation), .int(1), "ReLU fused into the folded Linear")
        XCTAssertNil(bundle.ops[1].attribute(.activation))
        let x = BundleFixtureTests.tinyInputs(50, seed: 9)
        assertClose(BundleExecutor(bundle).run(x.data, batch: 50), outputs(model, x), relative: 1e-5, "folded graph")
        XCTAssertTrue(model.isTraining == false)
    }

    func testBatchNormWithoutLinearBecomesScaleShift() throws {
        let bn = BatchNorm1d(5)
        for j in 0..<5 { bn.runningMean.data[j] = Float(j); bn.runningVar.data[j] = Float(j + 1); bn.weight!.data[j] = 2; bn.bias!.data[j] = -1 }
        let model = Sequential(bn, ReLU(), Linear(5, 3, generator: Generator(seed: 1)), BatchNorm1d(3), Sigmoid())
        model.train()
        let bundle = try BundleExporter.export(model)
        XCTAssertEqual(bundle.ops.map(\.code), [.scaleShift, .relu, .linear, .sigmoid])
        XCTAssertTrue(model.isTraining, "export restores the training mode")
        model.eval()
        let x = Tensor.randn([20, 5], generator: Generator(seed: 2))
        assertClose(BundleExecutor(bundle).run(x.data, batch: 20), outputs(model, x), relative: 1e-5, "scale_shift graph")
    }

    func testEveryActivationExportsWithTheModelsNumbers() throws {
        let g = Generator(seed: 3)
        let model = Sequential(Flatten(), Linear(8, 8, generator: g), LeakyReLU(slope: 0.2), Identity(), Linear(8, 8, generator: g),
                               ELU(alpha: 0.7), Dropout(0.5), Linear(8, 8, generator: g), Tanh(), Linear(8, 6, generator: g),
                               Softmax())
        let logModel = Sequential(Linear(8, 6, generator: g), LogSoftmax())
        let x = Tensor.randn([11, 8], std: 2, generator: g)
        for m in [model, logModel] as [any Layer] {
            m.eval()
            let bundle = try BundleExporter.export(m)
            assertClose(BundleExecutor(bundle).run(x.data, batch: 11), outputs(m, x), relative: 1e-6, "\(m)")
            XCTAssertEqual(try ModelBundle(decoding: bundle.encode()).encode(compressed: false), bundle.encode(compressed: false))
        }
    }

    func testRefusals() throws {
        final class Body: Layer {
            let fc = Linear(2, 2)
            var isTraining = true
            func forward(_ x: Tensor) -> Tensor { fc(x).step() }
            var description: String { "Body" }
        }
        XCTAssertThrowsError(try BundleExporter.export(Sequential(Linear(2, 2), Body()))) {
            XCTAssertEqual($0 as? BundleExporter.ExportError,
                           .unsupportedOp(op: "step", module: "1", reason: "the bundle format has no such op yet"))
            XCTAssertEqual("\($0)", "cannot export op \"step\" in module \"1\": the bundle format has no such op yet")
        }
        final class Untraced: Layer {
            var isTraining = true
            func forward(_ x: Tensor) -> Tensor { Tensor(shape: x.shape, data: x.data.map { $0 * 2 }) + 1 }
            var description: String { "Untraced" }
        }
        var untraced = BundleExporter.Options()
        untraced.inputShape = [3]
        XCTAssertThrowsError(try BundleExporter.export(Untraced(), options: untraced)) {
            guard case .untracedTensor(let op, _, let shape)? = $0 as? TracedGraph.TraceError else { return XCTFail("\($0)") }
            XCTAssertEqual(op, "add_scalar"); XCTAssertEqual(shape, [2, 3])
        }
        XCTAssertThrowsError(try BundleExporter.export(Linear(3, 2), options: .init(precision: .int8))) {
            XCTAssertEqual($0 as? BundleExporter.ExportError, .missingCalibration)
        }
        XCTAssertThrowsError(try BundleExporter.export(Linear(3, 2), options: .init(classLabels: ["one"]))) {
            guard case .invalidOption? = $0 as? BundleExporter.ExportError else { return XCTFail("\($0)") }
        }
        var twoCalibrations = BundleExporter.Options()
        twoCalibrations.calibrationInputs = [Tensor.zeros([4, 3]), Tensor.zeros([4, 3])]
        XCTAssertThrowsError(try BundleExporter.export(Linear(3, 2), options: twoCalibrations)) {
            guard case .invalidOption? = $0 as? BundleExporter.ExportError else { return XCTFail("\($0)") }
        }
        var wrongShape = BundleExporter.Options(calibration: Tensor.zeros([4, 5]))
        wrongShape.inputShape = [3]
        XCTAssertThrowsError(try BundleExporter.export(Linear(3, 2), options: wrongShape)) {
            guard case .shapeMismatch? = $0 as? BundleExporter.ExportError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try BundleExporter.export(Sequential(Dropout(), Identity()))) {
            guard case .invalidOption? = $0 as? BundleExporter.ExportError else { return XCTFail("\($0)") }
        }
        var identity = BundleExporter.Options()
        identity.inputShape = [3]
        XCTAssertThrowsError(try BundleExporter.export(Sequential(Dropout(), Identity()), options: identity)) {
            XCTAssertEqual($0 as? TracedGraph.TraceError, .outputNotComputed("output"))
        }
        var options = BundleExporter.Options()
        options.metadata = [("dataset", "twice")]
        options.dataset = "once"
        XCTAssertThrowsError(try BundleExporter.export(Linear(3, 2), options: options))
    }

    func testInt8QuantizationFollowsTheFormat() throws {
        let bundle = try BundleFixtureTests.tinyBundle(.int8)
        XCTAssertEqual(bundle.ops.map(\.code), [.quantize, .qlinear, .qlinear, .tanh, .quantize, .qlinear])
        let values = bundle.values
        // Signed calibration inputs: zero point inside the range; post-ReLU values: zero point 0.
        let input = values[bundle.ops[0].outputs[0]]
        XCTAssertGreaterThan(input.zeroPoint, 100)
        XCTAssertLessThan(input.zeroPoint, 156)
        XCTAssertEqual(values[bundle.ops[1].outputs[0]].dtype, BundleDType.u8.rawValue)
        XCTAssertEqual(values[bundle.ops[1].outputs[0]].zeroPoint, 0)
        XCTAssertEqual(values[bundle.ops[2].outputs[0]].dtype, BundleDType.f32.rawValue)
        for op in bundle.ops where op.code == .qlinear {
            let w = bundle.tensors[op.tensors[0]], s = bundle.tensors[op.tensors[1]].floats
            let rows = w.shape[0], cols = w.shape[1]
            for j in 0..<rows {
                let row = (0..<cols).map { Int8(bitPattern: w.data[j * cols + $0]) }
                XCTAssertTrue(row.allSatisfy { $0 >= -127 }, "symmetric: no -128")
                XCTAssertEqual(row.map { abs(Int($0)) }.max(), 127, "each channel uses its full range")
                XCTAssertGreaterThan(s[j], 0)
            }
        }
        // The int8 graph approximates the float model.
        let model = BundleFixtureTests.tinyModel()
        let x = BundleFixtureTests.tinyInputs(200, seed: 31)
        let y = BundleExecutor(bundle).run(x.data, batch: 200), ref = outputs(model, x)
        let scale = ref.map { abs($0) }.max()!
        let worst = zip(y, ref).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 0.05 * scale, "int8 error \(worst) against output scale \(scale)")
    }

    func testMetadataAndSelfTest() throws {
        for p in [BundlePrecision.f32, .f16, .int8] {
            let bundle = try BundleFixtureTests.tinyBundle(p)
            XCTAssertEqual(bundle.metadata("myelin.exporter"), "Myelin \(BundleExporter.version)")
            XCTAssertEqual(bundle.metadata("myelin.precision"), p.name)
            XCTAssertEqual(bundle.metadata("dataset"), "synthetic fixture")
            XCTAssertEqual(bundle.metadata("test_accuracy"), "0.5000")
            XCTAssertEqual(bundle.classLabels, BundleFixtureTests.labels)
            XCTAssertEqual(bundle.metadata("int8.calibration_samples"), p == .int8 ? "64" : nil)
            let test = try XCTUnwrap(bundle.selfTest)
            XCTAssertEqual(test.count, 3)
            // Expected outputs are the float model's, not the bundle's.
            let model = BundleFixtureTests.tinyModel()
            XCTAssertEqual(test.expected[0], outputs(model, Tensor(shape: [3, 6], data: test.inputs[0])))
            XCTAssertEqual(BundleExecutor(bundle).selfTest()?.passed, true)
            var broken = bundle
            broken.selfTest!.expected[0][0] += 0.5
            XCTAssertEqual(BundleExecutor(broken).selfTest()?.passed, false)
        }
    }

    /// The size goal: the int8 bundle before compression is at most 0.26 of the f32 one.
    func testInt8BundleIsAQuarterOfF32() throws {
        let g = Generator(seed: 12)
        let model = Sequential(Linear(784, 256, generator: g), ReLU(), Linear(256, 10, generator: g))
        model.eval()
        let calibration = Tensor.uniform([100, 784], generator: g)
        let options = { (p: BundlePrecision) in
            BundleExporter.Options(precision: p, calibration: calibration, classLabels: FashionMNIST.classNames,
                                   dataset: "Fashion-MNIST", testAccuracy: 0.85)
        }
        let f32 = try BundleExporter.export(model, options: options(.f32))
        let int8 = try BundleExporter.export(model, options: options(.int8))
        let f16 = try BundleExporter.export(model, options: options(.f16))
        func size(_ b: ModelBundle) -> Int { b.decodedSectionSizes().reduce(0) { $0 + $1.bytes } }
        let ratio = Double(size(int8)) / Double(size(f32))
        XCTAssertLessThanOrEqual(ratio, 0.26, "int8 \(size(int8)) B, f32 \(size(f32)) B")
        XCTAssertLessThanOrEqual(Double(size(f16)) / Double(size(f32)), 0.51)
    }

    func testInspectorReport() throws {
        let bytes = try BundleFixtureTests.tinyBundle(.int8).encode()
        let result = try BundleInspector.inspect(bytes: bytes, name: "tiny.myelin")
        XCTAssertEqual(result.selfTestPassed, true)
        let report = result.report
        for needle in ["tiny.myelin: Myelin bundle 2.0", "precision int8", "GRPH", "DATA", "deflate",
                       "graph (6 ops):", "qlinear", "quantize", "relu", "0.weight+bn.i8 i8 [16, 6] 96 B, stored packed", "class_labels = alpha, beta, gamma, delta",
                       "self-test: 3 vectors, passed", "memory per sample: arena "] {
            XCTAssertTrue(report.contains(needle), "missing \"\(needle)\" in:\n\(report)")
        }
        var damaged = bytes
        damaged[damaged.count - 3] ^= 1
        XCTAssertThrowsError(try BundleInspector.inspect(bytes: damaged, name: "x")) {
            XCTAssertEqual(($0 as? BundleError)?.status, .checksum)
        }
    }
}
