// User-defined differentiable ops through public API.

extension Tensor {
    /// A differentiable op written by the caller: the forward result is given (`shape`,
    /// `data`, computed however the caller likes), and `backward` maps the result's gradient
    /// (row-major, same count as `data`) to one gradient per input — same element count as
    /// that input, or `nil` for an input that gets none. It is recorded on the tape like a
    /// built-in op and, under a `Tracer`, as op `name` with `attributes` (an exporter only
    /// understands names it knows).
    ///
    /// ```swift
    /// // swish(x) = x · σ(x), with σ' = σ(1 − σ)
    /// func swish(_ x: Tensor) -> Tensor {
    ///     let s = x.data.map { 1 / (1 + exp(-$0)) }
    ///     return Tensor.custom("swish", inputs: [x], shape: x.shape,
    ///                          data: zip(x.data, s).map { $0 * $1 }) { g in
    ///         [(0..<g.count).map { i in g[i] * (s[i] + x.data[i] * s[i] * (1 - s[i])) }]
    ///     }
    /// }
    /// ```
    public static func custom(_ name: String, inputs: [Tensor], shape: [Int], data: [Float],
                              attributes: OpAttributes = [:],
                              backward: @escaping (_ outGrad: [Float]) -> [[Float]?]) -> Tensor {
        check(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == data.count,
              "custom \(name): shape \(shape) needs \(shape.reduce(1, *)) elements, got \(data.count)")
        return result(name, shape: shape, data: data, inputs: inputs, attributes: attributes) { g in
            let grads = backward(g)
            check(grads.count == inputs.count,
                  "custom \(name): backward returned \(grads.count) gradients for \(inputs.count) inputs")
            for (k, (input, grad)) in zip(inputs, grads).enumerated() {
                guard let grad else { continue }
                check(grad.count == input.count,
                      "custom \(name): gradient \(k) has \(grad.count) elements for input shape \(input.shape)")
                input.accumulateGrad(grad)
            }
        }
    }
}
