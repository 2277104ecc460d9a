import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// Sequence-to-sequence bundles (issue 12): a Transformer encoder–decoder exported with the
/// encoder as the stream's context (Seq2SeqTransformer.exportBundle), run whole, step by step
/// and greedily from C and from the Swift executor, against the Swift model; cross-attention
/// and key padding ids validated like the runtime does.
final class Seq2SeqExportTests: XCTestCase {
    static let fixtureDirectory = RuntimeLibrary.package.appendingPathComponent("Tests/MyelinTests/Fixtures/bundles").path
    static let stateFile = fixtureDirectory + "/dates-transformer.state"
    /// The fixture model: `myelin train --dataset dates --model seq2seq-transformer --width 32 --layers 1
    /// --train-samples 16000 --epochs 6 --lr 3e-3 --clip-norm 1 --threads 1 --out /tmp/s2s-small`, its
    /// weights saved by `MYELIN_SEQ2SEQ_CHECKPOINT=/tmp/s2s-small/checkpoint.ckpt MYELIN_UPDATE_FIXTURES=1
    /// swift test --filter Seq2SeqExportTests/testTranslationFixturesAreCurrent` (which also rewrites
    /// the bundle and the expected translations of examples/c/translate.c's ctest).
    static func datesModel() throws -> Seq2SeqTransformer {
        let model = Seq2SeqTransformer(vocabularySize: DateTask.vocabularySize, sourceLength: DateTask.sourceLength,
                                       targetLength: DateTask.targetLength, dim: 32, heads: 4, layers: 1, generator: Generator(seed: 1))
        if let checkpoint = ProcessInfo.processInfo.environment["MYELIN_SEQ2SEQ_CHECKPOINT"] {
            try Checkpoint.load(from: checkpoint).modelState.save(to: stateFile)
        }
        try model.loadStateDict(StateDict.load(from: stateFile))
        model.eval()
        return model
    }

    /// 200 held-out dates (the test split of the fixture's training run, whose dates it never saw).
    static let heldOut: [DateTask.Example] = Array(DateTask(trainCount: 16000, validationCount: 800, testCount: 2000, seed: 0).test.prefix(200))

    static func sources(_ examples: [DateTask.Example]) -> Tensor {
        Tensor(shape: [examples.count, DateTask.sourceLength], data: examples.flatMap { DateTask.sourceIds($0.source).map(Float.init) })
    }

    /// Greedy decoding through a step function (source ids, one token per row → logits per row).
    static func greedy(batch: Int, _ step: ([Float]) throws -> [Float]) rethrows -> [[Int]] {
        let v = DateTask.vocabularySize
        var tokens = [Float](repeating: Float(DateTask.start), count: batch), ids = [[Int]](repeating: [], count: batch)
        for _ in 0..<DateTask.targetLength {
            let logits = try step(tokens)
            for b in 0..<batch {
                let row = logits[(b * v)..<((b + 1) * v)]
                let best = row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }! - b * v
                ids[b].append(best)
                tokens[b] = Float(best)
            }
        }
        return ids
    }

    // MARK: Translation

    /// Swift greedy translation == Swift executor stream == C stream, over 200 held-out dates,
    /// token for token; the exact-match accuracy from C equals Swift's. Returns it.
    @discardableResult
    func checkTranslation(_ model: any Seq2SeqModel, file: StaticString = #filePath, line: UInt = #line) throws -> Double {
        let bundle = try model.exportBundle()
        let examples = Self.heldOut
        let sources = Self.sources(examples), batch = examples.count
        let swift = model.greedyDecode(sources, startId: DateTask.start)

        let stream = try BundleExecutor(validating: bundle, reference: false).stream(maxBatch: batch)
        let fromSwiftStream = try Self.greedy(batch: batch) { tokens in try stream.step([sources.data, tokens], batch: batch, steps: 1)[0] }
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError, file: file, line: line)
        let runtime = try StreamingRuntime.Model(library, bytes: bundle.encode(), maxBatch: batch)
        let fromC = try Self.greedy(batch: batch) { tokens in
            try runtime.step([sources.data, tokens], batch: batch, steps: 1, outputCount: DateTask.vocabularySize)
        }
        XCTAssertEqual(fromSwiftStream, swift, file: file, line: line)
        XCTAssertEqual(fromC, swift, file: file, line: line)
        func accuracy(_ ids: [[Int]]) -> Double {
            Double(zip(examples, ids).filter { DateTask.decode($1) == $0.target }.count) / Double(examples.count)
        }
        XCTAssertEqual(accuracy(fromC), accuracy(swift), file: file, line: line)
        XCTAssertEqual(accuracy(swift), dateAccuracy(model, on: examples).accuracy, file: file, line: line)
        return accuracy(fromC)
    }

    func testBundleTranslatesHeldOutDatesLikeTheSwiftModel() throws {
        XCTAssertGreaterThan(try checkTranslation(try Self.datesModel()), 0.5, "the fixture model translates most dates")
    }

    /// The LSTM encoder–decoder with Luong attention (untrained, small): the bidirectional
    /// encoder and its final states are the context, the decoder LSTM starts from them and keeps
    /// its state, the attention is a one-head cross-attention with scale 1.
    func testSeq2SeqLSTMTranslatesAndStreamsLikeTheSwiftModel() throws {
        let model = Seq2SeqLSTM(vocabularySize: DateTask.vocabularySize, sourceLength: DateTask.sourceLength,
                                targetLength: DateTask.targetLength, embedding: 8, hiddenSize: 16, generator: Generator(seed: 51))
        model.eval()
        try checkTranslation(model)
        try checkStreaming(model, capacity: 0)
        let ops = try model.exportBundle().ops.compactMap(\.code)
        XCTAssertEqual(ops.filter { $0 == .lstm }.count, 2)
        XCTAssertEqual(ops.filter { $0 == .attention }.count, 1)
    }

    /// int8 translators (issue 12: int8 weights wherever they keep accuracy): both seq2seq models
    /// export with int8 linears and attention projections (qlinear) and, for the LSTM one, i8
    /// recurrent weights; C translates the 200 held-out dates token for token like the Swift
    /// executor's stream on the same bundle, and the trained Transformer's exact-match accuracy
    /// stays within 2 points of its f32 bundle's.
    func testInt8TranslatorsTranslateFromC() throws {
        let lstm = Seq2SeqLSTM(vocabularySize: DateTask.vocabularySize, sourceLength: DateTask.sourceLength,
                               targetLength: DateTask.targetLength, embedding: 8, hiddenSize: 16, generator: Generator(seed: 52))
        lstm.eval()
        let calibration = Array(DateTask(trainCount: 256, validationCount: 20, testCount: 20, seed: 3).train)
        let source = Self.sources(calibration)
        let target = Tensor(shape: [calibration.count, DateTask.targetLength],
                            data: calibration.flatMap { ([DateTask.start] + DateTask.encode($0.target)!).map(Float.init) })
        let examples = Self.heldOut, sources = Self.sources(examples), batch = examples.count
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
        for (name, model) in [("transformer", try Self.datesModel() as any Seq2SeqModel), ("lstm", lstm)] {
            var options = BundleExporter.Options(precision: .int8)
            options.calibrationInputs = [source, target]
            let bundle = try model.exportBundle(options: options)
            XCTAssertTrue(bundle.ops.contains { $0.code == .qlinear }, name)
            XCTAssertFalse(bundle.ops.contains { $0.code == .linear }, name)
            for op in bundle.ops where op.code == .lstm { XCTAssertEqual(op.tensors.count % 6, 0, "\(name): i8 recurrent weights") }
            let stream = try BundleExecutor(validating: bundle, reference: false).stream(maxBatch: batch)
            let fromSwift = try Self.greedy(batch: batch) { tokens in try stream.step([sources.data, tokens], batch: batch, steps: 1)[0] }
            let runtime = try StreamingRuntime.Model(library, bytes: bundle.encode(), maxBatch: batch)
            let fromC = try Self.greedy(batch: batch) { tokens in
                try runtime.step([sources.data, tokens], batch: batch, steps: 1, outputCount: DateTask.vocabularySize)
            }
            XCTAssertEqual(fromC, fromSwift, "\(name): C and the Swift executor on the int8 bundle")
            let float = try BundleExecutor(validating: model.exportBundle(), reference: false).stream(maxBatch: batch)
            let fromFloat = try Self.greedy(batch: batch) { tokens in try float.step([sources.data, tokens], batch: batch, steps: 1)[0] }
            func accuracy(_ ids: [[Int]]) -> Double {
                Double(zip(examples, ids).filter { DateTask.decode($1) == $0.target }.count) / Double(examples.count)
            }
            print(String(format: "%@: exact match int8 %.2f%%, f32 %.2f%% on %d held-out dates", name, 100 * accuracy(fromC),
                         100 * accuracy(fromFloat), batch))
            if name == "transformer" { XCTAssertGreaterThanOrEqual(accuracy(fromC), accuracy(fromFloat) - 0.02) }
        }
    }

    /// Teacher-forced logits: Swift whole sequence == C whole run == C fed one step at a time ==
    /// C in chunks (4, 7) == the Swift stream; a later step does not read the source again.
    func testSeq2SeqStreamsLikeItsWholeSequence() throws {
        try checkStreaming(try Self.datesModel(), capacity: DateTask.targetLength)   // the decoder's key/value cache
    }

    func checkStreaming(_ model: any Seq2SeqModel, capacity: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let bundle = try model.exportBundle()
        let examples = Array(Self.heldOut.prefix(2))
        let source = Self.sources(examples)
        let target = Tensor(shape: [2, DateTask.targetLength],
                            data: examples.flatMap { ([DateTask.start] + DateTask.encode($0.target)!).map(Float.init) })
        let whole = noGrad { model.logits(source: source, target: target) }
        let v = DateTask.vocabularySize, t = DateTask.targetLength

        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
        let runtime = try StreamingRuntime.Model(library, bytes: bundle.encode(), maxBatch: 2)
        let info = runtime.streamInfo()
        XCTAssertEqual(info.status, 0)
        XCTAssertEqual(info.maxSteps, t)
        XCTAssertEqual(info.capacity, capacity, file: file, line: line)
        XCTAssertEqual(runtime.outputIsSequence(0), 1)
        assertClose(try runtime.run([source.data, target.data], batch: 2, outputCount: t * v), whole.data, atol: 1e-4, rtol: 1e-4,
                    "whole sequence from C")
        let swiftStream = try BundleExecutor(validating: bundle, reference: false).stream(maxBatch: 2)
        // Another date: passed with every step after the first, it must not change anything.
        let otherSource = Self.sources(Array(Self.heldOut[10..<12])).data
        for chunks in [[Int](repeating: 1, count: t), [4, 7]] {
            XCTAssertEqual(runtime.reset(), 0)
            swiftStream.reset()
            var at = 0
            for k in chunks {
                let rows = target.narrow(axis: 1, start: at, length: k).data
                let src = at == 0 ? source.data : otherSource
                let fromC = try runtime.step([src, rows], batch: 2, steps: k, outputCount: k * v)
                let fromSwift = try swiftStream.step([src, rows], batch: 2, steps: k)[0]
                assertClose(fromC, whole.narrow(axis: 1, start: at, length: k).data, atol: 1e-4, rtol: 1e-4, "steps \(at)..<\(at + k) (chunks \(chunks))")
                XCTAssertEqual(fromSwift, fromC, "Swift and C streams, steps \(at)..<\(at + k)")
                at += k
            }
            XCTAssertEqual(runtime.position, t, file: file, line: line)
            guard capacity > 0 else { continue }
            // Past the decoder's cache: refused, nothing changes.
            XCTAssertThrowsError(try runtime.step([source.data, [1, 1]], batch: 2, steps: 1, outputCount: v), file: file, line: line)
            XCTAssertEqual(runtime.position, t, file: file, line: line)
        }
    }

    /// The bundle, its expected translations (examples/c/translate.c's ctest) and the state
    /// fixture agree with the code: `MYELIN_UPDATE_FIXTURES=1` rewrites the first two.
    func testTranslationFixturesAreCurrent() throws {
        let model = try Self.datesModel()
        let bundle = try model.exportBundle()
        let ids = model.greedyDecode(Self.sources(Self.heldOut), startId: DateTask.start)
        let translations = zip(Self.heldOut, ids).map { "\($0.source)\t\(DateTask.decode($1))\n" }.joined()
        let bundlePath = Self.fixtureDirectory + "/dates-transformer.myelin"
        let translationsPath = Self.fixtureDirectory + "/dates-transformer.translations"
        if ProcessInfo.processInfo.environment["MYELIN_UPDATE_FIXTURES"] == "1" {
            try bundle.write(to: bundlePath)
            try translations.write(toFile: translationsPath, atomically: true, encoding: .utf8)
        }
        let stored = try ModelBundle.read(from: bundlePath)
        XCTAssertEqual(stored.encode(), bundle.encode(), "dates-transformer.myelin is stale: MYELIN_UPDATE_FIXTURES=1 swift test --filter Seq2SeqExportTests")
        XCTAssertEqual(try String(contentsOfFile: translationsPath, encoding: .utf8), translations)
        XCTAssertEqual(translations.split(separator: "\n").count, 200)
        let meta = Dictionary(stored.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(meta["seq2seq.characters"], String(DateTask.characters))
        XCTAssertEqual(meta["seq2seq.start_id"], "1")
        XCTAssertEqual(meta["seq2seq.end_id"], "2")
    }

    // MARK: Malformed cross-attention and key ids

    /// One attention op over graph inputs: the status of the Swift reader and of the C runtime
    /// (which must agree).
    func attentionStatus(self selfAttention: Bool = false, query: [Int] = [2, 4], keys: [Int] = [3, 4], values: [Int]? = nil,
                         ids: (BundleDType, [Int])? = (.i32, [3]), extraInput: Bool = false,
                         _ attributes: [(BundleAttribute, ModelBundle.AttributeValue)],
                         file: StaticString = #filePath, line: UInt = #line) throws -> BundleStatus? {
        var vs: [ModelBundle.Value] = [.init(name: "q", dtype: .f32, shape: query)]
        if !selfAttention {
            vs += [.init(name: "k", dtype: .f32, shape: keys), .init(name: "v", dtype: .f32, shape: values ?? keys)]
        }
        if let ids { vs.append(.init(name: "ids", dtype: ids.0, shape: ids.1)) }
        if extraInput { vs.append(.init(name: "extra", dtype: .f32, shape: keys)) }
        let inputs = Array(vs.indices)
        vs.append(.init(name: "y", dtype: .f32, shape: [query[0], selfAttention ? query[1] / 3 : query[1]]))
        let bundle = ModelBundle(precision: .f32, tensors: [], values: vs, inputs: inputs, outputs: [vs.count - 1],
                                 ops: [.init(.attention, inputs: inputs, outputs: [vs.count - 1], tensors: [], attributes: attributes)])
        let bytes = bundle.encode()
        let swift: BundleStatus?
        do { _ = try ModelBundle(decoding: bytes); swift = .ok } catch let s as BundleStatus { swift = s } catch let e as BundleError {
            swift = e.status
        } catch { swift = nil }
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
        XCTAssertEqual(library.base.loadStatus(bytes), swift?.rawValue, "C and Swift statuses", file: file, line: line)
        return swift
    }

    func testCrossAttentionAndKeyIDsValidateOperandsAndAttributes() throws {
        let heads: (BundleAttribute, ModelBundle.AttributeValue) = (.heads, .int(2))
        let notCausal: (BundleAttribute, ModelBundle.AttributeValue) = (.causal, .int(0))
        let context3: (BundleAttribute, ModelBundle.AttributeValue) = (.maxContext, .int(3))
        let base = [heads, notCausal, context3]
        XCTAssertEqual(try attentionStatus(base), .ok)
        XCTAssertEqual(try attentionStatus(ids: nil, base), .ok)
        XCTAssertEqual(try attentionStatus(base + [(.scoreScale, .float(1))]), .ok)
        // Cross-attention is never causal (the default causal is 1).
        XCTAssertEqual(try attentionStatus([heads, context3]), .corrupt)
        XCTAssertEqual(try attentionStatus([heads, (.causal, .int(1)), context3]), .corrupt)
        // max_context is the memory's length.
        XCTAssertEqual(try attentionStatus([heads, notCausal, (.maxContext, .int(4))]), .shapeMismatch)
        XCTAssertEqual(try attentionStatus([heads, notCausal]), .corrupt)
        // Keys, values, queries and ids must agree.
        XCTAssertEqual(try attentionStatus(keys: [3, 5], ids: (.i32, [3]), base), .shapeMismatch)
        XCTAssertEqual(try attentionStatus(values: [3, 6], base), .shapeMismatch)
        XCTAssertEqual(try attentionStatus(query: [2, 6], base), .shapeMismatch)
        XCTAssertEqual(try attentionStatus(ids: (.i32, [4]), base), .shapeMismatch)
        XCTAssertEqual(try attentionStatus(ids: (.i32, [3, 1]), base), .shapeMismatch)
        XCTAssertEqual(try attentionStatus(ids: (.f32, [3]), base), .unsupported)
        XCTAssertEqual(try attentionStatus([(.heads, .int(3)), notCausal, context3]), .shapeMismatch)
        XCTAssertEqual(try attentionStatus(extraInput: true, base), .corrupt)
        // score_scale: a positive float.
        for bad in [0.0, -1.0, 1e31] { XCTAssertEqual(try attentionStatus(base + [(.scoreScale, .float(bad))]), .corrupt, "score_scale \(bad)") }
        XCTAssertEqual(try attentionStatus(base + [(.scoreScale, .int(1))]), .corrupt)
        XCTAssertEqual(try attentionStatus(base + [(.scoreScale, .float(1)), (.scoreScale, .float(2))]), .corrupt)   // twice
        // Self-attention with key ids: whole sequences only (not causal), ids as long as the sequence.
        XCTAssertEqual(try attentionStatus(self: true, query: [3, 12], ids: (.i32, [3]), base), .ok)
        XCTAssertEqual(try attentionStatus(self: true, query: [3, 12], ids: (.i32, [3]), [heads, context3]), .corrupt)
        XCTAssertEqual(try attentionStatus(self: true, query: [3, 12], ids: (.i32, [2]), base), .shapeMismatch)
        XCTAssertEqual(try attentionStatus(self: true, query: [3, 12], ids: (.f32, [3]), base), .unsupported)
    }

    /// The runtime op against the Swift attention it lowers: key ids hide exactly the keys the
    /// padding mask hides, and score_scale replaces 1/√d.
    func testCrossAttentionMatchesTheSwiftAttention() throws {
        let e = 8, heads = 2, s = 5, t = 3, g = Generator(seed: 31)
        let q = Tensor.randn([1, t, e], generator: g), k = Tensor.randn([1, s, e], generator: g), v = Tensor.randn([1, s, e], generator: g)
        let ids: [Float] = [4, 0, 7, 0, 9]
        for scale in [nil, 0.7] as [Double?] {
            var attributes: [(BundleAttribute, ModelBundle.AttributeValue)] = [(.heads, .int(Int64(heads))), (.causal, .int(0)), (.maxContext, .int(Int64(s)))]
            if let scale { attributes.append((.scoreScale, .float(scale))) }
            let bundle = ModelBundle(precision: .f32, tensors: [],
                                     values: [.init(name: "q", dtype: .f32, shape: [t, e]), .init(name: "k", dtype: .f32, shape: [s, e]),
                                              .init(name: "v", dtype: .f32, shape: [s, e]), .init(name: "ids", dtype: .i32, shape: [s]),
                                              .init(name: "y", dtype: .f32, shape: [t, e])],
                                     inputs: [0, 1, 2, 3], outputs: [4],
                                     ops: [.init(.attention, inputs: [0, 1, 2, 3], outputs: [4], tensors: [], attributes: attributes)])
            func split(_ x: Tensor) -> Tensor { x.reshape([1, x.shape[1], heads, e / heads]).permute([0, 2, 1, 3]) }
            let mask = Tensor(shape: [1, 1, 1, s], data: ids.map { $0 == 0 ? 1 : 0 })
            let qs = scale.map { split(q) * Float($0 * Double(e / heads).squareRoot()) } ?? split(q)
            let expected = attention(qs, split(k), split(v), masks: [mask], dropout: 0, generator: g).output
                .permute([0, 2, 1, 3]).reshape([1, t, e])
            let got = try BundleExecutor(validating: bundle, reference: false).run([q.data, k.data, v.data, ids], batch: 1)[0]
            assertClose(got, expected.data, atol: 1e-5, rtol: 1e-5, "score_scale \(scale.map { "\($0)" } ?? "default")")
            let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
            let runtime = try StreamingRuntime.Model(library, bytes: bundle.encode(), maxBatch: 1)
            XCTAssertEqual(try runtime.run([q.data, k.data, v.data, ids], batch: 1, outputCount: t * e), got)
        }
    }

    // MARK: Recurrent initial and final state

    /// An lstm op with h0, c0 inputs and h_n, c_n outputs equals the Swift LSTM started from
    /// (h0, c0) — whole sequence in Swift's executor and in C, and for one direction from C fed
    /// step by step (h0 and c0 read at the first step only).
    func testRecurrentLayersTakeAnInitialStateAndGiveTheFinalState() throws {
        let g = Generator(seed: 41)
        let t = 5, inSize = 3, h = 4, batch = 2
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
        for directions in [1, 2] {
            let lstm = LSTM(inSize, h, batchFirst: true, bidirectional: directions == 2, generator: g)
            let x = Tensor.randn([batch, t, inSize], generator: g)
            let h0 = Tensor.randn([directions, batch, h], generator: g), c0 = Tensor.randn([directions, batch, h], generator: g)
            let (y, final) = noGrad { lstm(x, (h0, c0)) }
            var tensors: [ModelBundle.TensorEntry] = []
            for d in 0..<directions {
                let w = lstm.stack.weights(0, d)
                for (name, p) in [("ih", w.ih), ("hh", w.hh), ("bih", w.bih!), ("bhh", w.bhh!)] {
                    tensors.append(.init(name: "\(name)\(d)", floats: p.data, shape: p.shape))
                }
            }
            func bundle(outputs: Int) -> ModelBundle {
                let vs: [ModelBundle.Value] = [.init(name: "x", dtype: .f32, shape: [t, inSize]), .init(name: "h0", dtype: .f32, shape: [directions, h]),
                                               .init(name: "c0", dtype: .f32, shape: [directions, h]),
                                               .init(name: "y", dtype: .f32, shape: [t, directions * h]),
                                               .init(name: "h_n", dtype: .f32, shape: [directions, h]), .init(name: "c_n", dtype: .f32, shape: [directions, h])]
                let out = Array(3..<(3 + outputs))
                return ModelBundle(precision: .f32, tensors: tensors, values: Array(vs[0..<(3 + outputs)]), inputs: [0, 1, 2], outputs: out,
                                   ops: [.init(.lstm, inputs: [0, 1, 2], outputs: out, tensors: Array(tensors.indices))])
            }
            // States per sample: [B, D, H].
            let h0Rows = h0.transpose(0, 1).data, c0Rows = c0.transpose(0, 1).data
            let swift = try BundleExecutor(validating: bundle(outputs: 3), reference: false).run([x.data, h0Rows, c0Rows], batch: batch)
            assertClose(swift[0], y.data, atol: 1e-5, rtol: 1e-5, "y, \(directions) direction(s)")
            assertClose(swift[1], final.h.transpose(0, 1).data, atol: 1e-5, rtol: 1e-5, "h_n, \(directions) direction(s)")
            assertClose(swift[2], final.c.transpose(0, 1).data, atol: 1e-5, rtol: 1e-5, "c_n, \(directions) direction(s)")
            let runtime = try StreamingRuntime.Model(library, bytes: bundle(outputs: 1).encode(), maxBatch: batch)
            XCTAssertEqual(try runtime.run([x.data, h0Rows, c0Rows], batch: batch, outputCount: t * directions * h), swift[0])
            guard directions == 1 else { continue }
            XCTAssertEqual(runtime.streamInfo().status, 0)
            for k in 0..<t {
                // After the first step h0 and c0 are not read: zeros change nothing.
                let state = k == 0 ? [h0Rows, c0Rows] : [[Float](repeating: 0, count: batch * h), [Float](repeating: 0, count: batch * h)]
                let step = try runtime.step([x.narrow(axis: 1, start: k, length: 1).data] + state, batch: batch, steps: 1, outputCount: h)
                assertClose(step, y.narrow(axis: 1, start: k, length: 1).data, atol: 1e-5, rtol: 1e-5, "step \(k) from C")
            }
        }
    }

    /// Initial and final state operands: counts, dtypes and shapes (C and Swift statuses equal).
    func testRecurrentStateOperandsAreValidated() throws {
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
        func status(_ code: BundleOpCode = .lstm, states: [(BundleDType, [Int])], finals: [[Int]] = [], h: Int = 3) -> BundleStatus? {
            let gates = code == .lstm ? 4 : code == .gru ? 3 : 1
            let ts: [ModelBundle.TensorEntry] = [("ih", [gates * h, 2]), ("hh", [gates * h, h]), ("bih", [gates * h]), ("bhh", [gates * h])].map {
                .init(name: $0.0, floats: [Float](repeating: 0.1, count: $0.1.reduce(1, *)), shape: $0.1)
            }
            var vs: [ModelBundle.Value] = [.init(name: "x", dtype: .f32, shape: [4, 2])]
            vs += states.enumerated().map { .init(name: "s\($0.offset)", dtype: $0.element.0, shape: $0.element.1) }
            let inputs = Array(vs.indices)
            vs.append(.init(name: "y", dtype: .f32, shape: [4, h]))
            vs += finals.enumerated().map { .init(name: "f\($0.offset)", dtype: .f32, shape: $0.element) }
            let outputs = Array(inputs.count..<vs.count)
            let bytes = ModelBundle(precision: .f32, tensors: ts, values: vs, inputs: inputs, outputs: outputs,
                                    ops: [.init(code, inputs: inputs, outputs: outputs, tensors: Array(ts.indices))]).encode()
            let swift: BundleStatus?
            do { _ = try ModelBundle(decoding: bytes); swift = .ok } catch let e as BundleError { swift = e.status } catch let s as BundleStatus {
                swift = s
            } catch { swift = nil }
            XCTAssertEqual(library.base.loadStatus(bytes), swift?.rawValue, "C and Swift statuses")
            return swift
        }
        XCTAssertEqual(status(states: [(.f32, [1, 3]), (.f32, [1, 3])], finals: [[1, 3], [1, 3]]), .ok)
        XCTAssertEqual(status(states: [(.f32, [1, 3])], finals: [[1, 3]]), .ok)
        XCTAssertEqual(status(.gru, states: [(.f32, [1, 3])], finals: [[1, 3]]), .ok)
        XCTAssertEqual(status(.gru, states: [(.f32, [1, 3]), (.f32, [1, 3])]), .corrupt)             // no c for a gru
        XCTAssertEqual(status(.rnn, states: [], finals: [[1, 3], [1, 3]]), .corrupt)
        XCTAssertEqual(status(states: [(.f32, [1, 3]), (.f32, [1, 3]), (.f32, [1, 3])]), .corrupt)   // three state inputs
        XCTAssertEqual(status(states: [(.f32, [1, 4])]), .shapeMismatch)
        XCTAssertEqual(status(states: [(.f32, [2, 3])]), .shapeMismatch)                           // two directions, one layer
        XCTAssertEqual(status(states: [(.f32, [3])]), .shapeMismatch)
        XCTAssertEqual(status(states: [(.i32, [1, 3])]), .unsupported)
        XCTAssertEqual(status(states: [], finals: [[1, 2]]), .shapeMismatch)
    }

    // MARK: Time-major recurrent layers

    /// A tagger whose LSTM is time-major (`batchFirst: false`, PyTorch's default) between
    /// transposes at its boundary: [B, T] ids → [B, T, V] logits.
    final class TimeMajorTagger: Layer {
        let embed: Embedding, lstm: LSTM, head: Linear
        var isTraining = true
        init(_ g: Generator) {
            embed = Embedding(11, 6, generator: g)
            lstm = LSTM(6, 8, numLayers: 2, batchFirst: false, generator: g)
            head = Linear(8, 11, generator: g)
        }
        func forward(_ x: Tensor) -> Tensor { head(lstm(embed(x).transpose(0, 1)).output).transpose(0, 1) }
        var description: String { "TimeMajorTagger" }
    }

    /// The same with a time-major GRU read at its last step: [B, T] ids → [B, 3] scores.
    final class TimeMajorClassifier: Layer {
        let embed: Embedding, gru: GRU, head: Linear
        var isTraining = true
        init(_ g: Generator) {
            embed = Embedding(11, 6, generator: g)
            gru = GRU(6, 8, batchFirst: false, generator: g)
            head = Linear(8, 3, generator: g)
        }
        func forward(_ x: Tensor) -> Tensor { head(gru.lastStep(embed(x).transpose(0, 1))) }
        var description: String { "TimeMajorClassifier" }
    }

    /// Time-major models export (the boundary transposes move only the batch axis: nothing per
    /// sample) and run like the Swift model: whole sequence in C and Swift, and step by step in C.
    func testTimeMajorRecurrentModelsExportAndStream() throws {
        let g = Generator(seed: 61)
        let steps = 6, batch = 2
        let x = Tensor(shape: [batch, steps], data: (0..<(batch * steps)).map { Float(($0 * 7 + 3) % 11) })
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
        for (model, sequenceOutput) in [(TimeMajorTagger(g) as any Layer, true), (TimeMajorClassifier(g), false)] {
            model.eval()
            var options = BundleExporter.Options()
            options.calibrationInputs = [x]
            let bundle = try BundleExporter.export(model, inputs: [("tokens", [steps])], outputNames: ["output"], options: options) { [model($0[0])] }
            XCTAssertFalse(bundle.ops.contains { $0.code == .transpose }, "\(model): the boundary transposes are free")
            let whole = noGrad { model(x) }
            let perSample = whole.count / batch
            assertClose(try BundleExecutor(validating: bundle, reference: false).run([x.data], batch: batch)[0], whole.data,
                        atol: 1e-5, rtol: 1e-5, "\(model): Swift executor")
            let runtime = try StreamingRuntime.Model(library, bytes: bundle.encode(), maxBatch: batch)
            assertClose(try runtime.run([x.data], batch: batch, outputCount: perSample), whole.data, atol: 1e-5, rtol: 1e-5, "\(model): C")
            XCTAssertEqual(runtime.streamInfo().status, 0, "\(model) streams")
            for t in 0..<steps {
                let rows = x.narrow(axis: 1, start: t, length: 1).data
                let out = try runtime.step([rows], batch: batch, steps: 1, outputCount: sequenceOutput ? perSample / steps : perSample)
                let expected = sequenceOutput ? whole.narrow(axis: 1, start: t, length: 1).data
                                              : noGrad { model(x.narrow(axis: 1, start: 0, length: t + 1)) }.data
                assertClose(out, expected, atol: 1e-5, rtol: 1e-5, "\(model): step \(t) from C")
            }
        }
        // A time-major output must be transposed back at the boundary.
        final class TimeMajorOutput: Layer {
            let lstm = LSTM(3, 4, batchFirst: false)
            var isTraining = true
            func forward(_ x: Tensor) -> Tensor { lstm(x.transpose(0, 1)).output }
            var description: String { "TimeMajorOutput" }
        }
        XCTAssertThrowsError(try TracedGraph(tracing: TimeMajorOutput(), example: Tensor.randn([2, 5, 3], generator: g))) {
            XCTAssertTrue("\($0)".contains("is time-major"), "\($0)")
        }
    }

    // MARK: Damaged seq2seq bundles

    /// Random damage inside the sections of both seq2seq bundles (checksums repaired): the C
    /// runtime gives the Swift reader's status and never crashes, and every damaged bundle it
    /// accepts runs whole and streams two steps, or refuses with a status.
    func testDamagedSeq2SeqBundlesNeverCrashTheRuntime() throws {
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
        let g = Generator(seed: 71)
        var accepted = 0, rounds = 0
        let models: [any Seq2SeqModel] = [
            Seq2SeqTransformer(vocabularySize: 11, sourceLength: 5, targetLength: 4, dim: 8, heads: 2, layers: 1, generator: Generator(seed: 72)),
            Seq2SeqLSTM(vocabularySize: 11, sourceLength: 5, targetLength: 4, embedding: 4, hiddenSize: 6, generator: Generator(seed: 73))]
        for model in models {
            let bundle = try model.exportBundle(dateVocabulary: false)
            let (graph, data) = bundle.encodeGraphAndData()
            let meta = bundle.encodeMetadata(), test = bundle.encodeSelfTest(bundle.selfTest!)
            for round in 0..<600 {
                rounds += 1
                var payloads = [graph, data, meta, test]
                let which = round % 2 == 0 ? 0 : Int(g.next() % 4)
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
                guard decoded.outputs.count == 1 else { continue }
                let runtime = try StreamingRuntime.Model(library, bytes: file, maxBatch: 2)
                let counts = decoded.inputs.map { decoded.values[$0].count }, outputs = decoded.values[decoded.outputs[0]].count
                _ = try? runtime.run(counts.map { [Float](repeating: 1, count: 2 * $0) }, batch: 2, outputCount: outputs)
                let info = runtime.streamInfo()
                guard info.status == 0 else {
                    XCTAssertEqual(info.status, BundleStatus.unsupported.rawValue)
                    continue
                }
                for _ in 0..<2 where info.capacity == 0 || runtime.position < info.capacity {
                    // Whole-sequence buffers: at least what one step reads and writes.
                    _ = try? runtime.step(counts.map { [Float](repeating: 1, count: 2 * $0) }, batch: 2, steps: 1, outputCount: outputs)
                }
            }
        }
        XCTAssertGreaterThan(accepted, 0)
        XCTAssertLessThan(accepted, rounds)
    }
}
