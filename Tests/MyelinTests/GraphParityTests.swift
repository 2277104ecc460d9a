import XCTest
@testable import Myelin
@testable import MyelinShared

/// The graph issue's proof: a residual MLP and a two-input model (image plus a side vector)
/// train on Fashion-MNIST, export by tracing, and run from C through the multi-input API —
/// f32 within 1e-5 relative of the Swift model, int8 exactly equal to the Swift integer
/// reference — and the planned arena of the residual model is smaller than its values.
/// (Trained briefly on a slice of the data; `examples/graph-models` trains them fully.)
final class GraphParityTests: XCTestCase {
    final class ResidualBlock: Layer {
        let fc1: Linear, fc2: Linear
        var isTraining = true
        init(_ width: Int, _ g: Generator) { fc1 = Linear(width, width, generator: g); fc2 = Linear(width, width, generator: g) }
        func forward(_ x: Tensor) -> Tensor { (x + fc2(fc1(x).relu())).relu() }
        var description: String { "ResidualBlock" }
    }

    final class ResidualMLP: Layer {
        let stem: Linear, bn: BatchNorm1d, blocks: [ResidualBlock], head: Linear
        var isTraining = true
        init(_ g: Generator) {
            stem = Linear(784, 64, generator: g); bn = BatchNorm1d(64)
            blocks = [ResidualBlock(64, g), ResidualBlock(64, g)]
            head = Linear(64, 10, generator: g)
        }
        func forward(_ x: Tensor) -> Tensor {
            var h = bn(stem(x)).relu()
            for b in blocks { h = b(h) }
            return head(h)
        }
        var description: String { "ResidualMLP" }
    }

    final class ImageWithSide: Module {
        let image: Sequential, side: Linear, head: Linear
        var isTraining = true
        init(_ g: Generator) {
            image = Sequential(Linear(784, 48, generator: g), ReLU())
            side = Linear(28, 8, generator: g)
            head = Linear(56, 10, generator: g)
        }
        func forward(_ x: Tensor, _ v: Tensor) -> Tensor { head(Tensor.concat([image(x), side(v).tanh()], axis: 1)) }
        var description: String { "ImageWithSide" }
    }

    static func sideVector(_ images: Tensor) -> Tensor { images.reshape([-1, 28, 28]).mean(axis: 1) }

    struct Data { let train: Dataset; let test: Dataset }

    static let data: Data? = {
        guard let (train, test) = try? FashionMNIST.load() else { return nil }
        return Data(train: train.subset(Array(0..<3000)), test: test.subset(Array(0..<2000)))
    }()

    func requireData() throws -> Data {
        guard let d = Self.data else {
            XCTFail("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist; scripts/test.sh does)")
            throw BundleError(.io, "no data")
        }
        return d
    }

    func train(_ model: any Module, _ data: Dataset, _ logits: (Tensor) -> Tensor) {
        let optimizer = Adam(model.parameters(), lr: 2e-3)
        model.train()
        for batch in DataLoader(data, batchSize: 64, generator: Generator(seed: 5)) {
            optimizer.zeroGrad()
            crossEntropy(logits(batch.inputs), batch.labels).backward()
            optimizer.step()
        }
        model.eval()
    }

    /// Largest `|a − b|` of a sample's outputs relative to the largest `|b|` of that sample
    /// (an elementwise ratio would divide by logits that happen to be near zero).
    func maxRelativeError(_ a: [Float], _ b: [Float], width: Int = 10) -> Float {
        XCTAssertEqual(a.count, b.count)
        var worst: Float = 0
        for s in stride(from: 0, to: b.count, by: width) {
            var scale: Float = 0, error: Float = 0
            for i in s..<(s + width) { scale = Swift.max(scale, Swift.abs(b[i])); error = Swift.max(error, Swift.abs(a[i] - b[i])) }
            worst = Swift.max(worst, error / Swift.max(scale, 1e-6))
        }
        return worst
    }

    func testResidualMLPMatchesInC() throws {
        let data = try requireData(), library = try requireRuntime()
        let model = ResidualMLP(Generator(seed: 1))
        train(model, data.train) { model($0) }
        let expected = noGrad { model(data.test.inputs) }.data
        let calibration = data.train.inputs.rows(0..<500)
        for precision in [BundlePrecision.f32, .int8] {
            let bundle = try BundleExporter.export(model, options: .init(precision: precision, calibration: calibration))
            XCTAssertTrue(bundle.ops.contains { $0.code == .add }, "the residual additions are in the graph")
            XCTAssertFalse(bundle.ops.contains { $0.code == .scaleShift }, "BatchNorm folded into the stem")
            let n = data.test.count
            let runtime = try RuntimeLibrary.Model(library, bytes: bundle.encode(), maxBatch: 256, outputSize: 10)
            var c: [Float] = []
            for start in stride(from: 0, to: n, by: 256) {
                let b = Swift.min(256, n - start)
                let (status, out) = runtime.runMulti([Array(data.test.inputs.data[(start * 784)..<((start + b) * 784)])], batch: b, outputSizes: [10])
                XCTAssertEqual(status, 0)
                c += out[0]
            }
            if precision == .f32 {
                let error = maxRelativeError(c, expected)
                XCTAssertLessThanOrEqual(error, 1e-5, "f32: C against the Swift model")
            } else {
                XCTAssertEqual(c, BundleExecutor(bundle, reference: true).run(data.test.inputs.data, batch: n),
                               "int8: C equals the Swift integer reference")
                let agree = zip(RuntimeParityTests.argmaxes(c, classes: 10), RuntimeParityTests.argmaxes(expected, classes: 10)).filter { $0 == $1 }.count
                XCTAssertGreaterThanOrEqual(Double(agree) / Double(n), 0.97, "int8 argmax agrees with float")
            }
        }
    }

    func testResidualArenaIsSmallerThanItsValues() throws {
        let model = ResidualMLP(Generator(seed: 2))
        let bundle = try BundleExporter.export(model)
        let batch = 64
        let executor = BundleExecutor(bundle)
        let arena = try executor.arenaBytes(maxBatch: batch), layout = try executor.arenaLayout(maxBatch: batch)
        XCTAssertEqual(layout.scratch + layout.values, arena)
        // Every value but the caller's input and output, at 4 bytes per element.
        let io = Set(bundle.inputs + bundle.outputs)
        let sum = bundle.values.indices.filter { !io.contains($0) }.reduce(0) { $0 + bundle.values[$1].count * 4 * batch }
        XCTAssertEqual(bundle.ops.filter { $0.code == .add }.count, 2)
        XCTAssertLessThan(layout.values, sum, "the planner reuses dead buffers (values \(layout.values) B planned, \(sum) B in all)")
        XCTAssertLessThanOrEqual(layout.values, 3 * sum / 9, "a residual chain needs three live values at a time (9 values here)")
    }

    func testTwoInputModelMatchesInC() throws {
        let data = try requireData(), library = try requireRuntime()
        let model = ImageWithSide(Generator(seed: 3))
        train(model, data.train) { model.forward($0, Self.sideVector($0)) }
        let images = data.test.inputs, side = Self.sideVector(images)
        let expected = noGrad { model.forward(images, side) }.data
        let n = data.test.count
        for precision in [BundlePrecision.f32, .int8] {
            var options = BundleExporter.Options(precision: precision)
            let calibrationImages = data.train.inputs.rows(0..<500)
            options.calibrationInputs = [calibrationImages, Self.sideVector(calibrationImages)]
            let bundle = try BundleExporter.export(model, inputs: [("image", [784]), ("side", [28])], outputNames: ["logits"],
                                                   options: options) { [model.forward($0[0], $0[1])] }
            XCTAssertEqual(bundle.inputs.map { bundle.values[$0].name }, ["image", "side"])
            XCTAssertEqual(bundle.outputs.map { bundle.values[$0].name }, ["logits"])
            XCTAssertTrue(bundle.ops.contains { $0.code == .concat })
            let runtime = try RuntimeLibrary.Model(library, bytes: bundle.encode(), maxBatch: n, outputSize: 10)
            var index = -1
            XCTAssertEqual(library.findInput(runtime.handle, "side", &index), 0)
            XCTAssertEqual(index, 1)
            let (status, out) = runtime.runMulti([images.data, side.data], batch: n, outputSizes: [10])
            XCTAssertEqual(status, 0)
            if precision == .f32 {
                XCTAssertLessThanOrEqual(maxRelativeError(out[0], expected), 1e-5, "f32: C against the Swift model")
            } else {
                XCTAssertEqual(out[0], BundleExecutor(bundle, reference: true).run([images.data, side.data], batch: n)[0],
                               "int8: C equals the Swift integer reference")
            }
            XCTAssertEqual(runtime.selfTestStatus, 0)
        }
    }
}
