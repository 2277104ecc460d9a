import Foundation

// A training loop around a user-defined step, for models that are not one classifier with one
// loss: autoencoders (reconstruction), VAEs (several loss terms), GANs (two networks, two
// optimizers, alternating updates). It keeps what `Trainer` gives a classifier: progress bar,
// history CSV, SVG curves of every logged metric, checkpoints with exact resume of every
// model and optimizer, early stopping on a monitored metric, and a clear stop on NaN/inf.

/// One epoch of a `StepTrainer`'s history: the mean of every metric the step logged
/// (weighted by batch size) and of every validation metric, in the order first logged.
public struct MetricRecord: Codable, Equatable {
    public var epoch: Int
    public var names: [String]
    public var values: [Double]
    public var seconds: Double

    public init(epoch: Int, names: [String], values: [Double], seconds: Double) {
        check(names.count == values.count, "MetricRecord: \(names.count) names for \(values.count) values")
        self.epoch = epoch
        self.names = names
        self.values = values
        self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey { case epoch, names, values, seconds }

    /// Decodes a record and checks it: as many values as names (a checkpoint's history is input).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epoch = try c.decode(Int.self, forKey: .epoch)
        names = try c.decode([String].self, forKey: .names)
        values = try c.decode([Double].self, forKey: .values)
        seconds = try c.decode(Double.self, forKey: .seconds)
        guard names.count == values.count else {
            throw DecodingError.dataCorruptedError(forKey: .values, in: c, debugDescription: "\(names.count) metric names for \(values.count) values")
        }
    }

    /// The value of metric `name` (nil if not logged this epoch).
    public subscript(name: String) -> Double? { names.firstIndex(of: name).map { values[$0] } }
}

/// What a step sees besides its batch: the trainer's random generator (draw noise and latent
/// codes from it, so a resumed run draws the same), the position, and `minimize`, which
/// refuses a NaN/inf loss before any parameter changes.
public final class StepContext {
    /// The trainer's generator (its state is saved in checkpoints).
    public let generator: Generator
    /// 1-based epoch and batch being trained.
    public let epoch: Int
    public internal(set) var batch: Int
    /// Gradients are clipped to this global L2 norm before each `minimize` step (nil: no clipping).
    public let gradientClipNorm: Float?

    init(generator: Generator, epoch: Int, batch: Int, gradientClipNorm: Float?) {
        self.generator = generator
        self.epoch = epoch
        self.batch = batch
        self.gradientClipNorm = gradientClipNorm
    }

    /// One gradient step of `optimizer` on `loss` (a scalar): clears the optimizer's
    /// gradients, back-propagates, clips, steps.
    /// - Throws: `TrainingError.nonFinite` naming `metric`, the epoch and the batch when the
    ///   loss is NaN or infinite; no parameter has changed then.
    public func minimize(_ loss: Tensor, with optimizer: Optimizer, metric: String = "loss") throws {
        check(loss.count == 1, "StepContext.minimize: the loss must be a scalar, got shape \(loss.shape)")
        guard loss.item.isFinite else {
            throw TrainingError.nonFinite(metric: metric, value: Double(loss.item), epoch: epoch, batch: batch)
        }
        optimizer.zeroGrad()
        loss.backward()
        if let maxNorm = gradientClipNorm { clipGradNorm(optimizer.parameters, maxNorm: maxNorm) }
        optimizer.step()
    }
}

/// Hooks into `StepTrainer.fit`; all methods have empty defaults.
public protocol StepCallback: AnyObject {
    func trainingWillBegin(_ trainer: StepTrainer, epochs: Int)
    func epochWillBegin(_ trainer: StepTrainer, epoch: Int, batches: Int)
    func batchDidEnd(_ trainer: StepTrainer, batch: Int, batches: Int, samples: Int, metrics: [(String, Double)])
    func epochDidEnd(_ trainer: StepTrainer, record: MetricRecord)
    func trainingDidEnd(_ trainer: StepTrainer)
}

extension StepCallback {
    public func trainingWillBegin(_ trainer: StepTrainer, epochs: Int) {}
    public func epochWillBegin(_ trainer: StepTrainer, epoch: Int, batches: Int) {}
    public func batchDidEnd(_ trainer: StepTrainer, batch: Int, batches: Int, samples: Int, metrics: [(String, Double)]) {}
    public func epochDidEnd(_ trainer: StepTrainer, record: MetricRecord) {}
    public func trainingDidEnd(_ trainer: StepTrainer) {}
}

/// Mini-batch training with a step written by the user: named models and optimizers (all
/// saved and restored by `Checkpoint`), shuffling and every random draw from `generator`,
/// per-epoch validation metrics, callbacks. `fit` can be called again after a resume and
/// continues from the epoch it reached.
///
/// ```swift
/// let ae = ConvAutoencoder(generator: g)
/// let opt = Adam(ae.parameters())
/// let trainer = StepTrainer(models: [("autoencoder", ae)], optimizers: [("adam", opt)],
///                           batchSize: 64, generator: g) { batch, context in
///     let loss = mseLoss(ae(batch.inputs), batch.inputs)
///     try context.minimize(loss, with: opt, metric: "mse")
///     return [("mse", Double(loss.item))]
/// }
/// trainer.validate = { _ in [("val_mse", reconstructionMSE(ae, on: validation))] }
/// trainer.callbacks = [StepProgressLogger(), MetricCSVLogger(path: "history.csv")]
/// try trainer.fit(train, epochs: 10)
/// ```
public final class StepTrainer {
    /// One training step on a batch; returns the metrics to log (e.g. losses).
    public typealias Step = (DataLoader.Batch, StepContext) throws -> [(String, Double)]

    public let models: [(String, any Module)]
    public let optimizers: [(String, Optimizer)]
    public let step: Step
    public let generator: Generator
    public var batchSize: Int
    /// Skip the final incomplete batch (default: true, so BatchNorm never sees a batch of one).
    public var dropLast = true
    public var gradientClipNorm: Float?
    public var callbacks: [any StepCallback] = []
    /// Computed after each epoch's training (models in evaluation mode); its metrics join the record.
    public var validate: ((StepTrainer) throws -> [(String, Double)])?
    /// Completed epochs.
    public internal(set) var epoch = 0
    public internal(set) var history: [MetricRecord] = []
    /// Set by a callback (e.g. early stopping) to end training after the current epoch.
    public var stopRequested = false

    public init(models: [(String, any Module)], optimizers: [(String, Optimizer)], batchSize: Int = 64,
                generator: Generator, step: @escaping Step) {
        check(!models.isEmpty, "StepTrainer: no models given")
        check(batchSize >= 1, "StepTrainer: batch size must be positive, got \(batchSize)")
        for names in [models.map { $0.0 }, optimizers.map { $0.0 }] {
            check(Set(names).count == names.count && !names.contains { $0.isEmpty || $0.contains(".") },
                  "StepTrainer: names must be unique, non-empty and without dots, got \(names)")
        }
        self.models = models
        self.optimizers = optimizers
        self.batchSize = batchSize
        self.generator = generator
        self.step = step
    }

    /// The model named `name`.
    public func model(_ name: String) -> (any Module)? { models.first { $0.0 == name }?.1 }

    /// Trains until `epochs` epochs are complete in total. Returns the full history.
    /// - Throws: `TrainingError.nonFinite` when a loss or logged metric becomes NaN or infinite.
    @discardableResult
    public func fit(_ train: Dataset, epochs: Int) throws -> [MetricRecord] {
        check(train.count > 0, "StepTrainer.fit: the training set is empty")
        check(!dropLast || train.count >= batchSize,
              "StepTrainer.fit: \(train.count) training samples make no full batch of \(batchSize) (set dropLast = false)")
        let loader = DataLoader(train, batchSize: batchSize, shuffle: true, dropLast: dropLast, generator: generator)
        stopRequested = false
        for c in callbacks { c.trainingWillBegin(self, epochs: epochs) }
        while epoch < epochs && !stopRequested {
            let current = epoch + 1
            let start = DispatchTime.now().uptimeNanoseconds
            for c in callbacks { c.epochWillBegin(self, epoch: current, batches: loader.batchCount) }
            for (_, m) in models { m.train() }
            var names: [String] = [], sums: [Double] = [], seen = 0
            let context = StepContext(generator: generator, epoch: current, batch: 0, gradientClipNorm: gradientClipNorm)
            for (b, batch) in loader.epoch().enumerated() {
                context.batch = b + 1
                let metrics = try step(batch, context)
                let n = batch.inputs.shape[0]
                for (name, value) in metrics {
                    guard value.isFinite else { throw TrainingError.nonFinite(metric: name, value: value, epoch: current, batch: b + 1) }
                    if let i = names.firstIndex(of: name) { sums[i] += value * Double(n) } else {
                        names.append(name)
                        sums.append(value * Double(n))
                    }
                }
                seen += n
                for c in callbacks { c.batchDidEnd(self, batch: b + 1, batches: loader.batchCount, samples: n, metrics: metrics) }
            }
            var values = sums.map { $0 / Double(Swift.max(seen, 1)) }
            if let v = validate {
                for (_, m) in models { m.eval() }
                for (name, value) in try v(self) {
                    guard value.isFinite else { throw TrainingError.nonFinite(metric: name, value: value, epoch: current, batch: 0) }
                    names.append(name)
                    values.append(value)
                }
                for (_, m) in models { m.train() }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let record = MetricRecord(epoch: current, names: names, values: values, seconds: seconds)
            epoch = current
            history.append(record)
            for c in callbacks { c.epochDidEnd(self, record: record) }
        }
        for c in callbacks { c.trainingDidEnd(self) }
        for (_, m) in models { m.eval() }
        return history
    }

    /// Every model's state under `modelName.` prefixes.
    public func modelsState() -> StateDict {
        StateDict(models.flatMap { name, m in m.stateDict().entries.map { ("\(name).\($0.0)", $0.1) } })
    }

    /// Every optimizer's state under `optimizerName.` prefixes.
    public func optimizersState() -> StateDict {
        StateDict(optimizers.flatMap { name, o in o.stateDict().entries.map { ("\(name).\($0.0)", $0.1) } })
    }

    /// Loads `modelsState()`-shaped state: every model must find its keys, and no key may be left over.
    public func loadModelsState(_ state: StateDict) throws {
        try Self.distribute(state, to: models, kind: "model") { m in { try m.loadStateDict($0) } }
    }

    func loadOptimizersState(_ state: StateDict) throws {
        try Self.distribute(state, to: optimizers, kind: "optimizer") { o in { try o.loadStateDict($0) } }
    }

    static func distribute<T>(_ state: StateDict, to targets: [(String, T)], kind: String,
                              load: (T) -> (StateDict) throws -> Void) throws {
        var claimed = 0
        for (name, target) in targets {
            let prefix = name + "."
            let part = state.entries.filter { $0.0.hasPrefix(prefix) }.map { (String($0.0.dropFirst(prefix.count)), $0.1) }
            claimed += part.count
            do { try load(target)(StateDict(part)) } catch { throw MyelinError.stateDict("\(kind) \"\(name)\": \(error)") }
        }
        if claimed != state.entries.count {
            let names = Set(targets.map { $0.0 + "." })
            let stray = state.names.first { key in !names.contains { key.hasPrefix($0) } } ?? "?"
            throw MyelinError.stateDict("\(kind) state has key \"\(stray)\" that belongs to none of \(targets.map { $0.0 })")
        }
    }

    /// Restores epoch and history (used by `Checkpoint.restore(into:)`).
    func restoreProgress(epoch: Int, history: [MetricRecord]) {
        self.epoch = epoch
        self.history = history
    }
}

// MARK: - Callbacks

/// Progress of a `StepTrainer`: a live bar on a terminal, one summary line per epoch.
public final class StepProgressLogger: StepCallback {
    let interactive: Bool
    let output: (String) -> Void
    var epochs = 0, epochStart: UInt64 = 0, lastDraw: UInt64 = 0, samples = 0
    var names: [String] = [], sums: [Double] = []

    public init(interactive: Bool = isatty(STDOUT_FILENO) != 0, output: @escaping (String) -> Void = { print($0); fflush(stdout) }) {
        self.interactive = interactive
        self.output = output
    }

    public func trainingWillBegin(_ trainer: StepTrainer, epochs: Int) { self.epochs = epochs }

    public func epochWillBegin(_ trainer: StepTrainer, epoch: Int, batches: Int) {
        epochStart = DispatchTime.now().uptimeNanoseconds
        samples = 0
        names = []
        sums = []
    }

    public func batchDidEnd(_ trainer: StepTrainer, batch: Int, batches: Int, samples n: Int, metrics: [(String, Double)]) {
        samples += n
        for (name, v) in metrics {
            if let i = names.firstIndex(of: name) { sums[i] += v * Double(n) } else { names.append(name); sums.append(v * Double(n)) }
        }
        guard interactive else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastDraw > 100_000_000 || batch == batches else { return }
        lastDraw = now
        let elapsed = Double(now - epochStart) / 1e9
        let eta = elapsed / Double(batch) * Double(batches - batch)
        let width = 24, filled = width * batch / Swift.max(batches, 1)
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: Swift.max(0, width - filled - 1))
        var line = String(format: "\rEpoch %d/%d [%@] %d/%d", trainer.epoch + 1, epochs, bar, batch, batches)
        for (name, s) in zip(names, sums) { line += String(format: " %@ %.4f", name, s / Double(samples)) }
        line += String(format: " %.0f samples/s ETA %.0fs  ", Double(samples) / Swift.max(elapsed, 1e-9), eta)
        FileHandle.standardOutput.write(line.data(using: .utf8)!)
    }

    public func epochDidEnd(_ trainer: StepTrainer, record: MetricRecord) {
        if interactive { FileHandle.standardOutput.write("\r\u{1B}[2K".data(using: .utf8)!) }
        output(Self.line(record, epochs: epochs))
    }

    /// `epoch 3/10  12.1s  d_loss 1.2034  g_loss 0.9120`
    public static func line(_ r: MetricRecord, epochs: Int) -> String {
        var s = String(format: "epoch %d/%d  %.1fs", r.epoch, epochs, r.seconds)
        for (name, v) in zip(r.names, r.values) { s += String(format: "  %@ %.4f", name, v) }
        return s
    }
}

/// Writes a `StepTrainer`'s history as CSV (a column per metric ever logged), rewritten
/// atomically after every epoch.
public final class MetricCSVLogger: StepCallback {
    public let path: String
    public init(path: String) { self.path = path }

    public static func csv(_ history: [MetricRecord]) -> String {
        var columns: [String] = []
        for r in history { for n in r.names where !columns.contains(n) { columns.append(n) } }
        var lines = [(["epoch"] + columns + ["seconds"]).joined(separator: ",")]
        for r in history {
            let cells = columns.map { c in r[c].map { String(format: "%.6f", $0) } ?? "" }
            lines.append((["\(r.epoch)"] + cells + [String(format: "%.6f", r.seconds)]).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public func epochDidEnd(_ trainer: StepTrainer, record: MetricRecord) {
        do { try AtomicFile.write(Array(Self.csv(trainer.history).utf8), to: path) } catch {
            FileHandle.standardError.write("warning: \(error)\n".data(using: .utf8)!)
        }
    }
}

/// Redraws `SVGPlot.metricCurves` of the history after every epoch.
public final class MetricPlotter: StepCallback {
    public let path: String
    public let title: String
    public init(path: String, title: String) {
        self.path = path
        self.title = title
    }

    public func epochDidEnd(_ trainer: StepTrainer, record: MetricRecord) {
        do { try AtomicFile.write(Array(SVGPlot.metricCurves(trainer.history, title: title).utf8), to: path) } catch {
            FileHandle.standardError.write("warning: \(error)\n".data(using: .utf8)!)
        }
    }
}

/// Saves a checkpoint of every model and optimizer (and epoch, RNG, history) after every epoch.
public final class StepCheckpointSaver: StepCallback {
    public let path: String
    public let metadata: () -> [String: String]
    public init(path: String, metadata: @escaping () -> [String: String] = { [:] }) {
        self.path = path
        self.metadata = metadata
    }

    public func epochDidEnd(_ trainer: StepTrainer, record: MetricRecord) {
        do { try Checkpoint(stepTrainer: trainer, metadata: metadata()).save(to: path) } catch {
            FileHandle.standardError.write("warning: checkpoint not saved: \(error)\n".data(using: .utf8)!)
        }
    }
}

/// Runs a closure after every epoch (e.g. to draw samples).
public final class EpochHook: StepCallback {
    let body: (StepTrainer, MetricRecord) throws -> Void
    public init(_ body: @escaping (StepTrainer, MetricRecord) throws -> Void) { self.body = body }
    public func epochDidEnd(_ trainer: StepTrainer, record: MetricRecord) {
        do { try body(trainer, record) } catch {
            FileHandle.standardError.write("warning: \(error)\n".data(using: .utf8)!)
        }
    }
}

/// Stops a `StepTrainer` when `monitor` (a validation metric, lower is better) has not
/// improved by more than `minDelta` for `patience` epochs; with `restoreBest`, puts back every
/// model's weights of the best epoch at the end. (A GAN's losses do not measure quality, so
/// the GAN presets do not stop early.)
public final class MetricEarlyStopping: StepCallback {
    public let monitor: String
    public let patience: Int
    public let minDelta: Double
    public let restoreBest: Bool
    public private(set) var best = Double.infinity
    public private(set) var bestEpoch = 0
    public private(set) var stoppedEpoch: Int?
    public private(set) var restoredEpoch: Int?
    var bestState: [[Float]] = []
    var waited = 0

    public init(monitor: String, patience: Int, minDelta: Double = 0, restoreBest: Bool = true) {
        check(patience >= 1, "MetricEarlyStopping: patience must be at least 1, got \(patience)")
        self.monitor = monitor
        self.patience = patience
        self.minDelta = minDelta
        self.restoreBest = restoreBest
    }

    /// After a resume, picks up the count from the history (the best weights of an epoch
    /// before the resume are not in the checkpoint unless it is the last one).
    public func trainingWillBegin(_ trainer: StepTrainer, epochs: Int) {
        guard best == .infinity else { return }
        for r in trainer.history { if let v = r[monitor] { observe(v, epoch: r.epoch) } }
        if restoreBest && bestEpoch == trainer.epoch && bestEpoch > 0 { bestState = trainer.modelsState().entries.map { $0.1.data } }
    }

    func observe(_ v: Double, epoch: Int) -> Bool {
        if v < best - minDelta {
            best = v
            bestEpoch = epoch
            waited = 0
            return true
        }
        waited += 1
        return false
    }

    public func epochDidEnd(_ trainer: StepTrainer, record: MetricRecord) {
        guard let v = record[monitor] else {
            fatalError("MetricEarlyStopping: metric \"\(monitor)\" was not logged (logged: \(record.names))")
        }
        if observe(v, epoch: record.epoch) {
            if restoreBest { bestState = trainer.modelsState().entries.map { $0.1.data } }
        } else if waited >= patience {
            stoppedEpoch = record.epoch
            trainer.stopRequested = true
        }
    }

    public func trainingDidEnd(_ trainer: StepTrainer) {
        guard restoreBest, !bestState.isEmpty, bestEpoch != trainer.history.last?.epoch else { return }
        for ((_, t), saved) in zip(trainer.modelsState().entries, bestState) { t.data = saved }
        restoredEpoch = bestEpoch
    }
}
