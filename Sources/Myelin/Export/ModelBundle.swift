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
        let (graph, data) = encodeGraphAndData()
        let plain = compressed ? BundleLayout.encodingDeflate : BundleLayout.encodingStored
        var sections: [BundleFile.Section] = [
            .init(kind: BundleSectionKind.graph, payload: graph, encoding: plain),
            .init(kind: BundleSectionKind.data, payload: data,
                  encoding: compressed ? BundleLayout.encodingDeflateShuffled : BundleLayout.encodingStored),
        ]
        if !metadata.isEmpty { sections.append(.init(kind: BundleSectionKind.metadata, payload: encodeMetadata(), encoding: plain)) }
        if let t = selfTest { sections.append(.init(kind: BundleSectionKind.selfTest, payload: encodeSelfTest(t), encoding: plain)) }
        return BundleFile.assemble(sections)
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

    func encodeGraphAndData() -> (graph: [UInt8], data: [UInt8]) {
        var g = BundleBytes()
        var data: [UInt8] = []
        g.u32(precision.rawValue)
        g.u32(UInt32(tensors.count))
        for t in tensors {
            let offset = kernelRoundUp(data.count, BundleLayout.tensorAlignment)
            data += [UInt8](repeating: 0, count: offset - data.count)
            data += t.data
            g.string(t.name)
            g.u32(t.dtype)
            g.shape(t.shape)
            g.u64(UInt64(offset))
            g.u64(UInt64(t.data.count))
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
                case .int(let i): g.u32(1); g.u64(UInt64(bitPattern: i))
                case .float(let d): g.u32(2); g.u64(d.bitPattern)
                case .ints(let l): g.u32(3); g.u32(UInt32(l.count)); for i in l { g.u64(UInt64(bitPattern: i)) }
                case .floats(let l): g.u32(4); g.u32(UInt32(l.count)); for d in l { g.u64(d.bitPattern) }
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
        s.u32(UInt32(values[inputs[0]].count))
        s.u32(UInt32(values[outputs[0]].count))
        s.floats(t.inputs[0])
        s.floats(t.expected[0])
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
        /// written by `deflateAdaptive`; the shuffled encoding needs a payload whose length is
        /// a multiple of 4 (DATA is padded to 64).
        public init(kind: UInt32, payload: [UInt8], encoding: UInt32 = BundleLayout.encodingDeflate) {
            self.kind = kind
            self.encoding = encoding
            size = payload.count
            switch encoding {
            case BundleLayout.encodingDeflate:
                stored = deflateAdaptive(payload)
            case BundleLayout.encodingDeflateShuffled:
                check(payload.count % 4 == 0, "BundleFile.Section: shuffled payload of \(payload.count) bytes")
                var planes = [UInt8](repeating: 0, count: payload.count)
                payload.withUnsafeBytes { src in
                    planes.withUnsafeMutableBytes { dst in
                        if src.count > 0 { byteShuffle(src.baseAddress!, into: dst.baseAddress!, count: src.count) }
                    }
                }
                stored = deflateAdaptive(planes)
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

/// A raw deflate stream (RFC 1951) of `bytes`, compressed in 16 KiB chunks: a chunk that
/// deflate (level 9) shrinks by at least 1/8 is compressed, any other is written as a stored
/// block. Inflating literals costs about 3 ns per byte with zlib, copying almost nothing, so
/// this keeps load time low where compression saves little (int8 weights, float mantissas).
public func deflateAdaptive(_ bytes: [UInt8]) -> [UInt8] {
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
            repeat {
                let n = Swift.min(chunk, bytes.count - at)
                let piece = Array(src[at..<(at + n)])
                let wanted: Int32 = deflateRaw(piece, level: 9).count * 8 <= n * 7 ? 9 : 0
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

/// The Swift reader. It validates GRPH, META and TEST with the reader the runtime's
/// Loader.swift also calls (BundleReader.swift), in the runtime's order, so both return the
/// same status for every damaged file (the malformed bundle tests require it).
enum BundleDecoder {
    static func decode(_ base: UnsafeRawPointer, count: Int) throws -> ModelBundle {
        let table: BundleSectionTable
        do { table = try BundleSectionTable.parse(base, count: count) } catch {
            throw BundleError(error, "invalid header or section table")
        }
        var buffers: [UnsafeMutableRawPointer] = []
        defer { for b in buffers { b.deallocate() } }
        func section(_ s: BundleSection, _ name: String) throws -> UnsafeRawBufferPointer? {
            guard s.present else { return nil }
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(s.size, 1), alignment: BundleLayout.tensorAlignment)
            buffers.append(buffer)
            let scratch = s.needsScratch ? UnsafeMutableRawPointer.allocate(byteCount: Swift.max(s.size, 1), alignment: 64) : nil
            defer { scratch?.deallocate() }
            do { try s.decode(file: base, into: buffer, scratch: scratch) } catch {
                throw BundleError(error, "section \(name) cannot be decoded")
            }
            return UnsafeRawBufferPointer(start: buffer, count: s.size)
        }
        // The runtime's order: small sections, graph structure, DATA, weight values, META, TEST.
        let graph = try section(table.graph, "GRPH")!
        let meta = try section(table.metadata, "META")
        let test = try section(table.selfTest, "TEST")
        var bundle: ModelBundle
        var ranges: [Range<Int>]
        do { (bundle, ranges) = try decodeGraph(graph, dataSize: table.data.size) } catch {
            throw BundleError(error, "graph section is invalid")
        }
        let data = try section(table.data, "DATA")!
        for (i, r) in ranges.enumerated() { bundle.tensors[i].data = Array(UnsafeRawBufferPointer(rebasing: data[r])) }
        for op in bundle.ops where op.code == .qlinear {
            let scales = ranges[op.tensors[1]]
            do { try BundleGraph.checkWeightScales(data.baseAddress! + scales.lowerBound, count: scales.count / 4) } catch {
                throw BundleError(error, "qlinear weight scales must be finite and positive")
            }
        }
        if let meta {
            do { bundle.metadata = try decodeMetadata(meta, outputSize: bundle.outputSize) } catch {
                throw BundleError(error, "metadata section is invalid")
            }
        }
        if let test {
            do { bundle.selfTest = try decodeSelfTest(test, bundle) } catch {
                throw BundleError(error, "self-test section is invalid")
            }
        }
        return bundle
    }

    static func start(_ b: UnsafeRawBufferPointer) -> UnsafeRawPointer {
        b.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
    }

    static func dims(_ s: BundleShape) -> [Int] { (0..<s.rank).map { s.dim($0) } }

    /// Collects the validated graph records as `ModelBundle` tensors (without data), values and ops.
    struct GraphBuilder: BundleGraphBuilder {
        var tensorRecords: [BundleTensorRecord] = []
        var valueRecords: [BundleValueRecord] = []
        var tensors: [ModelBundle.TensorEntry] = []
        var values: [ModelBundle.Value] = []
        var ops: [ModelBundle.Op] = []
        /// Attributes of the op being read.
        var attributes: [(BundleAttribute, ModelBundle.AttributeValue)] = []

        mutating func reserveTensors(_ count: Int) {
            tensorRecords.reserveCapacity(count)
            tensors.reserveCapacity(count)
        }

        mutating func addTensor(_ t: BundleTensorRecord, name: UnsafeRawBufferPointer) {
            tensorRecords.append(t)
            tensors.append(.init(name: String(decoding: name, as: UTF8.self), dtype: t.dtype, shape: dims(t.shape), data: []))
        }

        func tensor(_ id: Int) -> BundleTensorRecord { tensorRecords[id] }

        mutating func reserveValues(_ count: Int) {
            valueRecords.reserveCapacity(count)
            values.reserveCapacity(count)
        }

        mutating func addValue(_ v: BundleValueRecord, name: UnsafeRawBufferPointer) {
            valueRecords.append(v)
            values.append(.init(name: String(decoding: name, as: UTF8.self), dtype: v.dtype, shape: dims(v.shape),
                                scale: v.scale, zeroPoint: v.zeroPoint))
        }

        func value(_ id: Int) -> BundleValueRecord { valueRecords[id] }

        mutating func reserveOps(_ count: Int) { ops.reserveCapacity(count) }

        mutating func addAttribute(_ key: BundleAttribute, _ value: BundleAttributeValue) {
            switch value {
            case .int(let i): attributes.append((key, .int(i)))
            case .float(let f): attributes.append((key, .float(f)))
            }
        }

        mutating func addOp(_ op: BundleOpRecord) {
            let ids = [op.tensorIDs.0, op.tensorIDs.1, op.tensorIDs.2]
            ops.append(.init(op.code, inputs: [op.input], outputs: [op.output], tensors: Array(ids[0..<op.tensorCount]),
                             attributes: attributes))
            attributes = []
        }
    }

    /// The graph with empty tensor data, and where each tensor's bytes are in DATA.
    static func decodeGraph(_ g: UnsafeRawBufferPointer, dataSize: Int) throws(BundleStatus) -> (ModelBundle, [Range<Int>]) {
        var builder = GraphBuilder()
        let graph = try BundleGraph.parse(start(g), count: g.count, dataSize: dataSize, into: &builder)
        let ranges = builder.tensorRecords.map { $0.offset..<($0.offset + $0.byteSize) }
        return (ModelBundle(precision: graph.precision, tensors: builder.tensors, values: builder.values,
                            inputs: [graph.input], outputs: [graph.output], ops: builder.ops), ranges)
    }

    static func decodeMetadata(_ m: UnsafeRawBufferPointer, outputSize: Int) throws(BundleStatus) -> [(key: String, value: String)] {
        let meta = try BundleMetadata(start(m), size: m.count, outputSize: outputSize)
        var entries: [(key: String, value: String)] = []
        meta.forEach { key, value in entries.append((String(decoding: key, as: UTF8.self), String(decoding: value, as: UTF8.self))) }
        return entries
    }

    static func decodeSelfTest(_ t: UnsafeRawBufferPointer, _ bundle: ModelBundle) throws(BundleStatus) -> ModelBundle.SelfTest {
        let test = try BundleSelfTestRecord(start(t), size: t.count, inputSize: bundle.inputSize, outputSize: bundle.outputSize)
        let floats = (0..<test.floatCount).map { test.floats.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
        let inputs = Array(floats[0..<(test.count * bundle.inputSize)])
        let expected = Array(floats[(test.count * bundle.inputSize)...])
        return .init(inputs: [inputs], expected: [expected], count: test.count, rtol: test.rtol, atol: test.atol)
    }
}
