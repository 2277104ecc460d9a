import Foundation

/// Runs a bundle in Swift through the shared executor the C runtime runs
/// (Sources/MyelinShared/Graph/Executor.swift and the op descriptions in Ops/): the
/// reference the runtime is tested against, the exporter's calibration pass, and what
/// `myelin inspect` uses for the self-test.
///
/// - `reference` (the default): qlinear runs the naive `qgemmReference` on row-major weights,
///   an integer reference independent of the runtime's packed VNNI kernel; every other op
///   runs the runtime's own kernels (linear: `linearPacked`, bit-identical to training).
/// - `reference: false`: exactly the runtime's kernels.
///
/// ```swift
/// let outputs = BundleExecutor(bundle).run(images, batch: 64)            // one f32 input and output
/// let (y, z) = BundleExecutor(bundle).run([a, b], batch: 8)               // per graph input / output
/// ```
public final class BundleExecutor {
    public let bundle: ModelBundle
    public let reference: Bool
    fileprivate var loaded: LoadedBundle

    /// - Precondition: the bundle is valid (as `ModelBundle(decoding:)` checks); an invalid
    ///   one stops the program with the reader's status. Use `make` to get the status instead.
    public convenience init(_ bundle: ModelBundle, reference: Bool = true) {
        do { try self.init(validating: bundle, reference: reference) } catch {
            fatalError("BundleExecutor: invalid bundle: \(error)")
        }
    }

    /// - Throws: `BundleError` with the status the runtime would give the bundle.
    public init(validating bundle: ModelBundle, reference: Bool = true) throws {
        self.bundle = bundle
        self.reference = reference
        let bytes = bundle.encode(compressed: false, packWeights: !reference)
        let result: Result<LoadedBundle, BundleStatus> = bytes.withUnsafeBytes { raw in
            do { return .success(try LoadedBundle.load(raw.baseAddress!, count: raw.count, reference: reference)) } catch { return .failure(error as? BundleStatus ?? .corrupt) }
        }
        switch result {
        case .success(let l): loaded = l
        case .failure(let status): throw BundleError(status, BundleDecoder.message(status))
        }
    }

    deinit { loaded.release() }

    /// A value's contents for a batch, in its dtype.
    public enum Contents: Equatable {
        case f32([Float])
        case u8([UInt8])
        case i32([Int32])

        /// The elements as floats (integers converted).
        public var floats: [Float] {
            switch self {
            case .f32(let v): return v
            case .u8(let v): return v.map { Float($0) }
            case .i32(let v): return v.map { Float($0) }
            }
        }
    }

    /// Arena bytes a runtime context for `maxBatch` samples allocates.
    public func arenaBytes(maxBatch: Int) throws -> Int {
        do { return try InferenceContext.arenaBytes(loaded.model, maxBatch: maxBatch) } catch {
            throw BundleError(error, "no context for a batch of \(maxBatch)")
        }
    }

    /// The arena a context for `maxBatch` samples allocates, split into kernel scratch and
    /// the planned values (after reuse of dead buffers).
    public func arenaLayout(maxBatch: Int) throws -> (scratch: Int, values: Int) {
        do {
            let g = loaded.model.graph
            var plan = try MemoryPlan.make(g, maxBatch: try InferenceContext.plannedBatch(g, maxBatch: maxBatch))
            defer { plan.release() }
            return (plan.scratchBytes, plan.arenaBytes - plan.scratchBytes)
        } catch {
            throw BundleError(error, "no context for a batch of \(maxBatch)")
        }
    }

    /// Runs `batch` samples; `inputs[i]` holds graph input i (`batch ×` its elements per
    /// sample, in its dtype). Returns the graph outputs. `observe` sees every value an op
    /// produces (value id, contents), in op order.
    public func run(_ inputs: [Contents], batch: Int, observe: ((Int, Contents) -> Void)? = nil) -> [Contents] {
        let g = loaded.model.graph
        check(inputs.count == g.inputCount, "BundleExecutor: \(inputs.count) inputs for a graph of \(g.inputCount)")
        var context: InferenceContext
        do { context = try InferenceContext.create(loaded.model, maxBatch: batch, reuse: observe == nil) } catch {
            fatalError("BundleExecutor: no context for a batch of \(batch): \(error)")
        }
        defer { context.release() }
        // Caller buffers: inputs copied in, outputs allocated, in each value's dtype.
        var buffers: [UnsafeMutableRawPointer] = []
        defer { for b in buffers { b.deallocate() } }
        func buffer(_ v: GraphValue) -> UnsafeMutableRawPointer {
            let b = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, batch * v.bytesPerSample), alignment: 64)
            buffers.append(b)
            return b
        }
        var ins: [UnsafeRawPointer?] = []
        for i in 0..<g.inputCount {
            let v = g.inputValue(i), b = buffer(v)
            check(Self.store(inputs[i], v, batch: batch, into: b), "BundleExecutor: input \(i) is not \(batch) × \(v.count) of its dtype")
            ins.append(UnsafeRawPointer(b))
        }
        var outs: [UnsafeMutableRawPointer?] = (0..<g.outputCount).map { buffer(g.outputValue($0)) }
        ins.withUnsafeBufferPointer { i in
            outs.withUnsafeMutableBufferPointer { o in
                context.run(loaded.model, batch: batch, inputs: i.baseAddress!, outputs: UnsafePointer(o.baseAddress!))
            }
        }
        if let observe {
            for o in 0..<g.opCount {
                let op = g.ops![o]
                for i in 0..<op.outputCount {
                    let id = g.outputID(op, i)
                    observe(id, Self.contents(UnsafeRawPointer(context.pointers![id]!), g.values![id], batch: batch))
                }
            }
        }
        return (0..<g.outputCount).map { Self.contents(UnsafeRawPointer(outs[$0]!), g.outputValue($0), batch: batch) }
    }

    /// Float inputs and outputs, one array per graph input and output (integer values converted).
    public func run(_ inputs: [[Float]], batch: Int) -> [[Float]] {
        let g = loaded.model.graph
        let typed = inputs.enumerated().map { i, x in Self.typed(x, g.inputValue(i).dtype) }
        return run(typed, batch: batch).map(\.floats)
    }

    /// The single-input, single-output case: `input` is `[batch × inputSize]`, the result
    /// `[batch × outputSize]`. `observe` sees every value an op produces.
    public func run(_ input: [Float], batch: Int, observe: ((Int, Contents) -> Void)? = nil) -> [Float] {
        check(input.count == batch * bundle.inputSize,
              "BundleExecutor: \(input.count) inputs for a batch of \(batch) × \(bundle.inputSize)")
        return run([.f32(input)], batch: batch, observe: observe)[0].floats
    }

    /// A streaming context for up to `maxBatch` streams: the Swift side of `myelin_step`.
    public func stream(maxBatch: Int) throws -> Stream { try Stream(self, maxBatch: maxBatch) }

    /// Feeds time steps to a sequence model and keeps its state between calls, through the
    /// executor the C runtime runs (`InferenceContext.step`): recurrent h and c, the attention
    /// key/value cache.
    ///
    /// ```swift
    /// let stream = try BundleExecutor(bundle).stream(maxBatch: 1)
    /// for token in prompt { logits = try stream.step([[Float(token)]], batch: 1, steps: 1)[0] }
    /// ```
    public final class Stream {
        let executor: BundleExecutor
        var context: InferenceContext

        init(_ executor: BundleExecutor, maxBatch: Int) throws {
            self.executor = executor
            do { context = try InferenceContext.create(executor.loaded.model, maxBatch: maxBatch) } catch {
                throw BundleError(error, "no context for a batch of \(maxBatch)")
            }
        }

        deinit { context.release() }

        /// Steps fed since the last reset.
        public var position: Int { context.position }
        /// Most steps per call, positions before a reset is needed (0: unbounded); nil if the
        /// graph cannot stream.
        public var limits: (maxSteps: Int, capacity: Int)? {
            context.stream.streamable ? (context.stream.maxSteps, context.stream.capacity) : nil
        }

        public func reset() { context.reset() }

        /// Feeds `steps` steps of `batch` streams: `inputs[i]` holds `batch × steps × (count / T)`
        /// elements of graph input i (floats; token ids converted). Returns the outputs: a
        /// sequence output `batch × steps × (count / T)`, any other `batch × count`.
        /// - Throws: `BundleError` with the runtime's status (nothing runs then).
        public func step(_ inputs: [[Float]], batch: Int, steps: Int) throws -> [[Float]] {
            let g = executor.loaded.model.graph
            check(inputs.count == g.inputCount, "BundleExecutor.Stream: \(inputs.count) inputs for a graph of \(g.inputCount)")
            guard context.stream.streamable else { throw BundleError(.unsupported, "the graph cannot stream") }
            let t = context.stream.maxSteps
            func elements(_ id: Int) -> Int {
                let v = g.values![id]
                return batch * (context.stream.sequence![id] != 0 ? v.count / t * Swift.max(steps, 0) : v.count)
            }
            var buffers: [UnsafeMutableRawPointer] = []
            defer { for b in buffers { b.deallocate() } }
            var ins: [UnsafeRawPointer?] = []
            for i in 0..<g.inputCount {
                let id = Int(g.inputs![i]), v = g.values![id]
                check(inputs[i].count == elements(id), "BundleExecutor.Stream: input \(i) has \(inputs[i].count) elements, not \(elements(id))")
                let b = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, inputs[i].count * v.dtype.size), alignment: 64)
                buffers.append(b)
                var shaped = v
                shaped.shape = BundleShape(rank: 1, (inputs[i].count, 1, 1, 1, 1, 1))
                _ = BundleExecutor.store(BundleExecutor.typed(inputs[i], v.dtype), shaped, batch: 1, into: b)
                ins.append(UnsafeRawPointer(b))
            }
            var outs: [UnsafeMutableRawPointer?] = []
            for i in 0..<g.outputCount {
                let id = Int(g.outputs![i])
                let b = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, elements(id) * 4), alignment: 64)
                buffers.append(b)
                outs.append(b)
            }
            do {
                try ins.withUnsafeBufferPointer { i throws(BundleStatus) in
                    try outs.withUnsafeBufferPointer { o throws(BundleStatus) in
                        try context.step(executor.loaded.model, batch: batch, steps: steps, inputs: i.baseAddress!, outputs: o.baseAddress!)
                    }
                }
            } catch {
                throw BundleError(error, "step refused")
            }
            return (0..<g.outputCount).map { i in
                let id = Int(g.outputs![i])
                var shaped = g.values![id]
                shaped.shape = BundleShape(rank: 1, (elements(id), 1, 1, 1, 1, 1))
                return BundleExecutor.contents(UnsafeRawPointer(outs[i]!), shaped, batch: 1).floats
            }
        }
    }

    /// Runs the stored self-test vectors: whether all pass and the largest deviation.
    public func selfTest() -> (passed: Bool, maxError: Float)? {
        guard let t = bundle.selfTest else { return nil }
        let y = run(t.inputs, batch: t.count)
        var passed = true, maxError: Float = 0
        for (got, expected) in zip(y, t.expected) {
            for (v, e) in zip(got, expected) {
                let d = abs(v - e)
                if !(d <= t.atol + t.rtol * abs(e)) { passed = false }
                maxError = Swift.max(maxError, d.isNaN ? .infinity : d)
            }
        }
        return (passed, maxError)
    }

    static func typed(_ x: [Float], _ dtype: BundleDType) -> Contents {
        func clamp(_ v: Float, _ lo: Float, _ hi: Float) -> Float { v.isNaN ? 0 : Swift.min(Swift.max(v.rounded(), lo), hi) }
        switch dtype {
        case .u8: return .u8(x.map { UInt8(clamp($0, 0, 255)) })
        case .i32: return .i32(x.map { Int32(clamp($0, -2_147_483_648, 2_147_483_520)) })
        default: return .f32(x)
        }
    }

    static func store(_ c: Contents, _ v: GraphValue, batch: Int, into b: UnsafeMutableRawPointer) -> Bool {
        let n = batch * v.count
        switch (c, v.dtype) {
        case (.f32(let x), .f32) where x.count == n: x.withUnsafeBytes { b.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        case (.u8(let x), .u8) where x.count == n: x.withUnsafeBytes { b.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        case (.i32(let x), .i32) where x.count == n: x.withUnsafeBytes { b.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        default: return false
        }
        return true
    }

    static func contents(_ p: UnsafeRawPointer, _ v: GraphValue, batch: Int) -> Contents {
        let n = batch * v.count
        switch v.dtype {
        case .u8: return .u8(Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: UInt8.self), count: n)))
        case .i32: return .i32(Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Int32.self), count: n)))
        default: return .f32(Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: n)))
        }
    }
}
