import XCTest
@testable import Myelin
@testable import MyelinShared

/// The f32 convolutions with the channels in the vector lanes (ConvolutionLanes.swift) and their
/// load-time choice (`ConvOps.keepChannelsLast`): the pointwise kernel equals
/// `convForwardPacked` bit for bit from NCHW and from channels-last input, into channels-last
/// rows or averaged as `adaptiveAvgPool2dForward` averages; the depthwise kernel equals
/// `convDepthwiseForward` bit for bit (strides, asymmetric padding, dilation); scratch and
/// outputs start as NaN; a depthwise-separable graph loaded for running hands channels-last rows
/// between its convolutions and fuses the last one with the global average pooling, and equals
/// the unfused run in Swift and in C.
final class ConvolutionLanesTests: XCTestCase {
    /// x[c, p] of `channels` planes of `pixels` as channels-last rows x[p, c] (or back, swapped).
    static func transpose(_ x: [Float], rows: Int, columns: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = x[r * columns + c] } }
        return out
    }

    /// (input channels, height, width, output channels): 7 × 7 and 14 × 14 planes, a plane of 35
    /// pixels (the last tile overlapping), one of exactly 12, input channels not a multiple of 16.
    static let pointwiseCases = [(16, 14, 14, 32), (64, 7, 7, 128), (48, 5, 7, 64), (20, 2, 6, 32), (33, 3, 9, 96)]

    func testPointwiseLanesEqualPackedConvolution() {
        for (k, t) in Self.pointwiseCases.enumerated() {
            let (c, h, w, o) = t, pixels = h * w
            let g = ConvGeometry(batch: 1, inChannels: c, height: h, width: w, outChannels: o, kernelH: 1, kernelW: 1)
            XCTAssertTrue(convPointwiseByLanes(g), "case \(k)")
            let gen = Generator(seed: UInt64(300 + k))
            let clean = Tensor.randn([c, h, w], generator: gen).data
            let weights = Tensor.randn([o, c, 1, 1], generator: gen).data, b = Tensor.randn([o], generator: gen).data
            let packed = UnsafeMutablePointer<Float>.allocate(capacity: convPackedWeightsCount(g))
            defer { packed.deallocate() }
            weights.withUnsafeBytes { convPackWeights(g, weights: $0.baseAddress!, f16: false, into: packed) }
            let lanes = UnsafePointer(packed + convPackedWeightsCount(g) - o * c)
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: convPackedScratchCount(g))
            defer { scratch.deallocate() }
            let edge = UnsafeMutablePointer<Float>.allocate(capacity: convLanesScratchCount(g))
            defer { edge.deallocate() }
            // With a NaN (which reaches every channel of its pixel, so every mean), and without.
            var withNaN = clean
            withNaN[clean.count / 3] = .nan
            for (x, relu, withBias) in [(withNaN, false, true), (withNaN, true, false), (clean, false, true), (clean, true, true),
                                        (clean, true, false)] {
                let rows = Self.transpose(x, rows: c, columns: pixels)
                var expected = [Float](repeating: .nan, count: o * pixels)
                scratch.initialize(repeating: .nan, count: convPackedScratchCount(g))
                b.withUnsafeBufferPointer { bias in
                    convForwardPacked(g, x: x, packed: packed, bias: withBias ? bias.baseAddress : nil, relu: relu, y: &expected,
                                      scratch: scratch)
                }
                var means = [Float](repeating: .nan, count: o)
                adaptiveAvgPool2dForward(planes: o, height: h, width: w, outHeight: 1, outWidth: 1, x: expected, y: &means)
                for channelsLast in [false, true] {
                    var y = [Float](repeating: .nan, count: o * pixels), averaged = [Float](repeating: .nan, count: o)
                    b.withUnsafeBufferPointer { bias in
                        let input = channelsLast ? rows : x, biasPointer = withBias ? bias.baseAddress : nil
                        edge.initialize(repeating: .nan, count: convLanesScratchCount(g))
                        convPointwiseLanes(g, x: input, inputChannelsLast: channelsLast, lanes: lanes, bias: biasPointer, relu: relu,
                                           y: &y, averaged: false, edge: edge)
                        edge.initialize(repeating: .nan, count: convLanesScratchCount(g))
                        convPointwiseLanes(g, x: input, inputChannelsLast: channelsLast, lanes: lanes, bias: biasPointer, relu: relu,
                                           y: &averaged, averaged: true, edge: edge)
                    }
                    let label = "case \(k) relu \(relu) bias \(withBias) channels-last input \(channelsLast)"
                    XCTAssertEqual(Self.transpose(y, rows: pixels, columns: o).map(\.bitPattern), expected.map(\.bitPattern), label)
                    XCTAssertEqual(averaged.map(\.bitPattern), means.map(\.bitPattern), label + ": averaged")
                }
                XCTAssertEqual(expected.contains { $0.isNaN }, x[clean.count / 3].isNaN, "case \(k): a NaN reaches the output")
                XCTAssertTrue(expected.contains { !$0.isNaN } && means.contains { !$0.isNaN } == !x[clean.count / 3].isNaN, "case \(k)")
            }
        }
    }

    /// (input channels, height, width, output channels, stride, padding): ResNet-mini's 3 × 3
    /// convolutions (one depth block of 288 rows, two of 288, four, stride 2; 4 × 4 outputs, whose
    /// 8-pixel tiles cross rows; on 14 × 14 and 7 × 7 the last tile overlaps the one before), a
    /// 5 × 5 kernel, asymmetric padding, a 3 × 7 output, a 2 × 4 output (one tile exactly).
    static let convolutionCases = [(32, 14, 14, 32, 1, 1), (64, 7, 7, 64, 1, 1), (128, 7, 7, 128, 1, 1), (32, 14, 14, 64, 2, 1),
                                   (3, 9, 14, 32, 1, 2), (20, 5, 9, 96, 1, 0), (128, 4, 4, 128, 1, 1), (64, 7, 7, 128, 2, 1),
                                   (32, 2, 4, 32, 1, 1)]

    /// `convForwardLanes` (conv2d's path for `convConvolvesByLanes`) equals `convForwardPacked`
    /// bit for bit, a NaN input included; a 1 × 1 convolution keeps the register tile.
    func testConvolutionLanesEqualPackedConvolution() {
        for (k, t) in Self.convolutionCases.enumerated() {
            let (c, h, w, o, stride, pad) = t, kernel = k == 4 ? 5 : 3
            let g = ConvGeometry(batch: 1, inChannels: c, height: h, width: w, outChannels: o, kernelH: kernel, kernelW: kernel,
                                 strideH: stride, strideW: stride, padTop: pad, padLeft: pad, padBottom: pad + (k == 5 ? 1 : 0),
                                 padRight: pad)
            XCTAssertTrue(convConvolvesByLanes(g), "case \(k)")
            var pointwise = g
            pointwise.kernelH = 1; pointwise.kernelW = 1; pointwise.padTop = 0; pointwise.padLeft = 0; pointwise.padBottom = 0; pointwise.padRight = 0
            XCTAssertFalse(convConvolvesByLanes(pointwise), "case \(k) 1 × 1")
            let gen = Generator(seed: UInt64(360 + k))
            var x = Tensor.randn([c, h, w], generator: gen).data
            x[x.count / 3] = .nan
            let weights = Tensor.randn([o, c, kernel, kernel], generator: gen).data, b = Tensor.randn([o], generator: gen).data
            let packed = UnsafeMutablePointer<Float>.allocate(capacity: convPackedWeightsCount(g))
            defer { packed.deallocate() }
            weights.withUnsafeBytes { convPackWeights(g, weights: $0.baseAddress!, f16: false, into: packed) }
            let lanes = UnsafePointer(packed + convPackedWeightsCount(g) - o * g.patch)
            let count = Swift.max(convPackedScratchCount(g), convLanesScratchCount(g))
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: count)
            defer { scratch.deallocate() }
            for (relu, withBias) in [(false, true), (true, true), (true, false)] {
                var expected = [Float](repeating: .nan, count: o * g.outHeight * g.outWidth), y = expected
                b.withUnsafeBufferPointer { bias in
                    scratch.initialize(repeating: .nan, count: count)
                    convForwardPacked(g, x: x, packed: packed, bias: withBias ? bias.baseAddress : nil, relu: relu, y: &expected,
                                      scratch: scratch)
                    scratch.initialize(repeating: .nan, count: count)
                    convForwardLanes(g, x: x, lanes: lanes, bias: withBias ? bias.baseAddress : nil, relu: relu, y: &y, scratch: scratch)
                }
                XCTAssertEqual(y.map(\.bitPattern), expected.map(\.bitPattern), "case \(k) relu \(relu) bias \(withBias)")
                XCTAssertTrue(expected.contains { $0.isNaN } && expected.contains { !$0.isNaN }, "case \(k): the NaN reaches the output")
            }
        }
    }

    /// (channels, multiplier, kernel, height, width, stride h/w, padding top/left/bottom/right,
    /// dilation h/w): MobileNet-mini's, odd sizes, strides, asymmetric padding, dilation, channels
    /// not whole vectors, a channel multiplier, a 5 × 5 and a 1 × 3 kernel.
    static let depthwiseCases: [(Int, Int, (Int, Int), Int, Int, (Int, Int), (Int, Int, Int, Int), (Int, Int))] = [
        (16, 1, (3, 3), 28, 28, (2, 2), (1, 1, 1, 1), (1, 1)),
        (32, 1, (3, 3), 14, 14, (1, 1), (1, 1, 1, 1), (1, 1)),
        (64, 1, (3, 3), 14, 14, (2, 2), (1, 1, 1, 1), (1, 1)),
        (128, 1, (3, 3), 7, 7, (1, 1), (1, 1, 1, 1), (1, 1)),
        (16, 1, (3, 3), 9, 11, (2, 2), (0, 1, 2, 1), (1, 1)),
        (48, 1, (3, 3), 6, 13, (2, 1), (0, 1, 1, 2), (1, 2)),
        (16, 1, (3, 3), 10, 8, (1, 3), (2, 0, 1, 2), (2, 1)),
        (5, 1, (3, 3), 7, 9, (1, 1), (1, 1, 1, 1), (1, 1)),
        (3, 3, (5, 5), 8, 7, (2, 1), (2, 2, 2, 2), (1, 1)),
        (20, 1, (1, 3), 6, 6, (1, 2), (0, 1, 0, 1), (1, 1)),
    ]

    /// `convDepthwiseLanes` from NCHW and (one filter per channel, whole vectors) from rows, into
    /// NCHW and rows, equals `convDepthwiseForward` bit for bit, on scratch and outputs of NaN.
    func testDepthwiseLanesEqualDepthwiseForward() {
        for (k, t) in Self.depthwiseCases.enumerated() {
            let (c, multiplier, kernel, h, w, stride, pad, dilation) = t, o = c * multiplier
            let g = ConvGeometry(batch: 1, inChannels: c, height: h, width: w, outChannels: o, kernelH: kernel.0, kernelW: kernel.1,
                                 strideH: stride.0, strideW: stride.1, padTop: pad.0, padLeft: pad.1, padBottom: pad.2, padRight: pad.3,
                                 dilationH: dilation.0, dilationW: dilation.1, groups: c)
            XCTAssertTrue(g.isDepthwise, "case \(k)")
            XCTAssertEqual(convDepthwiseByLanes(g), multiplier == 1 && c % 16 == 0, "case \(k)")
            let gen = Generator(seed: UInt64(320 + k))
            var x = Tensor.randn([c, h, w], generator: gen).data
            x[x.count / 2 + 1] = .nan
            let taps = kernel.0 * kernel.1
            let weights = Tensor.randn([o, 1, kernel.0, kernel.1], generator: gen).data, b = Tensor.randn([o], generator: gen).data
            var lanes = [Float](repeating: .nan, count: taps * kernelRoundUp(o, 16))
            weights.withUnsafeBytes { convDepthwiseLaneWeights(g, $0.baseAddress!, f16: false, into: &lanes) }
            let outPixels = g.outHeight * g.outWidth
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: convDepthwiseForwardScratchCount(g))
            defer { scratch.deallocate() }
            let laneScratch = UnsafeMutablePointer<Float>.allocate(capacity: convLanesScratchCount(g))
            defer { laneScratch.deallocate() }
            let rows = Self.transpose(x, rows: c, columns: h * w)
            for (relu, withBias) in [(false, true), (true, true), (true, false)] {
                var expected = [Float](repeating: .nan, count: o * outPixels)
                scratch.initialize(repeating: .nan, count: convDepthwiseForwardScratchCount(g))
                b.withUnsafeBufferPointer { bias in
                    convDepthwiseForward(g, images: 0..<1, x: x, weight: weights, bias: withBias ? bias.baseAddress : nil, y: &expected,
                                         accumulate: false, relu: relu, scratch: scratch)
                }
                for (inputRows, outputRows) in convDepthwiseByLanes(g) ? [(false, false), (true, false), (false, true), (true, true)]
                                                                       : [(false, false)] {
                    var y = [Float](repeating: .nan, count: o * outPixels)
                    laneScratch.initialize(repeating: .nan, count: convLanesScratchCount(g))
                    b.withUnsafeBufferPointer { bias in
                        convDepthwiseLanes(g, x: inputRows ? rows : x, inputChannelsLast: inputRows, lanes: lanes,
                                           bias: withBias ? bias.baseAddress : nil, relu: relu, y: &y, outputChannelsLast: outputRows,
                                           scratch: laneScratch)
                    }
                    let nchw = outputRows ? Self.transpose(y, rows: outPixels, columns: o) : y
                    XCTAssertEqual(nchw.map(\.bitPattern), expected.map(\.bitPattern),
                                   "case \(k) relu \(relu) bias \(withBias) rows in \(inputRows) out \(outputRows)")
                }
                XCTAssertTrue(expected.contains { $0.isNaN } && expected.contains { !$0.isNaN }, "case \(k): the NaN reaches the output")
            }
        }
    }

    /// x [c0, h, w] → (depthwise 3×3, stride s, ReLU → pointwise 1×1, ReLU) per block, as
    /// MobileNet-mini's blocks, then a global average pooling. `blocks`: (stride, output
    /// channels); the first depthwise reads the input (NCHW).
    static func separableBundle(c0: Int, h: Int, w: Int, blocks: [(Int, Int)], seed: UInt64) -> ModelBundle {
        let gen = Generator(seed: seed)
        var tensors: [ModelBundle.TensorEntry] = [], ops: [ModelBundle.Op] = []
        var values: [ModelBundle.Value] = [.init(name: "x", dtype: .f32, shape: [c0, h, w])]
        var c = c0, height = h, width = w
        func conv(_ o: Int, kernel: Int, stride: Int, groups: Int) {
            let weight = Tensor.randn([o, c / groups, kernel, kernel], generator: gen), bias = Tensor.randn([o], generator: gen)
            tensors += [.init(name: "w\(ops.count)", floats: weight.data, shape: weight.shape),
                        .init(name: "b\(ops.count)", floats: bias.data, shape: [o])]
            let pad = Int64(kernel / 2)
            height = (height + 2 * (kernel / 2) - kernel) / stride + 1
            width = (width + 2 * (kernel / 2) - kernel) / stride + 1
            values.append(.init(name: "v\(ops.count)", dtype: .f32, shape: [o, height, width]))
            ops.append(.init(.conv2d, inputs: [values.count - 2], outputs: [values.count - 1], tensors: [tensors.count - 2, tensors.count - 1],
                             attributes: [(.stride, .ints([Int64(stride), Int64(stride)])), (.padding, .ints([pad, pad, pad, pad])),
                                          (.dilation, .ints([1, 1])), (.groups, .int(Int64(groups))), (.activation, .int(1))]))
            c = o
        }
        for (stride, o) in blocks {
            conv(c, kernel: 3, stride: stride, groups: c)
            conv(o, kernel: 1, stride: 1, groups: 1)
        }
        values.append(.init(name: "pooled", dtype: .f32, shape: [c, 1, 1]))
        ops.append(.init(.adaptiveAvgPool2d, inputs: [values.count - 2], outputs: [values.count - 1], tensors: [],
                         attributes: [(.outputSize, .ints([1, 1]))]))
        return ModelBundle(precision: .f32, tensors: tensors, values: values, inputs: [0], outputs: [values.count - 1], ops: ops)
    }

    /// MobileNet-mini's last three blocks on a 14 × 14 input (and two blocks on 9 × 11): the first
    /// depthwise reads the NCHW input and writes rows, every later conv reads and writes rows, the
    /// last pointwise conv writes the pool's output; a run (batch 3,
    /// arena of NaN) equals the unfused Swift run (values kept) and C bit for bit.
    func testSeparableGraphRunsInChannelsLastRows() throws {
        let library = try requireRuntime()
        let n = 3
        for (k, b) in [Self.separableBundle(c0: 32, h: 14, w: 14, blocks: [(1, 64), (2, 128), (1, 128)], seed: 340),
                       Self.separableBundle(c0: 16, h: 9, w: 11, blocks: [(2, 32), (1, 64)], seed: 341)].enumerated() {
            var loaded = try ConvPoolFusionTests.load(b)
            defer { loaded.release() }
            let ops = loaded.model.graph.ops!, convs = b.ops.count - 1
            XCTAssertFalse(ops[0].params.channelsLastInput, "bundle \(k): the first depthwise reads the NCHW input")
            for o in 0..<convs { XCTAssertTrue(ops[o].params.channelsLastOutput, "bundle \(k): op \(o) writes rows") }
            for o in 1..<convs { XCTAssertTrue(ops[o].params.channelsLastInput, "bundle \(k): op \(o) reads rows") }
            XCTAssertEqual(ops[convs - 1].params.pooledInto, b.values.count - 1, "bundle \(k): the last conv writes the pool's output")
            XCTAssertTrue(ops[convs].params.pooledByConv, "bundle \(k)")
            var context = try InferenceContext.create(loaded.model, maxBatch: n)
            defer { context.release() }
            memset(context.arena!, 0xff, context.plan.arenaBytes)   // NaN everywhere
            let x = Tensor.randn([n] + b.values[0].shape, generator: Generator(seed: 350 + UInt64(k))).data
            var lanes = [Float](repeating: .nan, count: n * b.values.last!.count)
            context.run(loaded.model, batch: n, input: x, output: &lanes)
            var unfused: [Float] = []
            let pooled = b.values.count - 1
            _ = BundleExecutor(b).run([.f32(x)], batch: n, observe: { id, contents in if id == pooled { unfused = contents.floats } })
            XCTAssertEqual(lanes.map(\.bitPattern), unfused.map(\.bitPattern), "bundle \(k): channels-last rows = NCHW")
            XCTAssertFalse(lanes.contains { $0.isNaN }, "bundle \(k)")
            XCTAssertEqual(try ConvRuntimeTests.runC(library, b, [x], n: n)[0].map(\.bitPattern), lanes.map(\.bitPattern), "bundle \(k): C")
        }
    }
}
