import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// A general recurrent model whose forward takes the initial state and returns the final one
/// (issue 12: "initial state in and final state out") exports with the state as named model
/// inputs and outputs, for LSTM, GRU and RNN, one or two layers, bidirectional, batch-first and
/// time-major: the Swift model equals the Swift executor (`BundleExecutor`) and the C runtime
/// (f32, 1e-5 relative). A state fed back from one call to the next continues the sequence; a
/// C stream reads the initial state at its first step and keeps the state in its context; int8
/// exports keep the state inputs and outputs. A state of the wrong shape stops with a message
/// naming the op and both shapes.
final class RecurrentStateExportTests: XCTestCase {
    static let batch = 2, steps = 6, features = 5

    /// PyTorch's `y, state = rnn(x, state0)` as a model, every tensor batch first at the
    /// model's boundary (a model input's first dimension is the batch): x `[B, T, F]`, each
    /// state `[B, layers·directions, H]` (none: zeros) → y `[B, T, directions·H]` and the final
    /// states, same shape. The layer itself may be time-major (`batchFirst: false`).
    final class StatefulModel: Module {
        let layer: any SequenceEncoder
        /// Each state's per-sample shape `[layers·directions, H]`.
        let stateShape: [Int]
        let run: (Tensor, [Tensor]) -> (output: Tensor, states: [Tensor])
        var isTraining = true

        init(lstm: LSTM) {
            layer = lstm
            stateShape = [lstm.numLayers * (lstm.bidirectional ? 2 : 1), lstm.hiddenSize]
            run = { x, s in
                let (y, final) = lstm(x, s.isEmpty ? nil : (s[0], s[1]))
                return (y, [final.h, final.c])
            }
        }

        init(gru: GRU) {
            layer = gru
            stateShape = [gru.numLayers * (gru.bidirectional ? 2 : 1), gru.hiddenSize]
            run = { x, s in
                let (y, h) = gru(x, s.first)
                return (y, [h])
            }
        }

        init(rnn: RNN) {
            layer = rnn
            stateShape = [rnn.numLayers * (rnn.bidirectional ? 2 : 1), rnn.hiddenSize]
            run = { x, s in
                let (y, h) = rnn(x, s.first)
                return (y, [h])
            }
        }

        /// x `[B, T, F]`, states `[B, L·D, H]` each → [y `[B, T, D·H]`, final states `[B, L·D, H]`…].
        func forward(_ x: Tensor, _ states: [Tensor]) -> [Tensor] {
            let timeMajor = !layer.batchFirst
            let (y, final) = run(timeMajor ? x.transpose(0, 1) : x, states.map { $0.transpose(0, 1) })
            return [timeMajor ? y.transpose(0, 1) : y] + final.map { $0.transpose(0, 1) }
        }

        var children: [(String, any Module)] { [("rnn", layer)] }
        var description: String { "StatefulModel(\(layer))" }
    }

    /// Inputs x `[B, T, F]` and random states `[B, L·D, H]`, from `seed`.
    static func inputs(_ model: StatefulModel, states: Int, seed: UInt64) -> [Tensor] {
        let g = Generator(seed: seed)
        return [Tensor.randn([batch, steps, features], generator: g)]
            + (0..<states).map { _ in Tensor.randn([batch] + model.stateShape, generator: g) }
    }

    static func export(_ model: StatefulModel, _ inputs: [Tensor], names: [String], outputNames: [String]) throws -> ModelBundle {
        var options = BundleExporter.Options()
        options.calibrationInputs = inputs
        options.selfTestInputs = inputs
        return try BundleExporter.export(model, inputs: zip(names, inputs).map { ($0, Array($1.shape.dropFirst())) },
                                         outputNames: outputNames, options: options) { model.forward($0[0], Array($0.dropFirst())) }
    }

    /// Exports `model`, checks the names of the bundle's inputs and outputs, and compares the
    /// Swift model, the Swift executor and the C runtime on `inputs`.
    func checkParity(_ model: StatefulModel, _ inputs: [Tensor], names: [String], outputNames: [String],
                     file: StaticString = #filePath, line: UInt = #line) throws {
        model.eval()
        let bundle = try Self.export(model, inputs, names: names, outputNames: outputNames)
        XCTAssertEqual(bundle.inputs.map { bundle.values[$0].name }, names, file: file, line: line)
        XCTAssertEqual(bundle.outputs.map { bundle.values[$0].name }, outputNames, file: file, line: line)
        let expected = noGrad { model.forward(inputs[0], Array(inputs.dropFirst())) }
        let fromSwift = try BundleExecutor(validating: bundle).run(inputs.map(\.data), batch: Self.batch)
        let fromC = try ConvRuntimeTests.runC(try requireRuntime(), bundle, inputs.map(\.data), n: Self.batch)
        for (i, name) in outputNames.enumerated() {
            assertClose(fromSwift[i], expected[i].data, atol: 1e-5, rtol: 1e-5, "\(name) from the Swift executor", file: file, line: line)
            assertClose(fromC[i], expected[i].data, atol: 1e-5, rtol: 1e-5, "\(name) from C", file: file, line: line)
        }
    }

    func testTwoLayerLSTMTakesH0C0AndReturnsHnCn() throws {
        let model = StatefulModel(lstm: LSTM(Self.features, 6, numLayers: 2, batchFirst: true, generator: Generator(seed: 1)))
        try checkParity(model, Self.inputs(model, states: 2, seed: 11), names: ["x", "h0", "c0"], outputNames: ["y", "h_n", "c_n"])
    }

    /// The example of `LSTM`'s documentation: per-sample shapes of the named inputs and outputs.
    func testDocumentationExampleExports() throws {
        let lstm = LSTM(32, 64, batchFirst: true, generator: Generator(seed: 10))
        let bundle = try BundleExporter.export(lstm, inputs: [("x", [35, 32]), ("h0", [1, 64]), ("c0", [1, 64])],
                                               outputNames: ["y", "h_n", "c_n"]) { t in
            let (y, s) = lstm(t[0], (t[1].transpose(0, 1), t[2].transpose(0, 1)))
            return [y, s.h.transpose(0, 1), s.c.transpose(0, 1)]
        }
        let shapes = { (ids: [Int]) in ids.map { "\(bundle.values[$0].name) \(bundle.values[$0].shape)" } }
        XCTAssertEqual(shapes(bundle.inputs), ["x [35, 32]", "h0 [1, 64]", "c0 [1, 64]"])
        XCTAssertEqual(shapes(bundle.outputs), ["y [35, 64]", "h_n [1, 64]", "c_n [1, 64]"])
        XCTAssertEqual(bundle.ops.filter { $0.code == .lstm }.count, 1)
    }

    /// From the zero state (no state inputs), the final state is still an output.
    func testLSTMFromZeroStateReturnsHnCn() throws {
        let model = StatefulModel(lstm: LSTM(Self.features, 6, batchFirst: true, bidirectional: true, generator: Generator(seed: 6)))
        try checkParity(model, Self.inputs(model, states: 0, seed: 16), names: ["x"], outputNames: ["y", "h_n", "c_n"])
    }

    /// Two directions and a batch of two: the state's `[layers·directions, B, H]` has the
    /// batch's size in both of its leading axes.
    func testBidirectionalGRUTakesH0AndReturnsHn() throws {
        let model = StatefulModel(gru: GRU(Self.features, 4, numLayers: 2, batchFirst: true, bidirectional: true, generator: Generator(seed: 2)))
        try checkParity(model, Self.inputs(model, states: 1, seed: 12), names: ["x", "h0"], outputNames: ["y", "h_n"])
    }

    func testTimeMajorRNNTakesH0AndReturnsHn() throws {
        let tanh = StatefulModel(rnn: RNN(Self.features, 6, numLayers: 2, bias: false, generator: Generator(seed: 3)))
        try checkParity(tanh, Self.inputs(tanh, states: 1, seed: 13), names: ["x", "h0"], outputNames: ["y", "h_n"])
        let relu = StatefulModel(rnn: RNN(Self.features, 6, nonlinearity: "relu", bidirectional: true, generator: Generator(seed: 4)))
        try checkParity(relu, Self.inputs(relu, states: 1, seed: 14), names: ["x", "h0"], outputNames: ["y", "h_n"])
    }

    /// A bundle of half the sequence, called twice from C with the first call's h_n, c_n fed
    /// back as h0, c0, gives the whole sequence's last half and final state.
    func testStateFedBackContinuesTheSequence() throws {
        let model = StatefulModel(lstm: LSTM(Self.features, 5, numLayers: 2, batchFirst: true, generator: Generator(seed: 5)))
        model.eval()
        let whole = Self.inputs(model, states: 2, seed: 15)
        let half = Self.steps / 2
        let halves = (0..<2).map { whole[0].narrow(axis: 1, start: $0 * half, length: half) }
        let expected = noGrad { model.forward(whole[0], Array(whole.dropFirst())) }
        let bundle = try Self.export(model, [halves[0]] + whole.dropFirst(), names: ["x", "h0", "c0"], outputNames: ["y", "h_n", "c_n"])
        let library = try requireRuntime()
        let first = try ConvRuntimeTests.runC(library, bundle, [halves[0].data, whole[1].data, whole[2].data], n: Self.batch)
        let second = try ConvRuntimeTests.runC(library, bundle, [halves[1].data, first[1], first[2]], n: Self.batch)
        assertClose(second[0], expected[0].narrow(axis: 1, start: half, length: half).data, atol: 1e-5, rtol: 1e-5, "y of the second half")
        assertClose(second[1], expected[1].data, atol: 1e-5, rtol: 1e-5, "h_n")
        assertClose(second[2], expected[2].data, atol: 1e-5, rtol: 1e-5, "c_n")
        let executor = try BundleExecutor(validating: bundle, reference: false)   // the kernels C runs
        let swiftFirst = executor.run([halves[0].data, whole[1].data, whole[2].data], batch: Self.batch)
        XCTAssertEqual(executor.run([halves[1].data, swiftFirst[1], swiftFirst[2]], batch: Self.batch), second,
                       "the Swift executor carries the state like C")
    }

    /// int8 recurrent weights: C equals the Swift executor bit for bit and stays within weight
    /// rounding of the float model; each layer's isolated error in the report is measured on
    /// its own samples (batch first, also for a time-major layer's input and a state slice).
    func testInt8ExportTakesAndReturnsTheState() throws {
        let models = [
            StatefulModel(lstm: LSTM(Self.features, 6, numLayers: 2, batchFirst: true, generator: Generator(seed: 8))),
            StatefulModel(rnn: RNN(Self.features, 6, numLayers: 2, bidirectional: true, generator: Generator(seed: 9))),
        ]
        for (model, names) in zip(models, [["x", "h0", "c0"], ["x", "h0"]]) {
            model.eval()
            let inputs = Self.inputs(model, states: names.count - 1, seed: 18)
            let outputNames = ["y"] + (names.count == 3 ? ["h_n", "c_n"] : ["h_n"])
            var options = BundleExporter.Options(precision: .int8)
            options.calibrationInputs = inputs
            options.selfTestInputs = inputs
            let (bundle, report) = try BundleExporter.exportWithReport(model, inputs: zip(names, inputs).map { ($0, Array($1.shape.dropFirst())) },
                                                                       outputNames: outputNames, options: options) {
                model.forward($0[0], Array($0.dropFirst()))
            }
            XCTAssertEqual(report?.layers.filter(\.quantized).count, 2, "\(model): both recurrent layers in int8")
            for layer in report?.layers ?? [] { XCTAssertGreaterThan(layer.sqnr, 40, "\(model): \(layer.name) SQNR") }
            let expected = noGrad { model.forward(inputs[0], Array(inputs.dropFirst())) }
            let fromC = try ConvRuntimeTests.runC(try requireRuntime(), bundle, inputs.map(\.data), n: Self.batch)
            let fromSwift = try BundleExecutor(validating: bundle, reference: false).run(inputs.map(\.data), batch: Self.batch)
            XCTAssertEqual(fromC, fromSwift, "\(model): C and the Swift executor")
            for (i, name) in outputNames.enumerated() {
                assertClose(fromC[i], expected[i].data, atol: 2e-2, rtol: 0, "\(model): int8 \(name)")
            }
        }
    }

    /// Streamed from C step by step and in chunks, the initial state read at the first step
    /// only: each call's y rows are the whole sequence's, and h_n, c_n are the final state of
    /// the steps fed so far; the Swift executor's stream agrees.
    func testStreamFromTheInitialStateKeepsTheStateInTheContext() throws {
        let model = StatefulModel(lstm: LSTM(Self.features, 5, numLayers: 2, batchFirst: true, generator: Generator(seed: 7)))
        model.eval()
        let inputs = Self.inputs(model, states: 2, seed: 17)
        let states = Array(inputs.dropFirst())
        let bundle = try Self.export(model, inputs, names: ["x", "h0", "c0"], outputNames: ["y", "h_n", "c_n"])
        let whole = noGrad { model.forward(inputs[0], states) }
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
        let runtime = try StreamingRuntime.Model(library, bytes: bundle.encode(), maxBatch: Self.batch)
        XCTAssertEqual((0..<3).map { runtime.outputIsSequence($0) }, [1, 0, 0])
        let swiftStream = try BundleExecutor(validating: bundle, reference: false).stream(maxBatch: Self.batch)
        let width = whole[0].count / (Self.batch * Self.steps), stateSize = model.stateShape.reduce(1, *)
        for chunks in [[1, 1, 1, 1, 1, 1], [2, 3, 1]] {
            XCTAssertEqual(runtime.reset(), 0)
            swiftStream.reset()
            var t = 0
            for k in chunks {
                let rows = inputs[0].narrow(axis: 1, start: t, length: k).data
                let fromC = try Self.step(runtime, [rows] + states.map(\.data), steps: k, outputSizes: [k * width, stateSize, stateSize])
                let fromSwift = try swiftStream.step([rows] + states.map(\.data), batch: Self.batch, steps: k)
                let soFar = noGrad { model.forward(inputs[0].narrow(axis: 1, start: 0, length: t + k), states) }
                let message = "steps \(t)..<\(t + k) (chunks \(chunks))"
                assertClose(fromC[0], whole[0].narrow(axis: 1, start: t, length: k).data, atol: 1e-5, rtol: 1e-5, "y, \(message)")
                assertClose(fromC[1], soFar[1].data, atol: 1e-5, rtol: 1e-5, "h_n, \(message)")
                assertClose(fromC[2], soFar[2].data, atol: 1e-5, rtol: 1e-5, "c_n, \(message)")
                XCTAssertEqual(fromSwift, fromC, "the Swift stream and C, \(message)")
                t += k
            }
        }
    }

    /// `myelin_step` of `runtime` on f32 inputs, with one output buffer per graph output of
    /// the given per-sample element counts.
    static func step(_ runtime: StreamingRuntime.Model, _ inputs: [[Float]], steps: Int, outputSizes: [Int]) throws -> [[Float]] {
        let ins = inputs.map { x -> UnsafeMutableRawPointer in
            let p = UnsafeMutableRawPointer.allocate(byteCount: x.count * 4, alignment: 64)
            x.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            return p
        }
        let outs = outputSizes.map { UnsafeMutableRawPointer.allocate(byteCount: batch * $0 * 4, alignment: 64) }
        defer { for p in ins + outs { p.deallocate() } }
        let inPointers: [UnsafeRawPointer?] = ins.map { UnsafeRawPointer($0) }
        let outPointers: [UnsafeMutableRawPointer?] = outs
        let status = runtime.library.step(runtime.context, batch, steps, inPointers, outPointers)
        guard status == 0 else { throw BundleError(BundleStatus(rawValue: status) ?? .corrupt, "myelin_step: status \(status)") }
        return zip(outs, outputSizes).map { Array(UnsafeBufferPointer(start: $0.assumingMemoryBound(to: Float.self), count: batch * $1)) }
    }

    /// A batch-first state `[B, layers, H]` passed without the transpose to `[layers, B, H]`.
    func testStateOfTheWrongShapeStopsNamingTheOpAndBothShapes() throws {
        let r = try runProduct("CheckProbe", ["recurrent-state-shape"])
        XCTAssertNotEqual(r.status, 0, "did not stop: \(r.stdout)")
        for fragment in ["LSTM: initial hidden state", "[2, 3, 8]", "[3, 2, 8]", "transpose"] {
            XCTAssertTrue(r.stderr.contains(fragment), "message lacks \"\(fragment)\":\n\(r.stderr.prefix(600))")
        }
    }
}
