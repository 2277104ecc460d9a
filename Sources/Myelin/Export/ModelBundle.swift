import CZlib
import Foundation

/// A `.myelin` bundle in memory: what the exporter builds, what `encode()` writes and what
/// `init(decoding:)` reads back after validating it like the runtime does
/// (docs/bundle-format.md is the byte-level specification).
///
/// ```swift
/// let bundle = try BundleExporter.export(model, options: .init(precision: .int8, calibration: sample))
/// try bundle.write(to: "model.myelin")
/// let again = try ModelBundle.read(from: "model.myelin")
/// print(BundleInspector.report(again))
/// ```
public struct ModelBundle {
    /// A named constant (weights, biases, scales) with its little-endian bytes.
    public struct TensorEntry {
        public var name: String
        /// A `BundleDType` raw value.
        public var dtype: UInt32
        public var shape: [Int]
        public var data: [UInt8]

        public init(name: String, dtype: BundleDType, shape: [Int], data: [UInt8]) {
            self.name = name; self.dtype = dtype.rawValue; self.shape = shape; self.data = data
        }

        public init(name: String, floats: [Float], shape: [Int]) {
            self.init(name: name, dtype: .f32, shape: shape, data: floats.withUnsafeBytes { Array($0) })
        }

        /// The elements as floats (f32 and f16 tensors).
        public var floats: [Float] {
            switch BundleDType(rawValue: dtype) {
            case .f32: return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            case .f16: return data.withUnsafeBytes { $0.bindMemory(to: UInt16.self).map(halfBitsToFloat) }
            default: return []
            }
        }
    }

    /// An activation flowing between ops; shape per sample.
    public struct Value {
        public var name: String
        /// A `BundleDType` raw value: f32 or u8.
        public var dtype: UInt32
        public var shape: [Int]
        public var scale: Float
        public var zeroPoint: Int32

        public init(name: String, dtype: BundleDType, shape: [Int], scale: Float = 0, zeroPoint: Int32 = 0) {
            self.name = name; self.dtype = dtype.rawValue; self.shape = shape; self.scale = scale; self.zeroPoint = zeroPoint
        }

        public var count: Int { shape.reduce(1, *) }
    }

    /// An attribute's payload: int64, float64, or a list of either (at most 64 entries).
    public enum AttributeValue: Equatable {
        case int(Int64)
        case float(Double)
        case ints([Int64])
        case floats([Double])
    }

    public struct Op {
        /// A `BundleOpCode` raw value.
        public var opcode: UInt32
        public var inputs: [Int]
        public var outputs: [Int]
        public var tensors: [Int]
        /// Keys are `BundleAttribute` raw values.
        public var attributes: [(key: UInt32, value: AttributeValue)]

        public init(_ code: BundleOpCode, inputs: [Int], outputs: [Int], tensors: [Int] = [],
                    attributes: [(BundleAttribute, AttributeValue)] = []) {
            opcode = code.rawValue; self.inputs = inputs; self.outputs = outputs; self.tensors = tensors
            self.attributes = attributes.map { ($0.0.rawValue, $0.1) }
        }

        public var code: BundleOpCode? { BundleOpCode(rawValue: opcode) }

        public func attribute(_ key: BundleAttribute) -> AttributeValue? {
            attributes.first { $0.key == key.rawValue }?.value
        }
    }

    /// Inputs and the outputs the float model produced, with the pass criterion
    /// `|y − expected| ≤ atol + rtol·|expected|`.
    public struct SelfTest {
        /// Per graph input (in `inputs` order): `count ×` that input's elements per sample.
        public var inputs: [[Float]]
        /// Per graph output (in `outputs` order): `count ×` that output's elements per sample.
        public var expected: [[Float]]
        public var count: Int
        public var rtol: Float
        public var atol: Float

        public init(inputs: [[Float]], expected: [[Float]], count: Int, rtol: Float, atol: Float) {
            self.inputs = inputs; self.expected = expected; self.count = count; self.rtol = rtol; self.atol = atol
        }
    }

    public var precision: BundlePrecision
    public var tensors: [TensorEntry]
    public var values: [Value]
    /// Value ids of the graph inputs and outputs, in the order callers pass them.
    public var inputs: [Int]
    public var outputs: [Int]
    public var ops: [Op]
    public var metadata: [(key: String, value: String)]
    public var selfTest: SelfTest?

    public init(precision: BundlePrecision, tensors: [TensorEntry], values: [Value], inputs: [Int], outputs: [Int], ops: [Op],
                metadata: [(key: String, value: String)] = [], selfTest: SelfTest? = nil) {
        self.precision = precision; self.tensors = tensors; self.values = values; self.inputs = inputs
        self.outputs = outputs; self.ops = ops; self.metadata = metadata; self.selfTest = selfTest
    }

    /// Value of a metadata key.
    public func metadata(_ key: String) -> String? { metadata.first { $0.key == key }?.value }

    /// Class labels from the `class_labels` metadata.
    public var classLabels: [String]? { metadata("class_labels").map { $0.components(separatedBy: "\n") } }

    /// Elements per sample of the first graph input and output (the single-input, single-output case).
    public var inputSize: Int { values[inputs[0]].count }
    public var outputSize: Int { values[outputs[0]].count }
}

// MARK: Encoding

extension ModelBundle {
    /// The bundle's bytes. Compressed (the default): every section is a deflate stream,
    /// DATA byte-shuffled first (see `BundleFile.Section`); otherwise all sections stored.
    public func encode(compressed: Bool = true) -> [UInt8] {
        encode(compressed: compressed, packWeights: true)
    }

    /// `packWeights` false stores every tensor row-major (the reference executor runs
    /// qlinear through `qgemmReference`, which reads row-major weights).
    func encode(compressed: Bool, packWeights: Bool) -> [UInt8] {
        let (graph, data) = encodeGraphAndData(packWeights: packWeights)
        let plain = compressed ? BundleLayout.encodingDeflate : BundleLayout.encodingStored
        var sections: [BundleFile.Section] = [
            .init(kind: BundleSectionKind.graph, payload: graph, encoding: plain),
            compressed ? Self.dataSection(data) : .init(kind: BundleSectionKind.data, payload: data, encoding: BundleLayout.encodingStored),
        ]
        if !metadata.isEmpty { sections.append(.init(kind: BundleSectionKind.metadata, payload: encodeMetadata(), encoding: plain)) }
        if let t = selfTest { sections.append(.init(kind: BundleSectionKind.selfTest, payload: encodeSelfTest(t), encoding: plain)) }
        return BundleFile.assemble(sections)
    }

    /// DATA deflated as byte planes (encoding 2) when that saves at least a quarter of the
    /// plain deflate's bytes, else plainly (encoding 1; incompressible chunks become stored
    /// blocks, which inflate at memory speed and need no unshuffling): load time matters more
    /// than a few percent of file size.
    static func dataSection(_ data: [UInt8]) -> BundleFile.Section {
        let shuffled = BundleFile.Section(kind: BundleSectionKind.data, payload: data, encoding: BundleLayout.encodingDeflateShuffled)
        let plain = BundleFile.Section(kind: BundleSectionKind.data, payload: data, encoding: BundleLayout.encodingDeflate)
        return shuffled.stored.count * 4 <= plain.stored.count * 3 ? shuffled : plain
    }

    /// Decoded section sizes in bytes, keyed by kind name ("GRPH", …): the size "before compression".
    public func decodedSectionSizes() -> [(kind: String, bytes: Int)] {
        let (graph, data) = encodeGraphAndData()
        var sizes = [("GRPH", graph.count), ("DATA", data.count)]
        if !metadata.isEmpty { sizes.append(("META", encodeMetadata().count)) }
        if let t = selfTest { sizes.append(("TEST", encodeSelfTest(t).count)) }
        return sizes
    }

    /// Writes atomically (temporary file, fsync, rename).
    public func write(to path: String) throws {
        try AtomicFile.write(encode(), to: path)
    }

    /// The layout the writer stores tensor `id` in: packed for the weights of linear and
    /// qlinear ops (when no other op reads the tensor), so the runtime loads them in place.
    func layout(ofTensor id: Int) -> BundleTensorLayout {
        var layout = BundleTensorLayout.rowMajor
        for op in ops {
            for (position, t) in op.tensors.enumerated() where t == id {
                let wanted: BundleTensorLayout
                switch (op.code, position) {
                case (.linear?, 0): wanted = .packedLinear
                case (.qlinear?, 0): wanted = .packedQGEMM
                default: return .rowMajor
                }
                if layout != .rowMajor && layout != wanted { return .rowMajor }
                layout = wanted
            }
        }
        let t = tensors[id]
        // Only well-formed matrices are packed (tests write damaged bundles on purpose).
        guard let dtype = BundleDType(rawValue: t.dtype), t.shape.count == 2, t.shape.allSatisfy({ $0 >= 1 && $0 <= BundleLimits.maxDimension }),
              t.data.count == t.shape[0] * t.shape[1] * dtype.size else { return .rowMajor }
        switch layout {
        case .packedLinear: return t.shape.count == 2 && (t.dtype == BundleDType.f32.rawValue || t.dtype == BundleDType.f16.rawValue) ? layout : .rowMajor
        case .packedQGEMM: return t.shape.count == 2 && t.dtype == BundleDType.i8.rawValue ? layout : .rowMajor
        case .rowMajor: return .rowMajor
        }
    }

    /// A tensor's bytes as stored: row-major, or packed.
    func storedBytes(_ t: TensorEntry, _ layout: BundleTensorLayout) -> [UInt8] {
        guard layout != .rowMajor else { return t.data }
        let n = t.shape[0], k = t.shape[1]
        if layout == .packedQGEMM {
            var out = [UInt8](repeating: 0, count: qgemmPackedBytes(n: n, k: k))
            t.data.withUnsafeBytes { w in
                out.withUnsafeMutableBytes { qgemmPackWeights(n: n, k: k, w: w.bindMemory(to: Int8.self).baseAddress!, into: $0.bindMemory(to: Int8.self).baseAddress!) }
            }
            return out
        }
        let size = BundleDType(rawValue: t.dtype)!.size
        var out = [UInt8](repeating: 0, count: linearPackedCount(outputs: n, inputs: k) * size)
        t.data.withUnsafeBytes { w in
            out.withUnsafeMutableBytes { linearPackWeights(outputs: n, inputs: k, elementSize: size, weights: w.baseAddress!, into: $0.baseAddress!) }
        }
        return out
    }

    func encodeGraphAndData(packWeights: Bool = true) -> (graph: [UInt8], data: [UInt8]) {
        var g = BundleBytes()
        var data: [UInt8] = []
        g.u32(precision.rawValue)
        g.u32(UInt32(tensors.count))
        for (i, t) in tensors.enumerated() {
            let layout = packWeights ? layout(ofTensor: i) : .rowMajor
            let bytes = storedBytes(t, layout)
            let offset = kernelRoundUp(data.count, BundleLayout.tensorAlignment)
            data += [UInt8](repeating: 0, count: offset - data.count)
            data += bytes
            g.string(t.name)
            g.u32(t.dtype)
            g.u32(layout.rawValue)
            g.shape(t.shape)
            g.u64(UInt64(offset))
            g.u64(UInt64(bytes.count))
        }
        data += [UInt8](repeating: 0, count: kernelRoundUp(data.count, BundleLayout.tensorAlignment) - data.count)
        g.u32(UInt32(values.count))
        for v in values {
            g.string(v.name)
            g.u32(v.dtype)
            g.shape(v.shape)
            g.u32(v.scale.bitPattern)
            g.u32(UInt32(bitPattern: v.zeroPoint))
        }
        g.u32(UInt32(inputs.count)); for id in inputs { g.u32(UInt32(id)) }
        g.u32(UInt32(outputs.count)); for id in outputs { g.u32(UInt32(id)) }
        g.u32(UInt32(ops.count))
        for op in ops {
            g.u32(op.opcode)
            for list in [op.inputs, op.outputs, op.tensors] {
                g.u32(UInt32(list.count))
                for id in list { g.u32(UInt32(id)) }
            }
            g.u32(UInt32(op.attributes.count))
            for (key, value) in op.attributes {
                g.u32(key)
                switch value {
                case .int(let i): g.u32(BundleAttributeType.int.rawValue); g.u64(UInt64(bitPattern: i))
                case .float(let d): g.u32(BundleAttributeType.float.rawValue); g.u64(d.bitPattern)
                case .ints(let l): g.u32(BundleAttributeType.ints.rawValue); g.u32(UInt32(l.count)); for i in l { g.u64(UInt64(bitPattern: i)) }
                case .floats(let l): g.u32(BundleAttributeType.floats.rawValue); g.u32(UInt32(l.count)); for d in l { g.u64(d.bitPattern) }
                }
            }
        }
        return (g.bytes, data)
    }

    func encodeMetadata() -> [UInt8] {
        var m = BundleBytes()
        m.u32(UInt32(metadata.count))
        for (key, value) in metadata { m.string(key); m.string(value) }
        return m.bytes
    }

    func encodeSelfTest(_ t: SelfTest) -> [UInt8] {
        var s = BundleBytes()
        s.u32(UInt32(t.count))
        s.u32(t.rtol.bitPattern)
        s.u32(t.atol.bitPattern)
        s.u32(UInt32(inputs.count)); for id in inputs { s.u32(UInt32(values[id].count)) }
        s.u32(UInt32(outputs.count)); for id in outputs { s.u32(UInt32(values[id].count)) }
        // Vector after vector: each input's elements, then each expected output's.
        // (Sizes per vector come from the arrays, so a bundle damaged on purpose still encodes.)
        for v in 0..<t.count {
            for columns in [t.inputs, t.expected] {
                for c in columns { let n = c.count / Swift.max(t.count, 1); s.floats(Array(c[(v * n)..<((v + 1) * n)])) }
            }
        }
        return s.bytes
    }
}

/// Little-endian payload building.
struct BundleBytes {
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) { let u = Array(s.utf8); u32(UInt32(u.count)); bytes += u }
    mutating func shape(_ dims: [Int]) { u32(UInt32(dims.count)); for d in dims { u32(UInt32(truncatingIfNeeded: d)) } }
    mutating func floats(_ f: [Float]) { f.withUnsafeBytes { bytes += $0 } }   // x86-64 and arm64 are little-endian
}

/// Assembling a file from section payloads: header, section table, CRCs (exposed so tests
/// can build unusual files).
public enum BundleFile {
    public struct Section {
        public var kind: UInt32
        public var encoding: UInt32
        public var stored: [UInt8]
        public var size: Int

        /// A section from its decoded payload in the given encoding. Deflate streams are
        /// written by `deflateWithinInflateCap` (readers refuse a higher inflate ratio); the
        /// shuffled encoding needs a payload whose length is a multiple of 4 (DATA is padded to 64).
        public init(kind: UInt32, payload: [UInt8], encoding: UInt32 = BundleLayout.encodingDeflate) {
            self.kind = kind
            self.encoding = encoding
            size = payload.count
            switch encoding {
            case BundleLayout.encodingDeflate:
                stored = deflateWithinInflateCap(payload)
            case BundleLayout.encodingDeflateShuffled:
                check(payload.count % 4 == 0, "BundleFile.Section: shuffled payload of \(payload.count) bytes")
                var planes = [UInt8](repeating: 0, count: payload.count)
                payload.withUnsafeBytes { src in
                    planes.withUnsafeMutableBytes { dst in
                        if src.count > 0 { byteShuffle(src.baseAddress!, into: dst.baseAddress!, count: src.count) }
                    }
                }
                stored = deflateWithinInflateCap(planes)
            default:
                stored = payload
            }
        }

        /// A section with explicit stored bytes and declared size (for tests of damaged files).
        public init(kind: UInt32, encoding: UInt32, stored: [UInt8], size: Int) {
            self.kind = kind; self.encoding = encoding; self.stored = stored; self.size = size
        }
    }

    public static func assemble(_ sections: [Section], versionMajor: UInt16 = BundleLayout.versionMajor,
                                versionMinor: UInt16 = BundleLayout.versionMinor) -> [UInt8] {
        let tableEnd = BundleLayout.headerSize + sections.count * BundleLayout.sectionEntrySize
        let total = tableEnd + sections.reduce(0) { $0 + $1.stored.count }
        var header = BundleBytes()
        let m = BundleLayout.magic
        header.bytes = [m.0, m.1, m.2, m.3, m.4, m.5, m.6, m.7]
        withUnsafeBytes(of: versionMajor.littleEndian) { header.bytes += $0 }
        withUnsafeBytes(of: versionMinor.littleEndian) { header.bytes += $0 }
        header.u32(0)
        header.u64(UInt64(total))
        header.u32(UInt32(sections.count))
        var table = BundleBytes()
        var offset = tableEnd
        for s in sections {
            table.u32(s.kind)
            table.u32(s.encoding)
            table.u64(UInt64(offset))
            table.u64(UInt64(s.stored.count))
            table.u64(UInt64(s.size))
            table.u32(s.stored.withUnsafeBytes { bundleCRC32($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count, 0) })
            table.u32(0)
            offset += s.stored.count
        }
        var crc = header.bytes.withUnsafeBytes { bundleCRC32($0.baseAddress!, 28, 0) }
        crc = table.bytes.withUnsafeBytes { bundleCRC32($0.baseAddress!, $0.count, crc) }
        header.u32(crc)
        var file = header.bytes + table.bytes
        for s in sections { file += s.stored }
        return file
    }
}

/// A raw deflate stream (RFC 1951) of `bytes` that readers accept: it inflates at most
/// `BundleLimits.maxInflateRatio` × its own length + `BundleLimits.inflateAllowance`.
/// Written by `deflateAdaptive`, which estimates each chunk's compressed size; in the rare
/// case where the stream's shared history beats the estimate past the cap, rewritten with
/// compressed chunks counted as free (which cannot exceed the cap).
public func deflateWithinInflateCap(_ bytes: [UInt8]) -> [UInt8] {
    let stream = deflateAdaptive(bytes)
    if bytes.count <= BundleLimits.maxInflateRatio * stream.count + BundleLimits.inflateAllowance { return stream }
    let safe = deflateAdaptive(bytes, countCompressedAsFree: true)
    check(bytes.count <= BundleLimits.maxInflateRatio * safe.count + BundleLimits.inflateAllowance,
          "deflateWithinInflateCap: \(bytes.count) bytes in \(safe.count)")
    return safe
}

/// A raw deflate stream (RFC 1951) of `bytes`, compressed in 16 KiB chunks: a chunk that
/// deflate (level 9) shrinks by at least 1/8 is compressed, any other is written as a stored
/// block. Inflating literals costs about 3 ns per byte with zlib, copying almost nothing, so
/// this keeps load time low where compression saves little (int8 weights, float mantissas).
///
/// A chunk is also stored when compressing it would take the stream past the readers'
/// inflate cap (`BundleLimits.maxInflateRatio`; runs of zeros compress about 1000:1): the
/// bytes read so far must stay within the ratio × the bytes written so far (each chunk's
/// written bytes estimated by compressing it alone, or counted as 0 when
/// `countCompressedAsFree`, which guarantees the cap) + half the allowance.
public func deflateAdaptive(_ bytes: [UInt8], countCompressedAsFree: Bool = false) -> [UInt8] {
    let chunk = 16 << 10
    var stream = z_stream()
    guard deflateInit2_(&stream, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        fatalError("zlib deflateInit2 failed")
    }
    defer { deflateEnd(&stream) }
    var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 64 * (bytes.count / chunk + 1))
    var level: Int32 = 9
    bytes.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            stream.next_out = dst.baseAddress
            stream.avail_out = uInt(dst.count)
            var at = 0
            var written = 0   // estimated stream bytes so far
            repeat {
                let n = Swift.min(chunk, bytes.count - at)
                let piece = Array(src[at..<(at + n)])
                let compressed = deflateRaw(piece, level: 9).count
                let estimate = countCompressedAsFree ? 0 : compressed
                let withinCap = at + n <= BundleLimits.maxInflateRatio * (written + estimate) + BundleLimits.inflateAllowance / 2
                let wanted: Int32 = compressed * 8 <= n * 7 && withinCap ? 9 : 0
                written += wanted == 9 ? estimate : n
                if wanted != level {
                    // Not inside check(): -Ounchecked drops its argument, call and all.
                    let changed = deflateParams(&stream, wanted, Z_DEFAULT_STRATEGY)
                    check(changed == Z_OK, "zlib deflateParams failed")
                    level = wanted
                }
                stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress.map { $0 + at })
                stream.avail_in = uInt(n)
                let last = at + n == bytes.count
                let status = deflate(&stream, last ? Z_FINISH : Z_NO_FLUSH)
                check(status == (last ? Z_STREAM_END : Z_OK) && stream.avail_in == 0, "zlib deflate failed with \(status)")
                at += n
            } while at < bytes.count
        }
    }
    return Array(out[0..<Int(stream.total_out)])
}

/// A raw deflate stream (RFC 1951) of `bytes` at `level`, in one piece.
public func deflateRaw(_ bytes: [UInt8], level: Int32 = 9) -> [UInt8] {
    var stream = z_stream()
    guard deflateInit2_(&stream, level, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        fatalError("zlib deflateInit2 failed")
    }
    defer { deflateEnd(&stream) }
    var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))))
    let status = bytes.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
            stream.avail_in = uInt(src.count)
            stream.next_out = dst.baseAddress
            stream.avail_out = uInt(dst.count)
            return deflate(&stream, Z_FINISH)
        }
    }
    check(status == Z_STREAM_END, "zlib deflate failed with \(status)")
    return Array(out[0..<Int(stream.total_out)])
}

// MARK: Decoding

/// Why a bundle was refused: the runtime's status plus a message for people.
public struct BundleError: Error, CustomStringConvertible, Equatable {
    public let status: BundleStatus
    public let message: String

    public init(_ status: BundleStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(message) (\(status))" }
}

extension ModelBundle {
    /// Reads and validates the bundle at `path`.
    public static func read(from path: String) throws -> ModelBundle {
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(path) } catch { throw BundleError(.io, "\(error)") }
        return try ModelBundle(decoding: bytes)
    }

    /// Parses and validates `bytes` with the same rules and statuses as the runtime.
    /// - Throws: `BundleError`.
    public init(decoding bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { raw in
            try BundleDecoder.decode(raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: raw.count)
        }
    }
}

/// The Swift reader: the shared loader (Sources/MyelinShared/Graph/Executor.swift) validates
/// and prepares exactly as the runtime does, so both return the same status for every
/// damaged file; this only turns what it loaded into Swift values (packed weights back into
/// row-major logical bytes).
enum BundleDecoder {
    static func decode(_ base: UnsafeRawPointer, count: Int) throws -> ModelBundle {
        var loaded: LoadedBundle
        do { loaded = try LoadedBundle.load(base, count: count) } catch {
            throw BundleError(error, message(error))
        }
        defer { loaded.release() }
        let g = loaded.model.graph
        func string(_ n: GraphName) -> String { String(decoding: n.bytes, as: UTF8.self) }
        func dims(_ s: BundleShape) -> [Int] { (0..<s.rank).map { s.dim($0) } }
        var tensors: [ModelBundle.TensorEntry] = []
        for i in 0..<g.tensorCount {
            let t = g.tensors![i]
            tensors.append(.init(name: string(t.name), dtype: t.dtype, shape: dims(t.shape), data: logicalBytes(t)))
        }
        var values: [ModelBundle.Value] = []
        for i in 0..<g.valueCount {
            let v = g.values![i]
            values.append(.init(name: string(v.name), dtype: v.dtype, shape: dims(v.shape), scale: v.scale, zeroPoint: v.zeroPoint))
        }
        var ops: [ModelBundle.Op] = []
        for o in 0..<g.opCount {
            let op = g.ops![o]
            var attributes: [(BundleAttribute, ModelBundle.AttributeValue)] = []
            for i in 0..<op.attributeCount {
                let a = g.attributes![op.attributes + i]
                switch a.type {
                case .int: attributes.append((a.key, .int(a.int())))
                case .float: attributes.append((a.key, .float(a.float())))
                case .ints: attributes.append((a.key, .ints((0..<a.count).map { a.int($0) })))
                case .floats: attributes.append((a.key, .floats((0..<a.count).map { a.float($0) })))
                }
            }
            ops.append(.init(op.code, inputs: (0..<op.inputCount).map { g.inputID(op, $0) },
                             outputs: (0..<op.outputCount).map { g.outputID(op, $0) },
                             tensors: (0..<op.tensorCount).map { g.tensorID(op, $0) }, attributes: attributes))
        }
        var bundle = ModelBundle(precision: g.precision, tensors: tensors, values: values,
                                 inputs: (0..<g.inputCount).map { Int(g.inputs![$0]) },
                                 outputs: (0..<g.outputCount).map { Int(g.outputs![$0]) }, ops: ops)
        if let m = loaded.metadata {
            // Validated by the loader: these calls cannot fail.
            let meta = try! BundleMetadata(m, size: loaded.metadataSize, outputSize: g.outputValue(0).count)
            meta.forEach { key, value in bundle.metadata.append((String(decoding: key, as: UTF8.self), String(decoding: value, as: UTF8.self))) }
        }
        if let t = loaded.selfTest {
            let test = try! BundleSelfTestRecord(t, size: loaded.selfTestSize, graph: g)
            var inputs = bundle.inputs.map { _ in [Float]() }, expected = bundle.outputs.map { _ in [Float]() }
            for v in 0..<test.count {
                var at = v * test.stride
                func take(_ n: Int) -> [Float] {
                    defer { at += n }
                    return (0..<n).map { test.floats.loadUnaligned(fromByteOffset: 4 * (at + $0), as: Float.self) }
                }
                for (i, id) in bundle.inputs.enumerated() { inputs[i] += take(values[id].count) }
                for (i, id) in bundle.outputs.enumerated() { expected[i] += take(values[id].count) }
            }
            bundle.selfTest = .init(inputs: inputs, expected: expected, count: test.count, rtol: test.rtol, atol: test.atol)
        }
        return bundle
    }

    /// A tensor's elements in row-major order, unpacked if it is stored packed.
    static func logicalBytes(_ t: GraphTensor) -> [UInt8] {
        let stored = UnsafeRawBufferPointer(start: t.data, count: t.byteSize)
        guard t.layout != .rowMajor else { return Array(stored) }
        let n = t.shape.dim(0), k = t.shape.dim(1)
        var out = [UInt8](repeating: 0, count: n * k * t.dtype.size)
        out.withUnsafeMutableBytes { w in
            if t.layout == .packedQGEMM {
                qgemmUnpackWeights(n: n, k: k, packed: t.data!.assumingMemoryBound(to: Int8.self), into: w.bindMemory(to: Int8.self).baseAddress!)
            } else {
                linearUnpackWeights(outputs: n, inputs: k, elementSize: t.dtype.size, packed: t.data!, into: w.baseAddress!)
            }
        }
        return out
    }

    static func message(_ status: BundleStatus) -> String {
        switch status {
        case .notABundle: return "not a Myelin bundle"
        case .unsupportedVersion:
            return "bundle format version \(BundleLayout.versionMajor) is required: re-export the model from its checkpoint"
        case .checksum: return "checksum mismatch"
        case .unsupported: return "unsupported op, dtype, attribute or encoding"
        case .shapeMismatch: return "operand shapes do not fit"
        case .limitExceeded: return "a size beyond the format's limits"
        default: return "invalid bundle"
        }
    }
}
