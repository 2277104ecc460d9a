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
        // hidden[i % period] != 0: position i is masked. Masks over trailing dims (a causal
        // [L, S]) repeat with their element count, and of two such periods the larger is a
        // multiple of the smaller, so they combine into one pattern of the largest; any other
        // mask (padding [B, 1, 1, S]) is expanded over the whole shape (period = count).
        var period = 1
        var trailingMasks: [Bool] = []
        for m in masks {
            check(broadcastShape(shape, m.shape, op: "maskedSoftmax") == shape,
                  "maskedSoftmax: mask shape \(m.shape) does not broadcast to scores shape \(shape)")
            let trailing = Array(m.shape.drop(while: { $0 == 1 }))
            let isTrailing = trailing.count <= rank && Array(shape.suffix(trailing.count)) == trailing
            trailingMasks.append(isTrailing)
            period = Swift.max(period, isTrailing ? Swift.max(1, m.count) : count)
        }
        var hidden = [UInt8](repeating: 0, count: masks.isEmpty ? 0 : period)
        for (m, isTrailing) in zip(masks, trailingMasks) {
            if isTrailing {
                let p = Swift.max(1, m.count)
                m.data.withUnsafeBufferPointer { mp in for i in 0..<period where mp[i % p] != 0 { hidden[i] = 1 } }
            } else {
                let map = broadcastIndexMap(m.shape, to: shape)
                for i in 0..<count where m.data[map[i]] != 0 { hidden[i] = 1 }
            }
        }
        // Each row scaled, masked and normalised in place in the output (one pass over memory).
        var out = uninitializedFloats(count)
        data.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { y in
                hidden.withUnsafeBufferPointer { h in
                    for r in 0..<rows {
                        let row = y.baseAddress! + r * n, source = x.baseAddress! + r * n
                        for j in 0..<n { row[j] = source[j] * scale }
                        if !h.isEmpty {
                            let flags = h.baseAddress! + (r * n) % period
                            for j in 0..<n where flags[j] != 0 { row[j] = -.infinity }
                        }
                        softmaxRow(row, count: n)
                    }
                }
            }
        }
        let input = self, weights = out
        return Tensor.result("masked_softmax", shape: shape, data: out, inputs: [self] + masks,
                             attributes: ["scale": .float(Double(scale))]) { g in
            // dx = scale · y ⊙ (g − Σ g⊙y); hidden positions have y = 0. Written straight into
            // a fresh gradient buffer (no zero fill) unless one exists to add to.
            guard input.requiresGrad else { return }
            let existing = input.gradStorage != nil
            if !existing { input.gradStorage = uninitializedFloats(rows * n) }
            input.gradStorage!.withUnsafeMutableBufferPointer { acc in
                weights.withUnsafeBufferPointer { y in
                    g.withUnsafeBufferPointer { gp in
                        @inline(__always) func write(_ r: Int, _ dot: Float) {
                            let base = r * n
                            if existing {
                                for j in 0..<n { acc[base + j] += scale * y[base + j] * (gp[base + j] - dot) }
                            } else {
                                for j in 0..<n { acc[base + j] = scale * y[base + j] * (gp[base + j] - dot) }
                            }
                        }
                        // Σ g⊙y of four rows at a time (four addition chains, each in element
                        // order as for one row), then each row's gradient.
                        var r = 0
                        while r + 4 <= rows {
                            let b0 = r * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n
                            var d0: Float = 0, d1: Float = 0, d2: Float = 0, d3: Float = 0
                            for j in 0..<n {
                                d0 += gp[b0 + j] * y[b0 + j]; d1 += gp[b1 + j] * y[b1 + j]
                                d2 += gp[b2 + j] * y[b2 + j]; d3 += gp[b3 + j] * y[b3 + j]
                            }
                            write(r, d0); write(r + 1, d1); write(r + 2, d2); write(r + 3, d3)
                            r += 4
                        }
                        while r < rows {
                            var dot: Float = 0
                            for j in 0..<n { dot += gp[r * n + j] * y[r * n + j] }
                            write(r, dot)
                            r += 1
                        }
                    }
                }
            }
        }
    }
}
