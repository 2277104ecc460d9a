// The model zoo: small convolutional networks for 28×28 grayscale images and 10 classes
// (Fashion-MNIST), one file per family. Each is ordinary user code over the public API — a
// `Layer` whose children are stored properties — so it doubles as an example of how to
// write your own.

/// Every zoo model by name, for `myelin train --model NAME` and the benchmarks.
///
/// ```swift
/// let model = ModelZoo.make("resnet", generator: Generator(seed: 0))
/// let logits = model(images)            // [n, 1, 28, 28] or [n, 784] → [n, 10]
/// ```
public enum ModelZoo {
    /// The names `make` accepts, from the smallest classic to the modern families.
    public static let names = ["cnn", "lenet5", "alexnet", "vgg", "inception", "resnet", "densenet", "mobilenet", "shufflenet"]

    /// One line per model for help texts.
    public static let descriptions: [String: String] = [
        "cnn": "the anchor CNN: two 3×3 convolutions with max pooling, two linear layers",
        "lenet5": "LeNet-5 (LeCun et al. 1998) with ReLU and max pooling",
        "alexnet": "AlexNet-mini: five 3×3 convolutions, three poolings, a dropout classifier",
        "vgg": "VGG-mini: three stages of two stacked 3×3 convolutions",
        "inception": "Inception-mini: two blocks of parallel 1×1, 3×3, 5×5 and pool branches",
        "resnet": "ResNet-mini: basic residual blocks with BatchNorm, identity and projection shortcuts",
        "densenet": "DenseNet-mini: two dense blocks (growth 12) joined by a transition",
        "mobilenet": "MobileNet-mini: depthwise-separable convolution blocks",
        "shufflenet": "ShuffleNet-mini: grouped 1×1 convolutions with channel shuffle",
    ]

    /// A freshly initialised model; weights (and dropout masks) come from `generator`.
    /// `name` must be one of `names`.
    public static func make(_ name: String, classes: Int = 10, generator: Generator = .default) -> any Layer {
        switch name {
        case "cnn": return SimpleCNN(classes: classes, generator: generator)
        case "lenet5": return LeNet5(classes: classes, generator: generator)
        case "alexnet": return AlexNetMini(classes: classes, generator: generator)
        case "vgg": return VGGMini(classes: classes, generator: generator)
        case "inception": return InceptionMini(classes: classes, generator: generator)
        case "resnet": return ResNetMini(classes: classes, generator: generator)
        case "densenet": return DenseNetMini(classes: classes, generator: generator)
        case "mobilenet": return MobileNetMini(classes: classes, generator: generator)
        case "shufflenet": return ShuffleNetMini(classes: classes, generator: generator)
        default:
            check(false, "ModelZoo: unknown model \"\(name)\" (known: \(names.joined(separator: ", ")))")
            fatalError()
        }
    }
}

/// A batch of flat 28×28 images `[n, 784]` viewed as `[n, 1, 28, 28]`; NCHW input passes
/// through. Lets the zoo models train on `Dataset`s as loaded (`FashionMNIST.load`).
func imageBatch(_ x: Tensor) -> Tensor {
    guard x.rank == 2 else {
        check(x.rank == 4 && x.shape[1] == 1 && x.shape[2] == 28 && x.shape[3] == 28,
              "expected images [batch, 784] or [batch, 1, 28, 28], got \(x.shape)")
        return x
    }
    check(x.shape[1] == 784, "expected images [batch, 784] or [batch, 1, 28, 28], got \(x.shape)")
    return x.reshape([x.shape[0], 1, 28, 28])
}
