/// Reverse-mode automatic differentiation on a tape of tensors.
///
/// Every operation that produces a tensor from inputs that require gradients records its
/// inputs (`parents`) and a closure that maps the output's gradient to its inputs'
/// gradients (`backwardFn`); forward and backward of each op sit side by side in the op's
/// file. `backward()` sorts the recorded graph topologically and replays the closures in
/// reverse — micrograd's design, at tensor granularity.

/// Whether operations record the graph. Turn it off for evaluation with `noGrad { … }`.
public enum GradMode {
    nonisolated(unsafe) static var enabledStorage = true
    /// `true` while operations are being recorded for autograd.
    public static var isEnabled: Bool { enabledStorage }
}

/// Runs `body` without recording operations (like `torch.no_grad()`): results do not
/// require gradients and hold no references to their inputs.
@discardableResult
public func noGrad<T>(_ body: () throws -> T) rethrows -> T {
    let saved = GradMode.enabledStorage
    GradMode.enabledStorage = false
    defer { GradMode.enabledStorage = saved }
    return try body()
}

extension Tensor {
    /// Builds the result of an op. When grad mode is on and any input requires gradients,
    /// the result records `inputs` and `backward`, which receives the result's gradient.
    /// While a `Tracer` is active (export), the op, its inputs and `attributes` are recorded
    /// too: `attributes` must hold everything besides the inputs that determines the output
    /// (axes, shapes, slopes, …), named as in the op's documentation.
    @inline(__always)
    static func result(_ op: String, shape: [Int], data: [Float], inputs: [Tensor],
                       attributes: @autoclosure () -> OpAttributes = [:],
                       backward: @escaping (_ outGrad: [Float]) -> Void) -> Tensor {
        let out = Tensor(shape: shape, data: data)
        out.op = op
        if let tracer = Tracer.current { tracer.record(op, inputs: inputs, output: out, attributes: attributes()) }
        if GradMode.enabledStorage && inputs.contains(where: { $0.requiresGrad }) {
            out.requiresGrad = true
            out.parents = inputs
            out.backwardFn = backward
        }
        return out
    }

    /// Adds `g` (same element count as this tensor) into the gradient buffer.
    @inline(__always)
    func accumulateGrad(_ g: [Float]) {
        guard requiresGrad else { return }
        if gradStorage == nil {
            gradStorage = g
        } else {
            gradStorage!.withUnsafeMutableBufferPointer { dst in
                g.withUnsafeBufferPointer { src in
                    for i in 0..<src.count { dst[i] += src[i] }
                }
            }
        }
    }

    /// Adds `g` into the gradient buffer through a closure that writes in place
    /// (avoids an allocation when the buffer already exists).
    @inline(__always)
    func accumulateGrad(count: Int, _ add: (UnsafeMutableBufferPointer<Float>) -> Void) {
        guard requiresGrad else { return }
        if gradStorage == nil { gradStorage = [Float](repeating: 0, count: count) }
        gradStorage!.withUnsafeMutableBufferPointer { add($0) }
    }

    /// Computes gradients of this tensor with respect to every tensor in its history that
    /// requires gradients, accumulating them into their `grad`.
    ///
    /// - Parameter gradient: the gradient of some downstream scalar with respect to this
    ///   tensor; may be omitted only for a one-element tensor (then it is 1).
    public func backward(_ gradient: Tensor? = nil) {
        check(requiresGrad, "backward: tensor (op \(op)) does not require grad; no parameter in its history requires it")
        let seed: [Float]
        if let g = gradient {
            check(g.shape == shape, "backward: gradient shape \(g.shape) does not match tensor shape \(shape)")
            seed = g.data
        } else {
            check(count == 1, "backward: implicit gradient only for one-element tensors, got shape \(shape); pass a gradient")
            seed = [1]
        }
        // Topological order by iterative depth-first search (deep graphs must not overflow the stack).
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            if visited.contains(ObjectIdentifier(node)) { continue }
            visited.insert(ObjectIdentifier(node))
            stack.append((node, true))
            for p in node.parents where p.requiresGrad && !visited.contains(ObjectIdentifier(p)) {
                stack.append((p, false))
            }
        }
        // Intermediate gradients live only for this pass; leaves keep theirs.
        var intermediates: [Tensor] = []
        accumulateGrad(seed)
        for node in order.reversed() {
            guard let fn = node.backwardFn, let g = node.gradStorage else { continue }
            fn(g)
            intermediates.append(node)
        }
        for node in intermediates where node !== self { node.gradStorage = nil }
    }
}
