import Foundation

// The update rules, in order of increasing complexity. Notation: p parameter, g gradient,
// lr learning rate, wd weight decay, t step count (from 1). Coupled L2 weight decay
// (g ← g + wd·p) comes first in every rule except AdamW's, which decays p directly.
// Each formula matches PyTorch's torch.optim implementation (checked by golden tests).

/// Stochastic gradient descent, optionally with (Nesterov) momentum μ:
///   b ← μ·b + g   (b = g on the first step)
///   p ← p − lr·(g + μ·b)   with Nesterov,   p ← p − lr·b   otherwise,   p ← p − lr·g   without momentum.
public final class SGD: Optimizer {
    public let momentum: Float
    public let nesterov: Bool

    public init(_ parameters: [Tensor], lr: Float, momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        check(momentum >= 0, "SGD: momentum must be non-negative, got \(momentum)")
        check(!nesterov || momentum > 0, "SGD: Nesterov momentum needs momentum > 0")
        self.momentum = momentum
        self.nesterov = nesterov
        super.init(parameters, lr: lr, weightDecay: weightDecay)
    }

    override public func update(index: Int, param p: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>, count: Int) {
        let lr = learningRate, wd = weightDecay, mu = momentum
        if mu == 0 {
            for i in 0..<count { p[i] -= lr * (grad[i] + wd * p[i]) }
            return
        }
        slot("momentum_buffer", index).data.withUnsafeMutableBufferPointer { b in
            for i in 0..<count {
                let g = grad[i] + wd * p[i]
                b[i] = mu * b[i] + g  // b starts at 0, so the first step gives b = g
                p[i] -= lr * (nesterov ? g + mu * b[i] : b[i])
            }
        }
    }
}

/// AdaGrad: per-coordinate step sizes shrinking with the accumulated squared gradient.
///   s ← s + g²;   p ← p − lr·g / (√s + ε)
public final class AdaGrad: Optimizer {
    public let eps: Float

    public init(_ parameters: [Tensor], lr: Float = 0.01, eps: Float = 1e-10, weightDecay: Float = 0) {
        self.eps = eps
        super.init(parameters, lr: lr, weightDecay: weightDecay)
    }

    override public func update(index: Int, param p: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>, count: Int) {
        let lr = learningRate, wd = weightDecay
        slot("sum", index).data.withUnsafeMutableBufferPointer { s in
            for i in 0..<count {
                let g = grad[i] + wd * p[i]
                s[i] += g * g
                p[i] -= lr * g / (s[i].squareRoot() + eps)
            }
        }
    }
}

/// RMSprop: AdaGrad with a decaying average of squared gradients (α), optional momentum μ.
///   v ← α·v + (1−α)·g²;   d = g / (√v + ε)
///   p ← p − lr·d,   or with momentum: b ← μ·b + d;  p ← p − lr·b
public final class RMSprop: Optimizer {
    public let alpha: Float
    public let eps: Float
    public let momentum: Float

    public init(_ parameters: [Tensor], lr: Float = 0.01, alpha: Float = 0.99, eps: Float = 1e-8,
                momentum: Float = 0, weightDecay: Float = 0) {
        self.alpha = alpha
        self.eps = eps
        self.momentum = momentum
        super.init(parameters, lr: lr, weightDecay: weightDecay)
    }

    override public func update(index: Int, param p: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>, count: Int) {
        let lr = learningRate, wd = weightDecay, a = alpha, mu = momentum
        let v = slot("square_avg", index)
        let b = mu > 0 ? slot("momentum_buffer", index) : nil
        v.data.withUnsafeMutableBufferPointer { v in
            for i in 0..<count {
                let g = grad[i] + wd * p[i]
                v[i] = a * v[i] + (1 - a) * g * g
                let d = g / (v[i].squareRoot() + eps)
                if let b = b {
                    b.data[i] = mu * b.data[i] + d
                    p[i] -= lr * b.data[i]
                } else {
                    p[i] -= lr * d
                }
            }
        }
    }
}

/// Adadelta: step sizes from the ratio of running RMS of updates and of gradients (ρ).
///   v ← ρ·v + (1−ρ)·g²;   Δ = √(u + ε)/√(v + ε)·g;   u ← ρ·u + (1−ρ)·Δ²;   p ← p − lr·Δ
public final class Adadelta: Optimizer {
    public let rho: Float
    public let eps: Float

    public init(_ parameters: [Tensor], lr: Float = 1, rho: Float = 0.9, eps: Float = 1e-6, weightDecay: Float = 0) {
        self.rho = rho
        self.eps = eps
        super.init(parameters, lr: lr, weightDecay: weightDecay)
    }

    override public func update(index: Int, param p: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>, count: Int) {
        let lr = learningRate, wd = weightDecay, r = rho
        let u = slot("acc_delta", index)
        slot("square_avg", index).data.withUnsafeMutableBufferPointer { v in
            u.data.withUnsafeMutableBufferPointer { u in
                for i in 0..<count {
                    let g = grad[i] + wd * p[i]
                    v[i] = r * v[i] + (1 - r) * g * g
                    let delta = (u[i] + eps).squareRoot() / (v[i] + eps).squareRoot() * g
                    u[i] = r * u[i] + (1 - r) * delta * delta
                    p[i] -= lr * delta
                }
            }
        }
    }
}

/// Adam: bias-corrected first (β₁) and second (β₂) moment estimates.
///   m ← β₁·m + (1−β₁)·g;   v ← β₂·v + (1−β₂)·g²
///   p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
/// `AdamW` subclasses it with decoupled weight decay.
public class Adam: Optimizer {
    public let beta1: Float
    public let beta2: Float
    public let eps: Float

    public init(_ parameters: [Tensor], lr: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                eps: Float = 1e-8, weightDecay: Float = 0) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        super.init(parameters, lr: lr, weightDecay: weightDecay)
    }

    /// Weight decay added to the gradient (0 for AdamW, which decays the weights instead).
    var coupledDecay: Float { weightDecay }

    override public func update(index: Int, param p: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>, count: Int) {
        let t = Float(stepCount)
        let stepSize = learningRate / (1 - Foundation.pow(beta1, t))
        let invRootCorrection2 = 1 / (1 - Foundation.pow(beta2, t)).squareRoot()
        let wd = coupledDecay, b1 = beta1, b2 = beta2, e = eps
        let mSlot = slot("exp_avg", index)
        slot("exp_avg_sq", index).data.withUnsafeMutableBufferPointer { v in
            mSlot.data.withUnsafeMutableBufferPointer { m in
                let m = m.baseAddress!, v = v.baseAddress!
                // Large tensors are split across threads: the update is elementwise, so the
                // result is the same bit for bit whatever the split.
                parallelChunks(count) { range in
                    adamKernel(count: range.count, p: p + range.lowerBound, grad: grad + range.lowerBound,
                               m: m + range.lowerBound, v: v + range.lowerBound, weightDecay: wd, beta1: b1, beta2: b2,
                               stepSize: stepSize, invRootCorrection2: invRootCorrection2, eps: e)
                }
            }
        }
    }
}

/// The Adam update over raw buffers, 16 lanes at a time then the tail (the hot loop of most
/// training runs). Same arithmetic in both parts, so results do not depend on alignment.
@inline(never)
func adamKernel(count: Int, p: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>,
                m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, weightDecay wd: Float,
                beta1 b1: Float, beta2 b2: Float, stepSize: Float, invRootCorrection2: Float, eps e: Float) {
    typealias V = SIMD16<Float>
    var i = 0
    while i + 16 <= count {
        let g = V.load(grad + i) + wd * V.load(p + i)
        let mi = b1 * V.load(m + i) + (1 - b1) * g
        let vi = b2 * V.load(v + i) + (1 - b2) * g * g
        mi.store(m + i)
        vi.store(v + i)
        (V.load(p + i) - stepSize * mi / (vi.vectorSquareRoot() * invRootCorrection2 + e)).store(p + i)
        i += 16
    }
    while i < count {
        let g = grad[i] + wd * p[i]
        m[i] = b1 * m[i] + (1 - b1) * g
        v[i] = b2 * v[i] + (1 - b2) * g * g
        p[i] -= stepSize * m[i] / (v[i].squareRoot() * invRootCorrection2 + e)
        i += 1
    }
}

/// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter):
///   p ← p·(1 − lr·wd), then the Adam step with the undecayed gradient.
public final class AdamW: Adam {
    public override init(_ parameters: [Tensor], lr: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                         eps: Float = 1e-8, weightDecay: Float = 0.01) {
        super.init(parameters, lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay)
    }

    override var coupledDecay: Float { 0 }

    override public func update(index: Int, param p: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>, count: Int) {
        let decay = 1 - learningRate * weightDecay
        for i in 0..<count { p[i] *= decay }
        super.update(index: index, param: p, grad: grad, count: count)
    }
}
