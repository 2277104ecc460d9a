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

    /// Fused dropout against the mask drawn element by element with `nextUniform()` and a
    /// `mul` (what `Dropout` did): the same output, the same generator state afterwards, the
    /// kept fraction near 1 − p, survivors scaled by 1/(1 − p), and the gradient g ⊙ mask.
    func testFusedDropoutMatchesElementwiseMaskAndGradient() {
        let p: Float = 0.3, n = 100_003
        let x = smooth([n], seed: 50, scale: 2)
        let fusedGenerator = Generator(seed: 51), referenceGenerator = Generator(seed: 51)
        x.requiresGrad = true
        let y = x.dropout(p: p, generator: fusedGenerator)
        var mask = [Float](repeating: 0, count: n)
        for i in 0..<n where referenceGenerator.nextUniform() >= p { mask[i] = 1 / (1 - p) }
        let reference = x * Tensor(shape: [n], data: mask)
        XCTAssertEqual(y.data, reference.data, "fused vs element-by-element mask")
        XCTAssertTrue(fusedGenerator.state == referenceGenerator.state, "generator state after the mask")
        let kept = Double(mask.filter { $0 != 0 }.count) / Double(n)
        XCTAssertEqual(kept, 0.7, accuracy: 0.005, "kept fraction")
        let probe = smooth([n], seed: 52)
        (y * probe).sum().backward()
        XCTAssertEqual(x.grad!.data, zip(probe.data, mask).map { $0 * $1 }, "gradient g ⊙ mask")
        // Same seed, same mask; the next call draws a fresh one.
        let again = Generator(seed: 51)
        let first = x.dropout(p: p, generator: again), second = x.dropout(p: p, generator: again)
        XCTAssertEqual(first.data, y.data)
        XCTAssertNotEqual(second.data, y.data)
        // Finite differences, the mask fixed by a fresh generator of the same seed per evaluation.
        assertGradientsMatch("dropout", inputs: [smooth([4, 9], seed: 53)]) { t in
            t[0].dropout(p: 0.5, generator: Generator(seed: 54)) * smooth([4, 9], seed: 55)
        }
    }

    /// A · Bᵀ read through B's strides against `matmul` of the materialised transpose (values
    /// and gradients), with broadcast batch dimensions; and by finite differences.
    func testMatmulTransposedEqualsMatmulOfTranspose() {
        let a = smooth([2, 3, 7, 20], seed: 60), b = smooth([3, 9, 20], seed: 61)
        let probe = smooth([2, 3, 7, 9], seed: 62)
        var results: [[Float]] = []
        for fused in [true, false] {
            a.requiresGrad = true; b.requiresGrad = true; a.zeroGrad(); b.zeroGrad()
            let c = fused ? a.matmulTransposed(b) : a.matmul(b.transpose(-1, -2))
            XCTAssertEqual(c.shape, [2, 3, 7, 9])
            (c * probe).sum().backward()
            results += [c.data, a.grad!.data, b.grad!.data]
        }
        XCTAssertEqual(results[0], results[3], "A·Bᵀ")
        assertClose(results[1], results[4], atol: 1e-6, rtol: 1e-5, "dA")
        assertClose(results[2], results[5], atol: 1e-6, rtol: 1e-5, "dB")
        assertGradientsMatch("matmulTransposed", inputs: [smooth([2, 5, 6], seed: 63), smooth([2, 4, 6], seed: 64)]) { t in
            t[0].matmulTransposed(t[1]) * smooth([2, 5, 4], seed: 65)
        }
    }

    /// Heads cut straight from the projections and merged back (one copy each) against the
    /// generic narrow, reshape and permute: values and gradients. (Whole attention layers on this
    /// path are checked against PyTorch in SequenceGoldenTests.)
    func testAttentionHeadsEqualReshapeAndPermute() {
        let x = smooth([2, 5, 3 * 12], seed: 70)
        let probe = smooth([2, 4, 5, 3], seed: 71), mergeProbe = smooth([2, 5, 12], seed: 72)
        var results: [[Float]] = []
        for direct in [true, false] {
            x.requiresGrad = true; x.zeroGrad()
            let h = direct ? x.attentionHeads(part: 1, of: 3, heads: 4)
                : x.narrow(axis: 2, start: 12, length: 12).reshape([2, 5, 4, 3]).permute([0, 2, 1, 3])
            let merged = direct ? h.mergedAttentionHeads() : h.permute([0, 2, 1, 3]).reshape([2, 5, 12])
            ((h * probe).sum() + (merged * merged * mergeProbe).sum()).backward()
            results += [h.data, merged.data, x.grad!.data]
        }
        XCTAssertEqual(results[0], results[3], "heads")
        XCTAssertEqual(results[1], results[4], "merged")
        assertClose(results[2], results[5], atol: 1e-6, rtol: 1e-6, "gradient")
        XCTAssertEqual(x.narrow(axis: 2, start: 12, length: 12).data, x.attentionHeads(part: 1, of: 3, heads: 4).mergedAttentionHeads().data)
    }
}
