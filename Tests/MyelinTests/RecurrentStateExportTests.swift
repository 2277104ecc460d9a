import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// A general recurrent model whose forward takes the initial state and returns the final one
/// (issue 12: "initial state in and final state out") exports with the state as named model
/// inputs and outputs, for LSTM, GRU and RNN, one or two layers, bidirectional, batch-first and
/// time-major: the Swift model equals the Swift executor (`BundleExecutor`) and the C runtime
/// (f32, 1e-5 relative). A state fed back from one call to the next continues the sequence. A
/// state of the wrong shape stops with a message naming the op and both shapes.
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
    static func inputs(_ model: StatefulModel, states: Int, steps: Int = steps, seed: UInt64) -> [Tensor] {
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
    /// Swift model, the Swift executor and the C runtime on `x`.
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

    /// A batch-first state `[B, layers, H]` passed without the transpose to `[layers, B, H]`.
    func testStateOfTheWrongShapeStopsNamingTheOpAndBothShapes() throws {
        let r = try runProduct("CheckProbe", ["recurrent-state-shape"])
        XCTAssertNotEqual(r.status, 0, "did not stop: \(r.stdout)")
        for fragment in ["LSTM: initial hidden state", "[2, 3, 8]", "[3, 2, 8]", "transpose"] {
            XCTAssertTrue(r.stderr.contains(fragment), "message lacks \"\(fragment)\":\n\(r.stderr.prefix(600))")
        }
    }
}
