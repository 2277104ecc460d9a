import CZlib

/// A minimal PNG encoder (8-bit grayscale or RGB, no interlacing), enough to look at
/// filters and feature maps.
///
/// Layout (PNG spec, ISO 15948): the 8-byte signature, then chunks `length (4, big-endian) ·
/// type (4) · data · CRC-32 of type and data`: IHDR (size, bit depth 8, colour type 0 or 2),
/// one IDAT holding a zlib stream (which ends with the Adler-32 of the raw data) of the
/// scanlines, each prefixed by filter type 0 (none), then an empty IEND.
///
/// ```swift
/// let image = PixelImage(width: 2, height: 1, channels: 1, pixels: [0, 255])
/// try image.writePNG(to: "/tmp/two.png")
/// ```
public struct PixelImage: Equatable {
    public var width: Int
    public var height: Int
    /// 1 (grayscale) or 3 (RGB).
    public var channels: Int
    /// Row-major, `channels` bytes per pixel.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        check(width > 0 && height > 0, "PixelImage: size \(width)×\(height) must be positive")
        check(channels == 1 || channels == 3, "PixelImage: channels must be 1 (grayscale) or 3 (RGB), got \(channels)")
        check(pixels.count == width * height * channels,
              "PixelImage: \(pixels.count) bytes for \(width)×\(height)×\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// The PNG file's bytes.
    public func pngData() -> [UInt8] {
        var ihdr = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        ihdr += [8, channels == 1 ? 0 : 2, 0, 0, 0]   // bit depth, colour type, compression, filter, interlace
        let row = width * channels
        var raw = [UInt8]()
        raw.reserveCapacity((row + 1) * height)
        for y in 0..<height {
            raw.append(0)   // filter type: none
            raw += pixels[(y * row)..<((y + 1) * row)]
        }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        out += PixelImage.chunk("IHDR", ihdr)
        out += PixelImage.chunk("IDAT", PixelImage.zlibCompress(raw))
        out += PixelImage.chunk("IEND", [])
        return out
    }

    /// Writes the PNG file (atomically: a reader never sees half a file).
    public func writePNG(to path: String) throws { try AtomicFile.write(pngData(), to: path) }

    /// length · type · data · CRC-32(type · data).
    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        let crc = body.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
        return bigEndian(UInt32(data.count)) + body + bigEndian(crc)
    }

    /// A zlib stream (RFC 1950: header, deflate data, Adler-32) of `data`.
    static func zlibCompress(_ data: [UInt8]) -> [UInt8] {
        var size = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let status = out.withUnsafeMutableBufferPointer { o in
            data.withUnsafeBufferPointer { i in compress2(o.baseAddress, &size, i.baseAddress, uLong(i.count), Z_BEST_COMPRESSION) }
        }
        check(status == Z_OK, "PNG: zlib compress2 failed with status \(status)")
        return Array(out.prefix(Int(size)))
    }
}

private func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
