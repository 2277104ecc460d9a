import XCTest
@testable import Myelin
@testable import MyelinShared

/// Convolutional networks in the bundle and the C runtime (f32): every zoo preset exported by
/// tracing runs from libmyelin within 1e-4 relative of the Swift model in eval mode (BatchNorm
/// running statistics made non-trivial so folding is exercised), as does the Swift
/// `BundleExecutor`; a model of transposed convolution, unpooling, upsampling and shuffling
/// does too; each conv geometry matches the naive reference; the passes fold BatchNorm and
/// ReLU into conv2d. Tiny random models, a handful of samples.
final class ConvRuntimeTests: XCTestCase {
    /// Largest |a − b| of a sample relative to the largest |b| of that sample.
    static func relativeError(_ a: [Float], _ b: [Float], width: Int) -> Float {
        precondition(a.count == b.count && b.count % width == 0)
        var worst: Float = 0
        for s in stride(from: 0, to: b.count, by: width) {
            var scale: Float = 0, error: Float = 0
            for i in s..<(s + width) {
                scale = Swift.max(scale, Swift.abs(b[i]))
                error = Swift.max(error, a[i].isNaN || b[i].isNaN ? .infinity : Swift.abs(a[i] - b[i]))
            }
            worst = Swift.max(worst, error / Swift.max(scale, 1e-6))
        }
        return worst
    }

    /// Running statistics and affine parameters far from the identity, so that a BatchNorm
    /// folded wrongly (or not applied) shows.
    static func randomizeBatchNorms(_ model: any Module, seed: UInt64) {
        let g = Generator(seed: seed)
        for (_, m) in model.namedModules() {
            guard let bn = m as? BatchNorm2d else { continue }
            let c = bn.features
            bn.runningMean.data = Tensor.uniform([c], low: -0.5, high: 0.5, generator: g).data
            bn.runningVar.data = Tensor.uniform([c], low: 0.25, high: 2, generator: g).data
            bn.weight?.data = Tensor.uniform([c], low: 0.5, high: 1.5, generator: g).data
            bn.bias?.data = Tensor.uniform([c], low: -0.3, high: 0.3, generator: g).data
        }
    }

    /// Runs `bundle` in the C runtime on `inputs` (one array per graph input, `n` samples).
    static func runC(_ library: RuntimeLibrary, _ bundle: ModelBundle, _ inputs: [[Float]], n: Int) throws -> [[Float]] {
        let sizes = bundle.outputs.map { bundle.values[$0].count }
        let model = try RuntimeLibrary.Model(library, bytes: bundle.encode(), maxBatch: n, outputSize: sizes[0])
        let (status, out) = model.runMulti(inputs, batch: n, outputSizes: sizes)
        XCTAssertEqual(status, 0, "myelin_run_multi")
        if bundle.selfTest != nil { XCTAssertEqual(model.selfTestStatus, 0, "the bundle's self-test passes in C") }
        return out
    }

    func testEveryZooPresetMatchesInCAndInTheSwiftExecutor() throws {
        let library = try requireRuntime()
        let n = 3
        for (i, name) in ModelZoo.names.enumerated() {
            let model = ModelZoo.make(name, generator: Generator(seed: UInt64(10 + i)))
            Self.randomizeBatchNorms(model, seed: UInt64(20 + i))
            model.eval()
            let x = Tensor.uniform([n, 1, 28, 28], generator: Generator(seed: UInt64(30 + i)))
            let expected = noGrad { model(x) }.data
            var options = BundleExporter.Options()
            options.inputShape = [1, 28, 28]
            let bundle = try BundleExporter.export(model, options: options)
            let codes = Set(bundle.ops.map(\.code))
            XCTAssertTrue(codes.contains(.conv2d), name)
            XCTAssertFalse(codes.contains(.relu) && ["cnn", "lenet5", "vgg"].contains(name), "\(name): every ReLU fused into its conv or linear")
            if ["resnet", "mobilenet", "shufflenet"].contains(name) {
                XCTAssertFalse(codes.contains(.scaleShift), "\(name): every BatchNorm folded into its convolution")
            }
            let c = try Self.runC(library, bundle, [x.data], n: n)[0]
            XCTAssertLessThanOrEqual(Self.relativeError(c, expected, width: 10), 1e-4, "\(name): C against the Swift model")
            let swift = BundleExecutor(bundle).run(x.data, batch: n)
            XCTAssertLessThanOrEqual(Self.relativeError(swift, expected, width: 10), 1e-4, "\(name): BundleExecutor against the Swift model")
            XCTAssertEqual(c, swift, "\(name): C and the Swift executor run the same kernels")
        }
    }

    /// Weights stored f16: C equals the Swift executor of the same bundle, and stays close to
    /// the f32 model (f16 rounding of the weights only).
    func testF16PresetsRunInC() throws {
        let library = try requireRuntime()
        let n = 2
        for name in ["cnn", "mobilenet"] {
            let model = ModelZoo.make(name, generator: Generator(seed: 3))
            Self.randomizeBatchNorms(model, seed: 4)
            model.eval()
            let x = Tensor.uniform([n, 1, 28, 28], generator: Generator(seed: 5))
            let expected = noGrad { model(x) }.data
            var options = BundleExporter.Options(precision: .f16)
            options.inputShape = [1, 28, 28]
            let bundle = try BundleExporter.export(model, options: options)
            XCTAssertTrue(bundle.tensors.contains { $0.dtype == BundleDType.f16.rawValue && $0.shape.count == 4 }, "\(name): f16 conv weights")
            let c = try Self.runC(library, bundle, [x.data], n: n)[0]
            XCTAssertEqual(c, BundleExecutor(bundle).run(x.data, batch: n), name)
            XCTAssertLessThanOrEqual(Self.relativeError(c, expected, width: 10), 2e-2, name)
            XCTAssertGreaterThan(Self.relativeError(c, expected, width: 10), 0, "\(name): the weights really are f16")
        }
    }

    /// An autoencoder-like model of every other op of the family: strided, dilated and
    /// asymmetrically padded convolution, max pooling with indices and unpooling, transposed
    /// convolution (stride, padding, output padding, dilation, groups), nearest upsampling,
    /// channel shuffle, average pooling with and without the padding in the divisor, adaptive
    /// average pooling to a non-divisor size, a 1-D convolution, flatten.
    final class Sampler: Module {
        let encode: Conv2d, pool: MaxPool2d, unpool: MaxUnpool2d, decode: ConvTranspose2d, grouped: ConvTranspose2d
        let conv1d: Conv1d
        var isTraining = true
        init(_ g: Generator) {
            encode = Conv2d(2, 6, kernelSize: [3, 2], stride: [1, 2], padding: [2, 1, 0, 1], dilation: [2, 1], generator: g)
            pool = MaxPool2d(kernelSize: 2)
            unpool = MaxUnpool2d(kernelSize: 2)
            decode = ConvTranspose2d(6, 4, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1, dilation: 1, generator: g)
            grouped = ConvTranspose2d(4, 4, kernelSize: [2, 3], stride: [1, 2], padding: [1, 0], groups: 2, dilation: [2, 1], generator: g)
            conv1d = Conv1d(4, 3, kernelSize: 3, stride: 2, padding: [1, 2], dilation: 2, generator: g)
        }
        func forward(_ x: Tensor) -> (Tensor, Tensor) {
            let h = encode(x).relu()
            let (p, indices) = pool.forwardWithIndices(h)
            let u = unpool(p, indices: indices, outputSize: Size2d(h.shape[2], h.shape[3]))
            let d = grouped(decode(u + h))
            let s = channelShuffle(upsampleNearest2d(d, scale: [2, 1]), groups: 2)
            let a = avgPool2d(s, kernelSize: 3, stride: 2, padding: 1) + avgPool2d(s, kernelSize: 3, stride: 2, padding: 1, countIncludePad: false)
            let image = adaptiveAvgPool2d(a, outputSize: [3, 5])
            let line = conv1d(image.reshape([x.shape[0], 4, 15]))
            return (image, line.flatten())
        }
        var description: String { "Sampler" }
    }

    func testAutoencoderOpsMatchInCAndInTheSwiftExecutor() throws {
        let library = try requireRuntime()
        let model = Sampler(Generator(seed: 7))
        model.eval()
        let n = 3
        let x = Tensor.randn([n, 2, 9, 10], generator: Generator(seed: 8))
        let (image, line) = noGrad { model.forward(x) }
        let bundle = try BundleExporter.export(model, inputs: [("x", [2, 9, 10])], outputNames: ["image", "line"]) {
            let (a, b) = model.forward($0[0]); return [a, b]
        }
        let codes = bundle.ops.map(\.code)
        for code in [BundleOpCode.conv2d, .maxPool2d, .maxUnpool2d, .convTranspose2d, .upsampleNearest2d, .channelShuffle,
                     .avgPool2d, .adaptiveAvgPool2d] {
            XCTAssertTrue(codes.contains(code), "\(code) in the bundle")
        }
        let pool = try XCTUnwrap(bundle.ops.first { $0.code == .maxPool2d })
        XCTAssertEqual(pool.outputs.count, 2, "max_pool2d writes values and indices in one op")
        XCTAssertEqual(bundle.values[pool.outputs[1]].dtype, BundleDType.i32.rawValue)
        let c = try Self.runC(library, bundle, [x.data], n: n)
        let swift = BundleExecutor(bundle).run([x.data], batch: n)
        for (k, expected) in [image.data, line.data].enumerated() {
            let width = expected.count / n
            XCTAssertLessThanOrEqual(Self.relativeError(c[k], expected, width: width), 1e-5, "output \(k): C against Swift")
            XCTAssertLessThanOrEqual(Self.relativeError(swift[k], expected, width: width), 1e-5, "output \(k): executor against Swift")
        }
    }

    /// Depthwise transposed convolutions (one input channel per group on the adjoint convolution's
    /// side, with and without a channel multiplier; stride, output padding, dilation): the
    /// runtime runs them through the general column-matrix path (`convBackwardData`), C and the
    /// Swift executor against the training module's own transposed convolution.
    func testDepthwiseTransposedConvolutionsMatchInCAndInTheSwiftExecutor() throws {
        final class Depthwise: Module {
            let up: ConvTranspose2d, widen: ConvTranspose2d
            var isTraining = false
            init(_ g: Generator) {
                up = ConvTranspose2d(4, 4, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1, groups: 4, generator: g)
                widen = ConvTranspose2d(8, 4, kernelSize: [3, 2], padding: [1, 0], groups: 4, dilation: [1, 2], generator: g)
            }
            func forward(_ x: Tensor) -> Tensor { widen(Tensor.concat([up(x).relu(), upsampleNearest2d(x, scale: [2, 2])], axis: 1)) }
            var description: String { "Depthwise" }
        }
        let library = try requireRuntime()
        let model = Depthwise(Generator(seed: 11))
        let n = 2
        let x = Tensor.randn([n, 4, 5, 6], generator: Generator(seed: 12))
        let expected = noGrad { model.forward(x) }
        let bundle = try BundleExporter.export(model, inputs: [("x", [4, 5, 6])]) { [model.forward($0[0])] }
        let transposed = bundle.ops.filter { $0.code == .convTranspose2d }
        XCTAssertEqual(transposed.count, 2)
        for op in transposed {
            XCTAssertEqual(bundle.values[op.outputs[0]].shape[0], 4, "one output channel per group")
        }
        let c = try Self.runC(library, bundle, [x.data], n: n)
        let swift = BundleExecutor(bundle).run([x.data], batch: n)
        let width = expected.count / n
        XCTAssertLessThanOrEqual(Self.relativeError(c[0], expected.data, width: width), 1e-5, "C against Swift")
        XCTAssertLessThanOrEqual(Self.relativeError(swift[0], expected.data, width: width), 1e-5, "executor against Swift")
    }

    /// Indices used without the pooled values: the export still writes them with one op.
    func testIndicesAloneExport() throws {
        final class Indices: Module {
            var isTraining = false
            func forward(_ x: Tensor) -> Tensor {
                let (_, i) = maxPool2dWithIndices(x, kernelSize: 3, stride: 2, padding: 1)
                return maxUnpool2d(avgPool2d(x, kernelSize: 3, stride: 2, padding: 1), indices: i, outputSize: [5, 5])
            }
            var description: String { "Indices" }
        }
        let model = Indices()
        let x = Tensor.randn([2, 3, 5, 5], generator: Generator(seed: 9))
        let expected = noGrad { model.forward(x) }
        let bundle = try BundleExporter.export(model, inputs: [("x", [3, 5, 5])]) { [model.forward($0[0])] }
        XCTAssertEqual(bundle.ops.filter { $0.code == .maxPool2d }.count, 1)
        XCTAssertEqual(BundleExecutor(bundle).run(x.data, batch: 2), expected.data)
    }

    /// The runtime's conv2d on hand-picked geometries (stride, asymmetric padding, dilation,
    /// groups, depthwise with a multiplier, pointwise, 1 × k) against the naive seven-loop
    /// reference, in C and in Swift.
    func testConv2dGeometriesMatchTheNaiveReference() throws {
        let library = try requireRuntime()
        struct Case { var c, h, w, o, kh, kw, sh, sw: Int; var pads: [Int]; var dh, dw, groups: Int }
        let cases = [
            Case(c: 3, h: 9, w: 8, o: 5, kh: 3, kw: 3, sh: 1, sw: 1, pads: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1),
            Case(c: 4, h: 11, w: 7, o: 6, kh: 3, kw: 2, sh: 2, sw: 3, pads: [2, 0, 1, 1], dh: 2, dw: 1, groups: 2),
            Case(c: 6, h: 8, w: 8, o: 12, kh: 3, kw: 3, sh: 2, sw: 2, pads: [1, 1, 1, 1], dh: 1, dw: 1, groups: 6),
            Case(c: 5, h: 7, w: 9, o: 5, kh: 5, kw: 3, sh: 1, sw: 1, pads: [2, 1, 2, 1], dh: 1, dw: 2, groups: 5),
            Case(c: 8, h: 6, w: 5, o: 16, kh: 1, kw: 1, sh: 1, sw: 1, pads: [0, 0, 0, 0], dh: 1, dw: 1, groups: 1),
            Case(c: 8, h: 6, w: 5, o: 4, kh: 1, kw: 1, sh: 2, sw: 1, pads: [0, 0, 0, 0], dh: 1, dw: 1, groups: 4),
            Case(c: 2, h: 1, w: 20, o: 3, kh: 1, kw: 5, sh: 1, sw: 2, pads: [0, 3, 0, 4], dh: 1, dw: 1, groups: 1),
        ]
        let n = 2
        for (k, t) in cases.enumerated() {
            let g = Generator(seed: UInt64(40 + k))
            let geometry = ConvGeometry(batch: n, inChannels: t.c, height: t.h, width: t.w, outChannels: t.o, kernelH: t.kh, kernelW: t.kw,
                                        strideH: t.sh, strideW: t.sw, padTop: t.pads[0], padLeft: t.pads[1], padBottom: t.pads[2],
                                        padRight: t.pads[3], dilationH: t.dh, dilationW: t.dw, groups: t.groups)
            let x = Tensor.randn([n, t.c, t.h, t.w], generator: g)
            let w = Tensor.randn([t.o, t.c / t.groups, t.kh, t.kw], generator: g), b = Tensor.randn([t.o], generator: g)
            var reference = [Float](repeating: 0, count: n * t.o * geometry.outHeight * geometry.outWidth)
            conv2dReference(geometry, x: x.data, weight: w.data, bias: b.data, y: &reference)
            for relu in [false, true] {
                let bundle = ModelBundle(precision: .f32,
                                         tensors: [.init(name: "w", floats: w.data, shape: w.shape), .init(name: "b", floats: b.data, shape: [t.o])],
                                         values: [.init(name: "x", dtype: .f32, shape: [t.c, t.h, t.w]),
                                                  .init(name: "y", dtype: .f32, shape: [t.o, geometry.outHeight, geometry.outWidth])],
                                         inputs: [0], outputs: [1],
                                         ops: [.init(.conv2d, inputs: [0], outputs: [1], tensors: [0, 1],
                                                     attributes: [(.stride, .ints([Int64(t.sh), Int64(t.sw)])), (.padding, .ints(t.pads.map { Int64($0) })),
                                                                  (.dilation, .ints([Int64(t.dh), Int64(t.dw)])), (.groups, .int(Int64(t.groups))),
                                                                  (.activation, .int(relu ? 1 : 0))])])
                let expected = relu ? reference.map { Swift.max($0, 0) } : reference
                let c = try Self.runC(library, bundle, [x.data], n: n)[0]
                let width = expected.count / n
                XCTAssertLessThanOrEqual(Self.relativeError(c, expected, width: width), 1e-5, "case \(k) relu \(relu): C")
                XCTAssertLessThanOrEqual(Self.relativeError(BundleExecutor(bundle).run(x.data, batch: n), expected, width: width), 1e-5,
                                         "case \(k) relu \(relu): Swift executor")
            }
        }
    }

    /// The runtime's conv_transpose2d against the naive scatter reference.
    func testConvTranspose2dMatchesTheNaiveReference() throws {
        let library = try requireRuntime()
        let n = 2, c = 4, h = 5, w = 6, o = 6, groups = 2, kh = 3, kw = 2
        let (sh, sw, pt, pl, pb, pr, oph, opw, dh, dw) = (2, 3, 1, 0, 2, 1, 1, 2, 2, 1)
        let oh = (h - 1) * sh - pt - pb + dh * (kh - 1) + oph + 1, ow = (w - 1) * sw - pl - pr + dw * (kw - 1) + opw + 1
        let geometry = ConvGeometry(batch: n, inChannels: o, height: oh, width: ow, outChannels: c, kernelH: kh, kernelW: kw,
                                    strideH: sh, strideW: sw, padTop: pt, padLeft: pl, padBottom: pb - oph, padRight: pr - opw,
                                    dilationH: dh, dilationW: dw, groups: groups)
        XCTAssertEqual([geometry.outHeight, geometry.outWidth], [h, w])
        let g = Generator(seed: 50)
        let x = Tensor.randn([n, c, h, w], generator: g), weight = Tensor.randn([c, o / groups, kh, kw], generator: g)
        let b = Tensor.randn([o], generator: g)
        var expected = [Float](repeating: 0, count: n * o * oh * ow)
        convTranspose2dReference(geometry, t: x.data, weight: weight.data, bias: b.data, z: &expected)
        let bundle = ModelBundle(precision: .f32,
                                 tensors: [.init(name: "w", floats: weight.data, shape: weight.shape), .init(name: "b", floats: b.data, shape: [o])],
                                 values: [.init(name: "x", dtype: .f32, shape: [c, h, w]), .init(name: "y", dtype: .f32, shape: [o, oh, ow])],
                                 inputs: [0], outputs: [1],
                                 ops: [.init(.convTranspose2d, inputs: [0], outputs: [1], tensors: [0, 1],
                                             attributes: [(.stride, .ints([Int64(sh), Int64(sw)])), (.padding, .ints([Int64(pt), Int64(pl), Int64(pb), Int64(pr)])),
                                                          (.outputPadding, .ints([Int64(oph), Int64(opw)])), (.dilation, .ints([Int64(dh), Int64(dw)])),
                                                          (.groups, .int(Int64(groups)))])])
        let out = try Self.runC(library, bundle, [x.data], n: n)[0]
        XCTAssertLessThanOrEqual(Self.relativeError(out, expected, width: expected.count / n), 1e-5)
    }

    /// BatchNorm2d after conv2d is folded into it, then the ReLU fused: one conv2d op with
    /// activation relu whose output equals the unfused chain's.
    func testPassesFoldBatchNormAndReluIntoConv2d() throws {
        let g = Generator(seed: 60)
        let model = Sequential([Conv2d(3, 5, kernelSize: 3, padding: 1, generator: g), BatchNorm2d(5), ReLU(),
                                Conv2d(5, 4, kernelSize: 1, bias: false, generator: g), BatchNorm2d(4)])
        Self.randomizeBatchNorms(model, seed: 61)
        model.eval()
        let x = Tensor.randn([2, 3, 6, 6], generator: g)
        var graph = try TracedGraph(tracing: model, example: x)
        XCTAssertEqual(graph.foldBatchNorm(), 2)
        XCTAssertEqual(graph.fuseActivations(), 1)
        XCTAssertEqual(graph.nodes.map(\.op), ["conv2d", "conv2d"])
        XCTAssertEqual(graph.nodes[0].attributes["activation"], .int(1))
        var options = BundleExporter.Options()
        options.inputShape = [3, 6, 6]
        let bundle = try BundleExporter.export(model, options: options)
        XCTAssertEqual(bundle.ops.map(\.code), [.conv2d, .conv2d])
        let expected = noGrad { model(x) }.data
        XCTAssertLessThanOrEqual(Self.relativeError(BundleExecutor(bundle).run(x.data, batch: 2), expected, width: expected.count / 2), 1e-5)
    }

    /// A ReLU after a transposed convolution is fused into it too (BatchNorm is not folded into
    /// one: its output channels are the weight's second dimension); C equals the Swift model.
    func testReluFusesIntoConvTranspose2d() throws {
        let library = try requireRuntime()
        let g = Generator(seed: 62)
        let model = Sequential([ConvTranspose2d(3, 4, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1, generator: g), ReLU(),
                                ConvTranspose2d(4, 2, kernelSize: 2, stride: 2, generator: g), BatchNorm2d(2)])
        Self.randomizeBatchNorms(model, seed: 63)
        model.eval()
        var options = BundleExporter.Options()
        options.inputShape = [3, 4, 5]
        let bundle = try BundleExporter.export(model, options: options)
        XCTAssertEqual(bundle.ops.map(\.code), [.convTranspose2d, .convTranspose2d, .scaleShift])
        XCTAssertTrue(bundle.ops[0].attributes.contains { $0.key == BundleAttribute.activation.rawValue && $0.value == .int(1) })
        let x = Tensor.randn([2, 3, 4, 5], generator: g)
        let expected = noGrad { model(x) }.data
        XCTAssertLessThanOrEqual(Self.relativeError(try Self.runC(library, bundle, [x.data], n: 2)[0], expected, width: expected.count / 2), 1e-5)
    }

    /// Arena planned for each preset against the sum of its values, and the bundle sizes
    /// (printed for the README; the planner must reuse memory on every preset).
    func testPresetArenasReuseMemory() throws {
        let batch = 64
        for name in ModelZoo.names {
            let model = ModelZoo.make(name, generator: Generator(seed: 1))
            model.eval()
            var options = BundleExporter.Options()
            options.inputShape = [1, 28, 28]
            options.selfTestCount = 0
            let f32 = try BundleExporter.export(model, options: options)
            options.precision = .f16
            let f16 = try BundleExporter.export(model, options: options)
            let layout = try BundleExecutor(f32).arenaLayout(maxBatch: batch)
            let io = Set(f32.inputs + f32.outputs)
            let sum = f32.values.indices.filter { !io.contains($0) }.reduce(0) { $0 + f32.values[$1].count * 4 * batch }
            print("arena \(name): values \(layout.values / 1024) KiB planned of \(sum / 1024) KiB, scratch \(layout.scratch / 1024) KiB (batch \(batch)); bundle f32 \(f32.encode().count) B, f16 \(f16.encode().count) B")
            XCTAssertLessThan(layout.values, sum, name)
        }
    }
}

/// A large batch runs through the graph in chunks that fit the cache (Executor.swift); every
/// op works sample by sample, so the outputs equal those of one sample at a time, exactly.
final class ChunkedRunTests: XCTestCase {
    func testChunkedBatchEqualsSampleBySample() throws {
        let model = ModelZoo.make("cnn", generator: Generator(seed: 70))
        model.eval()
        var options = BundleExporter.Options()
        options.inputShape = [1, 28, 28]
        let bundle = try BundleExporter.export(model, options: options)
        let bytes = bundle.encode()
        var loaded = try bytes.withUnsafeBytes { (raw) throws(BundleStatus) in try LoadedBundle.load(raw.baseAddress!, count: raw.count) }
        defer { loaded.release() }
        var context = try InferenceContext.create(loaded.model, maxBatch: 64)
        defer { context.release() }
        XCTAssertGreaterThan(context.chunk, 1)
        XCTAssertLessThan(context.chunk, 64, "a CNN's feature maps of 64 samples do not fit the chunk budget")
        var unchunked = try InferenceContext.create(loaded.model, maxBatch: 64, reuse: false)
        defer { unchunked.release() }
        XCTAssertEqual(unchunked.chunk, 64, "values stay readable when not reused")
        let n = 37
        let x = Tensor.uniform([n, 784], generator: Generator(seed: 71)).data
        var whole = [Float](repeating: .nan, count: n * 10), single = whole
        func run(_ c: inout InferenceContext, _ start: Int, _ count: Int, into y: inout [Float]) {
            x.withUnsafeBytes { xp in
                y.withUnsafeMutableBytes { yp in
                    var ins: [UnsafeRawPointer?] = [xp.baseAddress! + start * 784 * 4]
                    var outs: [UnsafeMutableRawPointer?] = [yp.baseAddress! + start * 40]
                    ins.withUnsafeMutableBufferPointer { i in
                        outs.withUnsafeMutableBufferPointer { o in
                            c.run(loaded.model, batch: count, inputs: UnsafePointer(i.baseAddress!), outputs: UnsafePointer(o.baseAddress!))
                        }
                    }
                }
            }
        }
        run(&context, 0, n, into: &whole)
        for s in 0..<n { run(&context, s, 1, into: &single) }
        XCTAssertEqual(whole, single)
        XCTAssertFalse(whole.contains { $0.isNaN })
        XCTAssertLessThanOrEqual(ConvRuntimeTests.relativeError(whole, noGrad { model(Tensor(shape: [n, 784], data: x)) }.data, width: 10), 1e-4)
    }
}
