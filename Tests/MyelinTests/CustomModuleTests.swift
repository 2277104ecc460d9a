import XCTest
import Foundation
@testable import Myelin

/// The README's "your own modules and ops" code, checked: reflection finds every parameter,
/// a user-written op trains, and a two-input module exports.
final class CustomModuleTests: XCTestCase {
    final class ImageWithSide: Module {
        let image = Sequential(Linear(784, 128), ReLU()), side = Linear(28, 16)
        let head = Sequential(Linear(144, 64), ReLU(), Linear(64, 10))
        var isTraining = true
        func forward(_ x: Tensor, _ v: Tensor) -> Tensor {
            head(Tensor.concat([image(x), side(v).tanh()], axis: 1))
        }
        var description: String { "ImageWithSide" }
    }

    func swish(_ x: Tensor) -> Tensor {
        let s = x.data.map { 1 / (1 + exp(-$0)) }
        return Tensor.custom("swish", inputs: [x], shape: x.shape, data: zip(x.data, s).map { $0 * $1 }) { g in
            [zip(zip(g, x.data), s).map { gx, sig in gx.0 * sig * (1 + gx.1 * (1 - sig)) }]
        }
    }

    func testReadmeModuleFindsEveryParameterAndTrains() {
        let model = ImageWithSide()
        XCTAssertEqual(model.parameterCount, 110_874)
        XCTAssertEqual(model.parameters().count, 8)
        let x = Tensor.uniform([8, 784], generator: Generator(seed: 1)), v = Tensor.uniform([8, 28], generator: Generator(seed: 2))
        let labels = [0, 1, 2, 3, 4, 5, 6, 7]
        let optimizer = Adam(model.parameters(), lr: 1e-2)
        var first: Float = 0, last: Float = 0
        for step in 0..<20 {
            let loss = crossEntropy(model.forward(x, v), labels)
            if step == 0 { first = loss.item }
            last = loss.item
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
        }
        XCTAssertLessThan(last, first * 0.5, "every parameter is reached by the optimizer: loss \(first) → \(last)")
        XCTAssertNotNil(model.side.weight.grad, "the side branch trains")
    }

    func testReadmeCustomOpHasTheRightGradient() {
        assertGradientsMatch("swish", inputs: [smooth([3, 4], seed: 3, scale: 2)]) { self.swish($0[0]) }
        XCTAssertEqual(swish(Tensor([0])).data, [0])
    }
}
