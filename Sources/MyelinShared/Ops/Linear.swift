// linear: y = x · Wᵀ + b, then max(·, 0) if `activation` is relu.
//
//   x f32 [..., in] → y f32 [..., out]; every leading per-sample dim is a row.
//   tensors: W f32 or f16 [out, in] (row-major, or packed by `linearPackWeights`), optional b f32 [out]
//   attribute activation (int64: 0 none, 1 relu; default 0)
//
// The kernel is `linearPacked` (PackedGEMM.swift), bit-identical to the training `linear()`.
// An f32 W stored packed (the exporter's choice) runs straight from DATA; row-major or f16
// weights are packed (and widened) once at load into `op.prepared`.

public enum LinearOp {
    public static var description: OpDescription {
        OpDescription(name: "linear", schema: OpSchema(.int(.activation, default: 0)), check: check, prepare: prepare, run: run)
    }

    static func check(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        guard op.inputCount == 1, op.outputCount == 1, op.tensorCount == 1 || op.tensorCount == 2 else { throw .corrupt }
        let x = g.input(op, 0), y = g.output(op, 0), w = g.tensor(op, 0)
        guard x.dtype == .f32, y.dtype == .f32, w.dtype == .f32 || w.dtype == .f16 else { throw .unsupported }
        try checkActivation(g, op, &op.params)
        guard x.shape.rank >= 1, x.shape.rank == y.shape.rank, w.shape.rank == 2 else { throw .shapeMismatch }
        let last = x.shape.rank - 1
        for i in 0..<last where x.shape.dim(i) != y.shape.dim(i) { throw .shapeMismatch }
        let k = x.shape.dim(last), n = y.shape.dim(last)
        guard w.shape.dim(0) == n, w.shape.dim(1) == k else { throw .shapeMismatch }
        if op.tensorCount == 2 {
            let b = g.tensor(op, 1)
            guard b.dtype == .f32 else { throw .unsupported }
            guard b.shape.rank == 1, b.shape.dim(0) == n else { throw .shapeMismatch }
        }
        op.params.rows = x.shape.product(0, last)
        op.params.k = k
        op.params.n = n
        let zeroCopy = w.dtype == .f32 && w.layout == .packedLinear
        op.params.preparedBytes = zeroCopy ? 0 : try checkedMultiply(linearPackedCount(outputs: n, inputs: k), 4)
        op.params.scratchBytes = linearPackedWorkspaceCount * 4
    }

    /// The `activation` attribute of linear and qlinear: 0 none, 1 relu, others unsupported.
    static func checkActivation(_ g: Graph, _ op: GraphOp, _ p: inout OpParams) throws(BundleStatus) {
        guard let a = BundleActivation(rawValue: g.int(op, .activation)) else { throw .unsupported }
        p.relu = a == .relu
    }

    @inline(never)
    @_optimize(speed)
    static func prepare(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        guard let dst = op.prepared, !op.params.preparedShared else { return }
        let w = g.tensor(op, 0), n = op.params.n, k = op.params.k
        let packed = dst.bindMemory(to: Float.self, capacity: linearPackedCount(outputs: n, inputs: k))
        switch (w.dtype, w.layout) {
        case (.f16, .packedLinear):
            for i in 0..<linearPackedCount(outputs: n, inputs: k) { packed[i] = halfBitsToFloat(w.data!.load(fromByteOffset: 2 * i, as: UInt16.self)) }
        case (.f16, _):
            // Packed as f16 into the block's upper half, then widened in place front to back
            // (f32 i ends at byte 4i + 4, never past the f16 not yet read at 2·count + 2i + 2):
            // no temporary the size of the weight.
            let count = linearPackedCount(outputs: n, inputs: k)
            let half = UnsafeMutableRawPointer(dst) + 2 * count
            linearPackWeights(outputs: n, inputs: k, elementSize: 2, weights: w.data!, into: half)
            for i in 0..<count { packed[i] = halfBitsToFloat(half.load(fromByteOffset: 2 * i, as: UInt16.self)) }
        default:
            linearPackWeights(outputs: n, inputs: k, weights: w.data!.assumingMemoryBound(to: Float.self), into: packed)
        }
    }

    @inline(never)
    @_optimize(speed)
    static func run(_ r: OpRun) {
        let p = r.params
        let weights = UnsafeRawPointer(r.op.prepared) ?? r.tensor(0).data!
        let bias: UnsafePointer<Float>? = r.op.tensorCount == 2 ? r.tensorF32(1) : nil
        linearPacked(m: r.batch * p.rows, n: p.n, k: p.k, x: r.f32(0), ldx: p.k, packed: weights.assumingMemoryBound(to: Float.self),
                     bias: bias, y: r.f32Out(0), ldy: p.n, relu: p.relu, workspace: r.scratch.assumingMemoryBound(to: Float.self))
    }
}

/// The inverse of `linearPackWeights`: W `[n × k]` row-major from the packed layout (the
/// Swift reader turns packed tensors back into logical ones). Works for any element size.
public func linearUnpackWeights(outputs n: Int, inputs k: Int, elementSize e: Int, packed: UnsafeRawPointer,
                                into w: UnsafeMutableRawPointer) {
    let n32 = kernelRoundUp(n, gemmTileCols)
    var pc = 0
    while pc < k {
        let kc = Swift.min(gemmBlockDepth, k - pc)
        var q0 = 0
        while q0 < n {
            let panel = pc * n32 + q0 * kc
            for p in 0..<kc {
                for j in 0..<Swift.min(gemmTileCols, n - q0) {
                    (w + ((q0 + j) * k + pc + p) * e).copyMemory(from: packed + (panel + p * gemmTileCols + j) * e, byteCount: e)
                }
            }
            q0 += gemmTileCols
        }
        pc += kc
    }
}

/// `linearPackWeights` for any element size (f16 weights are stored packed too).
public func linearPackWeights(outputs n: Int, inputs k: Int, elementSize e: Int, weights w: UnsafeRawPointer,
                              into packed: UnsafeMutableRawPointer) {
    let n32 = kernelRoundUp(n, gemmTileCols)
    memsetZero(packed, linearPackedCount(outputs: n, inputs: k) * e)
    var pc = 0
    while pc < k {
        let kc = Swift.min(gemmBlockDepth, k - pc)
        var q0 = 0
        while q0 < n {
            let panel = pc * n32 + q0 * kc
            for p in 0..<kc {
                for j in 0..<Swift.min(gemmTileCols, n - q0) {
                    (packed + (panel + p * gemmTileCols + j) * e).copyMemory(from: w + ((q0 + j) * k + pc + p) * e, byteCount: e)
                }
            }
            q0 += gemmTileCols
        }
        pc += kc
    }
}

@inline(__always)
func memsetZero(_ p: UnsafeMutableRawPointer, _ bytes: Int) {
    if bytes > 0 { p.initializeMemory(as: UInt8.self, repeating: 0, count: bytes) }
}
