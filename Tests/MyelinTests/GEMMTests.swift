import XCTest
@testable import Myelin
@testable import MyelinShared

/// The fast GEMM kernel against the naive reference, over sizes that hit full and partial
/// register tiles and cache blocks, every transpose combination, and accumulation.
final class GEMMTests: XCTestCase {
    func check(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, accumulate: Bool, seed: UInt64) {
        let g = Generator(seed: seed)
        let a = (0..<(m * k)).map { _ in g.nextUniform() - 0.5 }
        let b = (0..<(k * n)).map { _ in g.nextUniform() - 0.5 }
        let c0 = (0..<(m * n)).map { _ in g.nextUniform() - 0.5 }
        // A stored k×m when transposed (A(i,p) = a[p*m + i]); B stored n×k when transposed.
        let (ars, acs) = transA ? (1, m) : (k, 1)
        let (brs, bcs) = transB ? (1, k) : (n, 1)
        var expected = c0, actual = c0
        let workspace = UnsafeMutablePointer<Float>.allocate(capacity: gemmWorkspaceCount)
        defer { workspace.deallocate() }
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                expected.withUnsafeMutableBufferPointer { cp in
                    gemmReference(m: m, n: n, k: k, a: ap.baseAddress!, aRowStride: ars, aColStride: acs,
                                  b: bp.baseAddress!, bRowStride: brs, bColStride: bcs, c: cp.baseAddress!, ldc: n, accumulate: accumulate)
                }
                actual.withUnsafeMutableBufferPointer { cp in
                    gemm(m: m, n: n, k: k, a: ap.baseAddress!, aRowStride: ars, aColStride: acs,
                         b: bp.baseAddress!, bRowStride: brs, bColStride: bcs, c: cp.baseAddress!, ldc: n,
                         accumulate: accumulate, workspace: workspace)
                }
            }
        }
        let tol = 1e-5 * Float(k).squareRoot() + 1e-6
        for i in 0..<(m * n) where Swift.abs(actual[i] - expected[i]) > tol {
            XCTFail("gemm m=\(m) n=\(n) k=\(k) transA=\(transA) transB=\(transB) acc=\(accumulate): element \(i) is \(actual[i]), reference \(expected[i])")
            return
        }
    }

    func testMatchesReferenceOnAwkwardShapes() {
        var seed: UInt64 = 1
        for (m, n, k) in [(1, 1, 1), (6, 32, 7), (5, 31, 3), (7, 33, 257), (13, 70, 300), (97, 65, 20), (1, 600, 9), (100, 10, 784)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    for accumulate in [false, true] {
                        check(m: m, n: n, k: k, transA: transA, transB: transB, accumulate: accumulate, seed: seed)
                        seed += 1
                    }
                }
            }
        }
    }

    /// The DCGAN's block products (rows 16, 32, 64, 512; 490 and 980 columns: a ragged last
    /// panel; depth 512 crosses a depth block), smaller where the reference would be slow, and
    /// rows 7 and 9 (either side of an 8-row tile).
    func testMatchesReferenceOnConvolutionBlockShapes() {
        var seed: UInt64 = 100
        for (m, n, k) in [(8, 32, 16), (16, 980, 32), (32, 980, 16), (64, 490, 512), (128, 490, 64), (7, 96, 40), (9, 96, 40)] {
            for (transA, transB) in [(false, false), (false, true), (true, false)] {
                for accumulate in [false, true] {
                    check(m: m, n: n, k: k, transA: transA, transB: transB, accumulate: accumulate, seed: seed)
                    seed += 1
                }
            }
        }
    }

    func testZeroDepthClearsOrKeepsOutput() {
        var c: [Float] = [1, 2, 3, 4]
        let w = UnsafeMutablePointer<Float>.allocate(capacity: gemmWorkspaceCount)
        defer { w.deallocate() }
        let dummy: [Float] = [0]
        dummy.withUnsafeBufferPointer { p in
            c.withUnsafeMutableBufferPointer { cp in
                gemm(m: 2, n: 2, k: 0, a: p.baseAddress!, aRowStride: 0, aColStride: 1, b: p.baseAddress!, bRowStride: 2,
                     bColStride: 1, c: cp.baseAddress!, ldc: 2, accumulate: true, workspace: w)
            }
        }
        XCTAssertEqual(c, [1, 2, 3, 4])
        dummy.withUnsafeBufferPointer { p in
            c.withUnsafeMutableBufferPointer { cp in
                gemm(m: 2, n: 2, k: 0, a: p.baseAddress!, aRowStride: 0, aColStride: 1, b: p.baseAddress!, bRowStride: 2,
                     bColStride: 1, c: cp.baseAddress!, ldc: 2, accumulate: false, workspace: w)
            }
        }
        XCTAssertEqual(c, [0, 0, 0, 0])
    }

    func testParallelMatmulEqualsSingleThreaded() {
        let a = Tensor.randn([130, 300], generator: Generator(seed: 3))
        let b = Tensor.randn([300, 200], generator: Generator(seed: 4))
        let saved = Threading.threads
        defer { Threading.threads = saved }
        Threading.threads = 1
        let one = a.matmul(b)
        Threading.threads = 2
        let two = a.matmul(b)
        XCTAssertEqual(one.data, two.data, "column split must not change any result bit")
    }
}
