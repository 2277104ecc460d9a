/// Fully connected layer: `y = x · weightᵀ + bias`.
///
/// - Shape: input `[batch, inFeatures]` → output `[batch, outFeatures]`; more leading
///   dimensions are allowed: `[batch, …, inFeatures]` → `[batch, …, outFeatures]`.
/// - Parameters: `weight` `[outFeatures, inFeatures]` (PyTorch layout), `bias` `[outFeatures]`.
/// - Initialisation: by default as PyTorch's `nn.Linear` — weight `kaimingUniform(a: √5)`,
///   i.e. U(±1/√inFeatures), bias U(±1/√inFeatures). Pass `weightInit`/`biasInit` to change it.
///
/// ```swift
/// let fc = Linear(784, 256)
/// let y = fc(x)   // [64, 784] → [64, 256]
/// ```
public final class Linear: Layer {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Tensor
    public let bias: Tensor?
    public var isTraining = true

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true,
                weightInit: Init = .pytorchLinearDefault, biasInit: Init? = nil,
                generator: Generator = .default) {
        check(inFeatures > 0 && outFeatures > 0, "Linear: feature counts must be positive, got \(inFeatures)→\(outFeatures)")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = weightInit.make([outFeatures, inFeatures], fanIn: inFeatures, fanOut: outFeatures, generator: generator)
        weight.requiresGrad = true
        if bias {
            let bound = 1 / Float(inFeatures).squareRoot()
            let b = (biasInit ?? .uniform(low: -bound, high: bound)).make([outFeatures], fanIn: inFeatures, fanOut: outFeatures, generator: generator)
            b.requiresGrad = true
            self.bias = b
        } else {
            self.bias = nil
        }
    }

    public func forward(_ input: Tensor) -> Tensor {
        check(input.rank >= 2 && input.shape.last == inFeatures,
              "Linear(\(inFeatures)→\(outFeatures)): expected input [batch, \(inFeatures)] (or [batch, …, \(inFeatures)]), got \(input.shape)")
        return linear(input, weight: weight, bias: bias)
    }

    public var localParameters: [(String, Tensor)] {
        bias.map { [("weight", weight), ("bias", $0)] } ?? [("weight", weight)]
    }

    public var description: String { "Linear(in: \(inFeatures), out: \(outFeatures)\(bias == nil ? ", bias: false" : ""))" }
}
