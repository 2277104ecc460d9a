// The int8 ops; their arithmetic is normative (docs/bundle-format.md, "Arithmetic of the
// quantized ops") and lives in QuantizedGEMM.swift.
//
//   quantize    x f32 → y u8, same shape: q = clamp(roundEven(x · (1/s_y)) + z_y, 0, 255)
//   dequantize  x u8 → y f32, same shape: y = s_x · f32(q − z_x)
//   qlinear     x u8 [..., in] → y u8 or f32 [..., out]; every leading per-sample dim is a row.
//               tensors: W i8 [out, in] (row-major or packed by `qgemmPackWeights`),
//               w_scale f32 [out] (finite, > 0), bias i32 [out]; attribute activation (0/1, default 0)
//
// qlinear runs `qgemm` (VNNI or portable tile); with `Graph.reference` and a row-major W it
// runs the naive `qgemmReference` instead (the Swift side's integer parity reference).
// A row-major W is packed once at load into `op.prepared`, a function of W alone: every
// qlinear op reading the same W shares that block (Executor), so many ops referencing one
// stored tensor cost its packed size once. The per-column multipliers depend on the op's
// own scales; they are computed into scratch at each run (n values, next to n·k MACs).

public enum QuantizeOps {
    static func checkSameShape(_ g: Graph, _ op: GraphOp, from: BundleDType, to: BundleDType) throws(BundleStatus) {
        try opExpect(op, inputs: 1, outputs: 1, tensors: 0)
        let x = g.input(op, 0), y = g.output(op, 0)
        guard x.dtype == from, y.dtype == to else { throw .unsupported }
        guard x.shape.same(as: y.shape) else { throw .shapeMismatch }
    }

    public static var quantize: OpDescription {
        OpDescription(name: "quantize", check: { (g: Graph, op: inout GraphOp) throws(BundleStatus) in
            try checkSameShape(g, op, from: .f32, to: .u8)
            op.params.n = g.input(op, 0).count
            op.params.value = quantizationInverseScale(g.output(op, 0).scale)
        }, run: runQuantize)
    }

    @inline(never)
    @_optimize(speed)
    static func runQuantize(_ r: OpRun) {
        quantizeRow(r.f32(0), count: r.batch * r.params.n, invScale: r.params.value, zeroPoint: r.outputValue(0).zeroPoint,
                    into: r.output(0).assumingMemoryBound(to: UInt8.self))
    }

    public static var dequantize: OpDescription {
        OpDescription(name: "dequantize", check: { (g: Graph, op: inout GraphOp) throws(BundleStatus) in
            try checkSameShape(g, op, from: .u8, to: .f32)
            op.params.n = g.input(op, 0).count
        }, run: runDequantize)
    }

    @inline(never)
    @_optimize(speed)
    static func runDequantize(_ r: OpRun) {
        let x = r.input(0).assumingMemoryBound(to: UInt8.self), y = r.f32Out(0)
        let s = r.inputValue(0).scale, z = r.inputValue(0).zeroPoint
        for i in 0..<(r.batch * r.params.n) { y[i] = s * Float(Int32(x[i]) - z) }
    }

    public static var qlinear: OpDescription {
        OpDescription(name: "qlinear", schema: OpSchema(.int(.activation, default: 0)), check: checkQLinear,
                      prepare: prepareQLinear, run: runQLinear)
    }

    static func checkQLinear(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        try opExpect(op, inputs: 1, outputs: 1, tensors: 3)
        let x = g.input(op, 0), y = g.output(op, 0)
        let w = g.tensor(op, 0), s = g.tensor(op, 1), b = g.tensor(op, 2)
        guard x.dtype == .u8, y.dtype == .u8 || y.dtype == .f32 else { throw .unsupported }
        guard w.dtype == .i8, s.dtype == .f32, b.dtype == .i32 else { throw .unsupported }
        try LinearOp.checkActivation(g, op, &op.params)
        guard x.shape.rank >= 1, x.shape.rank == y.shape.rank, w.shape.rank == 2 else { throw .shapeMismatch }
        let last = x.shape.rank - 1
        for i in 0..<last where x.shape.dim(i) != y.shape.dim(i) { throw .shapeMismatch }
        let k = x.shape.dim(last), n = y.shape.dim(last)
        guard w.shape.dim(0) == n, w.shape.dim(1) == k, s.shape.rank == 1, s.shape.dim(0) == n,
              b.shape.rank == 1, b.shape.dim(0) == n else { throw .shapeMismatch }
        op.params.rows = x.shape.product(0, last)
        op.params.k = k
        op.params.n = n
        // W packed at load when it is stored row-major (and not run by the reference).
        op.params.preparedBytes = w.layout == .rowMajor && !g.reference ? qgemmPackedBytes(n: n, k: k) : 0
        // The tile, a zero-padded copy of the last row (qgemm reads rows in groups of 4
        // bytes), the multipliers; the reference's accumulators per sample.
        op.params.scratchBytes = qgemmTileCount * 4 + kernelRoundUp(k, 64) + kernelRoundUp(n * 4, 64)
        if useReference(g, op) { op.params.scratchBytesPerSample = op.params.rows * n * 4 }
    }

    static func useReference(_ g: Graph, _ op: GraphOp) -> Bool { g.reference && g.tensor(op, 0).layout == .rowMajor }

    static func prepareQLinear(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        let n = op.params.n, k = op.params.k
        let w = g.tensor(op, 0), scales = g.tensor(op, 1).data!
        for j in 0..<n {
            let s = scales.load(fromByteOffset: 4 * j, as: Float.self)
            guard s.isFinite, s > 0 else { throw .corrupt }
        }
        if let packed = op.prepared, !op.params.preparedShared {
            qgemmPackWeights(n: n, k: k, w: w.data!.assumingMemoryBound(to: Int8.self), into: packed.assumingMemoryBound(to: Int8.self))
        }
    }

    /// The op's per-column multipliers (`qlinearMultiplier`) into `into[0 ..< n]`.
    @_optimize(speed)
    static func fillMultipliers(_ r: OpRun, into multipliers: UnsafeMutablePointer<Float>) {
        let x = r.inputValue(0), y = r.outputValue(0), scales = r.tensor(1).data!
        for j in 0..<r.params.n {
            multipliers[j] = qlinearMultiplier(inputScale: x.scale, weightScale: scales.load(fromByteOffset: 4 * j, as: Float.self),
                                               outputScale: y.dtype == .u8 ? y.scale : nil)
        }
    }

    @inline(never)
    @_optimize(speed)
    static func runQLinear(_ r: OpRun) {
        let p = r.params, m = r.batch * p.rows, n = p.n, k = p.k
        let x = r.input(0).assumingMemoryBound(to: UInt8.self)
        let y = r.outputValue(0)
        // Scratch: tile | last row (k rounded to 64) | multipliers (n rounded to 16) | reference accumulators.
        let multiplierBlock = (r.scratch + qgemmTileCount * 4 + kernelRoundUp(k, 64)).assumingMemoryBound(to: Float.self)
        fillMultipliers(r, into: multiplierBlock)
        let multipliers = UnsafePointer(multiplierBlock)
        let bias = r.tensor(2).data!.assumingMemoryBound(to: Int32.self)
        let w = r.tensor(0)
        if useReference(r.graph, r.op) {
            runQLinearReference(r, multipliers: multipliers)
            return
        }
        let packed = (w.layout == .packedQGEMM ? w.data! : UnsafeRawPointer(r.op.prepared!)).assumingMemoryBound(to: Int8.self)
        let tile = r.scratch.assumingMemoryBound(to: Int32.self)
        func output(_ row: Int) -> QGEMMOutput {
            y.dtype == .f32
                ? QGEMMOutput(f32: r.f32Out(0) + row * n, ld: n, relu: p.relu)
                : QGEMMOutput(u8: r.output(0).assumingMemoryBound(to: UInt8.self) + row * n, ld: n, relu: p.relu, zeroPoint: y.zeroPoint)
        }
        // Rows are read in groups of 4 bytes: past k they meet zero weights, but the last
        // row must not read past its buffer, so it runs from a zero-padded copy.
        let direct = k % 4 == 0 ? m : m - 1
        if direct > 0 {
            qgemm(m: direct, n: n, k: k, x: x, ldx: k, packed: packed, bias: bias, multipliers: multipliers, output: output(0), tile: tile)
        }
        if direct < m {
            let row = (r.scratch + qgemmTileCount * 4).assumingMemoryBound(to: UInt8.self)
            UnsafeMutableRawPointer(row).copyMemory(from: x + (m - 1) * k, byteCount: k)   // one memmove
            for i in k..<kernelRoundUp(k, 4) { row[i] = 0 }
            qgemm(m: 1, n: n, k: k, x: row, ldx: k, packed: packed, bias: bias, multipliers: multipliers, output: output(m - 1), tile: tile)
        }
    }

    /// The reference executor's path (`Graph.reference`, row-major W): `qgemmReference`, then the
    /// same epilogue formulas. Not a runtime kernel, so it keeps the runtime's size optimisation.
    @inline(never)
    static func runQLinearReference(_ r: OpRun, multipliers: UnsafePointer<Float>) {
        let p = r.params, m = r.batch * p.rows, n = p.n, k = p.k
        let x = r.input(0).assumingMemoryBound(to: UInt8.self)
        let y = r.outputValue(0)
        let bias = r.tensor(2).data!.assumingMemoryBound(to: Int32.self)
        let acc = (r.scratch + qgemmTileCount * 4 + kernelRoundUp(k, 64) + kernelRoundUp(n * 4, 64)).assumingMemoryBound(to: Int32.self)
        qgemmReference(m: m, n: n, k: k, x: x, ldx: k, w: r.tensor(0).data!.assumingMemoryBound(to: Int8.self), bias: bias,
                       acc: acc, ldacc: n)
        if y.dtype == .f32 {
            let out = r.f32Out(0)
            for i in 0..<(m * n) { out[i] = dequantizeAccumulator(acc[i], multiplier: multipliers[i % n], relu: p.relu) }
        } else {
            let out = r.output(0).assumingMemoryBound(to: UInt8.self)
            let z = Float(y.zeroPoint), low: Float = p.relu ? z : 0
            for i in 0..<(m * n) { out[i] = requantizeToU8(acc[i], multiplier: multipliers[i % n], zeroPoint: z, low: low) }
        }
    }
}

/// The inverse of `qgemmPackWeights`: w i8 `[n × k]` row-major from the packed layout.
public func qgemmUnpackWeights(n: Int, k: Int, packed: UnsafePointer<Int8>, into w: UnsafeMutablePointer<Int8>) {
    let k4 = kernelRoundUp(k, 4), n16 = kernelRoundUp(n, 16)
    var q0 = 0
    while q0 < n16 {
        let width = Swift.min(qgemmPanelCols, n16 - q0)
        let panel = packed + q0 * k4
        for g in 0..<(k4 / 4) {
            for j in 0..<width {
                for t in 0..<4 {
                    let col = q0 + j, p = 4 * g + t
                    if col < n && p < k { w[col * k + p] = panel[(g * width + j) * 4 + t] }
                }
            }
        }
        q0 += qgemmPanelCols
    }
}
