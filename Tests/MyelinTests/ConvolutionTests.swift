import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// A tensor whose elements are distinct and at least 0.05 apart (a shuffled ramp), so max
/// pooling has no ties within ±eps of a finite-difference step.
func distinct(_ shape: [Int], seed: UInt64) -> Tensor {
    let n = shape.reduce(1, *)
    let order = Generator(seed: seed).permutation(n)
    return Tensor(shape: shape, data: order.map { Float($0) * 0.05 - Float(n) * 0.025 })
}

/// Geometries that exercise stride, dilation, padding per side, groups, depthwise (direct
/// loops, with rows long enough for their vector paths), 1×1, a batch of 3 and (the last)
/// the multi-threaded path with per-thread weight gradients.
let oddConvGeometries: [ConvGeometry] = [
    ConvGeometry(batch: 3, inChannels: 3, height: 7, width: 9, outChannels: 5, kernelH: 3, kernelW: 3),
    ConvGeometry(batch: 3, inChannels: 4, height: 9, width: 8, outChannels: 6, kernelH: 3, kernelW: 2,
                 strideH: 2, strideW: 2, padTop: 1, padLeft: 2, padBottom: 0, padRight: 1, groups: 2),
    ConvGeometry(batch: 2, inChannels: 3, height: 11, width: 10, outChannels: 7, kernelH: 3, kernelW: 3,
                 strideH: 1, strideW: 2, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2, dilationH: 2, dilationW: 2),
    ConvGeometry(batch: 3, inChannels: 6, height: 6, width: 5, outChannels: 12, kernelH: 3, kernelW: 3,
                 padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 6),
    ConvGeometry(batch: 2, inChannels: 4, height: 9, width: 23, outChannels: 4, kernelH: 3, kernelW: 3,
                 strideH: 2, strideW: 2, padTop: 2, padLeft: 1, padBottom: 0, padRight: 2, dilationH: 2, dilationW: 1, groups: 4),
    ConvGeometry(batch: 2, inChannels: 3, height: 6, width: 40, outChannels: 3, kernelH: 3, kernelW: 5,
                 padTop: 1, padLeft: 2, padBottom: 1, padRight: 2, groups: 3),
    ConvGeometry(batch: 3, inChannels: 5, height: 4, width: 7, outChannels: 33, kernelH: 1, kernelW: 1),
    // Negative bottom/right padding: the adjoint geometry of a transposed convolution with output padding.
    ConvGeometry(batch: 2, inChannels: 3, height: 8, width: 7, outChannels: 3, kernelH: 3, kernelW: 3,
                 strideH: 2, strideW: 2, padTop: 1, padLeft: 0, padBottom: -1, padRight: -1, groups: 3),
    ConvGeometry(batch: 2, inChannels: 2, height: 9, width: 8, outChannels: 4, kernelH: 2, kernelW: 3,
                 strideH: 1, strideW: 2, padTop: 0, padLeft: 1, padBottom: -1, padRight: 0, dilationH: 2, dilationW: 1),
    ConvGeometry(batch: 2, inChannels: 2, height: 5, width: 5, outChannels: 3, kernelH: 5, kernelW: 5,
                 strideH: 3, strideW: 3, padTop: 3, padLeft: 0, padBottom: 1, padRight: 4),
    ConvGeometry(batch: 5, inChannels: 8, height: 24, width: 24, outChannels: 16, kernelH: 3, kernelW: 3,
                 strideH: 1, strideW: 1, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
]

/// Convolution kernels against their naive references, the ops' finite-difference gradient
/// checks, the output-size formula, and what the tracer records for export.
final class ConvolutionTests: XCTestCase {
    func randomArray(_ count: Int, seed: UInt64) -> [Float] {
        let g = Generator(seed: seed)
        return (0..<count).map { _ in g.nextUniform() - 0.5 }
    }

    func assertNear(_ a: [Float], _ b: [Float], _ what: String, tolerance: Float = 2e-5) {
        XCTAssertEqual(a.count, b.count, what)
        for i in 0..<a.count where Swift.abs(a[i] - b[i]) > tolerance * Swift.max(1, Swift.abs(b[i])) {
            XCTFail("\(what): element \(i) is \(a[i]), reference \(b[i])")
            return
        }
    }

    // MARK: Kernels

    func testTrainingForwardMatchesDirectConvolution() {
        for (k, g) in oddConvGeometries.enumerated() {
            let x = randomArray(g.batch * g.inChannels * g.height * g.width, seed: UInt64(k))
            let w = randomArray(g.outChannels * g.patch, seed: UInt64(100 + k))
            let b = randomArray(g.outChannels, seed: UInt64(200 + k))
            let count = g.batch * g.outChannels * g.outHeight * g.outWidth
            var expected = [Float](repeating: 0, count: count)
            var fast = randomArray(count, seed: 7), accumulated = fast
            let start = accumulated
            conv2dReference(g, x: x, weight: w, bias: b, y: &expected)
            convForwardBatch(g, x: x, weight: w, bias: b, y: &fast, accumulate: false)
            assertNear(fast, expected, "geometry \(k) forward")
            convForwardBatch(g, x: x, weight: w, bias: b, y: &accumulated, accumulate: true)
            assertNear(accumulated, zip(start, expected).map { $0 + $1 }, "geometry \(k) accumulated forward")
        }
    }

    func testBackwardKernelsMatchReferences() {
        for (k, g) in oddConvGeometries.enumerated() {
            let x = randomArray(g.batch * g.inChannels * g.height * g.width, seed: UInt64(k))
            let w = randomArray(g.outChannels * g.patch, seed: UInt64(100 + k))
            let dy = randomArray(g.batch * g.outChannels * g.outHeight * g.outWidth, seed: UInt64(300 + k))
            // Backward-data is the transposed convolution of dy.
            var expectedDX = [Float](repeating: 0, count: x.count), dx = [Float](repeating: 0, count: x.count)
            convTranspose2dReference(g, t: dy, weight: w, bias: nil, z: &expectedDX)
            convBackwardDataBatch(g, gradY: dy, weight: w, gradX: &dx, accumulate: true)
            assertNear(dx, expectedDX, "geometry \(k) backward data")
            var expectedDW = [Float](repeating: 0, count: w.count)
            conv2dWeightGradientReference(g, x: x, gradY: dy, gradW: &expectedDW)
            var dw = [Float](repeating: 1, count: w.count)   // accumulates onto 1
            convBackwardWeightBatch(g, x: x, gradY: dy, gradW: &dw)
            assertNear(dw, expectedDW.map { $0 + 1 }, "geometry \(k) backward weight (\(convPartCount(g)) parts)", tolerance: 1e-4)
        }
    }

    func testTransposedConvolutionReferenceIsTheAdjoint() {
        // ⟨conv(x), t⟩ = ⟨x, convᵀ(t)⟩ for every geometry: the two references agree with each other.
        for (k, g) in oddConvGeometries.enumerated() {
            let x = randomArray(g.batch * g.inChannels * g.height * g.width, seed: UInt64(k))
            let w = randomArray(g.outChannels * g.patch, seed: UInt64(100 + k))
            let t = randomArray(g.batch * g.outChannels * g.outHeight * g.outWidth, seed: UInt64(400 + k))
            var y = [Float](repeating: 0, count: t.count), z = [Float](repeating: 0, count: x.count)
            conv2dReference(g, x: x, weight: w, bias: nil, y: &y)
            convTranspose2dReference(g, t: t, weight: w, bias: nil, z: &z)
            let lhs = zip(y, t).reduce(0.0) { $0 + Double($1.0 * $1.1) }, rhs = zip(x, z).reduce(0.0) { $0 + Double($1.0 * $1.1) }
            XCTAssertEqual(lhs, rhs, accuracy: 1e-3 * Swift.max(1, Swift.abs(lhs)), "geometry \(k)")
        }
    }

    func testTensorOpsMatchDirectConvolution() {
        for (k, g) in oddConvGeometries.enumerated() where g.padBottom >= 0 && g.padRight >= 0 {
            let x = Tensor(shape: [g.batch, g.inChannels, g.height, g.width], data: randomArray(g.batch * g.inChannels * g.height * g.width, seed: UInt64(k)))
            let w = Tensor(shape: [g.outChannels, g.inChannels / g.groups, g.kernelH, g.kernelW], data: randomArray(g.outChannels * g.patch, seed: UInt64(100 + k)))
            let b = Tensor(randomArray(g.outChannels, seed: UInt64(200 + k)))
            let y = conv2d(x, weight: w, bias: b, stride: Size2d(g.strideH, g.strideW),
                           padding: .explicit([g.padTop, g.padLeft, g.padBottom, g.padRight]),
                           dilation: Size2d(g.dilationH, g.dilationW), groups: g.groups)
            XCTAssertEqual(y.shape, [g.batch, g.outChannels, g.outHeight, g.outWidth])
            var expected = [Float](repeating: 0, count: y.count)
            conv2dReference(g, x: x.data, weight: w.data, bias: b.data, y: &expected)
            assertNear(y.data, expected, "conv2d geometry \(k)")
        }
    }

    // MARK: Gradient checks

    func testConv2dGradients() {
        let x = smooth([2, 3, 6, 5], seed: 1), w = smooth([4, 3, 3, 3], seed: 2, scale: 0.5), b = smooth([4], seed: 3)
        assertGradientsMatch("conv2d", inputs: [x, w, b]) { conv2d($0[0], weight: $0[1], bias: $0[2]) }
        assertGradientsMatch("conv2d stride 2 padding [1, 2]", inputs: [x, w, b]) {
            conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: [1, 2])
        }
        assertGradientsMatch("conv2d dilation 2 asymmetric padding", inputs: [x, w]) {
            conv2d($0[0], weight: $0[1], stride: [1, 2], padding: [2, 0, 1, 3], dilation: 2)
        }
        let x4 = smooth([3, 4, 5, 5], seed: 4), wg = smooth([6, 2, 3, 2], seed: 5, scale: 0.5)
        assertGradientsMatch("conv2d groups 2", inputs: [x4, wg]) { conv2d($0[0], weight: $0[1], padding: "same", groups: 2) }
        let wd = smooth([8, 1, 3, 3], seed: 6, scale: 0.5)
        assertGradientsMatch("conv2d depthwise ×2", inputs: [x4, wd, smooth([8], seed: 7)]) {
            conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1, groups: 4)
        }
        assertGradientsMatch("conv2d 1×1", inputs: [x4, smooth([3, 4, 1, 1], seed: 8)]) { conv2d($0[0], weight: $0[1]) }
    }

    func testConv1dGradients() {
        let x = smooth([2, 3, 9], seed: 9), w = smooth([4, 3, 3], seed: 10, scale: 0.5), b = smooth([4], seed: 11)
        assertGradientsMatch("conv1d", inputs: [x, w, b]) { conv1d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1) }
        assertGradientsMatch("conv1d same dilation 2 groups 3", inputs: [x, smooth([6, 1, 4], seed: 12)]) {
            conv1d($0[0], weight: $0[1], padding: "same", dilation: 2, groups: 3)
        }
    }

    func testConvTranspose2dGradients() {
        let x = smooth([2, 4, 3, 4], seed: 13), w = smooth([4, 3, 3, 3], seed: 14, scale: 0.5), b = smooth([3], seed: 15)
        assertGradientsMatch("convTranspose2d stride 2", inputs: [x, w, b]) {
            convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1, outputPadding: 1)
        }
        assertGradientsMatch("convTranspose2d groups 2 dilation 2", inputs: [x, smooth([4, 1, 2, 3], seed: 16)]) {
            convTranspose2d($0[0], weight: $0[1], stride: [1, 2], outputPadding: [1, 0], groups: 2, dilation: 2)
        }
        let depthwise = smooth([4, 1, 3, 3], seed: 29, scale: 0.5)
        assertGradientsMatch("convTranspose2d depthwise", inputs: [x, depthwise, smooth([4], seed: 30)]) {
            convTranspose2d($0[0], weight: $0[1], bias: $0[2], padding: 1, groups: 4)
        }
        assertGradientsMatch("convTranspose2d depthwise stride 2 output padding 1", inputs: [x, depthwise]) {
            convTranspose2d($0[0], weight: $0[1], stride: 2, outputPadding: 1, groups: 4)
        }
    }

    func testPoolingGradients() {
        let x = distinct([2, 3, 7, 6], seed: 17)
        assertGradientsMatch("maxPool2d 2", inputs: [x]) { maxPool2d($0[0], kernelSize: 2) }
        assertGradientsMatch("maxPool2d 3 stride 2 padding 1", inputs: [x]) { maxPool2d($0[0], kernelSize: 3, stride: 2, padding: 1) }
        assertGradientsMatch("maxPool2d dilation 2", inputs: [x]) { maxPool2d($0[0], kernelSize: [2, 3], stride: 1, dilation: 2) }
        let (pooled, indices) = noGrad { maxPool2dWithIndices(x, kernelSize: 2) }
        assertGradientsMatch("maxUnpool2d", inputs: [pooled.detach()]) { maxUnpool2d($0[0], indices: indices, outputSize: [7, 6]) }
        let s = smooth([2, 3, 7, 6], seed: 18)
        assertGradientsMatch("avgPool2d", inputs: [s]) { avgPool2d($0[0], kernelSize: 3, stride: 2, padding: 1) }
        assertGradientsMatch("avgPool2d without padding count", inputs: [s]) {
            avgPool2d($0[0], kernelSize: [2, 3], stride: [2, 1], padding: [1, 1], countIncludePad: false)
        }
        assertGradientsMatch("adaptiveAvgPool2d [3, 4]", inputs: [s]) { adaptiveAvgPool2d($0[0], outputSize: [3, 4]) }
        assertGradientsMatch("adaptiveAvgPool2d global", inputs: [s]) { adaptiveAvgPool2d($0[0], outputSize: 1) }
        assertGradientsMatch("upsampleNearest2d", inputs: [s]) { upsampleNearest2d($0[0], scale: [2, 3]) }
        assertGradientsMatch("channelShuffle", inputs: [smooth([2, 6, 2, 3], seed: 19)]) { channelShuffle($0[0], groups: 3) }
    }

    // MARK: Shapes

    /// Hout = ⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1 for conv2d, conv1d and max pooling;
    /// convTranspose2d inverts it: (n − 1)s − 2p + d(k − 1) + outputPadding + 1.
    func testFeatureMapSizeFormula() {
        for n in [5, 8, 13] {
            for k in [1, 2, 3] {
                for s in [1, 2, 3] {
                    for d in [1, 2] {
                        for p in 0...(k / 2) where n + 2 * p >= d * (k - 1) + 1 {
                            let expected = (n + 2 * p - d * (k - 1) - 1) / s + 1
                            let x = Tensor.zeros([1, 2, n, n + 1])
                            let y = conv2d(x, weight: Tensor.zeros([3, 2, k, k]), stride: Size2d(s), padding: .explicit([p]), dilation: Size2d(d))
                            XCTAssertEqual(y.shape, [1, 3, expected, (n + 1 + 2 * p - d * (k - 1) - 1) / s + 1], "conv2d n \(n) k \(k) s \(s) p \(p) d \(d)")
                            let y1 = conv1d(Tensor.zeros([1, 2, n]), weight: Tensor.zeros([3, 2, k]), stride: s, padding: .explicit([p]), dilation: d)
                            XCTAssertEqual(y1.shape, [1, 3, expected], "conv1d n \(n) k \(k) s \(s) p \(p) d \(d)")
                            XCTAssertEqual(maxPool2d(x, kernelSize: Size2d(k), stride: Size2d(s), padding: Size2d(p), dilation: Size2d(d)).shape,
                                           [1, 2, expected, (n + 1 + 2 * p - d * (k - 1) - 1) / s + 1], "maxPool2d n \(n) k \(k) s \(s) p \(p) d \(d)")
                            let op = s > 1 ? (n + 2 * p - d * (k - 1) - 1) % s : 0
                            let t = convTranspose2d(y, weight: Tensor.zeros([3, 2, k, k]), stride: Size2d(s), padding: Size2d(p),
                                                    outputPadding: [op, 0], dilation: Size2d(d))
                            XCTAssertEqual(t.shape[2], n, "convTranspose2d restores n \(n) k \(k) s \(s) p \(p) d \(d)")
                        }
                    }
                }
            }
        }
        // "same" keeps the size, with the odd padding on the bottom/right.
        let x = smooth([1, 1, 5, 6], seed: 20)
        let w = smooth([1, 1, 4, 2], seed: 21)
        let same = conv2d(x, weight: w, padding: "same")
        XCTAssertEqual(same.shape, [1, 1, 5, 6])
        assertClose(same.data, conv2d(x, weight: w, padding: [1, 0, 2, 1]).data, atol: 0, rtol: 0, "same = [1, 0, 2, 1]")
        XCTAssertEqual(conv1d(Tensor.zeros([2, 1, 7]), weight: Tensor.zeros([1, 1, 4]), padding: "same", dilation: 3).shape, [2, 1, 7])
        XCTAssertEqual(avgPool2d(Tensor.zeros([1, 1, 7, 7]), kernelSize: 3, stride: 2, padding: 1).shape, [1, 1, 4, 4])
        XCTAssertEqual(upsampleNearest2d(Tensor.zeros([1, 1, 3, 4]), scale: [2, 3]).shape, [1, 1, 6, 12])
        // An empty batch gives an empty batch, forward and backward.
        let empty = Tensor.zeros([0, 2, 5, 5], requiresGrad: true), kernel = Tensor.zeros([3, 2, 3, 3], requiresGrad: true)
        let y = conv2d(empty, weight: kernel, bias: Tensor.zeros([3], requiresGrad: true), padding: 1)
        XCTAssertEqual(y.shape, [0, 3, 5, 5])
        y.backward(Tensor.zeros([0, 3, 5, 5]))
        XCTAssertEqual(kernel.grad?.data, [Float](repeating: 0, count: 54))
        XCTAssertEqual(convTranspose2d(empty, weight: Tensor.zeros([2, 3, 2, 2]), stride: 2).shape, [0, 3, 10, 10])
    }

    func testChannelShuffleAndUnpoolValues() {
        let x = Tensor(shape: [1, 6, 1, 1], data: [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(channelShuffle(x, groups: 3).data, [0, 2, 4, 1, 3, 5])
        XCTAssertEqual(channelShuffle(x, groups: 2).data, [0, 3, 1, 4, 2, 5])
        let image = Tensor(shape: [1, 1, 2, 4], data: [1, 5, 2, 0, 3, 4, 8, 7])
        let (values, indices) = maxPool2dWithIndices(image, kernelSize: 2)
        XCTAssertEqual(values.data, [5, 8])
        XCTAssertEqual(indices.data, [1, 6])
        XCTAssertEqual(maxUnpool2d(values, indices: indices, outputSize: [2, 4]).data, [0, 5, 0, 0, 0, 0, 8, 0])
        XCTAssertEqual(upsampleNearest2d(Tensor(shape: [1, 1, 1, 2], data: [1, 2]), scale: 2).data, [1, 1, 2, 2, 1, 1, 2, 2])
    }

    /// 2×2 stride-2 pooling has a vector path (8 outputs at a time): same values, indices,
    /// tie order (first in window order) and NaN rule as a direct loop, on rows of 18 outputs.
    func testMaxPool2x2VectorPathMatchesDirectLoop() {
        let g = Generator(seed: 31)
        let (n, c, h, w) = (2, 3, 6, 37)
        var data = (0..<(n * c * h * w)).map { _ in Float(g.nextInt(below: 5)) }   // many ties
        data[5] = .nan
        data[w + 40] = .nan
        let x = Tensor(shape: [n, c, h, w], data: data)
        let (values, indices) = maxPool2dWithIndices(x, kernelSize: 2)
        XCTAssertEqual(values.shape, [n, c, 3, 18])
        for plane in 0..<(n * c) {
            for oy in 0..<3 {
                for ox in 0..<18 {
                    var best = -Float.infinity, at = (2 * oy) * w + 2 * ox
                    for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let index = (2 * oy + i) * w + 2 * ox + j, v = data[plane * h * w + index]
                        if !best.isNaN && (v > best || v.isNaN) { best = v; at = index }
                    }
                    let o = (plane * 3 + oy) * 18 + ox
                    XCTAssertTrue(values.data[o] == best || (values.data[o].isNaN && best.isNaN), "plane \(plane) output (\(oy), \(ox))")
                    XCTAssertEqual(indices.data[o], Float(at), "plane \(plane) output (\(oy), \(ox))")
                }
            }
        }
    }

    /// Values-only 2×2 stride-2 pooling (the runtime's max_pool2d; rows of 4 or more outputs
    /// run row after row through the vector path): bit for bit the direct loop's values, ties
    /// of ±0 and NaNs included, on odd heights (last input row unused) and widths of 3 … 13 outputs.
    func testMaxPool2x2ValuesOnlyMatchesDirectLoop() {
        let g = Generator(seed: 32)
        for (h, w) in [(7, 26), (11, 11), (4, 8), (5, 17), (6, 7), (3, 9)] {
            let planes = 3, oh = h / 2, ow = w / 2
            var x = (0..<(planes * h * w)).map { _ in [Float(0), -0.0, 1, -1, 2][g.nextInt(below: 5)] }
            x[w + 3] = .nan
            x[h * w + 2 * w + 1] = -.nan
            let geometry = ConvGeometry(batch: 1, inChannels: planes, height: h, width: w, outChannels: planes,
                                        kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, groups: planes)
            var y = [Float](repeating: 7, count: planes * oh * ow + 1)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { maxPool2dForward(geometry, planes: planes, x: xp.baseAddress!, values: $0.baseAddress!, indices: nil) }
            }
            XCTAssertEqual(y[planes * oh * ow], 7, "\(h)×\(w): nothing written past the output")
            for plane in 0..<planes {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var best = -Float.infinity
                        for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                            let v = x[plane * h * w + (2 * oy + i) * w + 2 * ox + j]
                            if !best.isNaN && !(v <= best) { best = v }
                        }
                        let got = y[(plane * oh + oy) * ow + ox]
                        XCTAssertEqual(got.bitPattern, best.bitPattern, "\(h)×\(w) plane \(plane) output (\(oy), \(ox))")
                    }
                }
            }
        }
    }

    /// Adaptive average pooling sums four planes at a time (independent chains): each cell
    /// still bit for bit the in-order sum over its span divided by the count, for plane counts
    /// that are not multiples of four, uneven spans and global pooling; nothing written past y.
    func testAdaptiveAvgPoolMatchesInOrderSums() {
        let g = Generator(seed: 33)
        for (planes, h, w, oh, ow) in [(1, 4, 4, 1, 1), (3, 7, 7, 1, 1), (6, 5, 7, 2, 3), (9, 4, 4, 1, 1), (4, 3, 5, 3, 2)] {
            let x = (0..<(planes * h * w)).map { _ in g.nextUniform() * 4 - 2 }
            var y = [Float](repeating: 7, count: planes * oh * ow + 1)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer {
                    adaptiveAvgPool2dForward(planes: planes, height: h, width: w, outHeight: oh, outWidth: ow, x: xp.baseAddress!, y: $0.baseAddress!)
                }
            }
            XCTAssertEqual(y[planes * oh * ow], 7, "\(planes) planes: nothing written past the output")
            for p in 0..<planes {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let rows = adaptivePoolSpan(oy, oh, h), cols = adaptivePoolSpan(ox, ow, w)
                        var s: Float = 0
                        for iy in rows.lo..<rows.hi { for ix in cols.lo..<cols.hi { s += x[p * h * w + iy * w + ix] } }
                        let expected = s / Float((rows.hi - rows.lo) * (cols.hi - cols.lo))
                        XCTAssertEqual(y[(p * oh + oy) * ow + ox].bitPattern, expected.bitPattern, "\(planes) planes, plane \(p) cell (\(oy), \(ox))")
                    }
                }
            }
        }
    }

    // MARK: Tracing

    func testTracerRecordsEveryAttribute() {
        let x = smooth([1, 4, 8, 8], seed: 22)
        let w = smooth([4, 2, 3, 3], seed: 23), b = smooth([4], seed: 24)
        let tracer = Tracer()
        tracer.recording {
            let y = conv2d(x, weight: w, bias: b, stride: [2, 1], padding: [1, 0, 2, 1], dilation: [1, 2], groups: 2)
            _ = conv2d(x, weight: w, groups: 2)
            _ = conv1d(smooth([1, 2, 10], seed: 25), weight: smooth([3, 2, 3], seed: 26), stride: 2, padding: [1, 2], dilation: 2)
            _ = convTranspose2d(y, weight: smooth([4, 1, 2, 2], seed: 27), bias: smooth([4], seed: 28), stride: 2, padding: 1,
                                outputPadding: [1, 0], groups: 4, dilation: 1)
            let (pooled, indices) = maxPool2dWithIndices(x, kernelSize: 3, stride: 2, padding: 1, dilation: 1)
            _ = maxUnpool2d(pooled, indices: indices, outputSize: [8, 8])
            _ = avgPool2d(x, kernelSize: [2, 3], stride: 1, padding: [1, 1], countIncludePad: false)
            _ = adaptiveAvgPool2d(x, outputSize: [2, 3])
            _ = upsampleNearest2d(x, scale: [2, 1])
            _ = channelShuffle(x, groups: 2)
        }
        let nodes = tracer.nodes
        // The pooling indices are recorded too (as their own node), so unpooling models export.
        XCTAssertEqual(nodes.map(\.op), ["conv2d", "conv2d", "conv1d", "conv_transpose2d", "max_pool2d", "max_pool2d_indices",
                                         "max_unpool2d", "avg_pool2d", "adaptive_avg_pool2d", "upsample_nearest2d", "channel_shuffle"])
        guard nodes.count == 11 else { return }
        XCTAssertEqual(nodes[0].attributes, ["stride": .ints([2, 1]), "padding": .ints([1, 0, 2, 1]), "dilation": .ints([1, 2]), "groups": .int(2)])
        XCTAssertTrue(nodes[0].inputs[0] === x && nodes[0].inputs[1] === w && nodes[0].inputs[2] === b)
        XCTAssertEqual(nodes[1].inputs.count, 2)
        XCTAssertEqual(nodes[1].attributes, ["stride": .ints([1, 1]), "padding": .ints([0, 0, 0, 0]), "dilation": .ints([1, 1]), "groups": .int(2)])
        XCTAssertEqual(nodes[2].attributes, ["stride": .ints([2]), "padding": .ints([1, 2]), "dilation": .ints([2]), "groups": .int(1)])
        XCTAssertEqual(nodes[3].attributes, ["stride": .ints([2, 2]), "padding": .ints([1, 1, 1, 1]), "output_padding": .ints([1, 0]),
                                             "dilation": .ints([1, 1]), "groups": .int(4)])
        XCTAssertEqual(nodes[3].inputs.count, 3)
        XCTAssertEqual(nodes[4].attributes, ["kernel": .ints([3, 3]), "stride": .ints([2, 2]), "padding": .ints([1, 1, 1, 1]), "dilation": .ints([1, 1])])
        XCTAssertEqual(nodes[5].attributes, nodes[4].attributes)
        XCTAssertTrue(nodes[5].inputs[0] === x)
        XCTAssertEqual(nodes[6].attributes, ["output_size": .ints([8, 8])])
        XCTAssertEqual(nodes[6].inputs.count, 2)
        XCTAssertTrue(nodes[6].inputs[1] === nodes[5].output)
        XCTAssertEqual(nodes[6].inputs[1].shape, nodes[4].output.shape)
        XCTAssertEqual(nodes[7].attributes, ["kernel": .ints([2, 3]), "stride": .ints([1, 1]), "padding": .ints([1, 1, 1, 1]),
                                             "dilation": .ints([1, 1]), "count_include_pad": .int(0)])
        XCTAssertEqual(nodes[8].attributes, ["output_size": .ints([2, 3])])
        XCTAssertEqual(nodes[9].attributes, ["scale": .ints([2, 1])])
        XCTAssertEqual(nodes[10].attributes, ["groups": .int(2)])
    }

    // MARK: Speed

    /// One forward + backward of the anchor CNN's two convolutions at batch 64
    /// (Conv 1→32 3×3 on 28×28, Conv 32→64 3×3 on 13×13; the first needs no input gradient),
    /// checked against the direct reference for the forward, and timed: prints GFLOP/s.
    func testAnchorConvolutionsForwardBackward() {
        let x1 = Tensor.uniform([64, 1, 28, 28], generator: Generator(seed: 1))
        let conv1 = Conv2d(1, 32, kernelSize: 3, generator: Generator(seed: 2))
        let x2 = Tensor.uniform([64, 32, 13, 13], generator: Generator(seed: 3), requiresGrad: true)
        let conv2 = Conv2d(32, 64, kernelSize: 3, generator: Generator(seed: 4))
        let seed1 = Tensor.ones([64, 32, 26, 26]), seed2 = Tensor.ones([64, 64, 11, 11])
        func step() -> (Tensor, Tensor) {
            for t in [conv1.weight, conv1.bias!, conv2.weight, conv2.bias!, x2] { t.zeroGrad() }
            let y1 = conv1(x1), y2 = conv2(x2)
            y1.backward(seed1)
            y2.backward(seed2)
            return (y1, y2)
        }
        let (y1, y2) = step()
        let g2 = ConvGeometry(batch: 64, inChannels: 32, height: 13, width: 13, outChannels: 64, kernelH: 3, kernelW: 3)
        var expected = [Float](repeating: 0, count: y2.count)
        conv2dReference(g2, x: x2.data, weight: conv2.weight.data, bias: conv2.bias!.data, y: &expected)
        assertNear(y2.data, expected, "conv2 forward", tolerance: 1e-4)
        XCTAssertEqual(y1.shape, [64, 32, 26, 26])
        // Multiply-adds: conv1 forward + weight gradient, conv2 forward + weight + input gradients.
        let g1 = ConvGeometry(batch: 64, inChannels: 1, height: 28, width: 28, outChannels: 32, kernelH: 3, kernelW: 3)
        let flops = 2.0 * Double(2 * g1.multiplyAdds + 3 * g2.multiplyAdds)
        // Best of 5 steps: on one thread in thread CPU time (what one core sustains, even on a
        // busy machine), and on all threads in wall time.
        let saved = Threading.threads
        defer { Threading.threads = saved }
        for threads in Set([1, saved]).sorted() {
            Threading.threads = threads
            let clock = threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC
            var best = Double.infinity
            for _ in 0..<5 {
                var start = timespec(), end = timespec()
                clock_gettime(clock, &start)
                _ = step()
                clock_gettime(clock, &end)
                best = Swift.min(best, Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9)
            }
            print(String(format: "anchor convs fwd+bwd, batch 64, %d thread(s), %@: %.2f ms, %.1f GFLOP/s (%.2f GFLOP)",
                         threads, threads == 1 ? "CPU time" : "wall time", best * 1e3, flops / best / 1e9, flops / 1e9))
        }
    }
}
