// matmul: y[..., i, j] = Σ_p a[..., i, p] · b[..., p, j], f32.
//
//   inputs a [..., m, k], b [..., k, n] (values) → y [..., m, n];  or input a and tensor b
//   (a constant shared by every sample). The leading dims broadcast (NumPy rules).
//
// Each output row is summed in order of p from zero (a row of a times b, as axpy updates).

public enum MatMulOp {
    public static var description: OpDescription {
        OpDescription(name: "matmul", check: check, run: run)
    }

    static func check(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        guard op.outputCount == 1, (op.inputCount == 2 && op.tensorCount == 0) || (op.inputCount == 1 && op.tensorCount == 1) else {
            throw .corrupt
        }
        let a = g.input(op, 0), y = g.output(op, 0)
        let (b, bType) = BinaryOps.second(g, op)
        guard a.dtype == .f32, bType == .f32, y.dtype == .f32 else { throw .unsupported }
        if op.tensorCount == 1 { guard g.tensor(op, 0).layout == .rowMajor else { throw .corrupt } }
        guard a.shape.rank >= 2, b.rank >= 2, y.shape.rank >= 2 else { throw .shapeMismatch }
        let m = a.shape.dim(a.shape.rank - 2), k = a.shape.dim(a.shape.rank - 1)
        let n = b.dim(b.rank - 1)
        guard b.dim(b.rank - 2) == k else { throw .shapeMismatch }
        guard let lead = BinaryOps.broadcastShape(leading(a.shape), leading(b)), lead.rank + 2 == y.shape.rank else { throw .shapeMismatch }
        for i in 0..<lead.rank where lead.dim(i) != y.shape.dim(i) { throw .shapeMismatch }
        guard y.shape.dim(lead.rank) == m, y.shape.dim(lead.rank + 1) == n else { throw .shapeMismatch }
        op.params.rows = m
        op.params.k = k
        op.params.n = n
    }

    /// All dims but the last two.
    static func leading(_ s: BundleShape) -> BundleShape {
        var l = BundleShape()
        l.rank = s.rank - 2
        for i in 0..<l.rank { l.setDim(i, s.dim(i)) }
        l.count = l.product(0, l.rank)
        return l
    }

    // Size-optimised: a product of two computed values is rare in exported models.
    @inline(never)
    static func run(_ r: OpRun) {
        let p = r.params, m = p.rows, k = p.k, n = p.n
        let bIsValue = r.op.inputCount == 2
        let aShape = r.inputValue(0).shape, bShape = bIsValue ? r.inputValue(1).shape : r.tensor(0).shape
        let a = r.f32(0), b = bIsValue ? r.f32(1) : r.tensorF32(0), y = r.f32Out(0)
        let y3 = r.outputValue(0).shape
        // Leading dims of y padded to 3 at the left, with the matrix strides of a and b (0 where they broadcast).
        var lead = leading(y3)
        var padded = BundleShape()
        padded.rank = 3
        for i in 0..<lead.rank { padded.setDim(3 - lead.rank + i, lead.dim(i)) }
        lead = padded
        let sa = BinaryOps.strides(leading(aShape), in: lead), sb = BinaryOps.strides(leading(bShape), in: lead)
        let aBatch = aShape.count, bBatch = bIsValue ? bShape.count : 0
        var yp = y
        for s in 0..<r.batch {
            for i0 in 0..<lead.dim(0) {
                for i1 in 0..<lead.dim(1) {
                    for i2 in 0..<lead.dim(2) {
                        let ap = a + s * aBatch + (i0 * sa.dim(0) + i1 * sa.dim(1) + i2 * sa.dim(2)) * m * k
                        let bp = b + s * bBatch + (i0 * sb.dim(0) + i1 * sb.dim(1) + i2 * sb.dim(2)) * k * n
                        for i in 0..<m {
                            let row = yp + i * n
                            for j in 0..<n { row[j] = 0 }
                            for q in 0..<k {
                                let v = ap[i * k + q], brow = bp + q * n
                                for j in 0..<n { row[j] += v * brow[j] }
                            }
                        }
                        yp += m * n
                    }
                }
            }
        }
    }
}
