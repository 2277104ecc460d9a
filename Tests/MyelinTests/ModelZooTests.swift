import CZlib
import Foundation
import XCTest
@testable import Myelin

/// The model zoo: shapes, parameter counts (computed by hand from each architecture's doc
/// comment), one training step per model, and the per-module profile.
final class ModelZooTests: XCTestCase {
    /// Weights and biases per layer, summed by hand (BatchNorm: weight and bias per channel).
    let expectedParameters: [String: Int] = [
        "cnn": 320 + 18_496 + 204_928 + 1_290,                                           // 225 034
        "lenet5": 156 + 2_416 + 48_120 + 10_164 + 850,                                    // 61 706
        "alexnet": 320 + 18_496 + 55_392 + 83_040 + 55_360 + 147_712 + 65_792 + 2_570,    // 428 682
        "vgg": 160 + 2_320 + 4_640 + 9_248 + 18_496 + 36_928 + 73_856 + 1_290,            // 146 938
        "inception": 320 + 6_672 + 18_192 + 1_130,                                        // 26 314
        "resnet": 352 + 18_560 + 57_728 + 230_144 + 1_290,                                // 308 074
        "densenet": 216 + 18_480 + 2_736 + 23_760 + 1_018,                                // 46 210
        "mobilenet": 176 + 752 + 2_528 + 9_152 + 18_048 + 1_290,                          // 31 946
        "shufflenet": 264 + 492 + 828 + 1_560 + 2_808 + 970,                              // 6 922
    ]

    func testEveryModelMapsImagesToTenLogits() {
        XCTAssertEqual(Set(ModelZoo.names), Set(expectedParameters.keys))
        XCTAssertEqual(Set(ModelZoo.names), Set(ModelZoo.descriptions.keys))
        let x = Tensor.randn([2, 1, 28, 28], generator: Generator(seed: 1))
        for name in ModelZoo.names {
            let model = ModelZoo.make(name, generator: Generator(seed: 0))
            XCTAssertEqual(model(x).shape, [2, 10], name)
            XCTAssertEqual(model(x.reshape([2, 784])).shape, [2, 10], "\(name), flat input")
            model.eval()
            XCTAssertEqual(model(x).shape, [2, 10], "\(name), eval mode")
            XCTAssertEqual(model.parameterCount, expectedParameters[name], name)
        }
    }

    func testOneTrainingStepReducesTheLoss() {
        let data = Generator(seed: 7)
        let x = Tensor.uniform([8, 1, 28, 28], generator: data)
        let labels = (0..<8).map { $0 % 10 }
        for name in ModelZoo.names {
            let g = Generator(seed: 3)
            let model = ModelZoo.make(name, generator: g)
            let optimizer = Adam(model.parameters(), lr: 1e-3)
            let masks = g.state   // replay the same dropout masks for the second loss
            let before = crossEntropy(model(x), labels)
            before.backward()
            optimizer.step()
            g.state = masks
            let after = noGrad { crossEntropy(model(x), labels) }
            XCTAssertLessThan(after.item, before.item, name)
        }
    }

    func testProfileOfTheAnchorCNNMatchesHandCounts() throws {
        let profile = try ModelProfile(SimpleCNN(), inputShape: [1, 28, 28])
        // (module, output shape, parameters, FLOPs): conv 2·outputs·C·k², pooling one per
        // window element, ReLU one per element, linear 2·in·out.
        let expected: [(String, [Int], Int, Int)] = [
            ("layers.0", [32, 26, 26], 320, 2 * 32 * 26 * 26 * 9),          // 389 376
            ("layers.1", [32, 26, 26], 0, 32 * 26 * 26),
            ("layers.2", [32, 13, 13], 0, 32 * 13 * 13 * 4),
            ("layers.3", [64, 11, 11], 18_496, 2 * 64 * 11 * 11 * 32 * 9),  // 4 460 544
            ("layers.4", [64, 11, 11], 0, 64 * 11 * 11),
            ("layers.5", [64, 5, 5], 0, 64 * 5 * 5 * 4),
            ("layers.6", [1600], 0, 0),
            ("layers.7", [128], 204_928, 2 * 1600 * 128),
            ("layers.8", [128], 0, 128),
            ("layers.9", [10], 1_290, 2 * 128 * 10),
        ]
        XCTAssertEqual(profile.rows.map(\.module), expected.map(\.0))
        for (row, e) in zip(profile.rows, expected) {
            XCTAssertEqual(row.outputShape, e.1, e.0)
            XCTAssertEqual(row.parameters, e.2, e.0)
            XCTAssertEqual(row.flops, e.3, e.0)
        }
        XCTAssertEqual(profile.rows[0].kind, "Conv2d")
        XCTAssertEqual(profile.parameters, 225_034)
        XCTAssertEqual(profile.flops, 5_319_616)
        XCTAssertTrue(profile.table.contains("Total"))
        XCTAssertTrue(profile.table.contains("5.320"), profile.table)
    }

    func testProfileCoversBranchesAndResiduals() throws {
        for name in ["inception", "resnet", "densenet", "shufflenet"] {
            let model = ModelZoo.make(name, generator: Generator(seed: 0))
            let profile = try ModelProfile(model, inputShape: [784])
            XCTAssertEqual(profile.rows.reduce(0) { $0 + $1.parameters }, model.parameterCount, name)
            XCTAssertEqual(profile.rows.last?.outputShape, [10], name)
            XCTAssertEqual(profile.rows.first?.module, "", "\(name): the [n, 784] → image reshape is the model's own op")
        }
        // ResNet's first block: two 3×3 convolutions 32→32 on 14×14, no bias.
        let resnet = try ModelProfile(ResNetMini(), inputShape: [1, 28, 28])
        let conv = resnet.rows.first { $0.module == "blocks.0.conv1" }
        XCTAssertEqual(conv?.flops, 2 * 32 * 14 * 14 * 32 * 9)
        XCTAssertEqual(conv?.parameters, 32 * 32 * 9)
        // The inner ReLU, the residual addition and the final ReLU belong to the block itself.
        XCTAssertEqual(resnet.rows.first { $0.module == "blocks.0" }?.flops, 3 * 32 * 14 * 14)
    }
}
