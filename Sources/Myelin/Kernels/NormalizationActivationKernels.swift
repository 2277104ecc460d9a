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
