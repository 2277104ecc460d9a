import XCTest
@testable import Myelin
@testable import MyelinShared

/// Malformed-input tests for the `.mst` state file parser: every failure is a thrown error
/// naming the file and the problem, never a crash.
final class StateDictFileTests: XCTestCase {
    let valid = StateDictFile.encode(StateDict([("w", Tensor([[1, 2], [3, 4]])), ("b", Tensor([5]))]))

    func problem(_ bytes: [UInt8]) -> String? {
        do {
            _ = try StateDictFile.decode(bytes, path: "model.mst")
            return nil
        } catch let MyelinError.file(path, problem) {
            XCTAssertEqual(path, "model.mst")
            return problem
        } catch {
            XCTFail("unexpected error type \(error)")
            return "?"
        }
    }

    func testRoundTrip() throws {
        let s = try StateDictFile.decode(valid, path: "x")
        XCTAssertEqual(s.names, ["w", "b"])
        XCTAssertEqual(s["w"]!.shape, [2, 2])
        XCTAssertEqual(s["w"]!.data, [1, 2, 3, 4])
    }

    func testEveryTruncationIsRejected() {
        for length in 0..<valid.count {
            XCTAssertNotNil(problem(Array(valid[0..<length])), "truncated to \(length) bytes")
        }
    }

    func testEveryFlippedByteIsRejected() {
        for i in 0..<valid.count {
            var b = valid
            b[i] ^= 0x40
            XCTAssertNotNil(problem(b), "byte \(i) flipped")
        }
    }

    func testSpecificProblemsAreNamed() {
        var bad = valid
        bad[0] = UInt8(ascii: "X")
        XCTAssertEqual(problem(bad), "not a Myelin state file (bad magic)")
        XCTAssertEqual(problem([1, 2, 3]), "too short to be a Myelin state file (3 bytes)")
        // A consistent checksum over an absurd declared size: refused before allocating.
        var w = ByteWriter()
        w.bytes(Array("MYST".utf8)); w.u32(1); w.u32(1); w.u32(1); w.bytes([UInt8(ascii: "w")])
        w.u32(2); w.u64(1 << 40); w.u64(1 << 40)
        w.u32(crc32(w.buffer))
        XCTAssertEqual(problem(w.buffer), "tensor \"w\" declares more data than the file holds")
        var v = ByteWriter()
        v.bytes(Array("MYST".utf8)); v.u32(99); v.u32(0)
        v.u32(crc32(v.buffer))
        XCTAssertEqual(problem(v.buffer), "unsupported state file version 99 (this build reads version 1)")
    }

    func testMissingFileAndAtomicOverwrite() throws {
        XCTAssertThrowsError(try StateDict.load(from: "/nonexistent/model.mst")) {
            XCTAssertEqual("\($0)", "/nonexistent/model.mst: no such file")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-atomic-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.mst").path
        try StateDict([("a", Tensor([1]))]).save(to: path)
        try StateDict([("a", Tensor([2]))]).save(to: path)
        XCTAssertEqual(try StateDict.load(from: path)["a"]!.data, [2])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["m.mst"], "no temporary file left behind")
        XCTAssertThrowsError(try StateDict([]).save(to: "/nonexistent-dir/x.mst"))
    }
}
