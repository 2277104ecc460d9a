// attention: multi-head scaled dot-product attention, the core of `MultiheadAttention` between
// its input and output projections (which are `linear` ops). Two forms, by input count:
//
//   self-attention (1 or 2 inputs):
//     qkv f32 [T, 3E] (queries, keys, values side by side: in_proj's output)
//     [, key_ids i32 [T]: key j is hidden where key_ids[j] == 0 (padding); needs causal 0]
//     → y f32 [T, E]
//   cross-attention (3 or 4 inputs): queries attend to a second sequence (the encoder memory)
//     q f32 [T, E], k f32 [S, E], v f32 [S, E] [, key_ids i32 [S]] → y f32 [T, E]; causal 0,
//     max_context = S
//   attributes heads (int ≥ 1, divides E, required), causal (int 0/1, default 1),
//              max_context (int, T … 2^20, required: the key/value cache's positions),
//              score_scale (float > 0, default 1/√d: the factor of q·k)
//
//   per head h (d = E/heads, columns h·d ..< (h+1)·d):
//   y[t] = Σ_j softmax_j(score_scale · q[t]·k[j]) v[j], over keys j ≤ position + t when causal,
//   else over every key of the stream so far and of this run, without the hidden keys (a
//   query whose every key is hidden gets NaN, as in PyTorch).
//
// State (per sample), self-attention: the key cache [max_context, E] then the value cache
// [max_context, E]. Each run appends its T keys and values at `position`, so a streaming
// decoder computes only the new steps; a non-causal op needs the whole sequence and runs only
// on whole sequences. Cross-attention: k, v and the key mask (S floats, 1 = hidden), copied at
// position 0 and read by every later step, so a streaming decoder never needs k, v, key_ids
// again (the executor skips the ops that compute them: Graph/Executor.swift, StreamInfo).
// Scratch: one row of scores and one of the key mask (max_context floats each).

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
        OpDescription(name: "attention", schema: OpSchema(.int(.heads), .int(.causal, default: 1), .int(.maxContext),
                                                          .float(.scoreScale, default: 0)),
                      check: check, run: run)
    }

    /// Whether `op` is the cross-attention form (its inputs 1 … 3 are read at position 0 only).
    @inline(__always)
    public static func isCross(_ op: GraphOp) -> Bool { op.inputCount >= 3 }

    /// params: extent T, inner E, n heads, k = max_context (S for cross-attention), causal,
    /// value = score scale, relu = the op has key ids.
    static func check(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        let n = op.inputCount, cross = isCross(op), hasIDs = n == 2 || n == 4
        guard n >= 1, n <= 4, op.outputCount == 1, op.tensorCount == 0 else { throw .corrupt }
        let x = g.input(op, 0), y = g.output(op, 0), k = g.input(op, cross ? 1 : 0), v = g.input(op, cross ? 2 : 0)
        let ids = g.input(op, n - 1)
        guard x.dtype == .f32, y.dtype == .f32, k.dtype == .f32, v.dtype == .f32, !hasIDs || ids.dtype == .i32 else { throw .unsupported }
        let heads = g.int(op, .heads), causal = g.int(op, .causal), context = g.int(op, .maxContext)
        let scaleAttribute = g.attribute(op, .scoreScale), scale = scaleAttribute?.float() ?? 1
        // Key ids hide keys of one whole sequence: not with a causal cache; cross-attention is never causal.
        guard heads >= 1, causal == 0 || causal == 1, context >= 1,
              scale > 0, scale < 1e30, causal == 0 || !(hasIDs || cross) else { throw .corrupt }
        guard context <= Int64(maxContextLimit) else { throw .limitExceeded }
        let e = y.shape.dim(1), t = x.shape.dim(0), keys = cross ? k.shape.dim(0) : t
        guard x.shape.rank == 2, y.shape.rank == 2, y.shape.dim(0) == t, e >= 1, Int64(e) % heads == 0,
              x.shape.dim(1) == (cross ? e : 3 * e), !hasIDs || (ids.shape.rank == 1 && ids.shape.dim(0) == keys),
              cross ? k.shape.rank == 2 && k.shape.dim(1) == e && v.shape.same(as: k.shape) && Int64(keys) == context
                    : Int64(t) <= context else { throw .shapeMismatch }
        op.params.extent = t
        op.params.inner = e
        op.params.n = Int(heads)
        op.params.k = Int(context)
        op.params.causal = causal == 1
        op.params.relu = hasIDs
        op.params.value = scaleAttribute == nil ? 1 / Float(e / Int(heads)).squareRoot() : Float(scale)
        // A cross-attention stream decodes any number of steps against its S keys.
        op.params.maxPositions = cross ? 0 : Int(context)
        // Per sample: the keys and values (and for cross-attention the key mask), max_context rows.
        op.params.stateBytesPerSample = try checkedMultiply(Int(context), (2 * e + (cross ? 1 : 0)) * 4)
        op.params.scratchBytes = Int(context) * 8
    }

    /// Runs at the default optimisation (size in the runtime): the copies and the loop over
    /// queries; each query row and head runs in `attend`.
    static func run(_ r: OpRun) {
        let p = r.params, steps = p.extent, e = p.inner, heads = p.n, d = e / heads, context = p.k
        let cross = isCross(r.op)
        let scores = r.scratch.assumingMemoryBound(to: Float.self), scratchMask = scores + context
        let state = r.state!.assumingMemoryBound(to: Float.self), stride = p.stateBytesPerSample / 4
        let x = r.f32(0), y = r.f32Out(0)
        let ids: UnsafePointer<Int32>? = p.relu ? r.input(r.op.inputCount - 1).assumingMemoryBound(to: Int32.self) : nil
        let queryStride = cross ? e : 3 * e
        for b in 0..<r.batch {
            let keys = state + b * stride, values = keys + context * e
            let rows = x + b * steps * queryStride, out = y + b * steps * e
            // The key mask (1 = hidden): cross-attention keeps it in its state with k and v.
            let mask = cross ? values + context * e : scratchMask
            let count = cross ? context : steps
            if cross && r.position == 0 {
                keys.copyFloats(from: r.f32(1) + b * context * e, count: context * e)
                values.copyFloats(from: r.f32(2) + b * context * e, count: context * e)
            }
            if !cross {
                for t in 0..<steps {
                    (keys + (r.position + t) * e).copyFloats(from: rows + t * 3 * e + e, count: e)
                    (values + (r.position + t) * e).copyFloats(from: rows + t * 3 * e + 2 * e, count: e)
                }
            }
            if let ids, !cross || r.position == 0 {
                for j in 0..<count { mask[j] = ids[b * count + j] == 0 ? 1 : 0 }
            }
            for t in 0..<steps {
                let visible = cross ? context : p.causal ? r.position + t + 1 : r.position + steps
                for h in 0..<heads {
                    attend(q: rows + t * queryStride + h * d, keys: keys + h * d, values: values + h * d, e: e, d: d, visible: visible,
                           mask: ids == nil ? nil : UnsafePointer(mask), scale: p.value, scores: scores, out: out + t * e + h * d)
                }
            }
        }
    }

    /// out[0..<d] = Σ_j softmax_j(scale · q·k[j]) v[j] over keys j < visible not hidden by
    /// `mask` (key j at `keys + j·e`, value at `values + j·e`); `scores`: visible floats.
    @inline(never)
    static func attend(q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, e: Int, d: Int,
                       visible: Int, mask: UnsafePointer<Float>?, scale: Float, scores: UnsafeMutablePointer<Float>,
                       out: UnsafeMutablePointer<Float>) {
        var top = -Float.infinity
        for j in 0..<visible {
            if let mask, mask[j] != 0 { scores[j] = -Float.infinity; continue }
            let k = keys + j * e
            var dot: Float = 0
            for i in 0..<d { dot += q[i] * k[i] }
            scores[j] = dot * scale
            top = Swift.max(top, scores[j])
        }
        var z: Float = 0
        for j in 0..<visible { let w = expf(scores[j] - top); scores[j] = w; z += w }
        out.update(repeating: 0, count: d)
        for j in 0..<visible {
            let w = scores[j] / z, v = values + j * e
            for i in 0..<d { out[i] += w * v[i] }
        }
    }
}
