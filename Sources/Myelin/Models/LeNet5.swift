/// LeNet-5 (LeCun et al. 1998) for 28×28 images: the first convolution pads by 2 so the
/// 32×32 geometry of the original follows; ReLU and max pooling replace the original's
/// scaled tanh and subsampling, as modern re-implementations do.
///
/// ```text
/// [n, 1, 28, 28]  Conv2d(1→6, 5×5, padding 2) ReLU  → [n, 6, 28, 28]
///                 MaxPool2d(2)                      → [n, 6, 14, 14]
///                 Conv2d(6→16, 5×5) ReLU            → [n, 16, 10, 10]
///                 MaxPool2d(2)                      → [n, 16, 5, 5]
///                 Flatten                           → [n, 400]
///                 Linear(400→120) ReLU              → [n, 120]
///                 Linear(120→84) ReLU               → [n, 84]
///                 Linear(84→10)                     → [n, 10]
/// ```
/// 61 706 parameters.
public final class LeNet5: Layer {
    public let features: Sequential
    public let classifier: Sequential
    public var isTraining = true

    public init(classes: Int = 10, generator: Generator = .default) {
        features = Sequential([
            Conv2d(1, 6, kernelSize: 5, padding: 2, generator: generator), ReLU(), MaxPool2d(kernelSize: 2),
            Conv2d(6, 16, kernelSize: 5, generator: generator), ReLU(), MaxPool2d(kernelSize: 2),
        ])
        classifier = Sequential([
            Flatten(), Linear(400, 120, generator: generator), ReLU(),
            Linear(120, 84, generator: generator), ReLU(), Linear(84, classes, generator: generator),
        ])
    }

    public func forward(_ input: Tensor) -> Tensor { classifier(features(imageBatch(input))) }
    public var description: String { "LeNet5(features: \(features), classifier: \(classifier))" }
}
