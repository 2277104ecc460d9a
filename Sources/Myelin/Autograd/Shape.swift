// Shape operations: reshape and its aliases (unsqueeze, squeeze, flatten), permute/transpose,
// expand. Forward and backward together. Every movement op is a gather through an index map
// (`gathered`): output element i reads input element map[i], and the backward pass scatters
// the gradient back through the same map, adding where an input element was read twice.

/// `axis` made non-negative for a tensor of `rank` dimensions, or a check failure naming `op`.
func normalizedAxis(_ axis: Int, rank: Int, op: String, shape: [Int]) -> Int {
    let a = axis < 0 ? axis + rank : axis
    check(a >= 0 && a < rank, "\(op): axis \(axis) out of range for shape \(shape)")
    return a
}

/// Row-major element strides of `shape`.
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) { strides[d] = s; s *= shape[d] }
    return strides
}

/// The flat source index of every element of an output with `tables.count` dimensions, in
/// row-major order: element (i₀, i₁, …) reads `offset + Σ tables[d][i_d] · strides[d]`, or
/// nothing (-1) when some `tables[d][i_d]` is -1. `tables[d].count` is output dimension d.
func indexMap(_ tables: [[Int]], strides: [Int], offset: Int = 0) -> [Int] {
    var map = [offset]
    for (table, s) in zip(tables, strides) {
        var next = [Int]()
        next.reserveCapacity(map.count * table.count)
        for m in map { for t in table { next.append(m < 0 || t < 0 ? -1 : m + t * s) } }
        map = next
    }
    return map
}

/// Index map reading a tensor of `shape` broadcast to `outShape` (see `broadcastShape`).
func broadcastIndexMap(_ shape: [Int], to outShape: [Int]) -> [Int] {
    indexMap(outShape.map { Array(0..<$0) }, strides: broadcastStrides(shape, in: outShape))
}

extension Tensor {
    /// `out[i] = data[map[i]]` (or `fill` where `map[i] < 0`), shape `outShape`. The backward
    /// pass adds `outGrad[i]` into the input's gradient at `map[i]`.
    func gathered(_ op: String, shape outShape: [Int], map: [Int], fill: Float = 0,
                  attributes: @autoclosure () -> OpAttributes) -> Tensor {
        var out = [Float](repeating: fill, count: map.count)
        data.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in
                map.withUnsafeBufferPointer { m in for i in 0..<m.count where m[i] >= 0 { o[i] = x[m[i]] } }
            }
        }
        let input = self
        return Tensor.result(op, shape: outShape, data: out, inputs: [self], attributes: attributes()) { g in
            input.accumulateGrad(count: input.count) { acc in
                map.withUnsafeBufferPointer { m in for i in 0..<m.count where m[i] >= 0 { acc[m[i]] += g[i] } }
            }
        }
    }

    // MARK: Reshape and its aliases

    /// The same elements viewed with a new shape; one dimension may be -1 (inferred).
    ///
    /// Shape: `[d0, d1, …]` → `newShape`, with the same element count. Recorded as
    /// `reshape` with `shape` = the resolved output shape.
    ///
    /// ```swift
    /// Tensor.arange(0, 6).reshape([2, -1])   // shape [2, 3]
    /// ```
    public func reshape(_ newShape: [Int]) -> Tensor {
        var target = newShape
        let known = newShape.filter { $0 != -1 }.reduce(1, *)
        if let hole = newShape.firstIndex(of: -1) {
            check(newShape.filter { $0 == -1 }.count == 1, "reshape: more than one -1 in \(newShape)")
            check(known > 0 && count % known == 0, "reshape: cannot view shape \(shape) as \(newShape)")
            target[hole] = count / known
        }
        check(target.allSatisfy { $0 >= 0 } && target.reduce(1, *) == count,
              "reshape: cannot view shape \(shape) (\(count) elements) as \(newShape)")
        let input = self
        return Tensor.result("reshape", shape: target, data: data, inputs: [self],
                             attributes: ["shape": .ints(target)]) { g in input.accumulateGrad(g) }
    }

    /// A new dimension of size 1 inserted at `axis` (negative counts from the end of the
    /// result, so -1 appends). Shape `[a, b]` → `unsqueeze(1)` → `[a, 1, b]`. Recorded as `reshape`.
    ///
    /// ```swift
    /// Tensor([1, 2, 3]).unsqueeze(0)   // shape [1, 3]
    /// ```
    public func unsqueeze(_ axis: Int) -> Tensor {
        let a = normalizedAxis(axis, rank: rank + 1, op: "unsqueeze", shape: shape)
        var s = shape
        s.insert(1, at: a)
        return reshape(s)
    }

    /// Removes the dimension `axis`, which must have size 1. Shape `[a, 1, b]` → `squeeze(1)`
    /// → `[a, b]`. Recorded as `reshape`.
    ///
    /// ```swift
    /// Tensor.zeros([2, 1, 3]).squeeze(1)   // shape [2, 3]
    /// ```
    public func squeeze(_ axis: Int) -> Tensor {
        let a = normalizedAxis(axis, rank: rank, op: "squeeze", shape: shape)
        check(shape[a] == 1, "squeeze: axis \(axis) of shape \(shape) has size \(shape[a]), not 1")
        var s = shape
        s.remove(at: a)
        return reshape(s)
    }

    /// Keeps the first dimension (the batch) and flattens the rest: `[n, a, b, …]` → `[n, a·b·…]`.
    public func flatten() -> Tensor {
        check(rank >= 1, "flatten: needs at least one dimension, got shape \(shape)")
        return reshape([shape[0], shape.dropFirst().reduce(1, *)])
    }

    /// Merges dimensions `startAxis…endAxis` (inclusive, negative counts from the end) into one.
    /// Shape `[a, b, c, d]` → `flatten(startAxis: 1, endAxis: 2)` → `[a, b·c, d]`. Recorded as `reshape`.
    ///
    /// ```swift
    /// Tensor.zeros([2, 3, 4]).flatten(startAxis: 0)   // shape [24]
    /// ```
    public func flatten(startAxis: Int, endAxis: Int = -1) -> Tensor {
        let s = normalizedAxis(startAxis, rank: rank, op: "flatten", shape: shape)
        let e = normalizedAxis(endAxis, rank: rank, op: "flatten", shape: shape)
        check(s <= e, "flatten: startAxis \(startAxis) comes after endAxis \(endAxis) for shape \(shape)")
        return reshape(Array(shape[..<s]) + [shape[s...e].reduce(1, *)] + Array(shape[(e + 1)...]))
    }

    // MARK: Permute

    /// The dimensions reordered: output dimension i is input dimension `axes[i]`.
    /// Shape `[a, b, c]` → `permute([2, 0, 1])` → `[c, a, b]`. Recorded as `permute` with `perm`.
    ///
    /// ```swift
    /// let images = Tensor.zeros([8, 28, 28, 3])   // NHWC
    /// images.permute([0, 3, 1, 2])                // NCHW, shape [8, 3, 28, 28]
    /// ```
    public func permute(_ axes: [Int]) -> Tensor {
        let perm = axes.map { $0 < 0 ? $0 + rank : $0 }
        check(perm.count == rank && perm.sorted() == Array(0..<rank),
              "permute: \(axes) is not a permutation of the \(rank) axes of shape \(shape)")
        let strides = contiguousStrides(shape)
        let outShape = perm.map { shape[$0] }
        let map = indexMap(outShape.map { Array(0..<$0) }, strides: perm.map { strides[$0] })
        return gathered("permute", shape: outShape, map: map, attributes: ["perm": .ints(perm)])
    }

    /// Dimensions `a` and `b` swapped. Shape `[x, y, z]` → `transpose(0, 2)` → `[z, y, x]`.
    /// Recorded as `permute`.
    ///
    /// ```swift
    /// Tensor.zeros([2, 3, 4]).transpose(-1, -2)   // shape [2, 4, 3]
    /// ```
    public func transpose(_ a: Int, _ b: Int) -> Tensor {
        let i = normalizedAxis(a, rank: rank, op: "transpose", shape: shape)
        let j = normalizedAxis(b, rank: rank, op: "transpose", shape: shape)
        var perm = Array(0..<rank)
        perm.swapAt(i, j)
        return permute(perm)
    }

    /// Transpose of a matrix: `[m, n]` → `[n, m]`. Recorded as `permute` with `perm` [1, 0].
    public func transposed() -> Tensor {
        check(rank == 2, "transposed: expects a matrix, got shape \(shape)")
        return permute([1, 0])
    }

    // MARK: Expand

    /// This tensor broadcast to `shape`: dimensions of size 1 are repeated, and new leading
    /// dimensions may be added; -1 keeps a dimension's size. The gradient sums over the
    /// repeats. Shape `[3, 1]` → `expand([2, 3, 4])` → `[2, 3, 4]`. Recorded as `expand` with
    /// `shape` = the resolved output shape.
    ///
    /// ```swift
    /// Tensor([1, 2, 3]).expand([2, -1])   // [[1, 2, 3], [1, 2, 3]]
    /// ```
    public func expand(_ shape: [Int]) -> Tensor {
        check(shape.count >= rank, "expand: target \(shape) has fewer dimensions than shape \(self.shape)")
        let lead = shape.count - rank
        var target = shape
        for d in 0..<shape.count {
            let own = d >= lead ? self.shape[d - lead] : nil
            if shape[d] == -1 {
                check(own != nil, "expand: -1 in new leading dimension \(d) of \(shape)")
                target[d] = own!
            }
            check(target[d] >= 0 && (own == nil || own == target[d] || own == 1),
                  "expand: shape \(self.shape) cannot be expanded to \(shape) (dimension \(d))")
        }
        return gathered("expand", shape: target, map: broadcastIndexMap(self.shape, to: target),
                        attributes: ["shape": .ints(target)])
    }

    /// The same as `expand(_:)`: this tensor broadcast to `shape` (NumPy's `broadcast_to`).
    ///
    /// ```swift
    /// Tensor(shape: [2, 1], data: [1, 2]).broadcast(to: [2, 3])   // [[1, 1, 1], [2, 2, 2]]
    /// ```
    public func broadcast(to shape: [Int]) -> Tensor { expand(shape) }
}
