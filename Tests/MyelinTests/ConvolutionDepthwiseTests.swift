import XCTest
@testable import Myelin
@testable import MyelinShared

/// The vectorised depthwise forward (`convDepthwiseForward`, used by training and the C
/// runtime) sums each output in the naive reference's order, so the two agree exactly, over
/// strides 1–3, padding per side (and negative bottom/right padding, as a transposed
/// convolution's adjoint has), dilation, widths that are not multiples of 16, channel
/// multipliers, bias or none, accumulation and the fused ReLU.
final class ConvolutionDepthwiseTests: XCTestCase {
    static let geometries: [ConvGeometry] = [
        // MobileNet-mini's depthwise layers: 3 × 3, stride 2 then 1, 14 × 14 and 7 × 7 planes.
        ConvGeometry(batch: 2, inChannels: 16, height: 28, width: 28, outChannels: 16, kernelH: 3, kernelW: 3,
                     strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 16),
        ConvGeometry(batch: 2, inChannels: 8, height: 7, width: 7, outChannels: 8, kernelH: 3, kernelW: 3,
                     padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 8),
        // Wide rows (more than one block of 64 lanes per row), odd width, no padding.
        ConvGeometry(batch: 1, inChannels: 3, height: 5, width: 77, outChannels: 3, kernelH: 3, kernelW: 3, groups: 3),
        // Channel multiplier 2 and 3, asymmetric padding, 5 × 3 kernel.
        ConvGeometry(batch: 2, inChannels: 4, height: 9, width: 13, outChannels: 8, kernelH: 5, kernelW: 3,
                     padTop: 2, padLeft: 0, padBottom: 1, padRight: 2, groups: 4),
        ConvGeometry(batch: 1, inChannels: 3, height: 11, width: 17, outChannels: 9, kernelH: 3, kernelW: 3,
                     strideH: 2, strideW: 2, padTop: 0, padLeft: 1, padBottom: 1, padRight: 0, groups: 3),
        // Stride 3 (the generic phase split), different strides per axis, dilation.
        ConvGeometry(batch: 2, inChannels: 2, height: 19, width: 23, outChannels: 2, kernelH: 3, kernelW: 3,
                     strideH: 3, strideW: 3, padTop: 1, padLeft: 2, padBottom: 2, padRight: 1, groups: 2),
        ConvGeometry(batch: 1, inChannels: 5, height: 12, width: 31, outChannels: 5, kernelH: 3, kernelW: 5,
                     strideH: 1, strideW: 2, padTop: 2, padLeft: 4, padBottom: 2, padRight: 4, dilationH: 2, dilationW: 2, groups: 5),
        ConvGeometry(batch: 1, inChannels: 4, height: 10, width: 10, outChannels: 4, kernelH: 3, kernelW: 3,
                     strideH: 2, strideW: 1, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, dilationH: 1, dilationW: 3, groups: 4),
        // 1 × 1 and a kernel as large as the padded plane (one output).
        ConvGeometry(batch: 1, inChannels: 3, height: 6, width: 6, outChannels: 3, kernelH: 1, kernelW: 1, groups: 3),
        ConvGeometry(batch: 1, inChannels: 2, height: 4, width: 5, outChannels: 4, kernelH: 6, kernelW: 7,
                     padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 2),
        // Stride 2 on rows of 8–15 columns and of fewer than 8 (the narrower column splits).
        ConvGeometry(batch: 2, inChannels: 3, height: 9, width: 11, outChannels: 3, kernelH: 3, kernelW: 3,
                     strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 3),
        ConvGeometry(batch: 1, inChannels: 2, height: 6, width: 5, outChannels: 2, kernelH: 3, kernelW: 3,
                     strideH: 2, strideW: 2, padTop: 0, padLeft: 2, padBottom: 2, padRight: 0, groups: 2),
        // Negative bottom/right padding (the adjoint of a transposed convolution with output padding).
        ConvGeometry(batch: 1, inChannels: 3, height: 10, width: 18, outChannels: 3, kernelH: 3, kernelW: 3,
                     strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: -1, padRight: -1, groups: 3),
        ConvGeometry(batch: 1, inChannels: 2, height: 9, width: 9, outChannels: 2, kernelH: 3, kernelW: 3,
                     padTop: 1, padLeft: 1, padBottom: -1, padRight: -1, groups: 2),
    ]

    func randomArray(_ count: Int, seed: UInt64) -> [Float] {
        let g = Generator(seed: seed)
        return (0..<count).map { _ in g.nextUniform() - 0.5 }
    }

    /// `convDepthwiseForward` over all images of `g`, onto `y` (NaN-filled unless accumulating).
    func depthwise(_ g: ConvGeometry, x: [Float], w: [Float], bias: [Float]?, y: inout [Float], accumulate: Bool, relu: Bool) {
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: convColumnsCount(g))
        // Junk in the scratch must not reach the output.
        scratch.initialize(repeating: .nan, count: convColumnsCount(g))
        defer { scratch.deallocate() }
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    if let bias {
                        bias.withUnsafeBufferPointer { bp in
                            convDepthwiseForward(g, images: 0..<g.batch, x: xp.baseAddress!, weight: wp.baseAddress!, bias: bp.baseAddress!,
                                                 y: yp.baseAddress!, accumulate: accumulate, relu: relu, scratch: scratch)
                        }
                    } else {
                        convDepthwiseForward(g, images: 0..<g.batch, x: xp.baseAddress!, weight: wp.baseAddress!, bias: nil,
                                             y: yp.baseAddress!, accumulate: accumulate, relu: relu, scratch: scratch)
                    }
                }
            }
        }
    }

    func reference(_ g: ConvGeometry, x: [Float], w: [Float], bias: [Float]?) -> [Float] {
        var y = [Float](repeating: .nan, count: g.batch * g.outChannels * g.outHeight * g.outWidth)
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    if let bias {
                        bias.withUnsafeBufferPointer { conv2dReference(g, x: xp.baseAddress!, weight: wp.baseAddress!, bias: $0.baseAddress!, y: yp.baseAddress!) }
                    } else {
                        conv2dReference(g, x: xp.baseAddress!, weight: wp.baseAddress!, bias: nil, y: yp.baseAddress!)
                    }
                }
            }
        }
        return y
    }

    func testEqualsNaiveReferenceExactly() {
        for (index, g) in Self.geometries.enumerated() {
            XCTAssertTrue(g.isDepthwise, "geometry \(index)")
            let x = randomArray(g.batch * g.inChannels * g.height * g.width, seed: UInt64(10 + index))
            let w = randomArray(g.outChannels * g.kernelH * g.kernelW, seed: UInt64(50 + index))
            let bias = randomArray(g.outChannels, seed: UInt64(90 + index))
            for withBias in [false, true] {
                let expected = reference(g, x: x, w: w, bias: withBias ? bias : nil)
                var y = [Float](repeating: .nan, count: expected.count)
                depthwise(g, x: x, w: w, bias: withBias ? bias : nil, y: &y, accumulate: false, relu: false)
                XCTAssertEqual(y, expected, "geometry \(index), bias \(withBias)")

                var rectified = [Float](repeating: .nan, count: expected.count)
                depthwise(g, x: x, w: w, bias: withBias ? bias : nil, y: &rectified, accumulate: false, relu: true)
                XCTAssertEqual(rectified, expected.map { Swift.max($0, 0) }, "geometry \(index), bias \(withBias), relu")

                let start = randomArray(expected.count, seed: UInt64(130 + index))
                var sum = start
                depthwise(g, x: x, w: w, bias: withBias ? bias : nil, y: &sum, accumulate: true, relu: false)
                XCTAssertEqual(sum, zip(start, expected).map { $0 + $1 }, "geometry \(index), bias \(withBias), accumulate")
            }
        }
    }

    /// One image of a batch, written alone: the images outside `images` stay untouched.
    func testImageRangeWritesOnlyThoseImages() {
        let g = Self.geometries[0]
        let x = randomArray(g.batch * g.inChannels * g.height * g.width, seed: 1)
        let w = randomArray(g.outChannels * g.kernelH * g.kernelW, seed: 2)
        let expected = reference(g, x: x, w: w, bias: nil)
        let perImage = g.outChannels * g.outHeight * g.outWidth
        var y = [Float](repeating: .nan, count: expected.count)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: convColumnsCount(g))
        defer { scratch.deallocate() }
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    convDepthwiseForward(g, images: 1..<2, x: xp.baseAddress!, weight: wp.baseAddress!, bias: nil,
                                         y: yp.baseAddress!, accumulate: false, scratch: scratch)
                }
            }
        }
        XCTAssertTrue(y[..<perImage].allSatisfy { $0.isNaN })
        XCTAssertEqual(Array(y[perImage...]), Array(expected[perImage...]))
    }
}
