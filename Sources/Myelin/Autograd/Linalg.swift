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

    /// Matrix product, batched over leading dimensions that broadcast like elementwise ops:
    /// `[m, k]` · `[k, n]` → `[m, n]`; `[..., m, k]` · `[..., k, n]` → `[..., m, n]`.
    /// Each 2-D product runs on the shared GEMM; when `other` is a plain matrix the leading
    /// dimensions of `self` fold into rows of one GEMM. Recorded as `matmul` (no attributes).
    ///
    /// ```swift
    /// let q = Tensor.randn([8, 4, 10, 16]), k = Tensor.randn([8, 4, 10, 16])
    /// q.matmul(k.transpose(-1, -2))   // attention scores, shape [8, 4, 10, 10]
    /// ```
    public func matmul(_ other: Tensor) -> Tensor {
        check(rank >= 2 && other.rank >= 2 && shape[rank - 1] == other.shape[other.rank - 2],
              "matmul: shapes \(shape) and \(other.shape) are not [..., m, k] and [..., k, n]")
        let k = shape[rank - 1], n = other.shape[other.rank - 1]
        var m = shape[rank - 2]
        let outShape: [Int]
        var aSlices = [0], bSlices = [0]   // per output matrix: which matrix of A and of B it multiplies
        if other.rank == 2 {
            m = shape.dropLast().reduce(1, *)
            outShape = shape.dropLast() + [n]
        } else {
            let aBatch = Array(shape.dropLast(2)), bBatch = Array(other.shape.dropLast(2))
            let batch = broadcastShape(aBatch, bBatch, op: "matmul: batch dimensions of \(shape) and \(other.shape)")
            aSlices = broadcastIndexMap(aBatch, to: batch)
            bSlices = broadcastIndexMap(bBatch, to: batch)
            outShape = batch + [m, n]
        }
        var out = [Float](repeating: 0, count: outShape.reduce(1, *))
        data.withUnsafeBufferPointer { a in
            other.data.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { c in
                    for (t, (ia, ib)) in zip(aSlices, bSlices).enumerated() {
                        parallelGEMM(m: m, n: n, k: k, a: a.baseAddress! + ia * m * k, aRowStride: k, aColStride: 1,
                                     b: b.baseAddress! + ib * k * n, bRowStride: n, bColStride: 1,
                                     c: c.baseAddress! + t * m * n, accumulate: false)
                    }
                }
            }
        }
        let lhs = self, rhs = other
        return Tensor.result("matmul", shape: outShape, data: out, inputs: [self, other]) { g in
            if g.isEmpty || lhs.count == 0 || rhs.count == 0 {
                // An empty product: the gradients are zeros.
                lhs.withGradBuffer { _, _ in }
                rhs.withGradBuffer { _, _ in }
                return
            }
            g.withUnsafeBufferPointer { gp in
                // dA[m,k] = dC[m,n] · Bᵀ[n,k], summed over the output matrices that used A's matrix
                // Each of A's matrices is used by some output matrix (the batch is not empty), so
                // the first GEMM into it overwrites a new, uninitialised buffer.
                lhs.writeGrad(count: lhs.count) { gaBuffer, existing in
                    let ga = gaBuffer.baseAddress!
                    var written = [Bool](repeating: existing, count: (aSlices.max() ?? 0) + 1)
                    rhs.data.withUnsafeBufferPointer { b in
                        for (t, (ia, ib)) in zip(aSlices, bSlices).enumerated() {
                            parallelGEMM(m: m, n: k, k: n, a: gp.baseAddress! + t * m * n, aRowStride: n, aColStride: 1,
                                         b: b.baseAddress! + ib * k * n, bRowStride: 1, bColStride: n,
                                         c: ga + ia * m * k, accumulate: written[ia])
                            written[ia] = true
                        }
                    }
                }
                // dB[k,n] = Aᵀ[k,m] · dC[m,n]
                rhs.writeGrad(count: rhs.count) { gbBuffer, existing in
                    let gb = gbBuffer.baseAddress!
                    var written = [Bool](repeating: existing, count: (bSlices.max() ?? 0) + 1)
                    lhs.data.withUnsafeBufferPointer { a in
                        for (t, (ia, ib)) in zip(aSlices, bSlices).enumerated() {
                            parallelGEMM(m: k, n: n, k: m, a: a.baseAddress! + ia * m * k, aRowStride: 1, aColStride: k,
                                         b: gp.baseAddress! + t * m * n, bRowStride: n, bColStride: 1,
                                         c: gb + ib * k * n, accumulate: written[ib])
                            written[ib] = true
                        }
                    }
                }
            }
        }
    }
}

/// Affine map, fused: `y = x · weightᵀ + bias`, applied to the last dimension.
/// Shapes: x `[..., in]` (any rank ≥ 1; the leading dimensions are rows of one GEMM),
/// weight `[out, in]` (PyTorch layout), bias `[out]` → y `[..., out]`.
/// Recorded as `linear` (no attributes) with inputs [x, weight] or [x, weight, bias].
///
/// ```swift
/// let w = Tensor.randn([16, 8]), b = Tensor.zeros([16])
/// linear(Tensor.randn([4, 10, 8]), weight: w, bias: b)   // shape [4, 10, 16]
/// ```
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    check(x.rank >= 1 && weight.rank == 2 && x.shape[x.rank - 1] == weight.shape[1],
                 "linear: input shape \(x.shape) does not match weight shape \(weight.shape) (expected [..., \(weight.shape.last ?? 0)])")
    let batch = x.shape.dropLast().reduce(1, *), inputs = weight.shape[1], outputs = weight.shape[0]
    if let b = bias {
        check(b.shape == [outputs], "linear: bias shape \(b.shape) does not match \(outputs) outputs")
    }
    // With a bias every row starts as a copy of it (the GEMM adds to it); without, the GEMM
    // overwrites the zero-filled buffer.
    var out = bias == nil ? [Float](repeating: 0, count: batch * outputs) : uninitializedFloats(batch * outputs)
    x.data.withUnsafeBufferPointer { xp in
        weight.data.withUnsafeBufferPointer { wp in
            out.withUnsafeMutableBufferPointer { yp in
                if let b = bias, outputs > 0 {
                    b.data.withUnsafeBufferPointer { bp in
                        for r in 0..<batch { (yp.baseAddress! + r * outputs).update(from: bp.baseAddress!, count: outputs) }
                    }
                }
                if outputs <= narrowLinearMaxOutputs {
                    narrowLinearForward(rows: batch, inputs: inputs, outputs: outputs, x: xp.baseAddress!,
                                        weight: wp.baseAddress!, y: yp.baseAddress!)
                } else {
                    parallelGEMM(m: batch, n: outputs, k: inputs, a: xp.baseAddress!, aRowStride: inputs, aColStride: 1,
                                 b: wp.baseAddress!, bRowStride: 1, bColStride: inputs, c: yp.baseAddress!,
                                 accumulate: bias != nil)
                }
            }
        }
    }
    let inputsList = bias.map { [x, weight, $0] } ?? [x, weight]
    return Tensor.result("linear", shape: x.shape.dropLast() + [outputs], data: out, inputs: inputsList) { g in
        if g.isEmpty || x.count == 0 || weight.count == 0 {
            // An empty product: the gradients are zeros.
            for t in inputsList { t.withGradBuffer { _, _ in } }
            return
        }
        g.withUnsafeBufferPointer { gp in
            // dx[batch,in] = dy[batch,out] · W[out,in]
            // (Both GEMMs overwrite a new gradient buffer: they write every element, zeros when k is 0.)
            let narrow = outputs <= narrowLinearMaxOutputs
            x.writeGrad(count: x.count) { gx, acc in
                weight.data.withUnsafeBufferPointer { wp in
                    if narrow {
                        narrowLinearInputGradient(rows: batch, inputs: inputs, outputs: outputs, gradY: gp.baseAddress!,
                                                  weight: wp.baseAddress!, gradX: gx.baseAddress!, accumulate: acc)
                        return
                    }
                    parallelGEMM(m: batch, n: inputs, k: outputs, a: gp.baseAddress!, aRowStride: outputs, aColStride: 1,
                                 b: wp.baseAddress!, bRowStride: inputs, bColStride: 1, c: gx.baseAddress!, accumulate: acc)
                }
            }
            // dW[out,in] = dyᵀ[out,batch] · x[batch,in]
            weight.writeGrad(count: weight.count) { gw, acc in
                x.data.withUnsafeBufferPointer { xp in
                    if narrow {
                        narrowLinearWeightGradient(rows: batch, inputs: inputs, outputs: outputs, gradY: gp.baseAddress!,
                                                   x: xp.baseAddress!, gradW: gw.baseAddress!, accumulate: acc)
                        return
                    }
                    parallelGEMM(m: outputs, n: inputs, k: batch, a: gp.baseAddress!, aRowStride: 1, aColStride: outputs,
                                 b: xp.baseAddress!, bRowStride: inputs, bColStride: 1, c: gw.baseAddress!, accumulate: acc)
                }
            }
            // db[out] = Σ_rows dy
            // (16 columns at a time held in registers over all rows; each column still sums
            // its rows in order.)
            bias?.accumulateGrad(count: outputs) { gb in
                typealias V = SIMD16<Float>
                let dy = gp.baseAddress!, db = gb.baseAddress!
                var j = 0
                while j + 16 <= outputs {
                    var sum = V.load(db + j)
                    for r in 0..<batch { sum += V.load(dy + r * outputs + j) }
                    sum.store(db + j)
                    j += 16
                }
                for r in 0..<batch { for jj in j..<outputs { db[jj] += dy[r * outputs + jj] } }
            }
        }
    }
}
