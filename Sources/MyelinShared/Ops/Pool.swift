// Pooling and resampling of f32 (max_pool2d and channel_shuffle: also u8) NCHW values (per sample [C, H, W]); the kernels are
// Pooling.swift's, shared with the training ops.
//
//   max_pool2d           x [C, H, W] → y [C, OH, OW], optional second output indices i32 [C, OH, OW]
//                        (flat in-plane index h·W + w of each maximum, for max_unpool2d); or, without
//                        indices, x u8 → y u8 of the same scale and zero point (exact: max commutes
//                        with the monotone quantisation; a window wholly in the padding gives 0)
//                        attributes kernel, stride, dilation (int64 [h, w], ≥ 1), padding (int64
//                        [top, left, bottom, right], each 0 … ⌊k / 2⌋ of its dimension)
//                        OH = ⌊(H + top + bottom − dilationH·(kH − 1) − 1) / strideH⌋ + 1 (likewise OW)
//   avg_pool2d           as max_pool2d without dilation or indices; count_include_pad (int64 0 or 1,
//                        default 1): padding zeros count in the divisor
//   adaptive_avg_pool2d  x [C, H, W] → y [C, OH, OW]; output_size (int64 [OH, OW]); cell i of n covers
//                        rows ⌊i·H/n⌋ ..< ⌈(i+1)·H/n⌉ (likewise columns). [1, 1] is global average pooling.
//   max_unpool2d         x f32 [C, H, W], indices i32 [C, H, W] → y [C, OH, OW] zero but for
//                        y[c, indices[c, i]] = x[c, i]; output_size (int64 [OH, OW]); indices
//                        outside the plane are skipped
//   upsample_nearest2d   x [C, H, W] → y [C, H·sH, W·sW], y[c, i, j] = x[c, i / sH, j / sW]; scale (int64 [sH, sW], ≥ 1)
//   channel_shuffle      x [C, …] → y, same shape: channel o is x's channel (o mod g)·(C / g) + o / g;
//                        groups (int64 ≥ 1, dividing C); f32, or u8 → u8 of the same scale and zero point
//
// Attribute values that can never be valid are `.corrupt`; values that do not fit the
// operands (a window larger than the padded input, a declared output of another size, groups
// not dividing the channels) `.shapeMismatch`.

public enum PoolOps {
    public static var maxPool2d: OpDescription {
        OpDescription(name: "max_pool2d", schema: OpSchema(.ints(.kernel), .ints(.stride), .ints(.padding), .ints(.dilation)),
                      check: { g, op throws(BundleStatus) in try checkPool(g, &op, dilated: true) },
                      run: { r in
                          let g = r.params.window
                          if r.inputValue(0).dtype == .u8 {
                              maxPool2dU8(g, planes: r.batch * g.inChannels, x: r.input(0).assumingMemoryBound(to: UInt8.self),
                                          y: r.output(0).assumingMemoryBound(to: UInt8.self))
                              return
                          }
                          maxPool2dForward(g, planes: r.batch * g.inChannels, x: r.f32(0), values: r.f32Out(0),
                                           indices: r.op.outputCount == 2 ? r.output(1).assumingMemoryBound(to: Int32.self) : nil)
                      })
    }

    public static var avgPool2d: OpDescription {
        OpDescription(name: "avg_pool2d",
                      schema: OpSchema(.ints(.kernel), .ints(.stride), .ints(.padding), .int(.countIncludePad, default: 1)),
                      check: { g, op throws(BundleStatus) in try checkPool(g, &op, dilated: false) },
                      run: { r in
                          let g = r.params.window
                          avgPool2dForward(g, planes: r.batch * g.inChannels, countIncludePad: r.graph.int(r.op, .countIncludePad) == 1,
                                           x: r.f32(0), y: r.f32Out(0))
                      })
    }

    /// max_pool2d and avg_pool2d: operands, window attributes, output shape.
    @_optimize(size)
    static func checkPool(_ g: Graph, _ op: inout GraphOp, dilated: Bool) throws(BundleStatus) {
        let outputs = dilated ? op.outputCount : 1
        guard op.inputCount == 1, op.outputCount == outputs, outputs == 1 || outputs == 2, op.tensorCount == 0 else { throw .corrupt }
        let x = g.input(op, 0), y = g.output(op, 0)
        // max_pool2d also pools u8 (quantised) values into u8 of the same scale and zero point.
        let quantized = dilated && outputs == 1 && x.dtype == .u8 && y.dtype == .u8 && x.scale == y.scale && x.zeroPoint == y.zeroPoint
        guard quantized || (x.dtype == .f32 && y.dtype == .f32) else { throw .unsupported }
        if outputs == 2 { guard g.output(op, 1).dtype == .i32 else { throw .unsupported } }
        let kernel = try ConvOps.list(g, op, .kernel, count: 2, minimum: 1)
        let stride = try ConvOps.list(g, op, .stride, count: 2, minimum: 1)
        let padding = try ConvOps.list(g, op, .padding, count: 4, minimum: 0)
        let dilation = dilated ? try ConvOps.list(g, op, .dilation, count: 2, minimum: 1) : (1, 1, 0, 0)
        guard padding.0 <= kernel.0 / 2, padding.2 <= kernel.0 / 2, padding.1 <= kernel.1 / 2, padding.3 <= kernel.1 / 2 else { throw .corrupt }
        if !dilated {
            let include = g.int(op, .countIncludePad)
            guard include == 0 || include == 1 else { throw .corrupt }
        }
        guard x.shape.rank == 3, y.shape.rank == 3 else { throw .shapeMismatch }
        let window = ConvGeometry(batch: 1, inChannels: x.shape.dim(0), height: x.shape.dim(1), width: x.shape.dim(2),
                                  outChannels: x.shape.dim(0), kernelH: kernel.0, kernelW: kernel.1, strideH: stride.0, strideW: stride.1,
                                  padTop: padding.0, padLeft: padding.1, padBottom: padding.2, padRight: padding.3,
                                  dilationH: dilation.0, dilationW: dilation.1, groups: x.shape.dim(0))
        guard window.height + padding.0 + padding.2 >= dilation.0 * (kernel.0 - 1) + 1,
              window.width + padding.1 + padding.3 >= dilation.1 * (kernel.1 - 1) + 1 else { throw .shapeMismatch }
        guard y.shape.dim(0) == x.shape.dim(0), y.shape.dim(1) == window.outHeight, y.shape.dim(2) == window.outWidth else { throw .shapeMismatch }
        if outputs == 2 { guard g.output(op, 1).shape.same(as: y.shape) else { throw .shapeMismatch } }
        op.params.window = window
    }

    /// An int64 [h, w] attribute (each 1 … 2^24) that must equal dims 1 and 2 of `shape`.
    @_optimize(size)
    static func checkSize(_ g: Graph, _ op: GraphOp, _ key: BundleAttribute, _ shape: BundleShape) throws(BundleStatus) {
        let size = try ConvOps.list(g, op, key, count: 2, minimum: 1)
        guard shape.rank == 3, shape.dim(1) == size.0, shape.dim(2) == size.1 else { throw .shapeMismatch }
    }

    /// A resampling op's input planes (channels, height, width) in `params.window`; its output
    /// size, or scale, goes in `params.rows` × `params.n`.
    @_optimize(size)
    static func planes(_ x: GraphValue, _ y: GraphValue) -> ConvGeometry {
        ConvGeometry(batch: 1, inChannels: x.shape.dim(0), height: x.shape.dim(1), width: x.shape.dim(2),
                     outChannels: y.shape.dim(0), kernelH: 1, kernelW: 1)
    }

    public static var adaptiveAvgPool2d: OpDescription {
        OpDescription(name: "adaptive_avg_pool2d", schema: OpSchema(.ints(.outputSize)), check: { g, op throws(BundleStatus) in
            try opExpect(op, inputs: 1, outputs: 1, tensors: 0)
            let x = g.input(op, 0), y = g.output(op, 0)
            guard x.dtype == .f32, y.dtype == .f32 else { throw .unsupported }
            try checkSize(g, op, .outputSize, y.shape)
            guard x.shape.rank == 3, y.shape.dim(0) == x.shape.dim(0) else { throw .shapeMismatch }
            op.params.window = planes(x, y)
            op.params.rows = y.shape.dim(1)
            op.params.n = y.shape.dim(2)
        }, run: { r in
            let p = r.params
            adaptiveAvgPool2dForward(planes: r.batch * p.window.inChannels, height: p.window.height, width: p.window.width,
                                     outHeight: p.rows, outWidth: p.n, x: r.f32(0), y: r.f32Out(0))
        })
    }

    public static var maxUnpool2d: OpDescription {
        OpDescription(name: "max_unpool2d", schema: OpSchema(.ints(.outputSize)), check: { g, op throws(BundleStatus) in
            try opExpect(op, inputs: 2, outputs: 1, tensors: 0)
            let x = g.input(op, 0), indices = g.input(op, 1), y = g.output(op, 0)
            guard x.dtype == .f32, indices.dtype == .i32, y.dtype == .f32 else { throw .unsupported }
            try checkSize(g, op, .outputSize, y.shape)
            guard x.shape.rank == 3, indices.shape.same(as: x.shape), y.shape.dim(0) == x.shape.dim(0) else { throw .shapeMismatch }
            op.params.window = planes(x, y)
            op.params.rows = y.shape.dim(1)
            op.params.n = y.shape.dim(2)
        }, run: { r in
            let p = r.params
            maxUnpool2dForward(planes: r.batch * p.window.inChannels, planeIn: p.window.height * p.window.width,
                               planeOut: p.rows * p.n, x: r.f32(0), indices: r.input(1).assumingMemoryBound(to: Int32.self),
                               y: r.f32Out(0))
        })
    }

    public static var upsampleNearest2d: OpDescription {
        OpDescription(name: "upsample_nearest2d", schema: OpSchema(.ints(.scale)), check: { g, op throws(BundleStatus) in
            try opExpect(op, inputs: 1, outputs: 1, tensors: 0)
            let x = g.input(op, 0), y = g.output(op, 0)
            guard x.dtype == .f32, y.dtype == .f32 else { throw .unsupported }
            let scale = try ConvOps.list(g, op, .scale, count: 2, minimum: 1)
            guard x.shape.rank == 3, y.shape.rank == 3, y.shape.dim(0) == x.shape.dim(0),
                  Int64(y.shape.dim(1)) == Int64(x.shape.dim(1)) * Int64(scale.0),
                  Int64(y.shape.dim(2)) == Int64(x.shape.dim(2)) * Int64(scale.1) else { throw .shapeMismatch }
            op.params.window = planes(x, y)
            op.params.rows = scale.0
            op.params.n = scale.1
        }, run: { r in
            let p = r.params
            upsampleNearest2dForward(planes: r.batch * p.window.inChannels, height: p.window.height, width: p.window.width,
                                     scaleH: p.rows, scaleW: p.n, x: r.f32(0), y: r.f32Out(0))
        })
    }

    public static var channelShuffle: OpDescription {
        OpDescription(name: "channel_shuffle", schema: OpSchema(.int(.groups)), check: { g, op throws(BundleStatus) in
            try opExpect(op, inputs: 1, outputs: 1, tensors: 0)
            let x = g.input(op, 0), y = g.output(op, 0)
            // A permutation of channels: f32, or u8 keeping its scale and zero point.
            guard (x.dtype == .f32 && y.dtype == .f32)
                || (x.dtype == .u8 && y.dtype == .u8 && x.scale == y.scale && x.zeroPoint == y.zeroPoint) else { throw .unsupported }
            let groups = g.int(op, .groups)
            guard groups >= 1, groups <= ConvOps.maxFactor else { throw .corrupt }
            guard x.shape.rank >= 1, x.shape.same(as: y.shape), x.shape.dim(0) % Int(groups) == 0 else { throw .shapeMismatch }
            // outer: groups; extent: channels; inner: elements per channel.
            op.params.outer = Int(groups)
            op.params.extent = x.shape.dim(0)
            op.params.inner = x.shape.product(1, x.shape.rank)
        }, run: { r in
            let p = r.params
            channelShuffleBytes(batch: r.batch, channels: p.extent, groups: p.outer,
                                innerBytes: p.inner * (r.inputValue(0).dtype == .u8 ? 1 : 4), x: r.input(0), y: r.output(0))
        })
    }
}
