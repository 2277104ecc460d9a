import XCTest
@testable import Myelin
@testable import MyelinShared

/// Issue 9 (memory bounded by what the file stores): a row-major f16 linear weight is
/// packed and widened in place at load, without a temporary f32 copy of the weight; the
/// results equal those of the same weight stored packed by the exporter, bit for bit.
final class F16WideningTests: XCTestCase {
    func testRowMajorF16WeightWidenedInPlaceMatchesPackedStorage() throws {
        // Shapes around the packing's tile (32 columns) and block depth edges.
        for (n, k) in [(1, 1), (5, 7), (33, 17), (64, 300), (70, 513)] {
            let weights = (0..<(n * k)).map { Float(($0 * 7919) % 2001 - 1000) * 0.001 }
            let half = weights.flatMap { f -> [UInt8] in
                let h = floatToHalfBits(f)
                return [UInt8(h & 0xFF), UInt8(h >> 8)]
            }
            let bundle = ModelBundle(precision: .f16, tensors: [.init(name: "w", dtype: .f16, shape: [n, k], data: half)],
                                     values: [.init(name: "x", dtype: .f32, shape: [k]), .init(name: "y", dtype: .f32, shape: [n])],
                                     inputs: [0], outputs: [1], ops: [.init(.linear, inputs: [0], outputs: [1], tensors: [0])])
            let x = (0..<(3 * k)).map { Float(($0 * 31) % 17) * 0.125 - 1 }
            func run(_ bytes: [UInt8]) throws -> [Float] {
                var loaded = try bytes.withUnsafeBytes { try LoadedBundle.load($0.baseAddress!, count: $0.count) }
                defer { loaded.release() }
                var context = try InferenceContext.create(loaded.model, maxBatch: 3)
                defer { context.release() }
                var y = [Float](repeating: .nan, count: 3 * n)
                context.run(loaded.model, batch: 3, input: x, output: &y)
                return y
            }
            let rowMajor = try run(bundle.encode(compressed: true, packWeights: false))
            let packed = try run(bundle.encode())
            XCTAssertEqual(rowMajor, packed, "n \(n) k \(k)")
            // And the naive product with the widened weights (the packing kept every element in place).
            let widened = half.withUnsafeBytes { $0.bindMemory(to: UInt16.self).map(halfBitsToFloat) }
            for s in 0..<3 {
                for j in 0..<n {
                    let dot = (0..<k).reduce(Float(0)) { $0 + widened[j * k + $1] * x[s * k + $1] }
                    XCTAssertEqual(rowMajor[s * n + j], dot, accuracy: 1e-4 * Float(k), "n \(n) k \(k) [\(s), \(j)]")
                }
            }
        }
    }
}
