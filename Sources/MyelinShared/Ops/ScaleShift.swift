// scale_shift: a per-channel affine map along `axis` (inference BatchNorm that could not be
// folded into a linear layer).
//
//   x f32 → y f32, same shape: y[..., c, ...] = x[..., c, ...] · scale[c] + shift[c]
//   tensors scale f32 [C], shift f32 [C] with C = x.dims[axis];  attribute axis

public enum ScaleShiftOp {
    public static var description: OpDescription {
        OpDescription(name: "scale_shift", schema: OpSchema(.int(.axis)), check: check, run: run)
    }

    static func check(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        try opExpect(op, inputs: 1, outputs: 1, tensors: 2)
        let x = g.input(op, 0), y = g.output(op, 0), s = g.tensor(op, 0), t = g.tensor(op, 1)
        guard x.dtype == .f32, y.dtype == .f32, s.dtype == .f32, t.dtype == .f32 else { throw .unsupported }
        guard x.shape.same(as: y.shape) else { throw .shapeMismatch }
        let axis = try opAxis(g, op, rank: x.shape.rank)
        let c = x.shape.dim(axis)
        guard s.shape.rank == 1, s.shape.dim(0) == c, t.shape.rank == 1, t.shape.dim(0) == c else { throw .shapeMismatch }
        opSplit(&op.params, x.shape, axis: axis)
    }

    @inline(never)
    @_optimize(speed)
    static func run(_ r: OpRun) {
        let p = r.params, x = r.f32(0), y = r.f32Out(0), scale = r.tensorF32(0), shift = r.tensorF32(1)
        var at = 0
        for _ in 0..<(r.batch * p.outer) {
            for c in 0..<p.extent {
                let s = scale[c], t = shift[c]
                for i in 0..<p.inner { y[at + i] = x[at + i] * s + t }
                at += p.inner
            }
        }
    }
}
