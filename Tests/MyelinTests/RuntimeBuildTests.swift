import Foundation
import XCTest

/// `swift test` without scripts/test.sh: the runtime tests build libmyelin.so themselves
/// (RuntimeLibrary.shared → ensureBuilt → buildRuntime) when MYELIN_LIBRARY is not set.
final class RuntimeBuildTests: XCTestCase {
    func temporaryFolder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-build-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// A missing library leads to one build, which must produce it.
    func testMissingLibraryIsBuilt() throws {
        let dir = try temporaryFolder()
        let library = dir.appendingPathComponent("build/libmyelin.so").path
        let lock = dir.appendingPathComponent("build/.lock").path
        var builds = 0
        try RuntimeLibrary.ensureBuilt(library: library, lock: lock) {
            builds += 1
            XCTAssertTrue(FileManager.default.createFile(atPath: library, contents: Data([0])))
        }
        XCTAssertEqual(builds, 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: library))
        // A build that produces nothing, or fails, is an error (the runtime tests then fail with it).
        XCTAssertThrowsError(try RuntimeLibrary.ensureBuilt(library: library + ".missing", lock: lock) {})
        XCTAssertThrowsError(try RuntimeLibrary.ensureBuilt(library: library, lock: lock) { throw CocoaError(.fileNoSuchFile) })
    }

    /// Two builders on one lock run one after the other, never at once.
    func testBuildsAreSerialisedByTheLock() throws {
        let dir = try temporaryFolder()
        let library = dir.appendingPathComponent("libmyelin.so").path
        XCTAssertTrue(FileManager.default.createFile(atPath: library, contents: Data([0])))
        let lock = dir.appendingPathComponent(".lock").path
        let state = NSLock()
        var inside = 0, most = 0
        var failures = 0
        DispatchQueue.concurrentPerform(iterations: 3) { (_: Int) -> Void in
            do {
                try RuntimeLibrary.ensureBuilt(library: library, lock: lock) {
                    state.lock(); inside += 1; most = max(most, inside); state.unlock()
                    Thread.sleep(forTimeInterval: 0.1)
                    state.lock(); inside -= 1; state.unlock()
                }
            } catch {
                state.lock(); failures += 1; state.unlock()
            }
        }
        XCTAssertEqual(failures, 0)
        XCTAssertEqual(most, 1)
    }

    /// Without MYELIN_LIBRARY the library the tests load is the package's own build.
    func testRuntimeIsAvailable() throws {
        let library = try requireRuntime()
        XCTAssertEqual(library.loadStatus([0, 1, 2]), 3)  // MYELIN_ERR_NOT_A_BUNDLE
    }
}
