// Reading the decoded GRPH, META and TEST sections (docs/bundle-format.md): every rule,
// limit and status of those sections, in one place. The exporter's Swift reader
// (`ModelBundle(decoding:)`) and the Embedded-Swift runtime (Loader.swift) both call this
// code and only decide where the validated records go, so they cannot disagree on a
// malformed file.
//
// This one file is compiled into both modules (the runtime's copy is a symlink): standard
// library and libc only, no Foundation, no String, no existentials, and no allocation
// (the caller's builder allocates, so the runtime can report out-of-memory as a status).

#if MYELIN_RUNTIME
import CZlibRuntime
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: GRPH

/// A validated tensor record: `byteSize` bytes at `offset` in the decoded DATA section.
public struct BundleTensorRecord {
    public var dtype = BundleDType.f32
    public var shape = BundleShape()
    public var offset = 0
    public var byteSize = 0

    public init() {}
}

/// A validated value record (an activation; shape per sample).
public struct BundleValueRecord {
    public var dtype = BundleDType.f32
    public var shape = BundleShape()
    /// u8: finite and > 0; f32: 0.
    public var scale: Float = 0
    /// u8: 0 … 255; f32: 0.
    public var zeroPoint: Int32 = 0

    public init() {}

    /// Elements per sample.
    public var count: Int { shape.count }
}

/// An attribute's payload: int64 or float64.
public enum BundleAttributeValue: Equatable {
    case int(Int64)
    case float(Double)
}

/// A validated op record: one input value, one output value, up to three tensors, whose
/// dtypes and shapes fit the op (the attributes are reported to the builder one by one).
public struct BundleOpRecord {
    public var code = BundleOpCode.relu
    public var input = 0
    public var output = 0
    /// Number of tensor ids (0 … 3); the unused ones in `tensorIDs` are −1.
    public var tensorCount = 0
    public var tensorIDs = (-1, -1, -1)
    /// `activation` attribute of `linear` and `qlinear` (default none).
    public var activation = BundleActivation.none
    /// `slope` of `leaky_relu` or `alpha` of `elu` (present and finite for those ops).
    public var parameter: Double? = nil

    public init() {}
}

/// What the whole graph section declared, once it is valid.
public struct BundleGraphSummary {
    public var precision = BundlePrecision.f32
    public var tensorCount = 0
    public var valueCount = 0
    public var opCount = 0
    /// Value ids of the graph input and output (both f32).
    public var input = 0
    public var output = 0
}

/// Where `BundleGraph.parse` puts the records it has validated. Calls come in file order:
/// `reserveTensors`, `addTensor` × n, `reserveValues`, `addValue` × n, `reserveOps`, then per
/// op its `addAttribute` calls and `addOp`. `tensor(_:)` and `value(_:)` return records
/// added before (the parser checks operands against them). Any error a method throws ends
/// the parse with that status (the runtime's allocation failures: `.outOfMemory`).
public protocol BundleGraphBuilder {
    mutating func reserveTensors(_ count: Int) throws(BundleStatus)
    mutating func addTensor(_ tensor: BundleTensorRecord, name: UnsafeRawBufferPointer) throws(BundleStatus)
    func tensor(_ id: Int) -> BundleTensorRecord
    mutating func reserveValues(_ count: Int) throws(BundleStatus)
    mutating func addValue(_ value: BundleValueRecord, name: UnsafeRawBufferPointer) throws(BundleStatus)
    func value(_ id: Int) -> BundleValueRecord
    mutating func reserveOps(_ count: Int) throws(BundleStatus)
    /// One attribute of the op being read, before its `addOp`, in file order.
    mutating func addAttribute(_ key: BundleAttribute, _ value: BundleAttributeValue)
    mutating func addOp(_ op: BundleOpRecord) throws(BundleStatus)
}

extension BundleGraphBuilder {
    /// Builders that need only the op record ignore the attribute list.
    public mutating func addAttribute(_ key: BundleAttribute, _ value: BundleAttributeValue) {}
}

/// The GRPH section reader.
public enum BundleGraph {
    /// Validates the decoded GRPH section of `count` bytes at `base`, whose tensors must lie
    /// inside a DATA section of `dataSize` decoded bytes, and hands each record to `builder`.
    public static func parse<Builder: BundleGraphBuilder>(_ base: UnsafeRawPointer, count: Int, dataSize: Int,
                                                          into builder: inout Builder) throws(BundleStatus) -> BundleGraphSummary {
        var c = BundleCursor(base, count: count)
        var graph = BundleGraphSummary()
        guard let precision = BundlePrecision(rawValue: try c.u32()) else { throw .unsupported }
        graph.precision = precision

        let tensorCount = try c.count(limit: BundleLimits.maxTensors)
        graph.tensorCount = tensorCount
        try builder.reserveTensors(tensorCount)
        for _ in 0..<tensorCount {
            let name = try c.string()
            guard let dtype = BundleDType(rawValue: try c.u32()), dtype != .u8 else { throw .unsupported }
            var t = BundleTensorRecord()
            t.dtype = dtype
            t.shape = try c.shape()
            let offset = try c.u64(), byteSize = try c.u64()
            guard offset % UInt64(BundleLayout.tensorAlignment) == 0, offset <= UInt64(dataSize),
                  byteSize <= UInt64(dataSize) - offset, byteSize == UInt64(t.shape.count * dtype.size) else { throw .corrupt }
            t.offset = Int(offset)
            t.byteSize = Int(byteSize)
            try builder.addTensor(t, name: name)
        }

        let valueCount = try c.count(limit: BundleLimits.maxValues)
        guard valueCount >= 1 else { throw .corrupt }
        graph.valueCount = valueCount
        try builder.reserveValues(valueCount)
        for _ in 0..<valueCount {
            let name = try c.string()
            guard let dtype = BundleDType(rawValue: try c.u32()), dtype == .f32 || dtype == .u8 else { throw .unsupported }
            var v = BundleValueRecord()
            v.dtype = dtype
            v.shape = try c.shape()
            v.scale = try c.f32()
            v.zeroPoint = try c.i32()
            if dtype == .u8 {
                guard v.scale.isFinite, v.scale > 0, v.zeroPoint >= 0, v.zeroPoint <= 255 else { throw .corrupt }
            } else {
                guard v.scale == 0, v.zeroPoint == 0 else { throw .corrupt }
            }
            try builder.addValue(v, name: name)
        }

        func valueID(_ raw: UInt32) throws(BundleStatus) -> Int {
            guard raw < UInt32(valueCount) else { throw .corrupt }
            return Int(raw)
        }
        // Graph input, then graph output: one f32 value each.
        for pass in 0..<2 {
            let n = try c.u32()
            guard n >= 1 else { throw .corrupt }
            guard n == 1 else { throw .unsupported }
            let id = try valueID(try c.u32())
            guard builder.value(id).dtype == .f32 else { throw .unsupported }
            if pass == 1 { graph.output = id } else { graph.input = id }
        }

        let opCount = try c.count(limit: BundleLimits.maxOps)
        guard opCount >= 1 else { throw .corrupt }
        graph.opCount = opCount
        try builder.reserveOps(opCount)
        // Single assignment: the input is defined by the caller, every other value by one op.
        var defined = BundleValueSet()
        defined.insert(graph.input)
        for _ in 0..<opCount {
            guard let code = BundleOpCode(rawValue: try c.u32()) else { throw .unsupported }
            var op = BundleOpRecord()
            op.code = code
            // Every op of format 1.0 reads one value and writes one.
            for pass in 0..<2 {
                let n = try c.count(limit: BundleLimits.maxOperands)
                guard n == 1 else { throw .corrupt }
                let id = try valueID(try c.u32())
                if pass == 1 {
                    guard !defined.contains(id) else { throw .corrupt }
                    op.output = id
                } else {
                    guard defined.contains(id) else { throw .corrupt }
                    op.input = id
                }
            }
            defined.insert(op.output)
            op.tensorCount = try c.count(limit: BundleLimits.maxOperands)
            for i in 0..<op.tensorCount {
                let raw = try c.u32()
                guard raw < UInt32(tensorCount) else { throw .corrupt }
                switch i {
                case 0: op.tensorIDs.0 = Int(raw)
                case 1: op.tensorIDs.1 = Int(raw)
                case 2: op.tensorIDs.2 = Int(raw)
                default: throw .corrupt
                }
            }
            var activation: Int64 = 0
            let attributeCount = try c.count(limit: BundleLimits.maxOperands)
            for _ in 0..<attributeCount {
                guard let key = BundleAttribute(rawValue: try c.u32()) else { throw .unsupported }
                let type = try c.u32()
                switch key {
                case .activation:
                    guard code == .linear || code == .qlinear else { throw .unsupported }
                    guard type == 1 else { throw .corrupt }
                    activation = Int64(bitPattern: try c.u64())
                    builder.addAttribute(key, .int(activation))
                case .slope, .alpha:
                    guard (key == .slope && code == .leakyRelu) || (key == .alpha && code == .elu) else { throw .unsupported }
                    guard type == 2 else { throw .corrupt }
                    let v = try c.f64()
                    guard v.isFinite else { throw .corrupt }
                    op.parameter = v
                    builder.addAttribute(key, .float(v))
                default:
                    throw .unsupported
                }
            }
            guard let act = BundleActivation(rawValue: activation) else { throw .unsupported }
            op.activation = act
            try validateOperands(op, builder)
            try builder.addOp(op)
        }
        guard defined.contains(graph.output), c.atEnd else { throw .corrupt }
        return graph
    }

    /// Operand rules of each op: tensor count (`.corrupt`), dtypes (`.unsupported`), shapes
    /// (`.shapeMismatch`), in that order.
    static func validateOperands<Builder: BundleGraphBuilder>(_ op: BundleOpRecord, _ builder: Builder) throws(BundleStatus) {
        let x = builder.value(op.input), y = builder.value(op.output)
        let n = op.tensorCount
        switch op.code {
        case .linear:
            guard n == 1 || n == 2 else { throw .corrupt }
            guard x.dtype == .f32, y.dtype == .f32 else { throw .unsupported }
            guard x.shape.rank == 1, y.shape.rank == 1 else { throw .shapeMismatch }
            let w = builder.tensor(op.tensorIDs.0)
            guard w.dtype == .f32 || w.dtype == .f16 else { throw .unsupported }
            guard w.shape.isMatrix(y.count, x.count) else { throw .shapeMismatch }
            if n == 2 {
                let b = builder.tensor(op.tensorIDs.1)
                guard b.dtype == .f32 else { throw .unsupported }
                guard b.shape.isVector(y.count) else { throw .shapeMismatch }
            }
        case .qlinear:
            guard n == 3 else { throw .corrupt }
            guard x.dtype == .u8, y.dtype == .u8 || y.dtype == .f32 else { throw .unsupported }
            guard x.shape.rank == 1, y.shape.rank == 1 else { throw .shapeMismatch }
            let w = builder.tensor(op.tensorIDs.0), s = builder.tensor(op.tensorIDs.1), b = builder.tensor(op.tensorIDs.2)
            guard w.dtype == .i8, s.dtype == .f32, b.dtype == .i32 else { throw .unsupported }
            guard w.shape.isMatrix(y.count, x.count), s.shape.isVector(y.count), b.shape.isVector(y.count) else { throw .shapeMismatch }
        case .quantize:
            guard n == 0 else { throw .corrupt }
            guard x.dtype == .f32, y.dtype == .u8 else { throw .unsupported }
            guard x.shape.same(as: y.shape) else { throw .shapeMismatch }
        case .scaleShift:
            guard n == 2 else { throw .corrupt }
            guard x.dtype == .f32, y.dtype == .f32 else { throw .unsupported }
            guard x.shape.rank == 1, x.shape.same(as: y.shape) else { throw .shapeMismatch }
            let s = builder.tensor(op.tensorIDs.0), b = builder.tensor(op.tensorIDs.1)
            guard s.dtype == .f32, b.dtype == .f32 else { throw .unsupported }
            guard s.shape.isVector(x.count), b.shape.isVector(x.count) else { throw .shapeMismatch }
        case .relu, .leakyRelu, .elu, .sigmoid, .tanh, .softmax, .logSoftmax:
            guard n == 0 else { throw .corrupt }
            guard x.dtype == .f32, y.dtype == .f32 else { throw .unsupported }
            guard x.shape.same(as: y.shape) else { throw .shapeMismatch }
            if op.code == .leakyRelu || op.code == .elu { guard op.parameter != nil else { throw .corrupt } }
        default:
            throw .unsupported
        }
    }

    /// The weight-value rule checked once DATA is decoded: the `count` per-channel scales of
    /// a `qlinear` (f32, unaligned at `scales`) must be finite and positive.
    public static func checkWeightScales(_ scales: UnsafeRawPointer, count: Int) throws(BundleStatus) {
        for j in 0..<count {
            let s = scales.loadUnaligned(fromByteOffset: 4 * j, as: Float.self)
            guard s.isFinite, s > 0 else { throw .corrupt }
        }
    }
}

/// A set of value ids below `BundleLimits.maxValues` (1024) in fixed storage: no allocation.
struct BundleValueSet {
    private var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                        UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    /// Mutating only so that the words are read in place rather than copied.
    mutating func contains(_ id: Int) -> Bool {
        let word = withUnsafeMutableBytes(of: &words) { $0.load(fromByteOffset: (id >> 6) * 8, as: UInt64.self) }
        return word >> UInt64(id & 63) & 1 != 0
    }

    mutating func insert(_ id: Int) {
        withUnsafeMutableBytes(of: &words) { w in
            let at = (id >> 6) * 8
            w.storeBytes(of: w.load(fromByteOffset: at, as: UInt64.self) | 1 << UInt64(id & 63), toByteOffset: at, as: UInt64.self)
        }
    }
}

// MARK: META

/// The META section, validated: at most 1024 entries, keys non-empty and unique, and
/// `class_labels` (if present) holding as many `\n`-separated labels as the graph output
/// has elements. Keys and values are read in place (not copied).
public struct BundleMetadata {
    let base: UnsafeRawPointer
    let size: Int
    /// Number of entries.
    public private(set) var count = 0
    /// Total bytes of all keys and values.
    public private(set) var textBytes = 0
    /// The value of `class_labels`, if present, and its number of labels.
    public private(set) var labels: UnsafeRawBufferPointer? = nil
    public private(set) var labelCount = 0

    /// Validates the decoded META section of `size` bytes at `base` for a graph whose
    /// output has `outputSize` elements.
    public init(_ base: UnsafeRawPointer, size: Int, outputSize: Int) throws(BundleStatus) {
        self.base = base
        self.size = size
        var c = BundleCursor(base, count: size)
        count = try c.count(limit: BundleLimits.maxMetadataEntries)
        for i in 0..<count {
            let key = try c.string()
            let value = try c.string()
            guard key.count > 0 else { throw .corrupt }
            // Unique keys: re-read the earlier ones (at most 1024 entries).
            var earlier = BundleCursor(base, count: size)
            _ = try earlier.u32()
            for _ in 0..<i {
                let k = try earlier.string()
                _ = try earlier.string()
                if bundleBytesEqual(k, key) { throw .corrupt }
            }
            textBytes += key.count + value.count
            if bundleBytesEqual(key, "class_labels") { labels = value }
        }
        guard c.atEnd else { throw .corrupt }
        if let l = labels {
            labelCount = 1
            for b in l where b == 0x0A { labelCount += 1 }
            guard labelCount == outputSize else { throw .shapeMismatch }
        }
    }

    /// Calls `body` with each key and value, in file order.
    public func forEach(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void) {
        var c = BundleCursor(base, count: size)
        _ = try? c.u32()
        for _ in 0..<count {
            // Validated in init: these reads cannot fail.
            guard let key = try? c.string(), let value = try? c.string() else { return }
            body(key, value)
        }
    }
}

/// Whether two byte strings are equal.
func bundleBytesEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
}

/// Whether the bytes equal the ASCII `literal`.
func bundleBytesEqual(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
    bundleBytesEqual(bytes, UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
}

// MARK: TEST

/// The TEST section, validated: 1 … 64 vectors, finite non-negative tolerances, sizes equal
/// to the graph's input and output element counts, and exactly the floats they imply.
public struct BundleSelfTestRecord {
    /// Number of vectors.
    public var count = 0
    public var rtol: Float = 0
    public var atol: Float = 0
    /// `count · inputSize` inputs then `count · outputSize` expected outputs, f32, in place
    /// and unaligned.
    public var floats: UnsafeRawPointer
    public var floatCount = 0

    /// Validates the decoded TEST section of `size` bytes at `base` for a graph with
    /// `inputSize` input and `outputSize` output elements.
    public init(_ base: UnsafeRawPointer, size: Int, inputSize: Int, outputSize: Int) throws(BundleStatus) {
        var c = BundleCursor(base, count: size)
        count = try c.count(limit: BundleLimits.maxSelfTestVectors)
        guard count >= 1 else { throw .corrupt }
        rtol = try c.f32()
        atol = try c.f32()
        guard rtol.isFinite, rtol >= 0, atol.isFinite, atol >= 0 else { throw .corrupt }
        let declaredInput = Int(try c.u32()), declaredOutput = Int(try c.u32())
        guard declaredInput == inputSize, declaredOutput == outputSize else { throw .shapeMismatch }
        let (perVector, o1) = inputSize.addingReportingOverflow(outputSize)
        let (total, o2) = count.multipliedReportingOverflow(by: perVector)
        guard !o1, !o2, total <= Int.max / 4 else { throw .limitExceeded }
        guard c.remaining == total * 4 else { throw .corrupt }
        floatCount = total
        floats = try c.bytes(total * 4)
    }
}
