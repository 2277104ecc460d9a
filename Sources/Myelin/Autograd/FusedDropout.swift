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
        var kept = [UInt8](unsafeUninitializedCapacity: n) { _, initialized in initialized = n }
        var out = uninitializedFloats(n)
        let scale = 1 / (1 - p)
        var state = generator.state
        data.withUnsafeBufferPointer { x in
            kept.withUnsafeMutableBufferPointer { k in
                out.withUnsafeMutableBufferPointer { y in
                    guard n > 0 else { return }
                    dropoutMask(state: &state, p: p, scale: scale, x: x.baseAddress!, kept: k.baseAddress!,
                                y: y.baseAddress!, count: n)
                }
            }
        }
        generator.state = state
        if Tracer.current != nil { return self * Tensor(shape: shape, data: kept.map { $0 != 0 ? scale : 0 }) }
        let input = self
        return Tensor.result("dropout", shape: shape, data: out, inputs: [self], attributes: ["p": .float(Double(p))]) { g in
            input.writeGrad(count: n) { acc, accumulate in
                kept.withUnsafeBufferPointer { k in
                    g.withUnsafeBufferPointer { gp in
                        if accumulate {
                            for i in 0..<n { acc[i] += gp[i] * (k[i] != 0 ? scale : 0) }
                        } else {
                            for i in 0..<n { acc[i] = gp[i] * (k[i] != 0 ? scale : 0) }
                        }
                    }
                }
            }
        }
    }
}

/// The dropout mask of `count` elements drawn from xoshiro256** `state` (advanced by `count`
/// steps): element i is kept (kept[i] = 1, y = x·scale) when the i-th draw's uniform
/// (`Generator.uniform`) is ≥ p, else dropped (kept[i] = 0, y = x·0). Shapes: x, kept, y
/// `[count]`.
///
/// The same draws as `Generator.step` one by one, in two passes per block of 512: the state
/// recurrence alone (a serial chain), storing the word each output is scrambled from, then
/// the scrambler (`rotl(s·5, 7)·9`), the compare and the mask over the block, which vectorise.
/// The uniform is the draw's top 24 bits k times 2⁻²⁴ (both exact), so it is ≥ p exactly when
/// k ≥ ⌈p·2²⁴⌉: the compare is on the integer.
func dropoutMask(state: inout (UInt64, UInt64, UInt64, UInt64), p: Float, scale: Float, x: UnsafePointer<Float>,
                 kept: UnsafeMutablePointer<UInt8>, y: UnsafeMutablePointer<Float>, count n: Int) {
    let threshold = dropoutThreshold(p: p)
    let block = 512
    withUnsafeTemporaryAllocation(of: UInt64.self, capacity: block) { words in
        let w = words.baseAddress!
        var start = 0
        while start < n {
            let length = Swift.min(block, n - start)
            for i in 0..<length {
                w[i] = state.1
                _ = Generator.step(&state)
            }
            let xs = x + start, ks = kept + start, ys = y + start
            for i in 0..<length {
                let keep = (Generator.rotl(w[i] &* 5, 7) &* 9) >> 40 >= threshold
                ks[i] = keep ? 1 : 0
                ys[i] = xs[i] * (keep ? scale : 0)
            }
            start += length
        }
    }
}

/// The least top-24-bit draw k whose uniform k·2⁻²⁴ is ≥ p (p in [0, 1)): ⌈p·2²⁴⌉, exact
/// since scaling by 2²⁴ is.
func dropoutThreshold(p: Float) -> UInt64 { UInt64((p * 16_777_216).rounded(.up)) }

/// The reference: one `Generator.uniform(Generator.step(&state)) >= p` per element, in order
/// (what `dropoutMask` must reproduce bit for bit).
func dropoutMaskReference(state: inout (UInt64, UInt64, UInt64, UInt64), p: Float, scale: Float, x: [Float]) -> (mask: [Float], y: [Float]) {
    var mask = [Float](repeating: 0, count: x.count), y = mask
    for i in 0..<x.count {
        let keep: Float = Generator.uniform(Generator.step(&state)) >= p ? scale : 0
        mask[i] = keep
        y[i] = x[i] * keep
    }
    return (mask, y)
}
