// Elementwise activations and the softmax family, f32 → f32, any per-sample shape. The
// formulas and libm functions are the training ops' (Sources/Myelin/Autograd/Activations.swift),
// so exported models give the trained model's numbers.
//
//   relu        y = max(x, 0)
//   leaky_relu  y = x > 0 ? x : slope·x          attribute slope (float64, required)
//   elu         y = x > 0 ? x : alpha·(eˣ − 1)    attribute alpha (float64, required)
//   sigmoid     y = 1/(1 + e⁻ˣ), computed as eˣ/(1 + eˣ) for x < 0
//   tanh        y = tanh x
//   softmax     along `axis`: y = e^(x − max) / Σ e^(x − max)
//   log_softmax along `axis`: y = (x − max) − log Σ e^(x − max)

#if MYELIN_RUNTIME
import CZlibRuntime
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum ActivationOps {
    /// One f32 input, one f32 output of the same shape; `params.n` = elements per sample.
    static func checkUnary(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        try opExpect(op, inputs: 1, outputs: 1, tensors: 0)
        let x = g.input(op, 0), y = g.output(op, 0)
        guard x.dtype == .f32, y.dtype == .f32 else { throw .unsupported }
        guard x.shape.same(as: y.shape) else { throw .shapeMismatch }
        op.params.n = x.count
    }

    static func checkParameter(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        try checkUnary(g, &op)
        op.params.value = Float(g.float(op, op.code == .elu ? .alpha : .slope))
    }

    static func checkAxis(_ g: Graph, _ op: inout GraphOp) throws(BundleStatus) {
        try checkUnary(g, &op)
        let x = g.input(op, 0)
        opSplit(&op.params, x.shape, axis: try opAxis(g, op, rank: x.shape.rank))
    }

    /// y = f(x) over the whole batch.
    @inline(__always)
    @_optimize(speed)
    static func map(_ r: OpRun, _ f: (Float) -> Float) {
        let x = r.f32(0), y = r.f32Out(0)
        for i in 0..<(r.batch * r.params.n) { y[i] = f(x[i]) }
    }

    public static var relu: OpDescription {
        OpDescription(name: "relu", check: checkUnary, run: runReLU)
    }

    @inline(never)
    @_optimize(speed)
    static func runReLU(_ r: OpRun) { map(r) { Swift.max($0, 0) } }

    public static var leakyRelu: OpDescription {
        OpDescription(name: "leaky_relu", schema: OpSchema(.float(.slope)), check: checkParameter, run: runLeakyReLU)
    }

    @inline(never)
    @_optimize(speed)
    static func runLeakyReLU(_ r: OpRun) {
        let slope = r.params.value
        map(r) { $0 > 0 ? $0 : slope * $0 }
    }

    public static var elu: OpDescription {
        OpDescription(name: "elu", schema: OpSchema(.float(.alpha)), check: checkParameter, run: runELU)
    }

    @inline(never)
    @_optimize(speed)
    static func runELU(_ r: OpRun) {
        let alpha = r.params.value
        map(r) { $0 > 0 ? $0 : alpha * expm1f($0) }
    }

    public static var sigmoid: OpDescription {
        OpDescription(name: "sigmoid", check: checkUnary, run: runSigmoid)
    }

    @inline(never)
    @_optimize(speed)
    static func runSigmoid(_ r: OpRun) {
        map(r) { v in
            if v >= 0 { return 1 / (1 + expf(-v)) }
            let e = expf(v)
            return e / (1 + e)
        }
    }

    public static var tanh: OpDescription {
        OpDescription(name: "tanh", check: checkUnary, run: runTanh)
    }

    @inline(never)
    @_optimize(speed)
    static func runTanh(_ r: OpRun) { map(r) { tanhf($0) } }

    public static var softmax: OpDescription {
        OpDescription(name: "softmax", schema: OpSchema(.int(.axis)), check: checkAxis, run: { r in softmax(r, log: false) })
    }

    public static var logSoftmax: OpDescription {
        OpDescription(name: "log_softmax", schema: OpSchema(.int(.axis)), check: checkAxis, run: { r in softmax(r, log: true) })
    }

    /// Over `extent` elements `inner` apart, for each of `batch · outer · inner` lines.
    @inline(never)
    @_optimize(speed)
    static func softmax(_ r: OpRun, log: Bool) {
        let p = r.params
        let x = r.f32(0), y = r.f32Out(0)
        let n = p.extent, s = p.inner
        for o in 0..<(r.batch * p.outer) {
            for i in 0..<s {
                let base = o * n * s + i
                var top = -Float.infinity
                for j in 0..<n { top = Swift.max(top, x[base + j * s]) }
                var z: Float = 0
                if log {
                    for j in 0..<n { z += expf(x[base + j * s] - top) }
                    let logZ = logf(z)
                    for j in 0..<n { y[base + j * s] = (x[base + j * s] - top) - logZ }
                } else {
                    for j in 0..<n { let e = expf(x[base + j * s] - top); y[base + j * s] = e; z += e }
                    for j in 0..<n { y[base + j * s] /= z }
                }
            }
        }
    }
}
