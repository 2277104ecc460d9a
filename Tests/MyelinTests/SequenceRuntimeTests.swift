import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// Sequence models in the bundle and the C runtime (issue 12): for an LSTM, a GRU and an RNN
/// classifier, a character-level LSTM language model and a decoder-only Transformer language
/// model, the Swift model over a whole sequence equals the C runtime fed the whole sequence,
/// fed step by step (state kept in the context), and fed in chunks of several steps, and the
/// Swift reference executor's stream (`BundleExecutor.Stream`) agrees (f32, 1e-5 relative).
/// Then every sequence op attribute is refused when malformed, and the streaming calls refuse
/// misuse with a status.
final class SequenceRuntimeTests: XCTestCase {
    static let steps = 6, batch = 2, vocabulary = 11

    // MARK: Models

    final class CharLSTM: Layer {
        let embed: Embedding, lstm: LSTM, head: Linear
        var isTraining = true
        init(_ g: Generator) {
            embed = Embedding(vocabulary, 6, generator: g)
            lstm = LSTM(6, 8, numLayers: 2, batchFirst: true, generator: g)
            head = Linear(8, vocabulary, generator: g)
        }
        func forward(_ x: Tensor) -> Tensor { head(lstm(embed(x)).output) }
        var description: String { "CharLSTM" }
    }

    final class CharTransformer: Layer {
        let embed: Embedding, position: LearnedPositionalEncoding, layers: [TransformerEncoderLayer], norm: LayerNorm, head: Linear
        var isTraining = true
        init(_ g: Generator) {
            embed = Embedding(vocabulary, 16, generator: g)
            position = LearnedPositionalEncoding(steps, 16, generator: g)
            layers = [TransformerEncoderLayer(16, numHeads: 2, dimFeedforward: 32, dropout: 0, activation: .gelu, batchFirst: true,
                                              normFirst: true, generator: g),
                      TransformerEncoderLayer(16, numHeads: 4, dimFeedforward: 24, dropout: 0, batchFirst: true, generator: g)]
            norm = LayerNorm(16)
            head = Linear(16, vocabulary, generator: g)
        }
        func forward(_ x: Tensor) -> Tensor {
            var h = position(embed(x))
            for layer in layers { h = layer(h, causal: true) }
            return head(norm(h))
        }
        var children: [(String, any Module)] {
            [("embed", embed), ("position", position)] + layers.enumerated().map { ("layers.\($0.offset)", $0.element as any Module) }
                + [("norm", norm), ("head", head)]
        }
        var description: String { "CharTransformer" }
    }

    static func classifier(_ encoder: any SequenceEncoder, width: Int, _ g: Generator) -> Sequential {
        Sequential(LastStep(encoder), Linear(width, 3, generator: g))
    }

    static func features(_ seed: UInt64) -> Tensor { Tensor.randn([batch, steps, 5], generator: Generator(seed: seed)) }

    static func tokens(_ seed: UInt64) -> Tensor {
        let g = Generator(seed: seed)
        return Tensor(shape: [batch, steps], data: (0..<(batch * steps)).map { _ in Float(Int(g.nextUniform() * Float(vocabulary)) % vocabulary) })
    }

    /// Exports with the tokens (or features) themselves as self-test vectors.
    static func export(_ model: any Layer, _ x: Tensor, name: String, metadata: [(key: String, value: String)] = []) throws -> ModelBundle {
        var options = BundleExporter.Options()
        options.calibrationInputs = [x]
        options.selfTestInputs = [x]
        options.metadata = metadata
        return try BundleExporter.export(model, inputs: [(name, Array(x.shape.dropFirst()))], outputNames: ["output"], options: options) {
            [model($0[0])]
        }
    }

    /// Rows `0..<t` of every sample of `x` `[B, T, …]`.
    static func prefix(_ x: Tensor, _ t: Int) -> Tensor { x.narrow(axis: 1, start: 0, length: t) }

    /// Step `t` of a `[B, T, …]` tensor's data, every sample: `[B, …]`.
    static func stepRows(_ x: Tensor, _ range: Range<Int>) -> [Float] { x.narrow(axis: 1, start: range.lowerBound, length: range.count).data }

    // MARK: Parity

    /// Whole sequence in C, then step by step, then in chunks (2, 3, 1) — each against the
    /// Swift model; the Swift stream agrees. `sequenceOutput`: the output has a time axis
    /// (a language model), else it is the classification after the steps fed so far.
    func checkParity(_ model: any Layer, _ x: Tensor, name: String, sequenceOutput: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        model.eval()
        let bundle = try Self.export(model, x, name: name)
        let whole = noGrad { model(x) }
        let perStep = x.count / (Self.batch * Self.steps)
        func expected(_ range: Range<Int>) -> [Float] {
            sequenceOutput ? Self.stepRows(whole, range) : noGrad { model(Self.prefix(x, range.upperBound)) }.data
        }

        let swiftStream = try BundleExecutor(bundle, reference: false).stream(maxBatch: Self.batch)
        XCTAssertEqual(swiftStream.limits?.maxSteps, Self.steps, file: file, line: line)
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError, file: file, line: line)
        let runtime = try StreamingRuntime.Model(library, bytes: bundle.encode(), maxBatch: Self.batch)

        let c = try runtime.run([x.data], batch: Self.batch, outputCount: whole.count / Self.batch)
        assertClose(c, whole.data, atol: 1e-5, rtol: 1e-5, "\(name): whole sequence from C", file: file, line: line)

        for chunks in [[1, 1, 1, 1, 1, 1], [2, 3, 1]] {
            var t = 0
            XCTAssertEqual(runtime.reset(), 0, file: file, line: line)
            swiftStream.reset()
            for k in chunks {
                let range = t..<(t + k)
                let input = Self.stepRows(x, range)
                let outputSize = sequenceOutput ? k * whole.count / (Self.batch * Self.steps) : whole.count / Self.batch
                let fromC = try runtime.step([input], batch: Self.batch, steps: k, outputCount: outputSize)
                let fromSwift = try swiftStream.step([input], batch: Self.batch, steps: k)[0]
                assertClose(fromC, expected(range), atol: 1e-5, rtol: 1e-5, "\(name): steps \(range) from C (chunks \(chunks))", file: file, line: line)
                XCTAssertEqual(fromSwift, fromC, "\(name): Swift stream and C stream, steps \(range)", file: file, line: line)
                t += k
                XCTAssertEqual(runtime.position, t, file: file, line: line)
            }
            XCTAssertEqual(t * perStep, x.count / Self.batch, file: file, line: line)
        }
        // A whole-sequence run leaves the stream reset.
        _ = try runtime.run([x.data], batch: Self.batch, outputCount: whole.count / Self.batch)
        XCTAssertEqual(runtime.position, 0, file: file, line: line)
    }

    func testLSTMClassifierStreamsLikeTheSwiftModel() throws {
        let g = Generator(seed: 1)
        try checkParity(Self.classifier(LSTM(5, 7, batchFirst: true, generator: g), width: 7, g), Self.features(11),
                        name: "x", sequenceOutput: false)
    }

    func testGRUClassifierStreamsLikeTheSwiftModel() throws {
        let g = Generator(seed: 2)
        try checkParity(Self.classifier(GRU(5, 7, numLayers: 2, batchFirst: true, generator: g), width: 7, g), Self.features(12),
                        name: "x", sequenceOutput: false)
    }

    func testRNNClassifierStreamsLikeTheSwiftModel() throws {
        let g = Generator(seed: 3)
        try checkParity(Self.classifier(RNN(5, 6, nonlinearity: "relu", batchFirst: true, generator: g), width: 6, g), Self.features(13),
                        name: "x", sequenceOutput: false)
        let h = Generator(seed: 4)
        try checkParity(Self.classifier(RNN(5, 6, bias: false, batchFirst: true, generator: h), width: 6, h), Self.features(14),
                        name: "x", sequenceOutput: false)
    }

    func testCharLSTMLanguageModelStreamsLikeTheSwiftModel() throws {
        try checkParity(CharLSTM(Generator(seed: 5)), Self.tokens(15), name: "tokens", sequenceOutput: true)
    }

    func testCharTransformerStreamsWithAKeyValueCache() throws {
        try checkParity(CharTransformer(Generator(seed: 6)), Self.tokens(16), name: "tokens", sequenceOutput: true)
    }

    /// A bidirectional layer runs on whole sequences (Swift == C) and refuses to stream.
    func testBidirectionalGRURunsWholeSequencesOnly() throws {
        let g = Generator(seed: 7)
        let model = Self.classifier(GRU(5, 4, batchFirst: true, bidirectional: true, generator: g), width: 8, g)
        model.eval()
        let x = Self.features(17)
        let bundle = try Self.export(model, x, name: "x")
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
        let runtime = try StreamingRuntime.Model(library, bytes: bundle.encode(), maxBatch: Self.batch)
        assertClose(try runtime.run([x.data], batch: Self.batch, outputCount: 3), noGrad { model(x) }.data, atol: 1e-5, rtol: 1e-5)
        XCTAssertThrowsError(try runtime.step([Self.stepRows(x, 0..<1)], batch: Self.batch, steps: 1, outputCount: 3)) {
            XCTAssertEqual(($0 as? BundleError)?.status, .unsupported)
        }
        XCTAssertEqual(runtime.streamInfo().status, BundleStatus.unsupported.rawValue)
    }

    // MARK: Fixtures of the C tests (Tests/RuntimeC/test_stream.c, the generate example)

    static let fixtureDirectory = RuntimeLibrary.package.appendingPathComponent("Tests/MyelinTests/Fixtures/bundles").path
    /// Token ids 0 … 10 of the fixture language models.
    static let fixtureVocabulary = "\n .abcdefgh"

    /// Two untrained language models (with their vocabulary in the metadata), two token
    /// sequences `char-lm.tokens` (i32 `[2, 6]`) and each model's logits for them (f32 `[2, 6, 11]`).
    static func fixtureFiles() throws -> [(String, [UInt8])] {
        let x = tokens(19)
        var files = [("char-lm.tokens", x.data.map { Int32($0) }.withUnsafeBytes { Array($0) })]
        let models: [(String, any Layer)] = [("char-lstm", CharLSTM(Generator(seed: 9))), ("char-transformer", CharTransformer(Generator(seed: 10)))]
        for (name, model) in models {
            model.eval()
            let bundle = try export(model, x, name: "tokens", metadata: [("vocabulary.characters", fixtureVocabulary)])
            files.append((name + ".myelin", bundle.encode()))
            files.append((name + ".expected", noGrad { model(x) }.data.withUnsafeBytes { Array($0) }))
        }
        return files
    }

    /// `MYELIN_UPDATE_FIXTURES=1 swift test --filter SequenceRuntimeTests` rewrites them.
    func testSequenceFixturesAreCurrent() throws {
        let files = try Self.fixtureFiles()
        XCTAssertEqual(Self.fixtureVocabulary.unicodeScalars.count, Self.vocabulary)
        if ProcessInfo.processInfo.environment["MYELIN_UPDATE_FIXTURES"] == "1" {
            for (name, bytes) in files { try Data(bytes).write(to: URL(fileURLWithPath: "\(Self.fixtureDirectory)/\(name)")) }
            return
        }
        for (name, bytes) in files {
            let path = "\(Self.fixtureDirectory)/\(name)"
            guard let committed = FileManager.default.contents(atPath: path) else {
                XCTFail("missing fixture \(path): run MYELIN_UPDATE_FIXTURES=1 swift test --filter SequenceRuntimeTests")
                continue
            }
            if name.hasSuffix(".myelin") {
                // Compare decoded contents: compressed bytes may differ between zlib versions.
                let old = try ModelBundle(decoding: [UInt8](committed)), fresh = try ModelBundle(decoding: bytes)
                XCTAssertTrue(old.encode(compressed: false) == fresh.encode(compressed: false), "\(name) is stale")
            } else {
                XCTAssertTrue([UInt8](committed) == bytes, "\(name) is stale")
            }
        }
    }

    /// Int8 exports (linear layers and attention projections as qlinear, the recurrent and
    /// attention cores in f32) stream exactly like their whole-sequence runs and stay within
    /// int8 rounding of the float model (RMS error ≤ 5% of the logits' RMS).
    func testInt8LanguageModelsStream() throws {
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
        for (name, model) in [("lstm", CharLSTM(Generator(seed: 27)) as any Layer), ("transformer", CharTransformer(Generator(seed: 28)))] {
            model.eval()
            let x = Self.tokens(29)
            var options = BundleExporter.Options(precision: .int8)
            options.calibrationInputs = [x]
            options.selfTestInputs = [x]
            let bundle = try BundleExporter.export(model, inputs: [("tokens", [Self.steps])], outputNames: ["output"], options: options) { [model($0[0])] }
            XCTAssertTrue(bundle.ops.contains { $0.code == .qlinear }, name)
            let runtime = try StreamingRuntime.Model(library, bytes: bundle.encode(), maxBatch: Self.batch)
            let whole = try runtime.run([x.data], batch: Self.batch, outputCount: Self.steps * Self.vocabulary)
            let float = noGrad { model(x) }.data
            var error: Float = 0, signal: Float = 0
            for (a, b) in zip(whole, float) { error += (a - b) * (a - b); signal += b * b }
            XCTAssertLessThanOrEqual((error / signal).squareRoot(), 0.05, "\(name): int8 against float")
            var streamed: [[Float]] = []
            for t in 0..<Self.steps {
                streamed.append(try runtime.step([Self.stepRows(x, t..<(t + 1))], batch: Self.batch, steps: 1, outputCount: Self.vocabulary))
            }
            var expected: [Float] = [], got: [Float] = []
            for b in 0..<Self.batch {
                for t in 0..<Self.steps {
                    let start: Int = (b * Self.steps + t) * Self.vocabulary
                    expected += whole[start..<(start + Self.vocabulary)]
                    got += streamed[t][(b * Self.vocabulary)..<((b + 1) * Self.vocabulary)]
                }
            }
            assertClose(got, expected, atol: 1e-5, rtol: 1e-5, "\(name): int8 stream against the whole run")
        }
    }

    // MARK: Damaged sequence bundles

    /// Random damage inside the sections of the two language models, checksums repaired: the C
    /// runtime gives the Swift reader's status and never crashes, and every damaged bundle it
    /// accepts runs a whole sequence and streams two steps (or refuses to stream with a status).
    func testDamagedSequenceBundlesNeverCrashTheRuntime() throws {
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
        let g = Generator(seed: 78)
        var accepted = 0, rounds = 0
        for model in [CharTransformer(Generator(seed: 24)) as any Layer, CharLSTM(Generator(seed: 25))] {
            model.eval()
            let bundle = try Self.export(model, Self.tokens(26), name: "tokens", metadata: [("vocabulary.characters", Self.fixtureVocabulary)])
            let (graph, data) = bundle.encodeGraphAndData()
            let meta = bundle.encodeMetadata(), test = bundle.encodeSelfTest(bundle.selfTest!)
            for round in 0..<1000 {
                rounds += 1
                var payloads = [graph, data, meta, test]
                let which = round % 2 == 0 ? 0 : Int(g.next() % 4)   // the graph half of the time
                for _ in 0..<(1 + Int(g.next() % 3)) where !payloads[which].isEmpty {
                    let at = Int(g.next() % UInt64(payloads[which].count))
                    payloads[which][at] ^= UInt8(truncatingIfNeeded: 1 + g.next() % 255)
                }
                let kinds = [BundleSectionKind.graph, BundleSectionKind.data, BundleSectionKind.metadata, BundleSectionKind.selfTest]
                let file = BundleFile.assemble(zip(kinds, payloads).map { .init(kind: $0.0, payload: $0.1, encoding: BundleLayout.encodingStored) })
                let status = library.base.loadStatus(file)
                let swift: Int32
                do { _ = try ModelBundle(decoding: file); swift = 0 } catch { swift = (error as? BundleError)?.status.rawValue ?? -1 }
                XCTAssertEqual(status, swift, "round \(round), section \(which)")
                guard status == 0 else { continue }
                accepted += 1
                let decoded = try ModelBundle(decoding: file)
                guard decoded.inputs.count == 1, decoded.outputs.count == 1 else { continue }
                let runtime = try StreamingRuntime.Model(library, bytes: file, maxBatch: 2)
                let perSample = decoded.values[decoded.inputs[0]].count, outputs = decoded.values[decoded.outputs[0]].count
                XCTAssertNoThrow(try runtime.run([[Float](repeating: 0, count: 2 * perSample)], batch: 2, outputCount: outputs), "round \(round)")
                let info = runtime.streamInfo()
                if info.status == 0 {
                    let perStep = perSample / info.maxSteps
                    let out = runtime.outputIsSequence(0) == 1 ? outputs / info.maxSteps : outputs
                    for _ in 0..<2 where info.capacity == 0 || runtime.position < info.capacity {
                        XCTAssertNoThrow(try runtime.step([[Float](repeating: 0, count: 2 * perStep)], batch: 2, steps: 1, outputCount: out))
                    }
                } else {
                    XCTAssertEqual(info.status, BundleStatus.unsupported.rawValue)
                }
            }
        }
        XCTAssertGreaterThan(accepted, 0)
        XCTAssertLessThan(accepted, rounds)
    }

    // MARK: Kernels

    /// The 16-lane gate nonlinearities against their scalar libm references (H = 37: two
    /// vector chunks and a scalar tail), over inputs from −30 to 30.
    func testVectorCellStepsMatchTheScalarReference() {
        let n = 37, g = Generator(seed: 20)
        func values(_ count: Int, _ scale: Float) -> [Float] { (0..<count).map { _ in (g.nextUniform() * 2 - 1) * scale } }
        for scale: Float in [0.01, 1, 4, 30] {
            let xg = values(4 * n, scale), hg = values(4 * n, scale), c0 = values(n, 2), h0 = values(n, 1)
            func run(_ vector: Bool, _ cell: Int) -> [Float] {
                var c = c0, h = h0
                switch cell {
                case 0: lstmCellStep(xg: xg, hg: hg, c: &c, h: &h, count: n, vector: vector)
                case 1: gruCellStep(xg: xg, hg: hg, h: &h, count: n, vector: vector)
                default: rnnCellStep(xg: xg, hg: hg, h: &h, count: n, relu: false, vector: vector)
                }
                return h + c
            }
            for cell in 0..<3 {
                assertClose(run(true, cell), run(false, cell), atol: 1e-6, rtol: 1e-6, "cell \(cell), scale \(scale)")
            }
        }
        // exp itself, over its whole clamped range, within 2 ulp-ish of libm's.
        let xs = (0..<16).map { Float($0) * 11.8 - 88 }
        let e = vectorExp(SIMD16<Float>(xs))
        for i in 0..<16 {
            let want = expf(xs[i])
            XCTAssertEqual(e[i], want, accuracy: Swift.max(want * 3e-7, Float.leastNormalMagnitude), "exp(\(xs[i]))")
        }
    }

    /// The f16-weight product against its reference, for shapes with partial panels and blocks.
    func testHalfGEMVMatchesItsReference() {
        let g = Generator(seed: 21)
        for (n, k) in [(1, 1), (31, 5), (64, 300), (97, 513), (1024, 256)] {
            let w = (0..<(n * k)).map { _ in floatToHalfBits(g.nextUniform() * 2 - 1) }
            let x = (0..<k).map { _ in g.nextUniform() * 2 - 1 }, bias = (0..<n).map { Float($0) * 0.01 }
            var packed = [UInt16](repeating: 0, count: linearPackedCount(outputs: n, inputs: k))
            var fast = [Float](repeating: .nan, count: n), reference = fast
            w.withUnsafeBytes { wb in
                packed.withUnsafeMutableBytes { linearPackWeights(outputs: n, inputs: k, elementSize: 2, weights: wb.baseAddress!, into: $0.baseAddress!) }
                halfGEMVReference(n: n, k: k, x: x, weights: wb.baseAddress!, bias: bias, y: &reference)
            }
            packed.withUnsafeBytes { linearPackedHalfGEMV(n: n, k: k, x: x, packed: $0.baseAddress!, bias: bias, y: &fast) }
            assertClose(fast, reference, atol: 1e-5, rtol: 1e-5, "f16 GEMV \(n)×\(k)")
        }
    }

    /// An LSTM language model exported with f16 weights streams like its whole-sequence run,
    /// and stays within f16 rounding of the f32 model.
    func testHalfWeightLSTMStreams() throws {
        let model = CharLSTM(Generator(seed: 22))
        model.eval()
        let x = Self.tokens(23)
        var options = BundleExporter.Options(precision: .f16)
        options.selfTestInputs = [x]
        options.calibrationInputs = [x]
        let bundle = try BundleExporter.export(model, inputs: [("tokens", [Self.steps])], outputNames: ["output"], options: options) { [model($0[0])] }
        XCTAssertEqual(bundle.tensors.filter { $0.dtype == BundleDType.f16.rawValue }.count, 5)   // W_ih, W_hh of both layers, the head
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
        let runtime = try StreamingRuntime.Model(library, bytes: bundle.encode(), maxBatch: Self.batch)
        let perStep = Self.vocabulary
        let whole = try runtime.run([x.data], batch: Self.batch, outputCount: Self.steps * perStep)
        assertClose(whole, noGrad { model(x) }.data, atol: 2e-3, rtol: 2e-3, "f16 weights against the f32 model")
        for t in 0..<Self.steps {
            let step = try runtime.step([Self.stepRows(x, t..<(t + 1))], batch: Self.batch, steps: 1, outputCount: perStep)
            var expected: [Float] = []
            for b in 0..<Self.batch {
                let start: Int = (b * Self.steps + t) * perStep
                expected += whole[start..<(start + perStep)]
            }
            assertClose(step, expected, atol: 1e-6, rtol: 1e-6, "f16 stream, step \(t)")
        }
    }

    // MARK: Streaming misuse

    func testStepRefusesMisuseWithAStatusAndKeepsTheState() throws {
        let model = CharTransformer(Generator(seed: 8))
        model.eval()
        let x = Self.tokens(18)
        let bundle = try Self.export(model, x, name: "tokens")
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
        let runtime = try StreamingRuntime.Model(library, bytes: bundle.encode(), maxBatch: Self.batch)
        let info = runtime.streamInfo()
        XCTAssertEqual(info.status, 0)
        XCTAssertEqual(info.maxSteps, Self.steps)
        XCTAssertEqual(info.capacity, Self.steps)   // the positional table and the key/value cache
        // State: per layer a key and a value cache of 6 positions × 16 floats, per sample.
        XCTAssertEqual(info.stateBytesPerSample, 2 * 2 * Self.steps * 16 * 4)
        XCTAssertGreaterThanOrEqual(runtime.stateSize, Self.batch * info.stateBytesPerSample)
        XCTAssertEqual(runtime.outputIsSequence(0), 1)
        func status(_ body: () throws -> Void) -> BundleStatus? {
            do { try body(); return .ok } catch { return (error as? BundleError)?.status }
        }
        let vocabularyOut = Self.vocabulary
        _ = try runtime.step([Self.stepRows(x, 0..<2)], batch: Self.batch, steps: 2, outputCount: 2 * vocabularyOut)
        // Another batch mid-stream, zero steps, too many steps per call, past the cache, bad ids.
        XCTAssertEqual(status { _ = try runtime.step([[1]], batch: 1, steps: 1, outputCount: vocabularyOut) }, .invalidArgument)
        XCTAssertEqual(status { _ = try runtime.step([[]], batch: Self.batch, steps: 0, outputCount: 0) }, .invalidArgument)
        XCTAssertEqual(status { _ = try runtime.step([[Float](repeating: 1, count: 2 * 7)], batch: Self.batch, steps: 7, outputCount: 7 * vocabularyOut) },
                       .limitExceeded)
        XCTAssertEqual(status { _ = try runtime.step([[Float](repeating: 1, count: 2 * 5)], batch: Self.batch, steps: 5, outputCount: 5 * vocabularyOut) },
                       .limitExceeded)
        XCTAssertEqual(status { _ = try runtime.step([[1, Float(Self.vocabulary)]], batch: Self.batch, steps: 1, outputCount: vocabularyOut) },
                       .invalidArgument)
        XCTAssertEqual(status { _ = try runtime.step([[-1, 0]], batch: Self.batch, steps: 1, outputCount: vocabularyOut) }, .invalidArgument)
        XCTAssertEqual(runtime.position, 2)
        // Nothing was disturbed: the stream continues as if the refused calls never happened.
        let rest = try runtime.step([Self.stepRows(x, 2..<6)], batch: Self.batch, steps: 4, outputCount: 4 * vocabularyOut)
        assertClose(rest, Self.stepRows(noGrad { model(x) }, 2..<6), atol: 1e-5, rtol: 1e-5)
        XCTAssertEqual(status { _ = try runtime.step([[1, 1]], batch: Self.batch, steps: 1, outputCount: vocabularyOut) }, .limitExceeded)
        XCTAssertEqual(runtime.reset(), 0)
        XCTAssertEqual(runtime.position, 0)
        // A whole-sequence run with an id out of range is refused too.
        XCTAssertThrowsError(try runtime.run([[Float](repeating: 99, count: Self.batch * Self.steps)], batch: Self.batch, outputCount: Self.steps * vocabularyOut))
    }

    // MARK: Malformed attributes and operands

    /// The status a one-op graph gets from the shared reader (the runtime's validation); nil
    /// for an error that is no reader status.
    static func status(_ code: BundleOpCode, input: (BundleDType, [Int]), output: [Int], tensors: [(String, [Int])] = [],
                       _ attributes: [(BundleAttribute, ModelBundle.AttributeValue)] = []) -> BundleStatus? {
        let ts = tensors.map { ModelBundle.TensorEntry(name: $0.0, floats: [Float](repeating: 0.1, count: $0.1.reduce(1, *)), shape: $0.1) }
        let bundle = ModelBundle(precision: .f32, tensors: ts,
                                 values: [.init(name: "x", dtype: input.0, shape: input.1), .init(name: "y", dtype: .f32, shape: output)],
                                 inputs: [0], outputs: [1],
                                 ops: [.init(code, inputs: [0], outputs: [1], tensors: Array(ts.indices), attributes: attributes)])
        do {
            _ = try ModelBundle(decoding: bundle.encode())
            return .ok
        } catch let s as BundleStatus {
            return s
        } catch let e as BundleError {
            return e.status
        } catch {
            return nil
        }
    }

    func testRecurrentOpsValidateOperandsAndAttributes() {
        func lstm(_ h: Int = 3, wih: [Int]? = nil, whh: [Int]? = nil, extra: [(String, [Int])] = [], output: [Int] = [4, 3],
                  code: BundleOpCode = .lstm, gates: Int = 4, attributes a: [(BundleAttribute, ModelBundle.AttributeValue)] = []) -> BundleStatus? {
            Self.status(code, input: (.f32, [4, 2]), output: output,
                        tensors: [("wih", wih ?? [gates * h, 2]), ("whh", whh ?? [gates * h, h]), ("bih", [gates * h]), ("bhh", [gates * h])] + extra, a)
        }
        XCTAssertEqual(lstm(), .ok)
        XCTAssertEqual(lstm(code: .gru, gates: 3), .ok)
        XCTAssertEqual(lstm(code: .rnn, gates: 1, attributes: [(.nonlinearity, .int(1))]), .ok)
        XCTAssertEqual(lstm(code: .rnn, gates: 1, attributes: [(.nonlinearity, .int(2))]), .corrupt)
        XCTAssertEqual(lstm(code: .rnn, gates: 1, attributes: [(.nonlinearity, .int(-1))]), .corrupt)
        XCTAssertEqual(lstm(code: .rnn, gates: 1, attributes: [(.nonlinearity, .float(1))]), .corrupt)
        XCTAssertEqual(lstm(attributes: [(.nonlinearity, .int(0))]), .unsupported)          // lstm takes no attribute
        XCTAssertEqual(lstm(whh: [12, 4]), .shapeMismatch)
        XCTAssertEqual(lstm(wih: [12, 3]), .shapeMismatch)
        XCTAssertEqual(lstm(wih: [10, 2], whh: [10, 2]), .shapeMismatch)       // 10 rows are not 4 gates
        XCTAssertEqual(lstm(output: [4, 6]), .shapeMismatch)                  // 6 columns need two directions
        XCTAssertEqual(lstm(output: [3, 3]), .shapeMismatch)
        XCTAssertEqual(lstm(extra: [("x", [12])]), .corrupt)                  // 5 tensors
        XCTAssertEqual(Self.status(.lstm, input: (.i32, [4, 2]), output: [4, 3],
                                   tensors: [("wih", [12, 2]), ("whh", [12, 3]), ("bih", [12]), ("bhh", [12])]), .unsupported)
    }

    func testRowOpsValidateOperandsAndAttributes() {
        // embedding
        XCTAssertEqual(Self.status(.embedding, input: (.i32, [4]), output: [4, 3], tensors: [("t", [9, 3])]), .ok)
        XCTAssertEqual(Self.status(.embedding, input: (.f32, [4]), output: [4, 3], tensors: [("t", [9, 3])]), .unsupported)
        XCTAssertEqual(Self.status(.embedding, input: (.i32, [4]), output: [4, 2], tensors: [("t", [9, 3])]), .shapeMismatch)
        XCTAssertEqual(Self.status(.embedding, input: (.i32, [4]), output: [4, 3]), .corrupt)
        // layer_norm: axes, eps
        let ln: ([(BundleAttribute, ModelBundle.AttributeValue)]) -> BundleStatus? = {
            Self.status(.layerNorm, input: (.f32, [4, 3]), output: [4, 3], tensors: [("w", [3]), ("b", [3])], $0)
        }
        XCTAssertEqual(ln([]), .ok)
        XCTAssertEqual(ln([(.axes, .int(0))]), .corrupt)
        XCTAssertEqual(ln([(.axes, .int(-1))]), .corrupt)
        XCTAssertEqual(ln([(.axes, .int(2))]), .shapeMismatch)               // weight [3] is not [4, 3]
        XCTAssertEqual(ln([(.axes, .int(3))]), .shapeMismatch)
        XCTAssertEqual(ln([(.eps, .float(0))]), .corrupt)
        XCTAssertEqual(ln([(.eps, .float(-1e-5))]), .corrupt)
        XCTAssertEqual(ln([(.eps, .int(1))]), .corrupt)
        XCTAssertEqual(Self.status(.layerNorm, input: (.f32, [4, 3]), output: [4, 3], tensors: [("w", [3])]), .corrupt)
        // gelu: approximate
        XCTAssertEqual(Self.status(.gelu, input: (.f32, [4, 3]), output: [4, 3], [(.approximate, .int(1))]), .ok)
        XCTAssertEqual(Self.status(.gelu, input: (.f32, [4, 3]), output: [4, 3], [(.approximate, .int(2))]), .corrupt)
        XCTAssertEqual(Self.status(.gelu, input: (.f32, [4, 3]), output: [4, 3], [(.approximate, .int(-1))]), .corrupt)
        // positional_encoding: the table must cover T positions of the same width
        XCTAssertEqual(Self.status(.positionalEncoding, input: (.f32, [4, 3]), output: [4, 3], tensors: [("pe", [4, 3])]), .ok)
        XCTAssertEqual(Self.status(.positionalEncoding, input: (.f32, [4, 3]), output: [4, 3], tensors: [("pe", [3, 3])]), .shapeMismatch)
        XCTAssertEqual(Self.status(.positionalEncoding, input: (.f32, [4, 3]), output: [4, 3], tensors: [("pe", [8, 2])]), .shapeMismatch)
        // last_step: reverse
        XCTAssertEqual(Self.status(.lastStep, input: (.f32, [4, 6]), output: [6], [(.reverse, .int(3))]), .ok)
        XCTAssertEqual(Self.status(.lastStep, input: (.f32, [4, 6]), output: [6], [(.reverse, .int(7))]), .corrupt)
        XCTAssertEqual(Self.status(.lastStep, input: (.f32, [4, 6]), output: [6], [(.reverse, .int(-1))]), .corrupt)
        XCTAssertEqual(Self.status(.lastStep, input: (.f32, [4, 6]), output: [4, 6]), .shapeMismatch)
    }

    func testAttentionValidatesOperandsAndAttributes() {
        func attention(input: [Int] = [4, 12], output: [Int] = [4, 4], _ a: [(BundleAttribute, ModelBundle.AttributeValue)]) -> BundleStatus? {
            Self.status(.attention, input: (.f32, input), output: output, a)
        }
        XCTAssertEqual(attention([(.heads, .int(2)), (.maxContext, .int(4))]), .ok)
        XCTAssertEqual(attention([(.heads, .int(2)), (.maxContext, .int(8)), (.causal, .int(0))]), .ok)
        XCTAssertEqual(attention([(.maxContext, .int(4))]), .corrupt)                          // heads required
        XCTAssertEqual(attention([(.heads, .int(2))]), .corrupt)                               // max_context required
        XCTAssertEqual(attention([(.heads, .int(0)), (.maxContext, .int(4))]), .corrupt)
        XCTAssertEqual(attention([(.heads, .int(3)), (.maxContext, .int(4))]), .shapeMismatch) // 3 does not divide 4
        XCTAssertEqual(attention([(.heads, .float(2)), (.maxContext, .int(4))]), .corrupt)
        XCTAssertEqual(attention([(.heads, .int(2)), (.maxContext, .int(4)), (.causal, .int(2))]), .corrupt)
        XCTAssertEqual(attention([(.heads, .int(2)), (.maxContext, .int(3))]), .shapeMismatch)  // cache shorter than T
        XCTAssertEqual(attention([(.heads, .int(2)), (.maxContext, .int(0))]), .corrupt)
        XCTAssertEqual(attention([(.heads, .int(2)), (.maxContext, .int(1 << 21))]), .limitExceeded)
        XCTAssertEqual(attention(input: [4, 11], [(.heads, .int(2)), (.maxContext, .int(4))]), .shapeMismatch)
        XCTAssertEqual(attention([(.heads, .int(2)), (.maxContext, .int(4)), (.axis, .int(0))]), .unsupported)
    }
}

/// The streaming half of the C API, loaded from the same library as `RuntimeLibrary`.
final class StreamingRuntime {
    typealias Step = @convention(c) (OpaquePointer?, Int, Int, UnsafePointer<UnsafeRawPointer?>?, UnsafePointer<UnsafeMutableRawPointer?>?) -> Int32
    typealias ContextStatus = @convention(c) (OpaquePointer?) -> Int32
    typealias Position = @convention(c) (OpaquePointer?) -> Int
    typealias StateSize = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>?) -> Int32
    typealias StreamInfo = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>?, UnsafeMutablePointer<Int>?, UnsafeMutablePointer<Int>?) -> Int32
    typealias IsSequence = @convention(c) (OpaquePointer?, Int) -> Int32

    let base: RuntimeLibrary
    let step: Step, reset: ContextStatus, position: Position, stateSize: StateSize, streamInfo: StreamInfo, isSequence: IsSequence

    static let shared: StreamingRuntime? = {
        guard let base = RuntimeLibrary.shared else { return nil }
        let path = ProcessInfo.processInfo.environment["MYELIN_LIBRARY"]
            ?? RuntimeLibrary.package.appendingPathComponent(".build-cmake/libmyelin.so").path
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else { return nil }
        func symbol<T>(_ name: String, _ type: T.Type) -> T? { dlsym(handle, name).map { unsafeBitCast($0, to: type) } }
        guard let step = symbol("myelin_step", Step.self), let reset = symbol("myelin_context_reset", ContextStatus.self),
              let position = symbol("myelin_context_position", Position.self),
              let stateSize = symbol("myelin_context_state_size", StateSize.self),
              let streamInfo = symbol("myelin_model_stream_info", StreamInfo.self),
              let isSequence = symbol("myelin_model_output_is_sequence", IsSequence.self) else {
            RuntimeLibrary.loadError = "the library lacks the streaming API"
            return nil
        }
        return StreamingRuntime(base: base, step: step, reset: reset, position: position, stateSize: stateSize,
                                streamInfo: streamInfo, isSequence: isSequence)
    }()

    init(base: RuntimeLibrary, step: Step, reset: ContextStatus, position: Position, stateSize: StateSize,
         streamInfo: StreamInfo, isSequence: IsSequence) {
        self.base = base; self.step = step; self.reset = reset; self.position = position; self.stateSize = stateSize
        self.streamInfo = streamInfo; self.isSequence = isSequence
    }

    /// A model and one context; inputs are f32 or i32 (token ids) as the graph declares.
    final class Model {
        let library: StreamingRuntime
        let handle: OpaquePointer
        let context: OpaquePointer
        let inputTypes: [BundleDType]

        init(_ library: StreamingRuntime, bytes: [UInt8], maxBatch: Int) throws {
            self.library = library
            var model: OpaquePointer?
            let status = bytes.withUnsafeBytes { library.base.loadMemory($0.baseAddress, $0.count, &model) }
            guard status == 0, let model else { throw BundleError(BundleStatus(rawValue: status) ?? .corrupt, "runtime refused the bundle") }
            var context: OpaquePointer?
            guard library.base.contextCreate(model, maxBatch, &context) == 0, let context else {
                library.base.modelFree(model)
                throw BundleError(.outOfMemory, "runtime context")
            }
            handle = model
            self.context = context
            inputTypes = try ModelBundle(decoding: bytes).inputs.map { v in
                BundleDType(rawValue: try ModelBundle(decoding: bytes).values[v].dtype)!
            }
        }

        deinit {
            library.base.contextFree(context)
            library.base.modelFree(handle)
        }

        var position: Int { library.position(context) }
        var stateSize: Int {
            var bytes = 0
            _ = library.stateSize(context, &bytes)
            return bytes
        }
        func reset() -> Int32 { library.reset(context) }
        func streamInfo() -> (status: Int32, maxSteps: Int, capacity: Int, stateBytesPerSample: Int) {
            var steps = 0, capacity = 0, state = 0
            let s = library.streamInfo(handle, &steps, &capacity, &state)
            return (s, steps, capacity, state)
        }
        func outputIsSequence(_ i: Int) -> Int32 { library.isSequence(handle, i) }

        /// myelin_run_multi (`step` nil) or myelin_step; one output of `outputCount` floats per sample.
        func call(_ inputs: [[Float]], batch: Int, steps: Int?, outputCount: Int) throws -> [Float] {
            let ins = zip(inputs, inputTypes).map { x, type -> UnsafeMutableRawPointer in
                let p = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, x.count * 4), alignment: 64)
                for (i, v) in x.enumerated() {
                    if type == .i32 { p.storeBytes(of: Int32(v), toByteOffset: 4 * i, as: Int32.self) } else {
                        p.storeBytes(of: v, toByteOffset: 4 * i, as: Float.self)
                    }
                }
                return p
            }
            let out = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, batch * outputCount * 4), alignment: 64)
            defer { for p in ins + [out] { p.deallocate() } }
            let inPointers: [UnsafeRawPointer?] = ins.map { UnsafeRawPointer($0) }
            let outPointers: [UnsafeMutableRawPointer?] = [out]
            let status = steps.map { library.step(context, batch, $0, inPointers, outPointers) }
                ?? library.base.runMulti(context, batch, inPointers, outPointers)
            guard status == 0 else { throw BundleError(BundleStatus(rawValue: status) ?? .corrupt, "status \(status)") }
            return Array(UnsafeBufferPointer(start: out.assumingMemoryBound(to: Float.self), count: batch * outputCount))
        }

        func run(_ inputs: [[Float]], batch: Int, outputCount: Int) throws -> [Float] {
            try call(inputs, batch: batch, steps: nil, outputCount: outputCount)
        }

        func step(_ inputs: [[Float]], batch: Int, steps: Int, outputCount: Int) throws -> [Float] {
            try call(inputs, batch: batch, steps: steps, outputCount: outputCount)
        }
    }
}
