import Foundation

// The attention-weight step softmax(scale · scores, masked) as one node (issue 12, Transformer
// training speed): the unfused form records a scale multiply, one masked_fill per mask and a
// softmax, each a full copy of the [B, heads, L, S] scores with its own gradient buffer.

extension Tensor {
    /// `softmax(scale · self)` along the last axis, with every position where any mask is
    /// nonzero set to −∞ first (weight exactly 0; a row with every key hidden gives NaN, as
    /// PyTorch). Equals `(self * scale).maskedFill(m₁, −∞)….softmax(axis: -1)`.
    ///
    /// - Shapes: self `[…, L, S]`; each mask broadcastable to it (e.g. causal `[L, S]`,
    ///   padding `[B, 1, 1, S]`) → `[…, L, S]`.
    /// - Recorded as `masked_softmax` with inputs [self, masks…], attribute `scale`; used only
    ///   outside a tracer (export records the unfused ops or the attention node).
    ///
    /// ```swift
    /// let w = scores.maskedSoftmax(scale: 0.25, masks: [causalMask(10)])   // scores [2, 4, 10, 10]
    /// ```
    func maskedSoftmax(scale: Float, masks: [Tensor]) -> Tensor {
        check(rank >= 1, "maskedSoftmax: scores must have at least one dimension, got shape \(shape)")
        let n = shape[rank - 1], rows = n == 0 ? 0 : count / n
        // hidden[i] != 0: position i is masked. A trailing-dims mask repeats with period mask.count.
        var hidden = [UInt8](repeating: 0, count: masks.isEmpty ? 0 : count)
        for m in masks {
            check(broadcastShape(shape, m.shape, op: "maskedSoftmax") == shape,
                  "maskedSoftmax: mask shape \(m.shape) does not broadcast to scores shape \(shape)")
            let trailing = Array(m.shape.drop(while: { $0 == 1 }))
            if trailing.count <= rank && Array(shape.suffix(trailing.count)) == trailing {
                let period = Swift.max(1, m.count)
                m.data.withUnsafeBufferPointer { mp in
                    for i in 0..<count where mp[i % period] != 0 { hidden[i] = 1 }
                }
            } else {
                let map = broadcastIndexMap(m.shape, to: shape)
                for i in 0..<count where m.data[map[i]] != 0 { hidden[i] = 1 }
            }
        }
        var out = [Float](repeating: 0, count: count)
        data.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { y in
                for i in 0..<count { y[i] = x[i] * scale }
                if !hidden.isEmpty { for i in 0..<count where hidden[i] != 0 { y[i] = -.infinity } }
                for r in 0..<rows { softmaxRow(y.baseAddress! + r * n, count: n) }
            }
        }
        let input = self, weights = out
        return Tensor.result("masked_softmax", shape: shape, data: out, inputs: [self] + masks,
                             attributes: ["scale": .float(Double(scale))]) { g in
            // dx = scale · y ⊙ (g − Σ g⊙y); hidden positions have y = 0.
            input.accumulateGrad(count: input.count) { acc in
                weights.withUnsafeBufferPointer { y in
                    g.withUnsafeBufferPointer { gp in
                        for r in 0..<rows {
                            let base = r * n
                            var dot: Float = 0
                            for j in 0..<n { dot += gp[base + j] * y[base + j] }
                            for j in 0..<n { acc[base + j] += scale * y[base + j] * (gp[base + j] - dot) }
                        }
                    }
                }
            }
        }
    }
}
