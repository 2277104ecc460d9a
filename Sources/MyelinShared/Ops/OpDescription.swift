// What describes an inference op: name, attribute schema, validation with shape inference,
// load-time preparation and kernel. Each op (or small family) fills one `OpDescription` in
// its own file under Ops/; OpRegistry.swift maps opcodes to them. The graph reader, the
// executor (runtime and Swift reference) and the inspector all go through these, so an op
// is described exactly once.
//
// Adding an op: a new Ops/<Name>.swift with a `description`, a case in `BundleOpCode`
// (BundleFormat.swift), a line in OpRegistry.swift, its row in docs/bundle-format.md, tests.

/// One attribute an op takes.
public struct OpAttributeSpec {
    public var key = BundleAttribute.activation
    public var type = BundleAttributeType.int
    public var required = false
    public var defaultInt: Int64 = 0
    public var defaultFloat: Double = 0
    /// False for the empty spec returned for keys an op does not take.
    public var present = false

    public init() {}

    public static func int(_ key: BundleAttribute, default value: Int64? = nil) -> OpAttributeSpec {
        var s = OpAttributeSpec()
        s.key = key; s.type = .int; s.required = value == nil; s.defaultInt = value ?? 0; s.present = true
        return s
    }

    public static func float(_ key: BundleAttribute, default value: Double? = nil) -> OpAttributeSpec {
        var s = OpAttributeSpec()
        s.key = key; s.type = .float; s.required = value == nil; s.defaultFloat = value ?? 0; s.present = true
        return s
    }

    /// A required list.
    public static func ints(_ key: BundleAttribute) -> OpAttributeSpec {
        var s = OpAttributeSpec()
        s.key = key; s.type = .ints; s.required = true; s.present = true
        return s
    }
}

/// The attributes an op takes (at most six), with types and defaults.
public struct OpSchema {
    public var count = 0
    public var specs = (OpAttributeSpec(), OpAttributeSpec(), OpAttributeSpec(), OpAttributeSpec(), OpAttributeSpec(), OpAttributeSpec())

    public init() {}

    public init(_ a: OpAttributeSpec, _ b: OpAttributeSpec = OpAttributeSpec(), _ c: OpAttributeSpec = OpAttributeSpec(),
                _ d: OpAttributeSpec = OpAttributeSpec(), _ e: OpAttributeSpec = OpAttributeSpec(),
                _ f: OpAttributeSpec = OpAttributeSpec()) {
        specs = (a, b, c, d, e, f)
        count = f.present ? 6 : e.present ? 5 : d.present ? 4 : c.present ? 3 : b.present ? 2 : 1
    }

    public func at(_ i: Int) -> OpAttributeSpec {
        switch i {
        case 0: return specs.0
        case 1: return specs.1
        case 2: return specs.2
        case 3: return specs.3
        case 4: return specs.4
        default: return specs.5
        }
    }

    /// The spec of `key` (`present` false if the op does not take it).
    public func spec(_ key: BundleAttribute) -> OpAttributeSpec {
        for i in 0..<count where at(i).key == key { return at(i) }
        return OpAttributeSpec()
    }

    /// Every required attribute is present (else `.corrupt`).
    func checkRequired(_ g: Graph, _ op: GraphOp) throws(BundleStatus) {
        for i in 0..<count where at(i).required {
            guard g.attribute(op, at(i).key) != nil else { throw .corrupt }
        }
    }
}

/// What an op's check derives for its kernel. Fields are named by their common use; each
/// op file says which it sets.
public struct OpParams {
    /// Per-sample split around an axis: `outer × extent × inner` elements.
    public var outer = 1, extent = 1, inner = 1
    public var axis = 0
    /// slice: first index and stride along the axis.
    public var start = 0, step = 1
    /// linear, qlinear: rows per sample, inputs and outputs per row.
    public var rows = 1, k = 0, n = 0
    public var relu = false
    /// leaky_relu slope, elu alpha, quantize's inverse scale.
    public var value: Float = 0
    /// transpose: the permutation (unused entries are their own index).
    public var perm = (0, 1, 2, 3, 4, 5)
    /// reshape: the output shares the input's memory (the planner honours it).
    public var aliasesInput = false
    /// Bytes of load-time data (`GraphOp.prepared`).
    public var preparedBytes = 0
    /// conv2d, conv_transpose2d (the geometry of the convolution it is the adjoint of), the
    /// pooling and resampling ops (their window, batch 1; Ops/Conv.swift, Ops/Pool.swift).
    public var window = ConvGeometry(batch: 1, inChannels: 1, height: 1, width: 1, outChannels: 1, kernelH: 1, kernelW: 1)
    /// The loader set `GraphOp.prepared` to the block of an earlier op that reads the same
    /// weight tensor (linear, qlinear: the block is a function of that tensor alone):
    /// `prepare` checks its own operands but must not write the block again.
    public var preparedShared = false
    /// Kernel scratch: fixed bytes, plus bytes per sample of the batch.
    public var scratchBytes = 0
    public var scratchBytesPerSample = 0
    /// Sequence ops (Ops/Sequence*.swift): bytes of stream state the context keeps per sample
    /// (recurrent h and c, a key/value cache); positions a stream may reach (0: unbounded);
    /// attention's causal mask.
    public var stateBytesPerSample = 0
    public var maxPositions = 0
    public var causal = false
    /// Recurrent ops: bytes per element of W_ih and W_hh as stored and read (4 f32, 2 f16, 1 i8).
    public var weightBytes = 4
    /// A conv2d whose output only a 2×2, stride-2 max_pool2d reads, fused with it at load
    /// (Executor, `fuseConvPools`): the pool's output value id, which the conv writes pooled
    /// (its own output is never written), or −1; on that max_pool2d, `pooledByConv` (it does not run).
    public var pooledInto = -1
    public var pooledByConv = false
    /// A qconv2d whose u8 input / output stays in channels-last rows [H·W, C] per sample between
    /// quantised convolutions (`QConvOps.keepChannelsLast`). Like `pooledInto`, a load-time choice
    /// that contexts keeping every value readable undo (they run each op on NCHW planes).
    public var channelsLastInput = false
    public var channelsLastOutput = false

    public init() {}
}

/// Everything a kernel sees while it runs one op on a batch.
public struct OpRun {
    public var graph: Graph
    /// The op, in the graph's op array (or the context's copy with its fusions undone): read
    /// in place, not copied per run.
    public var opPointer: UnsafePointer<GraphOp>
    public var batch: Int
    /// Per value id: where its batch lives.
    public var pointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    /// `op.params.scratchBytes + batch · scratchBytesPerSample` bytes, 64-byte aligned.
    public var scratch: UnsafeMutableRawPointer
    /// The op's stream state (`params.stateBytesPerSample` per sample, sample after sample),
    /// nil for ops without state.
    public var state: UnsafeMutableRawPointer?
    /// Time steps the stream consumed before this run (0 after a reset, and for a whole-sequence
    /// run): stateful ops start from zero state at 0.
    public var position: Int

    public init(graph: Graph, op: UnsafePointer<GraphOp>, batch: Int, pointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                scratch: UnsafeMutableRawPointer, state: UnsafeMutableRawPointer? = nil, position: Int = 0) {
        self.graph = graph; self.opPointer = op; self.batch = batch; self.pointers = pointers; self.scratch = scratch
        self.state = state; self.position = position
    }

    @inline(__always) public var op: GraphOp { opPointer.pointee }
    @inline(__always) public var params: OpParams { opPointer.pointee.params }
    @inline(__always) public func inputValue(_ i: Int) -> GraphValue { graph.input(op, i) }
    @inline(__always) public func outputValue(_ i: Int) -> GraphValue { graph.output(op, i) }
    @inline(__always) public func input(_ i: Int) -> UnsafeRawPointer { UnsafeRawPointer(pointers[graph.inputID(op, i)]!) }
    @inline(__always) public func output(_ i: Int) -> UnsafeMutableRawPointer { pointers[graph.outputID(op, i)]! }
    @inline(__always) public func f32(_ i: Int) -> UnsafePointer<Float> { input(i).assumingMemoryBound(to: Float.self) }
    @inline(__always) public func f32Out(_ i: Int) -> UnsafeMutablePointer<Float> { output(i).assumingMemoryBound(to: Float.self) }
    @inline(__always) public func tensor(_ i: Int) -> GraphTensor { graph.tensor(op, i) }
    @inline(__always) public func tensorF32(_ i: Int) -> UnsafePointer<Float> { tensor(i).data!.assumingMemoryBound(to: Float.self) }
}

/// The single description of an op.
public struct OpDescription {
    /// The format's name, e.g. "linear".
    public var name: StaticString
    public var schema: OpSchema
    /// Operand counts (`.corrupt`), dtypes (`.unsupported`), shapes against the attributes
    /// and each other, with the inferred output shape compared to the declared one
    /// (`.shapeMismatch`), attribute ranges (`.corrupt`); fills `op.params`.
    public var check: (Graph, inout GraphOp) throws(BundleStatus) -> Void
    /// After DATA is decoded: checks weight values and fills `op.prepared`
    /// (`params.preparedBytes` bytes, 64-byte aligned).
    public var prepare: (Graph, inout GraphOp) throws(BundleStatus) -> Void
    /// Runs the op on a batch. Allocates nothing.
    public var run: (OpRun) -> Void

    public init(name: StaticString, schema: OpSchema = OpSchema(),
                check: @escaping (Graph, inout GraphOp) throws(BundleStatus) -> Void,
                prepare: @escaping (Graph, inout GraphOp) throws(BundleStatus) -> Void = { _, _ throws(BundleStatus) in },
                run: @escaping (OpRun) -> Void) {
        self.name = name; self.schema = schema; self.check = check; self.prepare = prepare; self.run = run
    }
}

// MARK: Helpers for checks

/// Operand counts: `.corrupt` unless the op has exactly these.
@inline(__always)
public func opExpect(_ op: GraphOp, inputs: Int, outputs: Int, tensors: Int) throws(BundleStatus) {
    guard op.inputCount == inputs, op.outputCount == outputs, op.tensorCount == tensors else { throw .corrupt }
}

/// A per-sample axis attribute: `.corrupt` if negative, `.shapeMismatch` if ≥ rank.
@inline(__always)
public func opAxis(_ g: Graph, _ op: GraphOp, rank: Int) throws(BundleStatus) -> Int {
    let a = g.int(op, .axis)
    guard a >= 0 else { throw .corrupt }
    guard a < Int64(rank) else { throw .shapeMismatch }
    return Int(a)
}

/// Splits `shape` around `axis` into `outer × extent × inner`.
@inline(__always)
public func opSplit(_ p: inout OpParams, _ shape: BundleShape, axis: Int) {
    p.axis = axis
    p.outer = shape.product(0, axis)
    p.extent = shape.dim(axis)
    p.inner = shape.product(axis + 1, shape.rank)
}
