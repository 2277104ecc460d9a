import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// Compares optimizers, schedulers, losses, gradient clipping and a two-layer MLP against
/// reference values computed by PyTorch (Fixtures/goldens.json, made by
/// Fixtures/make_goldens.py; the tests themselves need no Python).
final class GoldenTests: XCTestCase {
    static let goldens: [String: Any] = {
        let data = try! Data(contentsOf: fixtureURL("goldens.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    func tensor(_ any: Any?) -> Tensor {
        let d = any as! [String: Any]
        return Tensor(shape: (d["shape"] as! [NSNumber]).map { $0.intValue },
                      data: (d["data"] as! [NSNumber]).map { $0.floatValue })
    }

    func makeOptimizer(_ name: String, _ h: [String: Any], _ params: [Tensor]) -> Optimizer {
        func f(_ k: String, _ d: Float = 0) -> Float { (h[k] as? NSNumber)?.floatValue ?? d }
        let lr = f("lr"), wd = f("weight_decay")
        switch name {
        case "sgd", "sgd_wd", "momentum", "momentum_wd", "nesterov", "nesterov_wd":
            return SGD(params, lr: lr, momentum: f("momentum"), nesterov: (h["nesterov"] as? Bool) ?? false, weightDecay: wd)
        case "adagrad", "adagrad_wd": return AdaGrad(params, lr: lr, eps: f("eps"), weightDecay: wd)
        case "adadelta", "adadelta_wd": return Adadelta(params, lr: lr, rho: f("rho"), eps: f("eps"), weightDecay: wd)
        case "rmsprop", "rmsprop_wd", "rmsprop_momentum":
            return RMSprop(params, lr: lr, alpha: f("alpha"), eps: f("eps"), momentum: f("momentum"), weightDecay: wd)
        case "adam", "adam_wd": return Adam(params, lr: lr, beta1: f("beta1"), beta2: f("beta2"), eps: f("eps"), weightDecay: wd)
        case "adamw": return AdamW(params, lr: lr, beta1: f("beta1"), beta2: f("beta2"), eps: f("eps"), weightDecay: wd)
        default: fatalError("fixture names an optimizer this test does not know: \(name)")
        }
    }

    func testOptimizerTrajectoriesMatchPyTorch() {
        let problem = Self.goldens["problem"] as! [String: Any]
        let x = tensor(problem["X"]), y = tensor(problem["Y"])
        let configs = Self.goldens["optimizers"] as! [[String: Any]]
        XCTAssertEqual(configs.count, 16)
        for config in configs {
            let name = config["name"] as! String
            let w = tensor(problem["W0"]), b = tensor(problem["b0"])
            w.requiresGrad = true; b.requiresGrad = true
            let opt = makeOptimizer(name, config["hyper"] as! [String: Any], [w, b])
            for (k, step) in (config["steps"] as! [[String: Any]]).enumerated() {
                opt.zeroGrad()
                let loss = mseLoss(linear(x, weight: w, bias: b), y)
                XCTAssertEqual(loss.item, (step["loss"] as! NSNumber).floatValue, accuracy: 1e-5 * Swift.max(1, loss.item), "\(name) step \(k) loss")
                loss.backward()
                opt.step()
                assertClose(w.data, tensor(step["W"]).data, atol: 2e-6, rtol: 1e-4, "\(name) step \(k) W")
                assertClose(b.data, tensor(step["b"]).data, atol: 2e-6, rtol: 1e-4, "\(name) step \(k) b")
            }
        }
    }

    func testSchedulersMatchPyTorch() {
        for entry in Self.goldens["schedulers"] as! [[String: Any]] {
            let name = entry["name"] as! String, h = entry["hyper"] as! [String: NSNumber]
            let opt = SGD([Tensor.zeros([1], requiresGrad: true)], lr: (entry["base_lr"] as! NSNumber).floatValue)
            let scheduler: any LRScheduler
            switch name {
            case "step": scheduler = StepLR(opt, stepSize: h["step_size"]!.intValue, gamma: h["gamma"]!.floatValue)
            case "exponential": scheduler = ExponentialLR(opt, gamma: h["gamma"]!.floatValue)
            case "cosine": scheduler = CosineAnnealingLR(opt, period: h["T_max"]!.intValue, minLearningRate: h["eta_min"]!.floatValue)
            default: XCTFail("unknown scheduler \(name)"); continue
            }
            for (epoch, expected) in (entry["lrs"] as! [NSNumber]).enumerated() {
                XCTAssertEqual(opt.learningRate, expected.floatValue, accuracy: 1e-7, "\(name) epoch \(epoch)")
                scheduler.step()
            }
        }
    }

    func testTwoLayerMLPLossAndGradientsMatchPyTorch() {
        let g = Self.goldens["mlp"] as! [String: Any]
        let model = Sequential(Linear(4, 6), Tanh(), Linear(6, 3))
        try! model.loadStateDict(StateDict([("0.weight", tensor(g["w1"])), ("0.bias", tensor(g["b1"])),
                                            ("2.weight", tensor(g["w2"])), ("2.bias", tensor(g["b2"]))]))
        let x = tensor(g["x"])
        x.requiresGrad = true
        let logits = model(x)
        assertClose(logits.data, tensor(g["logits"]).data, atol: 1e-6, "logits")
        let loss = crossEntropy(logits, (g["targets"] as! [NSNumber]).map { $0.intValue })
        XCTAssertEqual(loss.item, (g["loss"] as! NSNumber).floatValue, accuracy: 1e-6)
        loss.backward()
        let params = model.namedParameters()
        let expected = ["0.weight": "grad_w1", "0.bias": "grad_b1", "2.weight": "grad_w2", "2.bias": "grad_b2"]
        for (name, p) in params {
            assertClose(p.grad!.data, tensor(g[expected[name]!]).data, atol: 1e-6, rtol: 1e-4, "gradient of \(name)")
        }
        assertClose(x.grad!.data, tensor(g["grad_x"]).data, atol: 1e-6, rtol: 1e-4, "gradient of x")
    }

    func testLossesMatchPyTorch() {
        for entry in Self.goldens["losses"] as! [[String: Any]] {
            let name = entry["name"] as! String
            let input = tensor(entry["input"]), target = tensor(entry["target"])
            input.requiresGrad = true
            let extra = entry["extra"] as? [String: Any] ?? [:]
            let variance = extra["var"].map { tensor($0) }
            variance?.requiresGrad = true
            let loss: Tensor
            switch name {
            case "mse": loss = mseLoss(input, target)
            case "l1": loss = l1Loss(input, target)
            case "bce": loss = binaryCrossEntropy(input, target)
            case "bce_with_logits": loss = binaryCrossEntropyWithLogits(input, target)
            case "cross_entropy": loss = crossEntropy(input, target.data.map { Int($0) })
            case "gaussian_nll": loss = gaussianNLLLoss(input, target, variance: variance!)
            case "gaussian_nll_full": loss = gaussianNLLLoss(input, target, variance: variance!, full: true)
            default: XCTFail("unknown loss \(name)"); continue
            }
            let expected = (entry["value"] as! NSNumber).floatValue
            XCTAssertEqual(loss.item, expected, accuracy: 1e-5 * Swift.max(1, Swift.abs(expected)), name)
            XCTAssertTrue(loss.item.isFinite, "\(name) must be finite")
            loss.backward()
            assertClose(input.grad!.data, tensor(entry["grad_input"]).data, atol: 1e-6, rtol: 1e-4, "\(name) input gradient")
            if let gv = entry["grad_var"] {
                assertClose(variance!.grad!.data, tensor(gv).data, atol: 1e-6, rtol: 1e-4, "\(name) variance gradient")
            }
        }
    }

    func testGradientClippingMatchesPyTorch() {
        let c = Self.goldens["clip"] as! [String: Any]
        let before = (c["grads_before"] as! [Any]).map(tensor), after = (c["grads_after"] as! [Any]).map(tensor)
        let params = before.map { g -> Tensor in
            let p = Tensor.zeros(g.shape, requiresGrad: true)
            p.grad = g
            return p
        }
        let norm = clipGradNorm(params, maxNorm: (c["max_norm"] as! NSNumber).floatValue)
        XCTAssertEqual(norm, (c["total_norm"] as! NSNumber).floatValue, accuracy: 1e-6)
        for (p, expected) in zip(params, after) { assertClose(p.grad!.data, expected.data, atol: 1e-7, "clipped gradient") }
    }
}
