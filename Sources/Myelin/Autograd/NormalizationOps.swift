import Foundation

// Layer normalisation and GELU as fused ops, forward and backward side by side (the layers
// over them are in NN/Normalization.swift; op table in NN/Recurrent.swift).

extension Tensor {
    /// Normalises over the last `axes` dimensions to zero mean and unit variance (biased
    /// variance, as PyTorch), then scales by `weight` and shifts by `bias` when given:
    /// `y = (x − mean) / √(var + eps) · weight + bias`.
    /// Shapes: x `[…, D₁, …, D_axes]`, weight and bias `[D₁, …, D_axes]` → y of x's shape.
    /// Recorded as `layer_norm` with inputs [x] or [x, weight, bias], attributes `eps`, `axes`.
    ///
    /// ```swift
    /// let x = Tensor.randn([2, 5, 8])
    /// x.layerNorm(axes: 1, weight: Tensor.ones([8]), bias: Tensor.zeros([8]))   // [2, 5, 8]
    /// ```
    public func layerNorm(axes: Int = 1, weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5) -> Tensor {
        check(axes >= 1 && axes <= rank, "layerNorm: axes must be in 1...\(rank) for shape \(shape), got \(axes)")
        let normalized = Array(shape.suffix(axes))
        check((weight == nil) == (bias == nil), "layerNorm: give both weight and bias or neither")
        if let w = weight, let b = bias {
            check(w.shape == normalized && b.shape == normalized,
                  "layerNorm: weight \(w.shape) and bias \(b.shape) must both be \(normalized) for input \(shape)")
        }
        let n = normalized.reduce(1, *), rows = n == 0 ? 0 : count / n
        // Local copies (no copy is made: arrays are shared until written) keep the loops off
        // the class properties' exclusivity checks. Kernels: LayerNormKernels.swift.
        let x = data, w = weight?.data ?? [Float](repeating: 1, count: n), b = bias?.data ?? [Float](repeating: 0, count: n)
        var xhat = uninitializedFloats(count), rstd = uninitializedFloats(rows), out = uninitializedFloats(count)
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                b.withUnsafeBufferPointer { bp in
                    xhat.withUnsafeMutableBufferPointer { hp in
                        rstd.withUnsafeMutableBufferPointer { sp in
                            out.withUnsafeMutableBufferPointer { yp in
                                guard rows > 0 else { return }
                                layerNormForward(x: xp.baseAddress!, weight: wp.baseAddress!, bias: bp.baseAddress!,
                                                 xhat: hp.baseAddress!, rstd: sp.baseAddress!, y: yp.baseAddress!,
                                                 rows: rows, n: n, eps: eps)
                            }
                        }
                    }
                }
            }
        }
        let input = self
        let inputs = weight.map { [self, $0, bias!] } ?? [self]
        let normalizedRows = xhat, rowScales = rstd
        return Tensor.result("layer_norm", shape: shape, data: out, inputs: inputs,
                             attributes: ["eps": .float(Double(eps)), "axes": .int(axes)]) { g in
            guard rows > 0 else { return }
            g.withUnsafeBufferPointer { gp in
                normalizedRows.withUnsafeBufferPointer { hp in
                    input.writeGrad(count: input.count) { dx, accumulate in
                        w.withUnsafeBufferPointer { wp in
                            rowScales.withUnsafeBufferPointer { sp in
                                layerNormBackwardInput(g: gp.baseAddress!, weight: wp.baseAddress!, xhat: hp.baseAddress!,
                                                       rstd: sp.baseAddress!, dx: dx.baseAddress!, rows: rows, n: n,
                                                       accumulate: accumulate)
                            }
                        }
                    }
                    weight?.accumulateGrad(count: n) { dw in
                        layerNormBackwardAffine(g: gp.baseAddress!, xhat: hp.baseAddress!, dw: dw.baseAddress!, db: nil, rows: rows, n: n)
                    }
                    bias?.accumulateGrad(count: n) { db in
                        layerNormBackwardAffine(g: gp.baseAddress!, xhat: hp.baseAddress!, dw: nil, db: db.baseAddress!, rows: rows, n: n)
                    }
                }
            }
        }
    }

    /// Gaussian error linear unit, `x · Φ(x)` with Φ the standard normal CDF (exact, through
    /// erf), or with `approximateTanh` PyTorch's `approximate='tanh'` form
    /// `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`. Shape unchanged. Recorded as `gelu` with
    /// `approximate` (0 exact, 1 tanh).
    ///
    /// ```swift
    /// Tensor([-1, 0, 1]).gelu()   // [-0.1587, 0, 0.8413]
    /// ```
    public func gelu(approximateTanh: Bool = false) -> Tensor {
        let attributes: OpAttributes = ["approximate": .int(approximateTanh ? 1 : 0)]
        if approximateTanh {
            let k = Float((2 / Double.pi).squareRoot())
            return unary("gelu", { x in 0.5 * x * (1 + Foundation.tanh(k * (x + 0.044715 * x * x * x))) },
                         attributes: attributes, derivative: { x, _ in
                let t = Foundation.tanh(k * (x + 0.044715 * x * x * x))
                return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
            })
        }
        // Exact form, 16 lanes at a time (`vectorErf`, absolute error < 1.5·10⁻⁷), scalar tail
        // with libm; the derivative Φ(x) + x·φ(x) is kept for the backward pass.
        let n = count
        var out = uninitializedFloats(n), slope = uninitializedFloats(n)
        data.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { yp in
                slope.withUnsafeMutableBufferPointer { sp in
                    guard n > 0 else { return }
                    geluExact(x: xp.baseAddress!, y: yp.baseAddress!, derivative: sp.baseAddress!, count: n)
                }
            }
        }
        let input = self, derivative = slope
        return Tensor.result("gelu", shape: shape, data: out, inputs: [self], attributes: attributes) { g in
            input.writeGrad(count: n) { acc, accumulate in
                derivative.withUnsafeBufferPointer { d in
                    g.withUnsafeBufferPointer { gp in
                        if accumulate {
                            for i in 0..<n { acc[i] += gp[i] * d[i] }
                        } else {
                            for i in 0..<n { acc[i] = gp[i] * d[i] }
                        }
                    }
                }
            }
        }
    }
}

/// y = x Φ(x) with Φ(x) = ½(1 + erf(x/√2)); also writes the derivative
/// d/dx xΦ(x) = Φ(x) + x·φ(x), φ(x) = e^{−x²/2}/√(2π) the standard normal density.
/// Shapes: all `[count]`.
private func geluExact(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, derivative: UnsafeMutablePointer<Float>,
                       count n: Int) {
    typealias V = SIMD16<Float>
    let invSqrt2 = Float(0.5.squareRoot()), invSqrt2Pi = Float(1 / (2 * Double.pi).squareRoot())
    var i = 0
    while i + 16 <= n {
        let v = V.load(x + i)
        let (e, gaussian) = vectorErf(v * invSqrt2)
        let phi = (e + 1) * 0.5
        (phi + v * (gaussian * invSqrt2Pi)).store(derivative + i)
        (v * phi).store(y + i)
        i += 16
    }
    while i < n {
        let phi = 0.5 * (1 + Foundation.erf(x[i] * invSqrt2))
        let density = Foundation.exp(-0.5 * x[i] * x[i]) * invSqrt2Pi
        derivative[i] = phi + x[i] * density
        y[i] = x[i] * phi
        i += 1
    }
}
