// add, sub, mul, div: y = a ∘ b elementwise, f32, with NumPy broadcasting over the
// per-sample dims (shapes aligned at the right; each pair of dims equal or one of them 1).
//
//   inputs a, b (values, each with its batch) → y;  or input a and tensor b (a constant,
//   rank ≤ 5, shared by every sample) → y.  The output shape is the broadcast shape.

public enum BinaryOps {
    public static var add: OpDescription { OpDescription(name: "add", check: check, run: runAdd) }
    public static var sub: OpDescription { OpDescription(name: "sub", check: check, run: runSub) }
    public static var mul: OpDescription { OpDescription(name: "mul", check: check, run: runMul) }
    public static var div: OpDescription { OpDescription(name: "div", check: check, run: runDiv) }

    // add (`runAdd` below) is compiled for speed in the size-optimised runtime (CMakeLists.txt): residual
    // networks run it on every block. sub, mul and div, off the hot paths of the exported
    // models, go straight to the size-optimised loop nest of `broadcast` (-2.3 KB).
    static func runSub(_ r: OpRun) { broadcast(r, .sub) }
    static func runMul(_ r: OpRun) { broadcast(r, .mul) }
    static func runDiv(_ r: OpRun) { broadcast(r, .div) }

    /// Which of the four ops `broadcast` runs (one copy of its loop nest for all four).
    enum Kind { case add, sub, mul, div }

    /// The second operand's shape and dtype: a value, or the op's constant tensor.
    static func second(_ g: Graph, _ op: GraphOp) -> (BundleShape, BundleDType) {
        if op.inputCount == 2 { let b = g.input(op, 1); return (b.shape, b.dtype) }
        let t = g.tensor(op, 0)
        return (t.shape, t.dtype)
    }

    static func check(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        guard op.outputCount == 1, (op.inputCount == 2 && op.tensorCount == 0) || (op.inputCount == 1 && op.tensorCount == 1) else {
            throw .corrupt
        }
        let a = g.input(op, 0), y = g.output(op, 0)
        let (bShape, bType) = second(g, op)
        guard a.dtype == .f32, bType == .f32, y.dtype == .f32 else { throw .unsupported }
        if op.tensorCount == 1 { guard g.tensor(op, 0).layout == .rowMajor else { throw .corrupt } }
        guard let shape = broadcastShape(a.shape, bShape), shape.same(as: y.shape) else { throw .shapeMismatch }
    }

    /// The broadcast of two shapes, or nil if a pair of dims differs and neither is 1.
    public static func broadcastShape(_ a: BundleShape, _ b: BundleShape) -> BundleShape? {
        let rank = Swift.max(a.rank, b.rank)
        guard rank <= BundleLimits.maxValueRank else { return nil }
        var out = BundleShape()
        out.rank = rank
        for i in 0..<rank {
            let da = i < rank - a.rank ? 1 : a.dim(i - (rank - a.rank))
            let db = i < rank - b.rank ? 1 : b.dim(i - (rank - b.rank))
            guard da == db || da == 1 || db == 1 else { return nil }
            out.setDim(i, Swift.max(da, db))
        }
        out.count = out.product(0, rank)
        return out
    }

    /// Element strides of `shape` seen as `rank` dims aligned at the right of `out`: 0 where it broadcasts.
    static func strides(_ shape: BundleShape, in out: BundleShape) -> BundleShape {
        var s = BundleShape()
        s.rank = out.rank
        var stride = 1
        var i = shape.rank - 1
        var o = out.rank - 1
        while o >= 0 {
            let d = i >= 0 ? shape.dim(i) : 1
            s.setDim(o, d == 1 ? 0 : stride)
            stride *= d
            i -= 1
            o -= 1
        }
        return s
    }

    /// add: same shapes run as one flat loop over the batch, anything else through `broadcast`.
    @inline(never)
    @_optimize(speed)
    static func runAdd(_ r: OpRun) {
        let out = r.outputValue(0).shape
        if r.op.inputCount == 2 && r.inputValue(0).shape.same(as: out) && r.inputValue(1).shape.same(as: out) {
            let a = r.f32(0), b = r.f32(1), y = r.f32Out(0)
            for i in 0..<(r.batch * out.count) { y[i] = a[i] + b[i] }
            return
        }
        broadcast(r, .add)
    }

    /// One output row of `n` elements: a and b `ia` and `ib` elements apart (1 or 0 for b broadcast).
    @inline(__always)
    @_optimize(speed)
    static func row(_ y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                    _ n: Int, _ ia: Int, _ ib: Int, _ f: (Float, Float) -> Float) {
        if ia == 1 && ib == 1 {
            for j in 0..<n { y[j] = f(a[j], b[j]) }
        } else if ia == 1 {
            for j in 0..<n { y[j] = f(a[j], b[j * ib]) }
        } else {
            for j in 0..<n { y[j] = f(a[j * ia], b[j * ib]) }
        }
    }

    /// The broadcasting case: five per-sample dims (padded with 1 at the left); the innermost runs in a loop.
    // Size-optimised: broadcasting, sub, mul and div are off the hot path of the exported
    // models (same-shape residual adds and per-channel scale_shift have their own loops).
    @inline(never)
    static func broadcast(_ r: OpRun, _ kind: Kind) {
        let out = r.outputValue(0).shape
        let aShape = r.inputValue(0).shape
        let bIsValue = r.op.inputCount == 2
        let bShape = bIsValue ? r.inputValue(1).shape : r.tensor(0).shape
        let a = r.f32(0), b = bIsValue ? r.f32(1) : r.tensorF32(0), y = r.f32Out(0)
        // Five per-sample dims (padded with 1 at the left); the innermost runs in a loop.
        var padded = BundleShape()
        padded.rank = BundleLimits.maxValueRank
        for i in 0..<out.rank { padded.setDim(BundleLimits.maxValueRank - out.rank + i, out.dim(i)) }
        let sa = strides(aShape, in: padded), sb = strides(bShape, in: padded)
        let aBatch = aShape.count, bBatch = bIsValue ? bShape.count : 0
        let d = padded
        let n = d.dim(4), ia = sa.dim(4), ib = sb.dim(4)
        var yo = 0
        for s in 0..<r.batch {
            for i0 in 0..<d.dim(0) {
                for i1 in 0..<d.dim(1) {
                    for i2 in 0..<d.dim(2) {
                        for i3 in 0..<d.dim(3) {
                            let ao = s * aBatch + i0 * sa.dim(0) + i1 * sa.dim(1) + i2 * sa.dim(2) + i3 * sa.dim(3)
                            let bo = s * bBatch + i0 * sb.dim(0) + i1 * sb.dim(1) + i2 * sb.dim(2) + i3 * sb.dim(3)
                            let ap = a + ao, bp = b + bo, yp = y + yo
                            switch kind {
                            case .add: row(yp, ap, bp, n, ia, ib) { $0 + $1 }
                            case .sub: row(yp, ap, bp, n, ia, ib) { $0 - $1 }
                            case .mul: row(yp, ap, bp, n, ia, ib) { $0 * $1 }
                            case .div: row(yp, ap, bp, n, ia, ib) { $0 / $1 }
                            }
                            yo += n
                        }
                    }
                }
            }
        }
    }
}
