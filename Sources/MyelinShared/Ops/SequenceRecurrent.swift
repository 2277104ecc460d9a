// rnn, lstm, gru: one recurrent layer (both directions when bidirectional), PyTorch's gate
// layout and formulas (Sources/Myelin/NN/Recurrent.swift, Autograd/RecurrentCells.swift).
//
//   x f32 [T, in] [, h0 f32 [D, H] [, c0 f32 [D, H] (lstm)]] → y f32 [T, D·H] [, h_n f32 [D, H]
//   [, c_n f32 [D, H] (lstm)]]   (D = 1, or 2 for bidirectional: forward half, then reverse)
//   h0, c0: the initial state (read at position 0 only; zeros when absent); h_n, c_n: the state
//   after the run (PyTorch's h_n, c_n of one layer; a stream's state after the steps fed so far)
//   tensors per direction: W_ih [G·H, in], W_hh [G·H, H] (both f32, both f16 or both i8), b_ih f32 [G·H],
//           b_hh f32 [G·H] (row-major; G gate blocks: rnn 1, lstm 4 (i, f, g, o), gru 3 (r, z, n)),
//           and with i8 weights s_ih f32 [G·H], s_hh f32 [G·H]: each row's scale (finite, > 0),
//           W_ih = s_ih ⊙ rows of the i8 values (weight-only quantisation: x, h and sums stay f32)
//   attribute (rnn only) nonlinearity: 0 tanh (default), 1 relu
//
//   rnn   h' = act(W_ih x + b_ih + W_hh h + b_hh)
//   lstm  c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g), h' = σ(o) ⊙ tanh(c')
//   gru   n = tanh(x_n + σ(r) ⊙ (W_hn h + b_hn)), h' = (1 − σ(z)) ⊙ n + σ(z) ⊙ h
//
// State (per sample, kept by the context between streaming steps): h [D, H], then for lstm
// c [D, H]; zeros at position 0. A reverse direction needs the whole sequence, so a
// bidirectional layer runs only on whole sequences.
//
// Kernel: one GEMM projects every step's input (`linearPacked`, W_ih packed at load), then per
// step one GEMM (batch rows; a GEMV at batch 1) of the previous h with W_hh — the same
// products, in the same order, as the training layer, which makes the same two `linear` calls.
// f16 weights stay f16 in memory (packed alike) and are widened as the row-by-row product
// reads them (`linearPackedHalfGEMV`): half the bytes per step; i8 weights are packed in panels
// of 32 rows and widened likewise, each row's sum then times its scale (`linearPackedInt8GEMV`). The gate nonlinearities run
// 16 lanes at a time (RecurrentKernels.swift); a reference graph uses the scalar libm forms.

#if MYELIN_RUNTIME
import CZlibRuntime
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum RecurrentOp {
    public static var rnn: OpDescription {
        OpDescription(name: "rnn", schema: OpSchema(.int(.nonlinearity, default: 0)), check: check, prepare: prepare, run: run)
    }

    public static var lstm: OpDescription { OpDescription(name: "lstm", check: check, prepare: prepare, run: run) }
    public static var gru: OpDescription { OpDescription(name: "gru", check: check, prepare: prepare, run: run) }

    static func gates(_ code: BundleOpCode) -> Int { code == .lstm ? 4 : code == .gru ? 3 : 1 }

    /// params: extent T, k inputs, n = H, outer = D, rows = G, relu (rnn's nonlinearity),
    /// weightBytes (4 f32, 2 f16, 1 i8 W_ih and W_hh).
    static func check(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        let stateCount = op.code == .lstm ? 2 : 1   // h, and c for lstm: extra inputs / outputs allowed
        guard op.inputCount >= 1, op.inputCount <= 1 + stateCount, op.outputCount >= 1, op.outputCount <= 1 + stateCount,
              op.tensorCount >= 4 else { throw .corrupt }
        // Per direction: W_ih, W_hh, b_ih, b_hh, and with i8 weights their row scales s_ih, s_hh.
        let wih0 = g.tensor(op, 0), size = wih0.dtype == .i8 ? 1 : wih0.dtype == .f16 ? 2 : 4, per = size == 1 ? 6 : 4
        guard op.tensorCount == per || op.tensorCount == 2 * per else { throw .corrupt }
        let x = g.input(op, 0), y = g.output(op, 0)
        guard x.dtype == .f32, y.dtype == .f32 else { throw .unsupported }
        let d = op.tensorCount / per, gateCount = gates(op.code)
        guard x.shape.rank == 2, y.shape.rank == 2, x.shape.dim(0) == y.shape.dim(0) else { throw .shapeMismatch }
        guard wih0.shape.rank == 2 else { throw .shapeMismatch }
        let gh = wih0.shape.dim(0), inputs = x.shape.dim(1)
        guard gh % gateCount == 0 else { throw .shapeMismatch }
        let h = gh / gateCount
        guard y.shape.dim(1) == d * h else { throw .shapeMismatch }
        let weightType: BundleDType = size == 1 ? .i8 : size == 2 ? .f16 : .f32
        for t in 0..<op.tensorCount {
            let w = g.tensor(op, t)
            guard w.dtype == (t % per < 2 ? weightType : .f32), w.layout == .rowMajor else { throw .unsupported }
            switch t % per {
            case 0: guard w.shape.rank == 2, w.shape.dim(0) == gh, w.shape.dim(1) == inputs else { throw .shapeMismatch }
            case 1: guard w.shape.rank == 2, w.shape.dim(0) == gh, w.shape.dim(1) == h else { throw .shapeMismatch }
            default: guard w.shape.rank == 1, w.shape.dim(0) == gh else { throw .shapeMismatch }
            }
        }
        for i in 1..<(op.inputCount + op.outputCount) where i != op.inputCount {
            let v = i < op.inputCount ? g.input(op, i) : g.output(op, i - op.inputCount)
            guard v.dtype == .f32 else { throw .unsupported }
            guard v.shape.rank == 2, v.shape.dim(0) == d, v.shape.dim(1) == h else { throw .shapeMismatch }
        }
        if op.code == .rnn {
            let a = g.int(op, .nonlinearity)
            guard a == 0 || a == 1 else { throw .corrupt }
            op.params.relu = a == 1
        }
        let steps = x.shape.dim(0)
        op.params.extent = steps
        op.params.k = inputs
        op.params.n = h
        op.params.outer = d
        op.params.rows = gateCount
        op.params.weightBytes = size
        op.params.preparedBytes = try checkedMultiply(d, try checkedMultiply(
            try checkedAdd(linearPackedCount(outputs: gh, inputs: inputs), linearPackedCount(outputs: gh, inputs: h)), size))
        op.params.stateBytesPerSample = try checkedMultiply(d * h * 4, op.code == .lstm ? 2 : 1)
        // Per sample: every step's input projection and one step's hidden projection.
        op.params.scratchBytesPerSample = try checkedMultiply(try checkedAdd(try checkedMultiply(steps, gh), gh), 4)
        op.params.scratchBytes = kernelRoundUp(linearPackedWorkspaceCount * 4, 64)
    }

    /// Bytes of one packed weight matrix `[G·H, inputs]` (`linearPackWeights`' layout for f32 and
    /// f16, `int8PackWeights`' for i8: both G·H rounded up to 32, times inputs, elements).
    static func packedBytes(_ p: OpParams, inputs: Int) -> Int { linearPackedCount(outputs: p.rows * p.n, inputs: inputs) * p.weightBytes }

    /// Packs W_ih then W_hh of each direction (f16 ones as f16, non-finite f16 is `.corrupt`;
    /// i8 ones as i8, a scale that is not finite and positive is `.corrupt`).
    static func prepare(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        let p = op.params, gh = p.rows * p.n, per = p.weightBytes == 1 ? 6 : 4
        var at = op.prepared!
        for d in 0..<p.outer {
            for matrix in 0..<2 {
                let inputs = matrix == 0 ? p.k : p.n, w = g.tensor(op, per * d + matrix).data!
                switch p.weightBytes {
                case 1:
                    let scales = g.tensor(op, per * d + 4 + matrix).data!.assumingMemoryBound(to: Float.self)
                    for j in 0..<gh { guard scales[j].isFinite, scales[j] > 0 else { throw .corrupt } }
                    int8PackWeights(outputs: gh, inputs: inputs, weights: w.assumingMemoryBound(to: Int8.self),
                                    into: at.assumingMemoryBound(to: Int8.self))
                case 2:
                    guard halfWeightsFinite(w, count: gh * inputs) else { throw .corrupt }
                    linearPackWeights(outputs: gh, inputs: inputs, elementSize: 2, weights: w, into: at)
                default:
                    linearPackWeights(outputs: gh, inputs: inputs, weights: w.assumingMemoryBound(to: Float.self),
                                      into: at.assumingMemoryBound(to: Float.self))
                }
                at += packedBytes(p, inputs: inputs)
            }
        }
    }

    /// y `[m, G·H]` (row stride G·H) = bias + x `[m, k]` (row stride ldx) · Wᵀ (W's rows
    /// times `scales` for i8 weights).
    @inline(__always)
    static func project(_ p: OpParams, m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, packed: UnsafeRawPointer,
                        scales: UnsafePointer<Float>?, bias: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                        workspace: UnsafeMutablePointer<Float>) {
        let gh = p.rows * p.n
        switch p.weightBytes {
        case 1:
            for i in 0..<m {
                linearPackedInt8GEMV(n: gh, k: k, x: x + i * ldx, packed: packed.assumingMemoryBound(to: Int8.self), scales: scales!,
                                     bias: bias, y: y + i * gh)
            }
        case 2:
            for i in 0..<m { linearPackedHalfGEMV(n: gh, k: k, x: x + i * ldx, packed: packed, bias: bias, y: y + i * gh) }
        default:
            linearPacked(m: m, n: gh, k: k, x: x, ldx: ldx, packed: packed.assumingMemoryBound(to: Float.self), bias: bias,
                         y: y, ldy: gh, relu: false, workspace: workspace)
        }
    }

    @inline(never)
    @_optimize(speed)
    static func run(_ r: OpRun) {
        let p = r.params, steps = p.extent, h = p.n, gh = p.rows * h, batch = r.batch, directions = p.outer
        let lstm = r.op.code == .lstm, gru = r.op.code == .gru
        let state = r.state!.assumingMemoryBound(to: Float.self)
        let stride = p.stateBytesPerSample / 4
        if r.position == 0 {
            state.update(repeating: 0, count: batch * stride)
            if r.op.inputCount > 1 { copyState(r, state, out: false) }   // h0 (then c0) [D, H] per sample
        }
        let workspace = r.scratch.assumingMemoryBound(to: Float.self)
        let projected = (r.scratch + p.scratchBytes).assumingMemoryBound(to: Float.self)   // [batch·T, G·H]
        let hidden = projected + batch * steps * gh                                        // [batch, G·H]
        let x = r.f32(0), y = r.f32Out(0), width = directions * h
        let per = p.weightBytes == 1 ? 6 : 4, vector = !r.graph.reference
        var packed = UnsafeRawPointer(r.op.prepared!)
        for d in 0..<directions {
            let wih = packed, whh = packed + packedBytes(p, inputs: p.k)
            packed = whh + packedBytes(p, inputs: h)
            let t0 = per * d, scaled = per == 6
            project(p, m: batch * steps, k: p.k, x: x, ldx: p.k, packed: wih, scales: scaled ? r.tensorF32(t0 + 4) : nil,
                    bias: r.tensorF32(t0 + 2), y: projected, workspace: workspace)
            let hs = state + d * h, cs = state + (directions + d) * h
            for s in 0..<steps {
                let t = d == 0 ? s : steps - 1 - s
                project(p, m: batch, k: h, x: hs, ldx: stride, packed: whh, scales: scaled ? r.tensorF32(t0 + 5) : nil,
                        bias: r.tensorF32(t0 + 3), y: hidden, workspace: workspace)
                for b in 0..<batch {
                    let xg = projected + (b * steps + t) * gh, hg = hidden + b * gh
                    let hb = hs + b * stride, out = y + (b * steps + t) * width + d * h
                    if lstm {
                        lstmCellStep(xg: xg, hg: hg, c: cs + b * stride, h: hb, count: h, vector: vector)
                    } else if gru {
                        gruCellStep(xg: xg, hg: hg, h: hb, count: h, vector: vector)
                    } else {
                        rnnCellStep(xg: xg, hg: hg, h: hb, count: h, relu: p.relu, vector: vector)
                    }
                    out.copyFloats(from: hb, count: h)
                }
            }
        }
        if r.op.outputCount > 1 { copyState(r, state, out: true) }   // h_n (then c_n) [D, H] per sample
    }

    /// Copies the initial state operands (h0, c0) into `state`, or `state` to the final state
    /// outputs (h_n, c_n when `out`): D·H floats per sample and operand.
    @inline(never)
    static func copyState(_ r: OpRun, _ state: UnsafeMutablePointer<Float>, out: Bool) {
        let width = r.params.outer * r.params.n, stride = r.params.stateBytesPerSample / 4
        var i = 1
        while i < (out ? r.op.outputCount : r.op.inputCount) {
            for b in 0..<r.batch {
                let s = UnsafeMutableRawPointer(state + b * stride + (i - 1) * width), size = width * 4
                if out { (r.output(i) + b * size).copyMemory(from: s, byteCount: size) } else { s.copyMemory(from: r.input(i) + b * size, byteCount: size) }
            }
            i += 1
        }
    }
}
