import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// The fuzzers' seed corpus (fuzz/corpus/bundle): one small real bundle per op family, each
/// with metadata and self-test vectors, so mutations start from files that load and run.
/// The libFuzzer harness (fuzz/bundle_fuzzer.c) and the sweep (fuzz/bundle_sweep.c: every
/// truncation and byte flip) read them.
///
/// `MYELIN_UPDATE_FUZZ_CORPUS=1 swift test --filter FuzzCorpusTests` rewrites them; without
/// it the test checks that the committed files still decode to what this code builds. A new
/// op family adds its bundle to `bundles()` (one entry) and regenerates.
final class FuzzCorpusTests: XCTestCase {
    typealias Op = ModelBundle.Op
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../fuzz/corpus").standardized.path
    static let directory = corpus + "/bundle"
    static var updating: Bool { ProcessInfo.processInfo.environment["MYELIN_UPDATE_FUZZ_CORPUS"] == "1" }

    static func f32(_ name: String, _ shape: [Int]) -> ModelBundle.Value { .init(name: name, dtype: .f32, shape: shape) }
    static let random = GraphRuntimeTests.random

    /// Self-test (3 samples, computed by the Swift executor) and metadata added.
    static func finished(_ bundle: ModelBundle, family: String, seed: UInt64) -> ModelBundle {
        var b = bundle
        // Token ids and pooling indices (i32 inputs) cycle through 0 … 4, valid for every corpus model.
        let inputs = b.inputs.enumerated().map { i, v -> [Float] in
            b.values[v].dtype == BundleDType.i32.rawValue ? (0..<(3 * b.values[v].count)).map { Float($0 % 5) }
                : random(3 * b.values[v].count, UInt64(seed) + UInt64(i), 2)
        }
        let y = BundleExecutor(b).run(inputs, batch: 3)
        b.selfTest = .init(inputs: inputs, expected: y, count: 3, rtol: 1e-5, atol: 1e-6)
        b.metadata = [("family", family), ("fuzz.seed", "\(seed)")]
        return b
    }

    /// Name → bundle, one per op family.
    static func bundles() -> [(String, ModelBundle)] {
        var out: [(String, ModelBundle)] = []
        func add(_ family: String, _ b: ModelBundle) { out.append(("\(family).myelin", finished(b, family: family, seed: UInt64(out.count * 10 + 1)))) }

        // linear: f32 (stored packed) with bias and relu, then f16 (widened at load) without bias.
        var values = [f32("x", [2, 5]), f32("h", [2, 6]), f32("y", [2, 3])]
        var b = GraphRuntimeTests.graph(values, inputs: [0], outputs: [2], ops: [
            Op(.linear, inputs: [0], outputs: [1], tensors: [0, 1], attributes: [(.activation, .int(1))]),
            Op(.linear, inputs: [1], outputs: [2], tensors: [2]),
        ], tensors: [
            .init(name: "w1", floats: random(30, 31, 1), shape: [6, 5]), .init(name: "b1", floats: random(6, 32, 1), shape: [6]),
            .init(name: "w2", dtype: .f16, shape: [3, 6], data: random(18, 33, 1).flatMap { f -> [UInt8] in
                let h = floatToHalfBits(f)
                return [UInt8(h & 0xFF), UInt8(h >> 8)]
            }),
        ])
        add("linear", b)

        // qlinear: quantize, qlinear to u8 with relu, qlinear to f32 on the same weight, dequantize, add.
        let k = 6, n = 4
        values = [f32("x", [k]), .init(name: "q", dtype: .u8, shape: [k], scale: 0.02, zeroPoint: 100),
                  .init(name: "yq", dtype: .u8, shape: [n], scale: 0.05, zeroPoint: 30), f32("a", [n]), f32("b", [n]), f32("y", [n])]
        b = GraphRuntimeTests.graph(values, inputs: [0], outputs: [5], ops: [
            Op(.quantize, inputs: [0], outputs: [1]),
            Op(.qlinear, inputs: [1], outputs: [2], tensors: [0, 1, 2], attributes: [(.activation, .int(1))]),
            Op(.dequantize, inputs: [2], outputs: [3]),
            Op(.qlinear, inputs: [1], outputs: [4], tensors: [0, 1, 2]),
            Op(.add, inputs: [3, 4], outputs: [5]),
        ], tensors: [
            .init(name: "w", dtype: .i8, shape: [n, k], data: (0..<(n * k)).map { UInt8(bitPattern: Int8(($0 * 37) % 255 - 127)) }),
            .init(name: "s", floats: (0..<n).map { 0.01 + Float($0) * 0.002 }, shape: [n]),
            .init(name: "b", dtype: .i32, shape: [n], data: (0..<n).flatMap { j -> [UInt8] in
                withUnsafeBytes(of: Int32(j * 100 - 200).littleEndian) { Array($0) }
            }),
        ])
        b.precision = .int8
        add("qlinear", b)

        // activations: every elementwise one, softmax and log_softmax along an axis, scale_shift.
        values = (0..<9).map { f32("v\($0)", [3, 4]) }
        b = GraphRuntimeTests.graph(values, inputs: [0], outputs: [8], ops: [
            Op(.relu, inputs: [0], outputs: [1]),
            Op(.leakyRelu, inputs: [1], outputs: [2], attributes: [(.slope, .float(0.1))]),
            Op(.elu, inputs: [0], outputs: [3], attributes: [(.alpha, .float(1.0))]),
            Op(.sigmoid, inputs: [3], outputs: [4]),
            Op(.tanh, inputs: [4], outputs: [5]),
            Op(.softmax, inputs: [5], outputs: [6], attributes: [(.axis, .int(1))]),
            Op(.logSoftmax, inputs: [2], outputs: [7], attributes: [(.axis, .int(0))]),
            Op(.scaleShift, inputs: [7], outputs: [8], tensors: [0, 1], attributes: [(.axis, .int(0))]),
        ], tensors: [.init(name: "scale", floats: [0.5, 1, 2], shape: [3]), .init(name: "shift", floats: [0, -1, 1], shape: [3])])
        add("activations", b)

        // binary: the four ops with broadcasting and a constant operand.
        values = [f32("a", [2, 3]), f32("b", [3]), f32("s", [2, 3]), f32("d", [2, 3]), f32("m", [2, 3]), f32("q", [2, 3])]
        b = GraphRuntimeTests.graph(values, inputs: [0, 1], outputs: [5], ops: [
            Op(.add, inputs: [0, 1], outputs: [2]),
            Op(.sub, inputs: [2], outputs: [3], tensors: [0]),
            Op(.mul, inputs: [3, 0], outputs: [4]),
            Op(.div, inputs: [4], outputs: [5], tensors: [1]),
        ], tensors: [.init(name: "c", floats: [0.5, -2, 3], shape: [3]), .init(name: "d", floats: [2, 4, -8, 1, 0.5, 3], shape: [2, 3])])
        add("binary", b)

        // movement: concat, reshape, transpose, slice.
        values = [f32("a", [2, 3]), f32("b", [2, 2]), f32("c", [2, 5]), f32("r", [5, 2]), f32("t", [2, 5]), f32("s", [2, 2])]
        b = GraphRuntimeTests.graph(values, inputs: [0, 1], outputs: [5], ops: [
            Op(.concat, inputs: [0, 1], outputs: [2], attributes: [(.axis, .int(1))]),
            Op(.reshape, inputs: [2], outputs: [3], attributes: [(.shape, .ints([5, 2]))]),
            Op(.transpose, inputs: [3], outputs: [4], attributes: [(.perm, .ints([1, 0]))]),
            Op(.slice, inputs: [4], outputs: [5], attributes: [(.axis, .int(1)), (.start, .int(1)), (.end, .int(5)), (.step, .int(2))]),
        ])
        add("movement", b)

        // matmul: batched with a broadcast operand, then by a constant.
        values = [f32("a", [2, 3, 4]), f32("b", [1, 4, 5]), f32("m", [2, 3, 5]), f32("y", [2, 3, 2])]
        b = GraphRuntimeTests.graph(values, inputs: [0, 1], outputs: [3], ops: [
            Op(.matmul, inputs: [0, 1], outputs: [2]),
            Op(.matmul, inputs: [2], outputs: [3], tensors: [0]),
        ], tensors: [.init(name: "c", floats: random(10, 61, 1), shape: [5, 2])])
        add("matmul", b)

        // The DAG of GraphRuntimeTests (every family at once, two inputs and outputs).
        add("dag", GraphRuntimeTests.dagBundle())
        // Convolutional family: one valid single-op bundle per op, and the int8 qconv2d chain.
        for (name, b) in ConvMalformedTests.bases() { add("conv-" + name, b) }
        add("qconv", QConvExportTests.chain(batch: 1).0)
        // Sequence family: the character language models (LSTM; Transformer with attention,
        // layer norm, GELU, positions) of the C streaming test.
        for (name, model, seed) in [("char-lstm", SequenceRuntimeTests.CharLSTM(Generator(seed: 9)) as any Layer, UInt64(19)),
                                    ("char-transformer", SequenceRuntimeTests.CharTransformer(Generator(seed: 10)), 19)] {
            model.eval()
            add("sequence-" + name, try! SequenceRuntimeTests.export(model, SequenceRuntimeTests.tokens(seed), name: "tokens"))
        }
        // A Transformer encoder–decoder: cross-attention, key padding ids, a context input.
        let translator = Seq2SeqTransformer(vocabularySize: 11, sourceLength: 5, targetLength: 4, dim: 8, heads: 2, layers: 1,
                                            generator: Generator(seed: 11))
        add("sequence-seq2seq-transformer", try! translator.exportBundle(dateVocabulary: false))
        // An LSTM encoder–decoder: initial and final recurrent state, one-head cross-attention with score_scale.
        let lstmTranslator = Seq2SeqLSTM(vocabularySize: 11, sourceLength: 5, targetLength: 4, embedding: 4, hiddenSize: 6,
                                         generator: Generator(seed: 12))
        add("sequence-seq2seq-lstm", try! lstmTranslator.exportBundle(dateVocabulary: false))
        // u8 max pooling between quantize and dequantize.
        add("qpool", QuantizedPoolTests.chain(c: 2, h: 6, w: 18, kernel: (2, 2), stride: (2, 2), pads: [0, 0, 0, 0], dilation: (1, 1)))
        // The character LSTM exported int8: i8 recurrent weights with row scales beside qlinear.
        let int8LSTM = SequenceRuntimeTests.CharLSTM(Generator(seed: 13))
        int8LSTM.eval()
        var int8Options = BundleExporter.Options(precision: .int8)
        int8Options.calibrationInputs = [SequenceRuntimeTests.tokens(20)]
        add("sequence-char-lstm-int8", try! BundleExporter.export(int8LSTM, inputs: [("tokens", [SequenceRuntimeTests.steps])],
                                                                  options: int8Options) { [int8LSTM($0[0])] })
        return out
    }

    func testCorpusIsCurrentAndEveryBundleLoadsAndPassesItsSelfTest() throws {
        let bundles = try Self.bundles().map { ($0.0, $0.1.encode()) }
        // Every op code appears in some corpus bundle.
        var codes = Set<UInt32>()
        for (_, b) in Self.bundles() { for op in b.ops { codes.insert(op.code?.rawValue ?? 0) } }
        for code in [BundleOpCode.linear, .qlinear, .quantize, .relu, .leakyRelu, .elu, .sigmoid, .tanh, .softmax, .logSoftmax,
                     .scaleShift, .dequantize, .add, .sub, .mul, .div, .concat, .reshape, .transpose, .slice, .matmul,
                     .conv2d, .qconv2d, .convTranspose2d, .maxPool2d, .avgPool2d, .adaptiveAvgPool2d, .maxUnpool2d,
                     .upsampleNearest2d, .channelShuffle, .embedding, .lstm, .layerNorm, .gelu, .attention,
                     .positionalEncoding] {
            XCTAssertTrue(codes.contains(code.rawValue), "no corpus bundle has op \(code)")
        }
        if Self.updating {
            try FileManager.default.createDirectory(atPath: Self.directory, withIntermediateDirectories: true)
            for (name, bytes) in bundles { try Data(bytes).write(to: URL(fileURLWithPath: "\(Self.directory)/\(name)")) }
        }
        for (name, bytes) in bundles {
            let path = "\(Self.directory)/\(name)"
            guard let committed = FileManager.default.contents(atPath: path) else {
                XCTFail("missing corpus file \(path): run MYELIN_UPDATE_FUZZ_CORPUS=1 swift test --filter FuzzCorpusTests")
                continue
            }
            // Decoded contents compared (compressed bytes may differ between zlib versions).
            let old = try ModelBundle(decoding: [UInt8](committed)), fresh = try ModelBundle(decoding: bytes)
            XCTAssertEqual(old.encode(compressed: false), fresh.encode(compressed: false), "\(name) is stale")
            // The shared loader (the C runtime's) accepts it and its self-test passes.
            let executor = try BundleExecutor(validating: old)
            let test = try XCTUnwrap(old.selfTest, name)
            let y = executor.run(test.inputs, batch: test.count)
            for (got, want) in zip(y, test.expected) {
                XCTAssertEqual(got.count, want.count, name)
                for (u, v) in zip(got, want) { XCTAssertLessThanOrEqual(abs(u - v), test.atol + test.rtol * abs(v), name) }
            }
        }
    }

    /// Seeds of the reader harnesses (fuzz/ReaderFuzzer.swift): a checkpoint and a state
    /// file of a small trained MLP (Adam state included); IDX arrays plain and gzip.
    static func readerSeeds() throws -> [(String, [UInt8])] {
        let g = Generator(seed: 4)
        let model = MLPSpec(inputs: 3, hidden: [4], outputs: 2, dropout: 0).build(generator: g)
        let trainer = Trainer(model: model, optimizer: Adam(model.parameters(), lr: 0.01), batchSize: 4, generator: g)
        let data = Dataset(inputs: Tensor.uniform([8, 3], generator: Generator(seed: 5)), labels: (0..<8).map { $0 % 2 })
        try trainer.fit(data, epochs: 1)
        var checkpoint = Checkpoint(trainer: trainer, metadata: ["model": "mlp 3-4-2"])
        checkpoint.header.history = checkpoint.header.history.map { var r = $0; r.seconds = 0.25; return r }
        var files: [(String, [UInt8])] = [("checkpoint/mlp.ckpt", try checkpoint.encode()),
                                          ("checkpoint/mlp.mst", StateDictFile.encode(model.stateDict()))]
        let idx: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2] + (0..<12).map { UInt8($0 * 21) }
        files.append(("idx/images.idx", idx))
        files.append(("idx/labels.idx", [0, 0, 8, 1, 0, 0, 0, 5, 3, 1, 4, 1, 5]))
        // gzip through the system tool (what the datasets ship as).
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-n", "-c"]
        let input = Pipe(), output = Pipe()
        gzip.standardInput = input
        gzip.standardOutput = output
        try gzip.run()
        input.fileHandleForWriting.write(Data(idx))
        try input.fileHandleForWriting.close()
        let compressed = output.fileHandleForReading.readDataToEndOfFile()
        gzip.waitUntilExit()
        files.append(("idx/images.idx.gz", [UInt8](compressed)))
        return files
    }

    func testReaderSeedsExistAndParse() throws {
        if Self.updating {
            for (name, bytes) in try Self.readerSeeds() {
                let url = URL(fileURLWithPath: "\(Self.corpus)/\(name)")
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(bytes).write(to: url)
            }
        }
        let c = try Checkpoint.load(from: Self.corpus + "/checkpoint/mlp.ckpt")
        XCTAssertEqual(c.header.epoch, 1)
        XCTAssertFalse(c.optimizerState.entries.isEmpty)
        XCTAssertEqual(try StateDictFile.read(from: Self.corpus + "/checkpoint/mlp.mst").names, c.modelState.names)
        XCTAssertEqual(try IDX.read(Self.corpus + "/idx/images.idx").shape, [2, 3, 2])
        XCTAssertEqual(try IDX.read(Self.corpus + "/idx/images.idx.gz").bytes, try IDX.read(Self.corpus + "/idx/images.idx").bytes)
        XCTAssertEqual(try IDX.read(Self.corpus + "/idx/labels.idx").bytes, [3, 1, 4, 1, 5])
    }
}
