// Reductions over all elements or along one axis, forward and backward side by side.

extension Tensor {
    /// Sum of all elements, shape `[]`.
    public func sum() -> Tensor {
        var s: Float = 0
        data.withUnsafeBufferPointer { for v in $0 { s += v } }
        let input = self
        return Tensor.result("sum", shape: [], data: [s], inputs: [self]) { g in
            input.accumulateGrad(count: input.count) { acc in for i in 0..<acc.count { acc[i] += g[0] } }
        }
    }

    /// Mean of all elements, shape `[]`.
    public func mean() -> Tensor {
        check(count > 0, "mean: empty tensor of shape \(shape)")
        return sum() * (1 / Float(count))
    }

    /// Sum along `axis`; the axis is removed unless `keepDims`.
    /// Shape `[a, n, b]` → `[a, b]` (or `[a, 1, b]`).
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor {
        let (outer, n, inner) = axisLayout(axis, op: "sum(axis:)")
        let outShape = reducedShape(axis, keepDims: keepDims)
        var out = [Float](repeating: 0, count: outer * inner)
        data.withUnsafeBufferPointer { x in
            for o in 0..<outer {
                for j in 0..<n {
                    let row = (o * n + j) * inner
                    for i in 0..<inner { out[o * inner + i] += x[row + i] }
                }
            }
        }
        let input = self
        return Tensor.result("sum_axis", shape: outShape, data: out, inputs: [self]) { g in
            input.accumulateGrad(count: input.count) { acc in
                for o in 0..<outer {
                    for j in 0..<n {
                        let row = (o * n + j) * inner
                        for i in 0..<inner { acc[row + i] += g[o * inner + i] }
                    }
                }
            }
        }
    }

    /// Mean along `axis`.
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor {
        let (_, n, _) = axisLayout(axis, op: "mean(axis:)")
        check(n > 0, "mean(axis:): axis \(axis) of shape \(shape) is empty")
        return sum(axis: axis, keepDims: keepDims) * (1 / Float(n))
    }

    /// Maximum along `axis`; the gradient flows to the first maximal element of each lane.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor {
        let (outer, n, inner) = axisLayout(axis, op: "max(axis:)")
        check(n > 0, "max(axis:): axis \(axis) of shape \(shape) is empty")
        let indices = argmaxIndices(outer, n, inner)
        let out = indices.map { data[$0] }
        let input = self
        return Tensor.result("max_axis", shape: reducedShape(axis, keepDims: keepDims), data: out, inputs: [self]) { g in
            input.accumulateGrad(count: input.count) { acc in
                for (k, idx) in indices.enumerated() { acc[idx] += g[k] }
            }
        }
    }

    /// Index of the maximum along `axis` (first one on ties), as a Swift array in the
    /// row-major order of the reduced shape. Not differentiable.
    public func argmax(axis: Int = -1) -> [Int] {
        let (outer, n, inner) = axisLayout(axis, op: "argmax")
        check(n > 0, "argmax: axis \(axis) of shape \(shape) is empty")
        return argmaxIndices(outer, n, inner).map { flat in (flat / inner) % n }
    }

    /// Flat indices of each lane's maximum.
    func argmaxIndices(_ outer: Int, _ n: Int, _ inner: Int) -> [Int] {
        var result = [Int](repeating: 0, count: outer * inner)
        data.withUnsafeBufferPointer { x in
            forEachLane(outer, n, inner) { base, s in
                var best = base
                for j in 1..<Swift.max(n, 1) where x[base + j * s] > x[best] { best = base + j * s }
                result[(base / (n * inner)) * inner + base % inner] = best
            }
        }
        return result
    }

    func reducedShape(_ axis: Int, keepDims: Bool) -> [Int] {
        let a = axis < 0 ? axis + rank : axis
        var s = shape
        if keepDims { s[a] = 1 } else { s.remove(at: a) }
        return s
    }
}
