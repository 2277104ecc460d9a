import CZlib
import Foundation

/// Reader for the IDX format of MNIST-style datasets (plain or gzip-compressed, decompressed
/// through the system zlib).
///
/// IDX layout: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions,
/// then each dimension as a big-endian UInt32, then the elements in row-major order.
public enum IDX {
    /// Largest decompressed file accepted (the real Fashion-MNIST training images are 47 MB).
    public static let maxDecompressedBytes = 1 << 30

    /// An IDX array of unsigned bytes.
    public struct Array {
        public var shape: [Int]
        public var bytes: [UInt8]
    }

    /// Reads the file at `path` (gzip-compressed if it starts with the gzip magic).
    public static func read(_ path: String) throws -> IDX.Array {
        let raw = try AtomicFile.read(path)
        let bytes = raw.count >= 2 && raw[0] == 0x1F && raw[1] == 0x8B ? try gunzip(raw, path: path) : raw
        return try parse(bytes, path: path)
    }

    /// Parses IDX bytes; `path` names the source in errors.
    public static func parse(_ b: [UInt8], path: String) throws -> IDX.Array {
        func fail(_ problem: String) -> MyelinError { .file(path: path, problem: problem) }
        guard b.count >= 4 else { throw fail("too short for an IDX header (\(b.count) bytes)") }
        guard b[0] == 0, b[1] == 0 else { throw fail("not an IDX file (bad magic \(b[0]), \(b[1]))") }
        guard b[2] == 0x08 else { throw fail("unsupported IDX element type 0x\(String(b[2], radix: 16)) (only unsigned bytes, 0x08)") }
        let rank = Int(b[3])
        guard rank >= 1 && rank <= 4 else { throw fail("IDX rank \(rank) is not between 1 and 4") }
        let headerSize = 4 + 4 * rank
        guard b.count >= headerSize else { throw fail("truncated header: \(rank) dimensions need \(headerSize) bytes, file has \(b.count)") }
        var shape: [Int] = []
        var count = 1
        for d in 0..<rank {
            let o = 4 + 4 * d
            let dim = Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3])
            shape.append(dim)
            count *= dim   // at most 4 dims below 2³² each: cannot overflow Int64 before the size check
            guard count <= maxDecompressedBytes else { throw fail("declared size \(shape) is too large") }
        }
        guard b.count - headerSize == count else {
            throw fail(b.count - headerSize < count
                       ? "truncated: header declares \(shape) (\(count) bytes of data), file has \(b.count - headerSize)"
                       : "\(b.count - headerSize - count) unexpected bytes after the data declared by the header \(shape)")
        }
        return IDX.Array(shape: shape, bytes: Swift.Array(b[headerSize...]))
    }

    /// Decompresses a gzip stream with zlib, refusing output beyond `maxDecompressedBytes`.
    static func gunzip(_ input: [UInt8], path: String) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw MyelinError.file(path: path, problem: "zlib could not be initialised")
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var status: Int32 = Z_OK
        try input.withUnsafeBufferPointer { inp in
            stream.next_in = UnsafeMutablePointer(mutating: inp.baseAddress!)
            stream.avail_in = UInt32(inp.count)
            repeat {
                status = chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress!
                    stream.avail_out = UInt32(out.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                guard status == Z_OK || status == Z_STREAM_END else {
                    throw MyelinError.file(path: path, problem: "corrupt gzip data (zlib status \(status))")
                }
                output += chunk[0..<(chunk.count - Int(stream.avail_out))]
                guard output.count <= maxDecompressedBytes else {
                    throw MyelinError.file(path: path, problem: "decompresses to more than \(maxDecompressedBytes) bytes")
                }
                if status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0 {
                    throw MyelinError.file(path: path, problem: "truncated gzip data")
                }
            } while status != Z_STREAM_END
        }
        return output
    }
}
