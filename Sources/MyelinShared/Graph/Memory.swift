// Memory for loaded models and contexts: posix_memalign, so that every allocation failure
// becomes `.outOfMemory` instead of a trap, and overflow-checked size arithmetic. Shared by
// the runtime and the Swift reference executor (standard library and libc only).

#if MYELIN_RUNTIME
import CZlibRuntime
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// 64-byte aligned allocation of at least one byte; failure is `.outOfMemory`.
///
/// Buffers of `bundleHugePageThreshold` bytes or more (a model's weights) are placed on
/// 2 MiB boundaries and offered to the kernel as transparent huge pages: loading then takes
/// a handful of page faults instead of hundreds (which dominated the load time of an f32
/// MLP). Where huge pages are unavailable `madvise` fails harmlessly.
@inline(__always)
public func bundleAllocate(bytes: Int) throws(BundleStatus) -> UnsafeMutableRawPointer {
    var p: UnsafeMutableRawPointer? = nil
    guard bytes >= 0 else { throw .outOfMemory }
    if bytes >= bundleHugePageThreshold {
        let size = (bytes + bundleHugePageSize - 1) / bundleHugePageSize * bundleHugePageSize
        guard posix_memalign(&p, bundleHugePageSize, size) == 0, let q = p else { throw .outOfMemory }
        #if os(Linux)
        _ = madvise(q, size, MADV_HUGEPAGE)
        #endif
        return q
    }
    guard posix_memalign(&p, 64, Swift.max(bytes, 64)) == 0, let q = p else { throw .outOfMemory }
    return q
}

public let bundleHugePageSize = 2 << 20
public let bundleHugePageThreshold = 512 << 10

/// Room for `count` values of `T` (uninitialised); the size is overflow-checked.
@inline(__always)
public func bundleAllocate<T>(_ type: T.Type, count: Int) throws(BundleStatus) -> UnsafeMutablePointer<T> {
    let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
    guard !overflow, count >= 0 else { throw .limitExceeded }
    return try bundleAllocate(bytes: bytes).bindMemory(to: T.self, capacity: count)
}

/// Frees what `bundleAllocate` returned (nil is allowed).
@inline(__always)
public func bundleFree(_ p: UnsafeMutableRawPointer?) { free(p) }

@inline(__always)
public func bundleFree<T>(_ p: UnsafeMutablePointer<T>?) { free(p) }

/// `a + b` and `a · b` with overflow reported as `.limitExceeded`.
@inline(__always)
public func checkedAdd(_ a: Int, _ b: Int) throws(BundleStatus) -> Int {
    let (r, o) = a.addingReportingOverflow(b)
    guard !o else { throw .limitExceeded }
    return r
}

@inline(__always)
public func checkedMultiply(_ a: Int, _ b: Int) throws(BundleStatus) -> Int {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    guard !o else { throw .limitExceeded }
    return r
}
