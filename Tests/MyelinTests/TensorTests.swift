import XCTest
@testable import Myelin
@testable import MyelinShared

final class TensorTests: XCTestCase {
    func testCreation() {
        XCTAssertEqual(Tensor.zeros([2, 3]).data, [Float](repeating: 0, count: 6))
        XCTAssertEqual(Tensor.ones([2]).data, [1, 1])
        XCTAssertEqual(Tensor.full([1, 2], 7).data, [7, 7])
        XCTAssertEqual(Tensor.arange(0, 5).data, [0, 1, 2, 3, 4])
        XCTAssertEqual(Tensor.arange(1, 2, step: 0.25).data, [1, 1.25, 1.5, 1.75])
        XCTAssertEqual(Tensor([[1, 2], [3, 4]]).shape, [2, 2])
        XCTAssertEqual(Tensor([[1, 2], [3, 4]])[1, 0], 3)
        XCTAssertEqual(Tensor(3).shape, [])
        let u = Tensor.uniform([1000], low: -2, high: 3, generator: Generator(seed: 1))
        XCTAssertTrue(u.data.allSatisfy { $0 >= -2 && $0 < 3 })
        let n = Tensor.randn([20000], mean: 1, std: 2, generator: Generator(seed: 2))
        let mean = n.mean().item
        let std = (n - mean).square().mean().item.squareRoot()
        XCTAssertEqual(mean, 1, accuracy: 0.05)
        XCTAssertEqual(std, 2, accuracy: 0.05)
    }

    func testSameSeedGivesBitIdenticalResults() {
        func run() -> [Float] {
            let g = Generator(seed: 123)
            let model = Sequential(Linear(4, 8, generator: g), ReLU(), Dropout(0.2, generator: g), Linear(8, 3, generator: g))
            let x = Tensor.randn([16, 4], generator: g)
            let opt = Adam(model.parameters(), lr: 0.01)
            for _ in 0..<5 {
                opt.zeroGrad()
                crossEntropy(model(x), (0..<16).map { $0 % 3 }).backward()
                opt.step()
            }
            return model.parameters().flatMap { $0.data }
        }
        XCTAssertEqual(run(), run())
        XCTAssertNotEqual(Tensor.randn([4], generator: Generator(seed: 1)).data,
                          Tensor.randn([4], generator: Generator(seed: 2)).data)
    }

    func testPermutationIsAPermutation() {
        let p = Generator(seed: 5).permutation(100)
        XCTAssertEqual(p.sorted(), Array(0..<100))
        XCTAssertNotEqual(p, Array(0..<100))
    }

    func testBroadcastingForwardValues() {
        let m = Tensor([[1, 2, 3], [4, 5, 6]])
        XCTAssertEqual((m + Tensor([10, 20, 30])).data, [11, 22, 33, 14, 25, 36])
        XCTAssertEqual((m * Tensor(shape: [2, 1], data: [2, 3])).data, [2, 4, 6, 12, 15, 18])
        XCTAssertEqual((Tensor(shape: [2, 1], data: [1, 2]) + Tensor([10, 20, 30])).shape, [2, 3])
        XCTAssertEqual((m - 1).data, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual((2 / Tensor([1, 4])).data, [2, 0.5])
    }

    func testReductionValues() {
        let m = Tensor([[1, 5, 3], [4, 2, 6]])
        XCTAssertEqual(m.sum().item, 21)
        XCTAssertEqual(m.mean().item, 3.5)
        XCTAssertEqual(m.sum(axis: 0).data, [5, 7, 9])
        XCTAssertEqual(m.sum(axis: 1, keepDims: true).shape, [2, 1])
        XCTAssertEqual(m.mean(axis: 1).data, [3, 4])
        XCTAssertEqual(m.max(axis: 1).data, [5, 6])
        XCTAssertEqual(m.max(axis: 0).data, [4, 5, 6])
        XCTAssertEqual(m.argmax(axis: 1), [1, 2])
        XCTAssertEqual(m.argmax(axis: 0), [1, 0, 1])
    }

    func testShapeOpsValues() {
        let m = Tensor([[1, 2, 3], [4, 5, 6]])
        XCTAssertEqual(m.transposed().data, [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(m.reshape([3, -1]).shape, [3, 2])
        XCTAssertEqual(m.gatherRows([1, 1, 0]).data, [4, 5, 6, 4, 5, 6, 1, 2, 3])
        XCTAssertEqual(m.rows(1..<2).data, [4, 5, 6])
        XCTAssertEqual(Tensor.zeros([2, 3, 4]).flatten().shape, [2, 12])
        XCTAssertEqual(m.matmul(Tensor([[1], [0], [1]])).data, [4, 10])
    }

    func testNumericallyStableActivations() {
        let big = Tensor([-1000, -100, 0, 100, 1000])
        XCTAssertTrue(big.sigmoid().data.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 })
        XCTAssertEqual(big.sigmoid().data[0], 0)
        XCTAssertEqual(big.sigmoid().data[4], 1)
        let s = Tensor([[1000, 0, -1000]]).softmax()
        XCTAssertEqual(s.data, [1, 0, 0])
        let ls = Tensor([[1000, 999]]).logSoftmax()
        XCTAssertTrue(ls.data.allSatisfy { $0.isFinite })
        XCTAssertEqual(ls.data[0], -0.31326166, accuracy: 1e-5)
        XCTAssertTrue(crossEntropy(Tensor([[1e4, -1e4]]), [1]).item.isFinite)
        XCTAssertTrue(binaryCrossEntropyWithLogits(Tensor([500, -500]), Tensor([0, 1])).item.isFinite)
        XCTAssertEqual(Tensor([-2, 0, 3]).step().data, [0, 1, 1])
        XCTAssertEqual(Tensor([-2, 3]).elu().data[0], expm1f(-2), accuracy: 1e-6)
    }

    func testAutogradBookkeeping() {
        let w = Tensor([1, 2, 3], requiresGrad: true)
        (w * w).sum().backward()
        XCTAssertEqual(w.grad!.data, [2, 4, 6])
        (w * 2).sum().backward()                       // gradients accumulate
        XCTAssertEqual(w.grad!.data, [4, 6, 8])
        w.zeroGrad()
        XCTAssertNil(w.grad)
        let y = noGrad { w * 3 }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertFalse(w.detach().requiresGrad)
        XCTAssertEqual(w.detach().data, w.data)
        let plain = Tensor([1, 2])
        XCTAssertFalse((plain * plain).requiresGrad, "ops on tensors without requiresGrad record nothing")
        // A deep chain must not overflow the stack in backward.
        var x = w
        for _ in 0..<20000 { x = x + 0 }
        x.sum().backward()
        XCTAssertEqual(w.grad!.data, [1, 1, 1])
    }
}
