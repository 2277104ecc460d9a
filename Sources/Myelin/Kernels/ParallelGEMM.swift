import Foundation

/// Thread settings for the training-side kernels.
public enum Threading {
    nonisolated(unsafe) static var threadCount = ProcessInfo.processInfo.activeProcessorCount
    /// How many threads large matrix multiplies use (default: all active cores).
    public static var threads: Int {
        get { threadCount }
        set {
            check(newValue >= 1, "Threading.threads must be at least 1, got \(newValue)")
            threadCount = newValue
        }
    }
    /// Below this many multiply-adds a GEMM runs on one thread (splitting costs more than it saves).
    static let parallelThreshold = 2_000_000
}

/// Packing workspaces for `gemm`, reused across calls (taking one is a locked pop).
final class GEMMWorkspacePool: @unchecked Sendable {
    static let shared = GEMMWorkspacePool()
    private var free: [UnsafeMutablePointer<Float>] = []
    private let lock = NSLock()

    func take() -> UnsafeMutablePointer<Float> {
        lock.lock(); defer { lock.unlock() }
        if let w = free.popLast() { return w }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: gemmWorkspaceCount * 4, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: gemmWorkspaceCount)
    }

    func give(_ w: UnsafeMutablePointer<Float>) {
        lock.lock(); defer { lock.unlock() }
        free.append(w)
    }
}

/// C (+)= op(A)·op(B) on raw buffers, split by columns of C across `Threading.threads`.
/// Strides as in `gemm` (see GEMM.swift). Shapes: A m×k, B k×n, C m×n row-major (ldc = n).
func parallelGEMM(m: Int, n: Int, k: Int,
                  a: UnsafePointer<Float>, aRowStride: Int, aColStride: Int,
                  b: UnsafePointer<Float>, bRowStride: Int, bColStride: Int,
                  c: UnsafeMutablePointer<Float>, accumulate: Bool) {
    let work = m * n * k
    let threads = Swift.min(Threading.threadCount, WorkerPool.shared.capacity, Swift.max(1, n / gemmTileCols))
    if threads <= 1 || work < Threading.parallelThreshold {
        let w = GEMMWorkspacePool.shared.take()
        gemm(m: m, n: n, k: k, a: a, aRowStride: aRowStride, aColStride: aColStride,
             b: b, bRowStride: bRowStride, bColStride: bColStride, c: c, ldc: n, accumulate: accumulate, workspace: w)
        GEMMWorkspacePool.shared.give(w)
        return
    }
    // Column chunks are whole register tiles so no two threads write the same tile.
    let tiles = (n + gemmTileCols - 1) / gemmTileCols
    let tilesPerThread = (tiles + threads - 1) / threads
    WorkerPool.shared.parallelFor(threads) { t in
        let j0 = t * tilesPerThread * gemmTileCols
        let j1 = Swift.min(n, j0 + tilesPerThread * gemmTileCols)
        if j0 >= j1 { return }
        let w = GEMMWorkspacePool.shared.take()
        gemm(m: m, n: j1 - j0, k: k, a: a, aRowStride: aRowStride, aColStride: aColStride,
             b: b + j0 * bColStride, bRowStride: bRowStride, bColStride: bColStride,
             c: c + j0, ldc: n, accumulate: accumulate, workspace: w)
        GEMMWorkspacePool.shared.give(w)
    }
}

/// Runs `body` over `0..<count` split into one contiguous chunk per thread (multiples of 16
/// elements), or in one call when `count` is below `minimumPerThread` per thread.
func parallelChunks(_ count: Int, minimumPerThread: Int = 32_768, _ body: (Range<Int>) -> Void) {
    let threads = Swift.min(Threading.threadCount, WorkerPool.shared.capacity, count / minimumPerThread)
    if threads <= 1 { body(0..<count); return }
    let chunk = ((count + threads - 1) / threads + 15) / 16 * 16
    WorkerPool.shared.parallelFor(threads) { t in
        let lo = t * chunk, hi = Swift.min(count, lo + chunk)
        if lo < hi { body(lo..<hi) }
    }
}
