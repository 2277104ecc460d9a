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
        return Tensor.result("sum_axis", shape: outShape, data: out, inputs: [self],
                             attributes: axisAttributes(axis, keepDims: keepDims)) { g in
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
    /// Shape `[a, n, b]` → `[a, b]` (or `[a, 1, b]`). Recorded as `max_axis` with `axis`, `keepdims`.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor {
        maxWithIndices(axis: axis, keepDims: keepDims).values
    }

    /// Minimum along `axis`; the gradient flows to the first minimal element of each lane.
    /// Shape `[a, n, b]` → `[a, b]` (or `[a, 1, b]`). Recorded as `min_axis` with `axis`, `keepdims`.
    ///
    /// ```swift
    /// Tensor([[1, 5, 3], [4, 2, 6]]).min(axis: 1)   // [1, 2]
    /// ```
    public func min(axis: Int, keepDims: Bool = false) -> Tensor {
        minWithIndices(axis: axis, keepDims: keepDims).values
    }

    /// Maximum along `axis` and where it is (first one on ties), like `torch.max(x, dim)`.
    /// `values` has shape `[a, b]` (or `[a, 1, b]`) for input `[a, n, b]` and is differentiable;
    /// `indices` are positions along the axis in the row-major order of `values`.
    ///
    /// ```swift
    /// let (values, indices) = Tensor([[1, 5, 3], [4, 2, 6]]).maxWithIndices(axis: 1)   // [5, 6], [1, 2]
    /// ```
    public func maxWithIndices(axis: Int, keepDims: Bool = false) -> (values: Tensor, indices: [Int]) {
        extreme("max_axis", axis: axis, keepDims: keepDims, isBetter: >)
    }

    /// Minimum along `axis` and where it is (first one on ties); see `maxWithIndices`.
    public func minWithIndices(axis: Int, keepDims: Bool = false) -> (values: Tensor, indices: [Int]) {
        extreme("min_axis", axis: axis, keepDims: keepDims, isBetter: <)
    }

    /// Index of the maximum along `axis` (first one on ties), as a Swift array in the
    /// row-major order of the reduced shape. Not differentiable.
    public func argmax(axis: Int = -1) -> [Int] {
        let (outer, n, inner) = axisLayout(axis, op: "argmax")
        check(n > 0, "argmax: axis \(axis) of shape \(shape) is empty")
        return extremeIndices(outer, n, inner, isBetter: >).map { flat in (flat / inner) % n }
    }

    /// Index of the minimum along `axis` (first one on ties); see `argmax`. Not differentiable.
    public func argmin(axis: Int = -1) -> [Int] {
        let (outer, n, inner) = axisLayout(axis, op: "argmin")
        check(n > 0, "argmin: axis \(axis) of shape \(shape) is empty")
        return extremeIndices(outer, n, inner, isBetter: <).map { flat in (flat / inner) % n }
    }

    /// Shared forward and backward of max/min along an axis.
    func extreme(_ op: String, axis: Int, keepDims: Bool,
                 isBetter: (Float, Float) -> Bool) -> (values: Tensor, indices: [Int]) {
        let (outer, n, inner) = axisLayout(axis, op: op)
        check(n > 0, "\(op): axis \(axis) of shape \(shape) is empty")
        let flat = extremeIndices(outer, n, inner, isBetter: isBetter)
        let input = self
        let values = Tensor.result(op, shape: reducedShape(axis, keepDims: keepDims), data: flat.map { data[$0] },
                                   inputs: [self], attributes: axisAttributes(axis, keepDims: keepDims)) { g in
            input.accumulateGrad(count: input.count) { acc in
                for (k, idx) in flat.enumerated() { acc[idx] += g[k] }
            }
        }
        return (values, flat.map { ($0 / inner) % n })
    }

    /// Flat indices of each lane's best element (the first one on ties).
    func extremeIndices(_ outer: Int, _ n: Int, _ inner: Int, isBetter: (Float, Float) -> Bool) -> [Int] {
        var result = [Int](repeating: 0, count: outer * inner)
        data.withUnsafeBufferPointer { x in
            forEachLane(outer, n, inner) { base, s in
                var best = base
                for j in 1..<Swift.max(n, 1) where isBetter(x[base + j * s], x[best]) { best = base + j * s }
                result[(base / (n * inner)) * inner + base % inner] = best
            }
        }
        return result
    }

    /// The recorded attributes of a reduction along `axis`.
    func axisAttributes(_ axis: Int, keepDims: Bool) -> OpAttributes {
        ["axis": .int(axis < 0 ? axis + rank : axis), "keepdims": .int(keepDims ? 1 : 0)]
    }

    func reducedShape(_ axis: Int, keepDims: Bool) -> [Int] {
        let a = axis < 0 ? axis + rank : axis
        var s = shape
        if keepDims { s[a] = 1 } else { s.remove(at: a) }
        return s
    }
}
