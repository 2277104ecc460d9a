import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

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

    /// Hidden 160: the LSTM's W_hh [640, 160] runs in two column groups forward (384 + 256
    /// columns), so the grouped products and their edges are exercised through the whole node.
    func testFusedLayerWithSeveralColumnGroupsMatchesSteps() {
        XCTAssertEqual(ColumnGroupedWeights.blockDepth, gemmBlockDepth)
        XCTAssertEqual(ColumnGroupedWeights.defaultGroupColumns(inputs: 160), 384)
        XCTAssertEqual(ColumnGroupedWeights.defaultGroupColumns(inputs: 256), 256)
        XCTAssertEqual(ColumnGroupedWeights.defaultGroupColumns(inputs: 1024), 256)
        let lstm = LSTM(6, 160, batchFirst: true, generator: Generator(seed: 15))
        let x = smooth([3, 4, 6], seed: 16), h0 = smooth([1, 3, 160], seed: 17, scale: 0.5), c0 = smooth([1, 3, 160], seed: 18, scale: 0.5)
        assertFusedMatchesSteps("LSTM 160", lstm.stack, inputs: [x, h0, c0], parameters: lstm.parameters()) { t in
            let (y, s) = lstm(t[0], (h: t[1], c: t[2])); return [y, s.h, s.c]
        }
    }

    /// The recurrent product in column groups equals the whole packed product bit for bit
    /// (groups end on the 32-column tile, so every output sums in the same order), and the naive
    /// GEMM within rounding: several depth blocks (k = 300 > 256), a last group that is not a
    /// whole tile (200 = 3·64 + 8), one row (the GEMV path), 13 rows (a partial 6-row tile).
    func testColumnGroupedProductEqualsWholePackedProduct() {
        let n = 200, k = 300
        let w = smooth([n, k], seed: 30).data, bias = smooth([n], seed: 31).data
        for m in [1, 13] {
            let x = smooth([m, k], seed: 32).data
            var whole = [Float](repeating: .nan, count: m * n), grouped = whole, reference = whole
            var packed = [Float](repeating: 0, count: linearPackedCount(outputs: n, inputs: k))
            var workspace = [Float](repeating: 0, count: linearPackedWorkspaceCount)
            w.withUnsafeBufferPointer { wp in
                linearPackWeights(outputs: n, inputs: k, weights: wp.baseAddress!, into: &packed)
                let groups = ColumnGroupedWeights(outputs: n, inputs: k, weights: wp.baseAddress!, groupColumns: 64)
                x.withUnsafeBufferPointer { xp in bias.withUnsafeBufferPointer { bp in workspace.withUnsafeMutableBufferPointer { ws in
                    linearPacked(m: m, n: n, k: k, x: xp.baseAddress!, ldx: k, packed: packed, bias: bp.baseAddress!,
                                 y: &whole, ldy: n, relu: false, workspace: ws.baseAddress!)
                    grouped.withUnsafeMutableBufferPointer {
                        groups.apply(m: m, x: xp.baseAddress!, ldx: k, bias: bp.baseAddress!, y: $0.baseAddress!, ldy: n, workspace: ws.baseAddress!)
                    }
                    for i in 0..<m { for j in 0..<n { reference[i * n + j] = bias[j] } }
                    gemmReference(m: m, n: n, k: k, a: xp.baseAddress!, aRowStride: k, aColStride: 1, b: wp.baseAddress!, bRowStride: 1,
                                  bColStride: k, c: &reference, ldc: n, accumulate: true)
                }}}
            }
            XCTAssertEqual(grouped, whole, "\(m) rows: grouped vs whole packed product")
            assertClose(grouped, reference, atol: 1e-4, rtol: 1e-5, "\(m) rows: grouped vs naive GEMM")
        }
    }

    /// The embedding folded into the first input projection (`LSTM.forward(tokens:embedding:)`,
    /// `CharLSTM.foldsEmbedding`) against embedding then LSTM as two layers: the same outputs,
    /// states and gradients of every parameter (embedding, W_ih, b_ih included) — stacked,
    /// bidirectional, time-major and batch-first, with repeated tokens.
    func testFoldedEmbeddingMatchesEmbeddingThenLayers() {
        let g = Generator(seed: 40)
        let ids = Tensor(shape: [3, 5], data: [0, 4, 4, 9, 2, 1, 1, 8, 3, 0, 9, 9, 9, 5, 6])
        let table = Tensor.randn([10, 6], generator: g, requiresGrad: true)
        for batchFirst in [true, false] {
            let lstm = LSTM(6, 20, numLayers: 2, batchFirst: batchFirst, bidirectional: true, generator: g)
            let h0 = smooth([4, batchFirst ? 3 : 5, 20], seed: 41, scale: 0.5), c0 = smooth([4, batchFirst ? 3 : 5, 20], seed: 42, scale: 0.5)
            var results: [[Float]] = []
            // Folded on the fused node (token rows read in place), folded on the recorded steps
            // (an embedding lookup of the table), then embedding and layers unfolded.
            for (folded, fused) in [(true, true), (true, false), (false, true)] {
                table.zeroGrad(); lstm.zeroGrad()
                lstm.stack.fused = fused
                let (y, s) = folded ? lstm.forward(tokens: ids, embedding: table, (h: h0, c: c0))
                    : lstm(embedding(weight: table, indices: ids), (h: h0, c: c0))
                ((y * smooth(y.shape, seed: 43)).sum() + (s.c * smooth(s.c.shape, seed: 44)).sum()).backward()
                results.append(y.data + s.h.data + s.c.data)
                results.append(table.grad!.data + lstm.parameters().flatMap { $0.grad!.data })
            }
            lstm.stack.fused = true
            for k in [2, 4] {
                assertClose(results[k], results[0], atol: 1e-6, rtol: 1e-5, "batchFirst \(batchFirst): run \(k / 2) vs folded fused, outputs and states")
                assertClose(results[k + 1], results[1], atol: 1e-5, rtol: 1e-4, "batchFirst \(batchFirst): run \(k / 2) vs folded fused, gradients")
            }
        }
        let model = CharLSTM(vocabularySize: 10, embedding: 6, hidden: 20, layers: 2, generator: g)
        model.eval()   // no inter-layer dropout: both passes see the same function
        var results: [[Float]] = []
        for folded in [true, false] {
            model.foldsEmbedding = folded
            model.zeroGrad()
            let logits = model(ids)
            (logits * smooth(logits.shape, seed: 45)).sum().backward()
            results.append(logits.data + model.parameters().flatMap { $0.grad!.data })
        }
        assertClose(results[0], results[1], atol: 1e-5, rtol: 1e-4, "CharLSTM folded vs unfolded: logits and gradients")
    }
}
