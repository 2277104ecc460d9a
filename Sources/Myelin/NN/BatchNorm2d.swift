/// Batch normalisation of NCHW feature maps, per channel over the batch and both spatial
/// dimensions (PyTorch's `nn.BatchNorm2d`).
///
/// Training mode normalises with the batch mean and (biased) variance of each channel and
/// updates the running statistics — `running = (1 − momentum)·running + momentum·batch`,
/// using the unbiased variance, as PyTorch does. Evaluation mode is the single op
/// `batchNormInference(axis: 1)` on the running statistics, which export folds into the
/// preceding convolution. With `affine`, a learned scale `weight` (init 1) and shift `bias`
/// (init 0) follow.
///
/// - Shape: `[N, C, H, W]` → `[N, C, H, W]`.
///
/// ```swift
/// let block = Sequential(Conv2d(3, 16, kernelSize: 3, padding: 1, bias: false), BatchNorm2d(16), ReLU())
/// ```
public final class BatchNorm2d: Layer {
    public let features: Int
    public let eps: Float
    public let momentum: Float
    public let weight: Tensor?
    public let bias: Tensor?
    public let runningMean: Tensor
    public let runningVar: Tensor
    public var isTraining = true

    public init(_ features: Int, eps: Float = 1e-5, momentum: Float = 0.1, affine: Bool = true) {
        check(features > 0, "BatchNorm2d: features must be positive, got \(features)")
        self.features = features
        self.eps = eps
        self.momentum = momentum
        weight = affine ? Tensor.ones([features], requiresGrad: true) : nil
        bias = affine ? Tensor.zeros([features], requiresGrad: true) : nil
        runningMean = .zeros([features])
        runningVar = .ones([features])
    }

    public func forward(_ input: Tensor) -> Tensor {
        forward(input, rectifierSlope: nil)
    }

    /// `forward` then, when `rectifierSlope` is given, the rectifier x > 0 ? x : slope·x
    /// (ReLU for 0) in the same op while training (`batchNormTraining`): what `Sequential`
    /// runs for a BatchNorm2d followed by ReLU or LeakyReLU. Same values and gradients, bit
    /// for bit, as the two layers one after the other.
    func forward(_ input: Tensor, rectifierSlope: Float?) -> Tensor {
        check(input.rank == 4 && input.shape[1] == features,
              "BatchNorm2d(\(features)): expected input [batch, \(features), height, width], got \(input.shape)")
        guard isTraining else {
            let output = batchNormInference(input, mean: runningMean, variance: runningVar, weight: weight, bias: bias, eps: eps, axis: 1)
            guard let slope = rectifierSlope else { return output }
            return slope == 0 ? output.relu() : output.leakyRelu(slope: slope)
        }
        let count = input.count / features
        check(count > 1, "BatchNorm2d: training mode needs more than one value per channel, got input \(input.shape)")
        let (output, mean, variance) = batchNormTraining(input, weight: weight, bias: bias, eps: eps, rectifierSlope: rectifierSlope)
        let unbiased = Float(count) / Float(count - 1)
        for c in 0..<features {
            runningMean.data[c] = (1 - momentum) * runningMean.data[c] + momentum * mean[c]
            runningVar.data[c] = (1 - momentum) * runningVar.data[c] + momentum * variance[c] * unbiased
        }
        return output
    }

    public var localParameters: [(String, Tensor)] {
        if let w = weight, let b = bias { return [("weight", w), ("bias", b)] }
        return []
    }
    public var localBuffers: [(String, Tensor)] { [("running_mean", runningMean), ("running_var", runningVar)] }

    public var description: String { "BatchNorm2d(\(features), eps: \(eps), momentum: \(momentum)\(weight == nil ? ", affine: false" : ""))" }
}

/// Training-mode batch normalisation of `[N, C, …]` over every axis but 1, as one op:
/// y = (x − mean[c]) / √(var[c] + eps) · weight[c] + bias[c] with the batch's mean and biased
/// variance, which it also returns (for the running statistics).
///
/// Backward, with x̂ the normalised input, M the values per channel and dx̂ = dy·weight:
/// dx = (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) / √(var + eps); dweight = Σ dy·x̂; dbias = Σ dy.
///
/// With `rectifierSlope`, y is rectified in the same pass (y > 0 ? y : slope·y; ReLU, max(y, 0),
/// for 0) and recorded as `batch_norm_training_leaky_relu`; the backward applies the slope to dy
/// inside its two passes (recomputing y before the rectifier), so no separate activation pass or
/// buffer exists. Values and gradients are bit for bit those of the unfused pair.
func batchNormTraining(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float,
                       rectifierSlope: Float? = nil) -> (Tensor, [Float], [Float]) {
    let batch = x.shape[0], channels = x.shape[1], inner = x.shape.dropFirst(2).reduce(1, *)
    let m = Double(batch * inner)
    var mean = [Float](repeating: 0, count: channels), variance = [Float](repeating: 0, count: channels)
    var invStd = [Float](repeating: 0, count: channels)
    var scales = [Float](repeating: 0, count: channels), shifts = [Float](repeating: 0, count: channels)
    // Every element is written (each channel plane of each image), so no zero fill first.
    let out = [Float](unsafeUninitializedCapacity: x.count) { op, initialized in
        x.data.withUnsafeBufferPointer { xb in
            guard let xp = xb.baseAddress, let yp = op.baseAddress else { return }
            let planes = ChannelPlanes(count: batch, length: inner, stride: channels * inner)
            for c in 0..<channels {
                let xc = xp + c * inner, yc = yp + c * inner
                let mu = Float(channelSum(xc, planes) / m)
                mean[c] = mu
                variance[c] = Float(batchNormMoments(xc, planes, mean: mu).centeredSquares / m)
                invStd[c] = 1 / (variance[c] + eps).squareRoot()
                let scale = invStd[c] * (weight?.data[c] ?? 1), shift = (bias?.data[c] ?? 0) - mu * scale
                scales[c] = scale
                shifts[c] = shift
                if let slope = rectifierSlope {
                    batchNormScaleShiftRectified(xc, yc, planes, scale: scale, shift: shift, slope: slope)
                } else {
                    batchNormScaleShift(xc, yc, planes, scale: scale, shift: shift)
                }
            }
        }
        initialized = x.count
    }
    var inputs = [x]
    if let w = weight { inputs.append(w) }
    if let b = bias { inputs.append(b) }
    var attributes: OpAttributes = ["eps": .float(Double(eps)), "axis": .int(1)]
    if let slope = rectifierSlope { attributes["slope"] = .float(Double(slope)) }
    let op = rectifierSlope == nil ? "batch_norm_training" : "batch_norm_training_leaky_relu"
    let result = Tensor.result(op, shape: x.shape, data: out, inputs: inputs, attributes: attributes) { g in
        var gamma = [Float](repeating: 0, count: channels), beta = [Float](repeating: 0, count: channels)
        let planes = ChannelPlanes(count: batch, length: inner, stride: channels * inner)
        x.data.withUnsafeBufferPointer { xb in
            g.withUnsafeBufferPointer { gb in
                guard let xp = xb.baseAddress, let gp = gb.baseAddress else { return }
                // One channel at a time, its input gradient right after its sums (the channel's
                // planes are still in cache): Σ dy and Σ dy·x̂, then dx.
                func channel(_ c: Int, _ gx: UnsafeMutablePointer<Float>?, accumulate: Bool) {
                    let xc = xp + c * inner, gc = gp + c * inner
                    let (sumG, sumGXRaw) = rectifierSlope.map {
                        batchNormRectifiedGradientSums(xc, gc, planes, mean: mean[c], scale: scales[c], shift: shifts[c], slope: $0)
                    } ?? batchNormGradientSums(xc, gc, planes, mean: mean[c])
                    beta[c] = Float(sumG)
                    gamma[c] = Float(sumGXRaw * Double(invStd[c]))
                    guard let gx else { return }
                    let k = (weight?.data[c] ?? 1) * invStd[c]
                    let meanG = Float(Double(beta[c]) / m), meanGX = Float(Double(gamma[c]) / m)
                    if let slope = rectifierSlope {
                        batchNormRectifiedInputGradient(xc, gc, gx + c * inner, planes, mean: mean[c], invStd: invStd[c], k: k,
                                                        meanDy: meanG, meanDyXhat: meanGX, scale: scales[c], shift: shifts[c],
                                                        slope: slope, accumulate: accumulate)
                    } else {
                        batchNormInputGradient(xc, gc, gx + c * inner, planes, mean: mean[c], invStd: invStd[c], k: k,
                                               meanDy: meanG, meanDyXhat: meanGX, accumulate: accumulate)
                    }
                }
                if x.requiresGrad {
                    x.writeGrad(count: x.count) { gx, accumulate in
                        for c in 0..<channels { channel(c, gx.baseAddress, accumulate: accumulate) }
                    }
                } else {
                    for c in 0..<channels { channel(c, nil, accumulate: false) }
                }
            }
        }
        weight?.accumulateGrad(gamma)
        bias?.accumulateGrad(beta)
    }
    return (result, mean, variance)
}
