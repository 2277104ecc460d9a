/// MobileNet's depthwise-separable convolution (Howard et al. 2017): a 3×3 depthwise
/// convolution (`groups` = channels: one filter per channel, spatial mixing only) then a 1×1
/// pointwise convolution (channel mixing only), each followed by BN and ReLU. It costs about
/// 1/9 + 1/outChannels of a full 3×3 convolution.
///
/// - Shape: `[n, inChannels, H, W]` → `[n, outChannels, ⌈H/stride⌉, ⌈W/stride⌉]`.
public final class DepthwiseSeparable: Layer {
    public let depthwise: Sequential
    public let pointwise: Sequential
    public var isTraining = true

    public init(_ inChannels: Int, _ outChannels: Int, stride: Int = 1, generator: Generator = .default) {
        depthwise = Sequential([
            Conv2d(inChannels, inChannels, kernelSize: 3, stride: Size2d(stride), padding: 1, groups: inChannels, bias: false,
                   weightInit: .kaimingNormal(), generator: generator),
            BatchNorm2d(inChannels), ReLU(),
        ])
        pointwise = Sequential([
            Conv2d(inChannels, outChannels, kernelSize: 1, bias: false, weightInit: .kaimingNormal(), generator: generator),
            BatchNorm2d(outChannels), ReLU(),
        ])
    }

    public func forward(_ x: Tensor) -> Tensor { pointwise(depthwise(x)) }
    public var description: String { "DepthwiseSeparable(\(depthwise.layers[0]) → \(pointwise.layers[0]))" }
}

/// A small MobileNet (v1): a full 3×3 stem, then depthwise-separable blocks that downsample
/// with stride-2 depthwise convolutions, global average pooling and a linear classifier.
///
/// ```text
/// [n, 1, 28, 28]  Conv2d(1→16, 3×3, pad 1) BN ReLU        → [n, 16, 28, 28]
///                 DepthwiseSeparable(16→32, stride 2)    → [n, 32, 14, 14]
///                 DepthwiseSeparable(32→64)              → [n, 64, 14, 14]
///                 DepthwiseSeparable(64→128, stride 2)   → [n, 128, 7, 7]
///                 DepthwiseSeparable(128→128)            → [n, 128, 7, 7]
///                 AdaptiveAvgPool2d(1), Flatten          → [n, 128]
///                 Linear(128→10)                         → [n, 10]
/// ```
public final class MobileNetMini: Layer {
    public let stem: Sequential
    public let blocks: Sequential
    public let head: Sequential
    public var isTraining = true

    public init(classes: Int = 10, generator: Generator = .default) {
        stem = Sequential([Conv2d(1, 16, kernelSize: 3, padding: 1, bias: false, weightInit: .kaimingNormal(), generator: generator),
                           BatchNorm2d(16), ReLU()])
        blocks = Sequential([
            DepthwiseSeparable(16, 32, stride: 2, generator: generator),
            DepthwiseSeparable(32, 64, generator: generator),
            DepthwiseSeparable(64, 128, stride: 2, generator: generator),
            DepthwiseSeparable(128, 128, generator: generator),
        ])
        head = Sequential([AdaptiveAvgPool2d(1), Flatten(), Linear(128, classes, generator: generator)])
    }

    public func forward(_ input: Tensor) -> Tensor { head(blocks(stem(imageBatch(input)))) }
    public var description: String { "MobileNetMini(\(blocks.layers.count) separable blocks)" }
}
