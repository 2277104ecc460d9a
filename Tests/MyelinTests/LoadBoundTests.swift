import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// Issue 9's goal for hostile files: no input under 1 MB makes a load allocate more than
/// 64 MiB + 2 × its sections' declared decoded size. Crafted bundles of the shapes the issue
/// found (one big deflated weight read by many ops, linear and qlinear; many long metadata
/// entries; a graph of long names), each under 1 MB, must load with a budget of exactly
/// that bound (the loader checks the budget before every allocation it counts).
///
/// `MYELIN_FUZZ_HOSTILE_DIR=DIR swift test --filter LoadBoundTests` also writes them to DIR,
/// for `bundle_sweep bound DIR` (time, and the heap peak measured by interposing malloc).
final class LoadBoundTests: XCTestCase {
    typealias Op = ModelBundle.Op

    static func hostile() -> [(name: String, bytes: [UInt8])] {
        var out: [(String, [UInt8])] = []
        // 16 linear ops on one row-major f32 weight [2048, 2048] (16 MiB, deflates to ~16 KiB).
        let n = 2048
        var values = (0...16).map { ModelBundle.Value(name: "v\($0)", dtype: .f32, shape: [n]) }
        var b = ModelBundle(precision: .f32, tensors: [.init(name: "w", dtype: .f32, shape: [n, n], data: [UInt8](repeating: 0, count: 4 * n * n))],
                            values: values, inputs: [0], outputs: [16],
                            ops: (0..<16).map { Op(.linear, inputs: [$0], outputs: [$0 + 1], tensors: [0]) })
        out.append(("linear-16-ops-one-weight.myelin", b.encode(compressed: true, packWeights: false)))
        // The same weight in f16 (widened to f32 at load: 2 × its stored bytes, once).
        b.tensors[0] = .init(name: "w", dtype: .f16, shape: [n, n], data: [UInt8](repeating: 0, count: 2 * n * n))
        b.precision = .f16
        out.append(("linear-f16-16-ops-one-weight.myelin", b.encode(compressed: true, packWeights: false)))
        // 256 qlinear ops on one row-major int8 weight [2048, 2048].
        out.append(("qlinear-256-ops-one-weight.myelin",
                    QLinearSharedWeightTests.chain(ops: 256, k: 2048, shared: true).encode(compressed: true, packWeights: false)))
        // 1024 metadata entries, keys of 4000 bytes sharing all but their last 4, values of 4000 bytes.
        values = [.init(name: "x", dtype: .f32, shape: [4]), .init(name: "y", dtype: .f32, shape: [4])]
        b = ModelBundle(precision: .f32, tensors: [], values: values, inputs: [0], outputs: [1], ops: [Op(.relu, inputs: [0], outputs: [1])])
        let prefix = String(repeating: "k", count: 3996), value = String(repeating: "v", count: 4000)
        b.metadata = (0..<1024).map { (key: prefix + String(format: "%04d", $0), value: value) }
        out.append(("metadata-1024-long-entries.myelin", b.encode()))
        // A chain of 1000 relus whose values have names of 16 KiB (a 16 MiB graph section).
        values = (0...1000).map { ModelBundle.Value(name: String(repeating: "n", count: 16380) + String(format: "%04d", $0), dtype: .f32, shape: [4]) }
        b = ModelBundle(precision: .f32, tensors: [], values: values, inputs: [0], outputs: [1000],
                        ops: (0..<1000).map { Op(.relu, inputs: [$0], outputs: [$0 + 1]) })
        out.append(("graph-1000-long-names.myelin", b.encode()))
        // The largest claim a sub-1 MB file can back: one 512 MiB weight (section cap), stored
        // packed. Slow and memory-hungry (about 1 GiB at its peak), so only on request.
        if ProcessInfo.processInfo.environment["MYELIN_FUZZ_HOSTILE_LARGE"] == "1" {
            let rows = 8192, cols = 16384
            values = [.init(name: "x", dtype: .f32, shape: [cols]), .init(name: "y", dtype: .f32, shape: [rows])]
            b = ModelBundle(precision: .f32, tensors: [.init(name: "w", dtype: .f32, shape: [rows, cols], data: [UInt8](repeating: 0, count: 4 * rows * cols))],
                            values: values, inputs: [0], outputs: [1], ops: [Op(.linear, inputs: [0], outputs: [1], tensors: [0])])
            out.append(("linear-512mib-weight.myelin", b.encode()))
        }
        return out
    }

    func testHostileBundlesUnder1MBLoadWithinTheMemoryBound() throws {
        let directory = ProcessInfo.processInfo.environment["MYELIN_FUZZ_HOSTILE_DIR"]
        if let d = directory { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        for (name, bytes) in Self.hostile() {
            if let d = directory { try Data(bytes).write(to: URL(fileURLWithPath: "\(d)/\(name)")) }
            XCTAssertLessThan(bytes.count, 1 << 20, name)
            let table = try bytes.withUnsafeBytes { try BundleSectionTable.parse($0.baseAddress!, count: $0.count) }
            let declared = [table.graph, table.data, table.metadata, table.selfTest].reduce(0) { $0 + ($1.present ? $1.size : 0) }
            XCTAssertGreaterThan(declared, 4 << 20, "\(name) declares little: not a hostile case")
            let bound = (64 << 20) + 2 * declared
            do {
                var loaded = try bytes.withUnsafeBytes { try LoadedBundle.load($0.baseAddress!, count: $0.count, budget: bound) }
                loaded.release()
            } catch {
                XCTFail("\(name): \(error) with a budget of 64 MiB + 2 × \(declared) declared bytes")
            }
        }
    }
}
