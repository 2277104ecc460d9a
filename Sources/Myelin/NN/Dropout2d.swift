/// Channel dropout (PyTorch's `nn.Dropout2d`): in training mode each whole channel of each
/// sample is zeroed with probability `p` and the kept ones are scaled by 1/(1−p); evaluation
/// is the identity. Neighbouring pixels of a feature map are strongly correlated, so dropping
/// single elements regularises convolutions little; dropping channels does.
///
/// - Shape: `[N, C, H, W]` (or any `[N, C, …]`) → the same.
///
/// ```swift
/// let features = Sequential(Conv2d(1, 32, kernelSize: 3), ReLU(), Dropout2d(0.2))
/// ```
public final class Dropout2d: Layer {
    public let p: Float
    public var isTraining = true
    let generator: Generator

    /// - Parameters:
    ///   - p: probability of dropping a channel, in [0, 1).
    ///   - generator: source of the masks (the default generator unless given).
    public init(_ p: Float = 0.5, generator: Generator = .default) {
        check(p >= 0 && p < 1, "Dropout2d: p must be in [0, 1), got \(p)")
        self.p = p
        self.generator = generator
    }

    public func forward(_ input: Tensor) -> Tensor {
        check(input.rank >= 3, "Dropout2d: expected input [batch, channels, height, width], got \(input.shape)")
        guard isTraining && p > 0 else { return input }
        let scale = 1 / (1 - p)
        var mask = [Float](repeating: 0, count: input.shape[0] * input.shape[1])
        for i in 0..<mask.count where generator.nextUniform() >= p { mask[i] = scale }
        // One factor per (sample, channel), broadcast over the spatial dimensions.
        let maskShape = [input.shape[0], input.shape[1]] + [Int](repeating: 1, count: input.rank - 2)
        return input * Tensor(shape: maskShape, data: mask)
    }

    public var description: String { "Dropout2d(p: \(p))" }
}
