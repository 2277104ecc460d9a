import Foundation
import XCTest
@testable import Myelin

/// Issue 9: killing the process (SIGKILL) at random moments while it writes a checkpoint or
/// a bundle never leaves a file that loads as valid but different, and never loses the
/// previous good file. CheckProbe's `write-loop` saves versions v, v+1, … of a ~0.5-1 MB
/// checkpoint or bundle to one path (every value a function of the version, see
/// `crashProbeValue` in Tests/CheckProbe/main.swift); each round kills it a random 0-200 ms
/// after its first save and checks the file on disk: it loads, is whole (every value matches the version it
/// names), and is the last version the probe reported saved or the one after (never older).
final class CrashSafetyTests: XCTestCase {
    static func value(_ version: Int, _ i: Int) -> Float { Float(version) + Float(i % 1000) * 0.001 }

    /// The version of the file at `path`, after checking it is whole.
    static func verifiedVersion(_ kind: String, _ path: String) throws -> Int {
        if kind == "checkpoint" {
            let c = try Checkpoint.load(from: path)
            let version = try XCTUnwrap(c.header.metadata["version"].flatMap { Int($0) })
            for (name, t) in c.modelState.entries {
                for i in 0..<t.data.count where t.data[i] != value(version, i) {
                    throw MyelinError.file(path: path, problem: "\(name)[\(i)] = \(t.data[i]) is not version \(version)'s")
                }
            }
            return version
        }
        let b = try ModelBundle.read(from: path)
        let version = try XCTUnwrap(b.metadata.first { $0.key == "version" }.flatMap { Int($0.value) })
        let w = b.tensors[0].floats
        guard w.count == 256 * 1024 else { throw MyelinError.file(path: path, problem: "\(w.count) weights") }
        for i in 0..<w.count where w[i] != value(version, i) {
            throw MyelinError.file(path: path, problem: "w[\(i)] = \(w[i]) is not version \(version)'s")
        }
        return version
    }

    func killRounds(_ kind: String, rounds: Int) throws {
        let probe = productsDirectory.appendingPathComponent("CheckProbe")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: probe.path), "CheckProbe not built")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-crash-\(getpid())-\(kind)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent(kind == "checkpoint" ? "run.ckpt" : "model.myelin").path
        let random = Generator(seed: kind == "checkpoint" ? 101 : 202)
        var good = -1          // the version on disk after the last round
        var killedWhileSaving = 0
        for round in 0..<rounds {
            let process = Process()
            process.executableURL = probe
            process.arguments = ["write-loop", kind, path, String(good + 1)]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Wait for the first save (start-up time varies with the machine's load), then kill
            // anywhere in the next 0 … 200 ms: a save (encode, write, fsync, rename) takes tens of ms.
            var text = ""
            while !text.contains("saved ") {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
            }
            usleep(UInt32(random.nextUniform() * 200_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationReason, .uncaughtSignal, "round \(round)")
            text += String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let reported = text.split(separator: "\n").compactMap { $0.hasPrefix("saved ") ? Int($0.dropFirst(6)) : nil }
            XCTAssertFalse(reported.isEmpty, "round \(round): the probe saved nothing")
            let lastSaved = reported.last ?? good
            let version: Int
            do { version = try Self.verifiedVersion(kind, path) } catch {
                XCTFail("round \(round): after a kill the \(kind) is not whole: \(error)")
                return
            }
            // Never older than what was saved before (the previous good file is not lost),
            // at most the one save in flight when the kill came.
            XCTAssertGreaterThanOrEqual(version, Swift.max(good, lastSaved), "round \(round)")
            XCTAssertLessThanOrEqual(version, lastSaved + 1, "round \(round)")
            if version == lastSaved { killedWhileSaving += 1 }   // the save in flight was cut off (or had not begun)
            good = version
        }
        // Some kills must have cut a save off, and every round saved at least one version.
        XCTAssertGreaterThan(killedWhileSaving, 0, "\(kind): no kill landed during a save")
        XCTAssertGreaterThanOrEqual(good, rounds - 1, "\(kind): too few versions saved")
    }

    func testKilledCheckpointWriterLeavesOldOrNewCheckpoint() throws { try killRounds("checkpoint", rounds: 16) }

    func testKilledBundleWriterLeavesOldOrNewBundle() throws { try killRounds("bundle", rounds: 16) }
}
