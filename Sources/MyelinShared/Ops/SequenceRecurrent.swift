// rnn, lstm, gru: one recurrent layer (both directions when bidirectional), PyTorch's gate
// layout and formulas (Sources/Myelin/NN/Recurrent.swift, Autograd/RecurrentCells.swift).
//
//   x f32 [T, in] → y f32 [T, D·H]   (D = 1, or 2 for bidirectional: forward half, then reverse)
//   tensors per direction: W_ih f32 [G·H, in], W_hh f32 [G·H, H], b_ih f32 [G·H], b_hh f32 [G·H]
//           (row-major; G gate blocks: rnn 1, lstm 4 (i, f, g, o), gru 3 (r, z, n))
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

    /// params: extent T, k inputs, n = H, outer = D, rows = G, relu (rnn's nonlinearity).
    static func check(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        guard op.inputCount == 1, op.outputCount == 1, op.tensorCount == 4 || op.tensorCount == 8 else { throw .corrupt }
        let x = g.input(op, 0), y = g.output(op, 0)
        guard x.dtype == .f32, y.dtype == .f32 else { throw .unsupported }
        let d = op.tensorCount / 4, gateCount = gates(op.code)
        guard x.shape.rank == 2, y.shape.rank == 2, x.shape.dim(0) == y.shape.dim(0) else { throw .shapeMismatch }
        let wih0 = g.tensor(op, 0)
        guard wih0.shape.rank == 2 else { throw .shapeMismatch }
        let gh = wih0.shape.dim(0), inputs = x.shape.dim(1)
        guard gh % gateCount == 0 else { throw .shapeMismatch }
        let h = gh / gateCount
        guard y.shape.dim(1) == d * h else { throw .shapeMismatch }
        for t in 0..<op.tensorCount {
            let w = g.tensor(op, t)
            guard w.dtype == .f32, w.layout == .rowMajor else { throw .unsupported }
            switch t % 4 {
            case 0: guard w.shape.rank == 2, w.shape.dim(0) == gh, w.shape.dim(1) == inputs else { throw .shapeMismatch }
            case 1: guard w.shape.rank == 2, w.shape.dim(0) == gh, w.shape.dim(1) == h else { throw .shapeMismatch }
            default: guard w.shape.rank == 1, w.shape.dim(0) == gh else { throw .shapeMismatch }
            }
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
        op.params.preparedBytes = try checkedMultiply(d, try checkedMultiply(
            try checkedAdd(linearPackedCount(outputs: gh, inputs: inputs), linearPackedCount(outputs: gh, inputs: h)), 4))
        op.params.stateBytesPerSample = try checkedMultiply(d * h * 4, op.code == .lstm ? 2 : 1)
        // Per sample: every step's input projection and one step's hidden projection.
        op.params.scratchBytesPerSample = try checkedMultiply(try checkedAdd(try checkedMultiply(steps, gh), gh), 4)
        op.params.scratchBytes = kernelRoundUp(linearPackedWorkspaceCount * 4, 64)
    }

    /// Packs W_ih then W_hh of each direction.
    static func prepare(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        let p = op.params, gh = p.rows * p.n
        var at = op.prepared!.assumingMemoryBound(to: Float.self)
        for d in 0..<p.outer {
            linearPackWeights(outputs: gh, inputs: p.k, weights: g.tensor(op, 4 * d).data!.assumingMemoryBound(to: Float.self), into: at)
            at += linearPackedCount(outputs: gh, inputs: p.k)
            linearPackWeights(outputs: gh, inputs: p.n, weights: g.tensor(op, 4 * d + 1).data!.assumingMemoryBound(to: Float.self), into: at)
            at += linearPackedCount(outputs: gh, inputs: p.n)
        }
    }

    @inline(__always)
    static func sigmoid(_ v: Float) -> Float {
        if v >= 0 { return 1 / (1 + expf(-v)) }
        let e = expf(v)
        return e / (1 + e)
    }

    static func run(_ r: OpRun) {
        let p = r.params, steps = p.extent, h = p.n, gh = p.rows * h, batch = r.batch, directions = p.outer
        let lstm = r.op.code == .lstm, gru = r.op.code == .gru
        let state = r.state!.assumingMemoryBound(to: Float.self)
        let stride = p.stateBytesPerSample / 4
        if r.position == 0 {
            state.update(repeating: 0, count: batch * stride)
        }
        let workspace = r.scratch.assumingMemoryBound(to: Float.self)
        let projected = (r.scratch + p.scratchBytes).assumingMemoryBound(to: Float.self)   // [batch·T, G·H]
        let hidden = projected + batch * steps * gh                                        // [batch, G·H]
        let x = r.f32(0), y = r.f32Out(0), width = directions * h
        var packed = r.op.prepared!.assumingMemoryBound(to: Float.self)
        for d in 0..<directions {
            let wih = packed, whh = packed + linearPackedCount(outputs: gh, inputs: p.k)
            packed = whh + linearPackedCount(outputs: gh, inputs: h)
            linearPacked(m: batch * steps, n: gh, k: p.k, x: x, ldx: p.k, packed: wih, bias: r.tensorF32(4 * d + 2),
                         y: projected, ldy: gh, relu: false, workspace: workspace)
            let hs = state + d * h, cs = state + (directions + d) * h
            for s in 0..<steps {
                let t = d == 0 ? s : steps - 1 - s
                linearPacked(m: batch, n: gh, k: h, x: hs, ldx: stride, packed: whh, bias: r.tensorF32(4 * d + 3),
                             y: hidden, ldy: gh, relu: false, workspace: workspace)
                for b in 0..<batch {
                    let xg = projected + (b * steps + t) * gh, hg = hidden + b * gh
                    let hb = hs + b * stride, out = y + (b * steps + t) * width + d * h
                    if lstm {
                        let cb = cs + b * stride
                        for j in 0..<h {
                            let i = sigmoid(xg[j] + hg[j]), f = sigmoid(xg[h + j] + hg[h + j])
                            let gg = tanhf(xg[2 * h + j] + hg[2 * h + j]), o = sigmoid(xg[3 * h + j] + hg[3 * h + j])
                            let c = f * cb[j] + i * gg
                            cb[j] = c
                            hb[j] = o * tanhf(c)
                        }
                    } else if gru {
                        for j in 0..<h {
                            let rg = sigmoid(xg[j] + hg[j]), z = sigmoid(xg[h + j] + hg[h + j])
                            let n = tanhf(xg[2 * h + j] + rg * hg[2 * h + j])
                            hb[j] = (1 - z) * n + z * hb[j]
                        }
                    } else if p.relu {
                        for j in 0..<h { hb[j] = Swift.max(xg[j] + hg[j], 0) }
                    } else {
                        for j in 0..<h { hb[j] = tanhf(xg[j] + hg[j]) }
                    }
                    out.update(from: hb, count: h)
                }
            }
        }
    }
}
