// Elementwise kernels of BatchNorm2d (one channel of the whole batch per call: a plane per image,
// contiguous in NCHW) and of (leaky) ReLU, 16 lanes at a time, each beside its naive reference
// (NormalizationActivationKernelTests checks one against the other). The DCGAN runs them on
// every feature map several times a step; its 7×7 and 14×14 planes are 3 or 12 vectors, so a
// call per plane with its own horizontal sums and scalar tail cost more than the arithmetic.

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

/// One channel of an NCHW tensor, the unit batch norm's kernels work on: `count` runs (one per
/// image) of `length` contiguous floats (the channel's plane), `stride` floats apart
/// (channels·length). A run of length ≥ 16 ending in a partial vector is finished by one vector
/// that overlaps the one before, only its last `length % 16` lanes counted or stored; shorter
/// runs go element by element.
struct ChannelPlanes {
    var count: Int
    var length: Int
    var stride: Int

    /// One contiguous run of `length` floats.
    init(length: Int) { (self.count, self.length, self.stride) = (1, length, length) }
    /// `count` runs of `length` floats, `stride` apart.
    init(count: Int, length: Int, stride: Int) { (self.count, self.length, self.stride) = (count, length, stride) }
}

private typealias LaneMask = SIMDMask<SIMD16<Int32>>

/// The body of an element-wise batch-norm kernel: `vector` on the 16 floats at `offset`,
/// storing only its `fresh` lanes; `scalar` on one float.
private protocol ChannelMap {
    func vector(_ offset: Int, _ fresh: LaneMask)
    func scalar(_ offset: Int)
}

/// The body of a batch-norm reduction: the two terms of the 16 floats at `offset`, or of one.
private protocol ChannelReduction {
    func vector(_ offset: Int) -> (Lanes, Lanes)
    func scalar(_ offset: Int) -> (Float, Float)
}

/// The lanes of a run's overlapping last vector that hold elements not visited before.
@inline(__always)
private func lastVectorLanes(_ planes: ChannelPlanes) -> LaneMask {
    Lanes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) .>= Lanes(repeating: Float(16 - planes.length % 16))
}

/// Runs `body` over every element of the channel: whole vectors, then a run's overlapping last
/// vector with only its new lanes fresh; runs shorter than 16 element by element.
@inline(__always)
private func channelMap<Body: ChannelMap>(_ planes: ChannelPlanes, _ body: Body) {
    let all = LaneMask(repeating: true), last = lastVectorLanes(planes), tail = planes.length % 16
    for r in 0..<planes.count {
        let base = r * planes.stride
        if planes.length < 16 {
            for i in 0..<planes.length { body.scalar(base + i) }
            continue
        }
        var i = 0
        while i + 16 <= planes.length { body.vector(base + i, all); i += 16 }
        if tail != 0 { body.vector(base + planes.length - 16, last) }
    }
}

/// The two sums of `body`'s terms over the channel: 16 lanes of Float partial sums, added into
/// Double every 8 runs, so the order is fixed by the layout alone.
@inline(__always)
private func channelSums<Body: ChannelReduction>(_ planes: ChannelPlanes, _ body: Body) -> (Double, Double) {
    let last = lastVectorLanes(planes), tail = planes.length % 16
    var a = 0.0, b = 0.0, r = 0
    while r < planes.count {
        var laneA = Lanes(), laneB = Lanes()
        let end = Swift.min(planes.count, r + 8)
        while r < end {
            let base = r * planes.stride
            if planes.length < 16 {
                for i in 0..<planes.length {
                    let (u, v) = body.scalar(base + i)
                    a += Double(u)
                    b += Double(v)
                }
            } else {
                var i = 0
                while i + 16 <= planes.length {
                    let (u, v) = body.vector(base + i)
                    laneA += u
                    laneB += v
                    i += 16
                }
                if tail != 0 {
                    let (u, v) = body.vector(base + planes.length - 16)
                    laneA += Lanes().replacing(with: u, where: last)
                    laneB += Lanes().replacing(with: v, where: last)
                }
            }
            r += 1
        }
        a += Double(laneA.sum())
        b += Double(laneB.sum())
    }
    return (a, b)
}

/// Stores `value`'s `fresh` lanes at p (the other lanes keep what p holds).
@inline(__always)
private func storeLanes(_ value: Lanes, _ p: UnsafeMutablePointer<Float>, _ fresh: LaneMask) {
    let raw = UnsafeMutableRawPointer(p)
    raw.storeBytes(of: raw.loadUnaligned(as: Lanes.self).replacing(with: value, where: fresh), as: Lanes.self)
}

@inline(__always)
private func loadLanes(_ p: UnsafePointer<Float>) -> Lanes { UnsafeRawPointer(p).loadUnaligned(as: Lanes.self) }

/// (Σ x, Σ (x − mean)²) over one channel: given the mean (`channelSum` / count), the variance's
/// sum is the second. Shapes: x points at the channel's first plane.
@inline(never)
@_optimize(speed)
func batchNormMoments(_ x: UnsafePointer<Float>, _ planes: ChannelPlanes, mean: Float) -> (sum: Double, centeredSquares: Double) {
    struct Body: ChannelReduction {
        let x: UnsafePointer<Float>, mean: Float
        @inline(__always) func vector(_ o: Int) -> (Lanes, Lanes) { let v = loadLanes(x + o), d = v - Lanes(repeating: mean); return (v, d * d) }
        @inline(__always) func scalar(_ o: Int) -> (Float, Float) { (x[o], (x[o] - mean) * (x[o] - mean)) }
    }
    return channelSums(planes, Body(x: x, mean: mean))
}

/// Σ x over one channel (a bias gradient: Σ dy over batch and positions).
@inline(never)
@_optimize(speed)
func channelSum(_ x: UnsafePointer<Float>, _ planes: ChannelPlanes) -> Double {
    struct Body: ChannelReduction {
        let x: UnsafePointer<Float>
        @inline(__always) func vector(_ o: Int) -> (Lanes, Lanes) { (loadLanes(x + o), Lanes()) }
        @inline(__always) func scalar(_ o: Int) -> (Float, Float) { (x[o], 0) }
    }
    return channelSums(planes, Body(x: x)).0
}

/// The naive loops `batchNormMoments` is checked against (sums in Double).
func batchNormMomentsReference(_ x: UnsafePointer<Float>, _ planes: ChannelPlanes, mean: Float) -> (sum: Double, centeredSquares: Double) {
    var s = 0.0, q = 0.0
    for r in 0..<planes.count {
        for i in 0..<planes.length {
            let v = x[r * planes.stride + i]
            s += Double(v)
            q += Double(v - mean) * Double(v - mean)
        }
    }
    return (s, q)
}

/// y = x·scale + shift over one channel: batch norm's normalise-and-affine step (scale =
/// weight/√(var + eps), shift = bias − mean·scale). x and y point at the channel's first plane.
@inline(never)
@_optimize(speed)
func batchNormScaleShift(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ planes: ChannelPlanes,
                         scale: Float, shift: Float) {
    struct Body: ChannelMap {
        let x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, scale: Float, shift: Float
        @inline(__always) func vector(_ o: Int, _ fresh: LaneMask) {
            storeLanes(loadLanes(x + o) * Lanes(repeating: scale) + Lanes(repeating: shift), y + o, fresh)
        }
        @inline(__always) func scalar(_ o: Int) { y[o] = x[o] * scale + shift }
    }
    channelMap(planes, Body(x: x, y: y, scale: scale, shift: shift))
}

/// The naive loop `batchNormScaleShift` is checked against (one run of n floats).
func batchNormScaleShiftReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int, scale: Float, shift: Float) {
    for i in 0..<n { y[i] = x[i] * scale + shift }
}

/// (Σ dy, Σ (x − mean)·dy) over one channel in one pass: batch norm backward's two reductions.
@inline(never)
@_optimize(speed)
func batchNormGradientSums(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ planes: ChannelPlanes,
                           mean: Float) -> (Double, Double) {
    struct Body: ChannelReduction {
        let x: UnsafePointer<Float>, dy: UnsafePointer<Float>, mean: Float
        @inline(__always) func vector(_ o: Int) -> (Lanes, Lanes) { let g = loadLanes(dy + o); return (g, (loadLanes(x + o) - Lanes(repeating: mean)) * g) }
        @inline(__always) func scalar(_ o: Int) -> (Float, Float) { (dy[o], (x[o] - mean) * dy[o]) }
    }
    return channelSums(planes, Body(x: x, dy: dy, mean: mean))
}

/// The naive loop `batchNormGradientSums` is checked against (sums in Double).
func batchNormGradientSumsReference(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, count n: Int, mean: Float) -> (Double, Double) {
    var a = 0.0, b = 0.0
    for i in 0..<n { a += Double(dy[i]); b += Double(x[i] - mean) * Double(dy[i]) }
    return (a, b)
}

/// dx (+)= k·(dy − meanDy − x̂·meanDyXhat) with x̂ = (x − mean)·invStd over one channel: batch
/// norm's input gradient (k = weight·invStd). Added when `accumulate`, else written (dx may
/// then be uninitialised).
@inline(never)
@_optimize(speed)
func batchNormInputGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                            _ planes: ChannelPlanes, mean: Float, invStd: Float, k: Float, meanDy: Float, meanDyXhat: Float,
                            accumulate: Bool) {
    struct Body: ChannelMap {
        let x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>
        let mean: Float, invStd: Float, k: Float, meanDy: Float, meanDyXhat: Float, accumulate: Bool
        @inline(__always) func vector(_ o: Int, _ fresh: LaneMask) {
            let xhat = (loadLanes(x + o) - Lanes(repeating: mean)) * Lanes(repeating: invStd)
            let d = Lanes(repeating: k) * (loadLanes(dy + o) - Lanes(repeating: meanDy) - xhat * Lanes(repeating: meanDyXhat))
            storeLanes(accumulate ? loadLanes(dx + o) + d : d, dx + o, fresh)
        }
        @inline(__always) func scalar(_ o: Int) {
            let d = k * (dy[o] - meanDy - (x[o] - mean) * invStd * meanDyXhat)
            dx[o] = accumulate ? dx[o] + d : d
        }
    }
    channelMap(planes, Body(x: x, dy: dy, dx: dx, mean: mean, invStd: invStd, k: k, meanDy: meanDy, meanDyXhat: meanDyXhat,
                            accumulate: accumulate))
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

/// y = rectifier(x·scale + shift) over one channel, the rectifier being v for v > 0, else
/// slope·v (ReLU, max(v, 0), for slope 0): `batchNormScaleShift` then `leakyReluForward` in one pass.
@inline(never)
@_optimize(speed)
func batchNormScaleShiftRectified(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ planes: ChannelPlanes,
                                  scale: Float, shift: Float, slope: Float) {
    struct Body: ChannelMap {
        let x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, scale: Float, shift: Float, slope: Float
        @inline(__always) func vector(_ o: Int, _ fresh: LaneMask) {
            storeLanes(rectifiedLanes(loadLanes(x + o) * Lanes(repeating: scale) + Lanes(repeating: shift), slope: slope), y + o, fresh)
        }
        @inline(__always) func scalar(_ o: Int) {
            let pre = x[o] * scale + shift
            y[o] = slope == 0 ? Swift.max(pre, 0) : (pre > 0 ? pre : slope * pre)
        }
    }
    channelMap(planes, Body(x: x, y: y, scale: scale, shift: shift, slope: slope))
}

/// The naive loop `batchNormScaleShiftRectified` is checked against: the two unfused references.
func batchNormScaleShiftRectifiedReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int,
                                           scale: Float, shift: Float, slope: Float) {
    batchNormScaleShiftReference(x, y, count: n, scale: scale, shift: shift)
    leakyReluForwardReference(y, y, count: n, slope: slope)
}

/// `batchNormGradientSums` of the gradient before the rectifier: (Σ d, Σ (x − mean)·d) with
/// d = dy where x·scale + shift > 0, else slope·dy; dy is the gradient of the rectified output.
/// Same partial sums in the same order as the unfused kernels.
@inline(never)
@_optimize(speed)
func batchNormRectifiedGradientSums(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ planes: ChannelPlanes,
                                    mean: Float, scale: Float, shift: Float, slope: Float) -> (Double, Double) {
    struct Body: ChannelReduction {
        let x: UnsafePointer<Float>, dy: UnsafePointer<Float>, mean: Float, scale: Float, shift: Float, slope: Float
        @inline(__always) func vector(_ o: Int) -> (Lanes, Lanes) {
            let v = loadLanes(x + o)
            let g = rectifiedGradientLanes(v * Lanes(repeating: scale) + Lanes(repeating: shift), loadLanes(dy + o), slope: slope)
            return (g, (v - Lanes(repeating: mean)) * g)
        }
        @inline(__always) func scalar(_ o: Int) -> (Float, Float) {
            let g = rectifiedGradient(x[o] * scale + shift, dy[o], slope: slope)
            return (g, (x[o] - mean) * g)
        }
    }
    return channelSums(planes, Body(x: x, dy: dy, mean: mean, scale: scale, shift: shift, slope: slope))
}

/// `batchNormInputGradient` of the gradient before the rectifier (d as in
/// `batchNormRectifiedGradientSums`): dx (+)= k·(d − meanDy − x̂·meanDyXhat).
@inline(never)
@_optimize(speed)
func batchNormRectifiedInputGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                     _ planes: ChannelPlanes, mean: Float, invStd: Float, k: Float, meanDy: Float,
                                     meanDyXhat: Float, scale: Float, shift: Float, slope: Float, accumulate: Bool) {
    struct Body: ChannelMap {
        let x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>
        let mean: Float, invStd: Float, k: Float, meanDy: Float, meanDyXhat: Float
        let scale: Float, shift: Float, slope: Float, accumulate: Bool
        @inline(__always) func vector(_ o: Int, _ fresh: LaneMask) {
            let v = loadLanes(x + o)
            let g = rectifiedGradientLanes(v * Lanes(repeating: scale) + Lanes(repeating: shift), loadLanes(dy + o), slope: slope)
            let d = Lanes(repeating: k) * (g - Lanes(repeating: meanDy) - (v - Lanes(repeating: mean)) * Lanes(repeating: invStd)
                                           * Lanes(repeating: meanDyXhat))
            storeLanes(accumulate ? loadLanes(dx + o) + d : d, dx + o, fresh)
        }
        @inline(__always) func scalar(_ o: Int) {
            let g = rectifiedGradient(x[o] * scale + shift, dy[o], slope: slope)
            let d = k * (g - meanDy - (x[o] - mean) * invStd * meanDyXhat)
            dx[o] = accumulate ? dx[o] + d : d
        }
    }
    channelMap(planes, Body(x: x, dy: dy, dx: dx, mean: mean, invStd: invStd, k: k, meanDy: meanDy, meanDyXhat: meanDyXhat,
                            scale: scale, shift: shift, slope: slope, accumulate: accumulate))
}

// MARK: Sigmoid

/// y[i] = σ(x[i]) = 1 / (1 + e^{−x[i]}) for i < n, with `vectorSigmoid` (within a few ulp of
/// the reference) and 0 where x < −88, as the reference's e^{x} / (1 + e^{x}) (below 10⁻³⁸ there,
/// 0 from −104). The generators and autoencoders end in it on every pixel.
@inline(never)
@_optimize(speed)
func sigmoidForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
    let floor = Lanes(repeating: -88)
    var i = 0
    while i + 16 <= n {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: Lanes.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: vectorSigmoid(v).replacing(with: 0, where: v .< floor), as: Lanes.self)
        i += 16
    }
    sigmoidForwardReference(x + i, y + i, count: n - i)
}

/// The naive loop `sigmoidForward` is checked against (and its tail): `stableSigmoid`.
@inline(__always)
func sigmoidForwardReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
    for i in 0..<n { y[i] = stableSigmoid(x[i]) }
}

/// dx[i] += dy[i]·y[i]·(1 − y[i]) for i < n, y = σ(x). Same values as the reference, bit for bit.
@inline(never)
@_optimize(speed)
func sigmoidBackward(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, count n: Int) {
    let one = Lanes(repeating: 1)
    var i = 0
    while i + 16 <= n {
        let s = UnsafeRawPointer(y + i).loadUnaligned(as: Lanes.self)
        let g = UnsafeRawPointer(dy + i).loadUnaligned(as: Lanes.self)
        let old = UnsafeRawPointer(dx + i).loadUnaligned(as: Lanes.self)
        UnsafeMutableRawPointer(dx + i).storeBytes(of: old + g * (s * (one - s)), as: Lanes.self)
        i += 16
    }
    sigmoidBackwardReference(y + i, dy + i, dx + i, count: n - i)
}

/// The naive loop `sigmoidBackward` is checked against (and its tail).
@inline(__always)
func sigmoidBackwardReference(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, count n: Int) {
    for i in 0..<n { dx[i] += dy[i] * (y[i] * (1 - y[i])) }
}
