import Foundation

// Elementwise operations with NumPy/PyTorch broadcasting, each with its backward beside it.
// Broadcasting aligns shapes from the right; a dimension of 1 (or a missing one) stretches.

/// The broadcast shape of `a` and `b`, or a precondition failure naming `op` and both shapes.
func broadcastShape(_ a: [Int], _ b: [Int], op: String) -> [Int] {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        check(da == db || da == 1 || db == 1,
                     "\(op): shapes \(a) and \(b) cannot be broadcast together (dimension \(i): \(da) vs \(db))")
        out[i] = da == 1 ? db : da
    }
    return out
}

/// Element strides of `shape` viewed inside `outShape`, with 0 on broadcast dimensions.
func broadcastStrides(_ shape: [Int], in outShape: [Int]) -> [Int] {
    let rank = outShape.count
    var strides = [Int](repeating: 0, count: rank)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        let o = i + rank - shape.count
        strides[o] = shape[i] == 1 ? 0 : s
        s *= shape[i]
    }
    return strides
}

/// Calls `body(outIndex, aIndex, bIndex)` for every element of `outShape` in row-major order.
@inline(__always)
func forEachBroadcast(_ outShape: [Int], _ aStrides: [Int], _ bStrides: [Int], _ body: (Int, Int, Int) -> Void) {
    let rank = outShape.count
    let total = outShape.reduce(1, *)
    if total == 0 { return }
    if rank == 0 { body(0, 0, 0); return }
    var counter = [Int](repeating: 0, count: rank)
    var ia = 0, ib = 0
    let inner = outShape[rank - 1], sa = aStrides[rank - 1], sb = bStrides[rank - 1]
    var o = 0
    while o < total {
        var ja = ia, jb = ib
        for _ in 0..<inner { body(o, ja, jb); o += 1; ja += sa; jb += sb }
        // Advance the outer counter (dimensions rank-2 … 0).
        var d = rank - 2
        while d >= 0 {
            counter[d] += 1
            ia += aStrides[d]; ib += bStrides[d]
            if counter[d] < outShape[d] { break }
            ia -= aStrides[d] * outShape[d]; ib -= bStrides[d] * outShape[d]
            counter[d] = 0
            d -= 1
        }
    }
}

/// Sums `grad` (shape `outShape`) down to `shape` over the broadcast dimensions.
func sumToShape(_ grad: [Float], from outShape: [Int], to shape: [Int]) -> [Float] {
    if outShape == shape { return grad }
    var result = [Float](repeating: 0, count: shape.reduce(1, *))
    let strides = broadcastStrides(shape, in: outShape)
    grad.withUnsafeBufferPointer { g in
        result.withUnsafeMutableBufferPointer { r in
            forEachBroadcast(outShape, strides, strides) { o, i, _ in r[i] += g[o] }
        }
    }
    return result
}

extension Tensor {
    /// Shared machinery of binary elementwise ops: forward `f`, and the partial derivatives
    /// `dA(a, b)` and `dB(a, b)` that backward multiplies by the incoming gradient.
    @inline(__always)
    static func binary(_ name: String, _ x: Tensor, _ y: Tensor,
                       _ f: (Float, Float) -> Float,
                       dA: @escaping (Float, Float) -> Float,
                       dB: @escaping (Float, Float) -> Float) -> Tensor {
        let outShape = broadcastShape(x.shape, y.shape, op: name)
        let sx = broadcastStrides(x.shape, in: outShape), sy = broadcastStrides(y.shape, in: outShape)
        var out = [Float](repeating: 0, count: outShape.reduce(1, *))
        x.data.withUnsafeBufferPointer { xa in
            y.data.withUnsafeBufferPointer { ya in
                out.withUnsafeMutableBufferPointer { o in
                    if x.shape == y.shape {
                        for i in 0..<o.count { o[i] = f(xa[i], ya[i]) }
                    } else if y.count == 1 && x.count == o.count {
                        let v = ya[0]
                        for i in 0..<o.count { o[i] = f(xa[i], v) }
                    } else {
                        forEachBroadcast(outShape, sx, sy) { k, i, j in o[k] = f(xa[i], ya[j]) }
                    }
                }
            }
        }
        return result(name, shape: outShape, data: out, inputs: [x, y]) { g in
            if x.requiresGrad {
                var gx = [Float](repeating: 0, count: g.count)
                forEachBroadcast(outShape, sx, sy) { k, i, j in gx[k] = g[k] * dA(x.data[i], y.data[j]) }
                x.accumulateGrad(sumToShape(gx, from: outShape, to: x.shape))
            }
            if y.requiresGrad {
                var gy = [Float](repeating: 0, count: g.count)
                forEachBroadcast(outShape, sx, sy) { k, i, j in gy[k] = g[k] * dB(x.data[i], y.data[j]) }
                y.accumulateGrad(sumToShape(gy, from: outShape, to: y.shape))
            }
        }
    }

    /// Shared machinery of unary elementwise ops. `derivative(x, y)` gets the input and the
    /// output element (so ops like exp and sigmoid reuse their output).
    @inline(__always)
    func unary(_ name: String, _ f: (Float) -> Float, attributes: @autoclosure () -> OpAttributes = [:],
               derivative: @escaping (_ x: Float, _ y: Float) -> Float) -> Tensor {
        var out = [Float](repeating: 0, count: count)
        data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in for i in 0..<src.count { dst[i] = f(src[i]) } }
        }
        let input = self
        let y = out
        return Tensor.result(name, shape: shape, data: out, inputs: [self], attributes: attributes()) { g in
            input.accumulateGrad(count: g.count) { acc in
                input.data.withUnsafeBufferPointer { x in
                    for i in 0..<g.count { acc[i] += g[i] * derivative(x[i], y[i]) }
                }
            }
        }
    }

    // MARK: Arithmetic

    public static func + (a: Tensor, b: Tensor) -> Tensor { binary("add", a, b, { $0 + $1 }, dA: { _, _ in 1 }, dB: { _, _ in 1 }) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { binary("sub", a, b, { $0 - $1 }, dA: { _, _ in 1 }, dB: { _, _ in -1 }) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { binary("mul", a, b, { $0 * $1 }, dA: { _, y in y }, dB: { x, _ in x }) }
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        binary("div", a, b, { $0 / $1 }, dA: { _, y in 1 / y }, dB: { x, y in -x / (y * y) })
    }
    /// Elementwise maximum; the gradient goes to `a` where `a >= b`, else to `b`.
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
        binary("maximum", a, b, { Swift.max($0, $1) }, dA: { x, y in x >= y ? 1 : 0 }, dB: { x, y in x >= y ? 0 : 1 })
    }

    public static func + (a: Tensor, s: Float) -> Tensor { a.unary("add_scalar", { $0 + s }, attributes: ["value": .float(Double(s))], derivative: { _, _ in 1 }) }
    public static func + (s: Float, a: Tensor) -> Tensor { a + s }
    public static func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
    public static func - (s: Float, a: Tensor) -> Tensor { a.unary("rsub_scalar", { s - $0 }, attributes: ["value": .float(Double(s))], derivative: { _, _ in -1 }) }
    public static func * (a: Tensor, s: Float) -> Tensor { a.unary("mul_scalar", { $0 * s }, attributes: ["value": .float(Double(s))], derivative: { _, _ in s }) }
    public static func * (s: Float, a: Tensor) -> Tensor { a * s }
    public static func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }
    public static func / (s: Float, a: Tensor) -> Tensor {
        a.unary("rdiv_scalar", { s / $0 }, attributes: ["value": .float(Double(s))], derivative: { x, _ in -s / (x * x) })
    }
    public static prefix func - (a: Tensor) -> Tensor { a.unary("neg", { -$0 }, derivative: { _, _ in -1 }) }

    // MARK: Elementwise functions

    /// eˣ.
    public func exp() -> Tensor { unary("exp", { Foundation.exp($0) }, derivative: { _, y in y }) }
    /// Natural logarithm.
    public func log() -> Tensor { unary("log", { Foundation.log($0) }, derivative: { x, _ in 1 / x }) }
    /// Square root.
    public func sqrt() -> Tensor { unary("sqrt", { $0.squareRoot() }, derivative: { _, y in 0.5 / y }) }
    /// xᵖ for a constant exponent.
    public func pow(_ p: Float) -> Tensor {
        unary("pow", { Foundation.pow($0, p) }, attributes: ["exponent": .float(Double(p))], derivative: { x, _ in p * Foundation.pow(x, p - 1) })
    }
    /// x².
    public func square() -> Tensor { unary("square", { $0 * $0 }, derivative: { x, _ in 2 * x }) }
    /// |x|; the subgradient at 0 is 0.
    public func abs() -> Tensor { unary("abs", { Swift.abs($0) }, derivative: { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) }) }
    /// Clamps into `[low, high]`; no gradient where clamped.
    public func clamp(min low: Float = -.infinity, max high: Float = .infinity) -> Tensor {
        unary("clamp", { Swift.min(Swift.max($0, low), high) },
              attributes: ["min": .float(Double(low)), "max": .float(Double(high))], derivative: { x, _ in x >= low && x <= high ? 1 : 0 })
    }
}
