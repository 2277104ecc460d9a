// The parsed GRPH section (docs/bundle-format.md): tensors, values, graph inputs and
// outputs, and ops in execution order, as plain structs over pointers. `Graph.parse`
// enforces every structural rule of the section; each op's own rules (operand counts,
// dtypes, shapes, attribute ranges) come from its description in Ops/ (OpRegistry.swift).
//
// Shared by the runtime and the Swift side (ModelBundle's reader, BundleExecutor): standard
// library and libc only, no Foundation, no String, no existentials. Names and attribute
// payloads point into the decoded GRPH bytes, which must outlive the graph.

/// Bytes of a name inside the decoded GRPH section (UTF-8, no NUL).
public struct GraphName {
    public var start: UnsafeRawPointer? = nil
    public var count = 0

    public init() {}

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: start, count: count) }

    public func equals(_ other: GraphName) -> Bool { bundleBytesEqual(bytes, other.bytes) }
}

/// A constant: `byteSize` bytes at `offset` in the decoded DATA section, in `layout`.
public struct GraphTensor {
    public var dtype = BundleDType.f32
    public var shape = BundleShape()
    public var layout = BundleTensorLayout.rowMajor
    public var offset = 0
    public var byteSize = 0
    public var name = GraphName()
    /// Its bytes, once DATA is decoded (64-byte aligned).
    public var data: UnsafeRawPointer? = nil

    public init() {}
}

/// An activation; its shape is per sample (the batch dimension comes from the caller).
public struct GraphValue {
    public var dtype = BundleDType.f32
    public var shape = BundleShape()
    /// u8 and i8: `real = scale · (q − zeroPoint)`; other dtypes: 0 and 0.
    public var scale: Float = 0
    public var zeroPoint: Int32 = 0
    public var name = GraphName()
    /// The op that writes it, −1 for a graph input.
    public var producer = -1
    /// The last op that reads it, −1 if none does.
    public var lastReader = -1
    /// Graph inputs and outputs live in the caller's buffers.
    public var isInput = false
    public var isOutput = false

    public init() {}

    /// Elements and bytes per sample.
    public var count: Int { shape.count }
    public var bytesPerSample: Int { shape.count * dtype.size }
}

/// One attribute of an op; its payload (little-endian, unaligned) is in the GRPH bytes.
public struct GraphAttribute {
    public var key = BundleAttribute.activation
    public var type = BundleAttributeType.int
    /// 1 for scalars, the entry count (0 … 64) for lists.
    public var count = 1
    public var payload: UnsafeRawPointer? = nil

    public init() {}

    @inline(__always) public func int(_ i: Int = 0) -> Int64 {
        Int64(littleEndian: payload!.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
    }

    @inline(__always) public func float(_ i: Int = 0) -> Double {
        Double(bitPattern: UInt64(littleEndian: payload!.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
    }
}

/// An op in execution order. Operand ids are in `Graph.ids` from `inputs`, `outputs`,
/// `tensors`; attributes in `Graph.attributes` from `attributes`.
public struct GraphOp {
    public var code = BundleOpCode.relu
    public var inputs = 0, inputCount = 0
    public var outputs = 0, outputCount = 0
    public var tensors = 0, tensorCount = 0
    public var attributes = 0, attributeCount = 0
    /// What the op's check derived for its kernel (OpDescription.swift).
    public var params = OpParams()
    /// Load-time data (`params.preparedBytes`): packed or converted weights, multipliers.
    public var prepared: UnsafeMutableRawPointer? = nil

    public init() {}
}

/// The validated graph. Owns the memory of its arrays (`release()` frees it).
public struct Graph {
    public var precision = BundlePrecision.f32
    public var tensors: UnsafeMutablePointer<GraphTensor>? = nil
    public var tensorCount = 0
    public var values: UnsafeMutablePointer<GraphValue>? = nil
    public var valueCount = 0
    public var ops: UnsafeMutablePointer<GraphOp>? = nil
    public var opCount = 0
    /// Operand ids of all ops.
    public var ids: UnsafeMutablePointer<Int32>? = nil
    public var attributes: UnsafeMutablePointer<GraphAttribute>? = nil
    /// Value ids of the graph inputs and outputs, in the caller's order.
    public var inputs: UnsafeMutablePointer<Int32>? = nil
    public var inputCount = 0
    public var outputs: UnsafeMutablePointer<Int32>? = nil
    public var outputCount = 0
    /// Ops use the naive reference kernels (the Swift side's integer parity tests). The C
    /// runtime never does, so there it is a constant and the reference kernels stay out of
    /// the library.
#if MYELIN_RUNTIME
    public var reference: Bool { false }
#else
    public var reference = false
#endif

    public init() {}

    public mutating func release() {
        bundleFree(tensors); bundleFree(values); bundleFree(ops); bundleFree(ids)
        bundleFree(attributes); bundleFree(inputs); bundleFree(outputs)
        self = Graph()
    }

    // MARK: Operands

    @inline(__always) public func inputID(_ op: GraphOp, _ i: Int) -> Int { Int(ids![op.inputs + i]) }
    @inline(__always) public func outputID(_ op: GraphOp, _ i: Int) -> Int { Int(ids![op.outputs + i]) }
    @inline(__always) public func tensorID(_ op: GraphOp, _ i: Int) -> Int { Int(ids![op.tensors + i]) }
    @inline(__always) public func input(_ op: GraphOp, _ i: Int) -> GraphValue { values![inputID(op, i)] }
    @inline(__always) public func output(_ op: GraphOp, _ i: Int) -> GraphValue { values![outputID(op, i)] }
    @inline(__always) public func tensor(_ op: GraphOp, _ i: Int) -> GraphTensor { tensors![tensorID(op, i)] }
    @inline(__always) public func inputValue(_ i: Int) -> GraphValue { values![Int(inputs![i])] }
    @inline(__always) public func outputValue(_ i: Int) -> GraphValue { values![Int(outputs![i])] }

    /// The op's attribute `key`, if present.
    public func attribute(_ op: GraphOp, _ key: BundleAttribute) -> GraphAttribute? {
        for i in 0..<op.attributeCount where attributes![op.attributes + i].key == key { return attributes![op.attributes + i] }
        return nil
    }

    /// An int64 attribute, or its default from the op's schema.
    public func int(_ op: GraphOp, _ key: BundleAttribute) -> Int64 {
        if let a = attribute(op, key) { return a.int() }
        return OpRegistry.description(op.code).schema.spec(key).defaultInt
    }

    /// A float64 attribute, or its default from the op's schema.
    public func float(_ op: GraphOp, _ key: BundleAttribute) -> Double {
        if let a = attribute(op, key) { return a.float() }
        return OpRegistry.description(op.code).schema.spec(key).defaultFloat
    }

    /// The index of the graph input or output whose name equals `name`, or −1.
    public func find(_ name: UnsafeRawBufferPointer, inOutputs: Bool) -> Int {
        let n = inOutputs ? outputCount : inputCount
        for i in 0..<n {
            let v = inOutputs ? outputValue(i) : inputValue(i)
            if bundleBytesEqual(v.name.bytes, name) { return i }
        }
        return -1
    }
}

// MARK: Parsing

extension Graph {
    /// Validates the decoded GRPH section of `count` bytes at `base`, whose tensors must lie
    /// inside a DATA section of `dataSize` decoded bytes. `reference`: see `Graph.reference`.
    public static func parse(_ base: UnsafeRawPointer, count: Int, dataSize: Int, reference: Bool = false) throws(BundleStatus) -> Graph {
        var g = Graph()
#if !MYELIN_RUNTIME
        g.reference = reference
#endif
        do {
            try g.read(base, count: count, dataSize: dataSize)
        } catch {
            g.release()
            throw error
        }
        return g
    }

    private mutating func read(_ base: UnsafeRawPointer, count: Int, dataSize: Int) throws(BundleStatus) {
        var c = BundleCursor(base, count: count)
        guard let p = BundlePrecision(rawValue: try c.u32()) else { throw .unsupported }
        precision = p

        let nTensors = try c.count(limit: BundleLimits.maxTensors)
        tensors = try bundleAllocate(GraphTensor.self, count: nTensors)
        for _ in 0..<nTensors {
            var t = GraphTensor()
            t.name = try Self.name(&c)
            guard let dtype = BundleDType(rawValue: try c.u32()) else { throw .unsupported }
            guard let layout = BundleTensorLayout(rawValue: try c.u32()) else { throw .unsupported }
            t.dtype = dtype
            t.layout = layout
            t.shape = try c.shape(maxRank: BundleLimits.maxRank)
            let offset = try c.u64(), byteSize = try c.u64()
            guard offset % UInt64(BundleLayout.tensorAlignment) == 0, offset <= UInt64(dataSize),
                  byteSize <= UInt64(dataSize) - offset, byteSize == UInt64(try Self.storedBytes(t)) else { throw .corrupt }
            t.offset = Int(offset)
            t.byteSize = Int(byteSize)
            tensors!.advanced(by: tensorCount).initialize(to: t)
            tensorCount += 1
        }

        let nValues = try c.count(limit: BundleLimits.maxValues)
        guard nValues >= 1 else { throw .corrupt }
        values = try bundleAllocate(GraphValue.self, count: nValues)
        for _ in 0..<nValues {
            var v = GraphValue()
            v.name = try Self.name(&c)
            guard let dtype = BundleDType(rawValue: try c.u32()) else { throw .unsupported }
            v.dtype = dtype
            v.shape = try c.shape(maxRank: BundleLimits.maxValueRank)
            v.scale = try c.f32()
            v.zeroPoint = try c.i32()
            switch dtype {
            case .u8: guard v.scale.isFinite, v.scale > 0, v.zeroPoint >= 0, v.zeroPoint <= 255 else { throw .corrupt }
            case .i8: guard v.scale.isFinite, v.scale > 0, v.zeroPoint >= -128, v.zeroPoint <= 127 else { throw .corrupt }
            default: guard v.scale == 0, v.zeroPoint == 0 else { throw .corrupt }
            }
            values!.advanced(by: valueCount).initialize(to: v)
            valueCount += 1
        }

        // Graph inputs, then outputs: 1 … 16 value ids each, names unique among all of them.
        for pass in 0..<2 {
            let n = try c.count(limit: BundleLimits.maxGraphIO)
            guard n >= 1 else { throw .corrupt }
            let list = try bundleAllocate(Int32.self, count: n)
            if pass == 0 { inputs = list } else { outputs = list }
            for i in 0..<n {
                let id = try valueID(try c.u32())
                for j in 0..<inputCount where values![Int(inputs![j])].name.equals(values![id].name) { throw .corrupt }
                for j in 0..<outputCount where values![Int(outputs![j])].name.equals(values![id].name) { throw .corrupt }
                list[i] = Int32(id)
                if pass == 0 { values![id].isInput = true; inputCount += 1 } else { values![id].isOutput = true; outputCount += 1 }
            }
        }

        let nOps = try c.count(limit: BundleLimits.maxOps)
        guard nOps >= 1 else { throw .corrupt }
        ops = try bundleAllocate(GraphOp.self, count: nOps)
        ids = try bundleAllocate(Int32.self, count: nOps * 3 * BundleLimits.maxOperands)
        attributes = try bundleAllocate(GraphAttribute.self, count: nOps * BundleLimits.maxOperands)
        var nIDs = 0, nAttributes = 0
        // Single assignment: inputs are defined by the caller, every other value by one op.
        var defined = BundleValueSet()
        for i in 0..<inputCount { defined.insert(Int(inputs![i])) }
        for o in 0..<nOps {
            guard let code = BundleOpCode(rawValue: try c.u32()) else { throw .unsupported }
            var op = GraphOp()
            op.code = code
            op.inputs = nIDs
            op.inputCount = try c.count(limit: BundleLimits.maxOperands)
            for _ in 0..<op.inputCount {
                let id = try valueID(try c.u32())
                guard defined.contains(id) else { throw .corrupt }
                ids![nIDs] = Int32(id); nIDs += 1
            }
            op.outputs = nIDs
            op.outputCount = try c.count(limit: BundleLimits.maxOperands)
            guard op.outputCount >= 1 else { throw .corrupt }
            for _ in 0..<op.outputCount {
                let id = try valueID(try c.u32())
                guard !defined.contains(id) else { throw .corrupt }
                defined.insert(id)
                values![id].producer = o
                ids![nIDs] = Int32(id); nIDs += 1
            }
            op.tensors = nIDs
            op.tensorCount = try c.count(limit: BundleLimits.maxOperands)
            for _ in 0..<op.tensorCount {
                let raw = try c.u32()
                guard raw < UInt32(tensorCount) else { throw .corrupt }
                ids![nIDs] = Int32(raw); nIDs += 1
            }
            op.attributes = nAttributes
            op.attributeCount = try c.count(limit: BundleLimits.maxOperands)
            let description = OpRegistry.description(code)
            for _ in 0..<op.attributeCount {
                var a = GraphAttribute()
                guard let key = BundleAttribute(rawValue: try c.u32()) else { throw .unsupported }
                guard let type = BundleAttributeType(rawValue: try c.u32()) else { throw .unsupported }
                a.key = key
                a.type = type
                if type == .ints || type == .floats { a.count = try c.count(limit: BundleLimits.maxListEntries) }
                a.payload = try c.bytes(8 * a.count)
                if type == .float || type == .floats {
                    for i in 0..<a.count { guard a.float(i).isFinite else { throw .corrupt } }
                }
                for i in 0..<(nAttributes - op.attributes) where attributes![op.attributes + i].key == key { throw .corrupt }
                // The op's schema: keys it does not take are unsupported, wrong types corrupt.
                let spec = description.schema.spec(key)
                guard spec.present else { throw .unsupported }
                guard spec.type == type else { throw .corrupt }
                attributes![nAttributes] = a; nAttributes += 1
            }
            try description.schema.checkRequired(self, op)
            for i in 0..<op.inputCount { values![inputID(op, i)].lastReader = o }
            try description.check(self, &op)
            ops!.advanced(by: opCount).initialize(to: op)
            opCount += 1
        }
        for i in 0..<outputCount { guard defined.contains(Int(outputs![i])) else { throw .corrupt } }
        guard c.atEnd else { throw .corrupt }
    }

    private func valueID(_ raw: UInt32) throws(BundleStatus) -> Int {
        guard raw < UInt32(valueCount) else { throw .corrupt }
        return Int(raw)
    }

    private static func name(_ c: inout BundleCursor) throws(BundleStatus) -> GraphName {
        let bytes = try c.string()
        var n = GraphName()
        n.start = bytes.baseAddress
        n.count = bytes.count
        return n
    }

    /// The byte size a tensor record must declare: its elements in row-major order, or the
    /// packed size of a `[out, in]` matrix in a packed layout.
    static func storedBytes(_ t: GraphTensor) throws(BundleStatus) -> Int {
        switch t.layout {
        case .rowMajor:
            return t.shape.count * t.dtype.size
        case .packedLinear:
            guard t.shape.rank == 2, t.dtype == .f32 || t.dtype == .f16 else { throw .corrupt }
            return try checkedMultiply(linearPackedCount(outputs: t.shape.dim(0), inputs: t.shape.dim(1)), t.dtype.size)
        case .packedQGEMM:
            guard t.shape.rank == 2, t.dtype == .i8 else { throw .corrupt }
            return qgemmPackedBytes(n: t.shape.dim(0), k: t.shape.dim(1))
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
