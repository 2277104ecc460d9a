import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Myelin
@testable import MyelinShared

final class TrainingTests: XCTestCase {
    let blobs = Synthetic.blobs(centers: [[1, 1], [-1, -1], [1, -1], [-1, 1]], std: 0.3, countPerCenter: 50,
                                labels: [0, 0, 1, 1], generator: Generator(seed: 1))

    func makeTrainer(seed: UInt64 = 0, dropout: Float = 0.1, lr: Float = 0.01) -> Trainer {
        let g = Generator(seed: seed)
        let model = MLPSpec(inputs: 2, hidden: [16], outputs: 2, dropout: dropout).build(generator: g)
        return Trainer(model: model, optimizer: Adam(model.parameters(), lr: lr), batchSize: 16, generator: g)
    }

    func testFitLearnsAndRecordsHistory() throws {
        let (train, val) = blobs.split(fraction: 0.2, stratified: true, generator: Generator(seed: 2))
        let t = makeTrainer()
        let history = try t.fit(train, validation: val, epochs: 30)
        XCTAssertEqual(history.map { $0.epoch }, Array(1...30))
        XCTAssertLessThan(history.last!.trainLoss, history.first!.trainLoss / 3)
        XCTAssertGreaterThanOrEqual(history.last!.validationAccuracy!, 0.95)
        XCTAssertGreaterThanOrEqual(evaluate(t.model, on: val).accuracy!, 0.95)
        let csv = CSVLogger.csv(history).split(separator: "\n")
        XCTAssertEqual(csv.count, 31)
        XCTAssertEqual(csv[0], "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds")
        XCTAssertTrue(csv[1].hasPrefix("1,"))
    }

    func testDivergenceStopsWithEpochAndBatch() {
        let t = makeTrainer(dropout: 0, lr: 1e30)
        XCTAssertThrowsError(try t.fit(blobs, epochs: 5)) { error in
            guard case let TrainingError.diverged(epoch, batch, loss) = error else { return XCTFail("\(error)") }
            XCTAssertFalse(loss.isFinite)
            XCTAssertGreaterThanOrEqual(epoch, 1)
            XCTAssertGreaterThanOrEqual(batch, 1)
            XCTAssertTrue("\(error)".contains("epoch \(epoch), batch \(batch)"))
        }
    }

    func testEarlyStoppingStopsAndRestoresBest() throws {
        // A tiny, noisy validation set and a high learning rate make validation loss stall early.
        let (train, val) = blobs.split(fraction: 0.1, generator: Generator(seed: 5))
        let t = makeTrainer(lr: 0.05)
        let early = EarlyStopping(patience: 2)
        var snapshots: [Int: [Float]] = [:]
        final class Snapshot: Callback {
            let store: (Int, [Float]) -> Void
            init(_ s: @escaping (Int, [Float]) -> Void) { store = s }
            func epochDidEnd(_ trainer: Trainer, record: EpochRecord) { store(record.epoch, trainer.model.parameters().flatMap { $0.data }) }
        }
        t.callbacks = [early, Snapshot { snapshots[$0] = $1 }]
        try t.fit(train, validation: val, epochs: 200)
        let stopped = try XCTUnwrap(early.stoppedEpoch, "validation loss must stall within 200 epochs")
        XCTAssertEqual(t.epoch, stopped)
        XCTAssertEqual(stopped - early.bestEpoch, 2, "stops after `patience` epochs without improvement")
        XCTAssertEqual(t.model.parameters().flatMap { $0.data }, snapshots[early.bestEpoch], "best weights restored")
        XCTAssertEqual(evaluate(t.model, on: val).loss, early.bestLoss, accuracy: 1e-6)
    }

    /// Resume after k epochs gives bit-identical weights to an uninterrupted run (dropout
    /// masks and shuffles included, since the RNG state is part of the checkpoint).
    func testResumeFromCheckpointMatchesUninterruptedRun() throws {
        let full = makeTrainer(seed: 7)
        full.scheduler = CosineAnnealingLR(full.optimizer, period: 6)
        try full.fit(blobs, epochs: 6)

        let first = makeTrainer(seed: 7)
        first.scheduler = CosineAnnealingLR(first.optimizer, period: 6)
        try first.fit(blobs, epochs: 3)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-resume-\(getpid()).ckpt").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Checkpoint(trainer: first, metadata: ["note": "test"]).save(to: path)

        let resumed = makeTrainer(seed: 99)          // different init and RNG: the checkpoint must overwrite both
        resumed.scheduler = CosineAnnealingLR(resumed.optimizer, period: 6)
        let checkpoint = try Checkpoint.load(from: path)
        XCTAssertEqual(checkpoint.header.metadata["note"], "test")
        try checkpoint.restore(into: resumed)
        XCTAssertEqual(resumed.epoch, 3)
        try resumed.fit(blobs, epochs: 6)
        XCTAssertEqual(resumed.model.parameters().flatMap { $0.data }, full.model.parameters().flatMap { $0.data })
        XCTAssertEqual(resumed.history.map { $0.trainLoss }, full.history.map { $0.trainLoss })
        XCTAssertEqual(resumed.optimizer.learningRate, full.optimizer.learningRate)
    }

    /// The same checkpoint gives the same bytes in every process: the JSON header's keys are
    /// sorted (dictionaries iterate in a per-process hash order).
    func testCheckpointHeaderKeysAreSorted() throws {
        let t = makeTrainer()
        try t.fit(blobs, epochs: 1)
        let metadata = Dictionary(uniqueKeysWithValues: "qwertyuiopas".map { ("key\($0)", "value \($0)") })
        let bytes = try Checkpoint(trainer: t, metadata: metadata).encode()
        let jsonLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        let json = Data(bytes[12..<(12 + jsonLength)])
        let object = try JSONSerialization.jsonObject(with: json)
        let sorted = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        // Compare the key sequences (number formatting may differ between the two encoders).
        func keys(_ data: Data) throws -> [String] {
            let text = String(decoding: data, as: UTF8.self)
            let regex = try NSRegularExpression(pattern: "\"([A-Za-z0-9_]+)\":")
            return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map {
                String(text[Range($0.range(at: 1), in: text)!])
            }
        }
        let written = try keys(json)
        XCTAssertTrue(written.contains("keys"), "metadata keys missing from the header: \(written)")
        XCTAssertEqual(written, try keys(sorted))
    }

    func testCheckpointParserRejectsDamage() throws {
        let t = makeTrainer()
        try t.fit(blobs, epochs: 1)
        let bytes = try Checkpoint(trainer: t).encode()
        for cut in stride(from: 0, to: bytes.count, by: Swift.max(1, bytes.count / 300)) {
            XCTAssertThrowsError(try Checkpoint.decode(Array(bytes[0..<cut]), path: "c.ckpt"), "truncated at \(cut)")
        }
        for i in stride(from: 0, to: bytes.count, by: Swift.max(1, bytes.count / 300)) {
            var b = bytes
            b[i] ^= 0x01
            XCTAssertThrowsError(try Checkpoint.decode(b, path: "c.ckpt"), "byte \(i) flipped")
        }
        XCTAssertThrowsError(try Checkpoint.decode(Array("MYCKxxxxxxxxxxxx".utf8), path: "c.ckpt")) {
            XCTAssertEqual("\($0)", "c.ckpt: checksum mismatch (file is corrupt or truncated)")
        }
        XCTAssertNoThrow(try Checkpoint.decode(bytes, path: "c.ckpt"))
    }

    func testEvaluationConfusionMatrixAndPerClassAccuracy() {
        // A fixed "model": the identity on 3-class one-hot-ish logits.
        let inputs = Tensor([[5, 0, 0], [0, 5, 0], [0, 5, 0], [0, 0, 5], [5, 0, 0]])
        let data = Dataset(inputs: inputs, labels: [0, 1, 0, 2, 2], classNames: ["a", "b", "c"])
        let e = evaluate(Identity(), on: data, batchSize: 2)
        XCTAssertEqual(e.confusion, [[1, 1, 0], [0, 1, 0], [1, 0, 1]])
        XCTAssertEqual(e.accuracy!, 0.6, accuracy: 1e-12)
        XCTAssertEqual(e.perClassAccuracy, [0.5, 1, 0.5])
        XCTAssertTrue(e.report.contains("accuracy 60.00%"))
        XCTAssertGreaterThan(e.loss, 0)
    }

    func testSVGPlotsAreWellFormed() throws {
        let t = makeTrainer()
        try t.fit(blobs, validation: blobs, epochs: 3)
        let curves = SVGPlot.trainingCurves(t.history)
        let matrix = SVGPlot.confusionMatrix([[3, 1], [0, 4]], classNames: ["a<b", "c&d"])
        for svg in [curves, matrix] {
            let parser = XMLParser(data: Data(svg.utf8))
            XCTAssertTrue(parser.parse(), "SVG must be well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")")
        }
        XCTAssertEqual(curves.components(separatedBy: "<polyline").count - 1, 4, "train and validation loss and accuracy")
        XCTAssertEqual(matrix.components(separatedBy: "<rect x=").count - 1, 4)
        XCTAssertTrue(matrix.contains("a&lt;b"))
    }

    /// Axis ticks are 1, 2 or 5 × 10^k apart, cover the data, and print without noise digits.
    func testPlotTicksAreRound() {
        for (lo, hi) in [(0.488, 0.546), (0.0123, 2.7), (55.5, 99.2), (1.0, 30.0), (0.3, 0.3), (-3.2, 7.9), (1e-5, 4e-5)] {
            let ticks = SVGPlot.ticks(lo, hi)
            XCTAssertGreaterThanOrEqual(ticks.count, 3, "\(lo)…\(hi): \(ticks)")
            XCTAssertLessThanOrEqual(ticks.count, 7, "\(lo)…\(hi): \(ticks)")
            XCTAssertLessThanOrEqual(ticks.first!, lo)
            XCTAssertGreaterThanOrEqual(ticks.last!, hi)
            let step = ticks[1] - ticks[0]
            let mantissa = step / Foundation.pow(10, Foundation.floor(Foundation.log10(step) + 1e-9))
            XCTAssertTrue([1, 2, 5].contains { Swift.abs(mantissa - $0) < 1e-6 }, "\(lo)…\(hi): step \(step)")
            for t in ticks {
                XCTAssertEqual((t / step).rounded() * step, t, accuracy: step * 1e-9, "\(t) is a multiple of \(step)")
                XCTAssertLessThanOrEqual(SVGPlot.tickLabel(t, step: step).count, 8, SVGPlot.tickLabel(t, step: step))
            }
        }
        XCTAssertEqual(SVGPlot.ticks(0.488, 0.546), [0.48, 0.5, 0.52, 0.54, 0.56])
        XCTAssertEqual(SVGPlot.ticks(0.488, 0.546).map { SVGPlot.tickLabel($0, step: 0.02) }, ["0.48", "0.50", "0.52", "0.54", "0.56"])
        XCTAssertEqual(SVGPlot.ticks(1, 3, count: 8, minimumStep: 1), [1, 2, 3], "epochs get whole-number ticks")
        XCTAssertEqual(SVGPlot.ticks(1, 40, count: 8, minimumStep: 1), [0, 5, 10, 15, 20, 25, 30, 35, 40])
    }

    /// The legend sits outside both plot areas, and every data point inside its panel.
    func testPlotLegendDoesNotCoverTheCurves() throws {
        let t = makeTrainer()
        try t.fit(blobs, validation: blobs, epochs: 5)
        let svg = SVGPlot.trainingCurves(t.history)
        final class Rects: NSObject, XMLParserDelegate {
            var byClass: [String: [CGRect]] = [:]
            var circles: [CGPoint] = []
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                        attributes a: [String: String] = [:]) {
                func d(_ k: String) -> Double { Double(a[k] ?? "") ?? .nan }
                if name == "rect", let c = a["class"] { byClass[c, default: []].append(CGRect(x: d("x"), y: d("y"), width: d("width"), height: d("height"))) }
                if name == "circle" { circles.append(CGPoint(x: d("cx"), y: d("cy"))) }
            }
        }
        let rects = Rects()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = rects
        XCTAssertTrue(parser.parse())
        let areas = try XCTUnwrap(rects.byClass["plot-area"])
        let legend = try XCTUnwrap(rects.byClass["legend"]?.first, "a legend box")
        XCTAssertEqual(areas.count, 2)
        for area in areas { XCTAssertFalse(area.intersects(legend), "legend \(legend) overlaps plot area \(area)") }
        XCTAssertEqual(rects.circles.count, 20, "4 series × 5 epochs")
        for p in rects.circles {
            XCTAssertTrue(areas.contains { $0.insetBy(dx: -0.1, dy: -0.1).contains(p) }, "point \(p) outside the plot areas")
        }
    }

    /// Columns of the search table line up under their headers.
    func testSearchTableIsAligned() {
        let results = [TrialResult(config: TrialConfig(learningRate: 0.001, batchSize: 32, hidden: [256, 128], weightDecay: 0.0001),
                                   validationLoss: 0.31234, validationAccuracy: 0.8912),
                       TrialResult(config: TrialConfig(learningRate: 0.05, batchSize: 128, hidden: [8], weightDecay: 0),
                                   validationLoss: 12.5, validationAccuracy: 0.075)]
        let lines = searchTable(results).split(separator: "\n").map { Array($0) }
        XCTAssertEqual(lines.count, 3)
        let header = lines[0]
        let starts = header.indices.filter { $0 == 0 || (header[$0] != " " && header[$0 - 1] == " ") }
        XCTAssertEqual(starts.count, 7)
        for line in lines.dropFirst() {
            for column in starts {
                XCTAssertTrue(column < line.count && line[column] != " " && (column == 0 || line[column - 1] == " "),
                              "a cell must start under its header at \(column):\n\(String(header))\n\(String(line))")
            }
        }
        XCTAssertEqual(String(lines[1]).split(separator: " ", omittingEmptySubsequences: true),
                       ["1", "89.12%", "0.3123", "0.001", "32", "256,128", "0.0001"])
    }

    /// After a resume, early stopping counts from the history: it stops at the same epoch as
    /// an uninterrupted run.
    func testEarlyStoppingResumesItsCount() throws {
        let (train, val) = blobs.split(fraction: 0.1, generator: Generator(seed: 5))
        let full = makeTrainer(lr: 0.05)
        let early = EarlyStopping(patience: 2)
        full.callbacks = [early]
        try full.fit(train, validation: val, epochs: 200)
        let stopped = try XCTUnwrap(early.stoppedEpoch)
        XCTAssertEqual(early.restoredEpoch, early.bestEpoch)

        let first = makeTrainer(lr: 0.05)
        try first.fit(train, validation: val, epochs: early.bestEpoch + 1)
        let resumed = makeTrainer(lr: 0.05)
        try Checkpoint(trainer: first).restore(into: resumed)
        let resumedEarly = EarlyStopping(patience: 2)
        resumed.callbacks = [resumedEarly]
        try resumed.fit(train, validation: val, epochs: 200)
        XCTAssertEqual(resumedEarly.stoppedEpoch, stopped)
        XCTAssertEqual(resumedEarly.bestEpoch, early.bestEpoch)
        XCTAssertNil(resumedEarly.restoredEpoch, "the best weights were trained before the resume")
    }

    func testScheduleSpecBuildsSchedulers() {
        let opt = SGD([], lr: 0.1)
        XCTAssertNil(ScheduleSpec(kind: .none).make(opt, epochs: 4))
        XCTAssertEqual(ScheduleSpec(kind: .step, stepSize: 2, gamma: 0.5).make(opt, epochs: 4)?.learningRate(epoch: 2), 0.05)
        XCTAssertEqual(ScheduleSpec(kind: .exponential, gamma: 0.5).make(opt, epochs: 4)?.learningRate(epoch: 2), 0.025)
        XCTAssertEqual(ScheduleSpec(kind: .cosine, minLearningRate: 0.02).make(opt, epochs: 4)!.learningRate(epoch: 4), 0.02, accuracy: 1e-7)
        XCTAssertEqual(ScheduleSpec(kind: .cosine).description(epochs: 5), "cosine schedule over 5 epochs to lr 0")
        XCTAssertEqual(ScheduleSpec(kind: .step, stepSize: 3, gamma: 0.3).description(epochs: 9), "step schedule (×0.3 every 3 epochs)")
        XCTAssertEqual(OptimizerSpec.defaultWeightDecay(.adamw), 0.01)
        XCTAssertEqual(OptimizerSpec.defaultWeightDecay(.adam), 0)
    }

    func testModelSummary() {
        let s = modelSummary(MLPSpec(inputs: 784, hidden: [256], outputs: 10, dropout: 0.2, batchNorm: true).build(generator: Generator(seed: 0)),
                             inputShape: [784])
        let row = s.split(separator: "\n").first { $0.hasPrefix("Linear(in: 784, out: 256)") }.map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        XCTAssertEqual(row, "Linear(in: 784, out: 256) [batch, 256] 200960 0.401", s)   // 2 · 784 · 256 FLOPs
        XCTAssertTrue(s.contains("BatchNorm1d(256, eps: 1e-05, momentum: 0.1)"))
        XCTAssertTrue(s.contains("Total parameters: \(200960 + 512 + 2570)"))
    }

    func testSearchGridRandomAndRanking() throws {
        let space = SearchSpace(learningRates: [0.001, 0.05], batchSizes: [8, 32], hiddenLayers: [[4], [16]], weightDecays: [0])
        XCTAssertEqual(space.grid.count, 8)
        let r = space.random(count: 3, generator: Generator(seed: 1))
        XCTAssertEqual(Set(r.map { $0.description }).count, 3)
        let (train, val) = blobs.split(fraction: 0.25, stratified: true, generator: Generator(seed: 3))
        let results = try hyperparameterSearch(space.grid) { c in
            let g = Generator(seed: 0)
            let model = MLPSpec(inputs: 2, hidden: c.hidden, outputs: 2).build(generator: g)
            let trainer = Trainer(model: model, optimizer: Adam(model.parameters(), lr: c.learningRate), batchSize: c.batchSize, generator: g)
            try trainer.fit(train, epochs: 2)
            return evaluate(model, on: val)
        }
        XCTAssertEqual(results.count, 8)
        for (a, b) in zip(results, results.dropFirst()) { XCTAssertGreaterThanOrEqual(a.validationAccuracy, b.validationAccuracy) }
        XCTAssertEqual(results[0].config.learningRate, 0.05, "a higher rate wins in 2 epochs")
        XCTAssertTrue(searchTable(results).hasPrefix("rank  val_acc"))
    }

    func testEnsembleAveragesProbabilities() throws {
        let g = Generator(seed: 4)
        let ensemble = try bagging(count: 3, train: blobs, generator: g, makeModel: { _ in
            MLPSpec(inputs: 2, hidden: [8], outputs: 2).build(generator: g)
        }, fit: { model, sample in
            XCTAssertEqual(sample.count, self.blobs.count)
            try Trainer(model: model, optimizer: Adam(model.parameters(), lr: 0.02), batchSize: 16, generator: g).fit(sample, epochs: 10)
        })
        let x = blobs.inputs.rows(0..<5)
        let manual = ensemble.members.map { m in noGrad { m(x).softmax() } }
        let expected = (manual[0] + manual[1] + manual[2]) / 3
        assertClose(ensemble.probabilities(x).data, expected.data, atol: 1e-6)
        XCTAssertGreaterThan(ensemble.accuracy(on: blobs), 0.9)
    }

    /// A final batch of one sample cannot be batch-normalised; the trainer skips it.
    func testBatchNormSkipsAFinalBatchOfOne() throws {
        let data = blobs.subset(Array(0..<33))           // 33 = 2·16 + 1
        let g = Generator(seed: 1)
        let model = MLPSpec(inputs: 2, hidden: [8], outputs: 2, batchNorm: true).build(generator: g)
        let trainer = Trainer(model: model, optimizer: Adam(model.parameters(), lr: 0.01), batchSize: 16, generator: g)
        final class Counter: Callback {
            var samples = 0
            func batchDidEnd(_ trainer: Trainer, batch: Int, batches: Int, samples n: Int, loss: Float) { samples += n }
        }
        let counter = Counter()
        trainer.callbacks = [counter]
        try trainer.fit(data, epochs: 2)
        XCTAssertEqual(counter.samples, 64, "two epochs of 32 samples; the single leftover sample is skipped")
        XCTAssertTrue(trainer.history.allSatisfy { $0.trainLoss.isFinite })
    }
}
