/// VGG (Simonyan & Zisserman 2014) scaled down: stages of two stacked 3×3 convolutions
/// (two 3×3 see a 5×5 window with fewer weights than one 5×5), each stage closed by a 2×2
/// max pooling that halves the resolution while the width doubles.
///
/// ```text
/// [n, 1, 28, 28]  Conv2d(1→16, 3×3) ReLU, Conv2d(16→16, 3×3) ReLU, MaxPool2d(2)   → [n, 16, 14, 14]
///                 Conv2d(16→32, 3×3) ReLU, Conv2d(32→32, 3×3) ReLU, MaxPool2d(2)  → [n, 32, 7, 7]
///                 Conv2d(32→64, 3×3) ReLU, Conv2d(64→64, 3×3) ReLU, MaxPool2d(2)  → [n, 64, 3, 3]
///                 Flatten                                                         → [n, 576]
///                 Linear(576→128) ReLU, Dropout(0.5)                              → [n, 128]
///                 Linear(128→10)                                                  → [n, 10]
/// ```
/// All convolutions use "same" padding (1).
public final class VGGMini: Layer {
    public let features: Sequential
    public let classifier: Sequential
    public var isTraining = true

    /// - Parameter widths: channels of each stage (two convolutions and a pooling per stage).
    public init(widths: [Int] = [16, 32, 64], classes: Int = 10, generator: Generator = .default) {
        var layers: [any Layer] = []
        var channels = 1, size = 28
        for w in widths {
            layers += [Conv2d(channels, w, kernelSize: 3, padding: 1, generator: generator), ReLU(),
                       Conv2d(w, w, kernelSize: 3, padding: 1, generator: generator), ReLU(), MaxPool2d(kernelSize: 2)]
            channels = w
            size /= 2
        }
        features = Sequential(layers)
        classifier = Sequential([
            Flatten(), Linear(channels * size * size, 128, generator: generator), ReLU(),
            Dropout(0.5, generator: generator), Linear(128, classes, generator: generator),
        ])
    }

    public func forward(_ input: Tensor) -> Tensor { classifier(features(imageBatch(input))) }
    public var description: String { "VGGMini(features: \(features), classifier: \(classifier))" }
}
