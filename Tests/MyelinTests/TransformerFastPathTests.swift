import Foundation
import XCTest
@testable import Myelin

/// Issue 12, char-Transformer training: the layer-norm kernels, the residual add and the
/// dropout mask against the loops they replace — bit for bit, since training must stay
/// bit-identical — and the layer norm by finite differences.
final class TransformerFastPathTests: XCTestCase {
    /// Four-rows-at-a-time kernels against the row-by-row reference: forward (y, x̂, rstd),
    /// the input gradient both written fresh and added to an existing one, and the affine
    /// gradients; row counts with and without a remainder of four, widths with a 16-lane tail.
    func testLayerNormKernelsEqualReference() {
        for (rows, n) in [(11, 37), (8, 96), (3, 16), (1, 5)] {
            let x = smooth([rows * n], seed: 80, scale: 3).data.map { $0 + 0.5 }
            let w = smooth([n], seed: 81).data, b = smooth([n], seed: 82).data
            let g = smooth([rows * n], seed: 83).data, existing = smooth([rows * n], seed: 84).data
            let reference = layerNormForwardReference(x: x, weight: w, bias: b, rows: rows, n: n, eps: 1e-5)
            var y = [Float](repeating: .nan, count: rows * n), xhat = y, rstd = [Float](repeating: .nan, count: rows)
            layerNormForward(x: x, weight: w, bias: b, xhat: &xhat, rstd: &rstd, y: &y, rows: rows, n: n, eps: 1e-5)
            XCTAssertEqual(y, reference.y, "y \(rows)×\(n)")
            XCTAssertEqual(xhat, reference.xhat, "x̂ \(rows)×\(n)")
            XCTAssertEqual(rstd, reference.rstd, "rstd \(rows)×\(n)")

            var fresh = [Float](repeating: .nan, count: rows * n), freshReference = [Float](repeating: 0, count: rows * n)
            layerNormBackwardInput(g: g, weight: w, xhat: xhat, rstd: rstd, dx: &fresh, rows: rows, n: n, accumulate: false)
            layerNormBackwardInputReference(g: g, weight: w, xhat: xhat, rstd: rstd, dx: &freshReference, rows: rows, n: n)
            XCTAssertEqual(fresh, freshReference, "dx written \(rows)×\(n)")
            var added = existing, addedReference = existing
            layerNormBackwardInput(g: g, weight: w, xhat: xhat, rstd: rstd, dx: &added, rows: rows, n: n, accumulate: true)
            layerNormBackwardInputReference(g: g, weight: w, xhat: xhat, rstd: rstd, dx: &addedReference, rows: rows, n: n)
            XCTAssertEqual(added, addedReference, "dx added \(rows)×\(n)")

            var dw = Array(existing.prefix(n)), db = Array(existing.suffix(n))
            var dwReference = dw, dbReference = db
            for r in 0..<rows { for j in 0..<n { dwReference[j] += g[r * n + j] * xhat[r * n + j] } }
            for r in 0..<rows { for j in 0..<n { dbReference[j] += g[r * n + j] } }
            layerNormBackwardAffine(g: g, xhat: xhat, dw: &dw, db: &db, rows: rows, n: n)
            XCTAssertEqual(dw, dwReference, "dw \(rows)×\(n)")
            XCTAssertEqual(db, dbReference, "db \(rows)×\(n)")
        }
    }

    /// `layerNorm` as an op: its gradients for x, weight and bias by finite differences, and
    /// the input gradient added to an existing one (x used twice).
    func testLayerNormGradients() {
        let weight = smooth([7], seed: 86).data.map { $0 + 1 }
        assertGradientsMatch("layer norm", inputs: [smooth([5, 7], seed: 85), Tensor(shape: [7], data: weight), smooth([7], seed: 87)]) { t in
            t[0].layerNorm(weight: t[1], bias: t[2]) * smooth([5, 7], seed: 88)
        }
        assertGradientsMatch("layer norm twice", inputs: [smooth([2, 3, 5], seed: 89)]) { t in
            t[0].layerNorm() * smooth([2, 3, 5], seed: 90) + t[0].layerNorm(axes: 2) * smooth([2, 3, 5], seed: 91)
        }
    }

    /// The residual add against `+`: the same sum, the same gradients bit for bit, written
    /// fresh or added to existing ones (an input used twice, or on both sides).
    func testResidualAddEqualsAdd() {
        let probe = smooth([3, 5, 17], seed: 93)
        var results: [[Float]] = []
        for fused in [true, false] {
            let a = smooth([3, 5, 17], seed: 91), b = smooth([3, 5, 17], seed: 92)
            a.requiresGrad = true; b.requiresGrad = true
            let sum = fused ? a.residualAdd(b) : a + b
            let twice = fused ? sum.residualAdd(a).residualAdd(sum) : sum + a + sum
            let self2 = fused ? b.residualAdd(b) : b + b
            ((twice * probe).sum() + (self2 * self2).sum()).backward()
            results += [sum.data, twice.data, a.grad!.data, b.grad!.data]
        }
        for i in 0..<4 { XCTAssertEqual(results[i], results[i + 4], "part \(i)") }
        // Different shapes broadcast as `+` does.
        let x = smooth([2, 3], seed: 94), row = smooth([3], seed: 95)
        XCTAssertEqual(x.residualAdd(row).data, (x + row).data)
    }

    /// The block-wise dropout mask against one `Generator.uniform(step)` per element: the same
    /// mask, output and generator state after, across blocks and with a lane tail; p = 0 keeps all.
    func testDropoutMaskEqualsElementByElementDraws() {
        for (n, p) in [(1037, Float(0.1)), (512, 0.5), (7, 0.3), (2000, 0), (1500, 0.999)] {
            let x = smooth([n], seed: 96).data
            var state = Generator(seed: 97).state, referenceState = state
            let scale = 1 / (1 - p)
            var kept = [UInt8](repeating: 7, count: n), y = [Float](repeating: .nan, count: n)
            dropoutMask(state: &state, p: p, scale: scale, x: x, kept: &kept, y: &y, count: n)
            let reference = dropoutMaskReference(state: &referenceState, p: p, scale: scale, x: x)
            XCTAssertEqual(kept, reference.mask.map { $0 != 0 ? 1 : 0 }, "mask n \(n) p \(p)")
            XCTAssertEqual(y, reference.y, "y n \(n) p \(p)")
            XCTAssertTrue(state == referenceState, "state n \(n) p \(p)")
        }
    }

    /// The integer compare `k ≥ ⌈p·2²⁴⌉` equals the float compare `k·2⁻²⁴ ≥ p` for every k
    /// next to the threshold, for p on and between the 2⁻²⁴ grid.
    func testDropoutThresholdEqualsFloatCompare() {
        let generator = Generator(seed: 98)
        var ps: [Float] = [0, 0.1, 0.5, 0.9, 3 / 16_777_216, 1 - 1 / 16_777_216, 1e-9]
        for _ in 0..<200 { ps.append(generator.nextUniform()) }
        for p in ps {
            let threshold = dropoutThreshold(p: p)
            let center = Int64((Double(p) * 16_777_216).rounded(.down))
            for k in Swift.max(0, center - 2)...Swift.min(16_777_215, center + 2) {
                XCTAssertEqual(UInt64(k) >= threshold, Generator.uniform(UInt64(k) << 40) >= p, "p \(p) k \(k)")
            }
        }
    }

    /// The masked softmax's backward (Σ g⊙y of four rows at a time) against the row-by-row
    /// formula dx = scale · y ⊙ (g − Σ g⊙y), bit for bit: written fresh, then added to itself.
    func testMaskedSoftmaxGradientEqualsRowByRow() {
        let n = 7, rows = 2 * 3 * n   // 42 rows: ten blocks of four and two left over
        let scores = smooth([2, 3, n, n], seed: 99, scale: 2), probe = smooth([2, 3, n, n], seed: 100)
        scores.requiresGrad = true
        let y = scores.maskedSoftmax(scale: 0.4, masks: [causalMask(n)])
        (y * probe).sum().backward()
        var expected = [Float](repeating: 0, count: rows * n)
        for r in 0..<rows {
            var dot: Float = 0
            for j in 0..<n { dot += probe.data[r * n + j] * y.data[r * n + j] }
            for j in 0..<n { expected[r * n + j] = 0.4 * y.data[r * n + j] * (probe.data[r * n + j] - dot) }
        }
        XCTAssertEqual(scores.grad!.data, expected, "fresh")
        (scores.maskedSoftmax(scale: 0.4, masks: [causalMask(n)]) * probe).sum().backward()
        XCTAssertEqual(scores.grad!.data, expected.map { $0 + $0 }, "added")
    }

    /// `linear`'s bias gradient (16 columns at a time over all rows) against the row-by-row
    /// sum, bit for bit, fresh and added to an existing gradient; 35 outputs leave a tail of 3.
    /// The output with a bias equals the one without plus the bias row (up to rounding).
    func testLinearBiasGradientEqualsRowSums() {
        let x = smooth([37, 5], seed: 101), weight = smooth([35, 5], seed: 102), bias = smooth([35], seed: 103)
        let probe = smooth([37, 35], seed: 104)
        bias.requiresGrad = true
        let y = linear(x, weight: weight, bias: bias)
        (y * probe).sum().backward()
        var expected = [Float](repeating: 0, count: 35)
        for r in 0..<37 { for j in 0..<35 { expected[j] += probe.data[r * 35 + j] } }
        XCTAssertEqual(bias.grad!.data, expected, "fresh")
        (linear(x, weight: weight, bias: bias) * probe).sum().backward()
        var added = expected
        for r in 0..<37 { for j in 0..<35 { added[j] += probe.data[r * 35 + j] } }
        XCTAssertEqual(bias.grad!.data, added, "added")
        let unbiased = linear(x, weight: weight, bias: nil)
        for r in 0..<37 { for j in 0..<35 {
            XCTAssertEqual(y.data[r * 35 + j], unbiased.data[r * 35 + j] + bias.data[j], accuracy: 1e-5)
        } }
    }
}
