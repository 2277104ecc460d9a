// The memory plan, made once per context: every value that is not a graph input or output
// gets an offset in one arena, reusing the space of values no op reads any more
// (liveness over the op order, first fit by offset). A reshape output shares its input's
// memory, which then stays live until the last reader of either. A conv2d fused with the
// max_pool2d after it (`pooledInto`) places the pool's output instead of its own. Kernel scratch (the
// largest any op needs) sits at the start of the arena.
//
//   arena = [ scratch | values … ]     value v: arena + offsets[v], batch-major, dense

/// Where each value of a graph lives for contexts of `maxBatch` samples.
public struct MemoryPlan {
    /// Per value: byte offset in the arena, or −1 (the caller's buffer, or see `roots`).
    public var offsets: UnsafeMutablePointer<Int>? = nil
    /// Per value: the value whose memory it uses (itself, or a reshape's input, transitively).
    public var roots: UnsafeMutablePointer<Int32>? = nil
    public var valueCount = 0
    /// Bytes of kernel scratch at the start of the arena.
    public var scratchBytes = 0
    /// Bytes of the whole arena.
    public var arenaBytes = 0

    public init() {}

    public mutating func release() {
        bundleFree(offsets); bundleFree(roots)
        self = MemoryPlan()
    }

    /// Bytes value `v` needs in the arena (0 if it lives elsewhere).
    public func bytes(_ g: Graph, _ v: Int, maxBatch: Int) -> Int {
        offsets![v] < 0 ? 0 : kernelRoundUp(maxBatch * g.values![v].bytesPerSample, 64)
    }

    /// The plan for `graph` and `maxBatch` (1 … `BundleLimits.maxBatch`). With `reuse`
    /// false every value keeps its own memory (so all can be read after a run).
    public static func make(_ g: Graph, maxBatch: Int, reuse: Bool = true) throws(BundleStatus) -> MemoryPlan {
        var plan = MemoryPlan()
        do {
            try plan.build(g, maxBatch: maxBatch, reuse: reuse)
        } catch {
            plan.release()
            throw error
        }
        return plan
    }

    private mutating func build(_ g: Graph, maxBatch: Int, reuse: Bool) throws(BundleStatus) {
        let n = g.valueCount
        valueCount = n
        offsets = try bundleAllocate(Int.self, count: n)
        roots = try bundleAllocate(Int32.self, count: n)
        // Per root: last op reading it or any alias; live blocks sorted by offset (value ids).
        let lastUse = try bundleAllocate(Int.self, count: n)
        defer { bundleFree(lastUse) }
        let live = try bundleAllocate(Int32.self, count: n)
        defer { bundleFree(live) }
        var liveCount = 0

        for v in 0..<n { offsets![v] = -1; roots![v] = Int32(v); lastUse[v] = -1 }
        for o in 0..<g.opCount {
            let op = g.ops![o]
            if op.params.aliasesInput { roots![g.outputID(op, 0)] = roots![g.inputID(op, 0)] }
        }
        for v in 0..<n {
            let r = Int(roots![v])
            lastUse[r] = Swift.max(lastUse[r], g.values![v].lastReader)
        }
        func inArena(_ v: Int) -> Bool { Int(roots![v]) == v && !g.values![v].isInput && !g.values![v].isOutput }

        var scratch = 0
        for o in 0..<g.opCount {
            let p = g.ops![o].params
            scratch = Swift.max(scratch, try checkedAdd(p.scratchBytes, try checkedMultiply(p.scratchBytesPerSample, maxBatch)))
        }
        scratchBytes = kernelRoundUp(scratch, 64)
        var end = 0
        func size(_ v: Int) throws(BundleStatus) -> Int {
            kernelRoundUp(try checkedMultiply(g.values![v].bytesPerSample, maxBatch), 64)
        }
        func remove(_ v: Int) {
            for i in 0..<liveCount where Int(live[i]) == v {
                for j in i..<(liveCount - 1) { live[j] = live[j + 1] }
                liveCount -= 1
                return
            }
        }
        for o in 0..<g.opCount {
            let op = g.ops![o]
            for i in 0..<op.outputCount {
                // A conv fused with its max pool (with reuse) writes the pool's output: placed
                // here, where it is written; the conv's own output and the pool get none.
                let fused = reuse && op.params.pooledInto >= 0
                if reuse && op.params.pooledByConv { continue }
                let v = fused ? op.params.pooledInto : g.outputID(op, i)
                guard inArena(v) else { continue }
                let bytes = try size(v)
                var at = reuse ? 0 : end
                var slot = liveCount
                if reuse {
                    // First gap that fits among the live blocks, in offset order.
                    for j in 0..<liveCount {
                        let w = Int(live[j])
                        if at + bytes <= offsets![w] { slot = j; break }
                        at = Swift.max(at, offsets![w] + (try size(w)))
                    }
                }
                offsets![v] = at
                end = Swift.max(end, try checkedAdd(at, bytes))
                var j = liveCount
                while j > slot { live[j] = live[j - 1]; j -= 1 }
                live[slot] = Int32(v)
                liveCount += 1
            }
            // Free what this op read for the last time, and outputs nobody reads.
            for i in 0..<op.inputCount {
                let r = Int(roots![g.inputID(op, i)])
                if inArena(r) && lastUse[r] == o { remove(r) }
            }
            for i in 0..<op.outputCount {
                let r = Int(roots![g.outputID(op, i)])
                if inArena(r) && lastUse[r] < o { remove(r) }
            }
        }
        arenaBytes = try checkedAdd(scratchBytes, end)
    }
}
