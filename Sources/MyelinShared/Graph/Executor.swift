// Loading a whole bundle into an `InferenceModel`, and running it. The runtime's C API and
// the Swift side (`ModelBundle(decoding:)`, `BundleExecutor`) both call this code, so they
// validate, prepare and compute identically.
//
//   let loaded = try LoadedBundle.load(bytes, count: n)          // validated, weights in place
//   var ctx = try InferenceContext.create(&loaded.model, maxBatch: 64)   // arena planned and allocated
//   ctx.run(&loaded.model, batch: 64, inputs: ins, outputs: outs)      // allocates nothing

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
        // Linear ops that read the same weight tensor share one packed copy (LinearOp.prepare
        // writes a function of that tensor alone): a weight that many ops reference is packed
        // once, not once per op. sharer[o] is the op whose block op o uses, or -1.
        let sharer = try bundleAllocate(Int.self, count: Swift.max(g.opCount, 1))
        defer { bundleFree(sharer) }
        let packer = try bundleAllocate(Int.self, count: Swift.max(g.tensorCount, 1))
        defer { bundleFree(packer) }
        packer.initialize(repeating: -1, count: Swift.max(g.tensorCount, 1))
        var preparedBytes = 0
        for o in 0..<g.opCount {
            sharer[o] = -1
            let op = g.ops![o]
            if op.code == .linear && op.params.preparedBytes > 0 {
                let t = g.tensorID(op, 0)
                if packer[t] >= 0 { sharer[o] = packer[t]; continue }
                packer[t] = o
            }
            preparedBytes = try checkedAdd(preparedBytes, kernelRoundUp(op.params.preparedBytes, 64))
        }
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
            } else {
                try OpRegistry.description(g.ops![o].code).prepare(g, &g.ops![o])
            }
        }

        if let m = metadata { _ = try BundleMetadata(m, size: metadataSize, outputSize: g.outputValue(0).count) }
        if let t = selfTest { _ = try BundleSelfTestRecord(t, size: selfTestSize, graph: g) }
        guard try checkedAdd(try checkedAdd(charged, preparedBytes), extraBytes(self)) <= budget else { throw .limitExceeded }
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

/// Memory for running a model on up to `maxBatch` samples per call: the planned arena and
/// one pointer per value. Belongs to one thread at a time.
public struct InferenceContext {
    public var maxBatch = 0
    public var plan = MemoryPlan()
    public var arena: UnsafeMutableRawPointer? = nil
    /// Per value: where its batch lives during a run.
    public var pointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>? = nil
    /// Samples run through the whole graph at a time: a large batch runs in chunks whose
    /// values fit in about `chunkBytes` (every op works sample by sample, so the results
    /// do not depend on it), so that e.g. a CNN's feature maps stay in cache between ops.
    /// `maxBatch` when values must stay readable after a run (`reuse` false).
    public var chunk = 1
    public static let chunkBytes = 1 << 20

    public init() {}

    public mutating func release() {
        plan.release()
        bundleFree(arena); bundleFree(pointers)
        self = InferenceContext()
    }

    /// Arena bytes a context for `maxBatch` samples allocates (without creating it).
    public static func arenaBytes(_ model: InferenceModel, maxBatch: Int) throws(BundleStatus) -> Int {
        guard maxBatch >= 1 else { throw .invalidArgument }
        guard maxBatch <= BundleLimits.maxBatch else { throw .limitExceeded }
        var plan = try MemoryPlan.make(model.graph, maxBatch: maxBatch)
        defer { plan.release() }
        return plan.arenaBytes
    }

    /// Plans and allocates a context. `budget` caps the arena plus the value pointers,
    /// checked after planning and before allocating them: `.limitExceeded` beyond it.
    public static func create(_ model: InferenceModel, maxBatch: Int, reuse: Bool = true,
                              budget: Int = Int.max) throws(BundleStatus) -> InferenceContext {
        guard maxBatch >= 1 else { throw .invalidArgument }
        guard maxBatch <= BundleLimits.maxBatch else { throw .limitExceeded }
        var c = InferenceContext()
        do {
            c.maxBatch = maxBatch
            c.plan = try MemoryPlan.make(model.graph, maxBatch: maxBatch, reuse: reuse)
            try checkBudget(try checkedAdd(c.plan.arenaBytes, try checkedMultiply(model.graph.valueCount, 8)), budget)
            c.arena = try bundleAllocate(bytes: c.plan.arenaBytes)
            memset(c.arena!, 0, c.plan.arenaBytes)
            c.pointers = try bundleAllocate(UnsafeMutableRawPointer?.self, count: model.graph.valueCount)
            c.pointers!.initialize(repeating: nil, count: model.graph.valueCount)
            let perSample = Swift.max(1, (c.plan.arenaBytes - c.plan.scratchBytes) / maxBatch)
            c.chunk = reuse ? Swift.max(1, Swift.min(maxBatch, chunkBytes / perSample)) : maxBatch
        } catch {
            c.release()
            throw error
        }
        return c
    }

    /// Runs `batch` samples (1 … maxBatch, checked by the caller). `inputs[i]` and
    /// `outputs[i]` hold graph input / output i for the batch, row-major, in its dtype.
    public func run(_ model: InferenceModel, batch: Int, inputs: UnsafePointer<UnsafeRawPointer?>,
                    outputs: UnsafePointer<UnsafeMutableRawPointer?>) {
        let g = model.graph, p = pointers!
        for v in 0..<g.valueCount where plan.offsets![v] >= 0 { p[v] = arena! + plan.scratchBytes + plan.offsets![v] }
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
                let op = g.ops![o]
                OpRegistry.description(op.code).run(OpRun(graph: g, op: op, batch: n, pointers: p, scratch: arena!))
            }
            start += n
        }
    }
}

/// `.limitExceeded` if `bytes` exceed `budget`.
@inline(__always)
func checkBudget(_ bytes: Int, _ budget: Int) throws(BundleStatus) {
    guard bytes <= budget else { throw .limitExceeded }
}
