/// AlexNet (Krizhevsky et al. 2012) scaled down to 28×28: five convolutions (here all 3×3,
/// "same" padding) with max pooling after the first, second and fifth, then a classifier of
/// two dropout-regularised hidden layers.
///
/// ```text
/// [n, 1, 28, 28]  Conv2d(1→32, 3×3) ReLU, MaxPool2d(2)   → [n, 32, 14, 14]
///                 Conv2d(32→64, 3×3) ReLU, MaxPool2d(2)  → [n, 64, 7, 7]
///                 Conv2d(64→96, 3×3) ReLU                → [n, 96, 7, 7]
///                 Conv2d(96→96, 3×3) ReLU                → [n, 96, 7, 7]
///                 Conv2d(96→64, 3×3) ReLU                → [n, 64, 7, 7]
///                 MaxPool2d(3, stride 2)                 → [n, 64, 3, 3]
///                 Flatten, Dropout(0.5)                  → [n, 576]
///                 Linear(576→256) ReLU, Dropout(0.5)     → [n, 256]
///                 Linear(256→256) ReLU                   → [n, 256]
///                 Linear(256→10)                         → [n, 10]
/// ```
public final class AlexNetMini: Layer {
    public let features: Sequential
    public let classifier: Sequential
    public var isTraining = true

    public init(classes: Int = 10, generator: Generator = .default) {
        func conv(_ i: Int, _ o: Int) -> Conv2d { Conv2d(i, o, kernelSize: 3, padding: 1, generator: generator) }
        features = Sequential([
            conv(1, 32), ReLU(), MaxPool2d(kernelSize: 2),
            conv(32, 64), ReLU(), MaxPool2d(kernelSize: 2),
            conv(64, 96), ReLU(), conv(96, 96), ReLU(), conv(96, 64), ReLU(),
            MaxPool2d(kernelSize: 3, stride: 2),
        ])
        classifier = Sequential([
            Flatten(), Dropout(0.5, generator: generator), Linear(576, 256, generator: generator), ReLU(),
            Dropout(0.5, generator: generator), Linear(256, 256, generator: generator), ReLU(),
            Linear(256, classes, generator: generator),
        ])
    }

    public func forward(_ input: Tensor) -> Tensor { classifier(features(imageBatch(input))) }
    public var description: String { "AlexNetMini(features: \(features), classifier: \(classifier))" }
}
