/// Inverted dropout: in training mode each element is zeroed with probability `p` and the
/// survivors are scaled by 1/(1−p), so evaluation (identity) needs no rescaling.
///
/// - Shape: any; output has the input's shape.
public final class Dropout: Layer {
    public let p: Float
    public var isTraining = true
    let generator: Generator

    /// - Parameters:
    ///   - p: drop probability in [0, 1).
    ///   - generator: source of the masks (the default generator unless given).
    public init(_ p: Float = 0.5, generator: Generator = .default) {
        check(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got \(p)")
        self.p = p
        self.generator = generator
    }

    public func forward(_ input: Tensor) -> Tensor {
        guard isTraining && p > 0 else { return input }
        return input.dropout(p: p, generator: generator)
    }

    public var description: String { "Dropout(p: \(p))" }
}
