// Indexing: index-select (and its users gatherRows, embedding), where, maskedFill. Forward
// and backward together; gradients of gathers scatter-add back to the source.

/// The integer values of `indices` (floats holding whole numbers, so index tensors can be
/// graph inputs), each checked to lie in `0..<bound`.
func integerIndices(_ indices: Tensor, bound: Int, op: String, shape: [Int]) -> [Int] {
    indices.data.map { v in
        check(v >= 0 && v < Float(bound) && v == v.rounded(),
              "\(op): index \(v) is not an integer in 0..<\(bound) (source shape \(shape))")
        return Int(v)
    }
}

extension Tensor {
    /// Shared kernel of index-select and embedding: `out[o, r, i] = x[o, indices[r], i]` with
    /// (outer, n, inner) the layout around axis `a`; the indices' shape replaces the axis.
    func selectAlong(_ op: String, axis a: Int, indices: Tensor, inputs: [Tensor],
                     attributes: @autoclosure () -> OpAttributes) -> Tensor {
        let n = shape[a], inner = shape[(a + 1)...].reduce(1, *), outer = shape[..<a].reduce(1, *)
        let idx = integerIndices(indices, bound: n, op: op, shape: shape)
        let outShape = Array(shape[..<a]) + indices.shape + Array(shape[(a + 1)...])
        let k = idx.count
        var out = [Float](repeating: 0, count: outer * k * inner)
        data.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in
                for p in 0..<outer {
                    for (r, ix) in idx.enumerated() {
                        let src = (p * n + ix) * inner, dst = (p * k + r) * inner
                        for i in 0..<inner { o[dst + i] = x[src + i] }
                    }
                }
            }
        }
        let source = self
        return Tensor.result(op, shape: outShape, data: out, inputs: inputs, attributes: attributes()) { g in
            source.accumulateGrad(count: source.count) { acc in
                for p in 0..<outer {
                    for (r, ix) in idx.enumerated() {
                        let src = (p * n + ix) * inner, dst = (p * k + r) * inner
                        for i in 0..<inner { acc[src + i] += g[dst + i] }
                    }
                }
            }
        }
    }

    /// The entries at `indices` along `axis`, in that order (repeats allowed). `indices` holds
    /// whole numbers as floats (so it can be a graph input) and may have any shape, which
    /// replaces the axis: shape `[a, n, b]` with indices `[k]` → `[a, k, b]`; with indices
    /// `[p, q]` → `[a, p, q, b]`. The gradient scatter-adds back (adding on repeats); the
    /// indices get none. Recorded as `index_select` with `axis`, inputs [source, indices].
    ///
    /// ```swift
    /// Tensor([[1, 2, 3], [4, 5, 6]]).indexSelect(axis: 1, indices: Tensor([2, 0]))   // [[3, 1], [6, 4]]
    /// ```
    public func indexSelect(axis: Int, indices: Tensor) -> Tensor {
        let a = normalizedAxis(axis, rank: rank, op: "indexSelect", shape: shape)
        return selectAlong("index_select", axis: a, indices: indices, inputs: [self, indices], attributes: ["axis": .int(a)])
    }

    /// `indexSelect(axis:indices:)` with the indices given as Swift integers (shape `[k]`).
    ///
    /// ```swift
    /// Tensor([10, 20, 30]).indexSelect(axis: 0, indices: [2, 2, 0])   // [30, 30, 10]
    /// ```
    public func indexSelect(axis: Int, indices: [Int]) -> Tensor {
        check(indices.allSatisfy { Swift.abs($0) < 1 << 24 },
              "indexSelect: indices beyond 2^24 are not exact as floats (shape \(shape), axis \(axis))")
        return indexSelect(axis: axis, indices: Tensor(shape: [indices.count], data: indices.map(Float.init)))
    }

    /// Rows `indices` of the first dimension, in that order (mini-batch selection).
    /// Shape `[n, …]` → `[indices.count, …]`. The gradient scatters back (adding on repeats).
    /// Recorded as `index_select` along axis 0.
    public func gatherRows(_ indices: [Int]) -> Tensor {
        check(rank >= 1, "gatherRows: needs at least one dimension, got shape \(shape)")
        return indexSelect(axis: 0, indices: indices)
    }

    /// Rows `range` of the first dimension.
    public func rows(_ range: Range<Int>) -> Tensor { gatherRows(Array(range)) }

    /// `condition ≠ 0 ? a : b` elementwise, all three broadcast together (like `torch.where`).
    /// Shapes `c`, `a`, `b` → their broadcast shape. Gradients go to `a` where the condition
    /// holds and to `b` elsewhere; the condition gets none. Recorded as `where` with inputs
    /// [condition, a, b].
    ///
    /// ```swift
    /// Tensor.where(Tensor([1, 0, 1]), Tensor([1, 2, 3]), Tensor(0))   // [1, 0, 3]
    /// ```
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let outShape = broadcastShape(broadcastShape(condition.shape, a.shape, op: "where"), b.shape, op: "where")
        let cm = broadcastIndexMap(condition.shape, to: outShape)
        let am = broadcastIndexMap(a.shape, to: outShape), bm = broadcastIndexMap(b.shape, to: outShape)
        let take = cm.map { condition.data[$0] != 0 }
        var out = [Float](repeating: 0, count: take.count)
        for i in 0..<take.count { out[i] = take[i] ? a.data[am[i]] : b.data[bm[i]] }
        return result("where", shape: outShape, data: out, inputs: [condition, a, b]) { g in
            a.accumulateGrad(count: a.count) { acc in for i in 0..<take.count where take[i] { acc[am[i]] += g[i] } }
            b.accumulateGrad(count: b.count) { acc in for i in 0..<take.count where !take[i] { acc[bm[i]] += g[i] } }
        }
    }

    /// This tensor with `value` wherever `mask` (broadcast to this shape) is nonzero.
    /// Shape unchanged; no gradient flows through filled elements, and the mask gets none.
    /// Recorded as `masked_fill` with `value`, inputs [x, mask].
    ///
    /// ```swift
    /// scores.maskedFill(Tensor([[0, 1], [0, 0]]), value: -.infinity)   // causal-style masking
    /// ```
    public func maskedFill(_ mask: Tensor, value: Float) -> Tensor {
        check(broadcastShape(shape, mask.shape, op: "maskedFill") == shape,
              "maskedFill: mask shape \(mask.shape) does not broadcast to shape \(shape)")
        let mm = broadcastIndexMap(mask.shape, to: shape)
        let keep = mm.map { mask.data[$0] == 0 }
        var out = data
        for i in 0..<out.count where !keep[i] { out[i] = value }
        let input = self
        return Tensor.result("masked_fill", shape: shape, data: out, inputs: [self, mask],
                             attributes: ["value": .float(Double(value))]) { g in
            input.accumulateGrad(count: input.count) { acc in for i in 0..<keep.count where keep[i] { acc[i] += g[i] } }
        }
    }
}

/// Rows of `weight` looked up by `indices`: a learned vector per token id.
/// Shapes: weight `[vocabulary, dim]`, indices any shape `[…]` (whole numbers as floats, so
/// token ids can be graph inputs) → `[…, dim]`. The gradient scatter-adds into the looked-up
/// rows of `weight`. Recorded as `embedding` with inputs [weight, indices].
///
/// ```swift
/// let table = Tensor.randn([1000, 64], requiresGrad: true)
/// let tokens = Tensor(shape: [2, 3], data: [5, 9, 9, 0, 1, 2])
/// embedding(weight: table, indices: tokens)   // shape [2, 3, 64]
/// ```
public func embedding(weight: Tensor, indices: Tensor) -> Tensor {
    check(weight.rank == 2, "embedding: weight must be [vocabulary, dim], got shape \(weight.shape)")
    return weight.selectAlong("embedding", axis: 0, indices: indices, inputs: [weight, indices], attributes: [:])
}
