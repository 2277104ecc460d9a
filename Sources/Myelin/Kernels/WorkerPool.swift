import Foundation
import Synchronization

/// Persistent worker threads for the training kernels' parallel loops.
///
/// A training step runs several short parallel regions (each GEMM, the optimizer update);
/// waking sleeping threads for each one costs more than the work on a small batch. Workers
/// here spin briefly on a generation counter after finishing a job, so back-to-back regions
/// start without a wake-up, and sleep on a condition variable when idle for longer.
/// Only one region runs at a time; a caller that finds the pool busy (another thread is
/// using it) runs its work serially instead.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(workers: Swift.max(0, ProcessInfo.processInfo.activeProcessorCount - 1))

    private let workerCount: Int
    private let generation = Atomic<Int>(0)
    private let remaining = Atomic<Int>(0)
    private let busy = Mutex<Bool>(false)
    private let sleepers = NSCondition()
    private var job: ((Int) -> Void)?
    private var jobCount = 0
    /// Spin iterations before a worker goes to sleep (roughly 50–100 µs).
    private let spinLimit = 20_000

    /// Threads a region can use: the workers plus the caller.
    var capacity: Int { workerCount + 1 }

    init(workers: Int) {
        workerCount = workers
        for index in 0..<workers {
            let thread = Thread { [unowned self] in self.workerLoop(index: index + 1) }
            thread.name = "myelin-worker-\(index + 1)"
            thread.start()
        }
    }

    /// Runs `body(i)` for i in 0..<count, index 0 on the calling thread and the others on
    /// workers; returns when all are done. `count` above the worker count + 1 is clamped by
    /// the callers (they split work into at most `Threading.threads` parts).
    func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        let acquired = busy.withLock { inUse -> Bool in
            if inUse { return false }
            inUse = true
            return true
        }
        guard acquired, count > 1, workerCount > 0 else {
            for i in 0..<count { body(i) }
            if acquired { busy.withLock { $0 = false } }
            return
        }
        check(count <= workerCount + 1, "WorkerPool: \(count) parts for \(workerCount + 1) threads")
        withoutActuallyEscaping(body) { escapable in
            sleepers.lock()
            job = escapable
            jobCount = count
            remaining.store(workerCount, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            sleepers.broadcast()
            sleepers.unlock()
            escapable(0)
            while remaining.load(ordering: .acquiring) > 0 {}
            job = nil
        }
        busy.withLock { $0 = false }
    }

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins > spinLimit {
                    sleepers.lock()
                    while generation.load(ordering: .acquiring) == seen { sleepers.wait() }
                    sleepers.unlock()
                }
            }
            seen = generation.load(ordering: .acquiring)
            if index < jobCount, let work = job { work(index) }
            remaining.subtract(1, ordering: .releasing)
        }
    }
}
