// Elementwise kernels of BatchNorm2d (one channel plane at a time: contiguous in NCHW) and of
// (leaky) ReLU, 16 lanes at a time with a scalar tail, each beside its naive reference
// (NormalizationActivationKernelTests checks one against the other). The DCGAN runs them on
// every feature map several times a step; plain loops left them scalar.

private typealias Lanes = SIMD16<Float>

/// y[i] = x[i] if x[i] > 0, else slope·x[i], for i < n; slope 0 is ReLU, max(x[i], 0) (+0 on
/// the negative side, NaN kept). Same values as the reference, bit for bit.
@inline(never)
@_optimize(speed)
func leakyReluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int, slope: Float) {
    let s = Lanes(repeating: slope), zero = Lanes()
    var i = 0
    if slope == 0 {
        while i + 16 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: Lanes.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: v.replacing(with: zero, where: v .<= zero), as: Lanes.self)
            i += 16
        }
    } else {
        while i + 16 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: Lanes.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: (v * s).replacing(with: v, where: v .> zero), as: Lanes.self)
            i += 16
        }
    }
    leakyReluForwardReference(x + i, y + i, count: n - i, slope: slope)
}

/// The naive loop `leakyReluForward` is checked against (and its tail).
@inline(__always)
func leakyReluForwardReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int, slope: Float) {
    for i in 0..<n { y[i] = slope == 0 ? Swift.max(x[i], 0) : (x[i] > 0 ? x[i] : slope * x[i]) }
}

/// dx[i] (+)= dy[i] if x[i] > 0, else slope·dy[i] (+0 for slope 0), for i < n: added when
/// `accumulate`, else written (dx may then be uninitialised). Same values as the reference,
/// bit for bit.
@inline(never)
@_optimize(speed)
func leakyReluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                       count n: Int, slope: Float, accumulate: Bool) {
    let s = Lanes(repeating: slope), zero = Lanes()
    @inline(__always) func store(_ d: Lanes, _ i: Int) {
        let sum = accumulate ? UnsafeRawPointer(dx + i).loadUnaligned(as: Lanes.self) + d : d
        UnsafeMutableRawPointer(dx + i).storeBytes(of: sum, as: Lanes.self)
    }
    var i = 0
    if slope == 0 {
        while i + 16 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: Lanes.self), g = UnsafeRawPointer(dy + i).loadUnaligned(as: Lanes.self)
            store(zero.replacing(with: g, where: v .> zero), i)
            i += 16
        }
    } else {
        while i + 16 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: Lanes.self), g = UnsafeRawPointer(dy + i).loadUnaligned(as: Lanes.self)
            store((g * s).replacing(with: g, where: v .> zero), i)
            i += 16
        }
    }
    leakyReluBackwardReference(x + i, dy + i, dx + i, count: n - i, slope: slope, accumulate: accumulate)
}

/// The naive loop `leakyReluBackward` is checked against (and its tail).
@inline(__always)
func leakyReluBackwardReference(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                count n: Int, slope: Float, accumulate: Bool) {
    for i in 0..<n {
        let d = x[i] > 0 ? dy[i] : (slope == 0 ? 0 : slope * dy[i])
        dx[i] = accumulate ? dx[i] + d : d
    }
}

/// y[i] = x[i]·scale + shift for i < n: batch norm's normalise-and-affine step on one channel
/// plane (scale = weight/√(var + eps), shift = bias − mean·scale).
@inline(never)
@_optimize(speed)
func batchNormScaleShift(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int, scale: Float, shift: Float) {
    let a = Lanes(repeating: scale), b = Lanes(repeating: shift)
    var i = 0
    while i + 16 <= n {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: Lanes.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: v * a + b, as: Lanes.self)
        i += 16
    }
    while i < n { y[i] = x[i] * scale + shift; i += 1 }
}

/// The naive loop `batchNormScaleShift` is checked against.
func batchNormScaleShiftReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int, scale: Float, shift: Float) {
    for i in 0..<n { y[i] = x[i] * scale + shift }
}

/// (Σ dy[i], Σ (x[i] − mean)·dy[i]) over i < n in one pass, in 16 lanes of partial sums:
/// batch norm backward's two reductions over one channel plane.
@inline(never)
@_optimize(speed)
func batchNormGradientSums(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, count n: Int, mean: Float) -> (Float, Float) {
    let mu = Lanes(repeating: mean)
    var sumDy = Lanes(), sumDyX = Lanes(), i = 0
    while i + 16 <= n {
        let g = UnsafeRawPointer(dy + i).loadUnaligned(as: Lanes.self)
        sumDy += g
        sumDyX += (UnsafeRawPointer(x + i).loadUnaligned(as: Lanes.self) - mu) * g
        i += 16
    }
    var a = sumDy.sum(), b = sumDyX.sum()
    while i < n { a += dy[i]; b += (x[i] - mean) * dy[i]; i += 1 }
    return (a, b)
}

/// The naive loop `batchNormGradientSums` is checked against (sums in Double).
func batchNormGradientSumsReference(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, count n: Int, mean: Float) -> (Float, Float) {
    var a = 0.0, b = 0.0
    for i in 0..<n { a += Double(dy[i]); b += Double(x[i] - mean) * Double(dy[i]) }
    return (Float(a), Float(b))
}

/// dx[i] (+)= k·(dy[i] − meanDy − x̂[i]·meanDyXhat) with x̂[i] = (x[i] − mean)·invStd, for i < n:
/// batch norm's input gradient on one channel plane (k = weight·invStd). Added when
/// `accumulate`, else written (dx may then be uninitialised).
@inline(never)
@_optimize(speed)
func batchNormInputGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                            count n: Int, mean: Float, invStd: Float, k: Float, meanDy: Float, meanDyXhat: Float,
                            accumulate: Bool) {
    let mu = Lanes(repeating: mean), inv = Lanes(repeating: invStd), kv = Lanes(repeating: k)
    let mg = Lanes(repeating: meanDy), mgx = Lanes(repeating: meanDyXhat)
    var i = 0
    while i + 16 <= n {
        let xhat = (UnsafeRawPointer(x + i).loadUnaligned(as: Lanes.self) - mu) * inv
        var d = kv * (UnsafeRawPointer(dy + i).loadUnaligned(as: Lanes.self) - mg - xhat * mgx)
        if accumulate { d = UnsafeRawPointer(dx + i).loadUnaligned(as: Lanes.self) + d }
        UnsafeMutableRawPointer(dx + i).storeBytes(of: d, as: Lanes.self)
        i += 16
    }
    while i < n {
        let d = k * (dy[i] - meanDy - (x[i] - mean) * invStd * meanDyXhat)
        dx[i] = accumulate ? dx[i] + d : d
        i += 1
    }
}

/// The naive loop `batchNormInputGradient` is checked against.
func batchNormInputGradientReference(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                     count n: Int, mean: Float, invStd: Float, k: Float, meanDy: Float, meanDyXhat: Float,
                                     accumulate: Bool) {
    for i in 0..<n {
        let d = k * (dy[i] - meanDy - (x[i] - mean) * invStd * meanDyXhat)
        dx[i] = accumulate ? dx[i] + d : d
    }
}

// BatchNorm2d followed by ReLU or LeakyReLU, fused (`batchNormTraining(_:…, rectifierSlope:)`):
// the forward writes the rectified output in the normalise pass, and the backward applies the
// rectifier's slope inside batch norm's two gradient passes, recomputing the pre-activation
// value x·scale + shift with the same arithmetic as the forward. Same values, bit for bit, as
// `batchNormScaleShift` then `leakyReluForward`, and as `leakyReluBackward` then
// `batchNormGradientSums` / `batchNormInputGradient`.

/// The pre-activation value v·scale + shift and its rectified form, as the unfused kernels
/// compute them (ReLU for slope 0: +0 where v ≤ 0, NaN kept).
@inline(__always)
private func rectifiedLanes(_ pre: Lanes, slope: Float) -> Lanes {
    slope == 0 ? pre.replacing(with: Lanes(), where: pre .<= Lanes()) : (pre * Lanes(repeating: slope)).replacing(with: pre, where: pre .> Lanes())
}

/// dy where the pre-activation value is > 0, else slope·dy (+0 for slope 0): the rectifier's
/// backward on 16 lanes.
@inline(__always)
private func rectifiedGradientLanes(_ pre: Lanes, _ g: Lanes, slope: Float) -> Lanes {
    slope == 0 ? Lanes().replacing(with: g, where: pre .> Lanes()) : (g * Lanes(repeating: slope)).replacing(with: g, where: pre .> Lanes())
}

/// The scalar form of `rectifiedGradientLanes`.
@inline(__always)
private func rectifiedGradient(_ pre: Float, _ g: Float, slope: Float) -> Float {
    pre > 0 ? g : (slope == 0 ? 0 : slope * g)
}

/// y[i] = rectifier(x[i]·scale + shift) for i < n, the rectifier being x for x > 0, else
/// slope·x (ReLU, max(x, 0), for slope 0): `batchNormScaleShift` then `leakyReluForward` in one pass.
@inline(never)
@_optimize(speed)
func batchNormScaleShiftRectified(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int,
                                  scale: Float, shift: Float, slope: Float) {
    let a = Lanes(repeating: scale), b = Lanes(repeating: shift)
    var i = 0
    while i + 16 <= n {
        let pre = UnsafeRawPointer(x + i).loadUnaligned(as: Lanes.self) * a + b
        UnsafeMutableRawPointer(y + i).storeBytes(of: rectifiedLanes(pre, slope: slope), as: Lanes.self)
        i += 16
    }
    while i < n {
        let pre = x[i] * scale + shift
        y[i] = slope == 0 ? Swift.max(pre, 0) : (pre > 0 ? pre : slope * pre)
        i += 1
    }
}

/// The naive loop `batchNormScaleShiftRectified` is checked against: the two unfused references.
func batchNormScaleShiftRectifiedReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int,
                                           scale: Float, shift: Float, slope: Float) {
    batchNormScaleShiftReference(x, y, count: n, scale: scale, shift: shift)
    leakyReluForwardReference(y, y, count: n, slope: slope)
}

/// `batchNormGradientSums` of the gradient before the rectifier: (Σ d[i], Σ (x[i] − mean)·d[i])
/// with d[i] = dy[i] where x[i]·scale + shift > 0, else slope·dy[i]; dy is the gradient of the
/// rectified output. Same partial sums in the same order as the unfused kernels.
@inline(never)
@_optimize(speed)
func batchNormRectifiedGradientSums(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, count n: Int, mean: Float,
                                    scale: Float, shift: Float, slope: Float) -> (Float, Float) {
    let mu = Lanes(repeating: mean), a = Lanes(repeating: scale), b = Lanes(repeating: shift)
    var sumDy = Lanes(), sumDyX = Lanes(), i = 0
    while i + 16 <= n {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: Lanes.self)
        let g = rectifiedGradientLanes(v * a + b, UnsafeRawPointer(dy + i).loadUnaligned(as: Lanes.self), slope: slope)
        sumDy += g
        sumDyX += (v - mu) * g
        i += 16
    }
    var sumG = sumDy.sum(), sumGX = sumDyX.sum()
    while i < n {
        let g = rectifiedGradient(x[i] * scale + shift, dy[i], slope: slope)
        sumG += g
        sumGX += (x[i] - mean) * g
        i += 1
    }
    return (sumG, sumGX)
}

/// `batchNormInputGradient` of the gradient before the rectifier (d[i] as in
/// `batchNormRectifiedGradientSums`): dx[i] (+)= k·(d[i] − meanDy − x̂[i]·meanDyXhat).
@inline(never)
@_optimize(speed)
func batchNormRectifiedInputGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                     count n: Int, mean: Float, invStd: Float, k: Float, meanDy: Float, meanDyXhat: Float,
                                     scale: Float, shift: Float, slope: Float, accumulate: Bool) {
    let mu = Lanes(repeating: mean), inv = Lanes(repeating: invStd), kv = Lanes(repeating: k)
    let mg = Lanes(repeating: meanDy), mgx = Lanes(repeating: meanDyXhat)
    let a = Lanes(repeating: scale), b = Lanes(repeating: shift)
    var i = 0
    while i + 16 <= n {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: Lanes.self)
        let g = rectifiedGradientLanes(v * a + b, UnsafeRawPointer(dy + i).loadUnaligned(as: Lanes.self), slope: slope)
        var d = kv * (g - mg - (v - mu) * inv * mgx)
        if accumulate { d = UnsafeRawPointer(dx + i).loadUnaligned(as: Lanes.self) + d }
        UnsafeMutableRawPointer(dx + i).storeBytes(of: d, as: Lanes.self)
        i += 16
    }
    while i < n {
        let g = rectifiedGradient(x[i] * scale + shift, dy[i], slope: slope)
        let d = k * (g - meanDy - (x[i] - mean) * invStd * meanDyXhat)
        dx[i] = accumulate ? dx[i] + d : d
        i += 1
    }
}
