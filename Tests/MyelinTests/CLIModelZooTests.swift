import Foundation
import XCTest
@testable import Myelin

/// `myelin train --model NAME` trains the zoo's CNNs, with augmentation, and `summary`
/// shows their per-layer shapes, parameters and MFLOPs.
final class CLIModelZooTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-zoo-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(dir!)/tiny", withIntermediateDirectories: true)
        try writeTinyImageFolder("\(dir!)/tiny")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func myelin(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try runProduct("myelin", args, directory: dir)
    }

    func testTrainSummarizeAndResumeAZooCNN() throws {
        let train = try myelin(["train", "--model", "lenet5", "--data", "tiny", "--epochs", "1", "--batch-size", "8",
                                "--augment", "--validation", "0", "--out", "run"])
        XCTAssertEqual(train.status, 0, train.stderr)
        for needle in ["Conv2d", "MaxPool2d", "[batch, 6, 28, 28]", "MFLOPs", "Total parameters: 61706"] {
            XCTAssertTrue(train.stdout.contains(needle), "missing \(needle) in:\n\(train.stdout)")
        }
        // Pictures of what the CNN learned, as PNG files.
        let maps = try FileManager.default.contentsOfDirectory(atPath: "\(dir!)/run").filter { $0.hasPrefix("feature-maps-") }.sorted()
        XCTAssertEqual(maps, ["feature-maps-features.0.png", "feature-maps-features.3.png"], "one grid per convolution")
        for file in ["filters.png"] + maps {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(dir!)/run/\(file)"))
            XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "\(file) is a PNG")
        }
        let summary = try myelin(["summary", "run/checkpoint.ckpt"])
        XCTAssertEqual(summary.status, 0, summary.stderr)
        XCTAssertTrue(summary.stdout.contains("MFLOPs") && summary.stdout.contains("Conv2d"), summary.stdout)
        XCTAssertTrue(summary.stdout.contains("lenet5"), "the summary names the architecture:\n\(summary.stdout)")
        // Resume keeps the architecture and the augmentation; changing them is refused.
        let resumed = try myelin(["train", "--resume", "run/checkpoint.ckpt", "--epochs", "2"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let conflict = try myelin(["train", "--resume", "run/checkpoint.ckpt", "--epochs", "3", "--model", "cnn"])
        XCTAssertNotEqual(conflict.status, 0)
        XCTAssertTrue(conflict.stderr.contains("--model cnn (the run has lenet5)"), conflict.stderr)
    }

    func testArchitectureOptionsAreChecked() throws {
        let mixed = try myelin(["train", "--model", "cnn", "--hidden", "32", "--data", "tiny"])
        XCTAssertNotEqual(mixed.status, 0)
        XCTAssertEqual(mixed.stderr.split(separator: "\n").count, 1, mixed.stderr)
        XCTAssertTrue(mixed.stderr.contains("--model cnn is a fixed architecture"), mixed.stderr)
        let flat = try myelin(["train", "--model", "cnn", "--dataset", "blobs", "--epochs", "1"])
        XCTAssertNotEqual(flat.status, 0)
        XCTAssertTrue(flat.stderr.contains("takes 28×28 images"), flat.stderr)
        let unknown = try myelin(["train", "--model", "transformer"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("resnet"), "the error lists the architectures: \(unknown.stderr)")
    }
}
