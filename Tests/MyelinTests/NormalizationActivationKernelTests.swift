import XCTest
@testable import Myelin

/// The 16-lane kernels of BatchNorm2d and (leaky) ReLU (Kernels/NormalizationActivationKernels.swift)
/// against their naive references, at lengths around multiples of 16 (the scalar tails), and
/// the ops that write a new gradient buffer without zero-filling it (`Tensor.writeGrad`):
/// nothing uninitialised survives, and a second use of a tensor still adds.
final class NormalizationActivationKernelTests: XCTestCase {
    let lengths = [0, 1, 7, 15, 16, 17, 31, 32, 49, 50, 196]

    func values(_ count: Int, seed: UInt64) -> [Float] {
        let g = Generator(seed: seed)
        return (0..<count).map { _ in g.nextUniform() * 4 - 2 }
    }

    func testLeakyReluKernelsMatchReferencesBitForBit() {
        for n in lengths {
            var x = values(n, seed: UInt64(n)), dy = values(n, seed: UInt64(100 + n))
            if n > 3 { x[1] = 0; x[2] = -0.0; x[3] = .nan }   // the edges of "x > 0" and NaN
            for slope: Float in [0, 0.2, -1.5] {
                var fast = [Float](repeating: .nan, count: n), reference = [Float](repeating: 7, count: n)
                leakyReluForward(x, &fast, count: n, slope: slope)
                leakyReluForwardReference(x, &reference, count: n, slope: slope)
                XCTAssertEqual(fast.map(\.bitPattern), reference.map(\.bitPattern), "forward, n \(n), slope \(slope)")
                for accumulate in [false, true] {
                    let start = values(n, seed: UInt64(200 + n))
                    var fastGrad = accumulate ? start : [Float](repeating: .nan, count: n), referenceGrad = start
                    leakyReluBackward(x, dy, &fastGrad, count: n, slope: slope, accumulate: accumulate)
                    leakyReluBackwardReference(x, dy, &referenceGrad, count: n, slope: slope, accumulate: accumulate)
                    XCTAssertEqual(fastGrad.map(\.bitPattern), referenceGrad.map(\.bitPattern),
                                   "backward, n \(n), slope \(slope), accumulate \(accumulate)")
                }
            }
        }
    }

    func testReluKeepsItsValuesAndGradients() {
        // ReLU is the slope-0 case: max(x, 0) exactly (+0 on the negative side, NaN kept).
        let x = Tensor(shape: [18], data: [-3, -0.0, 0, 2, .nan, 5, -1, 1, 4, -4, 0.5, -0.5, 6, -6, 7, -7, 8, -8], requiresGrad: true)
        let y = x.relu()
        for i in 0..<x.count where !x.data[i].isNaN {
            XCTAssertEqual(y.data[i].bitPattern, Swift.max(x.data[i], 0).bitPattern, "relu(\(x.data[i]))")
        }
        XCTAssertTrue(y.data[4].isNaN)
        y.backward(Tensor.ones([18]))
        XCTAssertEqual(x.grad!.data.map(\.bitPattern), x.data.map { ($0 > 0 ? Float(1) : 0).bitPattern })
    }

    func testBatchNormKernelsMatchReferences() {
        for n in lengths {
            let x = values(n, seed: UInt64(n)), dy = values(n, seed: UInt64(100 + n))
            var fast = [Float](repeating: .nan, count: n), reference = [Float](repeating: 0, count: n)
            batchNormScaleShift(x, &fast, count: n, scale: 1.7, shift: -0.3)
            batchNormScaleShiftReference(x, &reference, count: n, scale: 1.7, shift: -0.3)
            XCTAssertEqual(fast.map(\.bitPattern), reference.map(\.bitPattern), "scale-shift, n \(n)")

            let (sumDy, sumDyX) = batchNormGradientSums(x, dy, count: n, mean: 0.25)
            let (referenceDy, referenceDyX) = batchNormGradientSumsReference(x, dy, count: n, mean: 0.25)
            XCTAssertEqual(sumDy, referenceDy, accuracy: 1e-5 * Float(n + 1), "Σ dy, n \(n)")
            XCTAssertEqual(sumDyX, referenceDyX, accuracy: 1e-5 * Float(n + 1), "Σ (x − mean)·dy, n \(n)")

            for accumulate in [false, true] {
                let start = values(n, seed: UInt64(300 + n))
                var fastGrad = accumulate ? start : [Float](repeating: .nan, count: n), referenceGrad = start
                batchNormInputGradient(x, dy, &fastGrad, count: n, mean: 0.25, invStd: 1.3, k: -0.8, meanDy: 0.1,
                                       meanDyXhat: -0.4, accumulate: accumulate)
                batchNormInputGradientReference(x, dy, &referenceGrad, count: n, mean: 0.25, invStd: 1.3, k: -0.8, meanDy: 0.1,
                                                meanDyXhat: -0.4, accumulate: accumulate)
                XCTAssertEqual(fastGrad.map(\.bitPattern), referenceGrad.map(\.bitPattern),
                               "input gradient, n \(n), accumulate \(accumulate)")
            }
        }
    }

    /// BatchNorm2d's output and all three gradients against the formula evaluated naively in
    /// Double, on planes of 1, 5×7 (two vectors and a tail) and 4×4 positions.
    func testBatchNorm2dMatchesNaiveFormula() {
        for (k, shape) in [[4, 3, 1, 1], [3, 2, 5, 7], [2, 3, 4, 4]].enumerated() {
            let (batch, channels, plane) = (shape[0], shape[1], shape[2] * shape[3])
            let bn = BatchNorm2d(channels)
            bn.weight!.data = values(channels, seed: UInt64(10 + k))
            bn.bias!.data = values(channels, seed: UInt64(20 + k))
            let x = Tensor(shape: shape, data: values(shape.reduce(1, *), seed: UInt64(30 + k)), requiresGrad: true)
            let dy = values(x.count, seed: UInt64(40 + k))
            let y = bn(x)
            y.backward(Tensor(shape: shape, data: dy))
            let m = Double(batch * plane)
            for c in 0..<channels {
                let indices = (0..<batch).flatMap { n in (0..<plane).map { (n * channels + c) * plane + $0 } }
                let mean = indices.reduce(0.0) { $0 + Double(x.data[$1]) } / m
                let variance = indices.reduce(0.0) { $0 + (Double(x.data[$1]) - mean) * (Double(x.data[$1]) - mean) } / m
                let invStd = 1 / (variance + Double(bn.eps)).squareRoot()
                let w = Double(bn.weight!.data[c]), b = Double(bn.bias!.data[c])
                let xhat = indices.map { (Double(x.data[$0]) - mean) * invStd }
                let g = indices.map { Double(dy[$0]) }
                let sumG = g.reduce(0, +), sumGX = zip(g, xhat).reduce(0.0) { $0 + $1.0 * $1.1 }
                XCTAssertEqual(Double(bn.bias!.grad!.data[c]), sumG, accuracy: 1e-4, "shape \(shape) dbias[\(c)]")
                XCTAssertEqual(Double(bn.weight!.grad!.data[c]), sumGX, accuracy: 1e-4, "shape \(shape) dweight[\(c)]")
                for (j, i) in indices.enumerated() {
                    XCTAssertEqual(Double(y.data[i]), xhat[j] * w + b, accuracy: 1e-4, "shape \(shape) y[\(i)]")
                    let dx = w * invStd * (g[j] - sumG / m - xhat[j] * sumGX / m)
                    XCTAssertEqual(Double(x.grad!.data[i]), dx, accuracy: 1e-4 * Swift.max(1, Swift.abs(dx)), "shape \(shape) dx[\(i)]")
                }
            }
        }
    }

    /// A tensor read by several ops gets the sum of their gradients, whichever op writes its
    /// gradient buffer first (that one overwrites the new buffer, the others add).
    func testGradientsOfSharedInputsAdd() {
        let shape = [2, 3, 5, 7]
        let x = Tensor(shape: shape, data: values(shape.reduce(1, *), seed: 1), requiresGrad: true)
        let w = Tensor(shape: [4, 3, 3, 3], data: values(108, seed: 2), requiresGrad: true)
        let up = Tensor(shape: [3, 2, 4, 4], data: values(96, seed: 3), requiresGrad: true)
        let m = Tensor(shape: [7, 6], data: values(42, seed: 4), requiresGrad: true)
        let branches: [(String, (Tensor) -> Tensor)] = [
            ("relu", { $0.relu() }),
            ("leakyRelu", { $0.leakyRelu(slope: 0.2) }),
            ("batchNorm2d", { BatchNorm2d(3)($0) }),
            ("conv2d", { conv2d($0, weight: w, padding: 1) }),
            ("convTranspose2d", { convTranspose2d($0, weight: up, stride: 2, padding: 1) }),
            ("matmul", { $0.matmul(m) }),
        ]
        /// Σ f(x) ⊙ R for a fixed random R.
        func loss(_ f: (Tensor) -> Tensor) -> Tensor {
            let y = f(x)
            return (y * Tensor.randn(y.shape, generator: Generator(seed: 9))).sum()
        }
        func gradient(_ loss: () -> Tensor) -> [Float] {
            x.zeroGrad()
            loss().backward()
            return x.grad!.data
        }
        let single = branches.map { branch in gradient { loss(branch.1) } }
        for (i, (name, f)) in branches.enumerated() {
            for (j, (other, h)) in branches.enumerated() where j != i {
                let both = gradient { loss(f) + loss(h) }
                let expected = zip(single[i], single[j]).map { $0 + $1 }
                for k in 0..<expected.count where Swift.abs(both[k] - expected[k]) > 1e-4 * Swift.max(1, Swift.abs(expected[k])) {
                    XCTFail("\(name) + \(other): dx[\(k)] is \(both[k]), expected \(expected[k])")
                    break
                }
            }
        }
    }
    /// The fused BatchNorm2d + rectifier kernels against the unfused kernels run one after the
    /// other (bit for bit: the same arithmetic in the same order) and against the naive
    /// references; x·scale + shift hits exactly 0 at x = 0.5 (the edge of "> 0"), and NaN.
    func testRectifiedBatchNormKernelsMatchUnfusedKernelsBitForBit() {
        let scale: Float = 2, shift: Float = -1, mean: Float = 0.25
        for n in lengths {
            var x = values(n, seed: UInt64(n))
            if n > 3 { x[1] = 0.5; x[2] = 0; x[3] = .nan }
            let dy = values(n, seed: UInt64(100 + n))
            for slope: Float in [0, 0.2, -1.5] {
                var fused = [Float](repeating: .nan, count: n), pre = [Float](repeating: .nan, count: n)
                var unfused = [Float](repeating: .nan, count: n), reference = [Float](repeating: 7, count: n)
                batchNormScaleShiftRectified(x, &fused, count: n, scale: scale, shift: shift, slope: slope)
                batchNormScaleShift(x, &pre, count: n, scale: scale, shift: shift)
                leakyReluForward(pre, &unfused, count: n, slope: slope)
                batchNormScaleShiftRectifiedReference(x, &reference, count: n, scale: scale, shift: shift, slope: slope)
                XCTAssertEqual(fused.map(\.bitPattern), unfused.map(\.bitPattern), "forward, n \(n), slope \(slope)")
                XCTAssertEqual(fused.map(\.bitPattern), reference.map(\.bitPattern), "forward reference, n \(n), slope \(slope)")

                // The unfused backward: the rectifier's gradient into a buffer, then batch norm's passes.
                var preGrad = [Float](repeating: .nan, count: n)
                leakyReluBackward(pre, dy, &preGrad, count: n, slope: slope, accumulate: false)
                let sums = batchNormRectifiedGradientSums(x, dy, count: n, mean: mean, scale: scale, shift: shift, slope: slope)
                let unfusedSums = batchNormGradientSums(x, preGrad, count: n, mean: mean)
                let finite = (0..<n).filter { !x[$0].isNaN }
                XCTAssertEqual(sums.0.bitPattern, unfusedSums.0.bitPattern, "Σ dy, n \(n), slope \(slope)")
                XCTAssertEqual(sums.1.bitPattern, unfusedSums.1.bitPattern, "Σ (x − mean)·dy, n \(n), slope \(slope)")
                let referenceSums = batchNormGradientSumsReference(x, preGrad, count: n, mean: mean)
                if finite.count == n {
                    XCTAssertEqual(sums.0, referenceSums.0, accuracy: 1e-5 * Float(n + 1), "Σ dy reference, n \(n)")
                    XCTAssertEqual(sums.1, referenceSums.1, accuracy: 1e-5 * Float(n + 1), "Σ (x − mean)·dy reference, n \(n)")
                }
                for accumulate in [false, true] {
                    let start = values(n, seed: UInt64(300 + n))
                    var fusedGrad = accumulate ? start : [Float](repeating: .nan, count: n), unfusedGrad = start
                    batchNormRectifiedInputGradient(x, dy, &fusedGrad, count: n, mean: mean, invStd: 1.3, k: -0.8, meanDy: 0.1,
                                                    meanDyXhat: -0.4, scale: scale, shift: shift, slope: slope,
                                                    accumulate: accumulate)
                    batchNormInputGradientReference(x, preGrad, &unfusedGrad, count: n, mean: mean, invStd: 1.3, k: -0.8,
                                                    meanDy: 0.1, meanDyXhat: -0.4, accumulate: accumulate)
                    XCTAssertEqual(fusedGrad.map(\.bitPattern), unfusedGrad.map(\.bitPattern),
                                   "input gradient, n \(n), slope \(slope), accumulate \(accumulate)")
                }
            }
        }
    }

    /// `Sequential` runs BatchNorm2d + ReLU / LeakyReLU as one op in training mode: output,
    /// running statistics and the gradients of x, weight and bias are bit for bit those of the
    /// two layers run one after the other; evaluation mode is unchanged.
    func testFusedBatchNormRectifierMatchesUnfusedLayersBitForBit() {
        for (k, shape) in [[4, 3, 1, 1], [3, 2, 5, 7], [2, 3, 4, 4], [64, 2, 7, 7]].enumerated() {
            for slope: Float in [0, 0.2] {
                func layers() -> (BatchNorm2d, any Layer) {
                    let bn = BatchNorm2d(shape[1])
                    bn.weight!.data = values(shape[1], seed: UInt64(10 + k))
                    bn.bias!.data = values(shape[1], seed: UInt64(20 + k))
                    return (bn, slope == 0 ? ReLU() : LeakyReLU(slope: slope))
                }
                let data = values(shape.reduce(1, *), seed: UInt64(30 + k)), dy = values(data.count, seed: UInt64(40 + k))
                let (fusedNorm, fusedRectifier) = layers(), (norm, rectifier) = layers()
                let fusedX = Tensor(shape: shape, data: data, requiresGrad: true), x = Tensor(shape: shape, data: data, requiresGrad: true)
                let fusedY = Sequential(fusedNorm, fusedRectifier)(fusedX)
                let y = rectifier(norm(x))
                XCTAssertEqual(fusedY.op, "batch_norm_training_leaky_relu", "the pair runs fused")
                fusedY.backward(Tensor(shape: shape, data: dy))
                y.backward(Tensor(shape: shape, data: dy))
                let label = "shape \(shape), slope \(slope)"
                XCTAssertEqual(fusedY.data.map(\.bitPattern), y.data.map(\.bitPattern), "y, \(label)")
                XCTAssertEqual(fusedX.grad!.data.map(\.bitPattern), x.grad!.data.map(\.bitPattern), "dx, \(label)")
                XCTAssertEqual(fusedNorm.weight!.grad!.data.map(\.bitPattern), norm.weight!.grad!.data.map(\.bitPattern), "dweight, \(label)")
                XCTAssertEqual(fusedNorm.bias!.grad!.data.map(\.bitPattern), norm.bias!.grad!.data.map(\.bitPattern), "dbias, \(label)")
                XCTAssertEqual(fusedNorm.runningMean.data, norm.runningMean.data, "running mean, \(label)")
                XCTAssertEqual(fusedNorm.runningVar.data, norm.runningVar.data, "running variance, \(label)")
                let evalNet = Sequential(fusedNorm, fusedRectifier)
                evalNet.eval()
                norm.eval()
                XCTAssertEqual(evalNet(x).data.map(\.bitPattern), rectifier(norm(x)).data.map(\.bitPattern), "eval, \(label)")
            }
        }
    }

    /// The fused op's gradients against finite differences (LeakyReLU, so no kink is crossed
    /// at these values with a steep enough slope on both sides).
    func testFusedBatchNormRectifierGradientsMatchFiniteDifferences() {
        let bn = BatchNorm2d(3)
        bn.weight!.data = [1.2, -0.7, 0.9]
        bn.bias!.data = [0.1, -0.2, 0.3]
        let x = Tensor(shape: [2, 3, 3, 3], data: values(54, seed: 5))
        let net = Sequential(bn, LeakyReLU(slope: 0.2))
        assertGradientsMatch("BatchNorm2d + LeakyReLU fused", inputs: [x, bn.weight!, bn.bias!], eps: 1e-3, atol: 1e-2, rtol: 5e-2) { _ in
            net(x)
        }
    }
}
