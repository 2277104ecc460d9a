#if os(Linux)
import XCTest
@testable import Myelin

/// Myelin keeps freed memory in the process (glibc's mmap threshold at 32 MiB, no trimming)
/// so a training step reuses its buffers instead of page-faulting fresh ones, and a host that
/// wants glibc's defaults back sets MYELIN_MALLOC_DEFAULTS=1 (`Tensor.allocatorTuned`). The
/// setting is process-wide, so each case runs in its own process (CheckProbe malloc-threshold).
/// glibc's allocator only: the class exists on Linux.
final class AllocatorTuningTests: XCTestCase {
    func testFirstTensorRaisesTheMmapThresholdUnlessDefaultsAreAskedFor() throws {
        let tuned = try runProduct("CheckProbe", ["malloc-threshold"], environment: ["MYELIN_MALLOC_DEFAULTS": "0"])
        XCTAssertEqual(tuned.status, 0, tuned.stderr)
        XCTAssertEqual(tuned.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "heap",
                       "a 24 MiB block after the first tensor comes from the heap (threshold 32 MiB)")
        let defaults = try runProduct("CheckProbe", ["malloc-threshold"], environment: ["MYELIN_MALLOC_DEFAULTS": "1"])
        XCTAssertEqual(defaults.status, 0, defaults.stderr)
        XCTAssertEqual(defaults.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "mmap",
                       "with MYELIN_MALLOC_DEFAULTS=1 glibc keeps its default threshold and maps the block")
    }
}
#endif
