// The residual connection's sum as one op with a direct backward pass (issue 12, Transformer
// training speed): the broadcasting `add` builds both inputs' gradients element by element
// through index maps, a zero-filled buffer each and a reduction to the input's shape, which
// for two tensors of one shape is the outgoing gradient itself.

extension Tensor {
    /// `self + other` for two tensors of the same shape, the gradient passed to both unchanged
    /// (bit for bit what `+` gives). Other shapes fall back to the broadcasting `+`.
    ///
    /// - Shape: x `[…]`, other of x's shape → x's shape.
    /// - Recorded as `add` (the op export knows): under a tracer it is `+` itself.
    ///
    /// ```swift
    /// let x = Tensor.randn([8, 64, 96]), y = Tensor.randn([8, 64, 96])
    /// x.residualAdd(y)   // [8, 64, 96], equal to x + y
    /// ```
    func residualAdd(_ other: Tensor) -> Tensor {
        guard shape == other.shape, Tracer.current == nil else { return self + other }
        let n = count
        var out = uninitializedFloats(n)
        data.withUnsafeBufferPointer { a in
            other.data.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { y in for i in 0..<n { y[i] = a[i] + b[i] } }
            }
        }
        let lhs = self, rhs = other
        return Tensor.result("add", shape: shape, data: out, inputs: [self, other]) { g in
            for input in [lhs, rhs] {
                input.writeGrad(count: n) { acc, accumulate in
                    g.withUnsafeBufferPointer { gp in
                        if accumulate {
                            for i in 0..<n { acc[i] += gp[i] }
                        } else {
                            _ = acc.initialize(fromContentsOf: gp)
                        }
                    }
                }
            }
        }
    }
}
