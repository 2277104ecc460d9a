import Foundation
import XCTest
@testable import Myelin

/// Recurrent layers, LayerNorm, GELU, multi-head attention, Transformer layers and the
/// sequence cross-entropy against PyTorch (Fixtures/sequence_goldens.json, made by
/// Fixtures/make_sequence_goldens.py): PyTorch's parameters are loaded by their state-dict
/// names, then outputs, final states and the gradients of a probe loss are compared.
final class SequenceGoldenTests: XCTestCase {
    static let cases: [String: [String: Any]] = {
        let data = try! Data(contentsOf: fixtureURL("sequence_goldens.json"))
        let root = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
        var byName: [String: [String: Any]] = [:]
        for c in root["cases"] as! [[String: Any]] { byName[c["name"] as! String] = c }
        return byName
    }()

    func tensor(_ any: Any?) -> Tensor {
        let d = any as! [String: Any]
        return Tensor(shape: (d["shape"] as! [NSNumber]).map { $0.intValue }, data: (d["data"] as! [NSNumber]).map { $0.floatValue })
    }

    /// The script's det(): element i is a · sin(f · i + p).
    func det(_ shape: [Int], _ a: Double, _ f: Double, _ p: Double) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, data: (0..<n).map { Float(a * Foundation.sin(f * Double($0) + p)) })
    }

    /// Loads the case's parameters into `module` (every name must match), runs `forward` on
    /// its inputs (given gradients), and compares outputs and gradients with PyTorch.
    func check(_ name: String, _ module: any Module, atol: Float = 2e-5, rtol: Float = 2e-4,
               _ forward: ([String: Tensor]) -> [Tensor]) {
        guard let c = Self.cases[name] else { return XCTFail("fixture has no case \(name)") }
        let params = c["params"] as! [String: Any]
        XCTAssertNoThrow(try module.loadStateDict(StateDict(params.map { ($0.key, tensor($0.value)) })), name)
        var inputs: [String: Tensor] = [:]
        for (k, v) in c["inputs"] as! [String: Any] {
            let t = tensor(v)
            if !k.hasSuffix("mask") && k != "targets" { t.requiresGrad = true }
            inputs[k] = t
        }
        module.zeroGrad()
        let outputs = forward(inputs)
        let expected = (c["outputs"] as! [Any]).map(tensor)
        XCTAssertEqual(outputs.count, expected.count, "\(name): number of outputs")
        var probe: Tensor?
        for (k, (out, exp)) in zip(outputs, expected).enumerated() {
            XCTAssertEqual(out.shape, exp.shape, "\(name) output \(k) shape")
            assertClose(out.data, exp.data, atol: atol, rtol: rtol, "\(name) output \(k)")
            let term = (out * det(out.shape, 1, 0.37, 0.5 + 0.1 * Double(k))).sum()
            probe = probe.map { $0 + term } ?? term
        }
        probe!.backward()
        let named = Dictionary(uniqueKeysWithValues: module.namedParameters())
        for (k, v) in c["grads"] as! [String: Any] {
            let actual = k.hasPrefix("input:") ? inputs[String(k.dropFirst(6))]!.grad : named[k]?.grad
            guard let actual else { XCTFail("\(name): no gradient for \(k)"); continue }
            assertClose(actual.data, tensor(v).data, atol: atol, rtol: rtol, "\(name) gradient of \(k)")
        }
    }

    func testRecurrentLayersMatchPyTorch() {
        let rnn = RNN(3, 4, numLayers: 2, batchFirst: true, bidirectional: true)
        check("rnn_tanh", rnn) { i in let (y, h) = rnn(i["x"]!, i["h0"]!); return [y, h] }
        let relu = RNN(3, 4, nonlinearity: "relu")
        check("rnn_relu", relu) { i in let (y, h) = relu(i["x"]!); return [y, h] }
        let lstm = LSTM(3, 4, numLayers: 2, bidirectional: true)
        check("lstm", lstm) { i in let (y, s) = lstm(i["x"]!, (h: i["h0"]!, c: i["c0"]!)); return [y, s.h, s.c] }
        let lstmBF = LSTM(2, 3, batchFirst: true)
        check("lstm_batch_first", lstmBF) { i in let (y, s) = lstmBF(i["x"]!); return [y, s.h, s.c] }
        let gru = GRU(3, 4, numLayers: 2, batchFirst: true, bidirectional: true)
        check("gru", gru) { i in let (y, h) = gru(i["x"]!, i["h0"]!); return [y, h] }
        let single = GRU(2, 3)
        check("gru_single", single) { i in let (y, h) = single(i["x"]!); return [y, h] }
    }

    func testLayerNormAndGELUMatchPyTorch() {
        let ln1 = LayerNorm([5])
        check("layer_norm_1", ln1) { i in [ln1(i["x"]!)] }
        let ln2 = LayerNorm([3, 4])
        check("layer_norm_2", ln2) { i in [ln2(i["x"]!)] }
        let exact = GELU(), tanh = GELU(approximateTanh: true)
        check("gelu", exact) { i in [exact(i["x"]!)] }
        check("gelu_tanh", tanh) { i in [tanh(i["x"]!)] }
    }

    func testMultiheadAttentionMatchesPyTorch() {
        let cross = MultiheadAttention(8, numHeads: 2, batchFirst: true)
        check("mha_cross_padding", cross) { i in
            let (y, w) = cross(i["q"]!, i["k"]!, i["v"]!, keyPaddingMask: i["key_padding_mask"]!)
            return [y, w!]
        }
        let selfAttention = MultiheadAttention(8, numHeads: 2, batchFirst: true)
        check("mha_self_causal", selfAttention) { i in
            let x = i["x"]!
            let (y, w) = selfAttention(x, x, x, causal: true)
            return [y, w!]
        }
    }

    func testTransformerLayersMatchPyTorch() {
        for (name, normFirst, activation) in [("encoder_post_relu", false, TransformerActivation.relu), ("encoder_pre_gelu", true, .gelu)] {
            let layer = TransformerEncoderLayer(8, numHeads: 2, dimFeedforward: 12, dropout: 0, activation: activation, normFirst: normFirst)
            check(name, layer, atol: 5e-5) { i in [layer(i["x"]!, mask: causalMask(4), keyPaddingMask: i["key_padding_mask"]!)] }
        }
        for (name, normFirst) in [("decoder_post", false), ("decoder_pre", true)] {
            let layer = TransformerDecoderLayer(8, numHeads: 2, dimFeedforward: 12, dropout: 0, normFirst: normFirst)
            check(name, layer, atol: 5e-5) { i in
                [layer(i["tgt"]!, memory: i["memory"]!, memoryKeyPaddingMask: i["memory_key_padding_mask"]!, tgtCausal: true)]
            }
        }
    }

    func testSequenceCrossEntropyMatchesPyTorch() {
        let none = Identity()
        check("sequence_cross_entropy", none) { i in [sequenceCrossEntropy(i["logits"]!, i["targets"]!, ignoreIndex: -100)] }
    }
}
