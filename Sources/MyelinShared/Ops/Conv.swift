// conv2d and conv_transpose2d: 2-D convolutions of f32 values in NCHW (per sample [C, H, W]),
// bias and ReLU fused. The kernels are Convolution.swift's (im2col + GEMM, direct depthwise
// and pointwise paths), the same routines the training ops run, so the runtime's results are
// the training forward's bit for bit.
//
//   conv2d            x f32 [C, H, W] → y f32 [O, OH, OW]
//                     tensors W f32 or f16 [O, C / groups, kH, kW], optional bias f32 [O]
//                     OH = ⌊(H + top + bottom − dilationH·(kH − 1) − 1) / strideH⌋ + 1 (likewise OW)
//   conv_transpose2d  x f32 [C, H, W] → y f32 [O, OH, OW]
//                     tensors W f32 or f16 [C, O / groups, kH, kW] (PyTorch layout), optional bias f32 [O]
//                     OH = (H − 1)·strideH − top − bottom + dilationH·(kH − 1) + outputPaddingH + 1
//
// Attributes: stride (int64 [h, w], ≥ 1), padding (int64 [top, left, bottom, right], each
// 0 … dilation·(k − 1) of its dimension: every window reads at least one input element),
// dilation (int64 [h, w], ≥ 1), groups (int64 ≥ 1, default 1, dividing both channel counts),
// activation (0 none, 1 relu; default 0); conv_transpose2d also output_padding (int64 [h, w],
// each < max(stride, dilation) of its dimension).
// A value that can never be valid (stride 0, negative padding, a list of the wrong length) is
// `.corrupt`; one that does not fit the operand shapes (padding beyond the kernel's extent,
// groups not dividing the channels, a kernel larger than the padded input, a declared output
// of another size) `.shapeMismatch`.

public enum ConvOps {
    public static var conv2d: OpDescription {
        OpDescription(name: "conv2d",
                      schema: OpSchema(.ints(.stride), .ints(.padding), .ints(.dilation), .int(.groups, default: 1),
                                       .int(.activation, default: 0)),
                      check: checkConv2d, prepare: prepare, run: runConv2d)
    }

    public static var convTranspose2d: OpDescription {
        OpDescription(name: "conv_transpose2d",
                      schema: OpSchema(.ints(.stride), .ints(.padding), .ints(.outputPadding), .ints(.dilation),
                                       .int(.groups, default: 1), .int(.activation, default: 0)),
                      check: checkConvTranspose2d, prepare: prepare, run: runConvTranspose2d)
    }

    /// The largest stride, dilation or group count a bundle may declare (keeps every product of
    /// the checks far from overflow).
    static let maxFactor: Int64 = Int64(BundleLimits.maxDimension)

    /// An int64 list attribute of exactly `count` entries, each in `minimum … maxFactor`.
    @_optimize(size)
    static func list(_ g: Graph, _ op: GraphOp, _ key: BundleAttribute, count: Int, minimum: Int64) throws(BundleStatus) -> (Int, Int, Int, Int) {
        guard let a = g.attribute(op, key), a.count == count else { throw .corrupt }
        var v = (0, 0, 0, 0)
        for i in 0..<count {
            let x = a.int(i)
            guard x >= minimum, x <= maxFactor else { throw .corrupt }
            switch i {
            case 0: v.0 = Int(x)
            case 1: v.1 = Int(x)
            case 2: v.2 = Int(x)
            default: v.3 = Int(x)
            }
        }
        return v
    }

    /// Operands, dtypes and attributes common to both ops; returns the geometry of the
    /// convolution from `x` [C, H, W] with weight `[O, C / groups, kH, kW]` as the attributes
    /// say (for conv_transpose2d the caller turns it around).
    @_optimize(size)
    static func checkCommon(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) -> (stride: (Int, Int, Int, Int),
                                                                                       padding: (Int, Int, Int, Int),
                                                                                       dilation: (Int, Int, Int, Int), groups: Int) {
        guard op.inputCount == 1, op.outputCount == 1, op.tensorCount == 1 || op.tensorCount == 2 else { throw .corrupt }
        let x = g.input(op, 0), y = g.output(op, 0), w = g.tensor(op, 0)
        guard x.dtype == .f32, y.dtype == .f32, w.dtype == .f32 || w.dtype == .f16, w.layout == .rowMajor else { throw .unsupported }
        if op.tensorCount == 2 { guard g.tensor(op, 1).dtype == .f32, g.tensor(op, 1).layout == .rowMajor else { throw .unsupported } }
        try LinearOp.checkActivation(g, op, &op.params)
        let stride = try list(g, op, .stride, count: 2, minimum: 1)
        let padding = try list(g, op, .padding, count: 4, minimum: 0)
        let dilation = try list(g, op, .dilation, count: 2, minimum: 1)
        let groups = g.int(op, .groups)
        guard groups >= 1, groups <= maxFactor else { throw .corrupt }
        guard x.shape.rank == 3, y.shape.rank == 3, w.shape.rank == 4 else { throw .shapeMismatch }
        // Padding beyond the dilated kernel's extent would make windows of padding only.
        let kh = w.shape.dim(2), kw = w.shape.dim(3)
        guard padding.0 <= dilation.0 * (kh - 1), padding.2 <= dilation.0 * (kh - 1),
              padding.1 <= dilation.1 * (kw - 1), padding.3 <= dilation.1 * (kw - 1) else { throw .shapeMismatch }
        return (stride, padding, dilation, Int(groups))
    }

    @_optimize(size)
    static func checkBias(_ g: Graph, _ op: GraphOp, channels: Int) throws(BundleStatus) {
        guard op.tensorCount == 2 else { return }
        let b = g.tensor(op, 1)
        guard b.shape.rank == 1, b.shape.dim(0) == channels else { throw .shapeMismatch }
    }

    /// Scratch and the prepared block. conv2d (but depthwise) runs `convForwardPacked`: its
    /// scratch is `convPackedScratchCount` for `convPackedImages` images (and their staged
    /// output when more than one), its weights are packed at load when
    /// `convPacksWeights` (into the prepared block), else packed into scratch at each run
    /// (padding them to whole panels would more than double them: kept out of the load).
    /// Depthwise conv2d runs `convDepthwiseLanes` (its weights tap-major in the prepared block,
    /// `convLanesScratchCount` of scratch); conv_transpose2d uses one image's column matrix (or
    /// depthwise planes) and the GEMM workspace. f16 weights not packed at load are widened there.
    @_optimize(size)
    static func finish(_ g: Graph, _ op: inout GraphOp, _ geometry: ConvGeometry) throws(BundleStatus) {
        op.params.window = geometry
        let w = g.tensor(op, 0)
        let packsAtLoad = op.code == .conv2d && convPacksWeights(geometry)
        // A depthwise conv2d keeps its weights tap-major, as f32 (`convDepthwiseLanes`): at most
        // 16 times the weights' count (fewer than 8 outputs per channel), as its scratch is a
        // small multiple of its input and output counts.
        let depthwiseLanes = op.code == .conv2d && geometry.isDepthwise
        op.params.preparedBytes = packsAtLoad ? try checkedMultiply(try packedWeightsCount(geometry), 4)
                                              : depthwiseLanes ? 4 * convDepthwiseLaneChannels(geometry) * geometry.kernelH * geometry.kernelW
                                              : w.dtype == .f16 ? try checkedMultiply(w.shape.count, 4) : 0
        if op.code == .conv2d && !geometry.isDepthwise {
            // Columns of `convPackedImages` images side by side, and their staged output.
            let images = convPackedImages(geometry), plane = geometry.outHeight * geometry.outWidth
            let nPad = kernelRoundUp(images * plane, gemmTileCols)
            let staged = images > 1 ? try checkedMultiply(geometry.outChannels, images * plane) : 0
            let columns = try checkedAdd(try checkedAdd(try checkedAdd(try checkedMultiply(geometry.patch, nPad), nPad + convTileRows * gemmTileCols),
                                                        staged), convPackedScratchExtra(geometry, images: images))
            let weights = packsAtLoad ? 0 : try packedWeightsCount(geometry)
            // `convForwardLanes`' planes: at most the input's count plus the padding's, bounded by the checks.
            let lanes = convPointwiseByLanes(geometry) || convConvolvesByLanes(geometry) ? convLanesScratchCount(geometry) : 0
            op.params.scratchBytes = try checkedMultiply(Swift.max(try checkedAdd(columns, weights), lanes), 4)
            return
        }
        if depthwiseLanes {
            op.params.scratchBytes = 4 * convLanesScratchCount(geometry)
            return
        }
        // conv_transpose2d (`convBackwardData`): the column matrix and weightᵀ, then GEMM's workspace.
        let columns = try checkedAdd(try checkedMultiply(geometry.patch, geometry.outHeight * geometry.outWidth),
                                     try checkedMultiply(geometry.patch, geometry.outChannels / geometry.groups))
        op.params.scratchBytes = try checkedMultiply(try checkedAdd(columns, gemmWorkspaceCount), 4)
    }

    /// `convPackedWeightsCount`, overflow-checked.
    @_optimize(size)
    static func packedWeightsCount(_ g: ConvGeometry) throws(BundleStatus) -> Int {
        try checkedMultiply(try checkedAdd(try checkedMultiply(g.groups, kernelRoundUp(g.outChannels / g.groups, convTileRows)),
                                           convPacksLanes(g) ? g.outChannels : 0), g.patch)
    }

    @_optimize(size)
    static func checkConv2d(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        let (stride, padding, dilation, groups) = try checkCommon(g, &op)
        let geometry = try convolutionGeometry(g.input(op, 0), g.output(op, 0), g.tensor(op, 0), stride: stride, padding: padding,
                                               dilation: dilation, groups: groups)
        try checkBias(g, op, channels: geometry.outChannels)
        try finish(g, &op, geometry)
    }

    /// The geometry (batch 1) of a convolution of x `[C, H, W]` by w `[O, C / groups, kh, kw]`
    /// into y `[O, oh, ow]` (conv2d and qconv2d), or `.shapeMismatch` when the channels and
    /// groups, the kernel's extent against the padded input, or the declared output do not fit.
    @_optimize(size)
    static func convolutionGeometry(_ x: GraphValue, _ y: GraphValue, _ w: GraphTensor, stride: (Int, Int, Int, Int),
                                    padding: (Int, Int, Int, Int), dilation: (Int, Int, Int, Int),
                                    groups: Int) throws(BundleStatus) -> ConvGeometry {
        let c = x.shape.dim(0), o = w.shape.dim(0), kh = w.shape.dim(2), kw = w.shape.dim(3)
        guard c % groups == 0, o % groups == 0, w.shape.dim(1) == c / groups else { throw .shapeMismatch }
        let geometry = ConvGeometry(batch: 1, inChannels: c, height: x.shape.dim(1), width: x.shape.dim(2), outChannels: o,
                                    kernelH: kh, kernelW: kw, strideH: stride.0, strideW: stride.1,
                                    padTop: padding.0, padLeft: padding.1, padBottom: padding.2, padRight: padding.3,
                                    dilationH: dilation.0, dilationW: dilation.1, groups: groups)
        guard geometry.height + padding.0 + padding.2 >= dilation.0 * (kh - 1) + 1,
              geometry.width + padding.1 + padding.3 >= dilation.1 * (kw - 1) + 1 else { throw .shapeMismatch }
        guard y.shape.dim(0) == o, y.shape.dim(1) == geometry.outHeight, y.shape.dim(2) == geometry.outWidth else { throw .shapeMismatch }
        return geometry
    }

    @_optimize(size)
    static func checkConvTranspose2d(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        let (stride, padding, dilation, groups) = try checkCommon(g, &op)
        let outputPadding = try list(g, op, .outputPadding, count: 2, minimum: 0)
        guard outputPadding.0 < Swift.max(stride.0, dilation.0), outputPadding.1 < Swift.max(stride.1, dilation.1) else { throw .corrupt }
        let x = g.input(op, 0), y = g.output(op, 0), w = g.tensor(op, 0)
        let c = x.shape.dim(0), kh = w.shape.dim(2), kw = w.shape.dim(3)
        guard w.shape.dim(0) == c, c % groups == 0 else { throw .shapeMismatch }
        let o = w.shape.dim(1) * groups
        let oh = (x.shape.dim(1) - 1) * stride.0 - padding.0 - padding.2 + dilation.0 * (kh - 1) + outputPadding.0 + 1
        let ow = (x.shape.dim(2) - 1) * stride.1 - padding.1 - padding.3 + dilation.1 * (kw - 1) + outputPadding.1 + 1
        guard oh >= 1, ow >= 1, y.shape.dim(0) == o, y.shape.dim(1) == oh, y.shape.dim(2) == ow else { throw .shapeMismatch }
        // The convolution this one is the adjoint of: y's side is its input, x's its output.
        let geometry = ConvGeometry(batch: 1, inChannels: o, height: oh, width: ow, outChannels: c, kernelH: kh, kernelW: kw,
                                    strideH: stride.0, strideW: stride.1, padTop: padding.0, padLeft: padding.1,
                                    padBottom: padding.2 - outputPadding.0, padRight: padding.3 - outputPadding.1,
                                    dilationH: dilation.0, dilationW: dilation.1, groups: groups)
        guard geometry.outHeight == x.shape.dim(1), geometry.outWidth == x.shape.dim(2) else { throw .shapeMismatch }
        try checkBias(g, op, channels: o)
        try finish(g, &op, geometry)
    }

    /// At load: conv2d's weights packed (`convPackWeights`, from f32 or f16), or other f16
    /// weights widened.
    @_optimize(size)
    static func prepare(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        guard let dst = op.prepared else { return }
        let w = g.tensor(op, 0), data = w.data!
        if op.code == .conv2d && convPacksWeights(op.params.window) {
            let packed = dst.bindMemory(to: Float.self, capacity: convPackedWeightsCount(op.params.window))
            convPackWeights(op.params.window, weights: data, f16: w.dtype == .f16, into: packed)
            return
        }
        if op.code == .conv2d && op.params.window.isDepthwise {
            let g = op.params.window
            let lanes = dst.bindMemory(to: Float.self, capacity: convDepthwiseLaneChannels(g) * g.kernelH * g.kernelW)
            convDepthwiseLaneWeights(g, data, f16: w.dtype == .f16, into: lanes)
            return
        }
        let wide = dst.bindMemory(to: Float.self, capacity: w.shape.count)
        for i in 0..<w.shape.count { wide[i] = halfBitsToFloat(data.load(fromByteOffset: 2 * i, as: UInt16.self)) }
    }

    /// The weights as stored (f32) or widened (f16); not for conv2d on packed weights.
    @inline(__always)
    static func weights(_ r: OpRun) -> UnsafePointer<Float> {
        (UnsafeRawPointer(r.op.prepared) ?? r.tensor(0).data!).assumingMemoryBound(to: Float.self)
    }

    /// y = max(y, 0) as the relu op computes it (a NaN stays NaN), 16 lanes at a time.
    @inline(__always)
    static func reluInPlace(_ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n {
            let p = UnsafeMutableRawPointer(y + i)
            let v = p.loadUnaligned(as: SIMD16<Float>.self)
            p.storeBytes(of: v.replacing(with: 0, where: v .< 0), as: SIMD16<Float>.self)
            i += 16
        }
        while i < n { y[i] = Swift.max(y[i], 0); i += 1 }
    }

    @inline(never)
    @_optimize(speed)
    static func runConv2d(_ r: OpRun) {
        let g = r.params.window, x = r.f32(0)
        let bias: UnsafePointer<Float>? = r.op.tensorCount == 2 ? r.tensorF32(1) : nil
        let scratch = r.scratch.assumingMemoryBound(to: Float.self)
        let perImageIn = g.inChannels * g.height * g.width, perImage = g.outChannels * g.outHeight * g.outWidth
        if g.isDepthwise {
            let lanes = UnsafePointer(r.op.prepared!.assumingMemoryBound(to: Float.self))
            for n in 0..<r.batch {
                convDepthwiseLanes(g, x: x + n * perImageIn, inputChannelsLast: r.params.channelsLastInput, lanes: lanes, bias: bias,
                                   relu: r.params.relu, y: r.f32Out(0) + n * perImage, outputChannelsLast: r.params.channelsLastOutput,
                                   scratch: scratch)
            }
            return
        }
        if r.params.channelsLastInput || r.params.channelsLastOutput {
            // A pointwise conv into channels-last rows or averaged into the pool's output (`keepChannelsLast`).
            let packed = UnsafePointer(r.op.prepared!.assumingMemoryBound(to: Float.self))
            let lanes = packed + convPackedWeightsCount(g) - g.outChannels * g.patch, averaged = r.params.pooledInto >= 0
            let y = averaged ? r.pointers[r.params.pooledInto]!.assumingMemoryBound(to: Float.self) : r.f32Out(0)
            for n in 0..<r.batch {
                convPointwiseLanes(g, x: x + n * perImageIn, inputChannelsLast: r.params.channelsLastInput, lanes: lanes, bias: bias,
                                   relu: r.params.relu, y: y + n * (averaged ? g.outChannels : perImage), averaged: averaged,
                                   edge: scratch)
            }
            return
        }
        if r.params.pooledInto < 0 && convConvolvesByLanes(g) {
            // A convolution with lanes to spare in the register tile, NCHW in and out.
            let lanes = UnsafePointer(r.op.prepared!.assumingMemoryBound(to: Float.self)) + convPackedWeightsCount(g) - g.outChannels * g.patch
            for n in 0..<r.batch {
                convForwardLanes(g, x: x + n * perImageIn, lanes: lanes, bias: bias, relu: r.params.relu, y: r.f32Out(0) + n * perImage,
                                 scratch: scratch)
            }
            return
        }
        if r.params.pooledInto >= 0 {
            // Fused with the max_pool2d that alone reads y (`convPoolsOutput`): y is never written.
            let pooled = r.pointers[r.params.pooledInto]!.assumingMemoryBound(to: Float.self)
            let packed = UnsafePointer(r.op.prepared!.assumingMemoryBound(to: Float.self))
            let perPooled = g.outChannels * (g.outHeight / 2) * (g.outWidth / 2)
            for n in 0..<r.batch {
                convForwardPacked(g, x: x + n * perImageIn, packed: packed, bias: bias, relu: r.params.relu, y: pooled,
                                  scratch: scratch, pooled: pooled + n * perPooled)
            }
            return
        }
        let y = r.f32Out(0)
        // Small planes: `convPackedImages` images at a time side by side, their output staged
        // [outChannels, images, plane] and copied to y [images, outChannels, plane].
        let images = convPackedImages(g), plane = g.outHeight * g.outWidth
        let staged = scratch + convPackedScratchCount(g, images: images)
        let packed: UnsafePointer<Float>
        if convPacksWeights(g) {
            packed = UnsafePointer(r.op.prepared!.assumingMemoryBound(to: Float.self))
        } else {
            let into = staged + (images > 1 ? g.outChannels * images * plane : 0)
            convPackWeights(g, weights: UnsafeRawPointer(weights(r)), f16: false, into: into)
            packed = UnsafePointer(into)
        }
        var n = 0
        while n < r.batch {
            let m = Swift.min(images, r.batch - n)
            convForwardPacked(g, images: m, x: x + n * perImageIn, packed: packed, bias: bias, relu: r.params.relu,
                              y: m == 1 ? y + n * perImage : staged, scratch: scratch)
            if m > 1 {
                for o in 0..<g.outChannels {
                    for i in 0..<m { convCopyRow(y + (n + i) * perImage + o * plane, staged + (o * m + i) * plane, plane) }
                }
            }
            n += m
        }
    }

    /// At load (Executor, after `fuseConvPools`; not for the reference executor), depthwise-separable
    /// chains of f32 conv2d ops hand each other channels-last rows [H·W, C] per sample
    /// (`channelsLastInput` / `channelsLastOutput`, ConvolutionLanes.swift) where a value is read
    /// only by the op right after the one that writes it: a depthwise conv (`convDepthwiseByLanes`)
    /// reads rows from a pointwise one (`convPointwiseByLanes`) and writes rows for one, and a
    /// pointwise conv writes rows for a depthwise one, or the channel means for a global average
    /// pooling (`pooledInto` with `channelsLastOutput`; the pool does not run). Contexts whose
    /// values must stay readable run every op on NCHW.
    @_optimize(size)
    public static func keepChannelsLast(_ g: Graph) {
        guard !g.reference else { return }
        // Backwards: whether the op after o can read channels-last rows.
        var nextReadsRows = false
        for o in stride(from: g.opCount - 2, through: 0, by: -1) {
            let w = g.ops![o].params.window, v = g.outputID(g.ops![o], 0)
            let handsOn = g.values![v].lastReader == o + 1 && !g.values![v].isOutput
            var readsRows = false
            if g.ops![o].code == .conv2d && g.ops![o].params.pooledInto < 0 {
                let writesRows = handsOn && nextReadsRows
                if convPointwiseByLanes(w) {
                    let next = g.ops![o + 1]
                    if handsOn && next.code == .adaptiveAvgPool2d && next.params.rows == 1 && next.params.n == 1 {
                        g.ops![o].params.pooledInto = g.outputID(next, 0)
                        g.ops![o + 1].params.pooledByConv = true
                        readsRows = true
                    }
                    // Its lane kernel writes rows (or means) only.
                    readsRows = readsRows || writesRows
                    g.ops![o].params.channelsLastOutput = readsRows
                } else if convDepthwiseByLanes(w) {
                    readsRows = true
                    g.ops![o].params.channelsLastOutput = writesRows
                }
                if writesRows && g.ops![o].params.channelsLastOutput { g.ops![o + 1].params.channelsLastInput = true }
            }
            nextReadsRows = readsRows
        }
    }

    static func runConvTranspose2d(_ r: OpRun) {
        let g = r.params.window, x = r.f32(0), y = r.f32Out(0), w = weights(r)
        let bias: UnsafePointer<Float>? = r.op.tensorCount == 2 ? r.tensorF32(1) : nil
        let columns = r.scratch.assumingMemoryBound(to: Float.self)
        // The column matrix and weightᵀ, then the workspace (as `finish` counts them).
        let workspace = columns + g.patch * (g.outHeight * g.outWidth + g.outChannels / g.groups)
        let plane = g.height * g.width, perImage = g.inChannels * plane
        for n in 0..<r.batch {
            let out = y + n * perImage
            for c in 0..<g.inChannels {
                let v = bias?[c] ?? 0
                for p in 0..<plane { out[c * plane + p] = v }
            }
            convBackwardData(g, images: n..<(n + 1), gradY: x, weight: w, gradX: y, columns: columns, workspace: workspace)
            if r.params.relu { reluInPlace(out, perImage) }
        }
    }
}
