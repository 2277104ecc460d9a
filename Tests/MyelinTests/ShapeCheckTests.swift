import XCTest

/// Shape and argument errors stop the program with a message naming the op and the shapes —
/// in this build configuration (the test script builds debug; `swift build -c release`
/// builds the probe with the library's release flags). Each case runs in a subprocess.
final class ShapeCheckTests: XCTestCase {
    func expectStop(_ name: String, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try runProduct("CheckProbe", [name])
        XCTAssertNotEqual(r.status, 0, "\(name) did not stop: \(r.stdout)", file: file, line: line)
        XCTAssertFalse(r.stdout.contains("no error"), "\(name) survived", file: file, line: line)
        for f in fragments {
            XCTAssertTrue(r.stderr.contains(f), "\(name): message lacks \"\(f)\":\n\(r.stderr.prefix(600))", file: file, line: line)
        }
    }

    func testLinearOnWrongFeatureCount() throws {
        try expectStop("linear-shape", ["Linear(784→10)", "[batch, 784]", "[5, 3]"])
    }

    func testAddOfShapesThatDoNotBroadcast() throws {
        try expectStop("add-broadcast", ["add", "[4, 3]", "[5, 3]"])
    }

    func testCrossEntropyLabelOutOfRange() throws {
        try expectStop("cross-entropy-label", ["crossEntropy", "42", "10 classes"])
    }

    func testMatmulAndReshape() throws {
        try expectStop("matmul-shape", ["matmul", "[2, 3]", "[4, 5]"])
        try expectStop("reshape-count", ["reshape", "[2, 3]", "[4, 2]"])
    }

    func testProbeSurvivesNothingUnknown() throws {
        let r = try runProduct("CheckProbe", ["no-such-case"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stdout.contains("usage"))
    }
}
