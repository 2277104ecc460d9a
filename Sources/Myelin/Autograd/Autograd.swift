/// Reverse-mode automatic differentiation on a tape of tensors.
///
/// Every operation that produces a tensor from inputs that require gradients records its
/// inputs (`parents`) and a closure that maps the output's gradient to its inputs'
/// gradients (`backwardFn`); forward and backward of each op sit side by side in the op's
/// file. `backward()` sorts the recorded graph topologically and replays the closures in
/// reverse — micrograd's design, at tensor granularity.
///
/// ## Recorded ops
///
/// Under a `Tracer` every op is recorded with its name, its input tensors (in this order)
/// and attributes holding everything else that determines the output. Axes are normalised
/// to non-negative and count over the full shape, dimension 0 (the batch) included.
///
/// | Op | Inputs | Attributes |
/// |---|---|---|
/// | `add`, `sub`, `mul`, `div`, `maximum` | a, b (broadcasting) | — |
/// | `add_scalar`, `mul_scalar` | x | `value` float (x + value, x · value; `x - s` is `add_scalar` −s, `x / s` is `mul_scalar` 1/s) |
/// | `rsub_scalar`, `rdiv_scalar` | x | `value` float (value − x, value / x) |
/// | `neg`, `exp`, `log`, `sqrt`, `square`, `abs`, `relu`, `sigmoid`, `tanh` | x | — |
/// | `pow` | x | `exponent` float |
/// | `clamp` | x | `min`, `max` float (±infinity when unbounded) |
/// | `leaky_relu` | x | `slope` float |
/// | `elu` | x | `alpha` float |
/// | `softmax`, `log_softmax` | x | `axis` int |
/// | `sum`, `mean` is `sum` then `mul_scalar` | x | — |
/// | `sum_axis`, `max_axis`, `min_axis` | x | `axis` int, `keepdims` int (0/1) |
/// | `reshape` (also unsqueeze, squeeze, flatten) | x | `shape` ints (full output shape) |
/// | `permute` (also transpose, transposed) | x | `perm` ints (output dim i is input dim perm[i]) |
/// | `expand` | x | `shape` ints (full output shape) |
/// | `slice` (also narrow, split, chunk; select is `slice` + `reshape`) | x | `axis`, `start`, `end`, `step` int (0 ≤ start ≤ end ≤ dim, step > 0) |
/// | `concat` (stack is a `reshape` of each + `concat`) | x₀, x₁, … | `axis` int |
/// | `pad` | x | `pads` ints (before₀, after₀, before₁, after₁, … over all dims), `mode` int (0 constant, 1 reflect), `value` float |
/// | `matmul` | a `[..., m, k]`, b `[..., k, n]` | — |
/// | `linear` | x `[..., in]`, weight `[out, in]`, bias `[out]` (optional) | — |
/// | `index_select` (also gatherRows, rows) | source, indices (floats; their shape replaces the axis) | `axis` int |
/// | `embedding` | weight `[V, D]`, indices (floats, any shape) | — |
/// | `where` | condition, a, b (broadcasting) | — |
/// | `masked_fill` | x, mask (broadcast to x) | `value` float |
/// | `conv2d`, `conv1d` (Convolution.swift) | x NCHW / NCW, weight, [bias] | `stride`, `dilation` ints (per spatial dim), `padding` ints (2-D: top, left, bottom, right; 1-D: left, right), `groups` int |
/// | `conv_transpose2d` (Convolution.swift) | x, weight, [bias] | `stride`, `padding` (top, left, bottom, right), `output_padding`, `dilation` ints, `groups` int |
/// | `max_pool2d`, `avg_pool2d` (Pooling.swift) | x NCHW | `kernel`, `stride`, `dilation` ints (h, w), `padding` ints (top, left, bottom, right); avg adds `count_include_pad` int |
/// | `max_unpool2d` (Pooling.swift) | x, indices | `output_size` ints (h, w) |
/// | `adaptive_avg_pool2d` (Pooling.swift) | x | `output_size` ints (h, w) |
/// | `upsample_nearest2d` (Pooling.swift) | x | `scale` ints (h, w) |
/// | `channel_shuffle` (Pooling.swift) | x | `groups` int |
/// | `batch_norm` (NN/BatchNorm.swift) | x, mean, variance, [weight, bias] | `eps` float, `axis` int |
/// | `batch_norm_training` (NN/BatchNorm2d.swift) | x, [weight, bias] | `eps` float, `axis` int |
/// | `binary_cross_entropy`, `bce_with_logits`, `cross_entropy` (NN/Loss.swift) | see the loss | — |
/// | `Tensor.custom` ops | as given | as given |

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

    /// Writes this tensor's gradient through `body(buffer, accumulate)` (`count` elements).
    /// When a gradient already exists, `accumulate` is true and `body` must add into it;
    /// otherwise the buffer is new and *uninitialised*, `accumulate` is false and `body` must
    /// overwrite every element — which saves the zero fill `accumulateGrad(count:_:)` does.
    @inline(__always)
    func writeGrad(count: Int, _ body: (_ buffer: UnsafeMutableBufferPointer<Float>, _ accumulate: Bool) -> Void) {
        guard requiresGrad else { return }
        if gradStorage == nil {
            gradStorage = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                body(buffer, false)
                initialized = count
            }
        } else {
            gradStorage!.withUnsafeMutableBufferPointer { body($0, true) }
        }
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
