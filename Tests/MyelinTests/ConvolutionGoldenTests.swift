import Foundation
import XCTest
@testable import Myelin

/// Convolutions, pooling and BatchNorm2d against PyTorch: outputs and gradients of
/// sum(output · grad_output) (Fixtures/conv_goldens.json, made by Fixtures/make_conv_goldens.py).
final class ConvolutionGoldenTests: XCTestCase {
    static let goldens: [String: Any] = {
        let data = try! Data(contentsOf: fixtureURL("conv_goldens.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    func tensor(_ any: Any?) -> Tensor {
        let d = any as! [String: Any]
        return Tensor(shape: (d["shape"] as! [NSNumber]).map { $0.intValue },
                      data: (d["data"] as! [NSNumber]).map { $0.floatValue })
    }

    func ints(_ any: Any?) -> [Int] { (any as! [NSNumber]).map { $0.intValue } }
    func size(_ any: Any?) -> Size2d { let v = ints(any); return Size2d(v[0], v[1]) }
    func padding(_ any: Any?) -> Padding { (any as? String).map { Padding(stringLiteral: $0) } ?? .explicit(ints(any)) }

    /// Runs `op` on the case's inputs named `names` (absent ones are nil) and compares the
    /// output and every input's gradient with PyTorch's.
    func check(_ group: String, names: [String], atol: Float = 2e-5, _ op: ([String: Any], [Tensor?]) -> Tensor) {
        let cases = Self.goldens[group] as! [[String: Any]]
        XCTAssertFalse(cases.isEmpty, group)
        for entry in cases {
            let label = "\(group) \(entry["name"] as! String)"
            let inputs = names.map { entry[$0].map(tensor) }
            for t in inputs { t?.requiresGrad = true }
            let out = op(entry["args"] as! [String: Any], inputs)
            let expected = tensor(entry["output"])
            XCTAssertEqual(out.shape, expected.shape, label)
            assertClose(out.data, expected.data, atol: atol, rtol: 1e-4, "\(label) output")
            (out * tensor(entry["grad_output"])).sum().backward()
            for (name, t) in zip(names, inputs) {
                guard let t else { continue }
                assertClose(t.grad?.data ?? [], tensor(entry["grad_" + name]).data, atol: atol, rtol: 1e-4, "\(label) gradient of \(name)")
            }
        }
    }

    func testConv2dMatchesPyTorch() {
        check("conv2d", names: ["x", "weight", "bias"]) { a, t in
            conv2d(t[0]!, weight: t[1]!, bias: t[2], stride: size(a["stride"]), padding: padding(a["padding"]),
                   dilation: size(a["dilation"]), groups: (a["groups"] as! NSNumber).intValue)
        }
    }

    func testConv1dMatchesPyTorch() {
        check("conv1d", names: ["x", "weight", "bias"]) { a, t in
            conv1d(t[0]!, weight: t[1]!, bias: t[2], stride: (a["stride"] as! NSNumber).intValue, padding: padding(a["padding"]),
                   dilation: (a["dilation"] as! NSNumber).intValue, groups: (a["groups"] as! NSNumber).intValue)
        }
    }

    func testConvTranspose2dMatchesPyTorch() {
        check("conv_transpose2d", names: ["x", "weight", "bias"]) { a, t in
            convTranspose2d(t[0]!, weight: t[1]!, bias: t[2], stride: size(a["stride"]), padding: size(a["padding"]),
                            outputPadding: size(a["output_padding"]), groups: (a["groups"] as! NSNumber).intValue,
                            dilation: size(a["dilation"]))
        }
    }

    func testPoolingMatchesPyTorch() {
        check("max_pool2d", names: ["x"]) { a, t in
            maxPool2d(t[0]!, kernelSize: size(a["kernel"]), stride: size(a["stride"]), padding: size(a["padding"]),
                      dilation: size(a["dilation"]))
        }
        for entry in Self.goldens["max_pool2d"] as! [[String: Any]] {
            let a = entry["args"] as! [String: Any]
            let (_, indices) = maxPool2dWithIndices(tensor(entry["x"]), kernelSize: size(a["kernel"]), stride: size(a["stride"]),
                                                    padding: size(a["padding"]), dilation: size(a["dilation"]))
            XCTAssertEqual(indices.data, tensor(entry["indices"]).data, "max_pool2d \(entry["name"] as! String) indices")
        }
        check("avg_pool2d", names: ["x"]) { a, t in
            avgPool2d(t[0]!, kernelSize: size(a["kernel"]), stride: size(a["stride"]), padding: size(a["padding"]),
                      countIncludePad: a["count_include_pad"] as! Bool)
        }
        check("adaptive_avg_pool2d", names: ["x"]) { a, t in adaptiveAvgPool2d(t[0]!, outputSize: size(a["output_size"])) }
        check("upsample_nearest2d", names: ["x"]) { a, t in upsampleNearest2d(t[0]!, scale: size(a["scale"])) }
        check("channel_shuffle", names: ["x"]) { a, t in channelShuffle(t[0]!, groups: (a["groups"] as! NSNumber).intValue) }
        let unpoolIndices = (Self.goldens["max_unpool2d"] as! [[String: Any]]).map { tensor($0["indices"]) }
        var k = 0
        check("max_unpool2d", names: ["x"]) { a, t in
            defer { k += 1 }
            return maxUnpool2d(t[0]!, indices: unpoolIndices[k], outputSize: size(a["output_size"]))
        }
    }

    func testBatchNorm2dMatchesPyTorch() {
        let g = Self.goldens["batch_norm2d"] as! [String: Any]
        let bn = BatchNorm2d(3, eps: (g["eps"] as! NSNumber).floatValue, momentum: (g["momentum"] as! NSNumber).floatValue)
        bn.weight!.data = tensor(g["weight"]).data
        bn.bias!.data = tensor(g["bias"]).data
        for (k, step) in (g["steps"] as! [[String: Any]]).enumerated() {
            bn.zeroGrad()
            let x = tensor(step["x"])
            x.requiresGrad = true
            let y = bn(x)
            assertClose(y.data, tensor(step["output"]).data, atol: 2e-5, rtol: 1e-4, "step \(k) output")
            (y * tensor(step["grad_output"])).sum().backward()
            assertClose(x.grad!.data, tensor(step["grad_x"]).data, atol: 2e-5, rtol: 1e-4, "step \(k) gradient of x")
            assertClose(bn.weight!.grad!.data, tensor(step["grad_weight"]).data, atol: 2e-5, rtol: 1e-4, "step \(k) gradient of weight")
            assertClose(bn.bias!.grad!.data, tensor(step["grad_bias"]).data, atol: 2e-5, rtol: 1e-4, "step \(k) gradient of bias")
            assertClose(bn.runningMean.data, tensor(step["running_mean"]).data, atol: 1e-6, rtol: 1e-5, "step \(k) running mean")
            assertClose(bn.runningVar.data, tensor(step["running_var"]).data, atol: 1e-6, rtol: 1e-5, "step \(k) running variance")
        }
        bn.eval()
        assertClose(bn(tensor(g["eval_x"])).data, tensor(g["eval_output"]).data, atol: 2e-5, rtol: 1e-4, "eval output")
    }
}
