import CZlib
import Foundation
import XCTest
@testable import Myelin

/// The PNG writer, checked by an independent reader: chunk layout, CRC-32 by the bitwise
/// definition, the zlib stream inflated (zlib checks its Adler-32) and compared byte for
/// byte; then the grid and the filter / feature-map pictures.
final class VisualizationTests: XCTestCase {
    struct Chunk { var type: String; var data: [UInt8]; var crc: UInt32 }

    func bitwiseCRC32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }

    func be32(_ b: ArraySlice<UInt8>) -> UInt32 { b.reduce(0) { $0 << 8 | UInt32($1) } }

    func chunks(_ png: [UInt8]) throws -> [Chunk] {
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var result: [Chunk] = [], i = 8
        while i < png.count {
            let length = Int(be32(png[i..<(i + 4)]))
            let type = String(decoding: png[(i + 4)..<(i + 8)], as: UTF8.self)
            let data = Array(png[(i + 8)..<(i + 8 + length)])
            result.append(Chunk(type: type, data: data, crc: be32(png[(i + 8 + length)..<(i + 12 + length)])))
            i += 12 + length
        }
        XCTAssertEqual(i, png.count)
        return result
    }

    /// Decodes an image the way a PNG reader does (only filter type 0, as we write).
    func decode(_ png: [UInt8]) throws -> PixelImage {
        let cs = try chunks(png)
        XCTAssertEqual(cs.map(\.type), ["IHDR", "IDAT", "IEND"])
        for c in cs { XCTAssertEqual(c.crc, bitwiseCRC32(Array(c.type.utf8) + c.data), c.type) }
        let width = Int(be32(cs[0].data[0..<4])), height = Int(be32(cs[0].data[4..<8]))
        XCTAssertEqual(cs[0].data[8], 8)
        let channels = cs[0].data[9] == 0 ? 1 : 3
        let z = cs[1].data
        XCTAssertEqual((Int(z[0]) << 8 | Int(z[1])) % 31, 0, "zlib header check bits")
        var size = uLong((width * channels + 1) * height)
        var raw = [UInt8](repeating: 0, count: Int(size))
        let status = raw.withUnsafeMutableBufferPointer { r in z.withUnsafeBufferPointer { uncompress(r.baseAddress, &size, $0.baseAddress, uLong($0.count)) } }
        XCTAssertEqual(status, Z_OK, "inflate (checks the Adler-32)")
        XCTAssertEqual(Int(size), raw.count)
        // Adler-32 by its definition, against the stream's last four bytes.
        var a: UInt32 = 1, b: UInt32 = 0
        for v in raw { a = (a + UInt32(v)) % 65521; b = (b + a) % 65521 }
        XCTAssertEqual(be32(z.suffix(4)), b << 16 | a)
        var pixels: [UInt8] = []
        let row = width * channels
        for y in 0..<height {
            XCTAssertEqual(raw[y * (row + 1)], 0, "filter type")
            pixels += raw[(y * (row + 1) + 1)..<((y + 1) * (row + 1))]
        }
        return PixelImage(width: width, height: height, channels: channels, pixels: pixels)
    }

    func testGrayscaleAndRGBRoundTrip() throws {
        let gray = PixelImage(width: 5, height: 3, channels: 1, pixels: (0..<15).map { UInt8($0 * 17) })
        XCTAssertEqual(try decode(gray.pngData()), gray)
        let rgb = PixelImage(width: 4, height: 2, channels: 3, pixels: (0..<24).map { UInt8(($0 * 37) % 256) })
        XCTAssertEqual(try decode(rgb.pngData()), rgb)
        // The known CRC of the IEND chunk.
        XCTAssertEqual(Array(gray.pngData().suffix(4)), [0xAE, 0x42, 0x60, 0x82])
    }

    func testGridLayout() throws {
        let tiles = Tensor(shape: [3, 2, 2], data: [0, 1, 2, 3, 5, 5, 5, 5, -1, 0, 0, 1])
        let grid = imageGrid(tiles, columns: 2, scale: 2, border: 1)
        XCTAssertEqual([grid.width, grid.height, grid.channels], [2 * 4 + 3, 2 * 4 + 3, 1])
        XCTAssertEqual(grid.pixels[0], 128, "border")
        XCTAssertEqual(grid.pixels[1 * grid.width + 1], 0, "tile 0 minimum, top-left")
        XCTAssertEqual(grid.pixels[4 * grid.width + 4], 255, "tile 0 maximum, bottom-right")
        XCTAssertEqual(grid.pixels[6 * grid.width + 1], 0, "tile 2 minimum")
        let diverging = imageGrid(tiles, columns: 3, coloring: .diverging)
        XCTAssertEqual(diverging.channels, 3)
        let p = (1 * diverging.width + 7) * 3   // tile 2 (x from 1 + 2·3), top-left: −1 of a common scale 5
        XCTAssertEqual(Array(diverging.pixels[p..<(p + 3)]), [204, 204, 255])
        XCTAssertEqual(try decode(diverging.pngData()), diverging)
    }

    func testFiltersAndFeatureMapsAreWritten() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-vis-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = SimpleCNN(generator: Generator(seed: 0))
        let filters = try Visualize.filters(of: model, to: dir + "/filters.png", scale: 4)
        XCTAssertEqual(try decode(Array(FileManager.default.contents(atPath: dir + "/filters.png")!)), filters)
        XCTAssertEqual(filters.width, 6 * 12 + 7)   // 32 tiles: 6 columns of 3·4 pixels
        let paths = try Visualize.featureMaps(of: model, image: Tensor.uniform([1, 784], generator: Generator(seed: 1)),
                                              prefix: dir + "/maps", scale: 1)
        XCTAssertEqual(paths, [dir + "/maps-layers.0.png", dir + "/maps-layers.3.png"])
        let first = try decode(Array(FileManager.default.contents(atPath: paths[0])!))
        XCTAssertEqual(first.width, 6 * 26 + 7)
        XCTAssertThrowsError(try Visualize.filters(of: Sequential(Linear(2, 2)), to: dir + "/none.png"))
    }
}
