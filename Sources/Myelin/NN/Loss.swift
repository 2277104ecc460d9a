import Foundation

// Loss functions. Each returns a scalar tensor (shape []) averaged over all elements
// (`.mean`, the default, as PyTorch) or summed (`.sum`). Inputs and targets must have the
// same shape unless stated otherwise.

/// How a loss combines the per-element losses.
public enum Reduction: Sendable { case mean, sum }

@inline(__always)
func reduce(_ t: Tensor, _ reduction: Reduction) -> Tensor { reduction == .mean ? t.mean() : t.sum() }

@inline(__always)
func checkSameShape(_ op: String, _ a: Tensor, _ b: Tensor) {
    check(a.shape == b.shape, "\(op): input shape \(a.shape) and target shape \(b.shape) differ")
}

/// Mean squared error: mean((input − target)²).
public func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    checkSameShape("mseLoss", input, target)
    return reduce((input - target).square(), reduction)
}

/// Mean absolute error: mean(|input − target|).
public func l1Loss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    checkSameShape("l1Loss", input, target)
    return reduce((input - target).abs(), reduction)
}

/// Binary cross-entropy on probabilities p ∈ [0, 1]: −(y·log p + (1−y)·log(1−p)).
/// Logarithms are clamped at −100 as in PyTorch, so p = 0 or 1 gives a finite loss.
public func binaryCrossEntropy(_ probabilities: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    checkSameShape("binaryCrossEntropy", probabilities, target)
    let n = Float(probabilities.count)
    let scale: Float = reduction == .mean ? 1 / n : 1
    var total: Float = 0
    for i in 0..<probabilities.count {
        let p = probabilities.data[i], y = target.data[i]
        total -= y * Swift.max(Foundation.log(p), -100) + (1 - y) * Swift.max(Foundation.log(1 - p), -100)
    }
    let p = probabilities, t = target
    return Tensor.result("binary_cross_entropy", shape: [], data: [total * scale], inputs: [probabilities, target]) { g in
        // d/dp = (p − y) / (p(1 − p)), with the denominator kept away from 0 (PyTorch uses eps 1e-12).
        p.accumulateGrad(count: p.count) { acc in
            for i in 0..<acc.count {
                let pi = p.data[i], yi = t.data[i]
                acc[i] += g[0] * scale * (pi - yi) / Swift.max(pi * (1 - pi), 1e-12)
            }
        }
        t.accumulateGrad(count: t.count) { acc in
            for i in 0..<acc.count {
                let pi = p.data[i]
                acc[i] += g[0] * scale * (Swift.max(Foundation.log(1 - pi), -100) - Swift.max(Foundation.log(pi), -100))
            }
        }
    }
}

/// Binary cross-entropy on logits, stable for any magnitude:
/// max(x, 0) − x·y + log(1 + e^(−|x|)). Gradient (σ(x) − y).
public func binaryCrossEntropyWithLogits(_ logits: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    checkSameShape("binaryCrossEntropyWithLogits", logits, target)
    let scale: Float = reduction == .mean ? 1 / Float(logits.count) : 1
    var total: Float = 0
    for i in 0..<logits.count {
        let x = logits.data[i], y = target.data[i]
        total += Swift.max(x, 0) - x * y + Foundation.log1p(Foundation.exp(-Swift.abs(x)))
    }
    let l = logits, t = target
    return Tensor.result("bce_with_logits", shape: [], data: [total * scale], inputs: [logits, target]) { g in
        l.accumulateGrad(count: l.count) { acc in
            for i in 0..<acc.count { acc[i] += g[0] * scale * (stableSigmoid(l.data[i]) - t.data[i]) }
        }
        t.accumulateGrad(count: t.count) { acc in
            for i in 0..<acc.count { acc[i] -= g[0] * scale * l.data[i] }
        }
    }
}

/// Cross-entropy from logits with integer class targets, fused with a stable log-softmax:
/// mean over rows of logsumexp(x) − x[target].
///
/// - Shapes: logits `[batch, classes]`, targets `batch` integers in `0..<classes`.
public func crossEntropy(_ logits: Tensor, _ targets: [Int], reduction: Reduction = .mean) -> Tensor {
    check(logits.rank == 2, "crossEntropy: logits must be [batch, classes], got \(logits.shape)")
    let n = logits.shape[0], c = logits.shape[1]
    check(targets.count == n, "crossEntropy: \(targets.count) targets for logits of shape \(logits.shape)")
    let scale: Float = reduction == .mean ? 1 / Float(Swift.max(n, 1)) : 1
    var probs = [Float](repeating: 0, count: n * c)
    var total: Float = 0
    logits.data.withUnsafeBufferPointer { x in
        for r in 0..<n {
            let t = targets[r]
            check(t >= 0 && t < c, "crossEntropy: target \(t) out of range for \(c) classes")
            var m = -Float.infinity
            for j in 0..<c { m = Swift.max(m, x[r * c + j]) }
            var z: Float = 0
            for j in 0..<c { let e = Foundation.exp(x[r * c + j] - m); probs[r * c + j] = e; z += e }
            let inv = 1 / z
            for j in 0..<c { probs[r * c + j] *= inv }
            total += (m - x[r * c + t]) + Foundation.log(z)
        }
    }
    let input = logits
    return Tensor.result("cross_entropy", shape: [], data: [total * scale], inputs: [logits]) { g in
        // d/dx = softmax(x) − onehot(target)
        let k = g[0] * scale
        input.accumulateGrad(count: n * c) { acc in
            for r in 0..<n {
                for j in 0..<c { acc[r * c + j] += k * probs[r * c + j] }
                acc[r * c + targets[r]] -= k
            }
        }
    }
}

/// Negative log-likelihood of log-probabilities with integer targets: mean of −logp[target].
/// `crossEntropy(x, t) == nllLoss(x.logSoftmax(), t)`.
public func nllLoss(_ logProbabilities: Tensor, _ targets: [Int], reduction: Reduction = .mean) -> Tensor {
    check(logProbabilities.rank == 2 && targets.count == logProbabilities.shape[0],
                 "nllLoss: expected [batch, classes] with batch targets, got \(logProbabilities.shape) and \(targets.count) targets")
    let c = logProbabilities.shape[1]
    let picked = logProbabilities.reshape([-1]).gatherRows(targets.enumerated().map { $0.offset * c + $0.element })
    return reduce(-picked, reduction)
}

/// Gaussian negative log-likelihood, the maximum-likelihood loss for a predicted mean and
/// variance: ½·(log σ² + (x − y)²/σ²), plus ½·log 2π when `full`. σ² is clamped below at
/// `eps`. With σ² = 1 it equals ½·MSE + const, so minimising MSE is maximum likelihood
/// under unit-variance Gaussian noise.
public func gaussianNLLLoss(_ input: Tensor, _ target: Tensor, variance: Tensor, full: Bool = false,
                            eps: Float = 1e-6, reduction: Reduction = .mean) -> Tensor {
    checkSameShape("gaussianNLLLoss", input, target)
    checkSameShape("gaussianNLLLoss (variance)", input, variance)
    let v = variance.clamp(min: eps)
    var perElement = (v.log() + (input - target).square() / v) * 0.5
    if full { perElement = perElement + 0.5 * Foundation.log(2 * Float.pi) }
    return reduce(perElement, reduction)
}

/// L1 penalty λ·Σ|w| over `parameters`, to add to a loss (sparsity-inducing regulariser).
public func l1Penalty(_ parameters: [Tensor], lambda: Float) -> Tensor {
    check(!parameters.isEmpty, "l1Penalty: no parameters given")
    var total = parameters[0].abs().sum()
    for p in parameters.dropFirst() { total = total + p.abs().sum() }
    return total * lambda
}

/// L2 penalty λ·Σw² over `parameters` (what optimizers' `weightDecay` adds, as a loss term).
public func l2Penalty(_ parameters: [Tensor], lambda: Float) -> Tensor {
    check(!parameters.isEmpty, "l2Penalty: no parameters given")
    var total = parameters[0].square().sum()
    for p in parameters.dropFirst() { total = total + p.square().sum() }
    return total * lambda
}
