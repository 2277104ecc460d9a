import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// Finite-difference checks for every differentiable op, layer and loss.
final class GradientCheckTests: XCTestCase {
    func testArithmeticWithBroadcasting() {
        let a = smooth([3, 4], seed: 1), b = smooth([3, 4], seed: 2)
        let row = smooth([4], seed: 3), col = smooth([3, 1], seed: 4), s = smooth([], seed: 5)
        assertGradientsMatch("add", inputs: [a, b]) { $0[0] + $0[1] }
        assertGradientsMatch("add row broadcast", inputs: [a, row]) { $0[0] + $0[1] }
        assertGradientsMatch("sub column broadcast", inputs: [a, col]) { $0[0] - $0[1] }
        assertGradientsMatch("mul both broadcast", inputs: [col, row]) { $0[0] * $0[1] }
        assertGradientsMatch("mul scalar tensor", inputs: [a, s]) { $0[0] * $0[1] }
        let positive = Tensor(shape: [3, 1], data: [1.5, 2.0, 2.5])
        assertGradientsMatch("div", inputs: [a, positive]) { $0[0] / $0[1] }
        assertGradientsMatch("maximum", inputs: [a, b]) { Tensor.maximum($0[0], $0[1]) }
        assertGradientsMatch("scalar ops", inputs: [a]) { ((($0[0] + 1) * 3 - 2) / 4) }
        assertGradientsMatch("reverse scalar ops", inputs: [positive]) { 2 - (3 / $0[0]) }
        assertGradientsMatch("negation", inputs: [a]) { -$0[0] }
    }

    func testUnaryFunctions() {
        let a = smooth([2, 5], seed: 6)
        let positive = Tensor(shape: [2, 3], data: [0.5, 1, 1.5, 2, 2.5, 3])
        assertGradientsMatch("exp", inputs: [a]) { $0[0].exp() }
        assertGradientsMatch("log", inputs: [positive]) { $0[0].log() }
        assertGradientsMatch("sqrt", inputs: [positive]) { $0[0].sqrt() }
        assertGradientsMatch("pow", inputs: [positive]) { $0[0].pow(2.5) }
        assertGradientsMatch("square", inputs: [a]) { $0[0].square() }
        assertGradientsMatch("abs", inputs: [a]) { $0[0].abs() }
        let mid = Tensor(shape: [4], data: [-2, -0.5, 0.5, 2])
        assertGradientsMatch("clamp", inputs: [mid]) { $0[0].clamp(min: -1, max: 1) }
    }

    func testActivations() {
        // Values kept away from the kinks at 0 so central differences are valid.
        let a = Tensor(shape: [2, 4], data: [-2, -1.1, -0.3, 0.2, 0.7, 1.3, 2.2, -0.8])
        assertGradientsMatch("relu", inputs: [a]) { $0[0].relu() }
        assertGradientsMatch("leakyRelu", inputs: [a]) { $0[0].leakyRelu(slope: 0.1) }
        assertGradientsMatch("elu", inputs: [a]) { $0[0].elu(alpha: 1.2) }
        assertGradientsMatch("sigmoid", inputs: [a]) { $0[0].sigmoid() }
        assertGradientsMatch("tanh", inputs: [a]) { $0[0].tanh() }
        let x = smooth([3, 4], seed: 7)
        assertGradientsMatch("softmax last axis", inputs: [x]) { $0[0].softmax() }
        assertGradientsMatch("softmax axis 0", inputs: [x]) { $0[0].softmax(axis: 0) }
        assertGradientsMatch("logSoftmax last axis", inputs: [x]) { $0[0].logSoftmax() }
        assertGradientsMatch("logSoftmax axis 0", inputs: [x]) { $0[0].logSoftmax(axis: 0) }
    }

    func testReductions() {
        let x = smooth([2, 3, 4], seed: 8)
        assertGradientsMatch("sum", inputs: [x]) { $0[0].sum() }
        assertGradientsMatch("mean", inputs: [x]) { $0[0].mean() }
        for axis in [0, 1, 2, -1] {
            assertGradientsMatch("sum axis \(axis)", inputs: [x]) { $0[0].sum(axis: axis) }
            assertGradientsMatch("mean axis \(axis) keepDims", inputs: [x]) { $0[0].mean(axis: axis, keepDims: true) }
            assertGradientsMatch("max axis \(axis)", inputs: [x]) { $0[0].max(axis: axis) }
        }
    }

    func testShapeOps() {
        let x = smooth([2, 3, 2], seed: 9)
        assertGradientsMatch("reshape", inputs: [x]) { $0[0].reshape([3, -1]) * Tensor.arange(0, 4).reshape([1, 4]) }
        assertGradientsMatch("flatten", inputs: [x]) { $0[0].flatten() }
        let m = smooth([3, 5], seed: 10)
        assertGradientsMatch("transposed", inputs: [m]) { $0[0].transposed() }
        assertGradientsMatch("gatherRows with repeats", inputs: [m]) { $0[0].gatherRows([2, 0, 2]) }
    }

    func testMatmulAndLinear() {
        // Sizes that exercise full and edge register tiles of the GEMM kernel.
        let a = smooth([7, 9], seed: 11, scale: 0.5), b = smooth([9, 35], seed: 12, scale: 0.5)
        assertGradientsMatch("matmul", inputs: [a, b]) { $0[0].matmul($0[1]) }
        let x = smooth([5, 6], seed: 13), w = smooth([4, 6], seed: 14, scale: 0.5), bias = smooth([4], seed: 15)
        assertGradientsMatch("linear", inputs: [x, w, bias]) { linear($0[0], weight: $0[1], bias: $0[2]) }
        assertGradientsMatch("linear without bias", inputs: [x, w]) { linear($0[0], weight: $0[1], bias: nil) }
        // Few outputs (the narrow kernels: 16-lane dot products and their tails, inputs 37 = 2·16 + 5),
        // one output and three, x used by both so its gradient accumulates.
        let wide = smooth([3, 37], seed: 21), one = smooth([1, 37], seed: 22, scale: 0.5), three = smooth([3, 37], seed: 23, scale: 0.5)
        let oneBias = smooth([1], seed: 24)
        assertGradientsMatch("narrow linear", inputs: [wide, one, oneBias, three]) {
            linear($0[0], weight: $0[1], bias: $0[2]).sum() + linear($0[0], weight: $0[3], bias: nil)
        }
        // A tensor used twice: gradients from both uses accumulate.
        assertGradientsMatch("reuse", inputs: [a]) { $0[0].matmul($0[0].transposed()) + $0[0].sum() }
    }

    func testLayers() {
        let x = smooth([6, 4], seed: 16)
        let fc = Linear(4, 3, generator: Generator(seed: 1))
        assertGradientsMatch("Linear layer (input, weight, bias)", inputs: [x, fc.weight, fc.bias!]) { _ in fc(x) }
        let bn = BatchNorm1d(4)
        bn.weight!.data = [0.5, 1.5, -1, 2]
        bn.bias!.data = [0.1, -0.2, 0.3, 0]
        assertGradientsMatch("BatchNorm1d train mode", inputs: [x, bn.weight!, bn.bias!]) { _ in bn(x) }
        bn.eval()
        assertGradientsMatch("BatchNorm1d eval mode", inputs: [x, bn.weight!, bn.bias!]) { _ in bn(x) }
        let drop = Dropout(0.3, generator: Generator(seed: 4))
        drop.eval()
        assertGradientsMatch("Dropout eval (identity)", inputs: [x]) { drop($0[0]) }
        let model = Sequential(Linear(4, 5, generator: Generator(seed: 2)), Tanh(), Linear(5, 2, generator: Generator(seed: 3)))
        assertGradientsMatch("Sequential MLP", inputs: [x] + model.parameters()) { _ in model(x) }
    }

    func testDropoutTrainModeGradientUsesTheSameMask() {
        let x = smooth([4, 5], seed: 17)
        x.requiresGrad = true
        let drop = Dropout(0.5, generator: Generator(seed: 5))
        let y = drop(x)
        y.sum().backward()
        for i in 0..<x.count {
            // Survivors scaled by 2 in forward get gradient 2; dropped ones get 0.
            XCTAssertEqual(x.grad!.data[i], y.data[i] == 0 ? 0 : 2, accuracy: 1e-6)
            if y.data[i] != 0 { XCTAssertEqual(y.data[i], 2 * x.data[i], accuracy: 1e-6) }
        }
    }

    func testLosses() {
        let input = smooth([4, 3], seed: 18), target = smooth([4, 3], seed: 19)
        assertGradientsMatch("mseLoss", inputs: [input, target]) { mseLoss($0[0], $0[1]) }
        assertGradientsMatch("mseLoss sum", inputs: [input, target]) { mseLoss($0[0], $0[1], reduction: .sum) }
        assertGradientsMatch("l1Loss", inputs: [input, target]) { l1Loss($0[0], $0[1]) }
        let probs = Tensor.uniform([4, 3], low: 0.1, high: 0.9, generator: Generator(seed: 20))
        let labels = Tensor(shape: [4, 3], data: [1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0])
        assertGradientsMatch("binaryCrossEntropy", inputs: [probs], eps: 1e-3) { binaryCrossEntropy($0[0], labels) }
        assertGradientsMatch("binaryCrossEntropyWithLogits", inputs: [input, labels]) { binaryCrossEntropyWithLogits($0[0], $0[1]) }
        assertGradientsMatch("crossEntropy", inputs: [input]) { crossEntropy($0[0], [2, 0, 1, 2]) }
        assertGradientsMatch("nllLoss", inputs: [input]) { nllLoss($0[0].logSoftmax(), [2, 0, 1, 2]) }
        let variance = Tensor.uniform([4, 3], low: 0.5, high: 2, generator: Generator(seed: 21))
        assertGradientsMatch("gaussianNLLLoss", inputs: [input, target, variance]) {
            gaussianNLLLoss($0[0], $0[1], variance: $0[2], full: true)
        }
        let params = [smooth([2, 2], seed: 22), smooth([3], seed: 23)]
        assertGradientsMatch("l1Penalty", inputs: params) { l1Penalty($0, lambda: 0.1) }
        assertGradientsMatch("l2Penalty", inputs: params) { l2Penalty($0, lambda: 0.1) }
    }

    /// With unit variance the Gaussian negative log-likelihood is ½·MSE plus a constant, so
    /// minimising MSE is maximum likelihood under unit-variance Gaussian noise.
    func testGaussianNLLWithUnitVarianceIsHalfMSEPlusConstant() {
        let prediction = smooth([5, 2], seed: 30), target = smooth([5, 2], seed: 31)
        let ones = Tensor.ones([5, 2])
        let mse = mseLoss(prediction, target).item
        XCTAssertEqual(gaussianNLLLoss(prediction, target, variance: ones).item, 0.5 * mse, accuracy: 1e-6)
        XCTAssertEqual(gaussianNLLLoss(prediction, target, variance: ones, full: true).item,
                       0.5 * mse + 0.5 * Foundation.log(2 * Float.pi), accuracy: 1e-6)
        prediction.requiresGrad = true
        gaussianNLLLoss(prediction, target, variance: ones).backward()
        let nllGrad = prediction.grad!.data
        prediction.zeroGrad()
        mseLoss(prediction, target).backward()
        assertClose(nllGrad, prediction.grad!.data.map { 0.5 * $0 }, atol: 1e-7, "same minimiser: gradients differ by the factor ½")
    }
}
