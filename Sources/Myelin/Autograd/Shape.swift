// Shape operations: reshape, flatten, transpose, row gathering. Forward and backward together.

extension Tensor {
    /// The same elements viewed with a new shape; one dimension may be -1 (inferred).
    public func reshape(_ newShape: [Int]) -> Tensor {
        var target = newShape
        let known = newShape.filter { $0 != -1 }.reduce(1, *)
        if let hole = newShape.firstIndex(of: -1) {
            check(newShape.filter { $0 == -1 }.count == 1, "reshape: more than one -1 in \(newShape)")
            check(known > 0 && count % known == 0, "reshape: cannot view shape \(shape) as \(newShape)")
            target[hole] = count / known
        }
        check(target.reduce(1, *) == count, "reshape: cannot view shape \(shape) (\(count) elements) as \(newShape)")
        let input = self
        return Tensor.result("reshape", shape: target, data: data, inputs: [self]) { g in input.accumulateGrad(g) }
    }

    /// Keeps the first dimension (the batch) and flattens the rest: `[n, a, b, …]` → `[n, a·b·…]`.
    public func flatten() -> Tensor {
        check(rank >= 1, "flatten: needs at least one dimension, got shape \(shape)")
        return reshape([shape[0], shape.dropFirst().reduce(1, *)])
    }

    /// Transpose of a matrix: `[m, n]` → `[n, m]`.
    public func transposed() -> Tensor {
        check(rank == 2, "transposed: expects a matrix, got shape \(shape)")
        let m = shape[0], n = shape[1]
        var out = [Float](repeating: 0, count: count)
        for i in 0..<m { for j in 0..<n { out[j * m + i] = data[i * n + j] } }
        let input = self
        return Tensor.result("transpose", shape: [n, m], data: out, inputs: [self]) { g in
            input.accumulateGrad(count: input.count) { acc in
                for i in 0..<m { for j in 0..<n { acc[i * n + j] += g[j * m + i] } }
            }
        }
    }

    /// Rows `indices` of the first dimension, in that order (mini-batch selection).
    /// Shape `[n, …]` → `[indices.count, …]`. The gradient scatters back (adding on repeats).
    public func gatherRows(_ indices: [Int]) -> Tensor {
        check(rank >= 1, "gatherRows: needs at least one dimension, got shape \(shape)")
        let rowSize = count / Swift.max(shape[0], 1)
        var out = [Float](repeating: 0, count: indices.count * rowSize)
        data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (r, ix) in indices.enumerated() {
                    check(ix >= 0 && ix < shape[0], "gatherRows: index \(ix) out of range for \(shape[0]) rows")
                    for k in 0..<rowSize { dst[r * rowSize + k] = src[ix * rowSize + k] }
                }
            }
        }
        var outShape = shape
        outShape[0] = indices.count
        let input = self
        return Tensor.result("gather_rows", shape: outShape, data: out, inputs: [self]) { g in
            input.accumulateGrad(count: input.count) { acc in
                for (r, ix) in indices.enumerated() {
                    for k in 0..<rowSize { acc[ix * rowSize + k] += g[r * rowSize + k] }
                }
            }
        }
    }

    /// Rows `range` of the first dimension.
    public func rows(_ range: Range<Int>) -> Tensor { gatherRows(Array(range)) }
}
