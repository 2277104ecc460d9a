// The three products of a Linear layer with few outputs (a discriminator's or a regressor's
// head, Linear(3136 → 1)), 16 lanes at a time. Their naive reference is `gemmReference`
// (NarrowLinearKernelTests checks each against it, and GradientCheckTests the layer).
// GEMM pads its 32-column register tile: with one output column it did 32 times the work and
// packed the weights through a scalar edge path, 60 times slower than these dot products.

private typealias Lanes = SIMD16<Float>

/// Linear layers with at most this many outputs use the kernels of this file.
let narrowLinearMaxOutputs = 4

/// y[r, j] += Σ_p x[r, p] · w[j, p] for r < rows, j < outputs (x [rows, inputs], w [outputs,
/// inputs], y [rows, outputs], all row-major): per (row, output) four 16-lane partial sums,
/// added in a fixed order, then the scalar tail.
@inline(never)
@_optimize(speed)
func narrowLinearForward(rows: Int, inputs k: Int, outputs: Int, x: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                         y: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let xr = x + r * k
        for j in 0..<outputs {
            let wj = w + j * k
            var s0 = Lanes(), s1 = Lanes(), s2 = Lanes(), s3 = Lanes()
            var p = 0
            while p + 64 <= k {
                s0.addProduct(UnsafeRawPointer(xr + p).loadUnaligned(as: Lanes.self), UnsafeRawPointer(wj + p).loadUnaligned(as: Lanes.self))
                s1.addProduct(UnsafeRawPointer(xr + p + 16).loadUnaligned(as: Lanes.self), UnsafeRawPointer(wj + p + 16).loadUnaligned(as: Lanes.self))
                s2.addProduct(UnsafeRawPointer(xr + p + 32).loadUnaligned(as: Lanes.self), UnsafeRawPointer(wj + p + 32).loadUnaligned(as: Lanes.self))
                s3.addProduct(UnsafeRawPointer(xr + p + 48).loadUnaligned(as: Lanes.self), UnsafeRawPointer(wj + p + 48).loadUnaligned(as: Lanes.self))
                p += 64
            }
            while p + 16 <= k {
                s0.addProduct(UnsafeRawPointer(xr + p).loadUnaligned(as: Lanes.self), UnsafeRawPointer(wj + p).loadUnaligned(as: Lanes.self))
                p += 16
            }
            var sum = ((s0 + s1) + (s2 + s3)).sum()
            while p < k { sum += xr[p] * wj[p]; p += 1 }
            y[r * outputs + j] += sum
        }
    }
}

/// gx[r, p] (+)= Σ_j gy[r, j] · w[j, p] (gy [rows, outputs], w [outputs, inputs], gx [rows,
/// inputs]): added when `accumulate`, else written. Each element sums its outputs in order j = 0, 1, …
@inline(never)
@_optimize(speed)
func narrowLinearInputGradient(rows: Int, inputs k: Int, outputs: Int, gradY gy: UnsafePointer<Float>,
                               weight w: UnsafePointer<Float>, gradX gx: UnsafeMutablePointer<Float>, accumulate: Bool) {
    for r in 0..<rows {
        let out = gx + r * k, g = gy + r * outputs
        var p = 0
        while p + 16 <= k {
            var v = accumulate ? UnsafeRawPointer(out + p).loadUnaligned(as: Lanes.self) : Lanes()
            for j in 0..<outputs { v.addProduct(Lanes(repeating: g[j]), UnsafeRawPointer(w + j * k + p).loadUnaligned(as: Lanes.self)) }
            UnsafeMutableRawPointer(out + p).storeBytes(of: v, as: Lanes.self)
            p += 16
        }
        while p < k {
            var v: Float = accumulate ? out[p] : 0
            for j in 0..<outputs { v += g[j] * w[j * k + p] }
            out[p] = v
            p += 1
        }
    }
}

/// gw[j, p] (+)= Σ_r gy[r, j] · x[r, p] (gy [rows, outputs], x [rows, inputs], gw [outputs,
/// inputs]): added when `accumulate`, else written. Each element sums its rows in order r = 0, 1, …
@inline(never)
@_optimize(speed)
func narrowLinearWeightGradient(rows: Int, inputs k: Int, outputs: Int, gradY gy: UnsafePointer<Float>,
                                x: UnsafePointer<Float>, gradW gw: UnsafeMutablePointer<Float>, accumulate: Bool) {
    for j in 0..<outputs {
        let out = gw + j * k
        if !accumulate { out.update(repeating: 0, count: k) }
        for r in 0..<rows {
            let scale = gy[r * outputs + j], xr = x + r * k
            let s = Lanes(repeating: scale)
            var p = 0
            while p + 16 <= k {
                var v = UnsafeRawPointer(out + p).loadUnaligned(as: Lanes.self)
                v.addProduct(s, UnsafeRawPointer(xr + p).loadUnaligned(as: Lanes.self))
                UnsafeMutableRawPointer(out + p).storeBytes(of: v, as: Lanes.self)
                p += 16
            }
            while p < k { out[p] += scale * xr[p]; p += 1 }
        }
    }
}
