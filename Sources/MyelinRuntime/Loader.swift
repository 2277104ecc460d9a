// Bundle → RuntimeModel. Every field of the file is untrusted: sizes are checked against
// the limits before allocating, arithmetic is overflow-checked, and every failure returns
// a status (docs/bundle-format.md lists which). Nothing here keeps a pointer into the
// caller's bytes.

import CZlibRuntime

/// A tensor record of GRPH: where its bytes are in the decoded DATA section.
struct TensorRecord {
    var dtype = BundleDType.f32
    var shape = BundleShape()
    var offset = 0
}

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

/// Reads the graph, then decodes DATA and packs the weights. DATA is decoded only after the
/// structure is known, so the weight arena (allocated then) can serve as DATA's inflate
/// scratch: fewer fresh pages, which dominate load time for large bundles.
func loadGraph(_ bytes: UnsafeRawPointer, size: Int, data section: BundleSection, file: UnsafeRawPointer,
               into model: UnsafeMutablePointer<RuntimeModel>) throws(BundleStatus) {
    let dataSize = section.size
    var c = BundleCursor(bytes, count: size)
    let precision = try c.u32()
    guard BundlePrecision(rawValue: precision) != nil else { throw .unsupported }
    model.pointee.precision = precision

    let tensorCount = try c.count(limit: BundleLimits.maxTensors)
    let tensors = try runtimeAllocate(TensorRecord.self, count: tensorCount)
    defer { free(tensors) }
    for t in 0..<tensorCount {
        _ = try c.string()
        guard let dtype = BundleDType(rawValue: try c.u32()), dtype != .u8 else { throw .unsupported }
        let shape = try c.shape()
        let offset = try c.u64(), byteSize = try c.u64()
        guard offset % UInt64(BundleLayout.tensorAlignment) == 0, offset <= UInt64(dataSize),
              byteSize <= UInt64(dataSize) - offset, byteSize == UInt64(shape.count * dtype.size) else { throw .corrupt }
        tensors.advanced(by: t).initialize(to: TensorRecord(dtype: dtype, shape: shape, offset: Int(offset)))
    }

    let valueCount = try c.count(limit: BundleLimits.maxValues)
    guard valueCount >= 1 else { throw .corrupt }
    let values = try runtimeAllocate(RuntimeValue.self, count: valueCount)
    model.pointee.values = values
    for v in 0..<valueCount {
        _ = try c.string()
        guard let dtype = BundleDType(rawValue: try c.u32()), dtype == .f32 || dtype == .u8 else { throw .unsupported }
        var value = RuntimeValue()
        value.dtype = dtype
        value.shape = try c.shape()
        value.scale = try c.f32()
        value.zeroPoint = try c.i32()
        if dtype == .u8 {
            guard value.scale.isFinite, value.scale > 0, value.zeroPoint >= 0, value.zeroPoint <= 255 else { throw .corrupt }
            value.stride = kernelRoundUp(value.count, 64)
        } else {
            guard value.scale == 0, value.zeroPoint == 0 else { throw .corrupt }
            value.stride = value.count
        }
        values.advanced(by: v).initialize(to: value)
        model.pointee.valueCount = v + 1
    }

    func valueID(_ raw: UInt32) throws(BundleStatus) -> Int {
        guard raw < UInt32(valueCount) else { throw .corrupt }
        return Int(raw)
    }
    for pass in 0..<2 {
        let isOutput = pass == 1
        let n = try c.u32()
        guard n >= 1 else { throw .corrupt }
        guard n == 1 else { throw .unsupported }
        let id = try valueID(try c.u32())
        guard values[id].dtype == .f32 else { throw .unsupported }
        if isOutput { model.pointee.outputValue = id } else { model.pointee.inputValue = id }
    }

    let opCount = try c.count(limit: BundleLimits.maxOps)
    guard opCount >= 1 else { throw .corrupt }
    let ops = try runtimeAllocate(RuntimeOp.self, count: opCount)
    model.pointee.ops = ops
    let defined = try runtimeAllocate(Bool.self, count: valueCount)
    defer { free(defined) }
    defined.initialize(repeating: false, count: valueCount)
    defined[model.pointee.inputValue] = true

    var arenaBytes = 0
    for o in 0..<opCount {
        guard let code = BundleOpCode(rawValue: try c.u32()) else { throw .unsupported }
        var op = RuntimeOp()
        op.code = code
        // Every op of format 1.0 reads one value and writes one.
        for pass in 0..<2 {
            let isOutput = pass == 1
            let n = try c.count(limit: BundleLimits.maxOperands)
            guard n == 1 else { throw .corrupt }
            let id = try valueID(try c.u32())
            if isOutput {
                guard !defined[id] else { throw .corrupt }
                op.output = id
            } else {
                guard defined[id] else { throw .corrupt }
                op.input = id
            }
        }
        defined[op.output] = true
        let tensorIDCount = try c.count(limit: BundleLimits.maxOperands)
        var ids = (-1, -1, -1)
        for i in 0..<tensorIDCount {
            let raw = try c.u32()
            guard raw < UInt32(tensorCount) else { throw .corrupt }
            switch i {
            case 0: ids.0 = Int(raw)
            case 1: ids.1 = Int(raw)
            case 2: ids.2 = Int(raw)
            default: throw .corrupt
            }
        }
        op.tensorIDs = ids
        var activation: Int64 = 0
        var parameter: Double? = nil
        let attrCount = try c.count(limit: BundleLimits.maxOperands)
        for _ in 0..<attrCount {
            guard let key = BundleAttribute(rawValue: try c.u32()) else { throw .unsupported }
            let type = try c.u32()
            switch key {
            case .activation:
                guard code == .linear || code == .qlinear else { throw .unsupported }
                guard type == 1 else { throw .corrupt }
                activation = Int64(bitPattern: try c.u64())
            case .slope, .alpha:
                guard (key == .slope && code == .leakyRelu) || (key == .alpha && code == .elu) else { throw .unsupported }
                guard type == 2 else { throw .corrupt }
                let v = try c.f64()
                guard v.isFinite else { throw .corrupt }
                parameter = v
            }
        }
        guard let act = BundleActivation(rawValue: activation) else { throw .unsupported }
        op.relu = act == .relu
        let x = values[op.input], y = values[op.output]

        func tensor(_ id: Int) -> TensorRecord { tensors[id] }
        switch code {
        case .linear:
            guard tensorIDCount == 1 || tensorIDCount == 2 else { throw .corrupt }
            guard x.dtype == .f32, y.dtype == .f32 else { throw .unsupported }
            guard x.shape.rank == 1, y.shape.rank == 1 else { throw .shapeMismatch }
            op.inFeatures = x.count
            op.outFeatures = y.count
            let w = tensor(ids.0)
            guard w.dtype == .f32 || w.dtype == .f16 else { throw .unsupported }
            guard w.shape.isMatrix(op.outFeatures, op.inFeatures) else { throw .shapeMismatch }
            arenaBytes = try checkedAdd(arenaBytes, kernelRoundUp(linearPackedCount(outputs: op.outFeatures, inputs: op.inFeatures) * 4, 64))
            if tensorIDCount == 2 {
                let b = tensor(ids.1)
                guard b.dtype == .f32 else { throw .unsupported }
                guard b.shape.isVector(op.outFeatures) else { throw .shapeMismatch }
                arenaBytes = try checkedAdd(arenaBytes, kernelRoundUp(op.outFeatures * 4, 64))
            }
        case .qlinear:
            guard tensorIDCount == 3 else { throw .corrupt }
            guard x.dtype == .u8, y.dtype == .u8 || y.dtype == .f32 else { throw .unsupported }
            guard x.shape.rank == 1, y.shape.rank == 1 else { throw .shapeMismatch }
            op.inFeatures = x.count
            op.outFeatures = y.count
            let w = tensor(ids.0), s = tensor(ids.1), b = tensor(ids.2)
            guard w.dtype == .i8, s.dtype == .f32, b.dtype == .i32 else { throw .unsupported }
            guard w.shape.isMatrix(op.outFeatures, op.inFeatures), s.shape.isVector(op.outFeatures),
                  b.shape.isVector(op.outFeatures) else { throw .shapeMismatch }
            arenaBytes = try checkedAdd(arenaBytes, kernelRoundUp(qgemmPackedBytes(n: op.outFeatures, k: op.inFeatures), 64))
            arenaBytes = try checkedAdd(arenaBytes, 2 * kernelRoundUp(op.outFeatures * 4, 64))
        case .quantize:
            guard tensorIDCount == 0 else { throw .corrupt }
            guard x.dtype == .f32, y.dtype == .u8 else { throw .unsupported }
            guard x.shape.same(as: y.shape) else { throw .shapeMismatch }
            op.inverseScale = quantizationInverseScale(y.scale)
            op.zeroPoint = y.zeroPoint
        case .scaleShift:
            guard tensorIDCount == 2 else { throw .corrupt }
            guard x.dtype == .f32, y.dtype == .f32 else { throw .unsupported }
            guard x.shape.rank == 1, x.shape.same(as: y.shape) else { throw .shapeMismatch }
            let s = tensor(ids.0), b = tensor(ids.1)
            guard s.dtype == .f32, b.dtype == .f32 else { throw .unsupported }
            guard s.shape.isVector(x.count), b.shape.isVector(x.count) else { throw .shapeMismatch }
            arenaBytes = try checkedAdd(arenaBytes, 2 * kernelRoundUp(x.count * 4, 64))
        case .relu, .leakyRelu, .elu, .sigmoid, .tanh, .softmax, .logSoftmax:
            guard tensorIDCount == 0 else { throw .corrupt }
            guard x.dtype == .f32, y.dtype == .f32 else { throw .unsupported }
            guard x.shape.same(as: y.shape) else { throw .shapeMismatch }
            if code == .leakyRelu || code == .elu {
                guard let p = parameter else { throw .corrupt }
                op.parameter = Float(p)
            }
        }
        ops.advanced(by: o).initialize(to: op)
        model.pointee.opCount = o + 1
    }
    guard defined[model.pointee.outputValue], c.atEnd else { throw .corrupt }

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
            for j in 0..<n {
                let ws = s.load(fromByteOffset: 4 * j, as: Float.self)
                guard ws.isFinite, ws > 0 else { throw .corrupt }
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

/// Whether the `str` bytes equal the NUL-terminated ASCII `literal`.
func bytesEqual(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
    guard bytes.count == literal.utf8CodeUnitCount else { return false }
    let l = literal.utf8Start
    for i in 0..<bytes.count where bytes[i] != l[i] { return false }
    return true
}

func loadMetadata(_ bytes: UnsafeRawPointer, size: Int, into model: UnsafeMutablePointer<RuntimeModel>) throws(BundleStatus) {
    // Pass 1: validate and size the string block (each string plus its NUL; labels once more).
    var c = BundleCursor(bytes, count: size)
    let count = try c.count(limit: BundleLimits.maxMetadataEntries)
    var stringBytes = 0
    var labels: UnsafeRawBufferPointer? = nil
    for i in 0..<count {
        let key = try c.string()
        let value = try c.string()
        guard key.count > 0 else { throw .corrupt }
        // Unique keys: re-read the earlier ones (at most 1024 entries).
        var earlier = BundleCursor(bytes, count: size)
        _ = try earlier.u32()
        for _ in 0..<i {
            let k = try earlier.string()
            _ = try earlier.string()
            if k.count == key.count && (k.count == 0 || memcmp(k.baseAddress!, key.baseAddress!, k.count) == 0) { throw .corrupt }
        }
        stringBytes += key.count + value.count + 2
        if bytesEqual(key, "class_labels") { labels = value }
    }
    guard c.atEnd else { throw .corrupt }
    var labelCount = 0
    if let l = labels {
        labelCount = 1
        for b in l where b == 0x0A { labelCount += 1 }
        guard labelCount == model.pointee.output.count else { throw .shapeMismatch }
        stringBytes += l.count + 1
    }

    // Pass 2: copy into NUL-terminated strings owned by the model.
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
    c = BundleCursor(bytes, count: size)
    _ = try c.u32()
    for i in 0..<count {
        let key = try c.string(), value = try c.string()
        entries.advanced(by: i).initialize(to: RuntimeMetadata(key: copy(key), value: copy(value)))
        model.pointee.metadataCount = i + 1
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
    var c = BundleCursor(bytes, count: size)
    let count = try c.count(limit: BundleLimits.maxSelfTestVectors)
    guard count >= 1 else { throw .corrupt }
    let rtol = try c.f32(), atol = try c.f32()
    guard rtol.isFinite, rtol >= 0, atol.isFinite, atol >= 0 else { throw .corrupt }
    let inputSize = Int(try c.u32()), outputSize = Int(try c.u32())
    guard inputSize == model.pointee.input.count, outputSize == model.pointee.output.count else { throw .shapeMismatch }
    let floats = try checkedMultiply(count, try checkedAdd(inputSize, outputSize))
    guard c.remaining == floats * 4 else { throw .corrupt }
    let vectors = try runtimeAllocate(Float.self, count: floats)
    UnsafeMutableRawPointer(vectors).copyMemory(from: try c.bytes(floats * 4), byteCount: floats * 4)
    model.pointee.selfTest = vectors
    model.pointee.selfTestCount = count
    model.pointee.selfTestRTol = rtol
    model.pointee.selfTestATol = atol
}
