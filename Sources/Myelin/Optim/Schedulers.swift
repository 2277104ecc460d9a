import Foundation

/// Changes an optimizer's learning rate once per epoch: call `step()` after each epoch.
/// `learningRate(epoch:)` is the closed form, so resuming from a checkpoint needs only the epoch.
public protocol LRScheduler: AnyObject {
    var optimizer: Optimizer { get }
    var baseLearningRate: Float { get }
    /// Epochs completed so far.
    var epoch: Int { get set }
    /// The learning rate used during `epoch`.
    func learningRate(epoch: Int) -> Float
}

extension LRScheduler {
    /// Advances one epoch and sets the optimizer's learning rate.
    public func step() {
        epoch += 1
        optimizer.learningRate = learningRate(epoch: epoch)
    }
}

/// Multiplies the rate by `gamma` every `stepSize` epochs: lr₀·γ^⌊e/stepSize⌋.
public final class StepLR: LRScheduler {
    public let optimizer: Optimizer
    public let baseLearningRate: Float
    public let stepSize: Int
    public let gamma: Float
    public var epoch = 0

    public init(_ optimizer: Optimizer, stepSize: Int, gamma: Float = 0.1) {
        check(stepSize > 0, "StepLR: stepSize must be positive, got \(stepSize)")
        self.optimizer = optimizer
        self.baseLearningRate = optimizer.learningRate
        self.stepSize = stepSize
        self.gamma = gamma
    }

    public func learningRate(epoch: Int) -> Float { baseLearningRate * Foundation.pow(gamma, Float(epoch / stepSize)) }
}

/// Exponential decay: lr₀·γᵉ.
public final class ExponentialLR: LRScheduler {
    public let optimizer: Optimizer
    public let baseLearningRate: Float
    public let gamma: Float
    public var epoch = 0

    public init(_ optimizer: Optimizer, gamma: Float) {
        self.optimizer = optimizer
        self.baseLearningRate = optimizer.learningRate
        self.gamma = gamma
    }

    public func learningRate(epoch: Int) -> Float { baseLearningRate * Foundation.pow(gamma, Float(epoch)) }
}

/// Cosine annealing from lr₀ down to `minLearningRate` over `period` epochs:
/// η_min + (lr₀ − η_min)·(1 + cos(π·e/period))/2 (periodic past `period`, as PyTorch).
public final class CosineAnnealingLR: LRScheduler {
    public let optimizer: Optimizer
    public let baseLearningRate: Float
    public let period: Int
    public let minLearningRate: Float
    public var epoch = 0

    public init(_ optimizer: Optimizer, period: Int, minLearningRate: Float = 0) {
        check(period > 0, "CosineAnnealingLR: period must be positive, got \(period)")
        self.optimizer = optimizer
        self.baseLearningRate = optimizer.learningRate
        self.period = period
        self.minLearningRate = minLearningRate
    }

    public func learningRate(epoch: Int) -> Float {
        let c = (1 + Foundation.cos(Double.pi * Double(epoch) / Double(period))) / 2
        return minLearningRate + (baseLearningRate - minLearningRate) * Float(c)
    }
}

/// Scales all gradients so their global L2 norm is at most `maxNorm`; returns the norm
/// before clipping. The scale is maxNorm/(norm + 1e-6), as PyTorch's `clip_grad_norm_`.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Float) -> Float {
    var total: Double = 0
    for p in parameters { if let g = p.gradStorage { for v in g { total += Double(v) * Double(v) } } }
    let norm = Float(total.squareRoot())
    let scale = maxNorm / (norm + 1e-6)
    if scale < 1 {
        for p in parameters where p.gradStorage != nil {
            p.gradStorage!.withUnsafeMutableBufferPointer { g in for i in 0..<g.count { g[i] *= scale } }
        }
    }
    return norm
}
