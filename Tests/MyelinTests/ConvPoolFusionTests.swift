import XCTest
@testable import Myelin
@testable import MyelinShared

/// A conv2d whose output only a 2×2, stride-2 max_pool2d reads runs fused with it
/// (`LoadedBundle.fuseConvPools`, `convForwardPacked`'s `pooled`, `convPooledLanes`): the pooled
/// output equals the unfused conv then pool exactly (max is exact), in the kernel on NaN-filled
/// scratch, with and without bias and rectifier, in the Swift executor and in C, for stems and
/// deeper convolutions, odd sizes (floor pooling drops the last row and column); the plan gives
/// the conv's output no memory; other graphs stay unfused; malformed bundles keep their status.
final class ConvPoolFusionTests: XCTestCase {
    struct Case { var c, h, w, o, k, pad, groups: Int }
    /// Stems (the anchor CNN's; padded with two lane blocks; a 5 × 5 kernel), the anchor CNN's
    /// conv2, and more lane-block geometries: padded, odd sizes, pooled rows of 3, 4 and 8 (the
    /// last windows overlapping), three blocks, a 5 × 5 and a 1 × 1 kernel.
    static let cases = [
        Case(c: 1, h: 28, w: 28, o: 32, k: 3, pad: 0, groups: 1),
        Case(c: 1, h: 13, w: 21, o: 64, k: 3, pad: 1, groups: 1),
        Case(c: 1, h: 18, w: 40, o: 32, k: 5, pad: 2, groups: 1),
        Case(c: 32, h: 13, w: 13, o: 64, k: 3, pad: 0, groups: 1),
        Case(c: 3, h: 12, w: 17, o: 32, k: 3, pad: 1, groups: 1),
        Case(c: 4, h: 9, w: 10, o: 96, k: 3, pad: 0, groups: 1),
        Case(c: 8, h: 11, w: 14, o: 32, k: 5, pad: 2, groups: 1),
        Case(c: 16, h: 7, w: 16, o: 64, k: 1, pad: 0, groups: 1),
        Case(c: 2, h: 8, w: 8, o: 32, k: 3, pad: 1, groups: 1),
    ]
    /// Not fused (conv, then pool): output channels not whole 32-channel blocks (a stem of 12, 5 → 12),
    /// groups, a patch of two depth blocks (360 rows).
    static let unfusedCases = [
        Case(c: 1, h: 13, w: 21, o: 12, k: 3, pad: 0, groups: 1),
        Case(c: 5, h: 11, w: 11, o: 12, k: 3, pad: 1, groups: 1),
        Case(c: 6, h: 10, w: 12, o: 32, k: 3, pad: 1, groups: 2),
        Case(c: 40, h: 10, w: 12, o: 32, k: 3, pad: 1, groups: 1),
    ]

    static func geometry(_ t: Case) -> ConvGeometry {
        ConvGeometry(batch: 1, inChannels: t.c, height: t.h, width: t.w, outChannels: t.o, kernelH: t.k, kernelW: t.k,
                     padTop: t.pad, padLeft: t.pad, padBottom: t.pad, padRight: t.pad, groups: t.groups)
    }

    /// The kernel: `convForwardPacked` with `pooled` equals it without, then `maxPool2dForward`,
    /// bit for bit, on scratch and pooled output filled with NaN (a NaN input propagates alike).
    func testPooledConvolutionEqualsConvolutionThenPool() {
        for (k, t) in Self.cases.enumerated() {
            let g = Self.geometry(t)
            XCTAssertTrue(convPoolsOutput(g), "case \(k) fuses")
            let gen = Generator(seed: UInt64(80 + k))
            var x = Tensor.randn([t.c, t.h, t.w], generator: gen).data
            x[x.count / 3] = .nan
            let w = Tensor.randn([t.o, t.c / t.groups, t.k, t.k], generator: gen).data, b = Tensor.randn([t.o], generator: gen).data
            let packed = UnsafeMutablePointer<Float>.allocate(capacity: convPackedWeightsCount(g))
            defer { packed.deallocate() }
            w.withUnsafeBytes { convPackWeights(g, weights: $0.baseAddress!, f16: false, into: packed) }
            let scratchCount = convPackedScratchCount(g) + convPoolScratchCount(g)
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            defer { scratch.deallocate() }
            let biases = UnsafeMutablePointer<Float>.allocate(capacity: t.o)
            defer { biases.deallocate() }
            biases.initialize(from: b, count: t.o)
            let ph = g.outHeight / 2, pw = g.outWidth / 2
            let pool = ConvGeometry(batch: 1, inChannels: t.o, height: g.outHeight, width: g.outWidth, outChannels: t.o,
                                    kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, groups: t.o)
            for (relu, withBias) in [(false, true), (true, true), (false, false), (true, false)] {
                let bias: UnsafePointer<Float>? = withBias ? UnsafePointer(biases) : nil
                var y = [Float](repeating: .nan, count: t.o * g.outHeight * g.outWidth)
                var expected = [Float](repeating: .nan, count: t.o * ph * pw), fused = expected
                scratch.initialize(repeating: .nan, count: scratchCount)
                convForwardPacked(g, x: x, packed: packed, bias: bias, relu: relu, y: &y, scratch: scratch)
                maxPool2dForward(pool, planes: t.o, x: y, values: &expected, indices: nil)
                scratch.initialize(repeating: .nan, count: scratchCount)
                y = [Float](repeating: 7, count: y.count)
                convForwardPacked(g, x: x, packed: packed, bias: bias, relu: relu, y: &y, scratch: scratch, pooled: &fused)
                XCTAssertEqual(fused.map(\.bitPattern), expected.map(\.bitPattern), "case \(k) relu \(relu) bias \(withBias)")
                XCTAssertTrue(y.allSatisfy { $0 == 7 }, "case \(k): y is not written")
                XCTAssertTrue(expected.contains { $0.isNaN } && expected.contains { !$0.isNaN }, "case \(k): the NaN reaches the output")
            }
        }
    }

    /// conv2d (+ReLU) → max_pool2d 2×2/2 as a bundle.
    static func bundle(_ t: Case, relu: Bool, seed: UInt64, poolKernel: Int = 2, indices: Bool = false,
                       convIsOutput: Bool = false) -> ModelBundle {
        let g = geometry(t), gen = Generator(seed: seed)
        let w = Tensor.randn([t.o, t.c / t.groups, t.k, t.k], generator: gen), b = Tensor.randn([t.o], generator: gen)
        let ph = (g.outHeight - poolKernel) / 2 + 1, pw = (g.outWidth - poolKernel) / 2 + 1
        var values: [ModelBundle.Value] = [.init(name: "x", dtype: .f32, shape: [t.c, t.h, t.w]),
                                           .init(name: "c", dtype: .f32, shape: [t.o, g.outHeight, g.outWidth]),
                                           .init(name: "p", dtype: .f32, shape: [t.o, ph, pw])]
        if indices { values.append(.init(name: "i", dtype: .i32, shape: [t.o, ph, pw])) }
        let k = Int64(poolKernel), pads = Int64(t.pad)
        return ModelBundle(precision: .f32,
                           tensors: [.init(name: "w", floats: w.data, shape: w.shape), .init(name: "b", floats: b.data, shape: [t.o])],
                           values: values, inputs: [0], outputs: convIsOutput ? [2, 1] : indices ? [2, 3] : [2],
                           ops: [.init(.conv2d, inputs: [0], outputs: [1], tensors: [0, 1],
                                       attributes: [(.stride, .ints([1, 1])), (.padding, .ints([pads, pads, pads, pads])),
                                                    (.dilation, .ints([1, 1])), (.groups, .int(Int64(t.groups))),
                                                    (.activation, .int(relu ? 1 : 0))]),
                                 .init(.maxPool2d, inputs: [1], outputs: indices ? [2, 3] : [2], tensors: [],
                                       attributes: [(.kernel, .ints([k, k])), (.stride, .ints([2, 2])), (.padding, .ints([0, 0, 0, 0])),
                                                    (.dilation, .ints([1, 1]))])])
    }

    static func load(_ b: ModelBundle) throws -> LoadedBundle {
        try b.encode().withUnsafeBytes { (raw) throws(BundleStatus) in try LoadedBundle.load(raw.baseAddress!, count: raw.count) }
    }

    /// Load fuses the pair: the conv writes the pool's output, the pool is skipped, the plan
    /// places no conv output; a run (batch 3, arena filled with NaN) equals the unfused run of
    /// the Swift executor (values kept: unfused) and C exactly.
    func testFusedGraphEqualsUnfusedInSwiftAndC() throws {
        let library = try requireRuntime()
        let n = 3
        for (k, t) in Self.cases.enumerated() {
            for relu in [false, true] {
                let b = Self.bundle(t, relu: relu, seed: UInt64(90 + k))
                var loaded = try Self.load(b)
                defer { loaded.release() }
                let ops = loaded.model.graph.ops!
                XCTAssertEqual(ops[0].params.pooledInto, 2, "case \(k): conv2d writes the pool's output")
                XCTAssertTrue(ops[1].params.pooledByConv, "case \(k)")
                var context = try InferenceContext.create(loaded.model, maxBatch: n)
                defer { context.release() }
                XCTAssertEqual(context.plan.offsets![1], -1, "case \(k): no memory for the conv's output")
                memset(context.arena!, 0xff, context.plan.arenaBytes)   // NaN everywhere
                let x = Tensor.randn([n, t.c, t.h, t.w], generator: Generator(seed: UInt64(100 + k))).data
                let count = n * b.values[2].count
                var fused = [Float](repeating: .nan, count: count)
                context.run(loaded.model, batch: n, input: x, output: &fused)
                var unfused: [Float] = []
                _ = BundleExecutor(b).run([.f32(x)], batch: n, observe: { id, contents in if id == 2 { unfused = contents.floats } })
                XCTAssertEqual(unfused.count, count)
                XCTAssertEqual(fused.map(\.bitPattern), unfused.map(\.bitPattern), "case \(k) relu \(relu): fused = unfused")
                XCTAssertFalse(fused.contains { $0.isNaN }, "case \(k)")
                XCTAssertEqual(BundleExecutor(b).run(x, batch: n).map(\.bitPattern), fused.map(\.bitPattern), "case \(k): Swift executor")
                XCTAssertEqual(try ConvRuntimeTests.runC(library, b, [x], n: n)[0].map(\.bitPattern), fused.map(\.bitPattern), "case \(k): C")
            }
        }
    }

    /// Not fused: a 3×3 pool, a pool with indices, a conv output that is also a graph output,
    /// a stride-2 conv (im2col), the `unfusedCases`; each still computes what the model says.
    func testOtherPairsStayUnfused() throws {
        let t = Self.cases[4]
        var strided = Self.bundle(t, relu: true, seed: 120)
        strided.ops[0].attributes[0] = (BundleAttribute.stride.rawValue, .ints([2, 2]))
        let g = Self.geometry(t)
        strided.values[1].shape = [t.o, (g.outHeight - 1) / 2 + 1, (g.outWidth - 1) / 2 + 1]
        strided.values[2].shape = [t.o, strided.values[1].shape[1] / 2, strided.values[1].shape[2] / 2]
        let bundles = [Self.bundle(t, relu: true, seed: 121, poolKernel: 3), Self.bundle(t, relu: true, seed: 122, indices: true),
                       Self.bundle(t, relu: true, seed: 123, convIsOutput: true), strided]
            + Self.unfusedCases.enumerated().map { Self.bundle($1, relu: true, seed: 125 + UInt64($0)) }
        for (k, b) in bundles.enumerated() {
            var loaded = try Self.load(b)
            defer { loaded.release() }
            XCTAssertEqual(loaded.model.graph.ops![0].params.pooledInto, -1, "bundle \(k)")
            XCTAssertFalse(loaded.model.graph.ops![1].params.pooledByConv, "bundle \(k)")
            let input = b.values[0].shape
            let x = Tensor.randn([2] + input, generator: Generator(seed: 124)).data
            var unfused: [Float] = []
            _ = BundleExecutor(b).run([.f32(x)], batch: 2, observe: { id, contents in if id == 2 { unfused = contents.floats } })
            XCTAssertEqual(BundleExecutor(b).run(x, batch: 2), unfused, "bundle \(k)")
        }
    }

    /// A malformed pair keeps its status (the checks run before fusion): a pooled output of the
    /// wrong size, a pool with padding beyond half its window.
    func testMalformedPairsGetTheirStatus() throws {
        let library = try requireRuntime()
        var b = Self.bundle(Self.cases[1], relu: true, seed: 130)
        b.values[2].shape[2] += 1
        XCTAssertEqual(library.loadStatus(b.encode()), BundleStatus.shapeMismatch.rawValue)
        XCTAssertThrowsError(try Self.load(b)) { XCTAssertEqual($0 as? BundleStatus, .shapeMismatch) }
        b = Self.bundle(Self.cases[1], relu: true, seed: 130)
        b.ops[1].attributes[2] = (BundleAttribute.padding.rawValue, .ints([2, 0, 0, 0]))
        XCTAssertEqual(library.loadStatus(b.encode()), BundleStatus.corrupt.rawValue)
        XCTAssertThrowsError(try Self.load(b)) { XCTAssertEqual($0 as? BundleStatus, .corrupt) }
    }

    /// A stream re-derives every op's params for its step count (`InferenceContext.stepGraph`),
    /// which must fuse the pair again: the plan gave the conv's output no memory. An image
    /// encoded by conv2d (32 channels, lane blocks) → 2×2 max pool → reshape → linear into an
    /// LSTM's initial state (the stream's context, run at the first step only) beside a
    /// sequence: steps of 1 and of 2 + 1 from C and Swift equal the whole sequence.
    func testStreamedGraphFusesItsContextConvolutionAgain() throws {
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
        let t = 3, inSize = 4, hidden = 16, batch = 2, gen = Generator(seed: 140)
        let conv = Case(c: 2, h: 4, w: 8, o: 32, k: 3, pad: 1, groups: 1), pooled = 32 * 2 * 4
        XCTAssertTrue(convPoolsOutput(Self.geometry(conv)))
        func tensor(_ name: String, _ shape: [Int]) -> ModelBundle.TensorEntry {
            .init(name: name, floats: Tensor.randn(shape, generator: gen).data.map { $0 * 0.3 }, shape: shape)
        }
        let tensors = [tensor("w", [32, 2, 3, 3]), tensor("b", [32]), tensor("encode", [hidden, pooled]), tensor("ih", [4 * hidden, inSize]),
                       tensor("hh", [4 * hidden, hidden]), tensor("bih", [4 * hidden]), tensor("bhh", [4 * hidden])]
        let values: [ModelBundle.Value] = [.init(name: "x", dtype: .f32, shape: [t, inSize]), .init(name: "image", dtype: .f32, shape: [2, 4, 8]),
                                           .init(name: "c", dtype: .f32, shape: [32, 4, 8]), .init(name: "p", dtype: .f32, shape: [32, 2, 4]),
                                           .init(name: "flat", dtype: .f32, shape: [1, pooled]), .init(name: "h0", dtype: .f32, shape: [1, hidden]),
                                           .init(name: "y", dtype: .f32, shape: [t, hidden])]
        let bundle = ModelBundle(
            precision: .f32, tensors: tensors, values: values, inputs: [0, 1], outputs: [6],
            ops: [.init(.conv2d, inputs: [1], outputs: [2], tensors: [0, 1],
                        attributes: [(.stride, .ints([1, 1])), (.padding, .ints([1, 1, 1, 1])), (.dilation, .ints([1, 1])),
                                     (.groups, .int(1)), (.activation, .int(1))]),
                  .init(.maxPool2d, inputs: [2], outputs: [3], tensors: [],
                        attributes: [(.kernel, .ints([2, 2])), (.stride, .ints([2, 2])), (.padding, .ints([0, 0, 0, 0])),
                                     (.dilation, .ints([1, 1]))]),
                  .init(.reshape, inputs: [3], outputs: [4], tensors: [], attributes: [(.shape, .ints([1, Int64(pooled)]))]),
                  .init(.linear, inputs: [4], outputs: [5], tensors: [2]),
                  .init(.lstm, inputs: [0, 5, 5], outputs: [6], tensors: [3, 4, 5, 6])])
        var loaded = try Self.load(bundle)
        defer { loaded.release() }
        XCTAssertEqual(loaded.model.graph.ops![0].params.pooledInto, 3, "conv2d writes the pool's output")

        let x = Tensor.randn([batch, t, inSize], generator: gen), image = Tensor.randn([batch, 2, 4, 8], generator: gen)
        let runtime = try StreamingRuntime.Model(library, bytes: bundle.encode(), maxBatch: batch)
        let info = runtime.streamInfo()
        XCTAssertEqual(info.status, 0, "streamable: the image is the stream's context")
        XCTAssertEqual(info.maxSteps, t)
        let whole = try runtime.run([x.data, image.data], batch: batch, outputCount: t * hidden)
        let unfused = BundleExecutor(bundle).run([x.data, image.data], batch: batch)[0]
        assertClose(whole, unfused, atol: 1e-5, rtol: 1e-5, "whole sequence from C against the Swift executor")
        let wholeRows = Tensor(shape: [batch, t, hidden], data: whole)
        let swiftStream = try BundleExecutor(validating: bundle, reference: false).stream(maxBatch: batch)
        for chunks in [[1, 1, 1], [2, 1]] {
            XCTAssertEqual(runtime.reset(), 0)
            swiftStream.reset()
            var at = 0
            for k in chunks {
                let rows = x.narrow(axis: 1, start: at, length: k).data
                // After the first step the image is not read: another one changes nothing.
                let picture = at == 0 ? image.data : [Float](repeating: 9, count: image.count)
                let fromC = try runtime.step([rows, picture], batch: batch, steps: k, outputCount: k * hidden)
                let fromSwift = try swiftStream.step([rows, picture], batch: batch, steps: k)[0]
                XCTAssertEqual(fromC, wholeRows.narrow(axis: 1, start: at, length: k).data, "C, steps \(at)..<\(at + k) of \(chunks)")
                XCTAssertEqual(fromSwift, fromC, "Swift, steps \(at)..<\(at + k) of \(chunks)")
                at += k
            }
        }
    }
}
