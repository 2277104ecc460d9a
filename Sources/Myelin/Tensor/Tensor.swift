import Foundation

/// A float32 N-dimensional array, row-major and contiguous, that records the operations
/// applied to it so `backward()` can compute gradients (reverse-mode autograd).
///
/// Shapes are written `[d0, d1, …]`; a scalar has shape `[]` and one element.
///
/// ```swift
/// let x = Tensor([[1, 2], [3, 4]])            // shape [2, 2]
/// let w = Tensor.randn([2, 3], requiresGrad: true)
/// let loss = (x.matmul(w)).relu().sum()        // shape []
/// loss.backward()
/// print(w.grad!)                               // d loss / d w, shape [2, 3]
/// ```
public final class Tensor {
    /// The dimensions, outermost first.
    public internal(set) var shape: [Int]
    /// The elements in row-major order. Writing to it does not go through autograd.
    public var data: [Float]
    /// Whether gradients flow to this tensor. Leaves created by the user set it explicitly;
    /// results of operations inherit it from their inputs (unless grad mode is off).
    public var requiresGrad: Bool
    /// Accumulated gradient, same shape as the tensor; `nil` until a backward pass reaches it.
    public var grad: Tensor? {
        get { gradStorage.map { Tensor(shape: shape, data: $0) } }
        set {
            if let g = newValue {
                check(g.shape == shape, "grad: shape \(g.shape) does not match tensor shape \(shape)")
                gradStorage = g.data
            } else {
                gradStorage = nil
            }
        }
    }

    /// Raw gradient buffer (row-major, same count as `data`).
    public internal(set) var gradStorage: [Float]?
    /// The inputs this tensor was computed from (empty for leaves).
    var parents: [Tensor] = []
    /// Propagates this tensor's gradient (`outGrad`) into the gradients of `parents`.
    var backwardFn: ((_ outGrad: [Float]) -> Void)?
    /// Name of the operation that produced this tensor (for error messages and debugging).
    public internal(set) var op: String = "leaf"

    // MARK: Creation

    /// Creates a tensor of the given shape from row-major elements.
    public init(shape: [Int], data: [Float], requiresGrad: Bool = false) {
        check(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        let count = shape.reduce(1, *)
        check(count == data.count, "Tensor: shape \(shape) needs \(count) elements, got \(data.count)")
        self.shape = shape
        self.data = data
        self.requiresGrad = requiresGrad
        _ = Tensor.allocatorTuned
    }

    /// glibc gives every block of 128 KiB or more back to the OS when it is freed, so each
    /// training step page-faults fresh zero pages for all its activations and gradients (a
    /// third of a CNN step). Keeping freed memory in the process (mmap threshold at its
    /// 32 MiB maximum, no trimming) makes those buffers reusable. Done once, on first use.
    /// This is process-wide: a host application that wants glibc's defaults (memory given back
    /// to the OS) sets the environment variable `MYELIN_MALLOC_DEFAULTS=1` before the first tensor.
    static let allocatorTuned: Void = {
        #if os(Linux)
        if let keep = getenv("MYELIN_MALLOC_DEFAULTS"), String(cString: keep) == "1" { return }
        _ = glibcMallopt(-3, 32 << 20)          // M_MMAP_THRESHOLD
        _ = glibcMallopt(-1, Int32.max)         // M_TRIM_THRESHOLD
        #endif
    }()

    /// A scalar (shape `[]`).
    public convenience init(_ value: Float, requiresGrad: Bool = false) {
        self.init(shape: [], data: [value], requiresGrad: requiresGrad)
    }

    /// A vector (shape `[n]`).
    public convenience init(_ values: [Float], requiresGrad: Bool = false) {
        self.init(shape: [values.count], data: values, requiresGrad: requiresGrad)
    }

    /// A matrix (shape `[rows, cols]`) from nested arrays; all rows must have equal length.
    public convenience init(_ rows: [[Float]], requiresGrad: Bool = false) {
        let cols = rows.first?.count ?? 0
        check(rows.allSatisfy { $0.count == cols }, "Tensor: ragged rows, expected \(cols) columns in every row")
        self.init(shape: [rows.count, cols], data: rows.flatMap { $0 }, requiresGrad: requiresGrad)
    }

    /// All zeros.
    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        full(shape, 0, requiresGrad: requiresGrad)
    }

    /// All ones.
    public static func ones(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        full(shape, 1, requiresGrad: requiresGrad)
    }

    /// Every element equal to `value`.
    public static func full(_ shape: [Int], _ value: Float, requiresGrad: Bool = false) -> Tensor {
        Tensor(shape: shape, data: [Float](repeating: value, count: shape.reduce(1, *)), requiresGrad: requiresGrad)
    }

    /// `[start, start + step, …]` up to but excluding `end`, shape `[n]`.
    public static func arange(_ start: Float, _ end: Float, step: Float = 1) -> Tensor {
        check(step != 0, "arange: step must be non-zero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return Tensor(shape: [n], data: (0..<n).map { start + Float($0) * step })
    }

    /// Uniform samples in `[low, high)`.
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1,
                               generator: Generator = .default, requiresGrad: Bool = false) -> Tensor {
        let n = shape.reduce(1, *)
        var d = [Float](repeating: 0, count: n)
        for i in 0..<n { d[i] = low + (high - low) * generator.nextUniform() }
        return Tensor(shape: shape, data: d, requiresGrad: requiresGrad)
    }

    /// Normal samples with the given mean and standard deviation.
    public static func randn(_ shape: [Int], mean: Float = 0, std: Float = 1,
                             generator: Generator = .default, requiresGrad: Bool = false) -> Tensor {
        let n = shape.reduce(1, *)
        var d = [Float](repeating: 0, count: n)
        for i in 0..<n { d[i] = mean + std * generator.nextNormal() }
        return Tensor(shape: shape, data: d, requiresGrad: requiresGrad)
    }

    // MARK: Properties

    /// Number of elements.
    public var count: Int { data.count }
    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// The single element of a one-element tensor.
    public var item: Float {
        check(data.count == 1, "item: tensor of shape \(shape) has \(data.count) elements, expected 1")
        return data[0]
    }

    /// Element at a multi-index (for inspection and tests; not differentiable).
    public subscript(indices: Int...) -> Float {
        check(indices.count == shape.count, "subscript: \(indices.count) indices for a tensor of shape \(shape)")
        var flat = 0
        for (i, ix) in indices.enumerated() {
            check(ix >= 0 && ix < shape[i], "subscript: index \(ix) out of range for dimension \(i) of shape \(shape)")
            flat = flat * shape[i] + ix
        }
        return data[flat]
    }

    /// A copy that shares no history: same values, no gradient, `requiresGrad == false`.
    public func detach() -> Tensor { Tensor(shape: shape, data: data) }

    /// Clears the accumulated gradient.
    public func zeroGrad() { gradStorage = nil }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        func fmt(_ v: Float) -> String { String(format: "%.4f", v) }
        var body: String
        switch shape.count {
        case 0: body = fmt(data[0])
        case 1: body = "[" + data.prefix(12).map(fmt).joined(separator: ", ") + (data.count > 12 ? ", …" : "") + "]"
        case 2:
            let rows = Swift.min(shape[0], 8)
            body = "[" + (0..<rows).map { r in
                "[" + data[(r * shape[1])..<((r + 1) * shape[1])].prefix(10).map(fmt).joined(separator: ", ")
                    + (shape[1] > 10 ? ", …" : "") + "]"
            }.joined(separator: ",\n ") + (shape[0] > rows ? ",\n …" : "") + "]"
        default: body = "[" + data.prefix(12).map(fmt).joined(separator: ", ") + (data.count > 12 ? ", …" : "") + "]"
        }
        return "Tensor(shape: \(shape), \(body)\(requiresGrad ? ", requiresGrad" : ""))"
    }
}

#if os(Linux)
/// glibc's `int mallopt(int param, int value)` (malloc.h, which the Glibc module does not export).
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
