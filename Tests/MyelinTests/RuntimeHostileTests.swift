import XCTest
@testable import Myelin
@testable import MyelinShared

/// Hostile bundles (issue 9) through the shared loader, which the C runtime runs too: a
/// weight that many ops reference is repacked once, not once per op.
final class RuntimeHostileTests: XCTestCase {
    /// `ops` linear ops in a chain, 8 → 8, each reading f16 weight tensor `shared ? 0 : i`
    /// (f16 weights are widened and packed at load).
    func chain(ops: Int, shared: Bool) -> ModelBundle {
        let weights = (0..<64).map { Float(($0 * 7) % 11 - 5) * 0.02 }
        let bytes = weights.flatMap { f -> [UInt8] in
            let h = floatToHalfBits(f)
            return [UInt8(h & 0xFF), UInt8(h >> 8)]
        }
        let tensors = (0..<(shared ? 1 : ops)).map { ModelBundle.TensorEntry(name: "w\($0)", dtype: .f16, shape: [8, 8], data: bytes) }
        let values = (0...ops).map { ModelBundle.Value(name: "v\($0)", dtype: .f32, shape: [8]) }
        let list = (0..<ops).map { ModelBundle.Op(.linear, inputs: [$0], outputs: [$0 + 1], tensors: [shared ? 0 : $0]) }
        return ModelBundle(precision: .f16, tensors: tensors, values: values, inputs: [0], outputs: [ops], ops: list)
    }

    func load(_ bundle: ModelBundle) throws -> LoadedBundle {
        let bytes = bundle.encode()
        return try bytes.withUnsafeBytes { raw throws -> LoadedBundle in try LoadedBundle.load(raw.baseAddress!, count: raw.count) }
    }

    func run(_ loaded: LoadedBundle, _ input: [Float]) throws -> [Float] {
        var context = try InferenceContext.create(loaded.model, maxBatch: 1)
        defer { context.release() }
        var output = [Float](repeating: .nan, count: 8)
        context.run(loaded.model, batch: 1, input: input, output: &output)
        return output
    }

    func testSharedWeightIsPackedOnce() throws {
        let count = 256
        var shared = try load(chain(ops: count, shared: true))
        defer { shared.release() }
        var separate = try load(chain(ops: count, shared: false))
        defer { separate.release() }
        let g = shared.model.graph
        let first = g.ops![0].prepared
        XCTAssertNotNil(first)
        for o in 1..<g.opCount { XCTAssertEqual(g.ops![o].prepared, first, "op \(o)") }
        let s = separate.model.graph
        XCTAssertNotEqual(s.ops![0].prepared, s.ops![1].prepared)
        // Same results as with one copy per op.
        let input = (0..<8).map { Float($0) * 0.25 - 1 }
        let a = try run(shared, input), b = try run(separate, input)
        XCTAssertEqual(a, b)
        XCTAssertTrue(a.allSatisfy { $0.isFinite })
        // The load's budget counts one packed copy: a cap that fits one fails with 256.
        let bytes = chain(ops: count, shared: true).encode()
        let sectionBytes = 64 << 10
        XCTAssertNoThrow(try bytes.withUnsafeBytes { raw in
            var b = try LoadedBundle.load(raw.baseAddress!, count: raw.count, budget: sectionBytes)
            b.release()
        })
        let separateBytes = chain(ops: count, shared: false).encode()
        XCTAssertThrowsError(try separateBytes.withUnsafeBytes { raw in
            var b = try LoadedBundle.load(raw.baseAddress!, count: raw.count, budget: sectionBytes + 8 * 1024)
            b.release()
        })
    }
}
