// Matrix products on the shared GEMM kernel, forward and backward side by side.

extension Tensor {
    /// Runs `body` with a gradient buffer to write into and whether it already holds a
    /// value to add to (so GEMM can accumulate instead of allocating and adding).
    @inline(__always)
    func withGradBuffer(_ body: (UnsafeMutablePointer<Float>, _ accumulate: Bool) -> Void) {
        guard requiresGrad else { return }
        let existing = gradStorage != nil
        if !existing { gradStorage = [Float](repeating: 0, count: count) }
        gradStorage!.withUnsafeMutableBufferPointer { body($0.baseAddress!, existing) }
    }

    /// Matrix product: `[m, k]` · `[k, n]` → `[m, n]`.
    public func matmul(_ other: Tensor) -> Tensor {
        check(rank == 2 && other.rank == 2 && shape[1] == other.shape[0],
                     "matmul: shapes \(shape) and \(other.shape) are not [m, k] and [k, n]")
        let m = shape[0], k = shape[1], n = other.shape[1]
        var out = [Float](repeating: 0, count: m * n)
        data.withUnsafeBufferPointer { a in
            other.data.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { c in
                    parallelGEMM(m: m, n: n, k: k, a: a.baseAddress!, aRowStride: k, aColStride: 1,
                                 b: b.baseAddress!, bRowStride: n, bColStride: 1, c: c.baseAddress!, accumulate: false)
                }
            }
        }
        let lhs = self, rhs = other
        return Tensor.result("matmul", shape: [m, n], data: out, inputs: [self, other]) { g in
            g.withUnsafeBufferPointer { gp in
                // dA[m,k] = dC[m,n] · Bᵀ[n,k]
                lhs.withGradBuffer { ga, acc in
                    rhs.data.withUnsafeBufferPointer { b in
                        parallelGEMM(m: m, n: k, k: n, a: gp.baseAddress!, aRowStride: n, aColStride: 1,
                                     b: b.baseAddress!, bRowStride: 1, bColStride: n, c: ga, accumulate: acc)
                    }
                }
                // dB[k,n] = Aᵀ[k,m] · dC[m,n]
                rhs.withGradBuffer { gb, acc in
                    lhs.data.withUnsafeBufferPointer { a in
                        parallelGEMM(m: k, n: n, k: m, a: a.baseAddress!, aRowStride: 1, aColStride: k,
                                     b: gp.baseAddress!, bRowStride: n, bColStride: 1, c: gb, accumulate: acc)
                    }
                }
            }
        }
    }
}

/// Affine map of a batch, fused: `y = x · weightᵀ + bias`.
/// Shapes: x `[batch, in]`, weight `[out, in]` (PyTorch layout), bias `[out]` → y `[batch, out]`.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    check(x.rank == 2 && weight.rank == 2 && x.shape[1] == weight.shape[1],
                 "linear: input shape \(x.shape) does not match weight shape \(weight.shape) (expected [batch, \(weight.shape.last ?? 0)])")
    let batch = x.shape[0], inputs = x.shape[1], outputs = weight.shape[0]
    if let b = bias {
        check(b.shape == [outputs], "linear: bias shape \(b.shape) does not match \(outputs) outputs")
    }
    var out = [Float](repeating: 0, count: batch * outputs)
    x.data.withUnsafeBufferPointer { xp in
        weight.data.withUnsafeBufferPointer { wp in
            out.withUnsafeMutableBufferPointer { yp in
                if let b = bias {
                    b.data.withUnsafeBufferPointer { bp in
                        for r in 0..<batch { for j in 0..<outputs { yp[r * outputs + j] = bp[j] } }
                    }
                }
                parallelGEMM(m: batch, n: outputs, k: inputs, a: xp.baseAddress!, aRowStride: inputs, aColStride: 1,
                             b: wp.baseAddress!, bRowStride: 1, bColStride: inputs, c: yp.baseAddress!,
                             accumulate: bias != nil)
            }
        }
    }
    let inputsList = bias.map { [x, weight, $0] } ?? [x, weight]
    return Tensor.result("linear", shape: [batch, outputs], data: out, inputs: inputsList) { g in
        g.withUnsafeBufferPointer { gp in
            // dx[batch,in] = dy[batch,out] · W[out,in]
            x.withGradBuffer { gx, acc in
                weight.data.withUnsafeBufferPointer { wp in
                    parallelGEMM(m: batch, n: inputs, k: outputs, a: gp.baseAddress!, aRowStride: outputs, aColStride: 1,
                                 b: wp.baseAddress!, bRowStride: inputs, bColStride: 1, c: gx, accumulate: acc)
                }
            }
            // dW[out,in] = dyᵀ[out,batch] · x[batch,in]
            weight.withGradBuffer { gw, acc in
                x.data.withUnsafeBufferPointer { xp in
                    parallelGEMM(m: outputs, n: inputs, k: batch, a: gp.baseAddress!, aRowStride: 1, aColStride: outputs,
                                 b: xp.baseAddress!, bRowStride: inputs, bColStride: 1, c: gw, accumulate: acc)
                }
            }
            // db[out] = Σ_rows dy
            bias?.accumulateGrad(count: outputs) { gb in
                for r in 0..<batch { for j in 0..<outputs { gb[j] += gp[r * outputs + j] } }
            }
        }
    }
}
