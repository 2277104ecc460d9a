// The C entry points declared in include/myelin.h. Each checks its arguments and turns
// every failure into a `myelin_status`; none traps on any input.

import CZlibRuntime

/// Library version; keep in step with MYELIN_VERSION_* in include/myelin.h.
let runtimeVersion: StaticString = "0.1.0"

@inline(__always)
func cString(_ s: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}

@inline(__always)
func model(_ handle: OpaquePointer?) -> UnsafeMutablePointer<RuntimeModel>? {
    handle.map { UnsafeMutablePointer<RuntimeModel>($0) }
}

@_cdecl("myelin_version")
public func myelin_version() -> UnsafePointer<CChar> { cString(runtimeVersion) }

@_cdecl("myelin_status_string")
public func myelin_status_string(_ status: Int32) -> UnsafePointer<CChar> {
    guard let s = BundleStatus(rawValue: status) else { return cString("unknown status") }
    switch s {
    case .ok: return cString("ok")
    case .invalidArgument: return cString("invalid argument")
    case .io: return cString("input/output error")
    case .notABundle: return cString("not a Myelin bundle")
    case .unsupportedVersion: return cString("unsupported bundle version")
    case .corrupt: return cString("corrupt bundle")
    case .checksum: return cString("checksum mismatch")
    case .unsupported: return cString("unsupported op, dtype or encoding")
    case .shapeMismatch: return cString("shape mismatch")
    case .outOfMemory: return cString("out of memory")
    case .limitExceeded: return cString("limit exceeded")
    case .notFound: return cString("not found")
    case .selfTestFailed: return cString("self-test failed")
    }
}

/// The process-wide budget of myelin_set_memory_budget (Int.max: none).
nonisolated(unsafe) var runtimeMemoryBudget = Int.max

@_cdecl("myelin_set_memory_budget")
public func myelin_set_memory_budget(_ bytes: Int) -> Int {
    let previous = runtimeMemoryBudget == Int.max ? 0 : runtimeMemoryBudget
    runtimeMemoryBudget = bytes <= 0 ? Int.max : bytes
    return previous
}

@_cdecl("myelin_model_load_memory")
public func myelin_model_load_memory(_ data: UnsafeRawPointer?, _ size: Int, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return BundleStatus.invalidArgument.rawValue }
    out.pointee = nil
    guard let data, size >= 0 else { return BundleStatus.invalidArgument.rawValue }
    guard size <= BundleLimits.maxFileBytes else { return BundleStatus.limitExceeded.rawValue }
    do {
        out.pointee = OpaquePointer(try runtimeLoad(data, count: size))
        return BundleStatus.ok.rawValue
    } catch {
        return error.rawValue
    }
}

@_cdecl("myelin_model_load_file")
public func myelin_model_load_file(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    myelin_model_load_file_ex(path, out, nil, 0)
}

@_cdecl("myelin_model_load_file_ex")
public func myelin_model_load_file_ex(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
                                      _ message: UnsafeMutablePointer<CChar>?, _ capacity: Int) -> Int32 {
    var text = MessageWriter(message, capacity)
    guard let out else {
        text.append("invalid argument: out_model is NULL")
        return BundleStatus.invalidArgument.rawValue
    }
    out.pointee = nil
    guard let path else {
        text.append("invalid argument: path is NULL")
        return BundleStatus.invalidArgument.rawValue
    }
    var osError: Int32 = 0
    do {
        out.pointee = OpaquePointer(try withFileBytes(path, osError: &osError) { (bytes, count) throws(BundleStatus) in
            try runtimeLoad(bytes, count: count)
        })
        return BundleStatus.ok.rawValue
    } catch {
        // "PATH: No such file or directory", "PATH: not a regular file", "PATH: corrupt bundle".
        text.append(path)
        text.append(": ")
        if osError > 0, let reason = strerror(osError) {
            text.append(reason)
        } else if osError == fileNotRegular {
            text.append("not a regular file")
        } else {
            text.append(myelin_status_string(error.rawValue))
        }
        return error.rawValue
    }
}

/// `osError` of a path that opens but is no regular file (a FIFO, a directory, a device).
let fileNotRegular: Int32 = -1

/// A NUL-terminated message into the caller's `capacity` bytes, truncated to fit.
struct MessageWriter {
    var buffer: UnsafeMutablePointer<CChar>?
    var capacity: Int
    var length = 0

    init(_ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int) {
        self.buffer = capacity > 0 ? buffer : nil
        self.capacity = capacity
        self.buffer?[0] = 0
    }

    mutating func append(_ s: UnsafePointer<CChar>) {
        guard let buffer else { return }
        var i = 0
        while s[i] != 0 && length + 1 < capacity {
            buffer[length] = s[i]
            length += 1
            i += 1
        }
        buffer[length] = 0
    }

    mutating func append(_ s: StaticString) { append(cString(s)) }
}

/// Calls `body` with the bytes of a regular file, mapped read-only (no copy, no fresh
/// pages to zero), or read into a buffer where mapping fails. The file is opened without
/// blocking (a FIFO without a writer is refused, not waited on) and its header (magic,
/// version, declared file size) is checked before anything else is mapped or read. On an
/// OS failure `osError` receives errno (`fileNotRegular` for a path that is no regular file).
func withFileBytes<T>(_ path: UnsafePointer<CChar>, osError: inout Int32,
                      _ body: (UnsafeRawPointer, Int) throws(BundleStatus) -> T) throws(BundleStatus) -> T {
    let fd = myelin_shim_open_read(path)
    guard fd >= 0 else {
        osError = myelin_shim_errno()
        throw .io
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
        osError = myelin_shim_errno()
        throw .io
    }
    guard (info.st_mode & mode_t(S_IFMT)) == mode_t(S_IFREG) else {
        osError = fileNotRegular
        throw .io
    }
    let size = Int(info.st_size)
    guard size >= 0 else { throw .io }
    guard size <= BundleLimits.maxFileBytes else { throw .limitExceeded }
    // The header first: a file that is no bundle, of another major version, or of another
    // size than it declares is refused before the rest is touched.
    if size >= BundleLayout.headerSize {
        var header = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let got = withUnsafeMutableBytes(of: &header) { h in pread(fd, h.baseAddress!, BundleLayout.headerSize, 0) }
        guard got == BundleLayout.headerSize else {
            osError = got < 0 ? myelin_shim_errno() : 0
            throw .io
        }
        try withUnsafeBytes(of: &header) { (h) throws(BundleStatus) in
            let p = h.baseAddress!
            guard BundleLayout.hasMagic(p) else { throw .notABundle }
            guard UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt16.self)) == BundleLayout.versionMajor else {
                throw .unsupportedVersion
            }
            guard UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self)) == UInt64(size) else { throw .corrupt }
        }
    }
    if size > 0, let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != UnsafeMutableRawPointer(bitPattern: -1) {
        defer { munmap(mapped, size) }
        return try body(UnsafeRawPointer(mapped), size)
    }
    let bytes = try bundleAllocate(bytes: size)
    defer { free(bytes) }
    var done = 0
    while done < size {
        let n = pread(fd, bytes + done, size - done, off_t(done))
        guard n > 0 else {
            osError = n < 0 ? myelin_shim_errno() : 0
            throw .io
        }
        done += n
    }
    return try body(bytes, size)
}

@_cdecl("myelin_model_free")
public func myelin_model_free(_ handle: OpaquePointer?) {
    if let m = model(handle) { runtimeModelDestroy(m) }
}

@_cdecl("myelin_model_input_size")
public func myelin_model_input_size(_ handle: OpaquePointer?) -> Int {
    model(handle)?.pointee.graph.inputValue(0).count ?? 0
}

@_cdecl("myelin_model_output_size")
public func myelin_model_output_size(_ handle: OpaquePointer?) -> Int {
    model(handle)?.pointee.graph.outputValue(0).count ?? 0
}

@_cdecl("myelin_model_input_count")
public func myelin_model_input_count(_ handle: OpaquePointer?) -> Int {
    model(handle)?.pointee.graph.inputCount ?? 0
}

@_cdecl("myelin_model_output_count")
public func myelin_model_output_count(_ handle: OpaquePointer?) -> Int {
    model(handle)?.pointee.graph.outputCount ?? 0
}

/// Fills a `myelin_value_info` (80 bytes, see include/myelin.h): name at 0, dtype at 8,
/// rank at 16, dims[5] at 24, count at 64, scale at 72, zero_point at 76.
func valueInfo(_ handle: OpaquePointer?, _ index: Int, output: Bool, _ info: UnsafeMutableRawPointer?) -> Int32 {
    guard let m = model(handle), let info else { return BundleStatus.invalidArgument.rawValue }
    let g = m.pointee.graph
    guard index >= 0, index < (output ? g.outputCount : g.inputCount) else { return BundleStatus.notFound.rawValue }
    let v = output ? g.outputValue(index) : g.inputValue(index)
    memset(info, 0, 80)
    info.storeBytes(of: m.pointee.names![output ? g.inputCount + index : index], toByteOffset: 0, as: UnsafePointer<CChar>.self)
    info.storeBytes(of: Int32(bitPattern: v.dtype.rawValue), toByteOffset: 8, as: Int32.self)
    info.storeBytes(of: v.shape.rank, toByteOffset: 16, as: Int.self)
    for i in 0..<v.shape.rank { info.storeBytes(of: Int64(v.shape.dim(i)), toByteOffset: 24 + 8 * i, as: Int64.self) }
    info.storeBytes(of: v.count, toByteOffset: 64, as: Int.self)
    info.storeBytes(of: v.scale, toByteOffset: 72, as: Float.self)
    info.storeBytes(of: v.zeroPoint, toByteOffset: 76, as: Int32.self)
    return BundleStatus.ok.rawValue
}

@_cdecl("myelin_model_input_info")
public func myelin_model_input_info(_ handle: OpaquePointer?, _ index: Int, _ info: UnsafeMutableRawPointer?) -> Int32 {
    valueInfo(handle, index, output: false, info)
}

@_cdecl("myelin_model_output_info")
public func myelin_model_output_info(_ handle: OpaquePointer?, _ index: Int, _ info: UnsafeMutableRawPointer?) -> Int32 {
    valueInfo(handle, index, output: true, info)
}

func findValue(_ handle: OpaquePointer?, _ name: UnsafePointer<CChar>?, output: Bool, _ index: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let m = model(handle), let name, let index else { return BundleStatus.invalidArgument.rawValue }
    let found = m.pointee.graph.find(UnsafeRawBufferPointer(start: name, count: strlen(name)), inOutputs: output)
    guard found >= 0 else { return BundleStatus.notFound.rawValue }
    index.pointee = found
    return BundleStatus.ok.rawValue
}

@_cdecl("myelin_model_find_input")
public func myelin_model_find_input(_ handle: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ index: UnsafeMutablePointer<Int>?) -> Int32 {
    findValue(handle, name, output: false, index)
}

@_cdecl("myelin_model_find_output")
public func myelin_model_find_output(_ handle: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ index: UnsafeMutablePointer<Int>?) -> Int32 {
    findValue(handle, name, output: true, index)
}

/// Copies a shape into `dims` (capacity `capacity`) and its rank into `rank`.
func copyShape(_ shape: BundleShape, _ dims: UnsafeMutablePointer<Int64>?, _ capacity: Int, _ rank: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let rank else { return BundleStatus.invalidArgument.rawValue }
    rank.pointee = shape.rank
    guard capacity >= shape.rank else { return BundleStatus.invalidArgument.rawValue }
    guard let dims else { return BundleStatus.invalidArgument.rawValue }
    for i in 0..<shape.rank { dims[i] = Int64(shape.dim(i)) }
    return BundleStatus.ok.rawValue
}

@_cdecl("myelin_model_input_shape")
public func myelin_model_input_shape(_ handle: OpaquePointer?, _ dims: UnsafeMutablePointer<Int64>?, _ capacity: Int,
                                     _ rank: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let m = model(handle) else { return BundleStatus.invalidArgument.rawValue }
    return copyShape(m.pointee.graph.inputValue(0).shape, dims, capacity, rank)
}

@_cdecl("myelin_model_output_shape")
public func myelin_model_output_shape(_ handle: OpaquePointer?, _ dims: UnsafeMutablePointer<Int64>?, _ capacity: Int,
                                      _ rank: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let m = model(handle) else { return BundleStatus.invalidArgument.rawValue }
    return copyShape(m.pointee.graph.outputValue(0).shape, dims, capacity, rank)
}

@_cdecl("myelin_model_num_classes")
public func myelin_model_num_classes(_ handle: OpaquePointer?) -> Int {
    model(handle)?.pointee.graph.outputValue(0).count ?? 0
}

@_cdecl("myelin_model_class_label")
public func myelin_model_class_label(_ handle: OpaquePointer?, _ index: Int) -> UnsafePointer<CChar>? {
    guard let m = model(handle), let labels = m.pointee.labels, index >= 0, index < m.pointee.labelCount else { return nil }
    return labels[index]
}

@_cdecl("myelin_model_precision")
public func myelin_model_precision(_ handle: OpaquePointer?) -> Int32 {
    guard let m = model(handle) else { return 0 }
    return Int32(m.pointee.graph.precision.rawValue)
}

@_cdecl("myelin_model_metadata")
public func myelin_model_metadata(_ handle: OpaquePointer?, _ key: UnsafePointer<CChar>?,
                                  _ value: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    guard let value else { return BundleStatus.invalidArgument.rawValue }
    value.pointee = nil
    guard let m = model(handle), let key else { return BundleStatus.invalidArgument.rawValue }
    for i in 0..<m.pointee.metadataCount where strcmp(m.pointee.metadata![i].key, key) == 0 {
        value.pointee = m.pointee.metadata![i].value
        return BundleStatus.ok.rawValue
    }
    return BundleStatus.notFound.rawValue
}

@_cdecl("myelin_model_metadata_count")
public func myelin_model_metadata_count(_ handle: OpaquePointer?) -> Int {
    model(handle)?.pointee.metadataCount ?? 0
}

@_cdecl("myelin_model_metadata_at")
public func myelin_model_metadata_at(_ handle: OpaquePointer?, _ index: Int,
                                     _ key: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                     _ value: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    key?.pointee = nil
    value?.pointee = nil
    guard let m = model(handle), let key, let value else { return BundleStatus.invalidArgument.rawValue }
    guard index >= 0, index < m.pointee.metadataCount else { return BundleStatus.notFound.rawValue }
    key.pointee = m.pointee.metadata![index].key
    value.pointee = m.pointee.metadata![index].value
    return BundleStatus.ok.rawValue
}

@_cdecl("myelin_model_selftest")
public func myelin_model_selftest(_ handle: OpaquePointer?) -> Int32 {
    guard let m = model(handle) else { return BundleStatus.invalidArgument.rawValue }
    do {
        try runtimeSelfTest(UnsafePointer(m))
        return BundleStatus.ok.rawValue
    } catch {
        return error.rawValue
    }
}

@_cdecl("myelin_context_create")
public func myelin_context_create(_ handle: OpaquePointer?, _ maxBatch: Int, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return BundleStatus.invalidArgument.rawValue }
    out.pointee = nil
    guard let m = model(handle) else { return BundleStatus.invalidArgument.rawValue }
    do {
        out.pointee = OpaquePointer(try runtimeContextCreate(UnsafePointer(m), maxBatch: maxBatch))
        return BundleStatus.ok.rawValue
    } catch {
        return error.rawValue
    }
}

@_cdecl("myelin_context_arena_size")
public func myelin_context_arena_size(_ handle: OpaquePointer?, _ maxBatch: Int, _ bytes: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let bytes else { return BundleStatus.invalidArgument.rawValue }
    bytes.pointee = 0
    guard let m = model(handle) else { return BundleStatus.invalidArgument.rawValue }
    do {
        bytes.pointee = try InferenceContext.arenaBytes(m.pointee.loaded.model, maxBatch: maxBatch)
        return BundleStatus.ok.rawValue
    } catch {
        return error.rawValue
    }
}

@_cdecl("myelin_context_free")
public func myelin_context_free(_ handle: OpaquePointer?) {
    if let h = handle { runtimeContextDestroy(UnsafeMutablePointer<RuntimeContext>(h)) }
}

@_cdecl("myelin_run")
public func myelin_run(_ handle: OpaquePointer?, _ input: UnsafePointer<Float>?, _ batch: Int,
                       _ output: UnsafeMutablePointer<Float>?) -> Int32 {
    guard let h = handle, let input, let output else { return BundleStatus.invalidArgument.rawValue }
    let context = UnsafeMutablePointer<RuntimeContext>(h)
    guard batch >= 1, batch <= context.pointee.context.maxBatch, context.pointee.model.pointee.single != nil else {
        return BundleStatus.invalidArgument.rawValue
    }
    var x: UnsafeRawPointer? = UnsafeRawPointer(input)
    var y: UnsafeMutableRawPointer? = UnsafeMutableRawPointer(output)
    runtimeRun(context, batch: batch, inputs: &x, outputs: &y)
    return BundleStatus.ok.rawValue
}

@_cdecl("myelin_run_multi")
public func myelin_run_multi(_ handle: OpaquePointer?, _ batch: Int, _ inputs: UnsafePointer<UnsafeRawPointer?>?,
                             _ outputs: UnsafePointer<UnsafeMutableRawPointer?>?) -> Int32 {
    guard let h = handle, let inputs, let outputs else { return BundleStatus.invalidArgument.rawValue }
    let context = UnsafeMutablePointer<RuntimeContext>(h)
    guard batch >= 1, batch <= context.pointee.context.maxBatch else { return BundleStatus.invalidArgument.rawValue }
    let g = context.pointee.model.pointee.graph
    for i in 0..<g.inputCount where inputs[i] == nil { return BundleStatus.invalidArgument.rawValue }
    for i in 0..<g.outputCount where outputs[i] == nil { return BundleStatus.invalidArgument.rawValue }
    do {
        try InferenceContext.checkTokens(g, batch: batch, inputs: inputs)
    } catch {
        return error.rawValue
    }
    runtimeRun(context, batch: batch, inputs: inputs, outputs: outputs)
    return BundleStatus.ok.rawValue
}

// MARK: Streaming

@_cdecl("myelin_step")
public func myelin_step(_ handle: OpaquePointer?, _ batch: Int, _ steps: Int, _ inputs: UnsafePointer<UnsafeRawPointer?>?,
                        _ outputs: UnsafePointer<UnsafeMutableRawPointer?>?) -> Int32 {
    guard let h = handle, let inputs, let outputs else { return BundleStatus.invalidArgument.rawValue }
    let context = UnsafeMutablePointer<RuntimeContext>(h)
    let g = context.pointee.model.pointee.graph
    for i in 0..<g.inputCount where inputs[i] == nil { return BundleStatus.invalidArgument.rawValue }
    for i in 0..<g.outputCount where outputs[i] == nil { return BundleStatus.invalidArgument.rawValue }
    do {
        try context.pointee.context.step(context.pointee.model.pointee.loaded.model, batch: batch, steps: steps,
                                         inputs: inputs, outputs: outputs)
        return BundleStatus.ok.rawValue
    } catch {
        return error.rawValue
    }
}

@_cdecl("myelin_context_reset")
public func myelin_context_reset(_ handle: OpaquePointer?) -> Int32 {
    guard let h = handle else { return BundleStatus.invalidArgument.rawValue }
    UnsafeMutablePointer<RuntimeContext>(h).pointee.context.reset()
    return BundleStatus.ok.rawValue
}

@_cdecl("myelin_context_position")
public func myelin_context_position(_ handle: OpaquePointer?) -> Int {
    guard let h = handle else { return 0 }
    return UnsafeMutablePointer<RuntimeContext>(h).pointee.context.position
}

@_cdecl("myelin_context_state_size")
public func myelin_context_state_size(_ handle: OpaquePointer?, _ bytes: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let bytes else { return BundleStatus.invalidArgument.rawValue }
    bytes.pointee = 0
    guard let h = handle else { return BundleStatus.invalidArgument.rawValue }
    bytes.pointee = UnsafeMutablePointer<RuntimeContext>(h).pointee.context.stateBytes
    return BundleStatus.ok.rawValue
}

@_cdecl("myelin_model_stream_info")
public func myelin_model_stream_info(_ handle: OpaquePointer?, _ maxSteps: UnsafeMutablePointer<Int>?,
                                     _ capacity: UnsafeMutablePointer<Int>?, _ stateBytesPerSample: UnsafeMutablePointer<Int>?) -> Int32 {
    maxSteps?.pointee = 0
    capacity?.pointee = 0
    stateBytesPerSample?.pointee = 0
    guard let m = model(handle), let maxSteps, let capacity, let stateBytesPerSample else { return BundleStatus.invalidArgument.rawValue }
    do {
        var info = try StreamInfo.analyse(m.pointee.graph)
        defer { info.release() }
        stateBytesPerSample.pointee = info.stateBytesPerSample
        guard info.streamable else { return BundleStatus.unsupported.rawValue }
        maxSteps.pointee = info.maxSteps
        capacity.pointee = info.capacity
        return BundleStatus.ok.rawValue
    } catch {
        return error.rawValue
    }
}

@_cdecl("myelin_model_output_is_sequence")
public func myelin_model_output_is_sequence(_ handle: OpaquePointer?, _ index: Int) -> Int32 {
    guard let m = model(handle), index >= 0, index < m.pointee.graph.outputCount else { return 0 }
    guard var info = try? StreamInfo.analyse(m.pointee.graph) else { return 0 }
    defer { info.release() }
    return info.streamable && info.sequence![Int(m.pointee.graph.outputs![index])] != 0 ? 1 : 0
}
