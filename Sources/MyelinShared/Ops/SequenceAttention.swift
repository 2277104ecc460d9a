// attention: multi-head scaled dot-product self-attention with a key/value cache, the core
// of `MultiheadAttention` between its input and output projections (which are `linear` ops).
//
//   qkv f32 [T, 3E] (queries, keys, values side by side: in_proj's output) → y f32 [T, E]
//   attributes heads (int ≥ 1, divides E, required), causal (int 0/1, default 1),
//              max_context (int, T … 2^20, required: the key/value cache's positions)
//
//   per head h (d = E/heads, columns h·d ..< (h+1)·d):
//   y[t] = Σ_j softmax_j(q[t]·k[j] / √d) v[j], over keys j ≤ position + t when causal, else
//   over every key of the stream so far and of this run.
//
// State (per sample): the key cache [max_context, E] then the value cache [max_context, E].
// Each run appends its T keys and values at `position`, so a streaming decoder computes only
// the new steps; a non-causal op needs the whole sequence and runs only on whole sequences.
// Scratch: one row of scores (max_context floats).

#if MYELIN_RUNTIME
import CZlibRuntime
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum AttentionOp {
    /// Largest `max_context` (a cache of that many positions per sample).
    public static let maxContextLimit = 1 << 20

    public static var description: OpDescription {
        OpDescription(name: "attention", schema: OpSchema(.int(.heads), .int(.causal, default: 1), .int(.maxContext)),
                      check: check, run: run)
    }

    /// params: extent T, inner E, n heads, k = max_context, causal.
    static func check(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        try opExpect(op, inputs: 1, outputs: 1, tensors: 0)
        let x = g.input(op, 0), y = g.output(op, 0)
        guard x.dtype == .f32, y.dtype == .f32 else { throw .unsupported }
        let heads = g.int(op, .heads), causal = g.int(op, .causal), context = g.int(op, .maxContext)
        guard heads >= 1, causal == 0 || causal == 1, context >= 1 else { throw .corrupt }
        guard context <= Int64(maxContextLimit) else { throw .limitExceeded }
        guard x.shape.rank == 2, y.shape.rank == 2, x.shape.dim(0) == y.shape.dim(0), x.shape.dim(1) == 3 * y.shape.dim(1) else {
            throw .shapeMismatch
        }
        let e = y.shape.dim(1)
        guard Int64(e) % heads == 0, Int64(x.shape.dim(0)) <= context else { throw .shapeMismatch }
        op.params.extent = x.shape.dim(0)
        op.params.inner = e
        op.params.n = Int(heads)
        op.params.k = Int(context)
        op.params.causal = causal == 1
        op.params.maxPositions = Int(context)
        op.params.stateBytesPerSample = try checkedMultiply(try checkedMultiply(Int(context), e), 8)
        op.params.scratchBytes = Int(context) * 4
    }

    @inline(never)
    @_optimize(speed)
    static func run(_ r: OpRun) {
        let p = r.params, steps = p.extent, e = p.inner, heads = p.n, d = e / heads, context = p.k
        let scale = 1 / Float(d).squareRoot()
        let scores = r.scratch.assumingMemoryBound(to: Float.self)
        let state = r.state!.assumingMemoryBound(to: Float.self), stride = p.stateBytesPerSample / 4
        let x = r.f32(0), y = r.f32Out(0)
        for b in 0..<r.batch {
            let keys = state + b * stride, values = keys + context * e
            let qkv = x + b * steps * 3 * e, out = y + b * steps * e
            for t in 0..<steps {
                (keys + (r.position + t) * e).update(from: qkv + t * 3 * e + e, count: e)
                (values + (r.position + t) * e).update(from: qkv + t * 3 * e + 2 * e, count: e)
            }
            for t in 0..<steps {
                let visible = p.causal ? r.position + t + 1 : r.position + steps
                for h in 0..<heads {
                    let q = qkv + t * 3 * e + h * d
                    var top = -Float.infinity
                    for j in 0..<visible {
                        let k = keys + j * e + h * d
                        var dot: Float = 0
                        for i in 0..<d { dot += q[i] * k[i] }
                        scores[j] = dot * scale
                        top = Swift.max(top, scores[j])
                    }
                    var z: Float = 0
                    for j in 0..<visible { let w = expf(scores[j] - top); scores[j] = w; z += w }
                    let o = out + t * e + h * d
                    o.update(repeating: 0, count: d)
                    for j in 0..<visible {
                        let w = scores[j] / z, v = values + j * e + h * d
                        for i in 0..<d { o[i] += w * v[i] }
                    }
                }
            }
        }
    }
}
