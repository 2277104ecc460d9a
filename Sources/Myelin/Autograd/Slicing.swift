// Slicing and joining: slice/narrow/select, concat/stack, split/chunk, pad. Forward and
// backward together; slices and pads are gathers through an index map (see Shape.swift).

/// How `pad` fills the new border.
public enum PadMode: Equatable {
    /// Every new element is `value`.
    case constant(Float)
    /// Mirror image of the input without repeating the edge element (`[1, 2, 3]` padded by 2
    /// on both sides is `[3, 2, 1, 2, 3, 2, 1]`); each pad must be smaller than its dimension.
    case reflect
}

extension Tensor {
    // MARK: Slicing

    /// Elements `start, start + step, …` (up to but excluding `end`) along `axis`, Python
    /// style: negative `start`/`end` count from the end, out-of-range ones are clamped, and
    /// `end: nil` means the end of the axis. `step` must be positive.
    /// Shape `[a, n, b]` → `[a, ⌈(end − start) / step⌉, b]`. Recorded as `slice` with the
    /// normalised `axis`, `start`, `end`, `step`.
    ///
    /// ```swift
    /// Tensor.arange(0, 10).slice(axis: 0, start: 1, end: -1, step: 3)   // [1, 4, 7]
    /// ```
    public func slice(axis: Int, start: Int = 0, end: Int? = nil, step: Int = 1) -> Tensor {
        let a = normalizedAxis(axis, rank: rank, op: "slice", shape: shape)
        check(step > 0, "slice: step must be positive, got \(step) (shape \(shape), axis \(axis))")
        let n = shape[a]
        func clamp(_ i: Int) -> Int { Swift.min(Swift.max(i < 0 ? i + n : i, 0), n) }
        let s = clamp(start), e = Swift.max(clamp(end ?? n), s)
        let length = (e - s + step - 1) / step
        var outShape = shape
        outShape[a] = length
        var tables = shape.map { Array(0..<$0) }
        tables[a] = Array(stride(from: s, to: e, by: step))
        let map = indexMap(tables, strides: contiguousStrides(shape))
        return gathered("slice", shape: outShape, map: map,
                        attributes: ["axis": .int(a), "start": .int(s), "end": .int(e), "step": .int(step)])
    }

    /// `length` consecutive elements along `axis` from `start` (negative counts from the
    /// end); the range must lie inside the axis. Shape `[a, n, b]` → `[a, length, b]`.
    /// Recorded as `slice` with step 1.
    ///
    /// ```swift
    /// Tensor([[1, 2, 3], [4, 5, 6]]).narrow(axis: 1, start: 1, length: 2)   // [[2, 3], [5, 6]]
    /// ```
    public func narrow(axis: Int, start: Int, length: Int) -> Tensor {
        let a = normalizedAxis(axis, rank: rank, op: "narrow", shape: shape)
        let s = start < 0 ? start + shape[a] : start
        check(s >= 0 && length >= 0 && s + length <= shape[a],
              "narrow: start \(start) length \(length) out of range for axis \(axis) of shape \(shape)")
        return slice(axis: a, start: s, end: s + length)
    }

    /// The sub-tensor at `index` along `axis` (negative counts from the end), with that axis
    /// removed. Shape `[a, n, b]` → `[a, b]`. Recorded as `slice` then `reshape`.
    ///
    /// ```swift
    /// Tensor([[1, 2, 3], [4, 5, 6]]).select(axis: 1, index: -1)   // [3, 6]
    /// ```
    public func select(axis: Int, index: Int) -> Tensor {
        let a = normalizedAxis(axis, rank: rank, op: "select", shape: shape)
        let i = index < 0 ? index + shape[a] : index
        check(i >= 0 && i < shape[a], "select: index \(index) out of range for axis \(axis) of shape \(shape)")
        var outShape = shape
        outShape.remove(at: a)
        return slice(axis: a, start: i, end: i + 1).reshape(outShape)
    }

    /// Consecutive pieces along `axis` with the given sizes, which must add up to the axis
    /// length. Shape `[a, n, b]` → `[a, sizes[i], b]` each. Each piece is a `slice`.
    ///
    /// ```swift
    /// let parts = Tensor.zeros([2, 7]).split(sizes: [3, 4], axis: 1)   // shapes [2, 3] and [2, 4]
    /// ```
    public func split(sizes: [Int], axis: Int) -> [Tensor] {
        let a = normalizedAxis(axis, rank: rank, op: "split", shape: shape)
        check(sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == shape[a],
              "split: sizes \(sizes) do not add up to axis \(axis) of shape \(shape)")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return narrow(axis: a, start: start, length: size)
        }
    }

    /// `n` pieces along `axis` like `torch.chunk`: each of size ⌈length / n⌉ except a smaller
    /// last one, so fewer than `n` pieces come back when the axis is short.
    /// Shape `[a, 10, b]` → `chunk(3, axis: 1)` → `[a, 4, b]`, `[a, 4, b]`, `[a, 2, b]`.
    ///
    /// ```swift
    /// let halves = Tensor.arange(0, 6).chunk(2, axis: 0)   // [0, 1, 2] and [3, 4, 5]
    /// ```
    public func chunk(_ n: Int, axis: Int) -> [Tensor] {
        let a = normalizedAxis(axis, rank: rank, op: "chunk", shape: shape)
        check(n > 0, "chunk: number of chunks must be positive, got \(n) (shape \(shape))")
        let length = shape[a], size = Swift.max(1, (length + n - 1) / n)
        return split(sizes: stride(from: 0, to: length, by: size).map { Swift.min(size, length - $0) }, axis: a)
    }

    // MARK: Joining

    /// The tensors joined along `axis`; they must agree in every other dimension.
    /// Shapes `[a, n₁, b]`, `[a, n₂, b]`, … → `[a, n₁ + n₂ + …, b]`. Recorded as `concat` with
    /// the normalised `axis`.
    ///
    /// ```swift
    /// Tensor.concat([Tensor([[1], [2]]), Tensor([[3, 4], [5, 6]])], axis: 1)   // [[1, 3, 4], [2, 5, 6]]
    /// ```
    public static func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
        check(!tensors.isEmpty, "concat: no tensors")
        let first = tensors[0].shape
        let a = normalizedAxis(axis, rank: first.count, op: "concat", shape: first)
        for t in tensors.dropFirst() {
            var x = t.shape, y = first
            if x.count == y.count { x[a] = 0; y[a] = 0 }
            check(x == y, "concat: shapes \(first) and \(t.shape) differ outside axis \(a)")
        }
        let outer = first[..<a].reduce(1, *), inner = first[(a + 1)...].reduce(1, *)
        let blocks = tensors.map { $0.shape[a] * inner }     // each tensor's run per outer index
        let row = blocks.reduce(0, +)
        var outShape = first
        outShape[a] = tensors.reduce(0) { $0 + $1.shape[a] }
        var out = [Float](repeating: 0, count: outer * row)
        out.withUnsafeMutableBufferPointer { o in
            var offset = 0
            for (t, block) in zip(tensors, blocks) {
                t.data.withUnsafeBufferPointer { x in
                    for r in 0..<outer { for i in 0..<block { o[r * row + offset + i] = x[r * block + i] } }
                }
                offset += block
            }
        }
        return result("concat", shape: outShape, data: out, inputs: tensors, attributes: ["axis": .int(a)]) { g in
            var offset = 0
            for (t, block) in zip(tensors, blocks) {
                let start = offset
                t.accumulateGrad(count: t.count) { acc in
                    for r in 0..<outer { for i in 0..<block { acc[r * block + i] += g[r * row + start + i] } }
                }
                offset += block
            }
        }
    }

    /// The tensors, all of one shape, stacked along a new dimension at `axis` (negative
    /// counts from the end of the result). Shapes `[a, b]` × k → `stack(_, axis: 1)` → `[a, k, b]`.
    /// Recorded as a `reshape` of each tensor and a `concat`.
    ///
    /// ```swift
    /// Tensor.stack([Tensor([1, 2]), Tensor([3, 4])], axis: 1)   // [[1, 3], [2, 4]]
    /// ```
    public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        check(!tensors.isEmpty, "stack: no tensors")
        let first = tensors[0].shape
        for t in tensors { check(t.shape == first, "stack: shapes \(first) and \(t.shape) differ") }
        let a = normalizedAxis(axis, rank: first.count + 1, op: "stack", shape: first)
        return concat(tensors.map { $0.unsqueeze(a) }, axis: a)
    }

    // MARK: Padding

    /// Pads the trailing dimensions, in `torch.nn.functional.pad` order: `pads[0]` is
    /// `(before, after)` for the LAST dimension, `pads[1]` for the one before it, and so on;
    /// dimensions not covered are left alone. Pads must be non-negative.
    /// Shape `[n, c, h, w]` → `pad([(1, 2), (3, 4)])` → `[n, c, h + 7, w + 3]`. Recorded as `pad`
    /// with `pads` = (before, after) for EVERY dimension, first dimension first, `mode` (0
    /// constant, 1 reflect) and `value` (the constant; 0 for reflect).
    ///
    /// ```swift
    /// Tensor([1, 2, 3]).pad([(1, 2)])                   // [0, 1, 2, 3, 0, 0]
    /// Tensor([1, 2, 3]).pad([(2, 1)], mode: .reflect)   // [3, 2, 1, 2, 3, 2]
    /// ```
    public func pad(_ pads: [(before: Int, after: Int)], mode: PadMode = .constant(0)) -> Tensor {
        check(pads.count <= rank, "pad: \(pads.count) pads for shape \(shape)")
        var full = [(before: Int, after: Int)](repeating: (0, 0), count: rank)
        for (i, p) in pads.enumerated() { full[rank - 1 - i] = p }
        var tables: [[Int]] = []
        for (d, (before, after)) in full.enumerated() {
            let n = shape[d]
            check(before >= 0 && after >= 0, "pad: negative pad (\(before), \(after)) for dimension \(d) of shape \(shape)")
            if mode == .reflect && before + after > 0 {
                check(before < n && after < n,
                      "pad: reflect pad (\(before), \(after)) must be smaller than dimension \(d) of shape \(shape)")
            }
            tables.append((-before..<(n + after)).map { i in
                if i >= 0 && i < n { return i }
                if mode != .reflect { return -1 }
                return i < 0 ? -i : 2 * (n - 1) - i
            })
        }
        let outShape = tables.map(\.count)
        let value: Float
        if case .constant(let v) = mode { value = v } else { value = 0 }
        return gathered("pad", shape: outShape, map: indexMap(tables, strides: contiguousStrides(shape)), fill: value,
                        attributes: ["pads": .ints(full.flatMap { [$0.before, $0.after] }),
                                     "mode": .int(mode == .reflect ? 1 : 0), "value": .float(Double(value))])
    }
}
