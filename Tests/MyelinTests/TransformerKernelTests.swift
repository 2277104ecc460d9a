import Foundation
import XCTest
@testable import Myelin

/// The Transformer training hot spots made fast (issue 12): the fused masked softmax of the
/// attention weights, the 16-lane softmax rows and the 16-lane exact GELU — each against the
/// unfused or double-precision formula and by finite differences.
final class TransformerKernelTests: XCTestCase {
    func testMaskedSoftmaxEqualsUnfusedOps() {
        // 20 keys: one 16-lane block and a scalar tail per row; causal [L, S] and padding [B, 1, 1, S] masks.
        let scores = smooth([2, 3, 20, 20], seed: 1, scale: 3)
        var padding = [Float](repeating: 0, count: 2 * 20)
        for j in 15..<20 { padding[20 + j] = 1 }
        let masks = [causalMask(20), Tensor(shape: [2, 1, 1, 20], data: padding)]
        let probe = smooth([2, 3, 20, 20], seed: 2)
        var results: [[Float]] = []
        for fused in [true, false] {
            scores.requiresGrad = true; scores.zeroGrad()
            var y: Tensor
            if fused { y = scores.maskedSoftmax(scale: 0.3, masks: masks) } else {
                y = scores * 0.3
                for m in masks { y = y.maskedFill(m, value: -.infinity) }
                y = y.softmax(axis: -1)
            }
            (y * probe).sum().backward()
            results += [y.data, scores.grad!.data]
        }
        assertClose(results[0], results[2], atol: 1e-7, rtol: 1e-5, "masked softmax forward")
        assertClose(results[1], results[3], atol: 1e-7, rtol: 1e-5, "masked softmax gradient")
        // Hidden keys get exactly zero weight; a row with every key hidden is NaN (PyTorch).
        XCTAssertEqual(results[0][1], 0)                                    // row 0 sees only key 0
        let all = Tensor.ones([1, 20]).maskedSoftmax(scale: 1, masks: [Tensor.ones([1, 20])])
        XCTAssertTrue(all.data.allSatisfy { $0.isNaN })
    }

    func testMaskedSoftmaxGradient() {
        let masks = [causalMask(18)]
        assertGradientsMatch("maskedSoftmax", inputs: [smooth([2, 18, 18], seed: 3)]) { t in
            t[0].maskedSoftmax(scale: 0.7, masks: masks) * smooth([2, 18, 18], seed: 4)
        }
    }

    func testSoftmaxRowsMatchDoublePrecision() {
        let x = smooth([5, 37], seed: 5, scale: 20)
        let y = x.softmax(axis: -1).data
        for r in 0..<5 {
            let row = (0..<37).map { Double(x.data[r * 37 + $0]) }
            let m = row.max()!, z = row.map { Foundation.exp($0 - m) }.reduce(0, +)
            for j in 0..<37 { XCTAssertEqual(Double(y[r * 37 + j]), Foundation.exp(row[j] - m) / z, accuracy: 1e-6 * Swift.max(1, Foundation.exp(row[j] - m) / z)) }
        }
    }

    func testExactGELUMatchesDoublePrecisionAndGradient() {
        // 1001 points over [−9, 9]: the 16-lane body and a tail of 9.
        let xs = (0..<1001).map { Float(-9 + 18 * Double($0) / 1000) }
        let x = Tensor(shape: [1001], data: xs, requiresGrad: true)
        let y = x.gelu()
        y.sum().backward()
        for (i, v) in xs.enumerated() {
            let d = Double(v), phi = 0.5 * (1 + erf(d / 2.0.squareRoot()))
            let density = Foundation.exp(-0.5 * d * d) / (2 * Double.pi).squareRoot()
            XCTAssertEqual(Double(y.data[i]), d * phi, accuracy: 1e-6 * Swift.max(1, abs(d)), "gelu(\(v))")
            XCTAssertEqual(Double(x.grad!.data[i]), phi + d * density, accuracy: 2e-6 * Swift.max(1, abs(d)), "gelu′(\(v))")
        }
        assertGradientsMatch("gelu 16 lanes", inputs: [smooth([2, 19], seed: 6, scale: 2)]) { $0[0].gelu() }
    }
}
