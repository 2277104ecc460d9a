import XCTest
@testable import Myelin

/// `Sequential` runs a Conv2d in training mode followed by ReLU or LeakyReLU as one op
/// ("conv2d_leaky_relu": the rectifier applied in the convolution's output pass, its gradient
/// masked by the rectified output before the convolution's backward). Values and every
/// gradient are bit for bit those of the two layers; eval and export tracing run them apart.
final class ConvRectifierFusionTests: XCTestCase {
    func values(_ count: Int, seed: UInt64) -> [Float] {
        let g = Generator(seed: seed)
        return (0..<count).map { _ in g.nextUniform() * 4 - 2 }
    }

    /// (input shape, make the convolution): the DCGAN discriminator's first layer (GEMM blocks),
    /// one without bias, a strided multi-channel one, and a depthwise one (its own forward).
    let cases: [([Int], () -> Conv2d)] = [
        ([5, 1, 28, 28], { Conv2d(1, 32, kernelSize: 4, stride: 2, padding: 1) }),
        ([3, 4, 9, 7], { Conv2d(4, 6, kernelSize: 3, padding: 1, bias: false) }),
        ([2, 3, 11, 11], { Conv2d(3, 17, kernelSize: 3, stride: 2) }),
        ([2, 4, 8, 8], { Conv2d(4, 4, kernelSize: 3, padding: 1, groups: 4) }),
    ]

    func testFusedConvRectifierMatchesUnfusedLayersBitForBit() {
        for (k, (shape, make)) in cases.enumerated() {
            for slope: Float in [0, 0.2] {
                func layers() -> (Conv2d, any Layer) {
                    let conv = make()
                    conv.weight.data = values(conv.weight.count, seed: UInt64(10 + k))
                    // Some output channels exactly 0 before the rectifier (the edge of "> 0").
                    for i in 0..<conv.weight.count / 4 { conv.weight.data[i] = 0 }
                    if let b = conv.bias {
                        b.data = values(b.count, seed: UInt64(20 + k))
                        b.data[0] = 0
                    }
                    return (conv, slope == 0 ? ReLU() : LeakyReLU(slope: slope))
                }
                let data = values(shape.reduce(1, *), seed: UInt64(30 + k))
                let (fusedConv, fusedRectifier) = layers(), (conv, rectifier) = layers()
                let fusedX = Tensor(shape: shape, data: data, requiresGrad: true), x = Tensor(shape: shape, data: data, requiresGrad: true)
                let fusedY = Sequential(fusedConv, fusedRectifier)(fusedX)
                let y = rectifier(conv(x))
                XCTAssertEqual(fusedY.op, "conv2d_leaky_relu", "the pair runs fused")
                let dy = values(y.count, seed: UInt64(40 + k))
                fusedY.backward(Tensor(shape: y.shape, data: dy))
                y.backward(Tensor(shape: y.shape, data: dy))
                let label = "shape \(shape), \(conv), slope \(slope)"
                XCTAssertEqual(fusedY.shape, y.shape, label)
                XCTAssertEqual(fusedY.data.map(\.bitPattern), y.data.map(\.bitPattern), "y, \(label)")
                XCTAssertTrue(y.data.contains(0) && y.data.contains(where: { $0 < 0 }) == (slope > 0), "both sides of the kink, \(label)")
                XCTAssertEqual(fusedX.grad!.data.map(\.bitPattern), x.grad!.data.map(\.bitPattern), "dx, \(label)")
                XCTAssertEqual(fusedConv.weight.grad!.data.map(\.bitPattern), conv.weight.grad!.data.map(\.bitPattern), "dweight, \(label)")
                if let b = conv.bias {
                    XCTAssertEqual(fusedConv.bias!.grad!.data.map(\.bitPattern), b.grad!.data.map(\.bitPattern), "dbias, \(label)")
                }
            }
        }
    }

    /// Eval mode, a negative slope and an export trace keep the two layers apart (same values).
    func testConvRectifierRunsApartInEvalTracingAndForNegativeSlopes() {
        let x = Tensor(shape: [2, 1, 8, 8], data: values(128, seed: 7))
        let evalNet = Sequential(Conv2d(1, 4, kernelSize: 3), LeakyReLU(slope: 0.2))
        evalNet.eval()
        XCTAssertEqual(evalNet(x).op, "leaky_relu")
        XCTAssertEqual(Sequential(Conv2d(1, 4, kernelSize: 3), LeakyReLU(slope: -0.5))(x).op, "leaky_relu")
        let net = Sequential(Conv2d(1, 4, kernelSize: 3), ReLU())
        let tracer = Tracer()
        let traced = tracer.recording { net(x) }
        XCTAssertEqual(tracer.nodes.map(\.op).suffix(2), ["conv2d", "relu"])
        XCTAssertEqual(traced.data, net(x).data)
    }

    /// The fused op's gradients against finite differences (LeakyReLU 0.2: a slope on both sides).
    func testFusedConvRectifierGradientsMatchFiniteDifferences() {
        let conv = Conv2d(2, 3, kernelSize: 3, stride: 2, padding: 1)
        conv.weight.data = values(conv.weight.count, seed: 3)
        conv.bias!.data = [0.1, -0.2, 0.3]
        let x = Tensor(shape: [2, 2, 5, 5], data: values(100, seed: 5))
        let net = Sequential(conv, LeakyReLU(slope: 0.2))
        XCTAssertEqual(net(x).op, "conv2d_leaky_relu")
        assertGradientsMatch("Conv2d + LeakyReLU fused", inputs: [x, conv.weight, conv.bias!], eps: 1e-3, atol: 1e-2, rtol: 5e-2) { _ in
            net(x)
        }
    }
}
