// Layer normalisation over rows of n elements, forward and backward, on raw buffers (issue 12,
// Transformer training speed). The fast kernels keep the arithmetic of the reference loops
// beside them exactly — each row's sums run in element order, one accumulator per row — but
// sum four rows at a time (four independent addition chains instead of one) and write every
// output element once (no zero fills). Results are bit-identical to the references (tested in
// TransformerKernelTests).

/// Forward pass over `rows` rows of `n`: per row mean μ and biased variance σ², rstd =
/// 1/√(σ²/… + eps), x̂ = (x − μ)·rstd, y = x̂·w + b. Shapes: x, xhat, y `[rows, n]`; w, b `[n]`;
/// rstd `[rows]`. Every element of xhat, rstd and y is written.
func layerNormForward(x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, bias b: UnsafePointer<Float>,
                      xhat: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>,
                      rows: Int, n: Int, eps: Float) {
    let count = Float(n)
    var r = 0
    while r + 4 <= rows {
        let x0 = x + r * n, x1 = x0 + n, x2 = x1 + n, x3 = x2 + n
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        for j in 0..<n { s0 += x0[j]; s1 += x1[j]; s2 += x2[j]; s3 += x3[j] }
        let m0 = s0 / count, m1 = s1 / count, m2 = s2 / count, m3 = s3 / count
        var v0: Float = 0, v1: Float = 0, v2: Float = 0, v3: Float = 0
        for j in 0..<n {
            let d0 = x0[j] - m0, d1 = x1[j] - m1, d2 = x2[j] - m2, d3 = x3[j] - m3
            v0 += d0 * d0; v1 += d1 * d1; v2 += d2 * d2; v3 += d3 * d3
        }
        let means = (m0, m1, m2, m3)
        let scales = (1 / (v0 / count + eps).squareRoot(), 1 / (v1 / count + eps).squareRoot(),
                      1 / (v2 / count + eps).squareRoot(), 1 / (v3 / count + eps).squareRoot())
        rstd[r] = scales.0; rstd[r + 1] = scales.1; rstd[r + 2] = scales.2; rstd[r + 3] = scales.3
        layerNormRowOutput(x0, m0, scales.0, w, b, xhat + r * n, y + r * n, n)
        layerNormRowOutput(x1, means.1, scales.1, w, b, xhat + (r + 1) * n, y + (r + 1) * n, n)
        layerNormRowOutput(x2, means.2, scales.2, w, b, xhat + (r + 2) * n, y + (r + 2) * n, n)
        layerNormRowOutput(x3, means.3, scales.3, w, b, xhat + (r + 3) * n, y + (r + 3) * n, n)
        r += 4
    }
    while r < rows {
        let xr = x + r * n
        var sum: Float = 0
        for j in 0..<n { sum += xr[j] }
        let mean = sum / count
        var variance: Float = 0
        for j in 0..<n { let d = xr[j] - mean; variance += d * d }
        let s = 1 / (variance / count + eps).squareRoot()
        rstd[r] = s
        layerNormRowOutput(xr, mean, s, w, b, xhat + r * n, y + r * n, n)
        r += 1
    }
}

/// x̂ = (x − mean)·rstd and y = x̂·w + b over one row (elementwise, 16 lanes at a time).
@inline(__always)
private func layerNormRowOutput(_ x: UnsafePointer<Float>, _ mean: Float, _ rstd: Float, _ w: UnsafePointer<Float>,
                                _ b: UnsafePointer<Float>, _ xhat: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                _ n: Int) {
    typealias V = SIMD16<Float>
    var j = 0
    while j + 16 <= n {
        let v = (V.load(x + j) - mean) * rstd
        v.store(xhat + j)
        (v * V.load(w + j) + V.load(b + j)).store(y + j)
        j += 16
    }
    while j < n {
        let v = (x[j] - mean) * rstd
        xhat[j] = v
        y[j] = v * w[j] + b[j]
        j += 1
    }
}

/// Backward pass of `layerNormForward` for the input: with ĝ = g ⊙ w per row,
/// dx = rstd · (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)). Shapes: g, xhat, dx `[rows, n]`; w `[n]`;
/// rstd `[rows]`. Adds into dx when `accumulate`, else overwrites it.
func layerNormBackwardInput(g: UnsafePointer<Float>, weight w: UnsafePointer<Float>, xhat: UnsafePointer<Float>,
                            rstd: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, rows: Int, n: Int, accumulate: Bool) {
    let count = Float(n)
    var r = 0
    @inline(__always) func row(_ r: Int, _ m1: Float, _ m2: Float) {
        let gr = g + r * n, xr = xhat + r * n, dr = dx + r * n, s = rstd[r]
        if accumulate {
            for j in 0..<n { dr[j] += s * (gr[j] * w[j] - m1 - xr[j] * m2) }
        } else {
            for j in 0..<n { dr[j] = s * (gr[j] * w[j] - m1 - xr[j] * m2) }
        }
    }
    while r + 4 <= rows {
        let g0 = g + r * n, g1 = g0 + n, g2 = g1 + n, g3 = g2 + n
        let h0 = xhat + r * n, h1 = h0 + n, h2 = h1 + n, h3 = h2 + n
        var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
        var c0: Float = 0, c1: Float = 0, c2: Float = 0, c3: Float = 0
        for j in 0..<n {
            let wj = w[j]
            let q0 = g0[j] * wj, q1 = g1[j] * wj, q2 = g2[j] * wj, q3 = g3[j] * wj
            a0 += q0; c0 += q0 * h0[j]
            a1 += q1; c1 += q1 * h1[j]
            a2 += q2; c2 += q2 * h2[j]
            a3 += q3; c3 += q3 * h3[j]
        }
        row(r, a0 / count, c0 / count)
        row(r + 1, a1 / count, c1 / count)
        row(r + 2, a2 / count, c2 / count)
        row(r + 3, a3 / count, c3 / count)
        r += 4
    }
    while r < rows {
        let gr = g + r * n, hr = xhat + r * n
        var a: Float = 0, c: Float = 0
        for j in 0..<n { let q = gr[j] * w[j]; a += q; c += q * hr[j] }
        row(r, a / count, c / count)
        r += 1
    }
}

/// The weight's and bias's gradients of `layerNormForward`, added into dw and db:
/// dw[j] += Σ_r g[r, j]·x̂[r, j], db[j] += Σ_r g[r, j], rows in order. Shapes: g, xhat
/// `[rows, n]`; dw, db `[n]` (either may be nil).
func layerNormBackwardAffine(g: UnsafePointer<Float>, xhat: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>?,
                             db: UnsafeMutablePointer<Float>?, rows: Int, n: Int) {
    for r in 0..<rows {
        let gr = g + r * n, hr = xhat + r * n
        if let dw { for j in 0..<n { dw[j] += gr[j] * hr[j] } }
        if let db { for j in 0..<n { db[j] += gr[j] } }
    }
}

// MARK: References (the loops the kernels replace, kept for the tests)

/// Naive layer norm over rows, one row at a time: (y, x̂, rstd) as `layerNormForward`.
func layerNormForwardReference(x: [Float], weight w: [Float], bias b: [Float], rows: Int, n: Int, eps: Float)
    -> (y: [Float], xhat: [Float], rstd: [Float]) {
    var xhat = [Float](repeating: 0, count: rows * n), rstd = [Float](repeating: 0, count: rows)
    var out = [Float](repeating: 0, count: rows * n)
    for r in 0..<rows {
        let base = r * n
        var mean: Float = 0
        for j in 0..<n { mean += x[base + j] }
        mean /= Float(n)
        var variance: Float = 0
        for j in 0..<n { let d = x[base + j] - mean; variance += d * d }
        let s = 1 / (variance / Float(n) + eps).squareRoot()
        rstd[r] = s
        for j in 0..<n {
            let v = (x[base + j] - mean) * s
            xhat[base + j] = v
            out[base + j] = v * w[j] + b[j]
        }
    }
    return (out, xhat, rstd)
}

/// Naive input gradient of layer norm (added to `dx`), as `layerNormBackwardInput`.
func layerNormBackwardInputReference(g: [Float], weight w: [Float], xhat: [Float], rstd: [Float], dx: inout [Float],
                                     rows: Int, n: Int) {
    for r in 0..<rows {
        var m1: Float = 0, m2: Float = 0
        for j in 0..<n {
            let gh = g[r * n + j] * w[j]
            m1 += gh; m2 += gh * xhat[r * n + j]
        }
        m1 /= Float(n); m2 /= Float(n)
        for j in 0..<n {
            let gh = g[r * n + j] * w[j]
            dx[r * n + j] += rstd[r] * (gh - m1 - xhat[r * n + j] * m2)
        }
    }
}
