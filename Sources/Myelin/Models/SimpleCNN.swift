/// The anchor CNN of `../shared/anchors/torch_train.py cnn`, layer for layer, so Myelin and
/// PyTorch train the same network in the benchmarks.
///
/// ```text
/// [n, 1, 28, 28]  Conv2d(1→32, 3×3) ReLU      → [n, 32, 26, 26]
///                 MaxPool2d(2)                → [n, 32, 13, 13]
///                 Conv2d(32→64, 3×3) ReLU     → [n, 64, 11, 11]
///                 MaxPool2d(2)                → [n, 64, 5, 5]
///                 Flatten                     → [n, 1600]
///                 Linear(1600→128) ReLU       → [n, 128]
///                 Linear(128→10)              → [n, 10]
/// ```
/// 225 034 parameters, 5.32 MFLOPs per image (see `ModelProfile`). Input `[n, 784]` is
/// viewed as `[n, 1, 28, 28]`.
public final class SimpleCNN: Layer {
    /// The layers in PyTorch's order (state-dict names `layers.0.weight`, … `layers.9.bias`).
    public let layers: Sequential
    public var isTraining = true

    public init(classes: Int = 10, generator: Generator = .default) {
        layers = Sequential([
            Conv2d(1, 32, kernelSize: 3, generator: generator), ReLU(), MaxPool2d(kernelSize: 2),
            Conv2d(32, 64, kernelSize: 3, generator: generator), ReLU(), MaxPool2d(kernelSize: 2),
            Flatten(), Linear(64 * 5 * 5, 128, generator: generator), ReLU(), Linear(128, classes, generator: generator),
        ])
    }

    public func forward(_ input: Tensor) -> Tensor { layers(imageBatch(input)) }
    public var description: String { "SimpleCNN(\(layers))" }
}
