// Inverted dropout as one node (issue 12, Transformer training speed): the unfused form drew
// the mask element by element through `Generator.nextUniform()` into a float tensor and then
// ran a broadcasting `mul`, each a full pass with its own allocation and gradient buffer.

extension Tensor {
    /// Inverted dropout: each element kept with probability 1 − p and scaled by 1/(1 − p),
    /// else 0. One 64-bit draw of `generator` decides two elements: element 2i is kept when
    /// the uniform of the draw's top 24 bits (`nextUniform()`'s) is ≥ p, element 2i + 1 when
    /// that of bits 16–39 is — half the generator steps of a draw per element, which is what
    /// this op's time went to. The same generator state gives the same mask.
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
        data.withUnsafeBufferPointer { x in
            mask.withUnsafeMutableBufferPointer { m in
                out.withUnsafeMutableBufferPointer { y in
                    var i = 0
                    while i < n {
                        let bits = Generator.step(&state)
                        let first: Float = Generator.uniform(bits) >= p ? scale : 0
                        m[i] = first
                        y[i] = x[i] * first
                        if i + 1 < n {
                            let second: Float = Generator.uniform(bits << 24) >= p ? scale : 0
                            m[i + 1] = second
                            y[i + 1] = x[i + 1] * second
                        }
                        i += 2
                    }
                }
            }
        }
        generator.state = state
        if Tracer.current != nil { return self * Tensor(shape: shape, data: mask) }
        let input = self
        return Tensor.result("dropout", shape: shape, data: out, inputs: [self], attributes: ["p": .float(Double(p))]) { g in
            // g ⊙ mask, written straight into a fresh gradient buffer unless one exists to add to.
            guard input.requiresGrad else { return }
            let existing = input.gradStorage != nil
            if !existing { input.gradStorage = uninitializedFloats(n) }
            input.gradStorage!.withUnsafeMutableBufferPointer { acc in
                mask.withUnsafeBufferPointer { m in
                    g.withUnsafeBufferPointer { gp in
                        if existing { for i in 0..<n { acc[i] += gp[i] * m[i] } } else { for i in 0..<n { acc[i] = gp[i] * m[i] } }
                    }
                }
            }
        }
    }
}
