// Inverted dropout as one node (issue 12, Transformer training speed): the unfused form drew
// the mask element by element through `Generator.nextUniform()` into a float tensor and then
// ran a broadcasting `mul`, each a full pass with its own allocation and gradient buffer.

extension Tensor {
    /// Inverted dropout: each element kept with probability 1 − p and scaled by 1/(1 − p),
    /// else 0. Draws one `Generator.nextUniform()` per element in order (element kept when the
    /// draw is ≥ p), so the mask and the generator's state afterwards are exactly those of
    /// `self * Tensor(mask)` built element by element, as `Dropout` did.
    ///
    /// - Shape: any → same shape.
    /// - Recorded as `mul` of `self` and the mask tensor (a constant), the op export knows;
    ///   outside a tracer one `dropout` node whose backward multiplies by the kept mask.
    ///
    /// ```swift
    /// let y = Tensor.randn([64, 96]).dropout(p: 0.1, generator: Generator(seed: 1))   // [64, 96]
    /// ```
    func dropout(p: Float, generator: Generator) -> Tensor {
        check(p >= 0 && p < 1, "dropout: p must be in [0, 1), got \(p)")
        let n = count
        var mask = uninitializedFloats(n)
        var out = uninitializedFloats(n)
        let scale = 1 / (1 - p)
        var state = generator.state
        // `Generator.uniform(bits) >= p` without the float conversion: the uniform is the top
        // 24 bits k times 2⁻²⁴ (both exact), so it is ≥ p exactly when k ≥ ⌈p·2²⁴⌉.
        let threshold = UInt64((p * 16_777_216).rounded(.up))
        data.withUnsafeBufferPointer { x in
            mask.withUnsafeMutableBufferPointer { m in
                out.withUnsafeMutableBufferPointer { y in
                    for i in 0..<n {
                        let keep: Float = Generator.step(&state) >> 40 >= threshold ? scale : 0
                        m[i] = keep
                        y[i] = x[i] * keep
                    }
                }
            }
        }
        generator.state = state
        if Tracer.current != nil { return self * Tensor(shape: shape, data: mask) }
        let input = self
        return Tensor.result("dropout", shape: shape, data: out, inputs: [self], attributes: ["p": .float(Double(p))]) { g in
            input.writeGrad(count: n) { acc, accumulate in
                mask.withUnsafeBufferPointer { m in
                    g.withUnsafeBufferPointer { gp in
                        if accumulate {
                            for i in 0..<n { acc[i] += gp[i] * m[i] }
                        } else {
                            for i in 0..<n { acc[i] = gp[i] * m[i] }
                        }
                    }
                }
            }
        }
    }
}
