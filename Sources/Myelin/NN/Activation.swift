// Activation layers: thin modules over the tensor ops in Autograd/Activations.swift.
// Every one keeps the input's shape.

/// Heaviside step (forward only; for perceptrons).
public final class Step: Layer {
    public var isTraining = true
    public init() {}
    public func forward(_ input: Tensor) -> Tensor { input.step() }
    public var description: String { "Step()" }
}

/// Passes the input through unchanged.
public final class Identity: Layer {
    public var isTraining = true
    public init() {}
    public func forward(_ input: Tensor) -> Tensor { input }
    public var description: String { "Identity()" }
}

/// max(0, x).
public final class ReLU: Layer {
    public var isTraining = true
    public init() {}
    public func forward(_ input: Tensor) -> Tensor { input.relu() }
    public var description: String { "ReLU()" }
}

/// x for x > 0, slope·x otherwise.
public final class LeakyReLU: Layer {
    public let slope: Float
    public var isTraining = true
    public init(slope: Float = 0.01) { self.slope = slope }
    public func forward(_ input: Tensor) -> Tensor { input.leakyRelu(slope: slope) }
    public var description: String { "LeakyReLU(slope: \(slope))" }
}

/// x for x > 0, α(eˣ − 1) otherwise.
public final class ELU: Layer {
    public let alpha: Float
    public var isTraining = true
    public init(alpha: Float = 1) { self.alpha = alpha }
    public func forward(_ input: Tensor) -> Tensor { input.elu(alpha: alpha) }
    public var description: String { "ELU(alpha: \(alpha))" }
}

/// 1 / (1 + e⁻ˣ).
public final class Sigmoid: Layer {
    public var isTraining = true
    public init() {}
    public func forward(_ input: Tensor) -> Tensor { input.sigmoid() }
    public var description: String { "Sigmoid()" }
}

/// tanh(x).
public final class Tanh: Layer {
    public var isTraining = true
    public init() {}
    public func forward(_ input: Tensor) -> Tensor { input.tanh() }
    public var description: String { "Tanh()" }
}

/// Softmax along `axis` (default: last).
public final class Softmax: Layer {
    public let axis: Int
    public var isTraining = true
    public init(axis: Int = -1) { self.axis = axis }
    public func forward(_ input: Tensor) -> Tensor { input.softmax(axis: axis) }
    public var description: String { "Softmax(axis: \(axis))" }
}

/// Log-softmax along `axis` (default: last).
public final class LogSoftmax: Layer {
    public let axis: Int
    public var isTraining = true
    public init(axis: Int = -1) { self.axis = axis }
    public func forward(_ input: Tensor) -> Tensor { input.logSoftmax(axis: axis) }
    public var description: String { "LogSoftmax(axis: \(axis))" }
}

/// Flattens all but the batch dimension: `[n, a, b, …]` → `[n, a·b·…]`.
public final class Flatten: Layer {
    public var isTraining = true
    public init() {}
    public func forward(_ input: Tensor) -> Tensor { input.flatten() }
    public var description: String { "Flatten()" }
}
