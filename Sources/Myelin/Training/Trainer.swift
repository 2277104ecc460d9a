import Foundation

/// One row of training history.
public struct EpochRecord: Codable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double?
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    public var learningRate: Double
    public var seconds: Double
}

/// Errors that stop training.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// The loss became NaN or infinite.
    case diverged(epoch: Int, batch: Int, loss: Float)
    /// A loss or logged metric of a `StepTrainer` became NaN or infinite (batch 0: in validation).
    case nonFinite(metric: String, value: Double, epoch: Int, batch: Int)

    public var description: String {
        switch self {
        case let .diverged(epoch, batch, loss):
            return "training diverged: loss is \(loss) at epoch \(epoch), batch \(batch); lower the learning rate or clip gradients"
        case let .nonFinite(metric, value, epoch, batch):
            let place = batch == 0 ? "in validation after epoch \(epoch)" : "at epoch \(epoch), batch \(batch)"
            return "training diverged: \(metric) is \(value) \(place); lower the learning rate or clip gradients"
        }
    }
}

/// Hooks into the training loop (Keras-style callbacks). All methods have empty defaults.
public protocol Callback: AnyObject {
    func trainingWillBegin(_ trainer: Trainer, epochs: Int)
    func epochWillBegin(_ trainer: Trainer, epoch: Int, batches: Int)
    /// After each optimisation step; `loss` is the batch's mean loss.
    func batchDidEnd(_ trainer: Trainer, batch: Int, batches: Int, samples: Int, loss: Float)
    func epochDidEnd(_ trainer: Trainer, record: EpochRecord)
    func trainingDidEnd(_ trainer: Trainer)
}

extension Callback {
    public func trainingWillBegin(_ trainer: Trainer, epochs: Int) {}
    public func epochWillBegin(_ trainer: Trainer, epoch: Int, batches: Int) {}
    public func batchDidEnd(_ trainer: Trainer, batch: Int, batches: Int, samples: Int, loss: Float) {}
    public func epochDidEnd(_ trainer: Trainer, record: EpochRecord) {}
    public func trainingDidEnd(_ trainer: Trainer) {}
}

/// The training loop: mini-batch gradient descent with validation, a learning-rate
/// schedule, gradient clipping and callbacks; `fit` can be called again after a resume
/// and continues from the epoch it reached.
///
/// ```swift
/// let trainer = Trainer(model: model, optimizer: Adam(model.parameters()), generator: Generator(seed: 0))
/// trainer.callbacks = [ProgressLogger(), CSVLogger(path: "history.csv")]
/// try trainer.fit(train, validation: val, epochs: 10)
/// print(evaluate(model, on: test).report)
/// ```
public final class Trainer {
    public let model: any Layer
    public let optimizer: Optimizer
    public let loss: TrainingLoss
    public var scheduler: (any LRScheduler)?
    public var callbacks: [any Callback] = []
    /// Clip gradients to this global L2 norm before each step (nil: no clipping).
    public var gradientClipNorm: Float?
    /// Samples per mini-batch.
    public var batchSize: Int
    /// Source of the per-epoch shuffles (share it with Dropout layers so one state restores all).
    public let generator: Generator
    /// Completed epochs.
    public internal(set) var epoch = 0
    public internal(set) var history: [EpochRecord] = []
    /// Set by a callback (e.g. early stopping) to end training after the current epoch.
    public var stopRequested = false
    /// Applied to each training batch's inputs (e.g. random crops and flips), drawing from
    /// `generator`, so a resumed run sees the same augmented batches.
    public var augmentation: Augmentation?

    public init(model: any Layer, optimizer: Optimizer, loss: TrainingLoss = .crossEntropy,
                batchSize: Int = 64, generator: Generator) {
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.batchSize = batchSize
        self.generator = generator
    }

    /// Trains until `epochs` epochs have been completed in total (so after resuming at
    /// epoch k it runs epochs k+1…epochs). Returns the full history.
    @discardableResult
    public func fit(_ train: Dataset, validation: Dataset? = nil, epochs: Int) throws -> [EpochRecord] {
        check(train.count > 0, "fit: the training set is empty")
        let loader = DataLoader(train, batchSize: batchSize, shuffle: true, generator: generator)
        let hasBatchNorm = containsBatchNorm(model)
        stopRequested = false
        for c in callbacks { c.trainingWillBegin(self, epochs: epochs) }
        while epoch < epochs && !stopRequested {
            let current = epoch + 1
            let start = DispatchTime.now().uptimeNanoseconds
            for c in callbacks { c.epochWillBegin(self, epoch: current, batches: loader.batchCount) }
            model.train()
            var lossSum = 0.0, correct = 0, seen = 0
            for (b, batch) in loader.epoch().enumerated() {
                // Batch statistics of a single sample are undefined: a final batch of one is skipped.
                if batch.inputs.shape[0] == 1 && hasBatchNorm && loader.batchSize > 1 { continue }
                optimizer.zeroGrad()
                let inputs = augmentation.map { $0(batch.inputs, generator: generator) } ?? batch.inputs
                let output = model(inputs)
                let value = loss(output, batch)
                guard value.item.isFinite else { throw TrainingError.diverged(epoch: current, batch: b + 1, loss: value.item) }
                value.backward()
                if let maxNorm = gradientClipNorm { clipGradNorm(optimizer.parameters, maxNorm: maxNorm) }
                optimizer.step()
                let n = batch.inputs.shape[0]
                lossSum += Double(value.item) * Double(n)
                seen += n
                if let p = loss.predictions(output) { correct += zip(p, batch.labels).filter { $0 == $1 }.count }
                for c in callbacks { c.batchDidEnd(self, batch: b + 1, batches: loader.batchCount, samples: n, loss: value.item) }
            }
            var record = EpochRecord(epoch: current, trainLoss: lossSum / Double(seen),
                                     trainAccuracy: train.isClassification ? Double(correct) / Double(seen) : nil,
                                     validationLoss: nil, validationAccuracy: nil,
                                     learningRate: Double(optimizer.learningRate), seconds: 0)
            if let v = validation {
                let e = evaluate(model, on: v, loss: loss)
                record.validationLoss = e.loss
                record.validationAccuracy = e.accuracy
            }
            record.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            epoch = current
            scheduler?.step()
            history.append(record)
            for c in callbacks { c.epochDidEnd(self, record: record) }
        }
        for c in callbacks { c.trainingDidEnd(self) }
        return history
    }

    func containsBatchNorm(_ m: any Module) -> Bool {
        m is BatchNorm1d || m is BatchNorm2d || m.children.contains { containsBatchNorm($0.1) }
    }

    /// Restores epoch, history, RNG and scheduler position (used by `Checkpoint.restore`).
    func restoreProgress(epoch: Int, history: [EpochRecord]) {
        self.epoch = epoch
        self.history = history
        if let s = scheduler {
            s.epoch = epoch
            optimizer.learningRate = s.learningRate(epoch: epoch)
        }
    }
}
