import Foundation
import XCTest
@testable import Myelin

/// The fused whole-sequence recurrent node (Autograd/RecurrentLayer.swift): finite-difference
/// checks of the op itself for every cell (hidden sizes that use both the 16-lane body and the
/// scalar tail, forward and reverse, with and without bias), and equality with the recorded
/// per-step cell ops (outputs, final states and every gradient) on stacked, bidirectional,
/// batch-first layers with initial states. The PyTorch goldens (SequenceGoldenTests) run
/// through the fused node too.
final class RecurrentLayerTests: XCTestCase {
    func testFusedSequenceOpGradients() {
        let cells: [(RecurrentCell, String)] = [(.tanh, "tanh"), (.relu, "relu"), (.lstm, "lstm"), (.gru, "gru")]
        for (cell, label) in cells {
            for (hidden, reverse, bias) in [(3, false, true), (17, true, true), (17, false, false)] {
                let gh = cell.gates * hidden
                var inputs = [smooth([4, 2, gh], seed: 1, scale: 0.6), smooth([gh, hidden], seed: 2, scale: cell == .relu ? 0.1 : 0.4)]
                if bias { inputs.append(smooth([gh], seed: 3, scale: 0.3)) }
                inputs.append(smooth([2, hidden], seed: 4, scale: 0.5))
                if cell == .lstm { inputs.append(smooth([2, hidden], seed: 5, scale: 0.5)) }
                // ReLU's kink: keep pre-activations away from 0 (projected inputs pushed out by 0.6,
                // small recurrent weights); both signs still occur.
                if cell == .relu { inputs[0] = Tensor(shape: inputs[0].shape, data: inputs[0].data.map { $0 + ($0 >= 0 ? 0.6 : -0.6) }) }
                assertGradientsMatch("recurrentSequence \(label) hidden \(hidden) reverse \(reverse) bias \(bias)", inputs: inputs,
                                     eps: cell == .relu ? 1e-3 : 1e-2) { t in
                    var k = 2
                    let b: Tensor? = bias ? t[2] : nil
                    if bias { k += 1 }
                    let out = Tensor.recurrentSequence(cell: cell, projected: t[0], weightHH: t[1], biasHH: b, h0: t[k],
                                                       c0: cell == .lstm ? t[k + 1] : nil, reverse: reverse)
                    return out * smooth(out.shape, seed: 9)
                }
            }
        }
    }

    /// Runs `module` fused and unrolled on the same inputs; outputs and all gradients must agree.
    func assertFusedMatchesSteps(_ name: String, _ stack: RecurrentStack, inputs: [Tensor], parameters: [Tensor],
                                 _ forward: ([Tensor]) -> [Tensor]) {
        var results: [[[Float]]] = []
        for fused in [true, false] {
            stack.fused = fused
            for t in inputs + parameters { t.requiresGrad = true; t.zeroGrad() }
            let outputs = forward(inputs)
            var loss: Tensor?
            for (k, o) in outputs.enumerated() {
                let term = (o * smooth(o.shape, seed: UInt64(20 + k))).sum()
                loss = loss.map { $0 + term } ?? term
            }
            loss!.backward()
            results.append(outputs.map(\.data) + (inputs + parameters).map { $0.grad!.data })
        }
        stack.fused = true
        for (k, (a, b)) in zip(results[0], results[1]).enumerated() {
            assertClose(a, b, atol: 2e-6, rtol: 2e-5, "\(name): output or gradient \(k), fused vs steps")
        }
    }

    func testFusedLayersMatchRecordedSteps() {
        let g = Generator(seed: 11)
        let lstm = LSTM(5, 20, numLayers: 2, batchFirst: true, bidirectional: true, generator: g)
        let x = smooth([3, 6, 5], seed: 1), h0 = smooth([4, 3, 20], seed: 2, scale: 0.5), c0 = smooth([4, 3, 20], seed: 3, scale: 0.5)
        assertFusedMatchesSteps("LSTM", lstm.stack, inputs: [x, h0, c0], parameters: lstm.parameters()) { t in
            let (y, s) = lstm(t[0], (h: t[1], c: t[2])); return [y, s.h, s.c]
        }
        let gru = GRU(5, 33, numLayers: 2, bidirectional: true, generator: g)
        let xt = smooth([6, 3, 5], seed: 4), hg = smooth([4, 3, 33], seed: 5, scale: 0.5)
        assertFusedMatchesSteps("GRU", gru.stack, inputs: [xt, hg], parameters: gru.parameters()) { t in
            let (y, h) = gru(t[0], t[1]); return [y, h]
        }
        for nonlinearity in ["tanh", "relu"] {
            let rnn = RNN(5, 18, numLayers: 2, nonlinearity: nonlinearity, batchFirst: true, bidirectional: true, generator: g)
            let hr = smooth([4, 3, 18], seed: 6, scale: 0.5)
            assertFusedMatchesSteps("RNN \(nonlinearity)", rnn.stack, inputs: [x, hr], parameters: rnn.parameters()) { t in
                let (y, h) = rnn(t[0], t[1]); return [y, h]
            }
        }
    }

    /// Several threads split each step's products (parallelGEMM) instead of the one-thread
    /// packed product; outputs and gradients must agree. Batch 128 × 4·64 gates × 64 is above
    /// the parallel threshold.
    func testFusedLayerThreadCountsAgree() {
        let saved = Threading.threads
        defer { Threading.threads = saved }
        let lstm = LSTM(8, 64, batchFirst: true, bidirectional: true, generator: Generator(seed: 12))
        let x = smooth([128, 3, 8], seed: 13)
        var results: [[Float]] = []
        for threads in [1, 2] {
            Threading.threads = threads
            x.requiresGrad = true; x.zeroGrad(); lstm.zeroGrad()
            let (y, s) = lstm(x)
            ((y * smooth(y.shape, seed: 14)).sum() + s.c.sum()).backward()
            results.append(y.data + s.c.data + x.grad!.data + lstm.parameters().flatMap { $0.grad!.data })
        }
        assertClose(results[0], results[1], atol: 1e-6, rtol: 1e-5, "1 vs 2 threads")
    }
}
