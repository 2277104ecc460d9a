import Foundation
import XCTest
@testable import Myelin

/// Finite-difference gradient checks of the sequence-model ops and layers, and the behaviour
/// of the layers, sampling and the text dataset (the PyTorch comparisons are in
/// SequenceGoldenTests).
final class SequenceModelTests: XCTestCase {
    // MARK: Gradient checks

    func testCellOpGradients() {
        let gates = smooth([2, 12], seed: 1), c = smooth([2, 3], seed: 2)
        assertGradientsMatch("lstmCellState", inputs: [gates, c]) { Tensor.lstmCellState(gates: $0[0], c: $0[1]) }
        assertGradientsMatch("lstmCellOutput", inputs: [gates, c]) { Tensor.lstmCellOutput(gates: $0[0], c: $0[1]) }
        let x = smooth([2, 9], seed: 3), hg = smooth([2, 9], seed: 4), h = smooth([2, 3], seed: 5)
        assertGradientsMatch("gruCell", inputs: [x, hg, h]) { Tensor.gruCell(x: $0[0], hg: $0[1], h: $0[2]) }
    }

    func testRecurrentLayerGradients() {
        let g = Generator(seed: 3)
        let rnn = RNN(2, 3, numLayers: 2, batchFirst: true, bidirectional: true, generator: g)
        let x = smooth([2, 3, 2], seed: 6), h0 = smooth([4, 2, 3], seed: 7, scale: 0.5)
        assertGradientsMatch("RNN", inputs: [x, h0] + rnn.parameters()) { t in
            let (y, h) = rnn(t[0], t[1])
            return Tensor.concat([y.reshape([-1]), h.reshape([-1])], axis: 0)
        }
        let lstm = LSTM(2, 3, numLayers: 2, bidirectional: true, generator: g)
        let xs = smooth([3, 2, 2], seed: 8), c0 = smooth([4, 2, 3], seed: 9, scale: 0.5)
        assertGradientsMatch("LSTM", inputs: [xs, h0, c0] + lstm.parameters()) { t in
            let (y, s) = lstm(t[0], (h: t[1], c: t[2]))
            return Tensor.concat([y.reshape([-1]), s.h.reshape([-1]), s.c.reshape([-1])], axis: 0)
        }
        let gru = GRU(2, 3, numLayers: 2, batchFirst: true, generator: g)
        let h1 = smooth([2, 2, 3], seed: 10, scale: 0.5)
        assertGradientsMatch("GRU", inputs: [x, h1] + gru.parameters()) { t in
            let (y, h) = gru(t[0], t[1])
            return Tensor.concat([y.reshape([-1]), h.reshape([-1])], axis: 0)
        }
    }

    func testNormalizationAndGELUGradients() {
        let x = smooth([2, 3, 4], seed: 11), w = smooth([4], seed: 12), b = smooth([4], seed: 13)
        assertGradientsMatch("layerNorm affine", inputs: [x, w, b]) { $0[0].layerNorm(axes: 1, weight: $0[1], bias: $0[2]) }
        assertGradientsMatch("layerNorm two axes", inputs: [x]) { $0[0].layerNorm(axes: 2) }
        assertGradientsMatch("gelu", inputs: [x]) { $0[0].gelu() }
        assertGradientsMatch("gelu tanh", inputs: [x]) { $0[0].gelu(approximateTanh: true) }
    }

    func testSequenceCrossEntropyGradient() {
        let logits = smooth([2, 3, 4], seed: 14)
        let targets = Tensor(shape: [2, 3], data: [1, -1, 3, 0, 2, -1])
        assertGradientsMatch("sequenceCrossEntropy", inputs: [logits]) { sequenceCrossEntropy($0[0], targets, ignoreIndex: -1) }
        assertGradientsMatch("sequenceCrossEntropy sum", inputs: [logits]) {
            sequenceCrossEntropy($0[0], targets, ignoreIndex: -1, reduction: .sum)
        }
        XCTAssertEqual(sequenceCrossEntropy(logits, [[1, -1, 3], [0, 2, -1]], ignoreIndex: -1).item,
                       sequenceCrossEntropy(logits, targets, ignoreIndex: -1).item)
        // Only ignored positions: the mean is 0, not NaN.
        XCTAssertEqual(sequenceCrossEntropy(logits, Tensor.full([2, 3], -1), ignoreIndex: -1).item, 0)
    }

    func testAttentionGradients() {
        let q = smooth([2, 3, 4], seed: 15), k = smooth([2, 5, 4], seed: 16), v = smooth([2, 5, 2], seed: 17)
        let pad = Tensor(shape: [2, 1, 5], data: [0, 0, 0, 0, 1, 0, 0, 1, 1, 1])
        assertGradientsMatch("scaledDotProductAttention masked", inputs: [q, k, v]) {
            scaledDotProductAttention($0[0], $0[1], $0[2], mask: pad, causal: true)
        }
        let g = Generator(seed: 4)
        let mha = MultiheadAttention(4, numHeads: 2, batchFirst: true, generator: g)
        let x = smooth([2, 3, 4], seed: 18)
        assertGradientsMatch("MultiheadAttention", inputs: [x] + mha.parameters()) { t in
            mha(t[0], t[0], t[0], keyPaddingMask: Tensor(shape: [2, 3], data: [0, 0, 1, 0, 0, 0]), causal: true).output
        }
        let layer = TransformerEncoderLayer(4, numHeads: 2, dimFeedforward: 6, dropout: 0, activation: .gelu,
                                            batchFirst: true, normFirst: true, generator: g)
        assertGradientsMatch("TransformerEncoderLayer", inputs: [x] + layer.parameters()) { layer($0[0], causal: true) }
        let decoder = TransformerDecoderLayer(4, numHeads: 2, dimFeedforward: 6, dropout: 0, activation: .gelu,
                                              batchFirst: true, generator: g)
        let memory = smooth([2, 2, 4], seed: 19)
        assertGradientsMatch("TransformerDecoderLayer", inputs: [x, memory]) { decoder($0[0], memory: $0[1], tgtCausal: true) }
    }

    func testEmbeddingAndPositionGradients() {
        let g = Generator(seed: 5)
        let embed = Embedding(5, 3, generator: g)
        let ids = Tensor(shape: [2, 3], data: [0, 4, 4, 1, 2, 0])
        assertGradientsMatch("Embedding", inputs: [embed.weight]) { _ in embed(ids) }
        let learned = LearnedPositionalEncoding(4, 3, generator: g)
        let x = smooth([2, 3, 3], seed: 20)
        assertGradientsMatch("LearnedPositionalEncoding", inputs: [x, learned.weight]) { learned($0[0]) }
        let fixed = SinusoidalPositionalEncoding(3, maxLength: 8, batchFirst: false)
        assertGradientsMatch("SinusoidalPositionalEncoding", inputs: [x]) { fixed($0[0]) }
    }

    // MARK: Behaviour

    func testParameterNamesFollowPyTorch() {
        let lstm = LSTM(3, 4, numLayers: 2, bidirectional: true)
        let names = lstm.namedParameters().map { $0.0 }
        XCTAssertEqual(names.prefix(8), ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                         "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse"])
        XCTAssertEqual(lstm.namedParameters().first { $0.0 == "weight_ih_l1" }?.1.shape, [16, 8])
        XCTAssertEqual(GRU(3, 4, bias: false).namedParameters().map { $0.0 }, ["weight_ih_l0", "weight_hh_l0"])
        let layer = TransformerEncoderLayer(8, numHeads: 2, dimFeedforward: 16)
        XCTAssertEqual(Set(layer.stateDict().names), ["self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                                                     "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
                                                     "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"])
    }

    func testShapesStatesAndBatchFirst() {
        let gru = GRU(5, 6, numLayers: 2, bidirectional: true, generator: Generator(seed: 1))
        let x = smooth([7, 3, 5], seed: 21)
        let (y, h) = gru(x)
        XCTAssertEqual(y.shape, [7, 3, 12])
        XCTAssertEqual(h.shape, [4, 3, 6])
        // The forward direction's last output is its final state; the reverse one's is at t = 0.
        assertClose(y.select(axis: 0, index: 6).narrow(axis: 1, start: 0, length: 6).data, h.select(axis: 0, index: 2).data)
        assertClose(y.select(axis: 0, index: 0).narrow(axis: 1, start: 6, length: 6).data, h.select(axis: 0, index: 3).data)
        // batchFirst only transposes the input and output.
        let bf = GRU(5, 6, numLayers: 2, batchFirst: true, bidirectional: true)
        try! bf.loadStateDict(gru.stateDict())
        let (yb, hb) = bf(x.transpose(0, 1))
        assertClose(yb.transpose(0, 1).data, y.data)
        assertClose(hb.data, h.data)
        // Running in two halves with the state carried equals one run.
        let (y1, s1) = gru(x.narrow(axis: 0, start: 0, length: 4))
        let (y2, s2) = gru(x.narrow(axis: 0, start: 4, length: 3), s1)
        let uni = GRU(5, 6, generator: Generator(seed: 2))
        let (u, uh) = uni(x)
        let (u1, uh1) = uni(x.narrow(axis: 0, start: 0, length: 4))
        let (u2, uh2) = uni(x.narrow(axis: 0, start: 4, length: 3), uh1)
        assertClose(Tensor.concat([u1, u2], axis: 0).data, u.data, atol: 1e-6)
        assertClose(uh2.data, uh.data, atol: 1e-6)
        XCTAssertEqual(y1.shape, [4, 3, 12]); XCTAssertEqual(y2.shape, [3, 3, 12]); XCTAssertEqual(s2.shape, [4, 3, 6])
        let classifier = Sequential(LastStep(LSTM(4, 5, batchFirst: true), sequenceShape: [3, 4]), Linear(5, 2))
        XCTAssertEqual(classifier(smooth([6, 12], seed: 22)).shape, [6, 2])
    }

    func testTruncatedBPTTStopsAtDetachedState() {
        let lstm = LSTM(2, 3, batchFirst: true, generator: Generator(seed: 6))
        let first = smooth([1, 4, 2], seed: 23)
        first.requiresGrad = true
        let (_, s) = lstm(first)
        let carried: LSTM.State = (s.h.detach(), s.c.detach())
        XCTAssertFalse(carried.h.requiresGrad)
        let (y, _) = lstm(smooth([1, 4, 2], seed: 24), carried)
        y.sum().backward()
        XCTAssertNil(first.grad, "the gradient must not cross the detached state")
        XCTAssertNotNil(lstm.parameters()[0].grad)
    }

    func testRecurrentDropoutOnlyInTraining() {
        let lstm = LSTM(3, 4, numLayers: 2, dropout: 0.5, generator: Generator(seed: 7))
        let x = smooth([5, 2, 3], seed: 25)
        lstm.eval()
        let a = lstm(x).output, b = lstm(x).output
        XCTAssertEqual(a.data, b.data)
        lstm.train()
        XCTAssertNotEqual(lstm(x).output.data, a.data)
    }

    func testAttentionMasksHideKeys() {
        let q = smooth([1, 3, 4], seed: 26), k = smooth([1, 3, 4], seed: 27), v = smooth([1, 3, 2], seed: 28)
        let out = scaledDotProductAttention(q, k, v, causal: true)
        // The first query sees only the first key, so it returns the first value.
        assertClose(Array(out.data[0..<2]), Array(v.data[0..<2]), atol: 1e-6)
        XCTAssertEqual(causalMask(3).data, [0, 1, 1, 0, 0, 1, 0, 0, 0])
        let mha = MultiheadAttention(4, numHeads: 2, batchFirst: true)
        let w = mha(q, k, k, keyPaddingMask: Tensor(shape: [1, 3], data: [0, 1, 0])).weights!
        for row in 0..<3 { XCTAssertEqual(w[0, row, 1], 0) }
    }

    func testSinusoidalTableAndLayerNormStatistics() {
        let pe = SinusoidalPositionalEncoding(4, maxLength: 10).pe
        XCTAssertEqual(pe[3, 0], Float(Foundation.sin(3.0)), accuracy: 1e-6)
        XCTAssertEqual(pe[3, 1], Float(Foundation.cos(3.0)), accuracy: 1e-6)
        XCTAssertEqual(pe[5, 2], Float(Foundation.sin(5.0 / 100)), accuracy: 1e-6)
        let y = LayerNorm(6)(smooth([3, 6], seed: 29, scale: 4))
        for r in 0..<3 {
            let row = Array(y.data[(r * 6)..<(r * 6 + 6)])
            XCTAssertEqual(row.reduce(0, +) / 6, 0, accuracy: 1e-5)
            XCTAssertEqual(row.map { $0 * $0 }.reduce(0, +) / 6, 1, accuracy: 1e-3)
        }
    }

    func testSampling() {
        let logits = Tensor(shape: [2, 4], data: [0, 3, 1, 2, 5, 0, 0, 4])
        XCTAssertEqual(sample(logits: logits, temperature: 0), [1, 0])
        XCTAssertEqual(sample(logits: logits, temperature: 1, generator: Generator(seed: 3)),
                       sample(logits: logits, temperature: 1, generator: Generator(seed: 3)))
        let g = Generator(seed: 9)
        var counts = [0, 0, 0, 0]
        for _ in 0..<2000 { counts[sample(logits: logits.select(axis: 0, index: 0), topK: 2, generator: g)[0]] += 1 }
        XCTAssertEqual(counts[0] + counts[2], 0, "top-2 keeps only the two largest logits")
        // P(1) = e³ / (e³ + e²) ≈ 0.731.
        XCTAssertEqual(Double(counts[1]) / 2000, 0.731, accuracy: 0.04)
        var cold = 0
        for _ in 0..<500 where sample(logits: logits.select(axis: 0, index: 0), temperature: 0.25, generator: g)[0] == 1 { cold += 1 }
        XCTAssertGreaterThan(cold, 480, "a low temperature concentrates on the most likely id")
    }

    func testTextDatasetSplitsAndBatches() {
        let docs = (0..<20).map { "doc \($0) é\n" }
        let text = TextDataset(documents: docs, validationEvery: 10)
        XCTAssertEqual(text.decode(text.validation), "doc 9 é\n%\ndoc 19 é\n%\n")
        XCTAssertEqual(text.decode(text.train).components(separatedBy: "%\n").count - 1, 18)
        XCTAssertEqual(text.decode(text.encode("doc 3")), "doc 3")
        let (x, y) = text.randomWindows(.train, batchSize: 3, length: 5, generator: Generator(seed: 1))
        XCTAssertEqual(x.shape, [3, 5])
        XCTAssertEqual(Array(x.data[1..<5]), Array(y.data[0..<4]), "targets are the inputs shifted by one")
        let chunks = text.streams(.train, batchSize: 4, length: 6)
        let perStream = (text.train.count - 1) / 4
        XCTAssertEqual(chunks.map { $0.inputs.shape[1] }.reduce(0, +), perStream)
        // Stream 1 continues across the chunk boundary.
        XCTAssertEqual(Int(chunks[1].inputs[1, 0]), text.train[perStream + 6])
        XCTAssertEqual(Int(chunks[0].targets[1, 5]), text.train[perStream + 6])
    }

    func testFortunesLoaderReadsPlainFilesOnly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-fortunes-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "one\n%\ntwo\nlines\n%\nthree\n".write(to: dir.appendingPathComponent("a"), atomically: true, encoding: .utf8)
        try "ignored".write(to: dir.appendingPathComponent("a.dat"), atomically: true, encoding: .utf8)
        try "ignored".write(to: dir.appendingPathComponent("a.u8"), atomically: true, encoding: .utf8)
        let text = try TextDataset.fortunes(directory: dir.path, validationEvery: 2)
        XCTAssertEqual(text.decode(text.train), "one\n%\nthree\n%\n")
        XCTAssertEqual(text.decode(text.validation), "two\nlines\n%\n")
        XCTAssertThrowsError(try TextDataset.fortunes(directory: dir.path + "/missing"))
    }

    func testCharLMExampleTrainsOnTinyText() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-charlm-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fortunes = (0..<60).map { "fortune number \($0): the quick brown fox.\n" }.joined(separator: "%\n")
        try fortunes.write(to: dir.appendingPathComponent("tiny"), atomically: true, encoding: .utf8)
        let run = try runProduct("CharLM", ["lstm", "3", "--data", dir.path, "--sample", "20"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("bits per character"), run.stdout)
        XCTAssertTrue(run.stdout.contains("--- sample, temperature 0.8, top-k 20"), run.stdout)
        let small = try runProduct("CharLM", ["transformer", "3", "--data", dir.path, "--sample", "10", "--width", "16",
                                              "--layers", "1", "--context", "16", "--batch", "4"])
        XCTAssertEqual(small.status, 0, small.stderr)
        XCTAssertTrue(small.stdout.contains("non-overlapping 16-character windows"), small.stdout)
    }

    func testSequenceClassifierExampleRuns() throws {
        // The data is a test requirement (scripts/test.sh installs it): its absence fails, like the other data tests.
        XCTAssertTrue(FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory),
                      "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist; scripts/test.sh does)")
        let run = try runProduct("SequenceClassifier", ["lstm", "1", "8", "256", "200"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("LastStep(LSTM(28, 8, batchFirst: true), sequenceShape: [28, 28])"), run.stdout)
        XCTAssertTrue(run.stdout.contains("epoch  1"), run.stdout)
    }
}
