import XCTest
@testable import Myelin

/// Issue 9: a training run whose loss turns NaN or infinite stops with an error naming the
/// epoch and batch — for convolutional and recurrent models too (the MLP case is in
/// TrainingTests). Each model first trains an epoch with finite losses (so the check does
/// not fire spuriously), then a weight is set to NaN or infinity and the next epoch must
/// stop at its first batch; and a learning rate far too high must stop a run on its own.
final class NaNStopTests: XCTestCase {
    /// 48 images [1, 8, 8] in 3 classes (a bright quadrant per class) → small CNN.
    static func cnn(seed: UInt64) -> (model: Sequential, data: Dataset) {
        let g = Generator(seed: seed)
        let model = Sequential(Conv2d(1, 4, kernelSize: 3, generator: g), BatchNorm2d(4), ReLU(), MaxPool2d(kernelSize: 2),
                               Flatten(), Linear(4 * 3 * 3, 3, generator: g))
        let x = Tensor.uniform([48, 1, 8, 8], low: 0, high: 0.5, generator: Generator(seed: seed + 1))
        let labels = (0..<48).map { $0 % 3 }
        for i in 0..<48 {
            let (r0, c0) = [(0, 0), (0, 4), (4, 0)][labels[i]]
            for r in r0..<(r0 + 4) { for c in c0..<(c0 + 4) { x.data[i * 64 + r * 8 + c] += 1 } }
        }
        return (model, Dataset(inputs: x, labels: labels))
    }

    /// 48 sequences [6 steps, 4 features] in 2 classes (the sign of feature 0's mean) → an
    /// LSTM or GRU whose last state feeds a linear classifier.
    static func rnn(gru: Bool, seed: UInt64) -> (model: Sequential, data: Dataset) {
        let g = Generator(seed: seed)
        let encoder: any SequenceEncoder = gru ? GRU(4, 8, batchFirst: true, generator: g) : LSTM(4, 8, batchFirst: true, generator: g)
        let model = Sequential(LastStep(encoder, sequenceShape: [6, 4]), Linear(8, 2, generator: g))
        let x = Tensor.uniform([48, 24], low: -1, high: 1, generator: Generator(seed: seed + 1))
        let labels = (0..<48).map { $0 % 2 }
        for i in 0..<48 { for t in 0..<6 { x.data[i * 24 + t * 4] += labels[i] == 0 ? -0.5 : 0.5 } }
        return (model, Dataset(inputs: x, labels: labels))
    }

    func models() -> [(name: String, make: () -> (model: Sequential, data: Dataset))] {
        [("CNN", { Self.cnn(seed: 3) }), ("LSTM", { Self.rnn(gru: false, seed: 5) }), ("GRU", { Self.rnn(gru: true, seed: 7) })]
    }

    func assertDiverged(_ run: () throws -> Void, epoch expectedEpoch: Int?, batch expectedBatch: Int?, _ name: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try run(), name, file: file, line: line) { error in
            guard case let TrainingError.diverged(epoch, batch, loss) = error else {
                return XCTFail("\(name): \(error)", file: file, line: line)
            }
            XCTAssertFalse(loss.isFinite, name, file: file, line: line)
            if let e = expectedEpoch { XCTAssertEqual(epoch, e, name, file: file, line: line) }
            if let b = expectedBatch { XCTAssertEqual(batch, b, name, file: file, line: line) }
            XCTAssertTrue("\(error)".contains("epoch \(epoch), batch \(batch)"), "\(name): \(error)", file: file, line: line)
        }
    }

    func testNaNOrInfiniteWeightStopsTheNextEpochAtItsFirstBatch() throws {
        for (name, make) in models() {
            for poison in [Float.nan, Float.infinity] {
                let (model, data) = make()
                let trainer = Trainer(model: model, optimizer: Adam(model.parameters(), lr: 1e-2), batchSize: 16,
                                      generator: Generator(seed: 9))
                let history = try trainer.fit(data, epochs: 1)
                XCTAssertEqual(history.count, 1, name)
                XCTAssertTrue(history[0].trainLoss.isFinite, name)
                // The classifier's first weight: every sample's logits become non-finite.
                let classifier = model.parameters()[model.parameters().count - 2]
                for i in 0..<classifier.count { classifier.data[i] = poison }
                assertDiverged({ try trainer.fit(data, epochs: 3) }, epoch: 2, batch: 1, "\(name) \(poison)")
            }
        }
    }

    func testTooHighLearningRateStopsTheRun() {
        for (name, make) in models() {
            let (model, data) = make()
            let trainer = Trainer(model: model, optimizer: SGD(model.parameters(), lr: 1e38), batchSize: 8, generator: Generator(seed: 9))
            assertDiverged({ try trainer.fit(data, epochs: 5) }, epoch: nil, batch: nil, name)
        }
    }
}
