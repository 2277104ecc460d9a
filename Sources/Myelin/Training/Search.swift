import Foundation

/// One point of a hyperparameter search space.
public struct TrialConfig: Codable, Equatable, CustomStringConvertible {
    public var learningRate: Float
    public var batchSize: Int
    public var hidden: [Int]
    public var weightDecay: Float

    public init(learningRate: Float, batchSize: Int, hidden: [Int], weightDecay: Float) {
        self.learningRate = learningRate
        self.batchSize = batchSize
        self.hidden = hidden
        self.weightDecay = weightDecay
    }

    public var description: String {
        "lr \(learningRate)  batch \(batchSize)  hidden \(hidden.map(String.init).joined(separator: ","))  wd \(weightDecay)"
    }
}

/// Candidate values for each searched hyperparameter.
public struct SearchSpace {
    public var learningRates: [Float]
    public var batchSizes: [Int]
    public var hiddenLayers: [[Int]]
    public var weightDecays: [Float]

    public init(learningRates: [Float], batchSizes: [Int], hiddenLayers: [[Int]], weightDecays: [Float]) {
        check(!learningRates.isEmpty && !batchSizes.isEmpty && !hiddenLayers.isEmpty && !weightDecays.isEmpty,
                     "SearchSpace: every hyperparameter needs at least one candidate")
        self.learningRates = learningRates
        self.batchSizes = batchSizes
        self.hiddenLayers = hiddenLayers
        self.weightDecays = weightDecays
    }

    /// Every combination, in a fixed order.
    public var grid: [TrialConfig] {
        var out: [TrialConfig] = []
        for lr in learningRates { for b in batchSizes { for h in hiddenLayers { for wd in weightDecays {
            out.append(TrialConfig(learningRate: lr, batchSize: b, hidden: h, weightDecay: wd))
        } } } }
        return out
    }

    /// `count` distinct combinations drawn at random (all of them if the grid is smaller).
    public func random(count: Int, generator: Generator) -> [TrialConfig] {
        let all = grid
        return Array(generator.permutation(all.count).prefix(count).map { all[$0] })
    }
}

/// The outcome of one trial, scored on the validation split.
public struct TrialResult: Codable, Equatable {
    public var config: TrialConfig
    public var validationLoss: Double
    public var validationAccuracy: Double
}

/// Runs `trial` for every configuration and returns the results ranked best first
/// (highest validation accuracy, then lowest validation loss).
public func hyperparameterSearch(_ configs: [TrialConfig], trial: (TrialConfig) throws -> Evaluation) rethrows -> [TrialResult] {
    var results: [TrialResult] = []
    for c in configs {
        let e = try trial(c)
        results.append(TrialResult(config: c, validationLoss: e.loss, validationAccuracy: e.accuracy ?? 0))
    }
    return results.sorted {
        $0.validationAccuracy != $1.validationAccuracy ? $0.validationAccuracy > $1.validationAccuracy : $0.validationLoss < $1.validationLoss
    }
}

/// A ranked table of search results, each column as wide as its widest cell.
public func searchTable(_ results: [TrialResult]) -> String {
    let header = ["rank", "val_acc", "val_loss", "lr", "batch", "hidden", "weight_decay"]
    let rows = results.enumerated().map { i, r in
        ["\(i + 1)", String(format: "%.2f%%", r.validationAccuracy * 100), String(format: "%.4f", r.validationLoss),
         String(format: "%g", r.config.learningRate), "\(r.config.batchSize)", r.config.hidden.map(String.init).joined(separator: ","),
         String(format: "%g", r.config.weightDecay)]
    }
    let widths = header.indices.map { c in ([header] + rows).map { $0[c].count }.max()! }
    func line(_ cells: [String]) -> String {
        zip(cells, widths).map { $0 + String(repeating: " ", count: $1 - $0.count) }.joined(separator: "  ")
            .replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
    }
    return ([header] + rows).map(line).joined(separator: "\n")
}
