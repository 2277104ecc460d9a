import XCTest
@testable import Myelin

/// The few-output Linear kernels (Kernels/NarrowLinearKernels.swift) against `gemmReference`,
/// at input lengths around the 16- and 64-float steps, 1 to 4 outputs, written and accumulated.
final class NarrowLinearKernelTests: XCTestCase {
    func values(_ count: Int, seed: UInt64) -> [Float] {
        let g = Generator(seed: seed)
        return (0..<count).map { _ in g.nextUniform() * 2 - 1 }
    }

    /// |a − b| within a few roundings of a sum of `terms` products of magnitude ≤ 1 (the kernels
    /// add in another order than the reference).
    func assertClose(_ a: [Float], _ b: [Float], terms: Int, _ message: String) {
        XCTAssertEqual(a.count, b.count, message)
        let tolerance = Float(terms + 2) * 1.2e-7 * 4
        for i in 0..<a.count where !(abs(a[i] - b[i]) <= tolerance) {
            XCTFail("\(message): element \(i): \(a[i]) vs \(b[i]) (tolerance \(tolerance))")
            return
        }
    }

    func testKernelsMatchTheGEMMReference() {
        for rows in [1, 3, 5] {
            for inputs in [1, 15, 16, 17, 63, 64, 65, 130, 3136] {
                for outputs in 1...narrowLinearMaxOutputs {
                    let label = "rows \(rows), inputs \(inputs), outputs \(outputs)"
                    let x = values(rows * inputs, seed: UInt64(rows * 1000 + inputs))
                    let w = values(outputs * inputs, seed: UInt64(outputs * 7 + inputs))
                    let gy = values(rows * outputs, seed: UInt64(rows + outputs * 31))
                    // y = start + x·wᵀ
                    let start = values(rows * outputs, seed: 99)
                    var fast = start, reference = start
                    narrowLinearForward(rows: rows, inputs: inputs, outputs: outputs, x: x, weight: w, y: &fast)
                    gemmReference(m: rows, n: outputs, k: inputs, a: x, aRowStride: inputs, aColStride: 1,
                                  b: w, bRowStride: 1, bColStride: inputs, c: &reference, ldc: outputs, accumulate: true)
                    assertClose(fast, reference, terms: inputs, "forward, \(label)")
                    for accumulate in [false, true] {
                        // gx (+)= gy·w; a written gradient starts as NaN (nothing may be read).
                        let gxStart = values(rows * inputs, seed: 7)
                        var gx = accumulate ? gxStart : [Float](repeating: .nan, count: rows * inputs), gxReference = gxStart
                        narrowLinearInputGradient(rows: rows, inputs: inputs, outputs: outputs, gradY: gy, weight: w,
                                                  gradX: &gx, accumulate: accumulate)
                        gemmReference(m: rows, n: inputs, k: outputs, a: gy, aRowStride: outputs, aColStride: 1,
                                      b: w, bRowStride: inputs, bColStride: 1, c: &gxReference, ldc: inputs, accumulate: accumulate)
                        assertClose(gx, gxReference, terms: outputs, "input gradient, accumulate \(accumulate), \(label)")
                        // gw (+)= gyᵀ·x
                        let gwStart = values(outputs * inputs, seed: 8)
                        var gw = accumulate ? gwStart : [Float](repeating: .nan, count: outputs * inputs), gwReference = gwStart
                        narrowLinearWeightGradient(rows: rows, inputs: inputs, outputs: outputs, gradY: gy, x: x,
                                                   gradW: &gw, accumulate: accumulate)
                        gemmReference(m: outputs, n: inputs, k: rows, a: gy, aRowStride: 1, aColStride: outputs,
                                      b: x, bRowStride: inputs, bColStride: 1, c: &gwReference, ldc: inputs, accumulate: accumulate)
                        assertClose(gw, gwReference, terms: rows, "weight gradient, accumulate \(accumulate), \(label)")
                    }
                }
            }
        }
    }

    func testLinearLayerWithOneOutputEqualsTheWideProduct() {
        // Linear(3136 → 1), the DCGAN discriminator's head, against the same product through matmul.
        let g = Generator(seed: 3)
        let x = Tensor.uniform([64, 3136], generator: g), fc = Linear(3136, 1, generator: g)
        let viaMatmul = x.matmul(fc.weight.transposed()).data.map { $0 + fc.bias!.data[0] }
        assertClose(fc(x).data, viaMatmul, terms: 3136, "Linear(3136 → 1)")
    }
}
