import Foundation

/// Prints progress: on a terminal, a live bar per epoch (batches done, loss, samples/s,
/// ETA) followed by a summary line; otherwise (pipes, CI logs) only the summary line per epoch.
public final class ProgressLogger: Callback {
    let interactive: Bool
    let output: (String) -> Void
    var epochs = 0, epochStart: UInt64 = 0, lastDraw: UInt64 = 0, samples = 0, lossSum = 0.0

    /// - Parameter interactive: draw the live bar (default: when standard output is a terminal).
    public init(interactive: Bool = isatty(STDOUT_FILENO) != 0, output: @escaping (String) -> Void = { print($0); fflush(stdout) }) {
        self.interactive = interactive
        self.output = output
    }

    public func trainingWillBegin(_ trainer: Trainer, epochs: Int) { self.epochs = epochs }

    public func epochWillBegin(_ trainer: Trainer, epoch: Int, batches: Int) {
        epochStart = DispatchTime.now().uptimeNanoseconds
        samples = 0
        lossSum = 0
    }

    public func batchDidEnd(_ trainer: Trainer, batch: Int, batches: Int, samples n: Int, loss: Float) {
        samples += n
        lossSum += Double(loss) * Double(n)
        guard interactive else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastDraw > 100_000_000 || batch == batches else { return }
        lastDraw = now
        let elapsed = Double(now - epochStart) / 1e9
        let rate = Double(samples) / Swift.max(elapsed, 1e-9)
        let eta = elapsed / Double(batch) * Double(batches - batch)
        let width = 24, filled = width * batch / Swift.max(batches, 1)
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: Swift.max(0, width - filled - 1))
        let line = String(format: "\rEpoch %d/%d [%@] %d/%d loss %.4f %.0f samples/s ETA %.0fs  ",
                          trainer.epoch + 1, epochs, bar, batch, batches, lossSum / Double(samples), rate, eta)
        FileHandle.standardOutput.write(line.data(using: .utf8)!)
    }

    public func epochDidEnd(_ trainer: Trainer, record r: EpochRecord) {
        if interactive { FileHandle.standardOutput.write("\r\u{1B}[2K".data(using: .utf8)!) }
        output(Self.line(r, epochs: epochs))
    }

    /// `epoch 3/10  1.7s  loss 0.3412  acc 87.65%  val_loss 0.3561  val_acc 87.10%  lr 0.001`
    public static func line(_ r: EpochRecord, epochs: Int) -> String {
        var s = String(format: "epoch %d/%d  %.1fs  loss %.4f", r.epoch, epochs, r.seconds, r.trainLoss)
        if let a = r.trainAccuracy { s += String(format: "  acc %.2f%%", a * 100) }
        if let l = r.validationLoss { s += String(format: "  val_loss %.4f", l) }
        if let a = r.validationAccuracy { s += String(format: "  val_acc %.2f%%", a * 100) }
        return s + String(format: "  lr %g", r.learningRate)
    }
}

/// Writes the history as CSV (rewritten atomically after every epoch, so it is always complete).
public final class CSVLogger: Callback {
    public let path: String
    public init(path: String) { self.path = path }

    public static func csv(_ history: [EpochRecord]) -> String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.6f", $0) } ?? "" }
        var lines = ["epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds"]
        for r in history {
            lines.append("\(r.epoch),\(f(r.trainLoss)),\(f(r.trainAccuracy)),\(f(r.validationLoss)),\(f(r.validationAccuracy)),\(String(format: "%g", r.learningRate)),\(f(r.seconds))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public func epochDidEnd(_ trainer: Trainer, record: EpochRecord) {
        do { try AtomicFile.write(Array(Self.csv(trainer.history).utf8), to: path) } catch {
            FileHandle.standardError.write("warning: \(error)\n".data(using: .utf8)!)
        }
    }
}

/// Stops training when the validation loss has not improved by more than `minDelta` for
/// `patience` epochs; with `restoreBest`, puts back the weights of the best epoch at the end.
public final class EarlyStopping: Callback {
    public let patience: Int
    public let minDelta: Double
    public let restoreBest: Bool
    public private(set) var bestLoss = Double.infinity
    public private(set) var bestEpoch = 0
    public private(set) var stoppedEpoch: Int?
    /// The epoch whose weights were put back at the end (nil: none were).
    public private(set) var restoredEpoch: Int?
    var bestState: [[Float]] = []
    var waited = 0

    public init(patience: Int, minDelta: Double = 0, restoreBest: Bool = true) {
        check(patience >= 1, "EarlyStopping: patience must be at least 1, got \(patience)")
        self.patience = patience
        self.minDelta = minDelta
        self.restoreBest = restoreBest
    }

    /// After a resume, picks up the count from the history. The weights of a best epoch
    /// before the resume are not in the checkpoint; only the current ones can be kept.
    public func trainingWillBegin(_ trainer: Trainer, epochs: Int) {
        guard bestLoss == .infinity else { return }
        for r in trainer.history {
            guard let v = r.validationLoss else { continue }
            if v < bestLoss - minDelta { bestLoss = v; bestEpoch = r.epoch; waited = 0 } else { waited += 1 }
        }
        if restoreBest && bestEpoch == trainer.epoch && bestEpoch > 0 {
            bestState = trainer.model.stateDict().entries.map { $0.1.data }
        }
    }

    public func epochDidEnd(_ trainer: Trainer, record: EpochRecord) {
        guard let v = record.validationLoss else {
            fatalError("EarlyStopping needs a validation set: pass `validation:` to fit")
        }
        if v < bestLoss - minDelta {
            bestLoss = v
            bestEpoch = record.epoch
            waited = 0
            if restoreBest { bestState = trainer.model.stateDict().entries.map { $0.1.data } }
        } else {
            waited += 1
            if waited >= patience {
                stoppedEpoch = record.epoch
                trainer.stopRequested = true
            }
        }
    }

    public func trainingDidEnd(_ trainer: Trainer) {
        guard restoreBest, !bestState.isEmpty, bestEpoch != trainer.history.last?.epoch else { return }
        for ((_, t), saved) in zip(trainer.model.stateDict().entries, bestState) { t.data = saved }
        restoredEpoch = bestEpoch
    }
}

/// Saves a checkpoint (model, optimizer, epoch, RNG, history) atomically after every epoch.
public final class CheckpointSaver: Callback {
    public let path: String
    public let metadata: () -> [String: String]
    public init(path: String, metadata: @escaping () -> [String: String] = { [:] }) {
        self.path = path
        self.metadata = metadata
    }

    public func epochDidEnd(_ trainer: Trainer, record: EpochRecord) {
        do { try Checkpoint(trainer: trainer, metadata: metadata()).save(to: path) } catch {
            FileHandle.standardError.write("warning: checkpoint not saved: \(error)\n".data(using: .utf8)!)
        }
    }
}
