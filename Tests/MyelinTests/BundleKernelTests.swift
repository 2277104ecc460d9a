import XCTest
@testable import Myelin
@testable import MyelinShared

/// The inference kernels shared with the runtime, against their references:
/// `linearPacked` against `gemmReference` (rounding) and the training `linear()` (bit for
/// bit), `qgemm` against `qgemmReference` (exactly), and the quantisation formulas.
final class BundleKernelTests: XCTestCase {
    func testLinearPackedMatchesTrainingLinearExactly() {
        let g = Generator(seed: 21)
        for (m, n, k) in [(1, 256, 784), (1, 10, 256), (1, 33, 17), (2, 10, 5), (5, 31, 257), (6, 32, 256), (7, 64, 300),
                          (97, 130, 40), (256, 256, 784), (13, 1, 1)] {
            for hasBias in [true, false] {
                let x = Tensor.randn([m, k], generator: g), w = Tensor.randn([n, k], generator: g)
                let b = hasBias ? Tensor.randn([n], generator: g) : nil
                let expected = noGrad { linear(x, weight: w, bias: b) }.data
                var packed = [Float](repeating: .nan, count: linearPackedCount(outputs: n, inputs: k))
                linearPackWeights(outputs: n, inputs: k, weights: w.data, into: &packed)
                var y = [Float](repeating: .nan, count: m * n)
                var workspace = [Float](repeating: 0, count: linearPackedWorkspaceCount)
                linearPacked(m: m, n: n, k: k, x: x.data, ldx: k, packed: packed, bias: b?.data, y: &y, ldy: n,
                             relu: false, workspace: &workspace)
                XCTAssertEqual(y, expected, "m \(m) n \(n) k \(k) bias \(hasBias)")

                var reference = b.map { bias in (0..<m).flatMap { _ in bias.data } } ?? [Float](repeating: 0, count: m * n)
                gemmReference(m: m, n: n, k: k, a: x.data, aRowStride: k, aColStride: 1, b: w.data, bRowStride: 1, bColStride: k,
                              c: &reference, ldc: n, accumulate: true)
                for (u, v) in zip(y, reference) { XCTAssertEqual(u, v, accuracy: 1e-4 * Swift.max(1, abs(v))) }

                linearPacked(m: m, n: n, k: k, x: x.data, ldx: k, packed: packed, bias: b?.data, y: &y, ldy: n,
                             relu: true, workspace: &workspace)
                XCTAssertEqual(y, expected.map { Swift.max($0, 0) })
            }
        }
    }

    func testLinearPackedRespectsStrides() {
        let g = Generator(seed: 4)
        let m = 9, n = 40, k = 70, ldx = 75, ldy = 44
        let x = Tensor.randn([m, ldx], generator: g), w = Tensor.randn([n, k], generator: g)
        var packed = [Float](repeating: 0, count: linearPackedCount(outputs: n, inputs: k))
        linearPackWeights(outputs: n, inputs: k, weights: w.data, into: &packed)
        var y = [Float](repeating: -7, count: m * ldy)
        var workspace = [Float](repeating: 0, count: linearPackedWorkspaceCount)
        linearPacked(m: m, n: n, k: k, x: x.data, ldx: ldx, packed: packed, bias: nil, y: &y, ldy: ldy, relu: false, workspace: &workspace)
        for i in 0..<m {
            for j in 0..<ldy {
                if j >= n { XCTAssertEqual(y[i * ldy + j], -7); continue }
                var s: Float = 0
                for p in 0..<k { s += x.data[i * ldx + p] * w.data[j * k + p] }
                XCTAssertEqual(y[i * ldy + j], s, accuracy: 1e-4 * Swift.max(1, abs(s)))
            }
        }
    }

    /// `qgemm` (the portable tile in this build; the runtime's VNNI tile is checked against
    /// the same reference through the C API) gives the reference's integers.
    func testQuantizedGEMMMatchesReferenceExactly() {
        let g = Generator(seed: 8)
        for (m, n, k) in [(1, 10, 784), (1, 256, 784), (6, 64, 4), (7, 70, 5), (13, 16, 3), (2, 130, 100), (256, 48, 33), (5, 1, 1)] {
            let k4 = kernelRoundUp(k, 4), ldx = kernelRoundUp(k, 64)
            var x = [UInt8](repeating: 0, count: m * ldx)
            for i in 0..<m { for p in 0..<k { x[i * ldx + p] = UInt8(truncatingIfNeeded: g.next()) } }
            let w = (0..<(n * k)).map { _ in Int8(Int(g.next() % 255) - 127) }
            let bias = (0..<n).map { _ in Int32(truncatingIfNeeded: Int64(g.next() % 2_000_001) - 1_000_000) }
            var acc = [Int32](repeating: 0, count: m * n)
            qgemmReference(m: m, n: n, k: k, x: x, ldx: ldx, w: w, bias: bias, acc: &acc, ldacc: n)
            XCTAssertGreaterThanOrEqual(ldx, k4)
            var packed = [Int8](repeating: 99, count: qgemmPackedBytes(n: n, k: k))
            qgemmPackWeights(n: n, k: k, w: w, into: &packed)
            var tile = [Int32](repeating: 0, count: qgemmTileCount)

            // f32 output with unit multipliers: exactly Float(acc).
            var y = [Float](repeating: .nan, count: m * n)
            let ones = [Float](repeating: 1, count: n)
            y.withUnsafeMutableBufferPointer { yp in
                qgemm(m: m, n: n, k: k, x: x, ldx: ldx, packed: packed, bias: bias, multipliers: ones,
                      output: QGEMMOutput(f32: yp.baseAddress!, ld: n, relu: false), tile: &tile)
            }
            XCTAssertEqual(y, acc.map { Float($0) }, "m \(m) n \(n) k \(k)")

            // u8 output with per-channel multipliers, relu and a zero point.
            let multipliers = (0..<n).map { _ in Float(g.nextUniform()) * 1e-4 + 1e-6 }
            var q = [UInt8](repeating: 0, count: m * n)
            q.withUnsafeMutableBufferPointer { qp in
                qgemm(m: m, n: n, k: k, x: x, ldx: ldx, packed: packed, bias: bias, multipliers: multipliers,
                      output: QGEMMOutput(u8: qp.baseAddress!, ld: n, relu: true, zeroPoint: 17), tile: &tile)
            }
            let expected = acc.indices.map { requantizeToU8(acc[$0], multiplier: multipliers[$0 % n], zeroPoint: 17, low: 17) }
            XCTAssertEqual(q, expected, "u8 m \(m) n \(n) k \(k)")
        }
    }

    func testQuantizationFormulas() {
        let inv = quantizationInverseScale(0.5)
        XCTAssertEqual(quantizeToU8(1.25, invScale: inv, zeroPoint: 10), 12)   // 2.5 rounds to even 2
        XCTAssertEqual(quantizeToU8(1.75, invScale: inv, zeroPoint: 10), 14)   // 3.5 rounds to 4
        XCTAssertEqual(quantizeToU8(-100, invScale: inv, zeroPoint: 10), 0)
        XCTAssertEqual(quantizeToU8(1e9, invScale: inv, zeroPoint: 10), 255)
        XCTAssertEqual(quantizeToU8(.nan, invScale: inv, zeroPoint: 10), 0)
        XCTAssertEqual(quantizeToU8(.infinity, invScale: inv, zeroPoint: 0), 255)
        XCTAssertEqual(requantizeToU8(-50, multiplier: 0.1, zeroPoint: 3, low: 3), 3)   // relu clamps at the zero point
        XCTAssertEqual(requantizeToU8(-50, multiplier: 0.1, zeroPoint: 3, low: 0), 0)
        XCTAssertEqual(requantizeToU8(25, multiplier: 0.1, zeroPoint: 3, low: 0), 5)      // 2.5 → 2, + 3
        XCTAssertEqual(requantizeToU8(Int32.max, multiplier: 1, zeroPoint: 0, low: 0), 255)
        XCTAssertEqual(dequantizeAccumulator(-8, multiplier: 0.25, relu: false), -2)
        XCTAssertEqual(dequantizeAccumulator(-8, multiplier: 0.25, relu: true), 0)
        XCTAssertEqual(qlinearMultiplier(inputScale: 0.5, weightScale: 0.25, outputScale: nil), 0.125)
        XCTAssertEqual(qlinearMultiplier(inputScale: 0.5, weightScale: 0.25, outputScale: 0.5), 0.25)
    }
}
