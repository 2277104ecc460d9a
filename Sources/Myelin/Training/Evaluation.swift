import Foundation

/// What a training loop minimises, computed from a model's output and a batch.
public enum TrainingLoss: String, Codable, Sendable, CaseIterable {
    /// Logits `[b, classes]` against integer labels (the default for classifiers).
    case crossEntropy = "cross-entropy"
    /// Probabilities `[b, 1]` (after a Sigmoid) against 0/1 labels.
    case binaryCrossEntropy = "bce"
    /// Logits `[b, 1]` against 0/1 labels.
    case binaryCrossEntropyWithLogits = "bce-logits"
    /// Outputs `[b, k]` against regression targets `[b, k]`.
    case meanSquaredError = "mse"
    /// Logits `[b, T, classes]` against target ids `[b, T]` (`sequenceCrossEntropy`, ignore index −100).
    case sequenceCrossEntropy = "sequence-cross-entropy"

    /// The mean loss of `output` on `batch`.
    public func callAsFunction(_ output: Tensor, _ batch: DataLoader.Batch) -> Tensor {
        switch self {
        case .crossEntropy: return Myelin.crossEntropy(output, batch.labels)
        case .binaryCrossEntropy: return Myelin.binaryCrossEntropy(output, binaryTargets(output, batch))
        case .binaryCrossEntropyWithLogits: return Myelin.binaryCrossEntropyWithLogits(output, binaryTargets(output, batch))
        case .meanSquaredError:
            guard let t = batch.targets else { fatalError("mse loss needs a regression dataset (targets)") }
            return mseLoss(output, t)
        case .sequenceCrossEntropy:
            guard let t = batch.targets else { fatalError("sequence cross-entropy needs a dataset of target ids (targets)") }
            return Myelin.sequenceCrossEntropy(output, t)
        }
    }

    func binaryTargets(_ output: Tensor, _ batch: DataLoader.Batch) -> Tensor {
        check(output.rank == 2 && output.shape[1] == 1, "binary losses expect outputs [batch, 1], got \(output.shape)")
        return Tensor(shape: [batch.labels.count, 1], data: batch.labels.map { Float($0) })
    }

    /// Predicted class per row of `output` (nil for regression).
    public func predictions(_ output: Tensor) -> [Int]? {
        switch self {
        case .crossEntropy: return output.argmax(axis: 1)
        case .binaryCrossEntropy: return output.data.map { $0 >= 0.5 ? 1 : 0 }
        case .binaryCrossEntropyWithLogits: return output.data.map { $0 >= 0 ? 1 : 0 }
        case .meanSquaredError, .sequenceCrossEntropy: return nil
        }
    }
}

/// Loss, accuracy, per-class accuracy and confusion matrix of a model on a dataset.
public struct Evaluation: Codable, Equatable {
    public var loss: Double
    /// Fraction of correct predictions (nil for regression).
    public var accuracy: Double?
    /// `confusion[actual][predicted]` counts (empty for regression).
    public var confusion: [[Int]]
    public var classNames: [String]

    /// Correct fraction per actual class (NaN for a class with no samples).
    public var perClassAccuracy: [Double] {
        confusion.enumerated().map { i, row in
            let total = row.reduce(0, +)
            return total == 0 ? .nan : Double(row[i]) / Double(total)
        }
    }

    /// A plain-text report: overall figures, per-class accuracy, confusion matrix.
    public var report: String {
        var lines = [String(format: "loss %.4f", loss)]
        if let a = accuracy { lines[0] += String(format: "  accuracy %.2f%%", a * 100) }
        guard !confusion.isEmpty else { return lines[0] }
        let width = Swift.max(12, (classNames.map { $0.count }.max() ?? 0) + 2)
        lines.append("per-class accuracy:")
        for (i, acc) in perClassAccuracy.enumerated() {
            lines.append("  " + classNames[i].padding(toLength: width, withPad: " ", startingAt: 0) + String(format: "%6.2f%%", acc * 100))
        }
        lines.append("confusion matrix (rows: actual, columns: predicted):")
        lines.append(String(repeating: " ", count: width + 2) + (0..<confusion.count).map { String(format: "%6d", $0) }.joined())
        for (i, row) in confusion.enumerated() {
            lines.append("  " + "\(i) \(classNames[i])".padding(toLength: width, withPad: " ", startingAt: 0)
                         + row.map { String(format: "%6d", $0) }.joined())
        }
        return lines.joined(separator: "\n")
    }
}

/// Evaluates `model` (in eval mode, without recording gradients) on `data` in batches.
public func evaluate(_ model: any Layer, on data: Dataset, loss: TrainingLoss = .crossEntropy,
                     batchSize: Int = 1000) -> Evaluation {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    let classes = data.isClassification ? data.classCount : 0
    var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
    var totalLoss = 0.0, correct = 0
    let loader = DataLoader(data, batchSize: batchSize, shuffle: false)
    noGrad {
        for batch in loader.epoch() {
            let out = model(batch.inputs)
            totalLoss += Double(loss(out, batch).item) * Double(batch.inputs.shape[0])
            if let predicted = loss.predictions(out) {
                for (p, y) in zip(predicted, batch.labels) {
                    if p == y { correct += 1 }
                    if y < classes && p < classes { confusion[y][p] += 1 }
                }
            }
        }
    }
    let n = Double(Swift.max(data.count, 1))
    return Evaluation(loss: totalLoss / n, accuracy: data.isClassification ? Double(correct) / n : nil,
                      confusion: confusion, classNames: data.classNames)
}
