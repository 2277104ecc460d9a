import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// The bundle container (docs/bundle-format.md): encoding round trips, the section
/// encodings, half-precision conversion, and the Swift reader's checks.
final class BundleFormatTests: XCTestCase {
    func testRoundTripKeepsEverything() throws {
        for p in [BundlePrecision.f32, .f16, .int8] {
            let bundle = try BundleFixtureTests.tinyBundle(p)
            for compressed in [true, false] {
                let decoded = try ModelBundle(decoding: bundle.encode(compressed: compressed))
                XCTAssertEqual(decoded.encode(compressed: false), bundle.encode(compressed: false), "\(p) compressed \(compressed)")
                XCTAssertEqual(decoded.precision, p)
                XCTAssertEqual(decoded.metadata.map(\.key), bundle.metadata.map(\.key))
                XCTAssertEqual(decoded.classLabels, BundleFixtureTests.labels)
                XCTAssertEqual(decoded.selfTest?.expected, bundle.selfTest?.expected)
                XCTAssertEqual(decoded.tensors.map(\.data), bundle.tensors.map(\.data))
            }
        }
    }

    func testHeaderLayoutIsLittleEndianAsDocumented() throws {
        let bytes = try BundleFixtureTests.tinyBundle(.f32).encode()
        XCTAssertEqual(Array(bytes[0..<8]), [0x89, 0x4D, 0x59, 0x45, 0x4C, 0x49, 0x4E, 0x0A])
        func u32(_ at: Int) -> UInt32 { bytes[at..<(at + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        func u64(_ at: Int) -> UInt64 { bytes[at..<(at + 8)].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        XCTAssertEqual(bytes[8], 2); XCTAssertEqual(bytes[9], 0)        // major 2
        XCTAssertEqual(u64(16), UInt64(bytes.count))                  // file_size
        let sections = Int(u32(24))
        XCTAssertEqual(sections, 4)
        XCTAssertEqual(u32(28), bytes.withUnsafeBytes { raw in
            bundleCRC32(raw.baseAddress! + 32, 40 * sections, bundleCRC32(raw.baseAddress!, 28, 0))
        })
        let kinds = (0..<sections).map { String(decoding: bytes[(32 + 40 * $0)..<(36 + 40 * $0)], as: UTF8.self) }
        XCTAssertEqual(kinds, ["GRPH", "DATA", "META", "TEST"])
        // DATA: byte planes when that saves a quarter, else plain deflate (load time).
        XCTAssertEqual(u32(32 + 40 + 4), ModelBundle.dataSection(try BundleFixtureTests.tinyBundle(.f32).encodeGraphAndData().data).encoding)
        XCTAssertEqual(u32(32 + 4), BundleLayout.encodingDeflate)                // GRPH
    }

    func testTensorDataIsAlignedAfterDecoding() throws {
        let bundle = try BundleFixtureTests.tinyBundle(.int8)
        let (graph, data) = bundle.encodeGraphAndData()
        XCTAssertEqual(data.count % BundleLayout.tensorAlignment, 0)
        // Offsets as written in GRPH: every one a multiple of 64.
        try graph.withUnsafeBytes { raw in
            var c = BundleCursor(raw.baseAddress!, count: raw.count)
            _ = try c.u32()
            for _ in 0..<Int(try c.u32()) {
                _ = try c.string(); _ = try c.u32(); _ = try c.u32(); _ = try c.shape()
                XCTAssertEqual(try c.u64() % 64, 0)
                _ = try c.u64()
            }
        }
    }

    func testDeflateAdaptiveStoresWhatBarelyCompresses() throws {
        let g = Generator(seed: 3)
        let noise = (0..<100_000).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        let zeros = [UInt8](repeating: 0, count: 100_000)
        let stored = deflateAdaptive(noise), packed = deflateAdaptive(zeros)
        XCTAssertLessThan(stored.count, noise.count + 100)      // stored blocks: 5 bytes each
        XCTAssertGreaterThanOrEqual(stored.count, noise.count)
        // Zeros compress about 1000:1, but only as far as the readers' inflate cap allows:
        // the rest of the chunks are stored blocks.
        let cap = { (n: Int) in (n - BundleLimits.inflateAllowance) / BundleLimits.maxInflateRatio }
        XCTAssertGreaterThanOrEqual(packed.count, cap(zeros.count))
        XCTAssertLessThan(packed.count, zeros.count / 4)
        let manyZeros = [UInt8](repeating: 0, count: 4 << 20)
        let both = [deflateAdaptive(manyZeros), deflateAdaptive(manyZeros, countCompressedAsFree: true), deflateWithinInflateCap(manyZeros)]
        for stream in both {
            XCTAssertGreaterThanOrEqual(stream.count, cap(manyZeros.count))
            XCTAssertLessThan(stream.count, manyZeros.count / 8)
        }
        for (original, stream) in [(noise, stored), (zeros, packed), (noise + zeros, deflateAdaptive(noise + zeros))]
            + both.map({ (manyZeros, $0) }) {
            let section = BundleFile.Section(kind: BundleSectionKind.data, encoding: BundleLayout.encodingDeflate, stored: stream, size: original.count)
            let file = BundleFile.assemble([section])
            var out = [UInt8](repeating: 1, count: original.count)
            try file.withUnsafeBytes { raw in
                try out.withUnsafeMutableBytes { o in
                    var s = BundleSection()
                    s.encoding = BundleLayout.encodingDeflate
                    s.offset = 72; s.storedSize = stream.count; s.size = original.count
                    try s.decode(file: raw.baseAddress!, into: o.baseAddress!, scratch: nil)
                }
            }
            XCTAssertEqual(out, original)
        }
    }

    func testByteShuffleIsAnInvolutionPair() {
        let bytes = (0..<64).map { UInt8($0) }
        var planes = [UInt8](repeating: 0, count: 64), back = planes
        bytes.withUnsafeBytes { s in planes.withUnsafeMutableBytes { byteShuffle(s.baseAddress!, into: $0.baseAddress!, count: 64) } }
        XCTAssertEqual(Array(planes[0..<4]), [0, 4, 8, 12])
        XCTAssertEqual(Array(planes[16..<18]), [1, 5])
        planes.withUnsafeBytes { s in back.withUnsafeMutableBytes { byteUnshuffle(s.baseAddress!, into: $0.baseAddress!, count: 64) } }
        XCTAssertEqual(back, bytes)
    }

    /// The bit-level f16 conversion agrees with the hardware's Float16 on every half value
    /// and on floats around every rounding boundary.
    func testHalfConversionMatchesFloat16() {
        for bits in 0...UInt16.max {
            let f = halfBitsToFloat(bits), h = Float16(bitPattern: bits)
            if h.isNaN { XCTAssertTrue(f.isNaN); continue }
            XCTAssertEqual(f, Float(h), "half \(bits)")
        }
        let g = Generator(seed: 5)
        var values: [Float] = [0, -0, 1, -1, 65504, 65505, 65519.99, 65520, 1e-8, 6e-8, 3e-8, 2.98e-8, .infinity, -.infinity, .nan,
                               Float(bitPattern: 0x3380_0000), Float(bitPattern: 0x3380_0001), Float(bitPattern: 0x387F_E000)]
        for _ in 0..<200_000 {
            values.append(Float(bitPattern: UInt32(truncatingIfNeeded: g.next())))
        }
        for v in values {
            let mine = floatToHalfBits(v), hardware = Float16(v).bitPattern
            if v.isNaN { XCTAssertTrue(Float16(bitPattern: mine).isNaN); continue }
            XCTAssertEqual(mine, hardware, "float \(v) (\(String(v.bitPattern, radix: 16)))")
        }
    }

    func testCursorRefusesOverrunsAndLimits() throws {
        var b = BundleBytes()
        b.u32(3); b.u32(UInt32(BundleLimits.maxDimension + 1))
        try b.bytes.withUnsafeBytes { raw in
            var c = BundleCursor(raw.baseAddress!, count: raw.count)
            XCTAssertThrowsError(try c.shape()) { XCTAssertEqual($0 as? BundleStatus, .limitExceeded) }
            c = BundleCursor(raw.baseAddress!, count: 6)
            _ = try c.u32()
            XCTAssertThrowsError(try c.u32()) { XCTAssertEqual($0 as? BundleStatus, .corrupt) }
        }
        var s = BundleBytes(); s.string("a\u{0}b")
        try s.bytes.withUnsafeBytes { raw in
            var c = BundleCursor(raw.baseAddress!, count: raw.count)
            XCTAssertThrowsError(try c.string()) { XCTAssertEqual($0 as? BundleStatus, .corrupt) }
        }
    }

    func testEveryTruncationAndFlipIsRefusedBySwiftReader() throws {
        let good = try BundleFixtureTests.tinyBundle(.int8).encode()
        for n in 0..<good.count {
            XCTAssertThrowsError(try ModelBundle(decoding: Array(good[0..<n]))) {
                XCTAssertEqual(($0 as? BundleError)?.status, n < 8 ? .notABundle : .corrupt, "truncated to \(n)")
            }
        }
        for i in 0..<good.count {
            var bad = good
            bad[i] ^= 0xFF
            XCTAssertThrowsError(try ModelBundle(decoding: bad), "byte \(i)") { error in
                let status = (error as? BundleError)?.status
                if i < 8 { XCTAssertEqual(status, .notABundle) }
                else if i < 10 { XCTAssertEqual(status, .unsupportedVersion) }
                else if i >= 32 { XCTAssertEqual(status, .checksum, "byte \(i)") }
            }
        }
    }
}
