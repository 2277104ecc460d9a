import Foundation
import MyelinShared

// One direction of one recurrent layer over a whole sequence as a single autograd node,
// forward and backward through time side by side (issue 12, training speed).
//
// The unrolled form (NN/Recurrent.swift `unrolled` under a tracer) records 5–6 nodes per
// time step, each allocating its result and gradient. Here the input projection x·W_ihᵀ of
// every step stays one batched GEMM outside (`linear` over [T, B, in]); this node runs the
// recurrence h·W_hhᵀ per step on W_hh packed once for the pass (`linearPacked`), keeps the
// activated gates it needs, and its backward runs through time over them: per step only
// dh·W_hh (packed once more, transposed); dW_hh is one GEMM over all steps after the loop.

extension Tensor {
    /// One direction of one recurrent layer (`cell`: tanh, relu, lstm or gru; PyTorch's gate
    /// layout) over a whole sequence, from the projected inputs.
    ///
    /// - Shapes: projected `[T, B, G·H]` = `x · W_ihᵀ + b_ih` for every step (G gate blocks:
    ///   1, 1, 4, 3); weightHH `[G·H, H]`; biasHH `[G·H]` or nil; h0 `[B, H]`; c0 `[B, H]`
    ///   (LSTM only, else nil) → `[T, B, H]` hidden states in time order, and for LSTM one more
    ///   row: `[T + 1, B, H]` whose last row is the final cell state c_T.
    /// - `reverse`: runs from step T−1 down to 0 (the backward direction of a bidirectional
    ///   layer); outputs stay in time order.
    /// - `tokens` `[T, B]` (ids as whole floats): `projected` is then a table `[V, G·H]` of
    ///   projected inputs per token id (an embedding folded into W_ih, `RecurrentStack.runFolded`)
    ///   and step t of row b reads row `tokens[t, b]`: the same values as the gathered
    ///   `[T, B, G·H]`, without writing it out; the table's gradient is scatter-added.
    /// - Recorded as `recurrent_sequence` with inputs [projected, weightHH, (biasHH,) h0, (c0,) (tokens)],
    ///   attributes `cell` (0 tanh, 1 relu, 2 lstm, 3 gru), `reverse`, `bias`. Export never
    ///   sees it: under a tracer the layer is recorded as `recurrent` (NN/Recurrent.swift).
    ///
    /// ```swift
    /// let xg = linear(x, weight: wih, bias: bih)                     // [T, B, 4H]
    /// let out = Tensor.recurrentSequence(cell: .lstm, projected: xg, weightHH: whh, biasHH: bhh,
    ///                                    h0: Tensor.zeros([B, H]), c0: Tensor.zeros([B, H]))   // [T + 1, B, H]
    /// ```
    static func recurrentSequence(cell: RecurrentCell, projected: Tensor, tokens: Tensor? = nil, weightHH: Tensor, biasHH: Tensor?,
                                  h0: Tensor, c0: Tensor?, reverse: Bool = false) -> Tensor {
        let g = cell.gates
        check(weightHH.rank == 2 && weightHH.shape[0] == g * weightHH.shape[1],
              "recurrentSequence: weight_hh shape \(weightHH.shape) is not [\(g)·hidden, hidden]")
        let hidden = weightHH.shape[1], gh = g * hidden
        if let tokens {
            check(projected.rank == 2 && projected.shape[1] == gh && tokens.rank == 2 && tokens.shape[0] > 0 && tokens.shape[1] > 0,
                  "recurrentSequence: token table \(projected.shape) and tokens \(tokens.shape) are not [vocabulary, \(gh)] and [time, batch]")
        } else {
            check(projected.rank == 3 && projected.shape[2] == gh && projected.shape[0] > 0 && projected.shape[1] > 0,
                  "recurrentSequence: projected input shape \(projected.shape) is not [time, batch, \(gh)]")
        }
        let steps = tokens?.shape[0] ?? projected.shape[0], batch = tokens?.shape[1] ?? projected.shape[1], bh = batch * hidden
        // Row of `projected` that step t of batch row r reads: t·B + r, or its token's row.
        let rowOf: [Int] = tokens.map { integerIndices($0, bound: projected.shape[0], op: "recurrentSequence", shape: projected.shape) }
            ?? Array(0..<(steps * batch))
        check(h0.shape == [batch, hidden], "recurrentSequence: h0 shape \(h0.shape) is not [\(batch), \(hidden)]")
        check((cell == .lstm) == (c0 != nil) && (c0 == nil || c0!.shape == [batch, hidden]),
              "recurrentSequence: c0 shape \(c0?.shape ?? []) is not [\(batch), \(hidden)] (LSTM only)")
        if let b = biasHH { check(b.shape == [gh], "recurrentSequence: bias_hh shape \(b.shape) is not [\(gh)]") }

        // Saved for the backward pass, in processing order s (t = s, or T−1−s when reverse):
        // states[s] = h before step s (states[T] the last); cells likewise (LSTM);
        // saved[s] = activated gates (LSTM i, f, g, o; GRU r, z, n; RNN unused);
        // unitValues[s] = W_hn h + b_hn (GRU, for r's gradient) or tanh c_{s+1} (LSTM).
        // Every element of these is written below before it is read.
        var states = uninitializedFloats((steps + 1) * bh)
        var cells = uninitializedFloats(cell == .lstm ? (steps + 1) * bh : 0)
        var saved = uninitializedFloats(cell == .lstm || cell == .gru ? steps * batch * gh : 0)
        var unitValues = uninitializedFloats(cell == .gru || cell == .lstm ? steps * bh : 0)
        var out = uninitializedFloats((cell == .lstm ? steps + 1 : steps) * bh)
        let grouped = weightHH.data.withUnsafeBufferPointer { ColumnGroupedWeights(outputs: gh, inputs: hidden, weights: $0.baseAddress!) }
        var workspace = [Float](repeating: 0, count: linearPackedWorkspaceCount)
        var hg = [Float](repeating: 0, count: batch * gh)
        let biasValues = biasHH?.data ?? []
        // One thread: the packed product per step; several: parallelGEMM when a step is big enough.
        let parallel = Threading.threadCount > 1 && batch * gh * hidden >= Threading.parallelThreshold
        let code = [RecurrentCell.tanh: 0, .relu: 1, .lstm: 2, .gru: 3][cell]!

        states.withUnsafeMutableBufferPointer { hs in
            h0.data.withUnsafeBufferPointer { hs.baseAddress!.update(from: $0.baseAddress!, count: bh) }
        }
        if let c0 { cells.withUnsafeMutableBufferPointer { cs in c0.data.withUnsafeBufferPointer { cs.baseAddress!.update(from: $0.baseAddress!, count: bh) } } }

        projected.data.withUnsafeBufferPointer { xp in
        workspace.withUnsafeMutableBufferPointer { ws in
        hg.withUnsafeMutableBufferPointer { hgp in
        states.withUnsafeMutableBufferPointer { hs in
        cells.withUnsafeMutableBufferPointer { cs in
        saved.withUnsafeMutableBufferPointer { sv in
        unitValues.withUnsafeMutableBufferPointer { hn in
        out.withUnsafeMutableBufferPointer { op in
        biasValues.withUnsafeBufferPointer { bp in
            let biasPointer = biasHH == nil ? nil : bp.baseAddress
            do {
                for s in 0..<steps {
                    let t = reverse ? steps - 1 - s : s
                    let hPrev = hs.baseAddress! + s * bh, hNext = hPrev + bh
                    if parallel {
                        // Several threads: split the step's product by columns (repacks W_hh per step).
                        if let b = biasPointer { for r in 0..<batch { (hgp.baseAddress! + r * gh).update(from: b, count: gh) } }
                        weightHH.data.withUnsafeBufferPointer { w in
                            parallelGEMM(m: batch, n: gh, k: hidden, a: hPrev, aRowStride: hidden, aColStride: 1,
                                         b: w.baseAddress!, bRowStride: 1, bColStride: hidden, c: hgp.baseAddress!, accumulate: biasHH != nil)
                        }
                    } else {
                        grouped.apply(m: batch, x: hPrev, ldx: hidden, bias: biasPointer, y: hgp.baseAddress!, ldy: gh, workspace: ws.baseAddress!)
                    }
                    for r in 0..<batch {
                        let xg = xp.baseAddress! + rowOf[t * batch + r] * gh, hrow = hgp.baseAddress! + r * gh
                        let k = r * hidden
                        switch cell {
                        case .tanh, .relu:
                            recurrentSimpleForward(relu: cell == .relu, xg: xg, hg: hrow, h: hNext + k, count: hidden)
                        case .lstm:
                            lstmSequenceForward(xg: xg, hg: hrow, c: cs.baseAddress! + s * bh + k, cNext: cs.baseAddress! + (s + 1) * bh + k,
                                                h: hNext + k, tanhC: hn.baseAddress! + s * bh + k, gates: sv.baseAddress! + (s * batch + r) * gh,
                                                count: hidden)
                        case .gru:
                            gruSequenceForward(xg: xg, hg: hrow, h: hPrev + k, hNext: hNext + k,
                                               gates: sv.baseAddress! + (s * batch + r) * gh, hiddenNew: hn.baseAddress! + s * bh + k, count: hidden)
                        }
                    }
                    (op.baseAddress! + t * bh).update(from: hNext, count: bh)
                }
                if cell == .lstm { (op.baseAddress! + steps * bh).update(from: cs.baseAddress! + steps * bh, count: bh) }
            }
        }}}}}}}}}

        var inputs = [projected, weightHH]
        if let b = biasHH { inputs.append(b) }
        inputs.append(h0)
        if let c0 { inputs.append(c0) }
        if let tokens { inputs.append(tokens) }
        return result("recurrent_sequence", shape: [cell == .lstm ? steps + 1 : steps, batch, hidden], data: out, inputs: inputs,
                      attributes: ["cell": .int(code), "reverse": .int(reverse ? 1 : 0), "bias": .int(biasHH == nil ? 0 : 1)]) { dOut in
            // W_hhᵀ packed for dh_{s−1} = dgates_s · W_hh.
            var transposed = uninitializedFloats(gh * hidden)
            weightHH.data.withUnsafeBufferPointer { w in
                transposed.withUnsafeMutableBufferPointer { wt in
                    for i in 0..<gh { for j in 0..<hidden { wt[j * gh + i] = w[i * hidden + j] } }
                }
            }
            let groupedT = transposed.withUnsafeBufferPointer { ColumnGroupedWeights(outputs: hidden, inputs: gh, weights: $0.baseAddress!) }
            // dHidden[s] = gradient of W_hh h_{s−1} + b_hh at step s; dInput[t] = of the projected input.
            var dHidden = uninitializedFloats(steps * batch * gh)   // every row written by the cell backward
            var dInput = cell == .gru ? uninitializedFloats(steps * batch * gh) : []
            var dh = [Float](repeating: 0, count: bh), dc = [Float](repeating: 0, count: cell == .lstm ? bh : 0)
            var fromState = [Float](repeating: 0, count: bh)
            var ws = [Float](repeating: 0, count: linearPackedWorkspaceCount)
            // Summed per step while the step's gradient rows are in cache: db_hh, and the token
            // table's gradient (a scatter-add of the projected-input rows) when reading a table.
            var biasGrad = [Float](repeating: 0, count: biasHH == nil ? 0 : gh)
            var tableGrad = [Float](repeating: 0, count: tokens == nil ? 0 : projected.count)
            if cell == .lstm { for k in 0..<bh { dc[k] = dOut[steps * bh + k] } }
            dOut.withUnsafeBufferPointer { go in
            states.withUnsafeBufferPointer { hs in
            cells.withUnsafeBufferPointer { cs in
            saved.withUnsafeBufferPointer { sv in
            unitValues.withUnsafeBufferPointer { hn in
            dHidden.withUnsafeMutableBufferPointer { dg in
            dInput.withUnsafeMutableBufferPointer { dx in
            dh.withUnsafeMutableBufferPointer { dhp in
            dc.withUnsafeMutableBufferPointer { dcp in
            fromState.withUnsafeMutableBufferPointer { fs in
            ws.withUnsafeMutableBufferPointer { wsp in
            biasGrad.withUnsafeMutableBufferPointer { bg in
            tableGrad.withUnsafeMutableBufferPointer { tg in
                let dhb = dhp.baseAddress!
                for s in stride(from: steps - 1, through: 0, by: -1) {
                    let t = reverse ? steps - 1 - s : s
                    let gradOut = go.baseAddress! + t * bh
                    for k in 0..<bh { dhb[k] += gradOut[k] }
                    for r in 0..<batch {
                        let k = r * hidden, row = (s * batch + r) * gh
                        switch cell {
                        case .tanh, .relu:
                            recurrentSimpleBackward(relu: cell == .relu, h: hs.baseAddress! + (s + 1) * bh + k, dh: dhb + k,
                                                    dPre: dg.baseAddress! + row, count: hidden)
                        case .lstm:
                            lstmSequenceBackward(gates: sv.baseAddress! + row, cPrev: cs.baseAddress! + s * bh + k,
                                                 tanhC: hn.baseAddress! + s * bh + k, dh: dhb + k, dc: dcp.baseAddress! + k,
                                                 dGates: dg.baseAddress! + row, count: hidden)
                        case .gru:
                            gruSequenceBackward(gates: sv.baseAddress! + row, hiddenNew: hn.baseAddress! + s * bh + k,
                                                hPrev: hs.baseAddress! + s * bh + k, dh: dhb + k, dInput: dx.baseAddress! + row,
                                                dHidden: dg.baseAddress! + row, count: hidden)
                        }
                    }
                    // dh_{s−1} = (GRU: dh ⊙ z, written into dh by the cell) + dHidden_s · W_hh.
                    if parallel {
                        weightHH.data.withUnsafeBufferPointer { w in
                            parallelGEMM(m: batch, n: hidden, k: gh, a: dg.baseAddress! + s * batch * gh, aRowStride: gh, aColStride: 1,
                                         b: w.baseAddress!, bRowStride: hidden, bColStride: 1, c: fs.baseAddress!, accumulate: false)
                        }
                    } else {
                        groupedT.apply(m: batch, x: dg.baseAddress! + s * batch * gh, ldx: gh, bias: nil, y: fs.baseAddress!, ldy: hidden,
                                       workspace: wsp.baseAddress!)
                    }
                    if cell == .gru {
                        for k in 0..<bh { dhb[k] += fs[k] }
                    } else {
                        dhb.update(from: fs.baseAddress!, count: bh)
                    }
                    let inputRows = (cell == .gru ? dx.baseAddress! : dg.baseAddress!) + s * batch * gh
                    for r in 0..<batch {
                        let hiddenRow = dg.baseAddress! + (s * batch + r) * gh
                        if biasHH != nil { for i in 0..<gh { bg[i] += hiddenRow[i] } }
                        if tokens != nil {
                            let tableRow = tg.baseAddress! + rowOf[t * batch + r] * gh, inputRow = inputRows + r * gh
                            for i in 0..<gh { tableRow[i] += inputRow[i] }
                        }
                    }
                }
            }}}}}}}}}}}}}
            // The projected inputs: dInput (GRU) or dHidden (the same pre-activations), back in time order.
            let perStep = batch * gh
            let source = cell == .gru ? dInput : dHidden
            if projected.requiresGrad && projected.gradStorage == nil && (tokens != nil || !reverse) {
                projected.gradStorage = tokens != nil ? tableGrad : source   // in place, not copied
            } else {
                projected.accumulateGrad(count: projected.count) { acc in
                    source.withUnsafeBufferPointer { src in tableGrad.withUnsafeBufferPointer { tg in
                        if tokens != nil {
                            for i in 0..<acc.count { acc[i] += tg[i] }
                        } else {
                            for s in 0..<steps {
                                let t = reverse ? steps - 1 - s : s
                                for i in 0..<perStep { acc[t * perStep + i] += src[s * perStep + i] }
                            }
                        }
                    }}
                }
            }
            // dW_hh[G·H, H] = Σ_s dHidden_sᵀ · h_{s−1}: one GEMM over all steps.
            weightHH.withGradBuffer { gw, existing in
                dHidden.withUnsafeBufferPointer { dg in
                    states.withUnsafeBufferPointer { hs in
                        parallelGEMM(m: gh, n: hidden, k: steps * batch, a: dg.baseAddress!, aRowStride: 1, aColStride: gh,
                                     b: hs.baseAddress!, bRowStride: hidden, bColStride: 1, c: gw, accumulate: existing)
                    }
                }
            }
            biasHH?.accumulateGrad(count: gh) { acc in for i in 0..<gh { acc[i] += biasGrad[i] } }
            h0.accumulateGrad(count: bh) { acc in for k in 0..<bh { acc[k] += dh[k] } }
            c0?.accumulateGrad(count: bh) { acc in for k in 0..<bh { acc[k] += dc[k] } }
        }
    }
}

extension Tensor {
    /// Rows `0..<steps` of a time-major sequence `[S, B, F]` (S ≥ steps) as batch first
    /// `[B, steps, F]`: `narrow(axis: 0, start: 0, length: steps).transpose(0, 1)` as one copy
    /// of F-float rows (the generic permute builds an index map of every element). Recorded as
    /// `sequence_batch_first`, outside a tracer only (under one it is the narrow and the permute).
    func batchFirstSteps(_ steps: Int) -> Tensor {
        check(rank == 3 && steps >= 0 && steps <= shape[0], "batchFirstSteps: need [S ≥ \(steps), B, F], got \(shape)")
        if Tracer.current != nil { return narrow(axis: 0, start: 0, length: steps).transpose(0, 1) }
        let batch = shape[1], features = shape[2], total = batch * steps * features
        var out = uninitializedFloats(total)
        data.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { y in
                for r in 0..<batch {
                    for t in 0..<steps {
                        (y.baseAddress! + (r * steps + t) * features).update(from: x.baseAddress! + (t * batch + r) * features, count: features)
                    }
                }
            }
        }
        let input = self
        return Tensor.result("sequence_batch_first", shape: [batch, steps, features], data: out, inputs: [self]) { g in
            input.accumulateGrad(count: input.count) { acc in
                g.withUnsafeBufferPointer { gp in
                    for r in 0..<batch {
                        for t in 0..<steps {
                            let src = (r * steps + t) * features, dst = (t * batch + r) * features
                            for j in 0..<features { acc[dst + j] += gp[src + j] }
                        }
                    }
                }
            }
        }
    }
}

// MARK: The recurrent product in L2-sized column groups

/// W `[n, k]` (rows = outputs) packed for `linearPacked` in groups of `groupColumns` outputs,
/// each group packed on its own. For each depth block of 256 inputs, `linearPacked` runs every
/// 6-row tile of the batch over all the packed columns of the block; with W_hh whole (4H·H
/// floats: 1 MB at H = 256, one block) that streams W from L3 once per row tile and time step,
/// while one group's block (≤ 256 KB) stays in L2 across the row tiles. Group boundaries fall
/// on the 32-column register tile, so every output is summed in the same order as the
/// ungrouped product: the results are bit-identical.
struct ColumnGroupedWeights {
    let outputs: Int, inputs: Int, groupColumns: Int
    let packed: [Float]

    /// Inputs per packed depth block: GEMM.swift's `gemmBlockDepth` (a test checks they agree).
    static let blockDepth = 256

    /// Columns per group: as many 32-column panels as fit one depth block in 64 Ki floats
    /// (256 KB). W_hh at H = 256: 4 groups of 256; W_hhᵀ (1024 inputs, 256 outputs): one group.
    static func defaultGroupColumns(inputs: Int) -> Int {
        Swift.max(gemmTileCols, (65_536 / Swift.max(Swift.min(inputs, blockDepth), 1)) / gemmTileCols * gemmTileCols)
    }

    /// Packs W f32 `[outputs, inputs]` (row j = output j); `groupColumns` a positive multiple of 32.
    init(outputs: Int, inputs: Int, weights: UnsafePointer<Float>, groupColumns: Int? = nil) {
        let group = groupColumns ?? ColumnGroupedWeights.defaultGroupColumns(inputs: inputs)
        check(group > 0 && group % gemmTileCols == 0, "ColumnGroupedWeights: group of \(group) columns is not a positive multiple of \(gemmTileCols)")
        self.outputs = outputs
        self.inputs = inputs
        self.groupColumns = group
        var packed = [Float](repeating: 0, count: linearPackedCount(outputs: outputs, inputs: inputs))
        packed.withUnsafeMutableBufferPointer { p in
            var j0 = 0
            while j0 < outputs {
                let columns = Swift.min(group, outputs - j0)
                // A group's rows of W are contiguous; its packed panels start at j0·inputs
                // (every group but the last is a whole number of 32-column panels).
                linearPackWeights(outputs: columns, inputs: inputs, weights: weights + j0 * inputs, into: p.baseAddress! + j0 * inputs)
                j0 += columns
            }
        }
        self.packed = packed
    }

    /// y `[m, outputs]` (row stride ldy) = bias (or 0) + x `[m, inputs]` (row stride ldx) · Wᵀ, group by group.
    /// `workspace` holds `linearPackedWorkspaceCount` floats.
    func apply(m: Int, x: UnsafePointer<Float>, ldx: Int, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, ldy: Int,
               workspace: UnsafeMutablePointer<Float>) {
        packed.withUnsafeBufferPointer { p in
            var j0 = 0
            while j0 < outputs {
                let columns = Swift.min(groupColumns, outputs - j0)
                linearPacked(m: m, n: columns, k: inputs, x: x, ldx: ldx, packed: p.baseAddress! + j0 * inputs, bias: bias.map { $0 + j0 },
                             y: y + j0, ldy: ldy, relu: false, workspace: workspace)
                j0 += columns
            }
        }
    }
}

// MARK: Per-row cell kernels (16 lanes at a time, scalar tail with the same formulas)

private typealias Lanes = SIMD16<Float>

@inline(__always) private func sigmoidLanes(_ x: Lanes) -> Lanes { vectorSigmoid(x) }
@inline(__always) private func tanhLanes(_ x: Lanes) -> Lanes { vectorTanh(x) }

/// h = act(xg + hg) for one row of `count` units.
@inline(__always)
private func recurrentSimpleForward(relu: Bool, xg: UnsafePointer<Float>, hg: UnsafePointer<Float>,
                                    h: UnsafeMutablePointer<Float>, count n: Int) {
    var j = 0
    while j + 16 <= n {
        let pre = Lanes.load(xg + j) + Lanes.load(hg + j)
        (relu ? pre.replacing(with: 0, where: pre .< 0) : tanhLanes(pre)).store(h + j)
        j += 16
    }
    while j < n {
        let pre = xg[j] + hg[j]
        h[j] = relu ? Swift.max(pre, 0) : Foundation.tanh(pre)
        j += 1
    }
}

/// dPre = dh ⊙ act′ (from the output h: 1 − h² for tanh, h > 0 for ReLU).
@inline(__always)
private func recurrentSimpleBackward(relu: Bool, h: UnsafePointer<Float>, dh: UnsafePointer<Float>,
                                     dPre: UnsafeMutablePointer<Float>, count n: Int) {
    for j in 0..<n {
        dPre[j] = relu ? (h[j] > 0 ? dh[j] : 0) : dh[j] * (1 - h[j] * h[j])
    }
}

/// LSTM row: gates = xg + hg (i, f, g, o) activated into `gates`; c' = f c + i g; h = o tanh c'
/// (tanh c' also kept in `tanhC` for the backward pass).
@inline(__always)
private func lstmSequenceForward(xg: UnsafePointer<Float>, hg: UnsafePointer<Float>, c: UnsafePointer<Float>,
                                 cNext: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>, tanhC: UnsafeMutablePointer<Float>,
                                 gates: UnsafeMutablePointer<Float>, count n: Int) {
    var j = 0
    while j + 16 <= n {
        let i = sigmoidLanes(Lanes.load(xg + j) + Lanes.load(hg + j))
        let f = sigmoidLanes(Lanes.load(xg + n + j) + Lanes.load(hg + n + j))
        let g = tanhLanes(Lanes.load(xg + 2 * n + j) + Lanes.load(hg + 2 * n + j))
        let o = sigmoidLanes(Lanes.load(xg + 3 * n + j) + Lanes.load(hg + 3 * n + j))
        let cn = f * Lanes.load(c + j) + i * g
        i.store(gates + j); f.store(gates + n + j); g.store(gates + 2 * n + j); o.store(gates + 3 * n + j)
        let tc = tanhLanes(cn)
        cn.store(cNext + j)
        tc.store(tanhC + j)
        (o * tc).store(h + j)
        j += 16
    }
    while j < n {
        let i = stableSigmoid(xg[j] + hg[j]), f = stableSigmoid(xg[n + j] + hg[n + j])
        let g = Foundation.tanh(xg[2 * n + j] + hg[2 * n + j]), o = stableSigmoid(xg[3 * n + j] + hg[3 * n + j])
        let cn = f * c[j] + i * g
        gates[j] = i; gates[n + j] = f; gates[2 * n + j] = g; gates[3 * n + j] = o
        cNext[j] = cn
        tanhC[j] = Foundation.tanh(cn)
        h[j] = o * tanhC[j]
        j += 1
    }
}

/// LSTM row backward: from dh (of h_s) and dc (of c_s, carried), the gate pre-activation
/// gradients into dGates, and dc becomes the gradient of c_{s−1}. tanhC = tanh c_s.
@inline(__always)
private func lstmSequenceBackward(gates: UnsafePointer<Float>, cPrev: UnsafePointer<Float>, tanhC: UnsafePointer<Float>,
                                  dh: UnsafePointer<Float>, dc: UnsafeMutablePointer<Float>,
                                  dGates: UnsafeMutablePointer<Float>, count n: Int) {
    var j = 0
    let one = Lanes(repeating: 1)
    while j + 16 <= n {
        let i = Lanes.load(gates + j), f = Lanes.load(gates + n + j), g = Lanes.load(gates + 2 * n + j), o = Lanes.load(gates + 3 * n + j)
        let tc = Lanes.load(tanhC + j), d = Lanes.load(dh + j)
        let dcs = Lanes.load(dc + j) + d * o * (one - tc * tc)
        (dcs * g * i * (one - i)).store(dGates + j)
        (dcs * Lanes.load(cPrev + j) * f * (one - f)).store(dGates + n + j)
        (dcs * i * (one - g * g)).store(dGates + 2 * n + j)
        (d * tc * o * (one - o)).store(dGates + 3 * n + j)
        (dcs * f).store(dc + j)
        j += 16
    }
    while j < n {
        let i = gates[j], f = gates[n + j], g = gates[2 * n + j], o = gates[3 * n + j]
        let tc = tanhC[j], d = dh[j]
        let dcs = dc[j] + d * o * (1 - tc * tc)
        dGates[j] = dcs * g * i * (1 - i)
        dGates[n + j] = dcs * cPrev[j] * f * (1 - f)
        dGates[2 * n + j] = dcs * i * (1 - g * g)
        dGates[3 * n + j] = d * tc * o * (1 - o)
        dc[j] = dcs * f
        j += 1
    }
}

/// GRU row: r = σ(xr + hr), z = σ(xz + hz), n = tanh(xn + r hn), h' = (1 − z) n + z h;
/// r, z, n saved in `gates`, hn in `hiddenNew`.
@inline(__always)
private func gruSequenceForward(xg: UnsafePointer<Float>, hg: UnsafePointer<Float>, h: UnsafePointer<Float>,
                                hNext: UnsafeMutablePointer<Float>, gates: UnsafeMutablePointer<Float>,
                                hiddenNew: UnsafeMutablePointer<Float>, count n: Int) {
    var j = 0
    while j + 16 <= n {
        let r = sigmoidLanes(Lanes.load(xg + j) + Lanes.load(hg + j))
        let z = sigmoidLanes(Lanes.load(xg + n + j) + Lanes.load(hg + n + j))
        let hn = Lanes.load(hg + 2 * n + j)
        let cand = tanhLanes(Lanes.load(xg + 2 * n + j) + r * hn)
        r.store(gates + j); z.store(gates + n + j); cand.store(gates + 2 * n + j); hn.store(hiddenNew + j)
        ((Lanes(repeating: 1) - z) * cand + z * Lanes.load(h + j)).store(hNext + j)
        j += 16
    }
    while j < n {
        let r = stableSigmoid(xg[j] + hg[j]), z = stableSigmoid(xg[n + j] + hg[n + j])
        let hn = hg[2 * n + j], cand = Foundation.tanh(xg[2 * n + j] + r * hn)
        gates[j] = r; gates[n + j] = z; gates[2 * n + j] = cand; hiddenNew[j] = hn
        hNext[j] = (1 - z) * cand + z * h[j]
        j += 1
    }
}

/// GRU row backward: from dh (of h_s), the projected-input gradients (r, z, n pre-activations)
/// into dInput, those of W_hh h + b_hh into dHidden, and dh becomes dh ⊙ z (the direct path
/// to h_{s−1}; the caller adds dHidden · W_hh).
@inline(__always)
private func gruSequenceBackward(gates: UnsafePointer<Float>, hiddenNew: UnsafePointer<Float>, hPrev: UnsafePointer<Float>,
                                 dh: UnsafeMutablePointer<Float>, dInput: UnsafeMutablePointer<Float>,
                                 dHidden: UnsafeMutablePointer<Float>, count n: Int) {
    for j in 0..<n {
        let r = gates[j], z = gates[n + j], cand = gates[2 * n + j], d = dh[j]
        let dn = d * (1 - z) * (1 - cand * cand)
        let dz = d * (hPrev[j] - cand) * z * (1 - z)
        let dr = dn * hiddenNew[j] * r * (1 - r)
        dInput[j] = dr; dInput[n + j] = dz; dInput[2 * n + j] = dn
        dHidden[j] = dr; dHidden[n + j] = dz; dHidden[2 * n + j] = dn * r
        dh[j] = d * z
    }
}
