// Bundle → RuntimeModel. Every field of the file is untrusted: sizes are checked against
// the limits before allocating, arithmetic is overflow-checked, and every failure returns
// a status (docs/bundle-format.md lists which). Nothing here keeps a pointer into the
// caller's bytes.

import CZlibRuntime

/// Parses and validates a whole bundle of `count` bytes at `base`. Order of checks (shared
/// with the Swift reader): header and section CRCs; decoding GRPH, META and TEST; the graph's
/// structure; decoding DATA; weight values; META; TEST.
func runtimeLoad(_ base: UnsafeRawPointer, count: Int) throws(BundleStatus) -> UnsafeMutablePointer<RuntimeModel> {
    let table = try BundleSectionTable.parse(base, count: count)
    func decodeSmall(_ s: BundleSection) throws(BundleStatus) -> UnsafeMutableRawPointer {
        let out = try runtimeAllocate(bytes: s.size)
        var scratch: UnsafeMutableRawPointer? = nil
        defer { free(scratch) }
        do {
            if s.needsScratch { scratch = try runtimeAllocate(bytes: s.size) }
            try s.decode(file: base, into: out, scratch: scratch)
        } catch {
            free(out)
            throw error
        }
        return out
    }
    let graph = try decodeSmall(table.graph)
    defer { free(graph) }
    var metadata: UnsafeMutableRawPointer? = nil
    defer { free(metadata) }
    if table.metadata.present { metadata = try decodeSmall(table.metadata) }
    var selfTest: UnsafeMutableRawPointer? = nil
    defer { free(selfTest) }
    if table.selfTest.present { selfTest = try decodeSmall(table.selfTest) }

    let model = try runtimeAllocate(RuntimeModel.self, count: 1)
    model.initialize(to: RuntimeModel())
    do {
        try loadGraph(UnsafeRawPointer(graph), size: table.graph.size, data: table.data, file: base, into: model)
        if let m = metadata { try loadMetadata(UnsafeRawPointer(m), size: table.metadata.size, into: model) }
        if let t = selfTest { try loadSelfTest(UnsafeRawPointer(t), size: table.selfTest.size, into: model) }
    } catch {
        runtimeModelDestroy(model)
        throw error
    }
    return model
}

// MARK: GRPH

/// Where the shared GRPH reader (BundleReader.swift) puts the records: values and ops into
/// the model, tensor records into a temporary table, and the arena size the packed weights
/// will need. Its methods are inlined into the one specialisation of the parser (smaller code).
struct RuntimeGraphBuilder: BundleGraphBuilder {
    let model: UnsafeMutablePointer<RuntimeModel>
    /// Owned by the caller of the parse (freed after packing).
    var tensors: UnsafeMutablePointer<BundleTensorRecord>? = nil
    var tensorCount = 0
    /// Bytes of the packed weights, biases and scales of all ops.
    var arenaBytes = 0

    @inline(__always) mutating func reserveTensors(_ count: Int) throws(BundleStatus) {
        tensors = try runtimeAllocate(BundleTensorRecord.self, count: count)
    }

    @inline(__always) mutating func addTensor(_ tensor: BundleTensorRecord, name: UnsafeRawBufferPointer) throws(BundleStatus) {
        tensors!.advanced(by: tensorCount).initialize(to: tensor)
        tensorCount += 1
    }

    func tensor(_ id: Int) -> BundleTensorRecord { tensors![id] }

    @inline(__always) mutating func reserveValues(_ count: Int) throws(BundleStatus) {
        model.pointee.values = try runtimeAllocate(RuntimeValue.self, count: count)
    }

    @inline(__always) mutating func addValue(_ record: BundleValueRecord, name: UnsafeRawBufferPointer) throws(BundleStatus) {
        var value = RuntimeValue()
        value.dtype = record.dtype
        value.shape = record.shape
        value.scale = record.scale
        value.zeroPoint = record.zeroPoint
        value.stride = record.dtype == .u8 ? kernelRoundUp(record.count, 64) : record.count
        model.pointee.values!.advanced(by: model.pointee.valueCount).initialize(to: value)
        model.pointee.valueCount += 1
    }

    func value(_ id: Int) -> BundleValueRecord {
        let v = model.pointee.values![id]
        var record = BundleValueRecord()
        record.dtype = v.dtype
        record.shape = v.shape
        record.scale = v.scale
        record.zeroPoint = v.zeroPoint
        return record
    }

    @inline(__always) mutating func reserveOps(_ count: Int) throws(BundleStatus) {
        model.pointee.ops = try runtimeAllocate(RuntimeOp.self, count: count)
    }

    /// Precomputes what the op needs at run time and adds up its packed weights.
    @inline(__always) mutating func addOp(_ record: BundleOpRecord) throws(BundleStatus) {
        var op = RuntimeOp()
        op.code = record.code
        op.input = record.input
        op.output = record.output
        op.tensorIDs = record.tensorIDs
        op.relu = record.activation == .relu
        let x = model.pointee.values![op.input], y = model.pointee.values![op.output]
        switch op.code {
        case .linear:
            op.inFeatures = x.count
            op.outFeatures = y.count
            arenaBytes = try checkedAdd(arenaBytes, kernelRoundUp(linearPackedCount(outputs: op.outFeatures, inputs: op.inFeatures) * 4, 64))
            if record.tensorCount == 2 { arenaBytes = try checkedAdd(arenaBytes, kernelRoundUp(op.outFeatures * 4, 64)) }
        case .qlinear:
            op.inFeatures = x.count
            op.outFeatures = y.count
            arenaBytes = try checkedAdd(arenaBytes, kernelRoundUp(qgemmPackedBytes(n: op.outFeatures, k: op.inFeatures), 64))
            arenaBytes = try checkedAdd(arenaBytes, 2 * kernelRoundUp(op.outFeatures * 4, 64))
        case .quantize:
            op.inverseScale = quantizationInverseScale(y.scale)
            op.zeroPoint = y.zeroPoint
        case .scaleShift:
            arenaBytes = try checkedAdd(arenaBytes, 2 * kernelRoundUp(x.count * 4, 64))
        case .leakyRelu, .elu:
            op.parameter = Float(record.parameter ?? 0)
        default:
            break
        }
        model.pointee.ops!.advanced(by: model.pointee.opCount).initialize(to: op)
        model.pointee.opCount += 1
    }
}

/// Reads the graph, then decodes DATA and packs the weights. DATA is decoded only after the
/// structure is known, so the weight arena (allocated then) can serve as DATA's inflate
/// scratch: fewer fresh pages, which dominate load time for large bundles.
func loadGraph(_ bytes: UnsafeRawPointer, size: Int, data section: BundleSection, file: UnsafeRawPointer,
               into model: UnsafeMutablePointer<RuntimeModel>) throws(BundleStatus) {
    let dataSize = section.size
    var builder = RuntimeGraphBuilder(model: model)
    defer { free(builder.tensors) }
    let graph = try BundleGraph.parse(bytes, count: size, dataSize: dataSize, into: &builder)
    model.pointee.precision = graph.precision.rawValue
    model.pointee.inputValue = graph.input
    model.pointee.outputValue = graph.output
    let tensors = builder.tensors!, ops = model.pointee.ops!, values = model.pointee.values!
    let opCount = graph.opCount, arenaBytes = builder.arenaBytes

    // Decode DATA, with the arena as scratch, then pack the weights into the arena.
    let arena = try runtimeAllocate(bytes: section.needsScratch ? Swift.max(arenaBytes, dataSize) : arenaBytes)
    model.pointee.arena = arena
    let data = try runtimeAllocate(bytes: dataSize)
    defer { free(data) }
    try section.decode(file: file, into: data, scratch: arena)
    func tensorData(_ id: Int) -> UnsafeRawPointer { UnsafeRawPointer(data) + tensors[id].offset }
    var cursor = arena
    func take(_ bytes: Int) -> UnsafeMutableRawPointer {
        let p = cursor
        cursor += kernelRoundUp(bytes, 64)
        return p
    }
    for o in 0..<opCount {
        let op = ops.advanced(by: o)
        let n = op.pointee.outFeatures, k = op.pointee.inFeatures
        switch op.pointee.code {
        case .linear:
            let w = tensors[op.pointee.tensorIDs.0]
            let packed = take(linearPackedCount(outputs: n, inputs: k) * 4).bindMemory(to: Float.self, capacity: linearPackedCount(outputs: n, inputs: k))
            if w.dtype == .f32 {
                linearPackWeights(outputs: n, inputs: k, weights: tensorData(op.pointee.tensorIDs.0).bindMemory(to: Float.self, capacity: n * k), into: packed)
            } else {
                let wide = try runtimeAllocate(Float.self, count: n * k)
                defer { free(wide) }
                let half = tensorData(op.pointee.tensorIDs.0)
                for i in 0..<(n * k) { wide[i] = halfBitsToFloat(half.load(fromByteOffset: 2 * i, as: UInt16.self)) }
                linearPackWeights(outputs: n, inputs: k, weights: wide, into: packed)
            }
            op.pointee.weights = UnsafeMutableRawPointer(packed)
            if op.pointee.tensorIDs.1 >= 0 {
                let b = take(n * 4)
                b.copyMemory(from: tensorData(op.pointee.tensorIDs.1), byteCount: n * 4)
                op.pointee.bias = b
            }
        case .qlinear:
            let w = tensorData(op.pointee.tensorIDs.0), s = tensorData(op.pointee.tensorIDs.1), b = tensorData(op.pointee.tensorIDs.2)
            let packed = take(qgemmPackedBytes(n: n, k: k)).bindMemory(to: Int8.self, capacity: qgemmPackedBytes(n: n, k: k))
            qgemmPackWeights(n: n, k: k, w: w.bindMemory(to: Int8.self, capacity: n * k), into: packed)
            op.pointee.weights = UnsafeMutableRawPointer(packed)
            let bias = take(n * 4)
            bias.copyMemory(from: b, byteCount: n * 4)
            op.pointee.bias = bias
            let multipliers = take(n * 4).bindMemory(to: Float.self, capacity: n)
            let xv = values[op.pointee.input], yv = values[op.pointee.output]
            try BundleGraph.checkWeightScales(s, count: n)
            for j in 0..<n {
                let ws = s.load(fromByteOffset: 4 * j, as: Float.self)
                multipliers[j] = qlinearMultiplier(inputScale: xv.scale, weightScale: ws,
                                                   outputScale: yv.dtype == .u8 ? yv.scale : nil)
            }
            op.pointee.multipliers = multipliers
            op.pointee.zeroPoint = yv.zeroPoint
        case .scaleShift:
            let count = values[op.pointee.input].count
            let scale = take(count * 4), shift = take(count * 4)
            scale.copyMemory(from: tensorData(op.pointee.tensorIDs.0), byteCount: count * 4)
            shift.copyMemory(from: tensorData(op.pointee.tensorIDs.1), byteCount: count * 4)
            op.pointee.multipliers = scale.bindMemory(to: Float.self, capacity: count)
            op.pointee.shift = shift.bindMemory(to: Float.self, capacity: count)
        default:
            break
        }
    }
}

// MARK: META

/// Copies the metadata (validated by the shared reader, BundleReader.swift) into
/// NUL-terminated strings owned by the model, and splits `class_labels` into a label table.
func loadMetadata(_ bytes: UnsafeRawPointer, size: Int, into model: UnsafeMutablePointer<RuntimeModel>) throws(BundleStatus) {
    let meta = try BundleMetadata(bytes, size: size, outputSize: model.pointee.output.count)
    let count = meta.count, labels = meta.labels, labelCount = meta.labelCount
    // Each string plus its NUL; the labels once more.
    var stringBytes = meta.textBytes + 2 * count
    if let l = labels { stringBytes += l.count + 1 }

    // Copy into NUL-terminated strings owned by the model.
    let block = try runtimeAllocate(bytes: stringBytes).bindMemory(to: CChar.self, capacity: Swift.max(stringBytes, 1))
    model.pointee.strings = UnsafeMutableRawPointer(block)
    let entries = try runtimeAllocate(RuntimeMetadata.self, count: count)
    model.pointee.metadata = entries
    var at = 0
    func copy(_ s: UnsafeRawBufferPointer) -> UnsafePointer<CChar> {
        let start = block + at
        if s.count > 0 { UnsafeMutableRawPointer(start).copyMemory(from: s.baseAddress!, byteCount: s.count) }
        start[s.count] = 0
        at += s.count + 1
        return UnsafePointer(start)
    }
    meta.forEach { key, value in
        entries.advanced(by: model.pointee.metadataCount).initialize(to: RuntimeMetadata(key: copy(key), value: copy(value)))
        model.pointee.metadataCount += 1
    }
    if let l = labels {
        let table = try runtimeAllocate(UnsafePointer<CChar>.self, count: labelCount)
        model.pointee.labels = table
        let text = block + at
        _ = copy(l)
        var label = 0
        table.advanced(by: 0).initialize(to: UnsafePointer(text))
        for i in 0..<l.count where text[i] == 0x0A {
            text[i] = 0
            label += 1
            table.advanced(by: label).initialize(to: UnsafePointer(text + i + 1))
        }
        model.pointee.labelCount = labelCount
    }
}

// MARK: TEST

func loadSelfTest(_ bytes: UnsafeRawPointer, size: Int, into model: UnsafeMutablePointer<RuntimeModel>) throws(BundleStatus) {
    let test = try BundleSelfTestRecord(bytes, size: size, inputSize: model.pointee.input.count, outputSize: model.pointee.output.count)
    let vectors = try runtimeAllocate(Float.self, count: test.floatCount)
    UnsafeMutableRawPointer(vectors).copyMemory(from: test.floats, byteCount: test.floatCount * 4)
    model.pointee.selfTest = vectors
    model.pointee.selfTestCount = test.count
    model.pointee.selfTestRTol = test.rtol
    model.pointee.selfTestATol = test.atol
}
