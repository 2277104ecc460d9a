// qconv2d: the int8 2-D convolution in NCHW (per sample [C, H, W]); arithmetic in
// docs/bundle-format.md ("Arithmetic of the quantized ops"), kernels in QuantizedConvolution.swift.
//
//   qconv2d  x u8 [C, H, W] → y u8 or f32 [O, OH, OW] (OH, OW as conv2d)
//            tensors W i8 [O, C / groups, kH, kW] row-major, w_scale f32 [O] (finite, > 0),
//            bias i32 [O] (with the zero-point correction −z_x·Σ_p W[o, p] folded in)
//            acc = bias + Σ W·x over the window, x reading z_x outside the image; y as qlinear's
//
// Attributes as conv2d's (Ops/Conv.swift): stride, padding, dilation, groups, activation, with
// the same statuses; the patch (C/groups·kH·kW) is at most `qconvMaxPatch` (`.unsupported`),
// so i32 sums cannot overflow.
//
// qconv2d runs `qconv` (the qlinear tile on windows read in place or im2col'd, VNNI where built;
// channels-as-lanes loops for depthwise layers; taps-as-dot-product loops for one-channel stems);
// with `Graph.reference` it runs the naive `qconvReference` instead (the Swift side's integer
// parity reference).

public enum QConvOps {
    public static var qconv2d: OpDescription {
        OpDescription(name: "qconv2d",
                      schema: OpSchema(.ints(.stride), .ints(.padding), .ints(.dilation), .int(.groups, default: 1),
                                       .int(.activation, default: 0)),
                      check: check, prepare: prepare, run: run)
    }

    static func check(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        try opExpect(op, inputs: 1, outputs: 1, tensors: 3)
        let x = g.input(op, 0), y = g.output(op, 0)
        let w = g.tensor(op, 0), s = g.tensor(op, 1), b = g.tensor(op, 2)
        guard x.dtype == .u8, y.dtype == .u8 || y.dtype == .f32 else { throw .unsupported }
        guard w.dtype == .i8, w.layout == .rowMajor, s.dtype == .f32, b.dtype == .i32 else { throw .unsupported }
        try LinearOp.checkActivation(g, op, &op.params)
        let stride = try ConvOps.list(g, op, .stride, count: 2, minimum: 1)
        let padding = try ConvOps.list(g, op, .padding, count: 4, minimum: 0)
        let dilation = try ConvOps.list(g, op, .dilation, count: 2, minimum: 1)
        let groups64 = g.int(op, .groups)
        guard groups64 >= 1, groups64 <= ConvOps.maxFactor else { throw .corrupt }
        guard x.shape.rank == 3, y.shape.rank == 3, w.shape.rank == 4 else { throw .shapeMismatch }
        let kh = w.shape.dim(2), kw = w.shape.dim(3)
        guard padding.0 <= dilation.0 * (kh - 1), padding.2 <= dilation.0 * (kh - 1),
              padding.1 <= dilation.1 * (kw - 1), padding.3 <= dilation.1 * (kw - 1) else { throw .shapeMismatch }
        let geometry = try ConvOps.convolutionGeometry(x, y, w, stride: stride, padding: padding, dilation: dilation,
                                                       groups: Int(groups64))
        let o = geometry.outChannels
        guard s.shape.rank == 1, s.shape.dim(0) == o, b.shape.rank == 1, b.shape.dim(0) == o else { throw .shapeMismatch }
        guard geometry.patch <= qconvMaxPatch else { throw .unsupported }
        op.params.window = geometry
        // Multipliers and the bounded flag, then the weights packed for the fast paths (not when run by the reference).
        var bytes = headBytes(o)
        if !g.reference { bytes = try checkedAdd(bytes, qconvPackedBytes(geometry)) }
        op.params.preparedBytes = bytes
        if g.reference {
            op.params.scratchBytesPerSample = try checkedMultiply(y.shape.count, 4)
        } else {
            op.params.scratchBytes = qconvScratchBytes(geometry, outputBytes: y.dtype == .f32 ? 4 : 1)
        }
    }

    static func prepare(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        let geometry = op.params.window, o = geometry.outChannels
        let x = g.input(op, 0), y = g.output(op, 0), scales = g.tensor(op, 1).data!
        let multipliers = op.prepared!.bindMemory(to: Float.self, capacity: o)
        for j in 0..<o {
            let s = scales.load(fromByteOffset: 4 * j, as: Float.self)
            guard s.isFinite, s > 0 else { throw .corrupt }
            multipliers[j] = qlinearMultiplier(inputScale: x.scale, weightScale: s, outputScale: y.dtype == .u8 ? y.scale : nil)
        }
        // Bounded (`QGEMMOutput.bounded`): u8 output and, per channel, (|bias| + 255·Σ|W|)·multiplier
        // below 2^30 — that bounds |acc|·multiplier (x and z_x are bytes; i32 wrapping cannot pass it either).
        let weight = g.tensor(op, 0).data!.assumingMemoryBound(to: Int8.self), bias = g.tensor(op, 2).data!.assumingMemoryBound(to: Int32.self)
        let patch = geometry.patch
        var bounded: Int32 = y.dtype == .u8 ? 1 : 0
        for j in 0..<o where bounded != 0 {
            var bound = Double(bias[j].magnitude)
            for p in 0..<patch { bound += 255 * Double(weight[j * patch + p].magnitude) }
            if !(bound * Double(multipliers[j]) < 1_073_741_824) { bounded = 0 }
        }
        (op.prepared! + 4 * o).storeBytes(of: bounded, as: Int32.self)
        if !g.reference {
            qconvPackWeights(geometry, weight: weight, into: (op.prepared! + headBytes(o)).assumingMemoryBound(to: Int8.self))
        }
    }

    /// The prepared block's head: multipliers f32 [O], then the bounded flag (Int32), 64-byte aligned.
    static func headBytes(_ o: Int) -> Int { kernelRoundUp(o * 4 + 4, 64) }

    // Size-optimised dispatch: the fast path is `qconv` (speed); the rest is the reference executor's.
    @inline(never)
    static func run(_ r: OpRun) {
        var geometry = r.params.window
        geometry.batch = r.batch
        let x = r.input(0).assumingMemoryBound(to: UInt8.self)
        let y = r.outputValue(0), o = geometry.outChannels
        let multipliers = UnsafePointer(r.op.prepared!.assumingMemoryBound(to: Float.self))
        let weight = r.tensor(0).data!.assumingMemoryBound(to: Int8.self)
        let bias = r.tensor(2).data!.assumingMemoryBound(to: Int32.self)
        // Fused with a global average pooling (`keepChannelsLast`): the pool's output (the conv's
        // own has no memory). Contexts that keep values readable reset it and the layout flags.
        let pooled = r.params.pooledInto >= 0 ? r.pointers[r.params.pooledInto]!.assumingMemoryBound(to: Float.self) : nil
        var output = y.dtype == .f32
            ? QGEMMOutput(f32: pooled ?? r.f32Out(0), ld: 0, relu: r.params.relu)
            : QGEMMOutput(u8: r.output(0).assumingMemoryBound(to: UInt8.self), ld: 0, relu: r.params.relu, zeroPoint: y.zeroPoint)
        output.bounded = r.op.prepared!.load(fromByteOffset: 4 * o, as: Int32.self) != 0
        if r.graph.reference {
            let acc = r.scratch.assumingMemoryBound(to: Int32.self)
            qconvReference(geometry, x: x, inputZeroPoint: r.inputValue(0).zeroPoint, weight: weight, bias: bias, acc: acc)
            let plane = geometry.outHeight * geometry.outWidth
            for channel in 0..<(r.batch * o) {
                qconvStoreChannel(acc + channel * plane, count: plane, multiplier: multipliers[channel % o], output: output,
                                  at: channel * plane)
            }
            return
        }
        let packed = UnsafePointer((r.op.prepared! + headBytes(o)).assumingMemoryBound(to: Int8.self))
        qconv(geometry, x: x, inputZeroPoint: r.inputValue(0).zeroPoint, weight: weight, packed: packed, bias: bias,
              multipliers: multipliers, output: output, scratch: r.scratch, inputChannelsLast: r.params.channelsLastInput,
              outputChannelsLast: r.params.channelsLastOutput, pooled: pooled)
    }

    /// At load (Executor, after `prepare`; not for the reference executor), for each qconv2d
    /// whose output is no graph output and is read only by the op right after it:
    /// - a u8 output read by a qconv2d, both able to (`qconvWritesChannelsLast`,
    ///   `qconvReadsChannelsLast`), stays in channels-last rows [H·W, C] per sample — no
    ///   transposes between, say, a pointwise and a depthwise layer;
    /// - an f32 output (GEMM path without groups, O a multiple of 16) read by a global average
    ///   pooling: fused like conv2d + max pooling (`pooledInto` the pool's output, which the conv
    ///   writes averaged from its channels-last rows; the pool does not run).
    /// Contexts whose values must stay readable (`fusesPools` false) run every op unfused on NCHW.
    @_optimize(size)
    public static func keepChannelsLast(_ g: Graph) {
        guard !g.reference else { return }
        for o in 0..<Swift.max(0, g.opCount - 1) where g.ops![o].code == .qconv2d {
            let v = g.outputID(g.ops![o], 0), next = g.ops![o + 1], w = g.ops![o].params.window
            guard g.values![v].lastReader == o + 1, !g.values![v].isOutput, w.qconvWritesChannelsLast else { continue }
            if next.code == .qconv2d && g.values![v].dtype == .u8 && next.params.window.qconvReadsChannelsLast {
                g.ops![o].params.channelsLastOutput = true
                g.ops![o + 1].params.channelsLastInput = true
            } else if next.code == .adaptiveAvgPool2d && next.params.rows == 1 && next.params.n == 1 && w.groups == 1
                        && w.outChannels % 16 == 0 {
                g.ops![o].params.pooledInto = g.outputID(next, 0)
                g.ops![o + 1].params.pooledByConv = true
            }
        }
    }
}
