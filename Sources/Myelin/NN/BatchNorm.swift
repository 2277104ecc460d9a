/// Batch normalisation over the batch dimension of `[batch, features]` inputs.
///
/// Training mode normalises with the batch mean and (biased) variance and updates the
/// running statistics — `running = (1 − momentum)·running + momentum·batch`, using the
/// unbiased variance, as PyTorch does. Evaluation mode normalises with the running statistics.
/// With `affine`, a learned scale `weight` (init 1) and shift `bias` (init 0) follow.
///
/// - Shape: `[batch, features]` → `[batch, features]`.
public final class BatchNorm1d: Module {
    public let features: Int
    public let eps: Float
    public let momentum: Float
    public let weight: Tensor?
    public let bias: Tensor?
    public let runningMean: Tensor
    public let runningVar: Tensor
    public var isTraining = true

    public init(_ features: Int, eps: Float = 1e-5, momentum: Float = 0.1, affine: Bool = true) {
        check(features > 0, "BatchNorm1d: features must be positive, got \(features)")
        self.features = features
        self.eps = eps
        self.momentum = momentum
        weight = affine ? Tensor.ones([features], requiresGrad: true) : nil
        bias = affine ? Tensor.zeros([features], requiresGrad: true) : nil
        runningMean = .zeros([features])
        runningVar = .ones([features])
    }

    public func forward(_ input: Tensor) -> Tensor {
        check(input.rank == 2 && input.shape[1] == features,
                     "BatchNorm1d(\(features)): expected input [batch, \(features)], got \(input.shape)")
        var normalized: Tensor
        if isTraining {
            let n = input.shape[0]
            check(n > 1, "BatchNorm1d: training mode needs more than one sample per batch, got \(input.shape)")
            let mean = input.mean(axis: 0, keepDims: true)           // [1, F]
            let centered = input - mean
            let variance = centered.square().mean(axis: 0, keepDims: true)
            normalized = centered / (variance + eps).sqrt()
            let unbiased = Float(n) / Float(n - 1)
            for j in 0..<features {
                runningMean.data[j] = (1 - momentum) * runningMean.data[j] + momentum * mean.data[j]
                runningVar.data[j] = (1 - momentum) * runningVar.data[j] + momentum * variance.data[j] * unbiased
            }
        } else {
            let scale = Tensor(shape: [1, features], data: runningVar.data.map { 1 / ($0 + eps).squareRoot() })
            normalized = (input - runningMean.reshape([1, features])) * scale
        }
        if let w = weight, let b = bias { normalized = normalized * w + b }
        return normalized
    }

    public var localParameters: [(String, Tensor)] {
        if let w = weight, let b = bias { return [("weight", w), ("bias", b)] }
        return []
    }
    public var localBuffers: [(String, Tensor)] { [("running_mean", runningMean), ("running_var", runningVar)] }

    public var description: String { "BatchNorm1d(\(features), eps: \(eps), momentum: \(momentum)\(weight == nil ? ", affine: false" : ""))" }
}
