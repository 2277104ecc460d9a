// Loading a whole bundle into an `InferenceModel`, and running it. The runtime's C API and
// the Swift side (`ModelBundle(decoding:)`, `BundleExecutor`) both call this code, so they
// validate, prepare and compute identically.
//
//   let loaded = try LoadedBundle.load(bytes, count: n)          // validated, weights in place
//   var ctx = try InferenceContext.create(&loaded.model, maxBatch: 64)   // arena planned and allocated
//   ctx.run(&loaded.model, batch: 64, inputs: ins, outputs: outs)      // allocates nothing
//   try ctx.step(loaded.model, batch: 1, steps: 1, inputs: ins, outputs: outs)   // streaming, state kept

#if MYELIN_RUNTIME
import CZlibRuntime
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A graph with its weights in memory, ready to run. Immutable once loaded.
public struct InferenceModel {
    public var graph = Graph()
    /// The decoded GRPH section (names and attributes point into it).
    public var graphBytes: UnsafeMutableRawPointer? = nil
    /// The decoded DATA section (tensor data points into it), 64-byte aligned.
    public var data: UnsafeMutableRawPointer? = nil
    public var dataSize = 0
    /// Every op's load-time data, one block.
    public var prepared: UnsafeMutableRawPointer? = nil

    public init() {}

    public mutating func release() {
        graph.release()
        bundleFree(graphBytes); bundleFree(data); bundleFree(prepared)
        self = InferenceModel()
    }
}

/// A bundle read and validated in the documented order, with its optional sections.
public struct LoadedBundle {
    public var model = InferenceModel()
    /// Decoded META and TEST sections (validated), or nil.
    public var metadata: UnsafeMutableRawPointer? = nil
    public var metadataSize = 0
    public var selfTest: UnsafeMutableRawPointer? = nil
    public var selfTestSize = 0

    public init() {}

    public mutating func release() {
        model.release()
        bundleFree(metadata); bundleFree(selfTest)
        self = LoadedBundle()
    }

    /// Parses and validates a bundle of `count` bytes at `base`. Order of checks: header and
    /// section CRCs; decoding GRPH, META and TEST; the graph's structure and every op's
    /// rules; decoding DATA; weight values; META; TEST. Nothing keeps a pointer into `base`.
    ///
    /// `budget` caps the bytes the load allocates for the decoded sections, their decoding
    /// scratch, the ops' prepared (packed or widened) weights and `extraBytes` (the caller's
    /// own copies, e.g. the runtime's strings); it is checked before each of those
    /// allocations: `.limitExceeded` beyond it. Not counted: the graph's bookkeeping (bounded
    /// by the op, value and tensor caps) and short-lived conversion buffers.
    public static func load(_ base: UnsafeRawPointer, count: Int, reference: Bool = false,
                            budget: Int = Int.max, extraBytes: (LoadedBundle) -> Int = { _ in 0 }) throws(BundleStatus) -> LoadedBundle {
        var b = LoadedBundle()
        do {
            try b.read(base, count: count, reference: reference, budget: budget, extraBytes: extraBytes)
        } catch {
            b.release()
            throw error
        }
        return b
    }

    private mutating func read(_ base: UnsafeRawPointer, count: Int, reference: Bool, budget: Int,
                               extraBytes: (LoadedBundle) -> Int) throws(BundleStatus) {
        let table = try BundleSectionTable.parse(base, count: count)
        // Every decoded section and its scratch, before the first is allocated.
        func sectionBytes(scratch: Bool) throws(BundleStatus) -> Int {
            func bytes(_ s: BundleSection) throws(BundleStatus) -> Int {
                !s.present ? 0 : scratch && s.needsScratch ? try checkedMultiply(s.size, 2) : s.size
            }
            return try checkedAdd(try checkedAdd(try bytes(table.graph), try bytes(table.data)),
                                  try checkedAdd(try bytes(table.metadata), try bytes(table.selfTest)))
        }
        guard try sectionBytes(scratch: true) <= budget else { throw .limitExceeded }
        model.graphBytes = try Self.decode(table.graph, base)
        if table.metadata.present { metadata = try Self.decode(table.metadata, base); metadataSize = table.metadata.size }
        if table.selfTest.present { selfTest = try Self.decode(table.selfTest, base); selfTestSize = table.selfTest.size }
        model.graph = try Graph.parse(model.graphBytes!, count: table.graph.size, dataSize: table.data.size, reference: reference)

        // DATA straight into its final place: packed weights need no further work.
        model.data = try Self.decode(table.data, base)
        model.dataSize = table.data.size
        let g = model.graph
        for t in 0..<g.tensorCount { g.tensors![t].data = UnsafeRawPointer(model.data!) + g.tensors![t].offset }
        // Linear (and qlinear) ops that read the same weight tensor share one packed copy
        // (their prepare writes a function of that tensor alone): a weight that many ops
        // reference is packed once, not once per op, so what a load allocates is bounded by
        // what the file stores. sharer[o] is the op whose block op o uses, or -1.
        let sharer = try bundleAllocate(Int.self, count: Swift.max(g.opCount, 1))
        defer { bundleFree(sharer) }
        let packer = try bundleAllocate(Int.self, count: Swift.max(g.tensorCount, 1))
        defer { bundleFree(packer) }
        packer.initialize(repeating: -1, count: Swift.max(g.tensorCount, 1))
        var preparedBytes = 0
        for o in 0..<g.opCount {
            sharer[o] = -1
            let op = g.ops![o]
            if (op.code == .linear || op.code == .qlinear) && op.params.preparedBytes > 0 {
                let t = g.tensorID(op, 0)
                if packer[t] >= 0 && g.ops![packer[t]].code == op.code { sharer[o] = packer[t]; continue }
                packer[t] = o
            }
            preparedBytes = try checkedAdd(preparedBytes, kernelRoundUp(op.params.preparedBytes, 64))
        }
        // Every op's block is a packed (at most widened f16 → f32) copy of the weights it reads,
        // so a file whose blocks add up to more than a few times its decoded DATA references one
        // stored tensor from many ops: refused, so that what a load allocates stays a function
        // of what the file stores (linear and qlinear blocks are shared above instead).
        let preparedLimit = try checkedAdd(try checkedMultiply(model.dataSize, BundleLimits.preparedPerDataByte), 1 << 20)
        guard preparedBytes <= preparedLimit else { throw .limitExceeded }
        // Decode scratch is freed by now; the prepared weights come on top of the sections.
        let charged = try sectionBytes(scratch: false)
        guard try checkedAdd(charged, preparedBytes) <= budget else { throw .limitExceeded }
        if preparedBytes > 0 {
            model.prepared = try bundleAllocate(bytes: preparedBytes)
            var at = model.prepared!
            for o in 0..<g.opCount where g.ops![o].params.preparedBytes > 0 && sharer[o] < 0 {
                g.ops![o].prepared = at
                at += kernelRoundUp(g.ops![o].params.preparedBytes, 64)
            }
        }
        for o in 0..<g.opCount {
            if sharer[o] >= 0 {
                g.ops![o].prepared = g.ops![sharer[o]].prepared   // prepared already (earlier in op order)
                g.ops![o].params.preparedShared = true            // prepare checks the op's own operands only
            }
            try OpRegistry.description(g.ops![o].code).prepare(g, &g.ops![o])
        }
        Self.fuseConvPools(g)
        QConvOps.keepChannelsLast(g)
        ConvOps.keepChannelsLast(g)

        if let m = metadata { _ = try BundleMetadata(m, size: metadataSize, outputSize: g.outputValue(0).count) }
        if let t = selfTest { _ = try BundleSelfTestRecord(t, size: selfTestSize, graph: g) }
        guard try checkedAdd(try checkedAdd(charged, preparedBytes), extraBytes(self)) <= budget else { throw .limitExceeded }
    }

    /// Fuses each f32 conv2d whose output only a 2×2, stride-2, unpadded, undilated max_pool2d
    /// (values only) reads, and that can pool what it computes (`convPoolsOutput`), with that
    /// pool: the conv writes the pool's output (`pooledInto`), the pool does not run
    /// (`pooledByConv`), and the memory plan places the pool's output where the conv runs and
    /// no memory for the conv's output. Contexts without reuse run both ops unfused.
    @_optimize(size)
    static func fuseConvPools(_ g: Graph) {
        for o in 0..<g.opCount where g.ops![o].code == .maxPool2d && g.ops![o].outputCount == 1 {
            let pool = g.ops![o], w = pool.params.window, v = g.inputID(pool, 0)
            guard g.values![v].dtype == .f32, w.kernelH == 2, w.kernelW == 2, w.strideH == 2, w.strideW == 2,
                  w.dilationH == 1, w.dilationW == 1, w.padTop == 0, w.padLeft == 0, w.padBottom == 0, w.padRight == 0,
                  !g.values![v].isOutput, g.values![v].lastReader == o else { continue }
            // The conv that writes v, with no other reader between it and the pool.
            var p = o - 1, readers = 0
            while p >= 0 && !(g.ops![p].outputCount == 1 && g.outputID(g.ops![p], 0) == v) {
                for i in 0..<g.ops![p].inputCount where g.inputID(g.ops![p], i) == v { readers += 1 }
                p -= 1
            }
            guard p >= 0, readers == 0, g.ops![p].code == .conv2d, convPoolsOutput(g.ops![p].params.window) else { continue }
            g.ops![p].params.pooledInto = g.outputID(pool, 0)
            g.ops![p].params.scratchBytes += 4 * convPoolScratchCount(g.ops![p].params.window)
            g.ops![o].params.pooledByConv = true
        }
    }

    /// A section decoded into new 64-byte aligned memory.
    static func decode(_ s: BundleSection, _ file: UnsafeRawPointer) throws(BundleStatus) -> UnsafeMutableRawPointer {
        let out = try bundleAllocate(bytes: s.size)
        var scratch: UnsafeMutableRawPointer? = nil
        defer { bundleFree(scratch) }
        do {
            if s.needsScratch { scratch = try bundleAllocate(bytes: s.size) }
            try s.decode(file: file, into: out, scratch: scratch)
        } catch {
            bundleFree(out)
            throw error
        }
        return out
    }
}

/// Memory for running a model on up to `maxBatch` samples per call: the planned arena, one
/// pointer per value, and the stream state of sequence ops. Belongs to one thread at a time.
///
/// Streaming (`step`): the context keeps each stateful op's state (recurrent h and c, the
/// attention key/value cache) between calls, per batch row; every call feeds 1 … T new time
/// steps (T: the first per-sample dimension of the graph inputs) and `position` counts the
/// steps fed since the last `reset`. A whole-sequence `run` starts from zero state and leaves
/// the stream reset.
public struct InferenceContext {
    public var maxBatch = 0
    public var plan = MemoryPlan()
    public var arena: UnsafeMutableRawPointer? = nil
    /// Per value: where its batch lives during a run.
    public var pointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>? = nil
    /// Every stateful op's block (`maxBatch · stateBytesPerSample`, 64-byte aligned), nil if none.
    public var state: UnsafeMutableRawPointer? = nil
    public var stateBytes = 0
    /// Per op: byte offset of its block in `state`, or −1.
    public var stateOffsets: UnsafeMutablePointer<Int>? = nil
    /// What streaming the graph allows.
    public var stream = StreamInfo()
    /// Steps fed since the last reset, and the batch of the stream (fixed until a reset).
    public var position = 0
    public var streamBatch = 0
    /// The graph resized to `stepSteps` steps: own copies of the values and ops (streamable graphs only).
    public var stepValues: UnsafeMutablePointer<GraphValue>? = nil
    public var stepOps: UnsafeMutablePointer<GraphOp>? = nil
    public var stepSteps = 0
    /// Samples run through the whole graph at a time: a large batch runs in chunks whose
    /// values fit in about `chunkBytes` (every op works sample by sample, so the results
    /// do not depend on it), so that e.g. a CNN's feature maps stay in cache between ops.
    /// `maxBatch` when values must stay readable after a run (`reuse` false). The arena is
    /// planned for `chunk` samples (`plannedBatch`), not `maxBatch`.
    public var chunk = 1
    public static let chunkBytes = 1 << 20
    /// Whether convolutions fused with their max pool (`LoadedBundle.fuseConvPools`) run fused:
    /// unless every value must stay readable after a run (`reuse` false).
    public var fusesPools = true
    /// Without `fusesPools`: where each op is copied with its load-time fusions undone before it runs.
    public var unfusedOp: UnsafeMutablePointer<GraphOp>? = nil

    public init() {}

    public mutating func release() {
        plan.release()
        stream.release()
        bundleFree(arena); bundleFree(pointers); bundleFree(state); bundleFree(stateOffsets)
        bundleFree(stepValues); bundleFree(stepOps); bundleFree(unfusedOp)
        self = InferenceContext()
    }

    /// Samples a context for `maxBatch` runs through the graph at a time (`chunk`), and plans
    /// its arena for: as many as keep one sample's planned values times that count within
    /// about `chunkBytes` (at least 1, at most `maxBatch`), or `maxBatch` without `reuse`.
    public static func plannedBatch(_ g: Graph, maxBatch: Int, reuse: Bool = true) throws(BundleStatus) -> Int {
        guard reuse, maxBatch > 1 else { return maxBatch }
        var one = try MemoryPlan.make(g, maxBatch: 1)
        defer { one.release() }
        let perSample = Swift.max(1, one.arenaBytes - one.scratchBytes)
        return Swift.max(1, Swift.min(maxBatch, chunkBytes / perSample))
    }

    /// Arena bytes a context for `maxBatch` samples allocates (without creating it): planned
    /// for `plannedBatch` samples, so it stops growing with `maxBatch` past that.
    public static func arenaBytes(_ model: InferenceModel, maxBatch: Int) throws(BundleStatus) -> Int {
        guard maxBatch >= 1 else { throw .invalidArgument }
        guard maxBatch <= BundleLimits.maxBatch else { throw .limitExceeded }
        var plan = try MemoryPlan.make(model.graph, maxBatch: try plannedBatch(model.graph, maxBatch: maxBatch))
        defer { plan.release() }
        return plan.arenaBytes
    }

    /// Stream state bytes a context for `maxBatch` samples allocates (0 without stateful ops).
    public static func stateBytes(_ model: InferenceModel, maxBatch: Int) throws(BundleStatus) -> Int {
        let g = model.graph
        var total = 0
        for o in 0..<g.opCount {
            total = try checkedAdd(total, kernelRoundUp(try checkedMultiply(g.ops![o].params.stateBytesPerSample, maxBatch), 64))
        }
        return total
    }

    /// Plans and allocates a context. `budget` caps the arena, the stream state, the value
    /// pointers and the streaming copies of the graph, checked after planning and before
    /// allocating them: `.limitExceeded` beyond it.
    public static func create(_ model: InferenceModel, maxBatch: Int, reuse: Bool = true,
                              budget: Int = Int.max) throws(BundleStatus) -> InferenceContext {
        guard maxBatch >= 1 else { throw .invalidArgument }
        guard maxBatch <= BundleLimits.maxBatch else { throw .limitExceeded }
        var c = InferenceContext()
        let g = model.graph
        do {
            c.maxBatch = maxBatch
            c.fusesPools = reuse
            c.chunk = try plannedBatch(g, maxBatch: maxBatch, reuse: reuse)
            c.plan = try MemoryPlan.make(g, maxBatch: c.chunk, reuse: reuse)
            c.stream = try StreamInfo.analyse(g)
            c.stateBytes = try stateBytes(model, maxBatch: maxBatch)
            let copies = c.stream.streamable
                ? try checkedAdd(try checkedMultiply(g.valueCount, MemoryLayout<GraphValue>.stride),
                                 try checkedMultiply(g.opCount, MemoryLayout<GraphOp>.stride)) : 0
            let bookkeeping = try checkedAdd(try checkedMultiply(g.valueCount, 8), try checkedMultiply(g.opCount, 8))
            try checkBudget(try checkedAdd(try checkedAdd(c.plan.arenaBytes, c.stateBytes), try checkedAdd(bookkeeping, copies)), budget)
            c.arena = try bundleAllocate(bytes: c.plan.arenaBytes)
            memset(c.arena!, 0, c.plan.arenaBytes)
            c.pointers = try bundleAllocate(UnsafeMutableRawPointer?.self, count: g.valueCount)
            c.pointers!.initialize(repeating: nil, count: g.valueCount)
            if !reuse { c.unfusedOp = try bundleAllocate(GraphOp.self, count: 1) }
            c.stateOffsets = try bundleAllocate(Int.self, count: Swift.max(g.opCount, 1))
            var at = 0
            for o in 0..<g.opCount {
                let bytes = g.ops![o].params.stateBytesPerSample * maxBatch
                c.stateOffsets![o] = bytes > 0 ? at : -1
                at += kernelRoundUp(bytes, 64)
            }
            if c.stateBytes > 0 {
                c.state = try bundleAllocate(bytes: c.stateBytes)
                memset(c.state!, 0, c.stateBytes)
            }
            if c.stream.streamable {
                c.stepValues = try bundleAllocate(GraphValue.self, count: g.valueCount)
                c.stepValues!.initialize(from: g.values!, count: g.valueCount)
                c.stepOps = try bundleAllocate(GraphOp.self, count: g.opCount)
                c.stepOps!.initialize(from: g.ops!, count: g.opCount)
                c.stepSteps = c.stream.maxSteps
            }
        } catch {
            c.release()
            throw error
        }
        return c
    }

    /// Runs `batch` samples (1 … maxBatch, checked by the caller) of whole sequences, from zero
    /// state; the stream is reset afterwards. `inputs[i]` and `outputs[i]` hold graph input /
    /// output i for the batch, row-major, in its dtype. Token inputs must pass `checkTokens`.
    public mutating func run(_ model: InferenceModel, batch: Int, inputs: UnsafePointer<UnsafeRawPointer?>,
                             outputs: UnsafePointer<UnsafeMutableRawPointer?>) {
        execute(model.graph, batch: batch, position: 0, inputs: inputs, outputs: outputs)
        reset()
    }

    /// Forgets the stream: the next step starts from zero state at position 0.
    public mutating func reset() {
        position = 0
        streamBatch = 0
    }

    /// Feeds `steps` new time steps of `batch` streams (the same batch since the last reset):
    /// graph input i holds `batch × steps × (its count / T)` elements, and each sequence output
    /// (`stream.sequence`) receives `batch × steps × (count / T)`, the others `batch × count`.
    /// `.unsupported` for a graph that cannot stream, `.invalidArgument` for a batch or step
    /// count out of range, a batch other than the stream's, or a token id out of range,
    /// `.limitExceeded` past `stream.maxSteps` per call or `stream.capacity` since the reset.
    /// Nothing runs and the state is unchanged when it throws.
    public mutating func step(_ model: InferenceModel, batch: Int, steps: Int, inputs: UnsafePointer<UnsafeRawPointer?>,
                              outputs: UnsafePointer<UnsafeMutableRawPointer?>) throws(BundleStatus) {
        guard stream.streamable else { throw .unsupported }
        guard batch >= 1, batch <= maxBatch, steps >= 1 else { throw .invalidArgument }
        guard position == 0 || batch == streamBatch else { throw .invalidArgument }
        guard steps <= stream.maxSteps else { throw .limitExceeded }
        guard stream.capacity == 0 || steps <= stream.capacity - position else { throw .limitExceeded }
        let g = try stepGraph(model, steps: steps)
        try InferenceContext.checkTokens(g, batch: batch, inputs: inputs)
        execute(g, batch: batch, position: position, inputs: inputs, outputs: outputs)
        position += steps
        streamBatch = batch
    }

    /// The graph with every sequence value's time dimension set to `steps` and every op's
    /// params derived again for those shapes (cached for the last step count).
    mutating func stepGraph(_ model: InferenceModel, steps: Int) throws(BundleStatus) -> Graph {
        var g = model.graph
        g.values = stepValues
        g.ops = stepOps
        guard steps != stepSteps else { return g }
        stepSteps = 0
        for v in 0..<g.valueCount {
            var value = model.graph.values![v]
            if stream.sequence![v] != 0 {
                value.shape.setDim(0, steps)
                value.shape.count = value.shape.product(0, value.shape.rank)
            }
            stepValues![v] = value
        }
        for o in 0..<g.opCount {
            var op = model.graph.ops![o]
            op.params = OpParams()
            try OpRegistry.description(op.code).check(g, &op)
            // Fewer steps never need more memory than the plan and the state were made for.
            let planned = model.graph.ops![o].params
            guard op.params.scratchBytes + op.params.scratchBytesPerSample * chunk <= plan.scratchBytes,
                  op.params.stateBytesPerSample == planned.stateBytesPerSample else { throw .limitExceeded }
            stepOps![o] = op
        }
        LoadedBundle.fuseConvPools(g)
        QConvOps.keepChannelsLast(g)
        ConvOps.keepChannelsLast(g)
        stepSteps = steps
        return g
    }

    /// `.invalidArgument` if an embedding that reads a graph input gets an id outside its table.
    public static func checkTokens(_ g: Graph, batch: Int, inputs: UnsafePointer<UnsafeRawPointer?>) throws(BundleStatus) {
        for o in 0..<g.opCount where g.ops![o].code == .embedding {
            let op = g.ops![o], id = g.inputID(op, 0)
            for i in 0..<g.inputCount where Int(g.inputs![i]) == id {
                let ids = inputs[i]!.assumingMemoryBound(to: Int32.self), rows = op.params.k
                for j in 0..<(batch * g.values![id].count) where ids[j] < 0 || Int(ids[j]) >= rows { throw .invalidArgument }
            }
        }
    }

    @inline(never)   // one copy for run and step (library size)
    func execute(_ g: Graph, batch: Int, position: Int, inputs: UnsafePointer<UnsafeRawPointer?>,
                 outputs: UnsafePointer<UnsafeMutableRawPointer?>) {
        let p = pointers!
        for v in 0..<g.valueCount where plan.offsets![v] >= 0 { p[v] = arena! + plan.scratchBytes + plan.offsets![v] }
        // Large batches run through the whole graph in chunks (`chunk`); each chunk's rows of
        // the inputs, outputs and state.
        var start = 0
        while start < batch {
            let n = Swift.min(chunk, batch - start)
            for i in 0..<g.inputCount {
                let v = Int(g.inputs![i])
                p[v] = UnsafeMutableRawPointer(mutating: inputs[i]! + start * g.values![v].bytesPerSample)
            }
            for i in 0..<g.outputCount {
                let v = Int(g.outputs![i])
                p[v] = outputs[i]! + start * g.values![v].bytesPerSample
            }
            for v in 0..<g.valueCount where Int(plan.roots![v]) != v { p[v] = p[Int(plan.roots![v])] }
            for o in 0..<g.opCount {
                // Later steps of a stream skip the context (StreamInfo): its readers keep it.
                if position > 0, let skip = stream.contextOps, skip[o] != 0 { continue }
                var op = UnsafePointer(g.ops! + o)
                if let unfused = unfusedOp {
                    unfused.pointee = op.pointee
                    unfused.pointee.params.pooledInto = -1
                    unfused.pointee.params.channelsLastInput = false
                    unfused.pointee.params.channelsLastOutput = false
                    op = UnsafePointer(unfused)
                } else if op.pointee.params.pooledByConv { continue }
                let at = stateOffsets![o]
                let rows: UnsafeMutableRawPointer? = at >= 0 ? state! + at + start * op.pointee.params.stateBytesPerSample : nil
                OpRegistry.description(op.pointee.code).run(OpRun(graph: g, op: op, batch: n, pointers: p, scratch: arena!,
                                                                  state: rows, position: position))
            }
            start += n
        }
    }
}

/// Whether and how a graph streams (see `InferenceContext.step`). The time axis is the first
/// per-sample dimension of every graph input; it runs through ops that treat time steps one
/// row at a time (linear on rank ≥ 2, activations, embedding, layer_norm over trailing dims, elementwise
/// ops of two sequences or of a sequence and a constant without the time axis), through
/// unidirectional recurrent layers and causal attention (which keep state), and ends at
/// last_step. Any other use of a sequence value, a bidirectional layer or non-causal attention
/// makes the graph whole-sequence only.
///
/// Context: operands an op reads at position 0 only (cross-attention's keys, values and key
/// ids; a recurrent layer's initial state) and everything computed only for them from graph
/// inputs that nothing else reads (an encoder over a `source` input) form the context. The
/// first step after a reset runs the context ops; later steps skip them (the op that read
/// their results keeps what it needs in its state). Context inputs have no time axis: every
/// step call passes them whole (they are read only at position 0).
public struct StreamInfo {
    public var streamable = false
    /// Most steps per call: T.
    public var maxSteps = 0
    /// Positions a stream may reach before it must be reset (0: unbounded).
    public var capacity = 0
    /// Bytes of state per sample (all ops).
    public var stateBytesPerSample = 0
    /// Per value: 1 if its first per-sample axis is time.
    public var sequence: UnsafeMutablePointer<UInt8>? = nil
    /// Per value: 1 if it is context (read at position 0 only); then per op (`contextOps`, in
    /// the same block): 1 if it computes context.
    public var context: UnsafeMutablePointer<UInt8>? = nil
    public var contextOps: UnsafeMutablePointer<UInt8>? { context.map { $0 + valueCount } }
    var valueCount = 0

    public init() {}

    public mutating func release() {
        bundleFree(sequence); bundleFree(context)
        self = StreamInfo()
    }

    /// Whether `op` reads input `i` at position 0 only (cross-attention's k, v, key ids; a
    /// recurrent layer's initial state).
    static func readsAtStartOnly(_ op: GraphOp, _ i: Int) -> Bool {
        switch op.code {
        case .attention: return AttentionOp.isCross(op) && i >= 1
        case .rnn, .lstm, .gru: return i >= 1
        default: return false
        }
    }

    /// Marks the context (see the type's note), from the last op back: a value is context when
    /// every op that reads it reads it at position 0 only or computes context itself, and it is
    /// not a graph output; an op computes context when all its outputs are context.
    mutating func markContext(_ g: Graph) throws(BundleStatus) {
        // While marking, per value: 0 unread, 1 read by the context only, 2 read outside it.
        let c = try bundleAllocate(UInt8.self, count: g.valueCount + g.opCount + 1)
        context = c
        valueCount = g.valueCount
        c.initialize(repeating: 0, count: g.valueCount)
        let ops = c + g.valueCount
        var o = g.opCount
        while o > 0 {
            o -= 1
            let op = g.ops![o]
            var all = true
            for i in 0..<op.outputCount where c[g.outputID(op, i)] != 1 || g.output(op, i).isOutput { all = false }
            ops[o] = all ? 1 : 0
            for i in 0..<op.inputCount {
                let v = g.inputID(op, i)
                c[v] = all || StreamInfo.readsAtStartOnly(op, i) ? Swift.max(c[v], 1) : 2
            }
        }
        for v in 0..<g.valueCount where c[v] != 1 || g.values![v].isOutput { c[v] = 0 }
    }

    public static func analyse(_ g: Graph) throws(BundleStatus) -> StreamInfo {
        var info = StreamInfo()
        info.sequence = try bundleAllocate(UInt8.self, count: Swift.max(g.valueCount, 1))
        info.sequence!.initialize(repeating: 0, count: Swift.max(g.valueCount, 1))
        for o in 0..<g.opCount { info.stateBytesPerSample += g.ops![o].params.stateBytesPerSample }
        try info.markContext(g)
        // The time axis: the first per-sample axis of every graph input outside the context.
        for i in 0..<g.inputCount {
            let id = Int(g.inputs![i]), v = g.values![id]
            if info.context![id] != 0 { continue }
            guard v.shape.rank >= 1, info.maxSteps == 0 || v.shape.dim(0) == info.maxSteps else { return info }
            info.maxSteps = v.shape.dim(0)
            info.sequence![id] = 1
        }
        guard info.maxSteps > 0 else { return info }
        for o in 0..<g.opCount {
            let op = g.ops![o]
            var sequenceInputs = 0
            for i in 0..<op.inputCount {
                let v = g.inputID(op, i)
                // What is read at position 0 only must not change from step to step.
                if readsAtStartOnly(op, i) && info.context![v] == 0 { return info }
                if info.sequence![v] != 0 { sequenceInputs += 1 }
            }
            if sequenceInputs == 0 {
                // Context ops may keep state (they run at position 0 only); others run every step.
                guard info.contextOps![o] != 0 || (op.params.stateBytesPerSample == 0 && op.params.maxPositions == 0) else { return info }
                continue
            }
            // The context runs at position 0 only: it must not read a sequence.
            guard info.contextOps![o] == 0 else { return info }
            guard streams(g, op, sequenceInputs) else { return info }
            if op.code != .lastStep {
                // A recurrent layer's final state outputs (h_n, c_n) have no time axis.
                let recurrent = op.code == .rnn || op.code == .lstm || op.code == .gru
                for i in 0..<(recurrent ? 1 : op.outputCount) { info.sequence![g.outputID(op, i)] = 1 }
            }
            let limit = op.params.maxPositions
            if limit > 0 { info.capacity = info.capacity == 0 ? limit : Swift.min(info.capacity, limit) }
        }
        info.streamable = true
        return info
    }

    /// Whether `op`, reading sequence values, treats the time axis step by step.
    static func streams(_ g: Graph, _ op: GraphOp, _ sequenceInputs: Int) -> Bool {
        let p = op.params
        switch op.code {
        case .linear, .qlinear:
            return g.input(op, 0).shape.rank >= 2   // time is a row, not the feature axis
        case .quantize, .dequantize, .relu, .leakyRelu, .elu, .sigmoid, .tanh, .gelu, .embedding, .positionalEncoding:
            return true
        case .layerNorm, .softmax, .logSoftmax, .scaleShift:
            return p.axis >= 1
        case .add, .sub, .mul, .div:
            if op.inputCount == 2 { return sequenceInputs == 2 && g.input(op, 0).shape.same(as: g.input(op, 1).shape) }
            return g.tensor(op, 0).shape.rank < g.input(op, 0).shape.rank
        case .rnn, .lstm, .gru:
            return p.outer == 1
        case .attention:
            return p.causal || AttentionOp.isCross(op)
        case .concat:
            return p.axis >= 1 && sequenceInputs == op.inputCount   // features of one step side by side
        case .lastStep:
            return p.k == 0
        default:
            return false
        }
    }
}

/// `.limitExceeded` if `bytes` exceed `budget`.
@inline(__always)
func checkBudget(_ bytes: Int, _ budget: Int) throws(BundleStatus) {
    guard bytes <= budget else { throw .limitExceeded }
}
