import Foundation

/// The `.mst` state file: a flat, versioned, little-endian container of named float32
/// tensors, used for model states and checkpoints.
///
/// ```
/// magic "MYST" | u32 version (1) | u32 entry count
/// per entry: u32 name length | UTF-8 name | u32 rank | rank × u64 dims | count × f32 data
/// u32 CRC-32 of everything before it
/// ```
public enum StateDictFile {
    static let magic: [UInt8] = Array("MYST".utf8)
    static let version: UInt32 = 1
    /// Refuse names and ranks beyond these (a corrupt header must not drive huge allocations).
    static let maxNameLength = 4096
    static let maxRank = 8

    /// Serialises `state` to bytes.
    public static func encode(_ state: StateDict) -> [UInt8] {
        var out = ByteWriter()
        out.bytes(magic)
        out.u32(version)
        out.u32(UInt32(state.entries.count))
        for (name, tensor) in state.entries {
            let utf8 = Array(name.utf8)
            out.u32(UInt32(utf8.count))
            out.bytes(utf8)
            out.u32(UInt32(tensor.rank))
            for d in tensor.shape { out.u64(UInt64(d)) }
            out.floats(tensor.data)
        }
        out.u32(crc32(out.buffer))
        return out.buffer
    }

    /// Parses bytes produced by `encode`; `path` names the source in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws -> StateDict {
        func fail(_ problem: String) -> MyelinError { .file(path: path, problem: problem) }
        var r = try ByteReader.checkedContainer(bytes, magic: magic, version: version, minimumSize: 16,
                                                kind: "state file", path: path)
        let n = try r.u32()
        var entries: [(String, Tensor)] = []
        for _ in 0..<n {
            let len = Int(try r.u32())
            guard len <= maxNameLength else { throw fail("entry name length \(len) exceeds \(maxNameLength)") }
            guard let name = String(bytes: try r.bytes(len), encoding: .utf8) else { throw fail("entry name is not UTF-8") }
            let rank = Int(try r.u32())
            guard rank <= maxRank else { throw fail("tensor \"\(name)\" has rank \(rank), more than \(maxRank)") }
            var shape: [Int] = []
            var count = 1
            for _ in 0..<rank {
                let d = try r.u64()
                let (c, overflow) = count.multipliedReportingOverflow(by: Int(clamping: d))
                guard d <= UInt64(Int32.max), !overflow, c <= r.remaining / 4 else {
                    throw fail("tensor \"\(name)\" declares more data than the file holds")
                }
                count = c
                shape.append(Int(d))
            }
            entries.append((name, Tensor(shape: shape, data: try r.floats(count))))
        }
        guard r.offset == r.end else { throw fail("\(r.end - r.offset) unexpected trailing bytes") }
        return StateDict(entries)
    }

    /// Writes atomically: a temporary file in the same folder, fsync, then rename over
    /// `path`, so an interrupted save never destroys the previous file.
    public static func write(_ state: StateDict, to path: String) throws {
        try AtomicFile.write(encode(state), to: path)
    }

    /// Reads and parses the file at `path`.
    public static func read(from path: String) throws -> StateDict {
        try decode(AtomicFile.read(path), path: path)
    }
}

/// Little-endian byte building.
struct ByteWriter {
    var buffer: [UInt8] = []
    mutating func bytes(_ b: [UInt8]) { buffer += b }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { buffer += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { buffer += $0 } }
    mutating func floats(_ values: [Float]) {
        values.withUnsafeBytes { buffer += $0 }   // x86-64 and arm64 are little-endian
    }
}

/// Bounds-checked little-endian reading; every overrun is an error naming the file.
struct ByteReader {
    /// Validates a Myelin container — magic, trailing CRC-32 over everything before it, and
    /// version — and returns a reader positioned after the version, ending before the CRC.
    static func checkedContainer(_ bytes: [UInt8], magic: [UInt8], version: UInt32, minimumSize: Int,
                                 kind: String, path: String) throws -> ByteReader {
        func fail(_ problem: String) -> MyelinError { .file(path: path, problem: problem) }
        guard bytes.count >= minimumSize else { throw fail("too short to be a Myelin \(kind) (\(bytes.count) bytes)") }
        guard Array(bytes[0..<4]) == magic else { throw fail("not a Myelin \(kind) (bad magic)") }
        let stored = bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: bytes.count - 4, as: UInt32.self)) }
        guard stored == crc32(bytes[0..<(bytes.count - 4)]) else { throw fail("checksum mismatch (file is corrupt or truncated)") }
        var r = ByteReader(bytes: bytes, end: bytes.count - 4, path: path)
        r.offset = 4
        let v = try r.u32()
        guard v == version else { throw fail("unsupported \(kind) version \(v) (this build reads version \(version))") }
        return r
    }

    let bytes: [UInt8]
    let end: Int
    let path: String
    var offset = 0

    var remaining: Int { end - offset }

    init(bytes: [UInt8], end: Int, path: String) {
        self.bytes = bytes
        self.end = end
        self.path = path
    }

    mutating func need(_ n: Int) throws {
        guard n >= 0, n <= self.remaining else {
            throw MyelinError.file(path: path, problem: "truncated: needs \(n) bytes at offset \(offset), \(remaining) left")
        }
    }
    mutating func u32() throws -> UInt32 {
        try need(4)
        defer { offset += 4 }
        return bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    }
    mutating func u64() throws -> UInt64 {
        try need(8)
        defer { offset += 8 }
        return bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    }
    mutating func bytes(_ n: Int) throws -> [UInt8] {
        try need(n)
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }
    mutating func floats(_ n: Int) throws -> [Float] {
        try need(n * 4)
        var out = [Float](repeating: 0, count: n)
        out.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + n * 4)]))
            }
        }
        offset += n * 4
        return out
    }
}

/// CRC-32 (IEEE 802.3, the polynomial zlib uses), table-driven.
func crc32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes { crc = crcTable[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
    return crc ^ 0xFFFF_FFFF
}

let crcTable: [UInt32] = (0..<256).map { i -> UInt32 in
    var c = UInt32(i)
    for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

/// Whole-file reads and atomic writes with errors that name the path.
enum AtomicFile {
    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw MyelinError.file(path: path, problem: exists ? "cannot be read" : "no such file")
        }
        return [UInt8](data)
    }

    /// temp file in the destination folder → write all → fsync → rename → fsync folder.
    static func write(_ bytes: [UInt8], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw MyelinError.file(path: path, problem: "cannot create temporary file: \(String(cString: strerror(errno)))")
        }
        var written = 0
        let ok: Bool = bytes.withUnsafeBytes { buf in
            while written < buf.count {
                let n = Foundation.write(fd, buf.baseAddress! + written, buf.count - written)
                if n <= 0 { if errno == EINTR { continue }; return false }
                written += n
            }
            return fsync(fd) == 0
        }
        let err = errno
        close(fd)
        guard ok else {
            unlink(tmp)
            throw MyelinError.file(path: path, problem: "write failed: \(String(cString: strerror(err)))")
        }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw MyelinError.file(path: path, problem: "cannot replace file: \(String(cString: strerror(e)))")
        }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}
