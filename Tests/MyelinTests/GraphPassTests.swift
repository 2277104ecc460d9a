import XCTest
@testable import Myelin

/// Tracing records what forward computed; each export pass keeps the graph's outputs.
final class GraphPassTests: XCTestCase {
    /// Re-runs a traced graph with the training ops (a test oracle for the passes).
    func evaluate(_ g: TracedGraph, _ inputs: [Tensor]) -> [Tensor] {
        var env: [Int: Tensor] = [:]
        for (i, input) in g.inputs.enumerated() { env[input.value] = inputs[i] }
        func operand(_ o: TracedGraph.Operand) -> Tensor {
            switch o {
            case .value(let v): return env[v]!
            case .constant(let c): return g.constants[c].tensor
            }
        }
        return noGrad {
            for n in g.nodes {
                let a = n.inputs.map(operand)
                var y: Tensor
                switch n.op {
                case "linear": y = linear(a[0], weight: a[1], bias: a.count > 2 ? a[2] : nil)
                case "batch_norm":
                    guard case .float(let eps)? = n.attributes["eps"], case .int(let axis)? = n.attributes["axis"] else {
                        XCTFail("batch_norm without eps/axis"); return []
                    }
                    y = batchNormInference(a[0], mean: a[1], variance: a[2], weight: a.count > 3 ? a[3] : nil,
                                           bias: a.count > 4 ? a[4] : nil, eps: Float(eps), axis: axis)
                case "relu": y = a[0].relu()
                case "add": y = a[0] + a[1]
                case "mul": y = a[0] * a[1]
                case "tanh": y = a[0].tanh()
                case "reshape":
                    guard case .ints(let s)? = n.attributes["shape"] else { XCTFail("reshape without shape"); return [] }
                    y = a[0].reshape(s)
                default: XCTFail("oracle lacks \(n.op)"); return []
                }
                if n.attributes["activation"] == .int(1) { y = y.relu() }
                env[n.output] = y
            }
            return g.outputs.map { env[$0.value]! }
        }
    }

    final class Block: Layer {
        let fc1 = Linear(6, 6), bn = BatchNorm1d(6), fc2 = Linear(6, 6)
        var isTraining = true
        func forward(_ x: Tensor) -> Tensor { (x + fc2(bn(fc1(x)).relu())).relu() }
        var description: String { "Block" }
    }

    func trainedBatchNorm(_ bn: BatchNorm1d, seed: UInt64) {
        // Non-trivial running statistics and affine parameters.
        bn.runningMean.data = smooth([bn.features], seed: seed).data
        bn.runningVar.data = smooth([bn.features], seed: seed + 1).data.map { 0.5 + $0 * $0 }
        bn.weight!.data = smooth([bn.features], seed: seed + 2).data
        bn.bias!.data = smooth([bn.features], seed: seed + 3).data
    }

    func testTraceRecordsOpsConstantsAndModulePaths() throws {
        let model = Sequential(Linear(4, 8), BatchNorm1d(8), ReLU(), Dropout(0.5), Linear(8, 3))
        let g = try TracedGraph(tracing: model, example: smooth([5, 4], seed: 1))
        XCTAssertEqual(g.nodes.map(\.op), ["linear", "batch_norm", "relu", "linear"], "\(g)")
        XCTAssertEqual(g.nodes.map(\.modulePath), ["0", "1", "2", "4"])
        XCTAssertEqual(Set(g.constants.map(\.name)),
                       ["0.weight", "0.bias", "1.running_mean", "1.running_var", "1.weight", "1.bias", "4.weight", "4.bias"])
        XCTAssertEqual(g.batch, 5)
        XCTAssertEqual(g.inputs.map(\.name), ["input"])
        XCTAssertEqual(g.outputs.map(\.name), ["output"])
        XCTAssertEqual(g.values[g.outputs[0].value].shape, [5, 3])
        XCTAssertTrue(model.isTraining, "tracing restores the training mode")
        let x = smooth([5, 4], seed: 2)
        model.eval()
        assertClose(evaluate(g, [x])[0].data, noGrad { model(x) }.data, atol: 0, rtol: 0)
    }

    func testBatchNormFoldsAndReluFusesKeepingOutputs() throws {
        let block = Block()
        trainedBatchNorm(block.bn, seed: 10)
        var g = try TracedGraph(tracing: block, example: smooth([7, 6], seed: 3))
        let x = smooth([7, 6], seed: 4)
        let before = evaluate(g, [x])[0]
        XCTAssertEqual(g.foldBatchNorm(), 1)
        XCTAssertEqual(g.nodes.map(\.op), ["linear", "relu", "linear", "add", "relu"], "\(g)")
        XCTAssertEqual(g.fuseActivations(), 1, "only the relu after fc1+bn fuses; the last one follows an add")
        XCTAssertEqual(g.nodes.map(\.op), ["linear", "linear", "add", "relu"], "\(g)")
        XCTAssertEqual(g.nodes[0].attributes["activation"], .int(1))
        assertClose(evaluate(g, [x])[0].data, before.data, atol: 1e-5, rtol: 1e-5)
    }

    func testBatchNormStaysWhenItsInputIsReadTwiceOrIsNotAfterLinear() throws {
        final class Shared: Layer {
            let fc = Linear(3, 3), bn = BatchNorm1d(3)
            var isTraining = true
            func forward(_ x: Tensor) -> Tensor { let h = fc(x); return bn(h) + h }
            var description: String { "Shared" }
        }
        var g = try TracedGraph(tracing: Shared(), example: smooth([2, 3], seed: 5))
        XCTAssertEqual(g.foldBatchNorm(), 0)
        var h = try TracedGraph(tracing: Sequential(Tanh(), BatchNorm1d(3)), example: smooth([2, 3], seed: 6))
        XCTAssertEqual(h.foldBatchNorm(), 0)
        XCTAssertEqual(h.nodes.map(\.op), ["tanh", "batch_norm"])
    }

    func testDeadBranchesAndIdentityReshapesDisappear() throws {
        final class Wasteful: Layer {
            let fc = Linear(3, 2), unused = Linear(3, 5)
            var isTraining = true
            func forward(_ x: Tensor) -> Tensor { _ = unused(x).relu(); return fc(x.reshape([-1, 3])) }
            var description: String { "Wasteful" }
        }
        var g = try TracedGraph(tracing: Wasteful(), example: smooth([4, 3], seed: 7))
        XCTAssertEqual(g.nodes.map(\.op), ["reshape", "linear"], "tracing drops work that reaches no output")
        XCTAssertEqual(g.removeIdentityReshapes(), 1)
        XCTAssertEqual(g.nodes.map(\.op), ["linear"])
        XCTAssertEqual(g.nodes[0].inputs[0], .value(g.inputs[0].value))
    }

    func testMultipleInputsAndOutputs() throws {
        final class TwoHeads: Module {
            let a = Linear(3, 4), b = Linear(2, 4)
            var isTraining = true
            func forward(_ x: Tensor, _ y: Tensor) -> (Tensor, Tensor) { let s = a(x) + b(y); return (s.relu(), s.tanh()) }
            var description: String { "TwoHeads" }
        }
        let m = TwoHeads()
        let g = try TracedGraph(tracing: m, inputs: [("x", smooth([3, 3], seed: 8)), ("y", smooth([3, 2], seed: 9))],
                                outputNames: ["positive", "squashed"]) { let (p, q) = m.forward($0[0], $0[1]); return [p, q] }
        XCTAssertEqual(g.inputs.map(\.name), ["x", "y"])
        XCTAssertEqual(g.outputs.map(\.name), ["positive", "squashed"])
        XCTAssertEqual(g.nodes.map(\.op), ["linear", "linear", "add", "relu", "tanh"])
        XCTAssertEqual(g.nodes.map(\.modulePath), ["a", "b", "", "", ""])
        let x = smooth([3, 3], seed: 10), y = smooth([3, 2], seed: 11)
        let out = evaluate(g, [x, y]), (p, q) = noGrad { m.forward(x, y) }
        assertClose(out[0].data, p.data, atol: 0, rtol: 0)
        assertClose(out[1].data, q.data, atol: 0, rtol: 0)
    }

    func testTraceErrorsNameTheProblem() {
        final class MixesSamples: Layer {
            var isTraining = true
            func forward(_ x: Tensor) -> Tensor { x.sum(axis: 0, keepDims: false) }
            var description: String { "MixesSamples" }
        }
        XCTAssertThrowsError(try TracedGraph(tracing: MixesSamples(), example: smooth([4, 3], seed: 1))) { error in
            guard case TracedGraph.TraceError.batchDimension(let op, _, let shape, let batch) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(op, "sum_axis"); XCTAssertEqual(shape, [3]); XCTAssertEqual(batch, 4)
        }
        XCTAssertThrowsError(try TracedGraph(tracing: Identity(), example: smooth([2, 3], seed: 1))) { error in
            XCTAssertEqual(error as? TracedGraph.TraceError, .outputNotComputed("output"))
        }
        XCTAssertThrowsError(try TracedGraph(tracing: Identity(), inputs: [("a", smooth([2, 3], seed: 1)), ("b", smooth([3, 3], seed: 1))]) { $0 }) {
            XCTAssertTrue("\($0)".contains("batch"), "\($0)")
        }
    }

    func testModulesFindTheirParametersWithoutRegistration() {
        final class Custom: Module {
            let encoder = Linear(4, 3)
            let heads = [Linear(3, 2), Linear(3, 1)]
            let optionalHead: Linear? = Linear(3, 1, bias: false)
            let scale = Tensor.ones([3], requiresGrad: true)
            let table = Tensor.zeros([2, 2])
            var isTraining = true
            var description: String { "Custom" }
        }
        let m = Custom()
        XCTAssertEqual(m.namedParameters().map(\.0),
                       ["scale", "encoder.weight", "encoder.bias", "heads.0.weight", "heads.0.bias",
                        "heads.1.weight", "heads.1.bias", "optionalHead.weight"])
        XCTAssertEqual(m.namedBuffers().map(\.0), ["table"])
        XCTAssertEqual(m.parameterCount, 3 + 15 + 8 + 4 + 3)
        m.eval()
        XCTAssertFalse(m.heads[1].isTraining, "train/eval reaches children found by reflection")
    }
}
