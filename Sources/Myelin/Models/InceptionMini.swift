/// An Inception module (Szegedy et al. 2014, "GoogLeNet"): four parallel branches over the
/// same input, concatenated along the channels. 1×1 convolutions reduce the width before the
/// expensive 3×3 and 5×5 ones, and project the pooled branch.
///
/// ```text
///           ┌ Conv 1×1 → b1 ─────────────────────┐
/// [n,C,H,W] ┼ Conv 1×1 → r3, ReLU, Conv 3×3 → b3 ┼ concat → [n, b1+b3+b5+bp, H, W]
///           ┼ Conv 1×1 → r5, ReLU, Conv 5×5 → b5 ┤
///           └ MaxPool 3×3 (stride 1), Conv 1×1 → bp ┘
/// ```
/// Every convolution is followed by ReLU; padding keeps H×W.
public final class InceptionBlock: Layer {
    public let branch1: Sequential
    public let branch3: Sequential
    public let branch5: Sequential
    public let branchPool: Sequential
    public let outChannels: Int
    public var isTraining = true

    public init(_ inChannels: Int, b1: Int, r3: Int, b3: Int, r5: Int, b5: Int, pool: Int, generator: Generator = .default) {
        func conv(_ i: Int, _ o: Int, _ k: Int) -> [any Layer] {
            [Conv2d(i, o, kernelSize: Size2d(k), padding: .explicit([k / 2]), generator: generator), ReLU()]
        }
        branch1 = Sequential(conv(inChannels, b1, 1))
        branch3 = Sequential(conv(inChannels, r3, 1) + conv(r3, b3, 3))
        branch5 = Sequential(conv(inChannels, r5, 1) + conv(r5, b5, 5))
        branchPool = Sequential([MaxPool2d(kernelSize: 3, stride: 1, padding: 1)] + conv(inChannels, pool, 1))
        outChannels = b1 + b3 + b5 + pool
    }

    public func forward(_ x: Tensor) -> Tensor {
        Tensor.concat([branch1(x), branch3(x), branch5(x), branchPool(x)], axis: 1)
    }

    public var description: String { "InceptionBlock(→\(outChannels))" }
}

/// A small GoogLeNet: a convolutional stem, two Inception blocks separated by pooling, and
/// global average pooling instead of large fully connected layers.
///
/// ```text
/// [n, 1, 28, 28]  Conv2d(1→32, 3×3, pad 1) ReLU, MaxPool2d(2)           → [n, 32, 14, 14]
///                 Inception(1×1 16 | 1×1 16→3×3 24 | 1×1 8→5×5 8 | pool→1×1 8)    → [n, 56, 14, 14]
///                 MaxPool2d(2)                                          → [n, 56, 7, 7]
///                 Inception(1×1 32 | 1×1 24→3×3 48 | 1×1 8→5×5 16 | pool→1×1 16) → [n, 112, 7, 7]
///                 AdaptiveAvgPool2d(1), Flatten                         → [n, 112]
///                 Linear(112→10)                                        → [n, 10]
/// ```
public final class InceptionMini: Layer {
    public let stem: Sequential
    public let inception1: InceptionBlock
    public let pool: MaxPool2d
    public let inception2: InceptionBlock
    public let head: Sequential
    public var isTraining = true

    public init(classes: Int = 10, generator: Generator = .default) {
        stem = Sequential([Conv2d(1, 32, kernelSize: 3, padding: 1, generator: generator), ReLU(), MaxPool2d(kernelSize: 2)])
        inception1 = InceptionBlock(32, b1: 16, r3: 16, b3: 24, r5: 8, b5: 8, pool: 8, generator: generator)
        pool = MaxPool2d(kernelSize: 2)
        inception2 = InceptionBlock(inception1.outChannels, b1: 32, r3: 24, b3: 48, r5: 8, b5: 16, pool: 16, generator: generator)
        head = Sequential([AdaptiveAvgPool2d(1), Flatten(), Linear(inception2.outChannels, classes, generator: generator)])
    }

    public func forward(_ input: Tensor) -> Tensor {
        head(inception2(pool(inception1(stem(imageBatch(input))))))
    }

    public var description: String { "InceptionMini(\(inception1.outChannels), \(inception2.outChannels) channels)" }
}
