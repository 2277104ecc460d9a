/// A multilayer perceptron described by plain values, so it can be stored in a checkpoint
/// and rebuilt (by the CLI's `eval`, `summary`, `export`).
///
/// Each hidden layer is `Linear → [BatchNorm1d] → ReLU → [Dropout]`; the output layer is a
/// plain `Linear` producing logits.
public struct MLPSpec: Codable, Equatable {
    public var inputs: Int
    public var hidden: [Int]
    public var outputs: Int
    public var dropout: Float
    public var batchNorm: Bool

    public init(inputs: Int, hidden: [Int], outputs: Int, dropout: Float = 0, batchNorm: Bool = false) {
        self.inputs = inputs
        self.hidden = hidden
        self.outputs = outputs
        self.dropout = dropout
        self.batchNorm = batchNorm
    }

    /// The `mlp` preset for Fashion-MNIST: 784 → 512 → 256 → 10 with dropout 0.2.
    public static let fashionMNIST = MLPSpec(inputs: 784, hidden: [512, 256], outputs: 10, dropout: 0.2)

    /// Builds the network; initial weights and dropout masks come from `generator`.
    public func build(generator: Generator) -> Sequential {
        var layers: [any Layer] = []
        var width = inputs
        for h in hidden {
            layers.append(Linear(width, h, generator: generator))
            if batchNorm { layers.append(BatchNorm1d(h)) }
            layers.append(ReLU())
            if dropout > 0 { layers.append(Dropout(dropout, generator: generator)) }
            width = h
        }
        layers.append(Linear(width, outputs, generator: generator))
        return Sequential(layers)
    }
}

/// An optimizer described by plain values (stored in checkpoints, chosen on the CLI).
public struct OptimizerSpec: Codable, Equatable {
    public enum Kind: String, Codable, CaseIterable {
        case sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam, adamw
    }
    public var kind: Kind
    public var learningRate: Float
    public var weightDecay: Float
    public var momentum: Float

    public init(kind: Kind, learningRate: Float, weightDecay: Float = 0, momentum: Float = 0.9) {
        self.kind = kind
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.momentum = momentum
    }

    /// The default weight decay: 0.01 for AdamW (as PyTorch; without it AdamW is Adam), 0 otherwise.
    public static func defaultWeightDecay(_ kind: Kind) -> Float { kind == .adamw ? 0.01 : 0 }

    /// Whether `momentum` takes part in the update rule.
    public static func usesMomentum(_ kind: Kind) -> Bool { kind == .momentum || kind == .nesterov }

    /// A sensible default learning rate for each optimizer.
    public static func defaultLearningRate(_ kind: Kind) -> Float {
        switch kind {
        case .sgd, .momentum, .nesterov: return 0.05
        case .adagrad: return 0.01
        case .adadelta: return 1
        case .rmsprop, .adam, .adamw: return 1e-3
        }
    }

    public func make(_ parameters: [Tensor]) -> Optimizer {
        switch kind {
        case .sgd: return SGD(parameters, lr: learningRate, weightDecay: weightDecay)
        case .momentum: return SGD(parameters, lr: learningRate, momentum: momentum, weightDecay: weightDecay)
        case .nesterov: return SGD(parameters, lr: learningRate, momentum: momentum, nesterov: true, weightDecay: weightDecay)
        case .adagrad: return AdaGrad(parameters, lr: learningRate, weightDecay: weightDecay)
        case .adadelta: return Adadelta(parameters, lr: learningRate, weightDecay: weightDecay)
        case .rmsprop: return RMSprop(parameters, lr: learningRate, weightDecay: weightDecay)
        case .adam: return Adam(parameters, lr: learningRate, weightDecay: weightDecay)
        case .adamw: return AdamW(parameters, lr: learningRate, weightDecay: weightDecay)
        }
    }
}

/// A learning-rate schedule described by plain values (stored in checkpoints, chosen on the CLI).
public struct ScheduleSpec: Codable, Equatable {
    public enum Kind: String, Codable, CaseIterable { case none, step, exponential, cosine }
    public var kind: Kind
    /// step: epochs between decays.
    public var stepSize: Int
    /// step and exponential: the factor applied per decay.
    public var gamma: Float
    /// cosine: the rate reached at the last epoch.
    public var minLearningRate: Float

    public init(kind: Kind, stepSize: Int = 1, gamma: Float = 1, minLearningRate: Float = 0) {
        self.kind = kind
        self.stepSize = stepSize
        self.gamma = gamma
        self.minLearningRate = minLearningRate
    }

    /// Defaults: step decays by 0.3 three times over the run, exponential by 0.9 per epoch,
    /// cosine anneals to 0.
    public static func defaultStepSize(epochs: Int) -> Int { Swift.max(1, epochs / 3) }
    public static func defaultGamma(_ kind: Kind) -> Float { kind == .step ? 0.3 : 0.9 }

    /// The scheduler for a run of `epochs` epochs (cosine anneals over exactly those), reading
    /// its base rate from `optimizer`; nil for a constant rate.
    public func make(_ optimizer: Optimizer, epochs: Int) -> (any LRScheduler)? {
        switch kind {
        case .none: return nil
        case .step: return StepLR(optimizer, stepSize: stepSize, gamma: gamma)
        case .exponential: return ExponentialLR(optimizer, gamma: gamma)
        case .cosine: return CosineAnnealingLR(optimizer, period: epochs, minLearningRate: minLearningRate)
        }
    }

    /// "cosine schedule over 10 epochs to lr 0", "step schedule (×0.3 every 3 epochs)", …
    public func description(epochs: Int) -> String {
        func g(_ v: Float) -> String { String(format: "%g", v) }
        switch kind {
        case .none: return "constant learning rate"
        case .step: return "step schedule (×\(g(gamma)) every \(stepSize) epoch\(stepSize == 1 ? "" : "s"))"
        case .exponential: return "exponential schedule (×\(g(gamma)) per epoch)"
        case .cosine: return "cosine schedule over \(epochs) epochs to lr \(g(minLearningRate))"
        }
    }
}
