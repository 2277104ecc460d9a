/// A lookup table of learned vectors, one per token id, as PyTorch's `nn.Embedding`.
///
/// - Shape: token ids of any shape `[…]` (whole numbers as floats, in `0..<num`) → `[…, dim]`.
/// - Parameters: `weight` `[num, dim]`.
/// - Initialisation: N(0, 1), as PyTorch.
/// - Recorded as `embedding` (Autograd/Indexing.swift) with inputs [weight, ids].
///
/// ```swift
/// let embed = Embedding(96, 32)
/// let tokens = Tensor(shape: [2, 4], data: [5, 9, 9, 0, 1, 2, 3, 4])
/// embed(tokens)   // shape [2, 4, 32]
/// ```
public final class Embedding: Layer {
    public let num: Int
    public let dim: Int
    public let weight: Tensor
    public var isTraining = true

    public init(_ num: Int, _ dim: Int, generator: Generator = .default) {
        check(num > 0 && dim > 0, "Embedding: num and dim must be positive, got \(num), \(dim)")
        self.num = num
        self.dim = dim
        weight = Tensor.randn([num, dim], generator: generator, requiresGrad: true)
    }

    public func forward(_ input: Tensor) -> Tensor { embedding(weight: weight, indices: input) }

    public var description: String { "Embedding(\(num), \(dim))" }
}
