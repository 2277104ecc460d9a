import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// The bundles under Fixtures/bundles, used by the C tests (Tests/RuntimeC) and the
/// runtime tests: a tiny model exported in every precision, inputs with the Swift
/// reference outputs, and damaged files with the status a reader must return.
///
/// `MYELIN_UPDATE_FIXTURES=1 swift test --filter BundleFixtureTests` rewrites them; without
/// it the test checks that the committed files still match what the exporter produces.
final class BundleFixtureTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/bundles").path
    static let labels = ["alpha", "beta", "gamma", "delta"]

    /// 6 → 16 (BatchNorm, ReLU, Dropout) → 12 (Tanh) → 4: every folding rule, u8 and f32
    /// qlinear outputs, an f32 op between quantized layers, signed inputs (zero point ≠ 0).
    static func tinyModel() -> Sequential {
        let g = Generator(seed: 7)
        let bn = BatchNorm1d(16)
        for j in 0..<16 {
            bn.runningMean.data[j] = Float(j % 5) * 0.1 - 0.2
            bn.runningVar.data[j] = 0.5 + Float(j % 3) * 0.4
            bn.weight!.data[j] = 1 + Float(j % 4) * 0.1
            bn.bias!.data[j] = Float(j % 7) * 0.05 - 0.1
        }
        let model = Sequential(Linear(6, 16, generator: g), bn, ReLU(), Dropout(0.25), Linear(16, 12, generator: g), Tanh(),
                               Linear(12, 4, generator: g))
        model.eval()
        return model
    }

    static func tinyInputs(_ n: Int, seed: UInt64) -> Tensor {
        Tensor.uniform([n, 6], low: -1.5, high: 1.5, generator: Generator(seed: seed))
    }

    static func tinyBundle(_ precision: BundlePrecision) throws -> ModelBundle {
        var options = BundleExporter.Options(precision: precision, calibration: tinyInputs(64, seed: 11), classLabels: labels,
                                             dataset: "synthetic fixture", testAccuracy: 0.5)
        options.selfTestCount = 3
        return try BundleExporter.export(tinyModel(), options: options)
    }

    /// 13 samples: not a multiple of the 6-row tile, so edge paths run.
    static let sampleCount = 13

    /// Damaged files and the status every reader must give (docs/bundle-format.md).
    static func malformed() throws -> [(name: String, bytes: [UInt8], status: BundleStatus)] {
        let f32 = try tinyBundle(.f32), int8 = try tinyBundle(.int8)
        var cases: [(String, [UInt8], BundleStatus)] = []
        func add(_ name: String, _ bundle: ModelBundle, _ status: BundleStatus) { cases.append((name, bundle.encode(), status)) }
        let (graph, data) = f32.encodeGraphAndData()
        let meta = f32.encodeMetadata(), test = f32.encodeSelfTest(f32.selfTest!)
        func file(_ sections: [BundleFile.Section]) -> [UInt8] { BundleFile.assemble(sections) }
        let g = BundleFile.Section(kind: BundleSectionKind.graph, payload: graph)
        let d = BundleFile.Section(kind: BundleSectionKind.data, payload: data, encoding: BundleLayout.encodingDeflateShuffled)

        var b = f32; b.values[1].shape = [BundleLimits.maxDimension + 1]
        add("absurd-dimension.myelin", b, .limitExceeded)
        b = f32; b.tensors[0].shape = [1 << 24, 1 << 24]
        add("absurd-elements.myelin", b, .limitExceeded)
        b = f32; b.tensors[0].shape = [6, 16]
        add("shape-mismatch.myelin", b, .shapeMismatch)
        b = f32; b.ops[0].opcode = 99
        add("unknown-op.myelin", b, .unsupported)
        b = f32; b.tensors[1].dtype = 9
        add("unknown-dtype.myelin", b, .unsupported)
        b = f32; b.ops[0].attributes = [(key: 77, value: .int(1))]
        add("unknown-attribute.myelin", b, .unsupported)
        b = f32; b.ops.swapAt(0, 1)
        add("undefined-value.myelin", b, .corrupt)
        b = f32; b.metadata.append((key: "dataset", value: "again"))
        add("duplicate-key.myelin", b, .corrupt)
        b = f32; b.metadata = [(key: "class_labels", value: "one\ntwo\nthree")]
        add("label-count.myelin", b, .shapeMismatch)
        b = int8
        let scales = b.ops.first { $0.code == .qlinear }!.tensors[1]
        b.tensors[scales].data.replaceSubrange(0..<4, with: withUnsafeBytes(of: Float.nan.bitPattern) { Array($0) })
        add("nan-weight-scale.myelin", b, .corrupt)

        // A zlib bomb: DATA inflates to 16 MiB of zeros but declares its real (small) size.
        let bomb = deflateRaw([UInt8](repeating: 0, count: 16 << 20))
        cases.append(("zlib-bomb.myelin", file([g, .init(kind: BundleSectionKind.data, encoding: BundleLayout.encodingDeflate, stored: bomb, size: data.count)]), .corrupt))
        // Small files claiming huge decoded sizes: beyond the cap, and beyond deflate's ratio.
        cases.append(("claims-gigabytes.myelin", file([g, .init(kind: BundleSectionKind.data, encoding: BundleLayout.encodingDeflate, stored: d.stored, size: 4 << 30)]), .limitExceeded))
        cases.append(("impossible-ratio.myelin", file([g, .init(kind: BundleSectionKind.data, encoding: BundleLayout.encodingDeflate, stored: d.stored, size: d.stored.count * 2000)]), .corrupt))
        var counts = BundleBytes(); counts.u32(1); counts.u32(0xFFFF_FFFF)
        cases.append(("absurd-count.myelin", file([.init(kind: BundleSectionKind.graph, payload: counts.bytes), d]), .limitExceeded))
        cases.append(("missing-data.myelin", file([g]), .corrupt))
        cases.append(("duplicate-section.myelin", file([g, d, g]), .corrupt))
        cases.append(("tensor-out-of-range.myelin", file([g, .init(kind: BundleSectionKind.data, payload: Array(data.dropLast(64)))]), .corrupt))
        cases.append(("shuffled-odd-size.myelin", file([g, .init(kind: BundleSectionKind.data, encoding: BundleLayout.encodingDeflateShuffled,
                                                                  stored: deflateRaw(data + [0]), size: data.count + 1)]), .corrupt))
        cases.append(("unknown-encoding.myelin", file([g, .init(kind: BundleSectionKind.data, encoding: 3, stored: data, size: data.count)]), .unsupported))
        cases.append(("trailing-graph-bytes.myelin", file([.init(kind: BundleSectionKind.graph, payload: graph + [0]), d]), .corrupt))
        var badTest = test
        badTest.replaceSubrange(12..<16, with: [5, 0, 0, 0])      // input_size 5, the model takes 6
        cases.append(("selftest-size.myelin", file([g, d, .init(kind: BundleSectionKind.metadata, payload: meta),
                                                    .init(kind: BundleSectionKind.selfTest, payload: badTest)]), .shapeMismatch))
        // Each op's rules (GraphRuntimeTests): attributes, operand counts, dtypes, shapes.
        for m in GraphRuntimeTests.malformedOps() { cases.append(("op-\(m.name).myelin", m.bundle.encode(), m.status)) }
        // A format-1 bundle (as the previous exporter wrote it): re-export from the checkpoint.
        let v1 = FileManager.default.contents(atPath: directory + "/v1/tiny-f32.myelin").map { [UInt8]($0) } ?? []
        cases.append(("format-1.myelin", v1, .unsupportedVersion))
        // Unknown section kinds are skipped; stored (uncompressed) sections are read.
        cases.append(("unknown-section.myelin", file([g, d, .init(kind: 0x5A5A_5A5A, payload: [1, 2, 3])]), .ok))
        cases.append(("stored-sections.myelin", f32.encode(compressed: false), .ok))
        return cases.map { (name: $0.0, bytes: $0.1, status: $0.2) }
    }

    /// Everything the fixture folder holds: file name → bytes.
    static func fixtureFiles() throws -> [(String, [UInt8])] {
        var files: [(String, [UInt8])] = []
        let inputs = tinyInputs(sampleCount, seed: 23).data
        files.append(("tiny-inputs.f32", inputs.withUnsafeBytes { Array($0) }))
        for p in [BundlePrecision.f32, .f16, .int8] {
            let bundle = try tinyBundle(p)
            files.append(("tiny-\(p.name).myelin", bundle.encode()))
            let expected = BundleExecutor(bundle).run(inputs, batch: sampleCount)
            files.append(("tiny-\(p.name).expected", expected.withUnsafeBytes { Array($0) }))
        }
        // The DAG of GraphRuntimeTests (two inputs, two outputs) for the C API's multi-input calls:
        // inputs a then b for 3 samples; expected features then probs.
        var dag = GraphRuntimeTests.dagBundle()
        let a = GraphRuntimeTests.random(3 * 6, seed: 51), b = GraphRuntimeTests.random(3 * 6, seed: 52)
        let y = BundleExecutor(dag).run([a, b], batch: 3)
        dag.selfTest = .init(inputs: [a, b], expected: y, count: 3, rtol: 1e-6, atol: 1e-6)
        dag.metadata = [("input.preprocessing", "a: any floats, row-major [2, 3]; b: any floats, row-major [3, 2]")]
        files.append(("dag.myelin", dag.encode()))
        files.append(("dag-inputs.f32", (a + b).withUnsafeBytes { Array($0) }))
        files.append(("dag.expected", (y[0] + y[1]).withUnsafeBytes { Array($0) }))
        let bad = try malformed()
        for m in bad { files.append(("malformed/\(m.name)", m.bytes)) }
        files.append(("malformed/expected.txt", Array(bad.map { "\($0.name) \($0.status.rawValue)\n" }.joined().utf8)))
        return files
    }

    func testFixturesAreCurrent() throws {
        let files = try Self.fixtureFiles()
        if ProcessInfo.processInfo.environment["MYELIN_UPDATE_FIXTURES"] == "1" {
            try FileManager.default.createDirectory(atPath: Self.directory + "/malformed", withIntermediateDirectories: true)
            for (name, bytes) in files { try Data(bytes).write(to: URL(fileURLWithPath: "\(Self.directory)/\(name)")) }
            return
        }
        for (name, bytes) in files {
            let path = "\(Self.directory)/\(name)"
            guard let committed = FileManager.default.contents(atPath: path) else {
                XCTFail("missing fixture \(path): run MYELIN_UPDATE_FIXTURES=1 swift test --filter BundleFixtureTests")
                continue
            }
            if name.hasSuffix(".myelin"), let fresh = try? ModelBundle(decoding: bytes) {
                // Compare decoded contents: compressed bytes may differ between zlib versions.
                let old = try ModelBundle(decoding: [UInt8](committed))
                XCTAssertEqual(old.encode(compressed: false), fresh.encode(compressed: false), "\(name) is stale")
            } else if !name.hasSuffix(".myelin") || name.hasPrefix("tiny") || name.hasPrefix("dag") {
                XCTAssertEqual([UInt8](committed), bytes, "\(name) is stale")
            }
        }
    }

    /// The Swift reader gives every damaged file the status the runtime must give.
    func testSwiftReaderStatusesForMalformedFiles() throws {
        for m in try Self.malformed() {
            do {
                _ = try ModelBundle(decoding: m.bytes)
                XCTAssertEqual(m.status, .ok, "\(m.name) was accepted")
            } catch let e as BundleError {
                XCTAssertEqual(e.status, m.status, "\(m.name): \(e)")
            }
        }
    }

    /// Duplicate metadata keys are found wherever they sit among many (the reader sorts the
    /// keys and compares neighbours): 300 distinct keys load; the same keys with any one of
    /// them repeated — first, last, or anywhere between, with keys of equal length and shared
    /// prefixes around it — are refused as corrupt.
    func testDuplicateMetadataKeysAmongManyAreFound() throws {
        let base = try Self.tinyBundle(.f32)
        var generator = SystemRandomNumberGenerator()
        // Keys of a few lengths sharing prefixes, in a shuffled order.
        var keys = (0..<300).map { "k\($0 % 7)-" + String(repeating: "x", count: $0 % 5) + "\($0)" }
        keys.shuffle(using: &generator)
        var distinct = base
        distinct.metadata += keys.map { (key: $0, value: "v") }
        XCTAssertNoThrow(try ModelBundle(decoding: distinct.encode()))
        for repeated in [0, keys.count - 1, 1, 150, Int.random(in: 0..<keys.count, using: &generator)] {
            for position in [0, keys.count / 2, keys.count] {
                var b = base
                var withDuplicate = keys
                withDuplicate.insert(keys[repeated], at: position)
                b.metadata += withDuplicate.map { (key: $0, value: "w") }
                XCTAssertThrowsError(try ModelBundle(decoding: b.encode()), "key \(keys[repeated]) repeated at \(position)") { error in
                    XCTAssertEqual((error as? BundleError)?.status, .corrupt)
                }
            }
        }
    }
}
