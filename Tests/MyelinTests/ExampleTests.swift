import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// Runs the example programs in examples/ (built as products of this package, because the
/// test target depends on them) and checks the numbers they print.
final class ExampleTests: XCTestCase {
    /// Runs example `name` with `arguments`; returns its standard output (failing on a non-zero exit).
    func run(_ name: String, _ arguments: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try runProduct(name, arguments)
        XCTAssertEqual(result.status, 0, "\(name) failed; stderr:\n\(result.stderr)\nstdout:\n\(result.stdout)", file: file, line: line)
        return result.stdout
    }

    /// The numbers printed after `label` on the first output line that starts with `label`.
    func numbers(_ output: String, _ label: String, file: StaticString = #filePath, line: UInt = #line) -> [Double] {
        guard let found = output.split(separator: "\n").first(where: { $0.hasPrefix(label) }) else {
            XCTFail("no line starting with \"\(label)\" in output:\n\(output)", file: file, line: line)
            return []
        }
        let rest = String(found.dropFirst(label.count))
        let regex = try! NSRegularExpression(pattern: "-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?")
        return regex.matches(in: rest, range: NSRange(rest.startIndex..., in: rest)).map {
            Double(rest[Range($0.range, in: rest)!])!
        }
    }

    /// The single number after `label` (or the first one, if several follow).
    func number(_ output: String, _ label: String, file: StaticString = #filePath, line: UInt = #line) -> Double {
        numbers(output, label, file: file, line: line).first ?? .nan
    }

    func assertClose(_ actual: [Double], _ expected: [Double], tolerance: Double, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, "\(what): \(actual) vs \(expected)", file: file, line: line)
        for (a, e) in zip(actual, expected) {
            XCTAssertEqual(a, e, accuracy: tolerance, "\(what): \(actual) vs expected \(expected)", file: file, line: line)
        }
    }

    func testLogicGates() throws {
        let out = try run("LogicGates")
        let tables: [String: [Double]] = ["AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "NAND": [1, 1, 1, 0]]
        for (gate, table) in tables {
            XCTAssertEqual(numbers(out, "hand-set \(gate):"), table, "hand-set \(gate)")
            XCTAssertEqual(numbers(out, "learned \(gate):"), table, "learned \(gate)")
        }
        let xorBest = number(out, "XOR perceptron best accuracy:")
        XCTAssertLessThanOrEqual(xorBest, 75, "a single perceptron cannot learn XOR")
        XCTAssertEqual(numbers(out, "composed XOR:"), [0, 1, 1, 0])
        XCTAssertEqual(numbers(out, "MLP XOR:"), [0, 1, 1, 0])
        let probabilities = numbers(out, "MLP P(1):")
        XCTAssertEqual(probabilities.count, 4)
        for (p, target) in zip(probabilities, [0.0, 1, 1, 0]) {
            XCTAssertEqual(p, target, accuracy: 0.1, "MLP probabilities \(probabilities)")
        }
    }

    func testThreeLayerForward() throws {
        let out = try run("ThreeLayerForward")
        // Reference values computed in float64 (NumPy).
        assertClose(numbers(out, "A1:"), [0.3, 0.7, 1.1], tolerance: 1e-6, "A1")
        assertClose(numbers(out, "Z1:"), [0.57444252, 0.66818777, 0.75026011], tolerance: 1e-6, "Z1")
        assertClose(numbers(out, "A2:"), [0.51615984, 1.21402696], tolerance: 1e-6, "A2")
        assertClose(numbers(out, "Z2:"), [0.62624937, 0.77101070], tolerance: 1e-6, "Z2")
        assertClose(numbers(out, "Y:"), [0.31682708, 0.69627909], tolerance: 1e-6, "Y")
        assertClose(numbers(out, "Y (Linear):"), [0.31682708, 0.69627909], tolerance: 1e-6, "Y through Linear layers")
    }

    func testNeuronRegression() throws {
        let out = try run("NeuronRegression")
        let epochLines = out.split(separator: "\n").filter { $0.hasPrefix("epoch ") }
        let losses = epochLines.map { numbers(String($0), "epoch ")[1] }
        XCTAssertEqual(epochLines.map { numbers(String($0), "epoch ")[0] }, stride(from: 100.0, through: 1000, by: 100).map { $0 })
        for (previous, next) in zip(losses, losses.dropFirst()) {
            XCTAssertLessThan(next, previous, "loss must decrease: \(losses)")
        }
        XCTAssertEqual(numbers(out, "after 1000 epochs:").count, 3)
        XCTAssertFalse(numbers(out, "prediction for [1, 1] after 1000 epochs:").isEmpty)
        // Least squares: w = (1/3, 1/3), b = 1/6, prediction 5/6, loss 1/24.
        assertClose(numbers(out, "converged:"), [1.0 / 3, 1.0 / 3, 1.0 / 6], tolerance: 1e-3, "converged w, b")
        assertClose(numbers(out, "converged prediction for [1, 1]:"), [5.0 / 6], tolerance: 1e-3, "converged prediction")
        XCTAssertEqual(numbers(out, "converged after").last ?? .nan, 1.0 / 24, accuracy: 1e-4, "converged loss")
    }

    func testGaussianBlobs() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("myelin-example-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("blobs.mst").path

        let out = try run("GaussianBlobs", [path])
        XCTAssertEqual(numbers(out, "data:"), [80, 20])
        let before = number(out, "test loss before training:")
        let after = number(out, "test loss after training:")
        XCTAssertLessThan(after, before / 3, "training must cut the test loss")
        XCTAssertGreaterThanOrEqual(number(out, "test accuracy:"), 95)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path), "model file not written to \(path)")
        XCTAssertEqual(number(out, "max prediction difference after reload:"), 0)
        XCTAssertTrue(out.contains("predictions identical after reload: yes"))
        XCTAssertGreaterThan(number(out, "P(label 1 | (-1, 1)):"), 0.9)
    }

    /// Without a path, each run writes into its own new temporary folder.
    func testGaussianBlobsDefaultPathIsUnique() throws {
        let paths = try (0..<2).map { _ in
            try XCTUnwrap(try run("GaussianBlobs").split(separator: "\n").first { $0.hasPrefix("saved model to ") }?.dropFirst(15)).description
        }
        defer {
            for p in paths {
                let folder = (p as NSString).deletingLastPathComponent
                try? FileManager.default.removeItem(atPath: (folder as NSString).lastPathComponent.hasPrefix("gaussian-blobs-") ? folder : p)
            }
        }
        XCTAssertNotEqual(paths[0], paths[1])
        for p in paths {
            XCTAssertTrue(FileManager.default.fileExists(atPath: p), p)
            XCTAssertNotEqual((p as NSString).deletingLastPathComponent, FileManager.default.temporaryDirectory.path, "a folder of its own: \(p)")
        }
    }
}
