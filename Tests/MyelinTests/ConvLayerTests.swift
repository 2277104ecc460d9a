import Foundation
import XCTest
@testable import Myelin

/// The convolution, pooling, BatchNorm2d and Dropout2d layers: parameters, initialisation,
/// printing, gradients, train/eval behaviour, and the anchor CNN end to end.
final class ConvLayerTests: XCTestCase {
    func testParametersInitialisationAndDescription() {
        let conv = Conv2d(4, 6, kernelSize: [3, 2], stride: 2, padding: 1, groups: 2, generator: Generator(seed: 1))
        XCTAssertEqual(conv.namedParameters().map { $0.0 }, ["weight", "bias"])
        XCTAssertEqual(conv.weight.shape, [6, 2, 3, 2])
        // PyTorch's default: U(±1/√fanIn) with fanIn = (in / groups)·kH·kW = 12.
        let bound = 1 / Float(12).squareRoot()
        XCTAssertTrue(conv.weight.data.allSatisfy { Swift.abs($0) <= bound })
        XCTAssertTrue(conv.bias!.data.allSatisfy { Swift.abs($0) <= bound })
        XCTAssertGreaterThan(conv.weight.data.map { Swift.abs($0) }.max()!, 0.8 * bound)
        XCTAssertEqual(conv.description, "Conv2d(4, 6, kernelSize: [3, 2], stride: [2, 2], padding: 1, groups: 2)")
        XCTAssertEqual(Conv2d(1, 32, kernelSize: 3).description, "Conv2d(1, 32, kernelSize: [3, 3], stride: [1, 1])")
        XCTAssertEqual(Conv2d(3, 3, kernelSize: 3, padding: "same", dilation: 2, bias: false).description,
                       "Conv2d(3, 3, kernelSize: [3, 3], stride: [1, 1], padding: \"same\", dilation: [2, 2], bias: false)")

        let conv1 = Conv1d(3, 8, kernelSize: 5, padding: "same", bias: false)
        XCTAssertEqual(conv1.namedParameters().map { $0.0 }, ["weight"])
        XCTAssertEqual(conv1.weight.shape, [8, 3, 5])
        XCTAssertEqual(conv1.description, "Conv1d(3, 8, kernelSize: 5, stride: 1, padding: \"same\", bias: false)")

        let up = ConvTranspose2d(8, 4, kernelSize: 2, stride: 2, generator: Generator(seed: 2))
        XCTAssertEqual(up.weight.shape, [8, 4, 2, 2])
        // fanIn from the weight's second dimension, as PyTorch: 4·2·2 = 16.
        XCTAssertTrue(up.weight.data.allSatisfy { Swift.abs($0) <= 0.25 })
        XCTAssertGreaterThan(up.weight.data.map { Swift.abs($0) }.max()!, 0.2)
        XCTAssertEqual(up.description, "ConvTranspose2d(8, 4, kernelSize: [2, 2], stride: [2, 2])")

        let bn = BatchNorm2d(16)
        XCTAssertEqual(bn.stateDict().names, ["weight", "bias", "running_mean", "running_var"])
        XCTAssertEqual(bn.description, "BatchNorm2d(16, eps: 1e-05, momentum: 0.1)")
        for layer in [MaxPool2d(kernelSize: 2), AvgPool2d(kernelSize: 3, stride: 2, padding: 1, countIncludePad: false),
                      AdaptiveAvgPool2d(1), Upsample(scaleFactor: 2), ChannelShuffle(2), Dropout2d(0.1)] as [any Layer] {
            XCTAssertTrue(layer.namedParameters().isEmpty && layer.namedBuffers().isEmpty, layer.description)
        }
        XCTAssertEqual(MaxPool2d(kernelSize: 2).description, "MaxPool2d(kernelSize: [2, 2], stride: [2, 2])")
        XCTAssertEqual(AvgPool2d(kernelSize: 3, stride: 2, padding: 1, countIncludePad: false).description,
                       "AvgPool2d(kernelSize: [3, 3], stride: [2, 2], padding: [1, 1], countIncludePad: false)")
        XCTAssertEqual(AdaptiveAvgPool2d(1).description, "AdaptiveAvgPool2d(outputSize: [1, 1])")
        XCTAssertEqual(Upsample(scaleFactor: [2, 3]).description, "Upsample(scaleFactor: [2, 3], mode: nearest)")
        XCTAssertEqual(MaxUnpool2d(kernelSize: 2).description, "MaxUnpool2d(kernelSize: [2, 2], stride: [2, 2])")
    }

    func testLayerGradients() {
        let x = smooth([2, 3, 6, 6], seed: 1)
        let conv = Conv2d(3, 4, kernelSize: 3, stride: 2, padding: 1, generator: Generator(seed: 3))
        assertGradientsMatch("Conv2d layer", inputs: [x, conv.weight, conv.bias!]) { _ in conv(x) }
        let up = ConvTranspose2d(3, 2, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1, generator: Generator(seed: 4))
        assertGradientsMatch("ConvTranspose2d layer", inputs: [x, up.weight, up.bias!]) { _ in up(x) }
        let seq = smooth([2, 3, 8], seed: 2)
        let conv1 = Conv1d(3, 2, kernelSize: 3, padding: "same", generator: Generator(seed: 5))
        assertGradientsMatch("Conv1d layer", inputs: [seq, conv1.weight, conv1.bias!]) { _ in conv1(seq) }
        let bn = BatchNorm2d(3)
        bn.weight!.data = [0.5, 1.5, -1]
        bn.bias!.data = [0.1, -0.2, 0.3]
        assertGradientsMatch("BatchNorm2d train mode", inputs: [x, bn.weight!, bn.bias!]) { _ in bn(x) }
        bn.eval()
        assertGradientsMatch("BatchNorm2d eval mode", inputs: [x, bn.weight!, bn.bias!]) { _ in bn(x) }
    }

    func testBatchNorm2dStatisticsAndEvalOp() {
        let bn = BatchNorm2d(2, momentum: 0.5)
        // Channel 0 holds 1…8, channel 1 holds 10·(1…8), over a batch of 2 and 2×2 pixels.
        var data: [Float] = []
        for n in 0..<2 { for c in 0..<2 { for i in 0..<4 { data.append(Float(n * 4 + i + 1) * (c == 0 ? 1 : 10)) } } }
        let x = Tensor(shape: [2, 2, 2, 2], data: data)
        let y = bn(x)
        // Batch mean 4.5 / 45, unbiased variance 6 / 600; running = ½·initial + ½·batch.
        assertClose(bn.runningMean.data, [2.25, 22.5], "running mean")
        assertClose(bn.runningVar.data, [3.5, 300.5], "running variance")
        for c in 0..<2 {
            let values = (0..<2).flatMap { n in (0..<4).map { y.data[(n * 2 + c) * 4 + $0] } }
            XCTAssertEqual(values.reduce(0, +) / 8, 0, accuracy: 1e-5)
            XCTAssertEqual(values.map { $0 * $0 }.reduce(0, +) / 8, 1, accuracy: 1e-3)
        }
        // Evaluation mode is the one batch_norm op on axis 1 that export folds.
        bn.eval()
        let tracer = Tracer()
        let z = tracer.recording { bn(x) }
        XCTAssertEqual(tracer.nodes.map(\.op), ["batch_norm"])
        XCTAssertEqual(tracer.nodes.first?.attributes["axis"], .int(1))
        XCTAssertTrue(tracer.nodes.first?.inputs[1] === bn.runningMean)
        assertClose(z.data, x.data.enumerated().map { i, v in
            let c = (i / 4) % 2
            return (v - bn.runningMean.data[c]) / (bn.runningVar.data[c] + bn.eps).squareRoot()
        }, atol: 1e-5, "eval output")
    }

    func testDropout2dDropsWholeChannels() {
        let drop = Dropout2d(0.5, generator: Generator(seed: 7))
        let x = Tensor.ones([4, 8, 3, 3], requiresGrad: true)
        let y = drop(x)
        var kept = 0
        for plane in 0..<32 {
            let values = Set(y.data[(plane * 9)..<((plane + 1) * 9)])
            XCTAssertTrue(values == [0] || values == [2], "plane \(plane) is \(values)")
            if values == [2] { kept += 1 }
        }
        XCTAssertTrue(kept > 4 && kept < 28, "kept \(kept) of 32 channels")
        y.sum().backward()
        assertClose(x.grad!.data, y.data, "gradient follows the mask")
        drop.eval()
        XCTAssertTrue(drop(x) === x)
    }

    func testUnpoolLayerInvertsPoolLayer() {
        let x = distinct([2, 3, 8, 6], seed: 3)
        let pool = MaxPool2d(kernelSize: 2), unpool = MaxUnpool2d(kernelSize: 2)
        let (values, indices) = pool.forwardWithIndices(x)
        XCTAssertEqual(values.data, pool(x).data)
        let restored = unpool(values, indices: indices)
        XCTAssertEqual(restored.shape, x.shape)
        // Each 2×2 window keeps its maximum in place, zeros elsewhere.
        for i in 0..<x.count { XCTAssertTrue(restored.data[i] == 0 || restored.data[i] == x.data[i]) }
        XCTAssertEqual(restored.data.filter { $0 != 0 }.count, values.data.filter { $0 != 0 }.count)
        XCTAssertEqual(unpool(values, indices: indices, outputSize: [9, 7]).shape, [2, 3, 9, 7])
    }

    /// The anchor CNN (shared/anchors: Conv 1→32 3×3, ReLU, MaxPool 2, Conv 32→64 3×3, ReLU,
    /// MaxPool 2, Flatten, Linear 1600→128, ReLU, Linear 128→10) builds, prints, and a few Adam
    /// steps on a fixed batch lower its loss.
    func testAnchorCNNTrainsOnABatch() {
        let g = Generator(seed: 11)
        let model = Sequential(Conv2d(1, 32, kernelSize: 3, generator: g), ReLU(), MaxPool2d(kernelSize: 2),
                               Conv2d(32, 64, kernelSize: 3, generator: g), ReLU(), MaxPool2d(kernelSize: 2),
                               Flatten(), Linear(64 * 5 * 5, 128, generator: g), ReLU(), Linear(128, 10, generator: g))
        XCTAssertEqual(model.parameterCount, 32 * 9 + 32 + 64 * 32 * 9 + 64 + 1600 * 128 + 128 + 1280 + 10)
        XCTAssertTrue(model.description.contains("(3): Conv2d(32, 64, kernelSize: [3, 3], stride: [1, 1])"), model.description)
        let x = Tensor.uniform([16, 1, 28, 28], generator: Generator(seed: 12))
        let labels = (0..<16).map { $0 % 10 }
        let opt = Adam(model.parameters(), lr: 1e-3)
        var losses: [Float] = []
        for _ in 0..<5 {
            opt.zeroGrad()
            let loss = crossEntropy(model(x), labels)
            loss.backward()
            opt.step()
            losses.append(loss.item)
        }
        XCTAssertLessThan(losses.last!, losses.first!, "losses \(losses)")
    }
}
