/// A chain of modules applied in order; children are named "0", "1", … as in PyTorch.
///
/// ```swift
/// let mlp = Sequential(Linear(2, 5), ReLU(), Linear(5, 1), Sigmoid())
/// ```
public final class Sequential: Layer {
    public private(set) var layers: [any Layer]
    public var isTraining = true

    public init(_ layers: [any Layer]) { self.layers = layers }
    public convenience init(_ layers: any Layer...) { self.init(layers) }

    /// Appends a layer.
    public func append(_ layer: any Layer) {
        layer.train(isTraining)
        layers.append(layer)
    }

    public func forward(_ input: Tensor) -> Tensor {
        var x = input
        for layer in layers { x = layer(x) }
        return x
    }

    public var children: [(String, any Module)] { layers.enumerated().map { (String($0.offset), $0.element) } }

    public var description: String {
        "Sequential(\n" + layers.enumerated().map { "  (\($0.offset)): \($0.element)" }.joined(separator: "\n") + "\n)"
    }
}
