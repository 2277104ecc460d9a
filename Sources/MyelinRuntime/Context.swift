// Contexts and runs: thin wrappers over the shared executor (Sources/MyelinShared/Graph/),
// which plans the arena once at creation and allocates nothing per run. Graph inputs and
// outputs live in the caller's arrays.

import CZlibRuntime

struct RuntimeContext {
    var model: UnsafePointer<RuntimeModel>
    var context: InferenceContext
}

func runtimeContextCreate(_ model: UnsafePointer<RuntimeModel>, maxBatch: Int) throws(BundleStatus) -> UnsafeMutablePointer<RuntimeContext> {
    var context = try InferenceContext.create(model.pointee.loaded.model, maxBatch: maxBatch, budget: runtimeMemoryBudget)
    let handle: UnsafeMutablePointer<RuntimeContext>
    do {
        handle = try bundleAllocate(RuntimeContext.self, count: 1)
    } catch {
        context.release()
        throw error
    }
    handle.initialize(to: RuntimeContext(model: model, context: context))
    return handle
}

func runtimeContextDestroy(_ handle: UnsafeMutablePointer<RuntimeContext>) {
    handle.pointee.context.release()
    handle.deinitialize(count: 1)
    free(handle)
}

/// Runs `batch` samples (checked by the caller) on the caller's arrays, in graph order.
func runtimeRun(_ handle: UnsafeMutablePointer<RuntimeContext>, batch: Int, inputs: UnsafePointer<UnsafeRawPointer?>,
                outputs: UnsafePointer<UnsafeMutableRawPointer?>) {
    handle.pointee.context.run(handle.pointee.model.pointee.loaded.model, batch: batch, inputs: inputs, outputs: outputs)
}

/// Runs the stored vectors; `.notFound` without a TEST section, `.selfTestFailed` on a
/// mismatch. Vectors are f32; integer inputs take their values converted, integer outputs
/// are compared as numbers.
func runtimeSelfTest(_ model: UnsafePointer<RuntimeModel>) throws(BundleStatus) {
    let loaded = model.pointee.loaded
    guard let bytes = loaded.selfTest else { throw .notFound }
    let g = loaded.model.graph
    let test = try BundleSelfTestRecord(bytes, size: loaded.selfTestSize, graph: g)
    let count = test.count, ios = g.inputCount + g.outputCount
    var context = try InferenceContext.create(loaded.model, maxBatch: count, budget: runtimeMemoryBudget)
    defer { context.release() }
    // One buffer per graph input and output, `count` samples each.
    let buffers = try bundleAllocate(UnsafeMutableRawPointer?.self, count: ios)
    buffers.initialize(repeating: nil, count: ios)
    defer {
        for i in 0..<ios { free(buffers[i]) }
        free(buffers)
    }
    func value(_ i: Int) -> GraphValue { i < g.inputCount ? g.inputValue(i) : g.outputValue(i - g.inputCount) }
    for i in 0..<ios { buffers[i] = try bundleAllocate(bytes: count * value(i).bytesPerSample) }
    func vector(_ v: Int) -> UnsafeRawPointer { test.floats + v * test.stride * 4 }
    var column = 0
    for i in 0..<g.inputCount {
        let x = value(i)
        for v in 0..<count {
            for e in 0..<x.count {
                let f = vector(v).loadUnaligned(fromByteOffset: 4 * (column + e), as: Float.self)
                store(f, x.dtype, buffers[i]!, v * x.count + e)
            }
        }
        column += x.count
    }
    let ins = UnsafeRawPointer(buffers).assumingMemoryBound(to: UnsafeRawPointer?.self)
    context.run(loaded.model, batch: count, inputs: ins, outputs: UnsafePointer(buffers + g.inputCount))
    for i in g.inputCount..<ios {
        let y = value(i)
        for v in 0..<count {
            for e in 0..<y.count {
                let expected = vector(v).loadUnaligned(fromByteOffset: 4 * (column + e), as: Float.self)
                let got = load(y.dtype, buffers[i]!, v * y.count + e)
                let d = got - expected
                // Written so that NaN anywhere fails.
                guard (d < 0 ? -d : d) <= test.atol + test.rtol * (expected < 0 ? -expected : expected) else { throw .selfTestFailed }
            }
        }
        column += y.count
    }
}

/// Element `i` of a buffer of `dtype` as f32, and f32 stored into one (integers saturate).
func load(_ dtype: BundleDType, _ p: UnsafeMutableRawPointer, _ i: Int) -> Float {
    switch dtype {
    case .u8: return Float(p.load(fromByteOffset: i, as: UInt8.self))
    case .i8: return Float(p.load(fromByteOffset: i, as: Int8.self))
    case .i32: return Float(p.load(fromByteOffset: 4 * i, as: Int32.self))
    case .f16: return halfBitsToFloat(p.load(fromByteOffset: 2 * i, as: UInt16.self))
    case .bf16: return Float(bitPattern: UInt32(p.load(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
    case .f32: return p.load(fromByteOffset: 4 * i, as: Float.self)
    }
}

func store(_ f: Float, _ dtype: BundleDType, _ p: UnsafeMutableRawPointer, _ i: Int) {
    func clamp(_ lo: Float, _ hi: Float) -> Float { f.isNaN ? 0 : Swift.min(Swift.max(f.rounded(), lo), hi) }
    switch dtype {
    case .u8: p.storeBytes(of: UInt8(clamp(0, 255)), toByteOffset: i, as: UInt8.self)
    case .i8: p.storeBytes(of: Int8(clamp(-128, 127)), toByteOffset: i, as: Int8.self)
    case .i32: p.storeBytes(of: Int32(clamp(-2_147_483_648, 2_147_483_520)), toByteOffset: 4 * i, as: Int32.self)
    case .f16: p.storeBytes(of: floatToHalfBits(f), toByteOffset: 2 * i, as: UInt16.self)
    case .bf16: p.storeBytes(of: UInt16(truncatingIfNeeded: f.bitPattern >> 16), toByteOffset: 2 * i, as: UInt16.self)
    case .f32: p.storeBytes(of: f, toByteOffset: 4 * i, as: Float.self)
    }
}
