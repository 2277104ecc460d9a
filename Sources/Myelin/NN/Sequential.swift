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

    /// Runs the layers in order. A BatchNorm2d or a Conv2d in training mode followed by ReLU or
    /// LeakyReLU (slope ≥ 0 for the Conv2d) runs as one fused op (`BatchNorm2d.forward(_:rectifierSlope:)`,
    /// `Conv2d.forward(_:rectifierSlope:)`: same values and gradients, one pass fewer each way
    /// for batch norm, the forward pass for the convolution) unless an export trace is recording the layers.
    public func forward(_ input: Tensor) -> Tensor {
        var x = input, i = 0
        while i < layers.count {
            if i + 1 < layers.count, Tracer.current == nil, let slope = Sequential.rectifierSlope(of: layers[i + 1]) {
                if let norm = layers[i] as? BatchNorm2d, norm.isTraining {
                    x = norm.forward(x, rectifierSlope: slope)
                    i += 2
                    continue
                }
                if let conv = layers[i] as? Conv2d, conv.isTraining, slope >= 0 {
                    x = conv.forward(x, rectifierSlope: slope)
                    i += 2
                    continue
                }
            }
            x = layers[i](x)
            i += 1
        }
        return x
    }

    /// The slope of a ReLU (0) or LeakyReLU layer, nil for any other layer.
    private static func rectifierSlope(of layer: any Layer) -> Float? {
        if layer is ReLU { return 0 }
        return (layer as? LeakyReLU)?.slope
    }

    public var children: [(String, any Module)] { layers.enumerated().map { (String($0.offset), $0.element) } }

    public var description: String {
        "Sequential(\n" + layers.enumerated().map { "  (\($0.offset)): \($0.element)" }.joined(separator: "\n") + "\n)"
    }
}
