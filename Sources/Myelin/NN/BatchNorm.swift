/// Batch normalisation over the batch dimension of `[batch, features]` inputs.
///
/// Training mode normalises with the batch mean and (biased) variance and updates the
/// running statistics — `running = (1 − momentum)·running + momentum·batch`, using the
/// unbiased variance, as PyTorch does. Evaluation mode normalises with the running statistics.
/// With `affine`, a learned scale `weight` (init 1) and shift `bias` (init 0) follow.
///
/// - Shape: `[batch, features]` → `[batch, features]`.
public final class BatchNorm1d: Layer {
    public let features: Int
    public let eps: Float
    public let momentum: Float
    public let weight: Tensor?
    public let bias: Tensor?
    public let runningMean: Tensor
    public let runningVar: Tensor
    public var isTraining = true

    public init(_ features: Int, eps: Float = 1e-5, momentum: Float = 0.1, affine: Bool = true) {
        check(features > 0, "BatchNorm1d: features must be positive, got \(features)")
        self.features = features
        self.eps = eps
        self.momentum = momentum
        weight = affine ? Tensor.ones([features], requiresGrad: true) : nil
        bias = affine ? Tensor.zeros([features], requiresGrad: true) : nil
        runningMean = .zeros([features])
        runningVar = .ones([features])
    }

    public func forward(_ input: Tensor) -> Tensor {
        check(input.rank == 2 && input.shape[1] == features,
                     "BatchNorm1d(\(features)): expected input [batch, \(features)], got \(input.shape)")
        var normalized: Tensor
        if isTraining {
            let n = input.shape[0]
            check(n > 1, "BatchNorm1d: training mode needs more than one sample per batch, got \(input.shape)")
            let mean = input.mean(axis: 0, keepDims: true)           // [1, F]
            let centered = input - mean
            let variance = centered.square().mean(axis: 0, keepDims: true)
            normalized = centered / (variance + eps).sqrt()
            let unbiased = Float(n) / Float(n - 1)
            for j in 0..<features {
                runningMean.data[j] = (1 - momentum) * runningMean.data[j] + momentum * mean.data[j]
                runningVar.data[j] = (1 - momentum) * runningVar.data[j] + momentum * variance.data[j] * unbiased
            }
        } else {
            return batchNormInference(input, mean: runningMean, variance: runningVar, weight: weight, bias: bias, eps: eps)
        }
        if let w = weight, let b = bias { normalized = normalized * w + b }
        return normalized
    }

    public var localParameters: [(String, Tensor)] {
        if let w = weight, let b = bias { return [("weight", w), ("bias", b)] }
        return []
    }
    public var localBuffers: [(String, Tensor)] { [("running_mean", runningMean), ("running_var", runningVar)] }

    public var description: String { "BatchNorm1d(\(features), eps: \(eps), momentum: \(momentum)\(weight == nil ? ", affine: false" : ""))" }
}

/// Batch normalisation with fixed statistics (evaluation mode) as one op, so that export can
/// fold it into the preceding Linear or convolution:
/// `y = (x − mean[c]) / √(variance[c] + eps) · weight[c] + bias[c]`, `c` the index along `axis`.
///
/// - Shapes: x `[n, C, …]` (channels on `axis`, 1 by default); mean, variance, weight, bias `[C]`.
///   `weight` and `bias` are both given or both nil.
public func batchNormInference(_ x: Tensor, mean: Tensor, variance: Tensor, weight: Tensor?, bias: Tensor?,
                               eps: Float, axis: Int = 1) -> Tensor {
    check(axis >= 0 && axis < x.rank, "batch_norm: axis \(axis) out of range for input shape \(x.shape)")
    let channels = x.shape[axis]
    check(mean.shape == [channels] && variance.shape == [channels],
          "batch_norm: statistics of shape \(mean.shape) and \(variance.shape) for \(channels) channels of input \(x.shape)")
    check((weight == nil) == (bias == nil), "batch_norm: weight and bias must both be given or both be nil")
    if let w = weight, let b = bias {
        check(w.shape == [channels] && b.shape == [channels],
              "batch_norm: weight \(w.shape) and bias \(b.shape) for \(channels) channels of input \(x.shape)")
    }
    let inner = x.shape[(axis + 1)...].reduce(1, *)
    let outer = x.shape[..<axis].reduce(1, *)
    // Per channel: y = x·scale + shift, with xhat = (x − mean)·invStd kept for the weight gradient.
    let invStd = variance.data.map { 1 / ($0 + eps).squareRoot() }
    let gamma = weight?.data ?? [Float](repeating: 1, count: channels)
    let beta = bias?.data ?? [Float](repeating: 0, count: channels)
    var out = [Float](repeating: 0, count: x.count)
    x.data.withUnsafeBufferPointer { xp in
        for o in 0..<outer {
            for c in 0..<channels {
                let s = invStd[c] * gamma[c], t = beta[c] - mean.data[c] * s
                let base = (o * channels + c) * inner
                for i in 0..<inner { out[base + i] = xp[base + i] * s + t }
            }
        }
    }
    var inputs = [x, mean, variance]
    if let w = weight, let b = bias { inputs += [w, b] }
    return Tensor.result("batch_norm", shape: x.shape, data: out, inputs: inputs,
                         attributes: ["eps": .float(Double(eps)), "axis": .int(axis)]) { g in
        x.accumulateGrad(count: x.count) { acc in
            for o in 0..<outer {
                for c in 0..<channels {
                    let s = invStd[c] * gamma[c], base = (o * channels + c) * inner
                    for i in 0..<inner { acc[base + i] += g[base + i] * s }
                }
            }
        }
        guard let w = weight, let b = bias else { return }
        var gw = [Float](repeating: 0, count: channels), gb = [Float](repeating: 0, count: channels)
        x.data.withUnsafeBufferPointer { xp in
            for o in 0..<outer {
                for c in 0..<channels {
                    let base = (o * channels + c) * inner
                    for i in 0..<inner {
                        gw[c] += g[base + i] * (xp[base + i] - mean.data[c]) * invStd[c]
                        gb[c] += g[base + i]
                    }
                }
            }
        }
        w.accumulateGrad(gw)
        b.accumulateGrad(gb)
    }
}
