/// A ShuffleNet unit (Zhang et al. 2017): grouped 1×1 convolution (bottleneck) → BN → ReLU →
/// channel shuffle → 3×3 depthwise convolution → BN → grouped 1×1 convolution → BN.
/// Grouped 1×1 convolutions are cheap but only mix channels within a group; the shuffle
/// interleaves the groups so the next grouped convolution sees all of them.
///
/// With stride 1 the branch is added to the input (residual, then ReLU); with stride 2 the
/// input is average-pooled and concatenated with the branch, which then produces
/// `outChannels − inChannels` channels.
///
/// - Shape: `[n, inChannels, H, W]` → `[n, outChannels, ⌈H/stride⌉, ⌈W/stride⌉]`.
public final class ShuffleUnit: Layer {
    public let branch: Sequential
    /// The stride-2 shortcut (3×3 average pooling); nil for stride 1.
    public let shortcut: AvgPool2d?
    public var isTraining = true

    public init(_ inChannels: Int, _ outChannels: Int, stride: Int = 1, groups: Int = 2, generator: Generator = .default) {
        check(stride == 2 || inChannels == outChannels, "ShuffleUnit: stride 1 keeps the width (\(inChannels) → \(outChannels))")
        let branchOut = stride == 2 ? outChannels - inChannels : outChannels
        let bottleneck = outChannels / 4
        branch = Sequential([
            Conv2d(inChannels, bottleneck, kernelSize: 1, groups: groups, bias: false, weightInit: .kaimingNormal(), generator: generator),
            BatchNorm2d(bottleneck), ReLU(), ChannelShuffle(groups),
            Conv2d(bottleneck, bottleneck, kernelSize: 3, stride: Size2d(stride), padding: 1, groups: bottleneck, bias: false,
                   weightInit: .kaimingNormal(), generator: generator),
            BatchNorm2d(bottleneck),
            Conv2d(bottleneck, branchOut, kernelSize: 1, groups: groups, bias: false, weightInit: .kaimingNormal(), generator: generator),
            BatchNorm2d(branchOut),
        ])
        shortcut = stride == 2 ? AvgPool2d(kernelSize: 3, stride: 2, padding: 1) : nil
    }

    public func forward(_ x: Tensor) -> Tensor {
        if let pool = shortcut { return Tensor.concat([pool(x), branch(x)], axis: 1).relu() }
        return (x + branch(x)).relu()
    }

    public var description: String { "ShuffleUnit(\(branch.layers[0]), \(shortcut == nil ? "residual" : "stride 2, concat"))" }
}

/// A small ShuffleNet (v1, 2 groups): a stem, two stages of one downsampling and one
/// residual unit, global average pooling and a linear classifier.
///
/// ```text
/// [n, 1, 28, 28]  Conv2d(1→24, 3×3, pad 1) BN ReLU, MaxPool2d(2)  → [n, 24, 14, 14]
///                 ShuffleUnit(24→48, stride 2)                    → [n, 48, 7, 7]
///                 ShuffleUnit(48→48)                              → [n, 48, 7, 7]
///                 ShuffleUnit(48→96, stride 2)                    → [n, 96, 4, 4]
///                 ShuffleUnit(96→96)                              → [n, 96, 4, 4]
///                 AdaptiveAvgPool2d(1), Flatten                   → [n, 96]
///                 Linear(96→10)                                   → [n, 10]
/// ```
public final class ShuffleNetMini: Layer {
    public let stem: Sequential
    public let units: Sequential
    public let head: Sequential
    public var isTraining = true

    public init(groups: Int = 2, classes: Int = 10, generator: Generator = .default) {
        stem = Sequential([Conv2d(1, 24, kernelSize: 3, padding: 1, bias: false, weightInit: .kaimingNormal(), generator: generator),
                           BatchNorm2d(24), ReLU(), MaxPool2d(kernelSize: 2)])
        units = Sequential([
            ShuffleUnit(24, 48, stride: 2, groups: groups, generator: generator),
            ShuffleUnit(48, 48, groups: groups, generator: generator),
            ShuffleUnit(48, 96, stride: 2, groups: groups, generator: generator),
            ShuffleUnit(96, 96, groups: groups, generator: generator),
        ])
        head = Sequential([AdaptiveAvgPool2d(1), Flatten(), Linear(96, classes, generator: generator)])
    }

    public func forward(_ input: Tensor) -> Tensor { head(units(stem(imageBatch(input)))) }
    public var description: String { "ShuffleNetMini(\(units.layers.count) units)" }
}
