/// The basic residual block of ResNet-18/34 (He et al. 2015):
/// y = ReLU(BN(Conv3×3(ReLU(BN(Conv3×3(x))))) + shortcut(x)).
///
/// The shortcut is the identity when shape is kept, and a 1×1 convolution with BatchNorm
/// (a projection) when the block changes the width or downsamples with `stride` 2.
///
/// - Shape: `[n, inChannels, H, W]` → `[n, outChannels, ⌈H/stride⌉, ⌈W/stride⌉]`.
public final class BasicBlock: Layer {
    public let conv1: Conv2d
    public let bn1: BatchNorm2d
    public let conv2: Conv2d
    public let bn2: BatchNorm2d
    /// nil for the identity shortcut.
    public let projection: Sequential?
    public var isTraining = true

    public init(_ inChannels: Int, _ outChannels: Int, stride: Int = 1, generator: Generator = .default) {
        // Convolutions before a BatchNorm need no bias: the BatchNorm's shift replaces it.
        conv1 = Conv2d(inChannels, outChannels, kernelSize: 3, stride: Size2d(stride), padding: 1, bias: false,
                       weightInit: .kaimingNormal(), generator: generator)
        bn1 = BatchNorm2d(outChannels)
        conv2 = Conv2d(outChannels, outChannels, kernelSize: 3, padding: 1, bias: false, weightInit: .kaimingNormal(),
                       generator: generator)
        bn2 = BatchNorm2d(outChannels)
        projection = stride == 1 && inChannels == outChannels ? nil : Sequential([
            Conv2d(inChannels, outChannels, kernelSize: 1, stride: Size2d(stride), bias: false, weightInit: .kaimingNormal(),
                   generator: generator),
            BatchNorm2d(outChannels),
        ])
    }

    public func forward(_ x: Tensor) -> Tensor {
        let y = bn2(conv2(bn1(conv1(x)).relu()))
        return (y + (projection?(x) ?? x)).relu()
    }

    public var description: String {
        "BasicBlock(\(conv1.inChannels)→\(conv1.outChannels), stride: \(conv1.stride.height)\(projection == nil ? "" : ", projection"))"
    }
}

/// A small ResNet: a 3×3 stem, three stages of basic blocks (the later two downsample with a
/// projection shortcut), global average pooling and one linear layer.
///
/// ```text
/// [n, 1, 28, 28]  Conv2d(1→32, 3×3, pad 1) BN ReLU      → [n, 32, 28, 28]
///                 MaxPool2d(2)                         → [n, 32, 14, 14]
///                 BasicBlock(32→32)            identity → [n, 32, 14, 14]
///                 BasicBlock(32→64, stride 2) projection → [n, 64, 7, 7]
///                 BasicBlock(64→128, stride 2) projection → [n, 128, 4, 4]
///                 AdaptiveAvgPool2d(1), Flatten        → [n, 128]
///                 Linear(128→10)                       → [n, 10]
/// ```
/// About 0.3 M parameters and 21 MFLOPs per image.
public final class ResNetMini: Layer {
    public let stem: Sequential
    public let blocks: Sequential
    public let head: Sequential
    public var isTraining = true

    /// - Parameter widths: channels of the stem/first stage and of each later stage.
    public init(widths: [Int] = [32, 64, 128], classes: Int = 10, generator: Generator = .default) {
        stem = Sequential([
            Conv2d(1, widths[0], kernelSize: 3, padding: 1, bias: false, weightInit: .kaimingNormal(), generator: generator),
            BatchNorm2d(widths[0]), ReLU(), MaxPool2d(kernelSize: 2),
        ])
        var layers: [any Layer] = [BasicBlock(widths[0], widths[0], generator: generator)]
        for (i, w) in widths.enumerated().dropFirst() { layers.append(BasicBlock(widths[i - 1], w, stride: 2, generator: generator)) }
        blocks = Sequential(layers)
        head = Sequential([AdaptiveAvgPool2d(1), Flatten(), Linear(widths.last!, classes, generator: generator)])
    }

    public func forward(_ input: Tensor) -> Tensor { head(blocks(stem(imageBatch(input)))) }
    public var description: String { "ResNetMini(\(blocks.layers.map { "\($0)" }.joined(separator: ", ")))" }
}
