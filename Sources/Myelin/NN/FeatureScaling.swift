/// A fitted `FeatureScaler` as a layer: `y = (x − offset)·scale` per feature, with the
/// statistics as buffers. Export puts it in front of a model trained on scaled inputs, so the
/// bundle takes raw inputs; it stays its own (f32) op in int8 bundles, where folding it into
/// the first Linear would turn near-constant features into huge weights.
///
/// - Shape: `[batch, features]` → `[batch, features]`.
public final class FeatureScaling: Layer {
    public let offset: Tensor
    public let scale: Tensor
    public var isTraining = true

    public init(_ scaler: FeatureScaler) {
        offset = Tensor(scaler.offset)
        scale = Tensor(scaler.scale)
    }

    public func forward(_ input: Tensor) -> Tensor {
        check(input.rank == 2 && input.shape[1] == offset.count,
              "FeatureScaling(\(offset.count)): expected input [batch, \(offset.count)], got \(input.shape)")
        return (input - offset) * scale
    }

    public var description: String { "FeatureScaling(\(offset.count))" }
}
