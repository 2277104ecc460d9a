/// One layer of a dense block (Huang et al. 2016): BN → ReLU → Conv3×3 producing `growth`
/// new channels, concatenated to its input, so every layer sees the feature maps of all
/// earlier layers of its block.
///
/// - Shape: `[n, C, H, W]` → `[n, C + growth, H, W]`.
public final class DenseLayer: Layer {
    public let norm: BatchNorm2d
    public let conv: Conv2d
    public var isTraining = true

    public init(_ inChannels: Int, growth: Int, generator: Generator = .default) {
        norm = BatchNorm2d(inChannels)
        conv = Conv2d(inChannels, growth, kernelSize: 3, padding: 1, bias: false, weightInit: .kaimingNormal(), generator: generator)
    }

    public func forward(_ x: Tensor) -> Tensor { Tensor.concat([x, conv(norm(x).relu())], axis: 1) }
    public var description: String { "DenseLayer(\(conv.inChannels)+\(conv.outChannels))" }
}

/// A transition between dense blocks: BN → ReLU → Conv1×1 (compress the width) → AvgPool2d(2).
///
/// - Shape: `[n, C, H, W]` → `[n, outChannels, H/2, W/2]`.
public final class DenseTransition: Layer {
    public let norm: BatchNorm2d
    public let conv: Conv2d
    public let pool: AvgPool2d
    public var isTraining = true

    public init(_ inChannels: Int, _ outChannels: Int, generator: Generator = .default) {
        norm = BatchNorm2d(inChannels)
        conv = Conv2d(inChannels, outChannels, kernelSize: 1, bias: false, weightInit: .kaimingNormal(), generator: generator)
        pool = AvgPool2d(kernelSize: 2)
    }

    public func forward(_ x: Tensor) -> Tensor { pool(conv(norm(x).relu())) }
    public var description: String { "DenseTransition(\(conv.inChannels)→\(conv.outChannels))" }
}

/// A small DenseNet: a stem, two dense blocks of four layers (growth rate 12) joined by a
/// transition that halves the width and the resolution, then BN-ReLU, global average
/// pooling and a linear classifier.
///
/// ```text
/// [n, 1, 28, 28]  Conv2d(1→24, 3×3, pad 1), MaxPool2d(2)  → [n, 24, 14, 14]
///                 dense block: 4 × DenseLayer(+12)        → [n, 72, 14, 14]
///                 DenseTransition(72→36)                  → [n, 36, 7, 7]
///                 dense block: 4 × DenseLayer(+12)        → [n, 84, 7, 7]
///                 BN ReLU, AdaptiveAvgPool2d(1), Flatten  → [n, 84]
///                 Linear(84→10)                           → [n, 10]
/// ```
public final class DenseNetMini: Layer {
    public let stem: Sequential
    public let block1: Sequential
    public let transition: DenseTransition
    public let block2: Sequential
    public let head: Sequential
    public var isTraining = true

    public init(growth: Int = 12, layersPerBlock: Int = 4, classes: Int = 10, generator: Generator = .default) {
        stem = Sequential([Conv2d(1, 2 * growth, kernelSize: 3, padding: 1, bias: false, weightInit: .kaimingNormal(),
                                  generator: generator), MaxPool2d(kernelSize: 2)])
        func block(_ channels: inout Int) -> Sequential {
            var layers: [any Layer] = []
            for _ in 0..<layersPerBlock {
                layers.append(DenseLayer(channels, growth: growth, generator: generator))
                channels += growth
            }
            return Sequential(layers)
        }
        var channels = 2 * growth
        block1 = block(&channels)
        transition = DenseTransition(channels, channels / 2, generator: generator)
        channels /= 2
        block2 = block(&channels)
        head = Sequential([BatchNorm2d(channels), ReLU(), AdaptiveAvgPool2d(1), Flatten(),
                           Linear(channels, classes, generator: generator)])
    }

    public func forward(_ input: Tensor) -> Tensor { head(block2(transition(block1(stem(imageBatch(input)))))) }
    public var description: String { "DenseNetMini(\(block1.layers.count)+\(block2.layers.count) layers, \(transition))" }
}
