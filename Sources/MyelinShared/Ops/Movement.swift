// Ops that move elements without arithmetic, for f32, u8 and i32 values (a u8 output has
// its inputs' scale and zero point). Axes are per-sample axes, 0 = first dim after the batch.
//
//   concat     x₁ … xₙ → y along `axis`; other dims equal            attribute axis
//   reshape    x → y with the same elements per sample, y's dims = `shape`    attribute shape (int64 list)
//              (the output shares the input's memory unless it is a graph output)
//   transpose  y.dims[i] = x.dims[perm[i]]                            attribute perm (int64 list, a permutation)
//   slice      y = x[start ..< end by step] along `axis`             attributes axis, start, end, step (default 1)
//
// Attribute values that can never be valid (negative axis, perm not a permutation, step < 1,
// a reshape dim < 1) are `.corrupt`; values that do not fit the operand shapes are `.shapeMismatch`.

public enum MovementOps {
    /// Same dtype, and for u8 the same quantization, as the output; only dtypes the executor moves.
    static func checkLike(_ x: GraphValue, _ y: GraphValue) throws(BundleStatus) {
        guard x.dtype == y.dtype, x.dtype == .f32 || x.dtype == .u8 || x.dtype == .i32 else { throw .unsupported }
        guard x.scale == y.scale, x.zeroPoint == y.zeroPoint else { throw .unsupported }
    }

    // MARK: concat

    public static var concat: OpDescription {
        OpDescription(name: "concat", schema: OpSchema(.int(.axis)), check: checkConcat, run: { r in
            let p = r.params, size = r.outputValue(0).dtype.size
            var dst = r.output(0)
            for o in 0..<(r.batch * p.outer) {
                for i in 0..<r.op.inputCount {
                    let x = r.inputValue(i)
                    let bytes = x.shape.dim(p.axis) * p.inner * size
                    dst.copyMemory(from: r.input(i) + o * bytes, byteCount: bytes)
                    dst += bytes
                }
            }
        })
    }

    static func checkConcat(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        guard op.inputCount >= 1, op.outputCount == 1, op.tensorCount == 0 else { throw .corrupt }
        let y = g.output(op, 0)
        let axis = try opAxis(g, op, rank: y.shape.rank)
        var total = 0
        for i in 0..<op.inputCount {
            let x = g.input(op, i)
            try checkLike(x, y)
            guard x.shape.rank == y.shape.rank else { throw .shapeMismatch }
            for d in 0..<y.shape.rank where d != axis && x.shape.dim(d) != y.shape.dim(d) { throw .shapeMismatch }
            total += x.shape.dim(axis)
        }
        guard total == y.shape.dim(axis) else { throw .shapeMismatch }
        opSplit(&op.params, y.shape, axis: axis)
    }

    // MARK: reshape

    public static var reshape: OpDescription {
        OpDescription(name: "reshape", schema: OpSchema(.ints(.shape)), check: checkReshape, run: { r in
            guard !r.params.aliasesInput else { return }
            r.output(0).copyMemory(from: r.input(0), byteCount: r.batch * r.inputValue(0).bytesPerSample)
        })
    }

    static func checkReshape(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        try opExpect(op, inputs: 1, outputs: 1, tensors: 0)
        let x = g.input(op, 0), y = g.output(op, 0), shape = g.attribute(op, .shape)!
        try checkLike(x, y)
        for i in 0..<shape.count { guard shape.int(i) >= 1 else { throw .corrupt } }
        guard shape.count == y.shape.rank else { throw .shapeMismatch }
        for i in 0..<shape.count where shape.int(i) != Int64(y.shape.dim(i)) { throw .shapeMismatch }
        guard x.count == y.count else { throw .shapeMismatch }
        op.params.aliasesInput = !y.isOutput
    }

    // MARK: transpose

    public static var transpose: OpDescription {
        OpDescription(name: "transpose", schema: OpSchema(.ints(.perm)), check: checkTranspose, run: runTranspose)
    }

    static func checkTranspose(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        try opExpect(op, inputs: 1, outputs: 1, tensors: 0)
        let x = g.input(op, 0), y = g.output(op, 0), perm = g.attribute(op, .perm)!
        try checkLike(x, y)
        // A permutation of 0 ..< count: every entry in range and none repeated.
        var seen: UInt64 = 0
        for i in 0..<perm.count {
            let p = perm.int(i)
            guard p >= 0, p < Int64(perm.count), seen & (1 << UInt64(p)) == 0 else { throw .corrupt }
            seen |= 1 << UInt64(p)
        }
        guard perm.count == x.shape.rank, y.shape.rank == x.shape.rank else { throw .shapeMismatch }
        var permutation = OpParams().perm
        withUnsafeMutableBytes(of: &permutation) { b in
            for i in 0..<perm.count { b.storeBytes(of: Int(perm.int(i)), toByteOffset: 8 * i, as: Int.self) }
        }
        for i in 0..<perm.count where y.shape.dim(i) != x.shape.dim(Int(perm.int(i))) { throw .shapeMismatch }
        op.params.perm = permutation
    }

    // Size-optimised: no exported model transposes on its hot path (channel shuffle is its own op).
    @inline(never)
    static func runTranspose(_ r: OpRun) {
        let x = r.inputValue(0), y = r.outputValue(0), size = x.dtype.size
        let rank = x.shape.rank
        // Input element strides, then for each output dim (padded to 5 at the left) the stride
        // of the input dim it reads.
        var inStride = BundleShape()
        inStride.rank = rank
        var s = 1
        for i in stride(from: rank - 1, through: 0, by: -1) { inStride.setDim(i, s); s *= x.shape.dim(i) }
        var dims = BundleShape(), strides = BundleShape()
        dims.rank = 5; strides.rank = 5
        var perm = r.params.perm
        for i in 0..<rank {
            let p = withUnsafePointer(to: &perm) { UnsafeRawPointer($0).assumingMemoryBound(to: Int.self)[i] }
            dims.setDim(5 - rank + i, y.shape.dim(i))
            strides.setDim(5 - rank + i, inStride.dim(p))
        }
        for i in 0..<(5 - rank) { strides.setDim(i, 0) }
        let count = x.count
        let src = r.input(0), dst = r.output(0)
        var o = 0
        for b in 0..<r.batch {
            let base = b * count
            for i0 in 0..<dims.dim(0) {
                for i1 in 0..<dims.dim(1) {
                    for i2 in 0..<dims.dim(2) {
                        for i3 in 0..<dims.dim(3) {
                            let at = base + i0 * strides.dim(0) + i1 * strides.dim(1) + i2 * strides.dim(2) + i3 * strides.dim(3)
                            let step = strides.dim(4)
                            if size == 4 {
                                let from = src.assumingMemoryBound(to: UInt32.self) + at, to = dst.assumingMemoryBound(to: UInt32.self) + o
                                for j in 0..<dims.dim(4) { to[j] = from[j * step] }
                            } else {
                                let from = src.assumingMemoryBound(to: UInt8.self) + at, to = dst.assumingMemoryBound(to: UInt8.self) + o
                                for j in 0..<dims.dim(4) { to[j] = from[j * step] }
                            }
                            o += dims.dim(4)
                        }
                    }
                }
            }
        }
    }

    // MARK: slice

    public static var slice: OpDescription {
        OpDescription(name: "slice", schema: OpSchema(.int(.axis), .int(.start), .int(.end), .int(.step, default: 1)),
                      check: checkSlice, run: { r in
            let p = r.params, size = r.outputValue(0).dtype.size
            let inExtent = r.inputValue(0).shape.dim(p.axis), outExtent = p.extent
            let row = p.inner * size
            var dst = r.output(0)
            for o in 0..<(r.batch * p.outer) {
                let src = r.input(0) + o * inExtent * row
                for j in 0..<outExtent {
                    dst.copyMemory(from: src + (p.start + j * p.step) * row, byteCount: row)
                    dst += row
                }
            }
        })
    }

    static func checkSlice(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        try opExpect(op, inputs: 1, outputs: 1, tensors: 0)
        let x = g.input(op, 0), y = g.output(op, 0)
        try checkLike(x, y)
        let start = g.int(op, .start), end = g.int(op, .end), step = g.int(op, .step)
        guard start >= 0, end >= 0, step >= 1 else { throw .corrupt }
        let axis = try opAxis(g, op, rank: x.shape.rank)
        let extent = Int64(x.shape.dim(axis))
        guard start < end, end <= extent else { throw .shapeMismatch }
        let count = (end - start + step - 1) / step
        guard y.shape.rank == x.shape.rank, Int64(y.shape.dim(axis)) == count else { throw .shapeMismatch }
        for d in 0..<x.shape.rank where d != axis && x.shape.dim(d) != y.shape.dim(d) { throw .shapeMismatch }
        opSplit(&op.params, y.shape, axis: axis)
        op.params.start = Int(start)
        op.params.step = Int(step)
    }
}
