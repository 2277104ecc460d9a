// Contexts and the forward pass. A context owns every byte a run needs (one buffer per
// intermediate value, sized for `maxBatch`, plus kernel scratch), so `runtimeRun`
// allocates nothing. The graph input and output live in the caller's arrays.

import CZlibRuntime

struct RuntimeContext {
    var model: UnsafePointer<RuntimeModel>
    var maxBatch: Int
    /// One pointer per value; nil for the graph input and output (the caller's arrays).
    var buffers: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    var arena: UnsafeMutableRawPointer
    var workspace: UnsafeMutablePointer<Float>
    var tile: UnsafeMutablePointer<Int32>
}

/// Largest batch a context may be created for.
let runtimeMaxBatch = 1 << 20

func runtimeContextCreate(_ model: UnsafePointer<RuntimeModel>, maxBatch: Int) throws(BundleStatus) -> UnsafeMutablePointer<RuntimeContext> {
    guard maxBatch >= 1 else { throw .invalidArgument }
    guard maxBatch <= runtimeMaxBatch else { throw .limitExceeded }
    let m = model.pointee
    var bytes = try checkedAdd(kernelRoundUp(linearPackedWorkspaceCount * 4, 64), kernelRoundUp(qgemmTileCount * 4, 64))
    for v in 0..<m.valueCount where v != m.inputValue && v != m.outputValue {
        let value = m.values![v]
        let perSample = try checkedMultiply(value.stride, value.dtype.size)
        bytes = try checkedAdd(bytes, kernelRoundUp(try checkedMultiply(perSample, maxBatch), 64))
    }
    let buffers = try runtimeAllocate(UnsafeMutableRawPointer?.self, count: m.valueCount)
    let arena: UnsafeMutableRawPointer
    do {
        arena = try runtimeAllocate(bytes: bytes)
    } catch {
        free(buffers)
        throw error
    }
    // Zeroed once: u8 rows are padded and the int8 kernel reads the padding.
    memset(arena, 0, bytes)
    var at = arena
    let workspace = at.bindMemory(to: Float.self, capacity: linearPackedWorkspaceCount)
    at += kernelRoundUp(linearPackedWorkspaceCount * 4, 64)
    let tile = at.bindMemory(to: Int32.self, capacity: qgemmTileCount)
    at += kernelRoundUp(qgemmTileCount * 4, 64)
    for v in 0..<m.valueCount {
        if v == m.inputValue || v == m.outputValue {
            buffers.advanced(by: v).initialize(to: nil)
            continue
        }
        let value = m.values![v]
        buffers.advanced(by: v).initialize(to: at)
        at += kernelRoundUp(value.stride * value.dtype.size * maxBatch, 64)
    }
    let context: UnsafeMutablePointer<RuntimeContext>
    do {
        context = try runtimeAllocate(RuntimeContext.self, count: 1)
    } catch {
        free(arena)
        free(buffers)
        throw error
    }
    context.initialize(to: RuntimeContext(model: model, maxBatch: maxBatch, buffers: buffers, arena: arena,
                                          workspace: workspace, tile: tile))
    return context
}

func runtimeContextDestroy(_ context: UnsafeMutablePointer<RuntimeContext>) {
    free(context.pointee.buffers)
    free(context.pointee.arena)
    context.deinitialize(count: 1)
    free(context)
}

/// Runs the graph on `batch` samples (1 … maxBatch, checked by the caller).
/// Shapes: input `[batch × input.count]`, output `[batch × output.count]`, f32, row-major.
func runtimeRun(_ context: UnsafeMutablePointer<RuntimeContext>, input: UnsafePointer<Float>, batch: Int,
                output: UnsafeMutablePointer<Float>) {
    let ctx = context.pointee
    let m = ctx.model.pointee
    let values = m.values!
    @inline(__always) func pointer(_ v: Int) -> UnsafeMutableRawPointer {
        if v == m.inputValue { return UnsafeMutableRawPointer(mutating: input) }
        if v == m.outputValue { return UnsafeMutableRawPointer(output) }
        return ctx.buffers[v]!
    }
    for o in 0..<m.opCount {
        let op = m.ops![o]
        let x = values[op.input], y = values[op.output]
        let src = pointer(op.input), dst = pointer(op.output)
        let n = y.count
        switch op.code {
        case .linear:
            linearPacked(m: batch, n: n, k: op.inFeatures, x: src.assumingMemoryBound(to: Float.self), ldx: x.stride,
                         packed: op.weights!.assumingMemoryBound(to: Float.self),
                         bias: op.bias.map { UnsafePointer($0.assumingMemoryBound(to: Float.self)) },
                         y: dst.assumingMemoryBound(to: Float.self), ldy: y.stride, relu: op.relu, workspace: ctx.workspace)
        case .qlinear:
            let out = y.dtype == .f32
                ? QGEMMOutput(f32: dst.assumingMemoryBound(to: Float.self), ld: y.stride, relu: op.relu)
                : QGEMMOutput(u8: dst.assumingMemoryBound(to: UInt8.self), ld: y.stride, relu: op.relu, zeroPoint: op.zeroPoint)
            qgemm(m: batch, n: n, k: op.inFeatures, x: src.assumingMemoryBound(to: UInt8.self), ldx: x.stride,
                  packed: op.weights!.assumingMemoryBound(to: Int8.self), bias: op.bias!.assumingMemoryBound(to: Int32.self),
                  multipliers: op.multipliers!, output: out, tile: ctx.tile)
        case .quantize:
            for i in 0..<batch {
                quantizeRow(src.assumingMemoryBound(to: Float.self) + i * x.stride, count: n, invScale: op.inverseScale,
                            zeroPoint: op.zeroPoint, into: dst.assumingMemoryBound(to: UInt8.self) + i * y.stride)
            }
        default:
            for i in 0..<batch {
                elementwise(op, x: src.assumingMemoryBound(to: Float.self) + i * x.stride,
                            y: dst.assumingMemoryBound(to: Float.self) + i * y.stride, count: n)
            }
        }
    }
    if m.outputValue == m.inputValue {
        memcpy(output, input, batch * values[m.inputValue].count * 4)
    }
}

/// The f32 activation ops on one sample, with the same formulas as the training ops
/// (Autograd/Activations.swift) and the same libm functions.
@inline(__always)
func elementwise(_ op: RuntimeOp, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count n: Int) {
    switch op.code {
    case .relu:
        for i in 0..<n { y[i] = Swift.max(x[i], 0) }
    case .leakyRelu:
        let slope = op.parameter
        for i in 0..<n { y[i] = x[i] > 0 ? x[i] : slope * x[i] }
    case .elu:
        let alpha = op.parameter
        for i in 0..<n { y[i] = x[i] > 0 ? x[i] : alpha * expm1f(x[i]) }
    case .sigmoid:
        for i in 0..<n {
            let v = x[i]
            if v >= 0 { y[i] = 1 / (1 + expf(-v)) } else { let e = expf(v); y[i] = e / (1 + e) }
        }
    case .tanh:
        for i in 0..<n { y[i] = tanhf(x[i]) }
    case .softmax:
        var top = -Float.infinity
        for i in 0..<n { top = Swift.max(top, x[i]) }
        var z: Float = 0
        for i in 0..<n { let e = expf(x[i] - top); y[i] = e; z += e }
        for i in 0..<n { y[i] /= z }
    case .logSoftmax:
        var top = -Float.infinity
        for i in 0..<n { top = Swift.max(top, x[i]) }
        var z: Float = 0
        for i in 0..<n { z += expf(x[i] - top) }
        let logZ = logf(z)
        for i in 0..<n { y[i] = (x[i] - top) - logZ }
    case .scaleShift:
        let scale = op.multipliers!, shift = op.shift!
        for i in 0..<n { y[i] = x[i] * scale[i] + shift[i] }
    default:
        break
    }
}

/// Runs the stored vectors; `.notFound` without a TEST section, `.selfTestFailed` on a mismatch.
func runtimeSelfTest(_ model: UnsafePointer<RuntimeModel>) throws(BundleStatus) {
    let m = model.pointee
    guard let vectors = m.selfTest else { throw .notFound }
    let count = m.selfTestCount, inSize = m.input.count, outSize = m.output.count
    let context = try runtimeContextCreate(model, maxBatch: count)
    defer { runtimeContextDestroy(context) }
    let result = try runtimeAllocate(Float.self, count: count * outSize)
    defer { free(result) }
    runtimeRun(context, input: vectors, batch: count, output: result)
    let expected = vectors + count * inSize
    for i in 0..<(count * outSize) {
        let e = expected[i], d = result[i] - e
        // Written so that NaN anywhere fails.
        guard (d < 0 ? -d : d) <= m.selfTestATol + m.selfTestRTol * (e < 0 ? -e : e) else { throw .selfTestFailed }
    }
}
