import Foundation

// Activation functions as tensor ops, forward and backward side by side.

/// Logistic sigmoid computed without overflow for inputs of any magnitude.
@inline(__always)
func stableSigmoid(_ x: Float) -> Float {
    if x >= 0 { return 1 / (1 + Foundation.exp(-x)) }
    let e = Foundation.exp(x)
    return e / (1 + e)
}

extension Tensor {
    /// Heaviside step: 1 where x ≥ 0, else 0, for perceptrons. Its gradient is zero (the
    /// derivative vanishes almost everywhere), so nothing trains through it.
    public func step() -> Tensor {
        // Recorded like every op (so tracing sees it); its derivative is 0 almost everywhere.
        unary("step", { $0 >= 0 ? 1 : 0 }, derivative: { _, _ in 0 })
    }

    /// max(0, x). Written out rather than through `unary` so both loops run 16 lanes at a time
    /// (`leakyReluForward`/`leakyReluBackward` with slope 0): ReLU runs on every feature map of
    /// a CNN, and a closure call per element cost more than the conv.
    public func relu() -> Tensor {
        rectifier("relu", slope: 0, attributes: [:])
    }

    /// x for x > 0, `slope`·x otherwise. Written out like `relu` (the DCGAN's discriminator
    /// runs it on every feature map, three times a step).
    public func leakyRelu(slope: Float = 0.01) -> Tensor {
        rectifier("leaky_relu", slope: slope, attributes: ["slope": .float(Double(slope))])
    }

    /// ReLU (slope 0) or leaky ReLU, recorded as `op`; the gradient is written into a new
    /// buffer without zero-filling it first.
    private func rectifier(_ op: String, slope: Float, attributes: OpAttributes) -> Tensor {
        let n = count
        let out = [Float](unsafeUninitializedCapacity: n) { y, initialized in
            data.withUnsafeBufferPointer { x in
                if n > 0 { leakyReluForward(x.baseAddress!, y.baseAddress!, count: n, slope: slope) }
            }
            initialized = n
        }
        let input = self
        return Tensor.result(op, shape: shape, data: out, inputs: [self], attributes: attributes) { g in
            input.writeGrad(count: n) { dx, accumulate in
                guard n > 0 else { return }
                input.data.withUnsafeBufferPointer { x in
                    g.withUnsafeBufferPointer { dy in
                        leakyReluBackward(x.baseAddress!, dy.baseAddress!, dx.baseAddress!, count: n, slope: slope,
                                          accumulate: accumulate)
                    }
                }
            }
        }
    }

    /// x for x > 0, α(eˣ − 1) otherwise.
    public func elu(alpha: Float = 1) -> Tensor {
        unary("elu", { $0 > 0 ? $0 : alpha * (Foundation.expm1($0)) }, attributes: ["alpha": .float(Double(alpha))],
              derivative: { x, y in x > 0 ? 1 : y + alpha })
    }

    /// 1 / (1 + e⁻ˣ), stable for large |x|.
    public func sigmoid() -> Tensor {
        let n = count
        let out = [Float](unsafeUninitializedCapacity: n) { y, initialized in
            data.withUnsafeBufferPointer { x in if n > 0 { sigmoidForward(x.baseAddress!, y.baseAddress!, count: n) } }
            initialized = n
        }
        let input = self
        return Tensor.result("sigmoid", shape: shape, data: out, inputs: [self]) { g in
            guard n > 0 else { return }
            input.accumulateGrad(count: n) { dx in
                out.withUnsafeBufferPointer { y in
                    g.withUnsafeBufferPointer { dy in sigmoidBackward(y.baseAddress!, dy.baseAddress!, dx.baseAddress!, count: n) }
                }
            }
        }
    }

    /// Hyperbolic tangent.
    public func tanh() -> Tensor {
        unary("tanh", { Foundation.tanh($0) }, derivative: { _, y in 1 - y * y })
    }

    /// Softmax along `axis` (default: last), shifted by the maximum so large inputs give no Inf/NaN.
    public func softmax(axis: Int = -1) -> Tensor {
        let (outer, n, inner) = axisLayout(axis, op: "softmax")
        var out = data
        if inner == 1 {
            // Contiguous rows (attention scores): 16 lanes at a time.
            out.withUnsafeMutableBufferPointer { p in for o in 0..<outer { softmaxRow(p.baseAddress! + o * n, count: n) } }
        } else { forEachLane(outer, n, inner) { base, s in
            var m = -Float.infinity
            for j in 0..<n { m = Swift.max(m, out[base + j * s]) }
            var z: Float = 0
            for j in 0..<n { let e = Foundation.exp(out[base + j * s] - m); out[base + j * s] = e; z += e }
            for j in 0..<n { out[base + j * s] /= z }
        } }
        let input = self
        let y = out
        return Tensor.result("softmax", shape: shape, data: out, inputs: [self],
                             attributes: ["axis": .int(axis < 0 ? axis + rank : axis)]) { g in
            // dx = y ⊙ (g − Σ g⊙y)
            var gx = [Float](repeating: 0, count: g.count)
            forEachLane(outer, n, inner) { base, s in
                var dot: Float = 0
                for j in 0..<n { dot += g[base + j * s] * y[base + j * s] }
                for j in 0..<n { gx[base + j * s] = y[base + j * s] * (g[base + j * s] - dot) }
            }
            input.accumulateGrad(gx)
        }
    }

    /// log(softmax(x)) along `axis`, computed as x − max − log Σ e^(x − max).
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let (outer, n, inner) = axisLayout(axis, op: "logSoftmax")
        var out = data
        forEachLane(outer, n, inner) { base, s in
            var m = -Float.infinity
            for j in 0..<n { m = Swift.max(m, out[base + j * s]) }
            var z: Float = 0
            for j in 0..<n { z += Foundation.exp(out[base + j * s] - m) }
            let logZ = Foundation.log(z)
            // (x − max) − log z: subtracting the max first keeps the precision of small results.
            for j in 0..<n { out[base + j * s] = (out[base + j * s] - m) - logZ }
        }
        let input = self
        let y = out
        return Tensor.result("log_softmax", shape: shape, data: out, inputs: [self],
                             attributes: ["axis": .int(axis < 0 ? axis + rank : axis)]) { g in
            // dx = g − softmax ⊙ Σ g
            var gx = [Float](repeating: 0, count: g.count)
            forEachLane(outer, n, inner) { base, s in
                var total: Float = 0
                for j in 0..<n { total += g[base + j * s] }
                for j in 0..<n { gx[base + j * s] = g[base + j * s] - Foundation.exp(y[base + j * s]) * total }
            }
            input.accumulateGrad(gx)
        }
    }

    /// Splits the shape around `axis` into (outer, axis length, inner) for lane-wise ops.
    func axisLayout(_ axis: Int, op: String) -> (Int, Int, Int) {
        let a = axis < 0 ? axis + rank : axis
        check(a >= 0 && a < rank, "\(op): axis \(axis) out of range for shape \(shape)")
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        return (outer, shape[a], inner)
    }
}

/// Calls `body(base, stride)` once per lane along an axis laid out as (outer, n, inner):
/// the lane's elements are at `base + j * stride` for j < n.
@inline(__always)
func forEachLane(_ outer: Int, _ n: Int, _ inner: Int, _ body: (Int, Int) -> Void) {
    for o in 0..<outer {
        for i in 0..<inner { body(o * n * inner + i, inner) }
    }
}

/// Softmax of one contiguous row in place: max, e^(x − max) (16 lanes by `vectorExp`, exactly
/// 0 below e^−87.3 so −∞ scores get no weight; libm for the tail), then scaled by 1/Σ.
/// A row of −∞ only gives NaN, as the scalar form does.
func softmaxRow(_ row: UnsafeMutablePointer<Float>, count n: Int) {
    typealias V = SIMD16<Float>
    var m = -Float.infinity
    for j in 0..<n { m = Swift.max(m, row[j]) }
    var j = 0, lanes = V(repeating: 0)
    let low = V(repeating: -87.33654)
    while j + 16 <= n {
        let d = V.load(row + j) - m
        let e = vectorExp(d).replacing(with: 0, where: d .< low)
        e.store(row + j)
        lanes += e
        j += 16
    }
    var z = lanes.sum()
    while j < n { let e = Foundation.exp(row[j] - m); row[j] = e; z += e; j += 1 }
    let scale = 1 / z
    for k in 0..<n { row[k] *= scale }
}
