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

    func testSigmoidKernelsMatchReferences() {
        for n in lengths {
            var x = values(n, seed: UInt64(300 + n)).map { $0 * 6 }, dy = values(n, seed: UInt64(400 + n))
            // Saturation on both sides (e^{±x} overflows or underflows), the −88 cut, and NaN.
            let edges: [Float] = [-1000, 1000, -104, -88.5, -87.9, 88.5, 30, -30, .nan]
            for (i, e) in edges.enumerated() where i < n { x[(i * 7) % n] = e }
            var fast = [Float](repeating: 7, count: n), reference = [Float](repeating: 9, count: n)
            sigmoidForward(x, &fast, count: n)
            sigmoidForwardReference(x, &reference, count: n)
            for i in 0..<n {
                if reference[i].isNaN { XCTAssertTrue(fast[i].isNaN, "σ(NaN), n \(n)"); continue }
                // vectorExp is within 2 ulp of libm's; σ adds one rounding each side. Below 10⁻³⁸
                // (x < −87.3) the reference is subnormal and the kernel may give 0.
                XCTAssertEqual(fast[i], reference[i], accuracy: Swift.max(4 * reference[i].ulp, 1.2e-38), "σ(\(x[i])), n \(n)")
            }
            if n > 7 * edges.count {   // every edge at its own position
                XCTAssertEqual(fast[0], 0, "σ(−1000) is 0")
                XCTAssertEqual(fast[7], 1, "σ(1000) is 1")
            }
            let start = values(n, seed: UInt64(500 + n))
            var fastGrad = start, referenceGrad = start
            sigmoidBackward(reference, dy, &fastGrad, count: n)
            sigmoidBackwardReference(reference, dy, &referenceGrad, count: n)
            XCTAssertEqual(fastGrad.map(\.bitPattern), referenceGrad.map(\.bitPattern), "backward, n \(n)")
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

    /// One channel's runs as the batch-norm kernels see them: `count` runs of `length` floats,
    /// `length + 3` apart, the gaps NaN in inputs (a kernel that reads them sums NaN) and 7 in
    /// outputs (a kernel that writes them is caught).
    var layouts: [ChannelPlanes] {
        lengths.flatMap { n in [ChannelPlanes(length: n), ChannelPlanes(count: 3, length: n, stride: n + 3),
                                ChannelPlanes(count: 10, length: n, stride: n + 3)] }
    }

    func strided(_ planes: ChannelPlanes, seed: UInt64, gap: Float) -> [Float] {
        var out = [Float](repeating: gap, count: Swift.max(0, (planes.count - 1) * planes.stride + planes.length))
        let v = values(planes.count * planes.length, seed: seed)
        for r in 0..<planes.count { for i in 0..<planes.length { out[r * planes.stride + i] = v[r * planes.length + i] } }
        return out
    }

    func testBatchNormKernelsMatchReferences() {
        for (k, planes) in layouts.enumerated() {
            let label = "runs \(planes.count)×\(planes.length)"
            let x = strided(planes, seed: UInt64(k), gap: .nan), dy = strided(planes, seed: UInt64(100 + k), gap: .nan)
            let n = planes.count * planes.length
            var fast = strided(planes, seed: 0, gap: 7), reference = fast
            for i in fast.indices where fast[i] != 7 { fast[i] = .nan }
            batchNormScaleShift(x, &fast, planes, scale: 1.7, shift: -0.3)
            for r in 0..<planes.count {
                let o = r * planes.stride
                x.withUnsafeBufferPointer { xb in reference.withUnsafeMutableBufferPointer { rb in
                    batchNormScaleShiftReference(xb.baseAddress! + o, rb.baseAddress! + o, count: planes.length, scale: 1.7, shift: -0.3)
                } }
            }
            XCTAssertEqual(fast.map(\.bitPattern), reference.map(\.bitPattern), "scale-shift, \(label)")

            let moments = batchNormMoments(x, planes, mean: 0.25), referenceMoments = batchNormMomentsReference(x, planes, mean: 0.25)
            XCTAssertEqual(moments.sum, referenceMoments.sum, accuracy: 1e-5 * Double(n + 1), "Σ x, \(label)")
            XCTAssertEqual(moments.centeredSquares, referenceMoments.centeredSquares, accuracy: 1e-5 * Double(n + 1), "Σ (x − mean)², \(label)")
            XCTAssertEqual(channelSum(dy, planes), batchNormMomentsReference(dy, planes, mean: 0).sum, accuracy: 1e-5 * Double(n + 1),
                           "Σ dy, \(label)")

            let (sumDy, sumDyX) = batchNormGradientSums(x, dy, planes, mean: 0.25)
            var referenceDy = 0.0, referenceDyX = 0.0
            for r in 0..<planes.count {
                let o = r * planes.stride
                let (a, b) = batchNormGradientSumsReference(Array(x[o..<o + planes.length]), Array(dy[o..<o + planes.length]),
                                                            count: planes.length, mean: 0.25)
                referenceDy += a
                referenceDyX += b
            }
            XCTAssertEqual(sumDy, referenceDy, accuracy: 1e-5 * Double(n + 1), "Σ dy, \(label)")
            XCTAssertEqual(sumDyX, referenceDyX, accuracy: 1e-5 * Double(n + 1), "Σ (x − mean)·dy, \(label)")

            for accumulate in [false, true] {
                let start = strided(planes, seed: UInt64(300 + k), gap: 7)
                var fastGrad = start, referenceGrad = start
                if !accumulate { for i in fastGrad.indices where fastGrad[i] != 7 { fastGrad[i] = .nan } }
                batchNormInputGradient(x, dy, &fastGrad, planes, mean: 0.25, invStd: 1.3, k: -0.8, meanDy: 0.1,
                                       meanDyXhat: -0.4, accumulate: accumulate)
                for r in 0..<planes.count {
                    let o = r * planes.stride
                    x.withUnsafeBufferPointer { xb in dy.withUnsafeBufferPointer { gb in referenceGrad.withUnsafeMutableBufferPointer { rb in
                        batchNormInputGradientReference(xb.baseAddress! + o, gb.baseAddress! + o, rb.baseAddress! + o, count: planes.length,
                                                        mean: 0.25, invStd: 1.3, k: -0.8, meanDy: 0.1, meanDyXhat: -0.4,
                                                        accumulate: accumulate)
                    } } }
                }
                XCTAssertEqual(fastGrad.map(\.bitPattern), referenceGrad.map(\.bitPattern),
                               "input gradient, \(label), accumulate \(accumulate)")
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
        for (k, planes) in layouts.enumerated() {
            var x = strided(planes, seed: UInt64(k), gap: .nan)
            if planes.length > 3 { x[1] = 0.5; x[2] = 0; x[3] = .nan }
            let dy = strided(planes, seed: UInt64(100 + k), gap: .nan)
            let label = "runs \(planes.count)×\(planes.length)"
            for slope: Float in [0, 0.2, -1.5] {
                let blank = strided(planes, seed: 0, gap: 7).map { $0 == 7 ? Float(7) : .nan }
                var fused = blank, pre = blank, unfused = blank, reference = blank
                batchNormScaleShiftRectified(x, &fused, planes, scale: scale, shift: shift, slope: slope)
                batchNormScaleShift(x, &pre, planes, scale: scale, shift: shift)
                // The unfused rectifier over the whole strided buffer: the gaps (7) stay 7.
                leakyReluForward(pre, &unfused, count: pre.count, slope: slope)
                for r in 0..<planes.count {
                    let o = r * planes.stride
                    x.withUnsafeBufferPointer { xb in reference.withUnsafeMutableBufferPointer { rb in
                        batchNormScaleShiftRectifiedReference(xb.baseAddress! + o, rb.baseAddress! + o, count: planes.length,
                                                              scale: scale, shift: shift, slope: slope)
                    } }
                }
                XCTAssertEqual(fused.map(\.bitPattern), unfused.map(\.bitPattern), "forward, \(label), slope \(slope)")
                XCTAssertEqual(fused.map(\.bitPattern), reference.map(\.bitPattern), "forward reference, \(label), slope \(slope)")

                // The unfused backward: the rectifier's gradient into a buffer, then batch norm's passes.
                var preGrad = [Float](repeating: .nan, count: pre.count)
                leakyReluBackward(pre, dy, &preGrad, count: pre.count, slope: slope, accumulate: false)
                let sums = batchNormRectifiedGradientSums(x, dy, planes, mean: mean, scale: scale, shift: shift, slope: slope)
                let unfusedSums = batchNormGradientSums(x, preGrad, planes, mean: mean)
                XCTAssertEqual(sums.0.bitPattern, unfusedSums.0.bitPattern, "Σ dy, \(label), slope \(slope)")
                XCTAssertEqual(sums.1.bitPattern, unfusedSums.1.bitPattern, "Σ (x − mean)·dy, \(label), slope \(slope)")
                for accumulate in [false, true] {
                    let start = strided(planes, seed: UInt64(300 + k), gap: 7)
                    var fusedGrad = accumulate ? start : blank, unfusedGrad = start
                    batchNormRectifiedInputGradient(x, dy, &fusedGrad, planes, mean: mean, invStd: 1.3, k: -0.8, meanDy: 0.1,
                                                    meanDyXhat: -0.4, scale: scale, shift: shift, slope: slope,
                                                    accumulate: accumulate)
                    for r in 0..<planes.count {
                        let o = r * planes.stride
                        x.withUnsafeBufferPointer { _ in preGrad.withUnsafeBufferPointer { gb in unfusedGrad.withUnsafeMutableBufferPointer { rb in
                            x.withUnsafeBufferPointer { xb in
                                batchNormInputGradientReference(xb.baseAddress! + o, gb.baseAddress! + o, rb.baseAddress! + o,
                                                                count: planes.length, mean: mean, invStd: 1.3, k: -0.8, meanDy: 0.1,
                                                                meanDyXhat: -0.4, accumulate: accumulate)
                            }
                        } } }
                    }
                    XCTAssertEqual(fusedGrad.map(\.bitPattern), unfusedGrad.map(\.bitPattern),
                                   "input gradient, \(label), slope \(slope), accumulate \(accumulate)")
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
