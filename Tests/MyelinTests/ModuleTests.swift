import XCTest
@testable import Myelin
@testable import MyelinShared

final class ModuleTests: XCTestCase {
    func testParametersStateDictAndDescription() {
        let model = Sequential(Linear(3, 4), BatchNorm1d(4), ReLU(), Dropout(0.1), Linear(4, 2, bias: false))
        XCTAssertEqual(model.namedParameters().map { $0.0 }, ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight"])
        XCTAssertEqual(model.stateDict().names,
                       ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "4.weight"])
        XCTAssertEqual(model.parameterCount, 3 * 4 + 4 + 4 + 4 + 4 * 2)
        XCTAssertTrue(model.parameters().allSatisfy { $0.requiresGrad })
        XCTAssertEqual(model.description, """
            Sequential(
              (0): Linear(in: 3, out: 4)
              (1): BatchNorm1d(4, eps: 1e-05, momentum: 0.1)
              (2): ReLU()
              (3): Dropout(p: 0.1)
              (4): Linear(in: 4, out: 2, bias: false)
            )
            """)
    }

    func testTrainEvalPropagatesAndChangesBehaviour() {
        let drop = Dropout(0.5, generator: Generator(seed: 1))
        let model = Sequential(drop)
        let x = Tensor.ones([10, 10])
        XCTAssertTrue(model(x).data.contains(0))
        model.eval()
        XCTAssertFalse(drop.isTraining)
        XCTAssertEqual(model(x).data, x.data, "Dropout is the identity in eval mode")
        model.train()
        XCTAssertTrue(drop.isTraining)
    }

    func testDropoutKeepsTheExpectation() {
        let drop = Dropout(0.3, generator: Generator(seed: 2))
        let y = drop(Tensor.ones([200, 100]))
        XCTAssertEqual(y.mean().item, 1, accuracy: 0.02)
        let zeroFraction = Float(y.data.filter { $0 == 0 }.count) / Float(y.count)
        XCTAssertEqual(zeroFraction, 0.3, accuracy: 0.01)
    }

    func testBatchNormStatistics() {
        let bn = BatchNorm1d(2, momentum: 0.1)
        let x = Tensor([[1, 10], [3, 20], [5, 60]])
        let y = bn(x)
        // Train mode: per-feature zero mean, unit (biased) variance.
        XCTAssertEqual(y.mean(axis: 0).data[0], 0, accuracy: 1e-6)
        XCTAssertEqual(y.square().mean(axis: 0).data[1], 1, accuracy: 1e-3)
        // Running stats: 0.9·init + 0.1·batch, with the unbiased variance (PyTorch semantics).
        assertClose(bn.runningMean.data, [0.3, 3.0], atol: 1e-5)
        assertClose(bn.runningVar.data, [0.9 + 0.1 * 4, 0.9 + 0.1 * 700], atol: 1e-3)
        bn.eval()
        let e = bn(Tensor([[0.3, 3.0]]))
        assertClose(e.data, [0, 0], atol: 1e-6, "eval mode normalises with the running statistics")
    }

    func testStateDictRoundTripThroughFileKeepsParameterIdentity() throws {
        let a = Sequential(Linear(3, 5, generator: Generator(seed: 1)), BatchNorm1d(5), Linear(5, 2, generator: Generator(seed: 2)))
        _ = a(Tensor.randn([4, 3], generator: Generator(seed: 3)))          // move running stats off their init
        let b = Sequential(Linear(3, 5, generator: Generator(seed: 7)), BatchNorm1d(5), Linear(5, 2, generator: Generator(seed: 8)))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-test-\(getpid()).mst").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try a.stateDict().save(to: path)
        let weightBefore = b.parameters()[0]
        try b.loadStateDict(try StateDict.load(from: path))
        XCTAssertTrue(b.parameters()[0] === weightBefore, "loading copies values into the existing tensors")
        for ((n1, t1), (n2, t2)) in zip(a.stateDict().entries, b.stateDict().entries) {
            XCTAssertEqual(n1, n2)
            XCTAssertEqual(t1.data, t2.data, n1)
        }
    }

    func testLoadStateDictRejectsMismatches() {
        let model = Sequential(Linear(2, 3))
        XCTAssertThrowsError(try model.loadStateDict(StateDict([("0.weight", .zeros([3, 2]))]))) {
            XCTAssertEqual("\($0)", "state dict: missing key \"0.bias\"")
        }
        XCTAssertThrowsError(try model.loadStateDict(StateDict([("0.weight", .zeros([2, 2])), ("0.bias", .zeros([3]))]))) {
            XCTAssertEqual("\($0)", "state dict: shape mismatch for \"0.weight\": file has [2, 2], model has [3, 2]")
        }
        XCTAssertThrowsError(try model.loadStateDict(StateDict([("0.weight", .zeros([3, 2])), ("0.bias", .zeros([3])), ("9.x", .zeros([1]))])))
    }

    func testInitialisersHaveTheDocumentedSpread() {
        let g = Generator(seed: 11)
        func std(_ t: Tensor) -> Float { (t - t.mean().item).square().mean().item.squareRoot() }
        let (fanIn, fanOut) = (400, 200)
        let shape = [fanOut, fanIn]
        // Uniform(±b) has std b/√3.
        XCTAssertEqual(std(Init.xavierUniform().make(shape, fanIn: fanIn, fanOut: fanOut, generator: g)),
                       (6 / Float(fanIn + fanOut)).squareRoot() / Float(3).squareRoot(), accuracy: 1e-3)
        XCTAssertEqual(std(Init.xavierNormal().make(shape, fanIn: fanIn, fanOut: fanOut, generator: g)),
                       (2 / Float(fanIn + fanOut)).squareRoot(), accuracy: 1e-3)
        XCTAssertEqual(std(Init.kaimingUniform().make(shape, fanIn: fanIn, fanOut: fanOut, generator: g)),
                       (2 / Float(fanIn)).squareRoot(), accuracy: 1e-3)
        XCTAssertEqual(std(Init.kaimingNormal().make(shape, fanIn: fanIn, fanOut: fanOut, generator: g)),
                       (2 / Float(fanIn)).squareRoot(), accuracy: 1e-3)
        let pt = Init.pytorchLinearDefault.make(shape, fanIn: fanIn, fanOut: fanOut, generator: g)
        XCTAssertLessThanOrEqual(pt.data.map { Swift.abs($0) }.max()!, 1 / Float(fanIn).squareRoot())
        XCTAssertEqual(Init.constant(0.25).make([3], fanIn: 1, fanOut: 1).data, [0.25, 0.25, 0.25])
        XCTAssertEqual(Init.zeros.make([2], fanIn: 1, fanOut: 1).data, [0, 0])
    }

    /// The symmetry problem: with all-equal initial weights every hidden unit computes the
    /// same function and receives the same gradient, so training never tells them apart.
    func testEqualInitialWeightsKeepHiddenUnitsIdentical() {
        let hidden = Linear(2, 4, weightInit: .constant(0.3), biasInit: .constant(0.1))
        let output = Linear(4, 1, weightInit: .constant(0.2), biasInit: .zeros)
        let model = Sequential(hidden, Tanh(), output, Sigmoid())
        let x = Tensor([[0, 0], [0, 1], [1, 0], [1, 1]]), y = Tensor(shape: [4, 1], data: [0, 1, 1, 0])
        let opt = SGD(model.parameters(), lr: 0.5)
        for _ in 0..<200 {
            opt.zeroGrad()
            binaryCrossEntropy(model(x), y).backward()
            opt.step()
        }
        for unit in 1..<4 {
            XCTAssertEqual(Array(hidden.weight.data[(unit * 2)..<(unit * 2 + 2)]), Array(hidden.weight.data[0..<2]))
            XCTAssertEqual(hidden.bias!.data[unit], hidden.bias!.data[0])
        }
        // Versus random initialisation, where the units differ after training.
        let random = Linear(2, 4, generator: Generator(seed: 1))
        XCTAssertNotEqual(Array(random.weight.data[0..<2]), Array(random.weight.data[2..<4]))
    }

    func testOptimizerStateDictRoundTrip() throws {
        func makeModel() -> Sequential { Sequential(Linear(3, 2, generator: Generator(seed: 4))) }
        let x = Tensor.randn([5, 3], generator: Generator(seed: 5))
        func train(_ model: Sequential, _ opt: Optimizer, steps: Int) {
            for _ in 0..<steps {
                opt.zeroGrad()
                model(x).square().mean().backward()
                opt.step()
            }
        }
        let reference = makeModel(), refOpt = Adam(reference.parameters(), lr: 0.05)
        train(reference, refOpt, steps: 6)
        let first = makeModel(), firstOpt = Adam(first.parameters(), lr: 0.05)
        train(first, firstOpt, steps: 3)
        let resumed = makeModel(), resumedOpt = Adam(resumed.parameters(), lr: 0.05)
        try resumed.loadStateDict(first.stateDict())
        try resumedOpt.loadStateDict(StateDictFile.decode(StateDictFile.encode(firstOpt.stateDict()), path: "memory"))
        train(resumed, resumedOpt, steps: 3)
        XCTAssertEqual(resumed.parameters().flatMap { $0.data }, reference.parameters().flatMap { $0.data })
    }
}
