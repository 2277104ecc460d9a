// The row-wise ops of sequence models (the recurrent layers are in SequenceRecurrent.swift,
// attention in SequenceAttention.swift). The formulas are the training ops'
// (Sources/Myelin/Autograd/NormalizationOps.swift, Indexing.swift, NN/Attention.swift).
//
//   embedding            ids i32 [...] → y f32 [..., dim]; tensor table f32 [num, dim].
//                        An id outside 0..<num gives a row of zeros; the executor refuses such
//                        graph inputs before running (`InferenceContext.checkTokens`).
//   layer_norm           x f32 [..., D₁…D_axes] → y same shape: per row (x − mean)/√(var + eps),
//                        biased variance, then · weight + bias. tensors: none, or weight and
//                        bias f32 [D₁…D_axes]. attributes axes (int, trailing dims normalised,
//                        1 … rank, default 1), eps (float > 0, default 1e-5)
//   gelu                 y = x·Φ(x) (approximate 0, default) or ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
//                        (approximate 1)
//   positional_encoding  x f32 [T, d] → y[t] = x[t] + table[position + t]; tensor table f32 [P, d]
//                        (sinusoidal or learned rows); a stream reaches at most P positions
//   last_step            x f32 [T, W] → y f32 [W]: the last step's row, except its trailing
//                        `reverse` columns (a bidirectional layer's backward half), taken from
//                        the first step. attribute reverse (int, 0 … W, default 0)
//
// Time is the first per-sample axis of a sequence value: in a streaming step the executor
// re-runs these checks with T replaced by the steps fed (Graph/Executor.swift).

#if MYELIN_RUNTIME
import CZlibRuntime
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum SequenceOps {
    // MARK: embedding

    public static var embedding: OpDescription {
        OpDescription(name: "embedding", check: checkEmbedding, run: runEmbedding)
    }

    /// params: n ids per sample, k rows of the table, inner = dim.
    static func checkEmbedding(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        try opExpect(op, inputs: 1, outputs: 1, tensors: 1)
        let ids = g.input(op, 0), y = g.output(op, 0), table = g.tensor(op, 0)
        guard ids.dtype == .i32, y.dtype == .f32, table.dtype == .f32, table.layout == .rowMajor else { throw .unsupported }
        guard table.shape.rank == 2, y.shape.rank == ids.shape.rank + 1, ids.shape.rank >= 1 else { throw .shapeMismatch }
        for i in 0..<ids.shape.rank where ids.shape.dim(i) != y.shape.dim(i) { throw .shapeMismatch }
        guard y.shape.dim(ids.shape.rank) == table.shape.dim(1) else { throw .shapeMismatch }
        op.params.n = ids.count
        op.params.k = table.shape.dim(0)
        op.params.inner = table.shape.dim(1)
    }

    @inline(never)
    static func runEmbedding(_ r: OpRun) {
        let p = r.params
        let ids = r.input(0).assumingMemoryBound(to: Int32.self), y = r.f32Out(0), table = r.tensorF32(0)
        for i in 0..<(r.batch * p.n) {
            let id = Int(ids[i]), row = y + i * p.inner
            if id >= 0 && id < p.k {
                row.copyFloats(from: table + id * p.inner, count: p.inner)
            } else {
                row.update(repeating: 0, count: p.inner)
            }
        }
    }

    // MARK: layer_norm

    public static var layerNorm: OpDescription {
        OpDescription(name: "layer_norm", schema: OpSchema(.int(.axes, default: 1), .float(.eps, default: 1e-5)),
                      check: checkLayerNorm, run: runLayerNorm)
    }

    /// params: outer rows per sample, inner elements per row, value = eps.
    static func checkLayerNorm(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        guard op.inputCount == 1, op.outputCount == 1, op.tensorCount == 0 || op.tensorCount == 2 else { throw .corrupt }
        let x = g.input(op, 0), y = g.output(op, 0)
        guard x.dtype == .f32, y.dtype == .f32 else { throw .unsupported }
        let axes = g.int(op, .axes), eps = g.float(op, .eps)
        guard axes >= 1, eps > 0 else { throw .corrupt }
        guard axes <= Int64(x.shape.rank) else { throw .shapeMismatch }
        guard x.shape.same(as: y.shape) else { throw .shapeMismatch }
        let first = x.shape.rank - Int(axes)
        op.params.outer = x.shape.product(0, first)
        op.params.inner = x.shape.product(first, x.shape.rank)
        op.params.axis = first
        op.params.value = Float(eps)
        for t in 0..<op.tensorCount {
            let w = g.tensor(op, t)
            guard w.dtype == .f32, w.layout == .rowMajor else { throw .unsupported }
            guard w.shape.rank == Int(axes) else { throw .shapeMismatch }
            for i in 0..<Int(axes) where w.shape.dim(i) != x.shape.dim(first + i) { throw .shapeMismatch }
        }
    }

    @inline(never)
    @_optimize(speed)
    static func runLayerNorm(_ r: OpRun) {
        let p = r.params, n = p.inner, eps = p.value
        let x = r.f32(0), y = r.f32Out(0)
        let w: UnsafePointer<Float>? = r.op.tensorCount == 2 ? r.tensorF32(0) : nil
        let b: UnsafePointer<Float>? = r.op.tensorCount == 2 ? r.tensorF32(1) : nil
        for row in 0..<(r.batch * p.outer) {
            let xs = x + row * n, ys = y + row * n
            var mean: Float = 0
            for j in 0..<n { mean += xs[j] }
            mean /= Float(n)
            var variance: Float = 0
            for j in 0..<n { let d = xs[j] - mean; variance += d * d }
            let s = 1 / (variance / Float(n) + eps).squareRoot()
            if let w, let b {
                for j in 0..<n { ys[j] = (xs[j] - mean) * s * w[j] + b[j] }
            } else {
                for j in 0..<n { ys[j] = (xs[j] - mean) * s }
            }
        }
    }

    // MARK: gelu

    public static var gelu: OpDescription {
        OpDescription(name: "gelu", schema: OpSchema(.int(.approximate, default: 0)), check: checkGELU, run: runGELU)
    }

    static func checkGELU(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        try ActivationOps.checkUnary(g, &op)
        let a = g.int(op, .approximate)
        guard a == 0 || a == 1 else { throw .corrupt }
        op.params.relu = a == 1   // the tanh form
    }

    @inline(never)
    @_optimize(speed)
    static func runGELU(_ r: OpRun) {
        if r.params.relu {
            let k = Float((2.0 / Double.pi).squareRoot())
            ActivationOps.map(r) { x in 0.5 * x * (1 + tanhf(k * (x + 0.044715 * x * x * x))) }
        } else {
            let invSqrt2 = Float(0.5.squareRoot())
            ActivationOps.map(r) { x in 0.5 * x * (1 + erff(x * invSqrt2)) }
        }
    }

    // MARK: positional_encoding

    public static var positionalEncoding: OpDescription {
        OpDescription(name: "positional_encoding", check: checkPositional, run: runPositional)
    }

    /// params: extent T, inner d, maxPositions P.
    static func checkPositional(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        try opExpect(op, inputs: 1, outputs: 1, tensors: 1)
        let x = g.input(op, 0), y = g.output(op, 0), table = g.tensor(op, 0)
        guard x.dtype == .f32, y.dtype == .f32, table.dtype == .f32, table.layout == .rowMajor else { throw .unsupported }
        guard x.shape.rank == 2, x.shape.same(as: y.shape), table.shape.rank == 2, table.shape.dim(1) == x.shape.dim(1),
              x.shape.dim(0) <= table.shape.dim(0) else { throw .shapeMismatch }
        op.params.extent = x.shape.dim(0)
        op.params.inner = x.shape.dim(1)
        op.params.maxPositions = table.shape.dim(0)
    }

    @inline(never)
    @_optimize(speed)
    static func runPositional(_ r: OpRun) {
        let p = r.params, t = p.extent, d = p.inner
        let x = r.f32(0), y = r.f32Out(0), table = r.tensorF32(0) + r.position * d
        for b in 0..<r.batch {
            for i in 0..<(t * d) { y[b * t * d + i] = x[b * t * d + i] + table[i] }
        }
    }

    // MARK: last_step

    public static var lastStep: OpDescription {
        OpDescription(name: "last_step", schema: OpSchema(.int(.reverse, default: 0)), check: checkLastStep, run: runLastStep)
    }

    /// params: extent T, inner W, k = reverse columns.
    static func checkLastStep(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        try opExpect(op, inputs: 1, outputs: 1, tensors: 0)
        let x = g.input(op, 0), y = g.output(op, 0)
        guard x.dtype == .f32, y.dtype == .f32 else { throw .unsupported }
        guard x.shape.rank == 2, y.shape.rank == 1, y.shape.dim(0) == x.shape.dim(1) else { throw .shapeMismatch }
        let reverse = g.int(op, .reverse)
        guard reverse >= 0, reverse <= Int64(x.shape.dim(1)) else { throw .corrupt }
        op.params.extent = x.shape.dim(0)
        op.params.inner = x.shape.dim(1)
        op.params.k = Int(reverse)
    }

    @inline(never)
    static func runLastStep(_ r: OpRun) {
        let p = r.params, t = p.extent, w = p.inner, forward = w - p.k
        let x = r.f32(0), y = r.f32Out(0)
        for b in 0..<r.batch {
            let sample = x + b * t * w
            (y + b * w).copyFloats(from: sample + (t - 1) * w, count: forward)
            (y + b * w + forward).copyFloats(from: sample + forward, count: p.k)
        }
    }
}
