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
