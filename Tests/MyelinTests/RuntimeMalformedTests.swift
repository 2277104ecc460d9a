import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// Damaged bundles through the C runtime: each gets the documented status, the same one the
/// Swift reader gives (the two readers implement one specification), and none crashes.
final class RuntimeMalformedTests: XCTestCase {
    func swiftStatus(_ bytes: [UInt8]) -> Int32 {
        do {
            _ = try ModelBundle(decoding: bytes)
            return BundleStatus.ok.rawValue
        } catch {
            return (error as? BundleError)?.status.rawValue ?? -1
        }
    }

    func testCraftedFilesGetTheirStatus() throws {
        let library = try requireRuntime()
        let cases = try BundleFixtureTests.malformed()
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        for m in cases {
            XCTAssertEqual(library.loadStatus(m.bytes), m.status.rawValue, m.name)
            XCTAssertEqual(swiftStatus(m.bytes), m.status.rawValue, m.name)
        }
    }

    /// Every truncation and every single-byte corruption of a small bundle: both readers
    /// agree, and the status follows the documented order of checks.
    func testReadersAgreeOnEveryTruncationAndFlip() throws {
        let library = try requireRuntime()
        for p in [BundlePrecision.f32, .int8] {
            let good = try BundleFixtureTests.tinyBundle(p).encode()
            XCTAssertEqual(library.loadStatus(good), 0)
            for n in 0..<good.count {
                let cut = Array(good[0..<n])
                let status = library.loadStatus(cut)
                XCTAssertEqual(status, (n < 8 ? BundleStatus.notABundle : .corrupt).rawValue, "\(p) truncated to \(n)")
                XCTAssertEqual(status, swiftStatus(cut), "\(p) truncated to \(n)")
            }
            for i in 0..<good.count {
                for mask: UInt8 in [0x01, 0x80, 0xFF] {
                    var bad = good
                    bad[i] ^= mask
                    let status = library.loadStatus(bad)
                    XCTAssertNotEqual(status, 0, "\(p) byte \(i) ^ \(mask) accepted")
                    XCTAssertEqual(status, swiftStatus(bad), "\(p) byte \(i) ^ \(mask)")
                    if i >= 32 { XCTAssertEqual(status, BundleStatus.checksum.rawValue, "\(p) byte \(i) in a section") }
                }
            }
        }
    }

    /// Damage inside sections whose CRC is then repaired: the structural checks behind the
    /// CRC must hold on their own (no crash, same status from both readers).
    func testReadersAgreeBehindRepairedChecksums() throws {
        try fuzzBehindRepairedChecksums(try BundleFixtureTests.tinyBundle(.int8))
    }

    /// The same on the two-input, two-output DAG (list attributes, every movement op); every
    /// damaged bundle the runtime accepts must also run.
    func testReadersAgreeOnDamagedGraphs() throws {
        var dag = GraphRuntimeTests.dagBundle()
        let a = GraphRuntimeTests.random(12, seed: 1), b = GraphRuntimeTests.random(12, seed: 2)
        dag.selfTest = .init(inputs: [a, b], expected: BundleExecutor(dag).run([a, b], batch: 2), count: 2, rtol: 0, atol: 1e-6)
        dag.metadata = [("dataset", "none")]
        try fuzzBehindRepairedChecksums(dag)
    }

    func fuzzBehindRepairedChecksums(_ bundle: ModelBundle) throws {
        let library = try requireRuntime()
        let (graph, data) = bundle.encodeGraphAndData()
        let meta = bundle.encodeMetadata(), test = bundle.encodeSelfTest(bundle.selfTest!)
        let g = Generator(seed: 77)
        var accepted = 0
        for round in 0..<3000 {
            var payloads = [graph, data, meta, test]
            let which = round % 4
            let flips = 1 + Int(g.next() % 3)
            for _ in 0..<flips where !payloads[which].isEmpty {
                let at = Int(g.next() % UInt64(payloads[which].count))
                payloads[which][at] ^= UInt8(truncatingIfNeeded: 1 + g.next() % 255)
            }
            let kinds = [BundleSectionKind.graph, BundleSectionKind.data, BundleSectionKind.metadata, BundleSectionKind.selfTest]
            let file = BundleFile.assemble(zip(kinds, payloads).map { .init(kind: $0.0, payload: $0.1, encoding: BundleLayout.encodingStored) })
            let status = library.loadStatus(file)
            XCTAssertEqual(status, swiftStatus(file), "round \(round), section \(which)")
            if status == 0 {
                accepted += 1
                // It must run: zero inputs of every graph input, room for every output.
                let decoded = try ModelBundle(decoding: file)
                let runtime = try RuntimeLibrary.Model(library, bytes: file, maxBatch: 2, outputSize: 0)
                let sizes = decoded.outputs.map { decoded.values[$0].count }
                let run = runtime.runMulti(decoded.inputs.map { [Float](repeating: 0, count: 2 * decoded.values[$0].count) }, batch: 2, outputSizes: sizes)
                XCTAssertEqual(run.status, 0, "round \(round)")
            }
        }
        // Flipped weights or self-test values are legal files; flipped structure is not.
        XCTAssertGreaterThan(accepted, 0)
        XCTAssertLessThan(accepted, 3000)
    }
}
