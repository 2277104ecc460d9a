import Foundation

// Fused ops of the sequence models, forward and backward side by side: the LSTM and GRU cell
// updates (PyTorch's gate layout) and cross-entropy over a sequence with an ignored target.
// The ops, attributes and layers of sequence models are listed in NN/Recurrent.swift.

extension Tensor {
    /// The LSTM cell state update `c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g)`, fused.
    /// Shapes: gates `[batch, 4·hidden]` pre-activations in PyTorch's order (i, f, g, o), i.e.
    /// `W_ih x + b_ih + W_hh h + b_hh`; c `[batch, hidden]` → c' `[batch, hidden]`.
    /// Recorded as `lstm_cell_state` with inputs [gates, c].
    ///
    /// ```swift
    /// let c1 = Tensor.lstmCellState(gates: Tensor.zeros([2, 12]), c: Tensor.zeros([2, 3]))   // [2, 3]
    /// ```
    public static func lstmCellState(gates: Tensor, c: Tensor) -> Tensor {
        check(gates.rank == 2 && c.rank == 2 && gates.shape == [c.shape[0], 4 * c.shape[1]],
              "lstmCellState: gates shape \(gates.shape) and cell shape \(c.shape) are not [batch, 4·hidden] and [batch, hidden]")
        let b = c.shape[0], h = c.shape[1]
        let z = gates.data, cPrev = c.data
        // Activated gates i, f, g saved for the backward pass.
        var ig = [Float](repeating: 0, count: b * h), fg = ig, gg = ig, out = ig
        for r in 0..<b {
            for j in 0..<h {
                let k = r * h + j, gr = r * 4 * h + j
                ig[k] = stableSigmoid(z[gr]); fg[k] = stableSigmoid(z[gr + h]); gg[k] = Foundation.tanh(z[gr + 2 * h])
                out[k] = fg[k] * cPrev[k] + ig[k] * gg[k]
            }
        }
        return result("lstm_cell_state", shape: c.shape, data: out, inputs: [gates, c]) { dc in
            gates.accumulateGrad(count: gates.count) { acc in
                for r in 0..<b {
                    for j in 0..<h {
                        let k = r * h + j, gr = r * 4 * h + j, d = dc[k]
                        acc[gr] += d * gg[k] * ig[k] * (1 - ig[k])
                        acc[gr + h] += d * cPrev[k] * fg[k] * (1 - fg[k])
                        acc[gr + 2 * h] += d * ig[k] * (1 - gg[k] * gg[k])
                    }
                }
            }
            c.accumulateGrad(count: c.count) { acc in for k in 0..<(b * h) { acc[k] += dc[k] * fg[k] } }
        }
    }

    /// The LSTM hidden output `h' = σ(o) ⊙ tanh(c')`, fused. Shapes: gates `[batch, 4·hidden]`
    /// (i, f, g, o; only o is read), c' `[batch, hidden]` → h' `[batch, hidden]`.
    /// Recorded as `lstm_cell_output` with inputs [gates, c'].
    ///
    /// ```swift
    /// let h1 = Tensor.lstmCellOutput(gates: gates, c: Tensor.lstmCellState(gates: gates, c: c0))
    /// ```
    public static func lstmCellOutput(gates: Tensor, c: Tensor) -> Tensor {
        check(gates.rank == 2 && c.rank == 2 && gates.shape == [c.shape[0], 4 * c.shape[1]],
              "lstmCellOutput: gates shape \(gates.shape) and cell shape \(c.shape) are not [batch, 4·hidden] and [batch, hidden]")
        let b = c.shape[0], h = c.shape[1]
        let z = gates.data, cs = c.data
        // σ(o) and tanh(c') saved for the backward pass.
        var og = [Float](repeating: 0, count: b * h), tc = og, out = og
        for r in 0..<b {
            for j in 0..<h {
                let k = r * h + j
                og[k] = stableSigmoid(z[r * 4 * h + 3 * h + j]); tc[k] = Foundation.tanh(cs[k])
                out[k] = og[k] * tc[k]
            }
        }
        return result("lstm_cell_output", shape: c.shape, data: out, inputs: [gates, c]) { dh in
            gates.accumulateGrad(count: gates.count) { acc in
                for r in 0..<b {
                    for j in 0..<h {
                        let k = r * h + j
                        acc[r * 4 * h + 3 * h + j] += dh[k] * tc[k] * og[k] * (1 - og[k])
                    }
                }
            }
            c.accumulateGrad(count: c.count) { acc in for k in 0..<(b * h) { acc[k] += dh[k] * og[k] * (1 - tc[k] * tc[k]) } }
        }
    }

    /// The GRU update, fused, in PyTorch's form and gate order (r, z, n):
    /// `r = σ(xr + hr)`, `z = σ(xz + hz)`, `n = tanh(xn + r ⊙ hn)`, `h' = (1 − z) ⊙ n + z ⊙ h`.
    /// Shapes: x `[batch, 3·hidden]` = `W_ih x + b_ih`, hg `[batch, 3·hidden]` = `W_hh h + b_hh`,
    /// h `[batch, hidden]` → h' `[batch, hidden]`. Recorded as `gru_cell` with inputs [x, hg, h].
    ///
    /// ```swift
    /// let h1 = Tensor.gruCell(x: linear(x, weight: wih, bias: bih), hg: linear(h0, weight: whh, bias: bhh), h: h0)
    /// ```
    public static func gruCell(x: Tensor, hg: Tensor, h: Tensor) -> Tensor {
        check(h.rank == 2 && x.shape == [h.shape[0], 3 * h.shape[1]] && hg.shape == x.shape,
              "gruCell: shapes \(x.shape), \(hg.shape), \(h.shape) are not [batch, 3·hidden] twice and [batch, hidden]")
        let b = h.shape[0], n = h.shape[1]
        // Saved per element for the backward pass: r, z, n.
        let xs = x.data, hs = hg.data, hp = h.data
        var r = [Float](repeating: 0, count: b * n), z = r, cand = r, out = r
        for row in 0..<b {
            for j in 0..<n {
                let g = row * 3 * n + j, k = row * n + j
                r[k] = stableSigmoid(xs[g] + hs[g])
                z[k] = stableSigmoid(xs[g + n] + hs[g + n])
                cand[k] = Foundation.tanh(xs[g + 2 * n] + r[k] * hs[g + 2 * n])
                out[k] = (1 - z[k]) * cand[k] + z[k] * hp[k]
            }
        }
        return result("gru_cell", shape: h.shape, data: out, inputs: [x, hg, h]) { dout in
            // Pre-activation gradients of r, z and the candidate, shared by x and hg.
            var d = [Float](repeating: 0, count: b * 3 * n)
            for row in 0..<b {
                for j in 0..<n {
                    let g = row * 3 * n + j, k = row * n + j
                    let dn = dout[k] * (1 - z[k]) * (1 - cand[k] * cand[k])
                    d[g + 2 * n] = dn
                    d[g + n] = dout[k] * (hp[k] - cand[k]) * z[k] * (1 - z[k])
                    d[g] = dn * hs[g + 2 * n] * r[k] * (1 - r[k])
                }
            }
            x.accumulateGrad(count: x.count) { acc in for i in 0..<d.count { acc[i] += d[i] } }
            hg.accumulateGrad(count: hg.count) { acc in
                for row in 0..<b {
                    for j in 0..<n {
                        let g = row * 3 * n + j
                        acc[g] += d[g]
                        acc[g + n] += d[g + n]
                        acc[g + 2 * n] += d[g + 2 * n] * r[row * n + j]
                    }
                }
            }
            h.accumulateGrad(count: h.count) { acc in for k in 0..<(b * n) { acc[k] += dout[k] * z[k] } }
        }
    }
}

/// Cross-entropy of a sequence model's logits against integer targets, skipping positions
/// whose target is `ignoreIndex` (padding): the mean over the kept positions (PyTorch's
/// `cross_entropy(logits.flatten(0, -2), targets.flatten(), ignore_index=…)`), or their sum.
/// The mean of a batch with no kept position is 0.
///
/// - Shapes: logits `[batch, time, classes]` (any leading dimensions), targets `[batch, time]`
///   as whole-number floats (same leading dimensions); → `[]`.
/// - Recorded as `sequence_cross_entropy` with inputs [logits, targets], attributes
///   `ignore_index` int, `reduction` int (0 mean, 1 sum).
///
/// ```swift
/// let logits = model(tokens)                                   // [4, 16, 96]
/// let targets = Tensor(shape: [4, 16], data: nextTokens)       // -100 where padded
/// let loss = sequenceCrossEntropy(logits, targets, ignoreIndex: -100)
/// ```
public func sequenceCrossEntropy(_ logits: Tensor, _ targets: Tensor, ignoreIndex: Int = -100,
                                 reduction: Reduction = .mean) -> Tensor {
    check(logits.rank >= 2 && Array(logits.shape.dropLast()) == targets.shape,
          "sequenceCrossEntropy: logits shape \(logits.shape) does not match targets shape \(targets.shape) (expected [batch, time, classes] and [batch, time])")
    let c = logits.shape[logits.rank - 1], rows = targets.count
    let labels = targets.data.map { v -> Int in
        check(v == v.rounded() && (Int(v) == ignoreIndex || (v >= 0 && v < Float(c))),
              "sequenceCrossEntropy: target \(v) is neither a class in 0..<\(c) nor the ignore index \(ignoreIndex)")
        return Int(v)
    }
    let kept = labels.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
    let scale: Float = reduction == .mean ? (kept > 0 ? 1 / Float(kept) : 0) : 1
    var probs = [Float](repeating: 0, count: rows * c)
    var total: Float = 0
    logits.data.withUnsafeBufferPointer { x in
        for r in 0..<rows where labels[r] != ignoreIndex {
            var m = -Float.infinity
            for j in 0..<c { m = Swift.max(m, x[r * c + j]) }
            var s: Float = 0
            for j in 0..<c { let e = Foundation.exp(x[r * c + j] - m); probs[r * c + j] = e; s += e }
            for j in 0..<c { probs[r * c + j] /= s }
            total += (m - x[r * c + labels[r]]) + Foundation.log(s)
        }
    }
    return Tensor.result("sequence_cross_entropy", shape: [], data: [total * scale], inputs: [logits, targets],
                         attributes: ["ignore_index": .int(ignoreIndex), "reduction": .int(reduction == .mean ? 0 : 1)]) { g in
        let k = g[0] * scale
        logits.accumulateGrad(count: logits.count) { acc in
            for r in 0..<rows where labels[r] != ignoreIndex {
                for j in 0..<c { acc[r * c + j] += k * probs[r * c + j] }
                acc[r * c + labels[r]] -= k
            }
        }
    }
}

/// `sequenceCrossEntropy` with the targets as Swift integers, one row per sequence.
///
/// ```swift
/// sequenceCrossEntropy(logits, [[3, 1, -100], [2, 0, 4]], ignoreIndex: -100)   // logits [2, 3, C]
/// ```
public func sequenceCrossEntropy(_ logits: Tensor, _ targets: [[Int]], ignoreIndex: Int = -100,
                                 reduction: Reduction = .mean) -> Tensor {
    let time = targets.first?.count ?? 0
    check(targets.allSatisfy { $0.count == time }, "sequenceCrossEntropy: ragged target rows (expected \(time) in each)")
    return sequenceCrossEntropy(logits, Tensor(shape: [targets.count, time], data: targets.flatMap { $0 }.map(Float.init)),
                                ignoreIndex: ignoreIndex, reduction: reduction)
}
