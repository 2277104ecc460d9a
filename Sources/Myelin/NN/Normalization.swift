/// Layer normalisation over the trailing dimensions, as PyTorch's `nn.LayerNorm`:
/// `y = (x − mean) / √(var + eps) · weight + bias`, statistics per example and position
/// (not over the batch, so training and evaluation compute the same thing).
///
/// - Shape: x `[…, normalizedShape…]` → same shape.
/// - Parameters: `weight` (ones) and `bias` (zeros), shape `normalizedShape`, when
///   `elementwiseAffine` (default).
/// - Recorded as `layer_norm` (Autograd/NormalizationOps.swift).
///
/// ```swift
/// let norm = LayerNorm([64])
/// norm(Tensor.randn([8, 16, 64]))   // [8, 16, 64], each 64-vector normalised
/// ```
public final class LayerNorm: Layer {
    public let normalizedShape: [Int]
    public let eps: Float
    public let weight: Tensor?
    public let bias: Tensor?
    public var isTraining = true

    public init(_ normalizedShape: [Int], eps: Float = 1e-5, elementwiseAffine: Bool = true) {
        check(!normalizedShape.isEmpty && normalizedShape.allSatisfy { $0 > 0 },
              "LayerNorm: normalizedShape must be non-empty and positive, got \(normalizedShape)")
        self.normalizedShape = normalizedShape
        self.eps = eps
        weight = elementwiseAffine ? Tensor.ones(normalizedShape, requiresGrad: true) : nil
        bias = elementwiseAffine ? Tensor.zeros(normalizedShape, requiresGrad: true) : nil
    }

    /// Normalises over the last dimension of size `dim`.
    public convenience init(_ dim: Int, eps: Float = 1e-5) { self.init([dim], eps: eps) }

    public func forward(_ input: Tensor) -> Tensor {
        check(input.rank >= normalizedShape.count && Array(input.shape.suffix(normalizedShape.count)) == normalizedShape,
              "LayerNorm(\(normalizedShape)): input shape \(input.shape) does not end in \(normalizedShape)")
        return input.layerNorm(axes: normalizedShape.count, weight: weight, bias: bias, eps: eps)
    }

    public var localParameters: [(String, Tensor)] {
        if let w = weight, let b = bias { return [("weight", w), ("bias", b)] }
        return []
    }

    public var description: String { "LayerNorm(\(normalizedShape), eps: \(eps)\(weight == nil ? ", elementwiseAffine: false" : ""))" }
}

/// Gaussian error linear unit, `x · Φ(x)` (exact), or the tanh approximation with
/// `approximateTanh` (PyTorch's `nn.GELU(approximate='tanh')`). Shape unchanged.
///
/// ```swift
/// let ffn = Sequential(Linear(64, 256), GELU(), Linear(256, 64))
/// ```
public final class GELU: Layer {
    public let approximateTanh: Bool
    public var isTraining = true
    public init(approximateTanh: Bool = false) { self.approximateTanh = approximateTanh }
    public func forward(_ input: Tensor) -> Tensor { input.gelu(approximateTanh: approximateTanh) }
    public var description: String { approximateTanh ? "GELU(approximate: tanh)" : "GELU()" }
}
