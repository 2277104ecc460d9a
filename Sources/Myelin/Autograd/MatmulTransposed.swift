// A · Bᵀ on the shared GEMM with B read through its strides (issue 12, attention scores):
// `a.matmul(b.transpose(-1, -2))` first copies B transposed (a `permute` node with its own
// gradient buffer), then multiplies.

extension Tensor {
    /// `self · otherᵀ` over the last two axes, batched over leading dimensions that broadcast
    /// like `matmul`'s: `[..., m, k]` · `[..., n, k]`ᵀ → `[..., m, n]`. Equals
    /// `matmul(other.transpose(-1, -2))` without materialising the transpose.
    ///
    /// - Recorded as `matmul` of `self` and the transposed `other` under a tracer (export
    ///   knows that op); outside a tracer one `matmul_transposed` node.
    ///
    /// ```swift
    /// let q = Tensor.randn([8, 4, 10, 16]), k = Tensor.randn([8, 4, 12, 16])
    /// q.matmulTransposed(k)   // attention scores, shape [8, 4, 10, 12]
    /// ```
    func matmulTransposed(_ other: Tensor) -> Tensor {
        if Tracer.current != nil { return matmul(other.transpose(-1, -2)) }
        check(rank >= 2 && other.rank >= 2 && shape[rank - 1] == other.shape[other.rank - 1],
              "matmulTransposed: shapes \(shape) and \(other.shape) are not [..., m, k] and [..., n, k]")
        let m = shape[rank - 2], k = shape[rank - 1], n = other.shape[other.rank - 2]
        let aBatch = Array(shape.dropLast(2)), bBatch = Array(other.shape.dropLast(2))
        let batch = broadcastShape(aBatch, bBatch, op: "matmulTransposed: batch dimensions of \(shape) and \(other.shape)")
        let aSlices = broadcastIndexMap(aBatch, to: batch), bSlices = broadcastIndexMap(bBatch, to: batch)
        let outShape = batch + [m, n]
        var out = [Float](unsafeUninitializedCapacity: outShape.reduce(1, *)) { _, initialized in initialized = outShape.reduce(1, *) }
        data.withUnsafeBufferPointer { a in
            other.data.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { c in
                    for (t, (ia, ib)) in zip(aSlices, bSlices).enumerated() {
                        // C[m,n] = A[m,k] · B[n,k]ᵀ: B(p, j) = b[j·k + p].
                        parallelGEMM(m: m, n: n, k: k, a: a.baseAddress! + ia * m * k, aRowStride: k, aColStride: 1,
                                     b: b.baseAddress! + ib * n * k, bRowStride: 1, bColStride: k,
                                     c: c.baseAddress! + t * m * n, accumulate: false)
                    }
                }
            }
        }
        let lhs = self, rhs = other
        return Tensor.result("matmul_transposed", shape: outShape, data: out, inputs: [self, other]) { g in
            if g.isEmpty || lhs.count == 0 || rhs.count == 0 {
                // An empty product: the gradients are zeros.
                lhs.withGradBuffer { _, _ in }
                rhs.withGradBuffer { _, _ in }
                return
            }
            g.withUnsafeBufferPointer { gp in
                // dA[m,k] = dC[m,n] · B[n,k], summed over the output matrices that used A's matrix.
                // As in `matmul`: every matrix of A and of B is used by some output matrix, so the
                // first GEMM into it overwrites a new, uninitialised buffer (no zero fill).
                lhs.writeGrad(count: lhs.count) { gaBuffer, existing in
                    let ga = gaBuffer.baseAddress!
                    var written = [Bool](repeating: existing, count: (aSlices.max() ?? 0) + 1)
                    rhs.data.withUnsafeBufferPointer { b in
                        for (t, (ia, ib)) in zip(aSlices, bSlices).enumerated() {
                            parallelGEMM(m: m, n: k, k: n, a: gp.baseAddress! + t * m * n, aRowStride: n, aColStride: 1,
                                         b: b.baseAddress! + ib * n * k, bRowStride: k, bColStride: 1,
                                         c: ga + ia * m * k, accumulate: written[ia])
                            written[ia] = true
                        }
                    }
                }
                // dB[n,k] = dC[m,n]ᵀ · A[m,k].
                rhs.writeGrad(count: rhs.count) { gbBuffer, existing in
                    let gb = gbBuffer.baseAddress!
                    var written = [Bool](repeating: existing, count: (bSlices.max() ?? 0) + 1)
                    lhs.data.withUnsafeBufferPointer { a in
                        for (t, (ia, ib)) in zip(aSlices, bSlices).enumerated() {
                            parallelGEMM(m: n, n: k, k: m, a: gp.baseAddress! + t * m * n, aRowStride: 1, aColStride: n,
                                         b: a.baseAddress! + ia * m * k, bRowStride: k, bColStride: 1,
                                         c: gb + ib * n * k, accumulate: written[ib])
                            written[ib] = true
                        }
                    }
                }
            }
        }
    }
}
