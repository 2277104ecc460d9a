import XCTest
@testable import Myelin
@testable import MyelinShared

/// Issue 9: the memory a load uses is bounded by what the file stores. A row-major int8
/// weight that many qlinear ops reference is packed once (one block shared by every op),
/// while each op keeps its own scales (its multipliers are computed from them at run time).
final class QLinearSharedWeightTests: XCTestCase {
    /// quantize → `ops` qlinear ops (u8 [k] → u8 [k]) → dequantize. Every op reads weight
    /// tensor `shared ? 0 : its own copy` (row-major [k, k], the same bytes) and its own
    /// scales tensor (different per op), so sharing W must not share the multipliers.
    static func chain(ops: Int, k: Int, shared: Bool, badScaleAt: Int? = nil) -> ModelBundle {
        let w = (0..<(k * k)).map { UInt8(bitPattern: Int8(truncatingIfNeeded: ($0 * 37 + $0 / k) % 23 - 11)) }
        var tensors: [ModelBundle.TensorEntry] = [.init(name: "bias", dtype: .i32, shape: [k], data: [UInt8](repeating: 0, count: 4 * k))]
        let weightCount = shared ? 1 : ops
        for i in 0..<weightCount { tensors.append(.init(name: "w\(i)", dtype: .i8, shape: [k, k], data: w)) }
        for i in 0..<ops {
            let scales = (0..<k).map { j -> Float in i == badScaleAt && j == k / 2 ? 0 : 0.004 + 0.0005 * Float((i + j) % 5) }
            tensors.append(.init(name: "s\(i)", floats: scales, shape: [k]))
        }
        var values = [ModelBundle.Value(name: "x", dtype: .f32, shape: [k])]
        for i in 0...ops { values.append(.init(name: "q\(i)", dtype: .u8, shape: [k], scale: 0.05, zeroPoint: 128)) }
        values.append(.init(name: "y", dtype: .f32, shape: [k]))
        var list = [ModelBundle.Op(.quantize, inputs: [0], outputs: [1])]
        for i in 0..<ops {
            list.append(.init(.qlinear, inputs: [1 + i], outputs: [2 + i], tensors: [shared ? 1 : 1 + i, 1 + weightCount + i, 0]))
        }
        list.append(.init(.dequantize, inputs: [1 + ops], outputs: [2 + ops]))
        return ModelBundle(precision: .int8, tensors: tensors, values: values, inputs: [0], outputs: [2 + ops], ops: list)
    }

    /// Loads the bundle written with row-major weights (what the loader packs; the exporter
    /// would store them packed already).
    static func load(_ bundle: ModelBundle, budget: Int = Int.max) throws -> LoadedBundle {
        let bytes = bundle.encode(compressed: true, packWeights: false)
        return try bytes.withUnsafeBytes { raw throws -> LoadedBundle in
            try LoadedBundle.load(raw.baseAddress!, count: raw.count, budget: budget)
        }
    }

    /// One sample through the loaded model (the executor the C runtime runs).
    static func run(_ loaded: LoadedBundle, _ input: [Float]) throws -> [Float] {
        var context = try InferenceContext.create(loaded.model, maxBatch: 1)
        defer { context.release() }
        var output = [Float](repeating: .nan, count: input.count)
        context.run(loaded.model, batch: 1, input: input, output: &output)
        return output
    }

    func testOneWeightManyOpsIsPackedOnceWithEachOpsScales() throws {
        let ops = 64, k = 48
        var shared = try Self.load(Self.chain(ops: ops, k: k, shared: true))
        defer { shared.release() }
        var separate = try Self.load(Self.chain(ops: ops, k: k, shared: false))
        defer { separate.release() }
        // qlinear ops are 1 ... ops (op 0 quantizes): one block for all of them.
        let g = shared.model.graph, s = separate.model.graph
        let block = g.ops![1].prepared
        XCTAssertNotNil(block)
        for o in 2...ops { XCTAssertEqual(g.ops![o].prepared, block, "op \(o)") }
        XCTAssertNotEqual(s.ops![1].prepared, s.ops![2].prepared)
        // Bit-identical to packing per op, to weights stored packed by the exporter, and to
        // the naive integer reference (no packing).
        let x = (0..<k).map { Float(($0 * 13) % 17) * 0.2 - 1.6 }
        let a = try Self.run(shared, x), b = try Self.run(separate, x)
        let stored = BundleExecutor(Self.chain(ops: ops, k: k, shared: true)).run(x, batch: 1)
        let r = try BundleExecutor(validating: Self.chain(ops: ops, k: k, shared: true), reference: true).run([x], batch: 1)[0]
        XCTAssertEqual(a, b)
        XCTAssertEqual(a, stored)
        XCTAssertEqual(a, r)
        // The chain does not collapse to a constant: the per-op scales matter.
        XCTAssertGreaterThan(Set(a).count, k / 4)
        var oneOp = Self.chain(ops: ops, k: k, shared: true)
        oneOp.tensors[1 + ops].data = oneOp.tensors[ops].data   // the last op takes the one before's scales
        var swapped = try Self.load(oneOp)
        defer { swapped.release() }
        XCTAssertNotEqual(try Self.run(swapped, x), a)
    }

    func testPeakMemoryOfManyOpsOnOneWeightIsOnePackedCopy() throws {
        // 256 ops on one 512 × 512 weight (256 KiB): separate packing would need 64 MiB.
        let ops = 256, k = 512
        let bundle = Self.chain(ops: ops, k: k, shared: true)
        let bytes = bundle.encode(compressed: true, packWeights: false)
        XCTAssertLessThan(bytes.count, 1 << 20)
        let table = try bytes.withUnsafeBytes { try BundleSectionTable.parse($0.baseAddress!, count: $0.count) }
        let sections = table.graph.size + table.data.size + table.metadata.size + table.selfTest.size
        let packed = qgemmPackedBytes(n: k, k: k)
        // The budget is checked against everything the load allocates: sections plus one
        // packed copy (64-byte rounded) fit; 2 copies' worth less a byte would not be needed.
        var loaded = try Self.load(bundle, budget: sections + packed + 64)
        loaded.release()
        XCTAssertThrowsError(try Self.load(bundle, budget: sections + packed - 1)) { error in
            XCTAssertEqual(error as? BundleStatus, .limitExceeded)
        }
    }

    func testEverySharingOpChecksItsOwnScales() throws {
        // Op 40's scales hold a 0: refused although op 1 packed the shared weight already.
        XCTAssertThrowsError(try Self.load(Self.chain(ops: 64, k: 16, shared: true, badScaleAt: 40))) { error in
            XCTAssertEqual(error as? BundleStatus, .corrupt)
        }
        var good = try Self.load(Self.chain(ops: 64, k: 16, shared: true))
        good.release()
    }
}
