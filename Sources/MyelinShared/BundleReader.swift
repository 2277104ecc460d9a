// Reading the decoded META and TEST sections (docs/bundle-format.md): every rule, limit
// and status of those sections, in one place (GRPH: Graph/Graph.swift). The exporter's
// Swift reader (`ModelBundle(decoding:)`) and the Embedded-Swift runtime both call this
// code through `LoadedBundle.load`, so they cannot disagree on a malformed file.
//
// This one file is compiled into both modules (the runtime's copy is a symlink): standard
// library and libc only, no Foundation, no String, no existentials; memory only through
// bundleAllocate (Graph/Memory.swift), so the runtime reports out-of-memory as a status.

#if MYELIN_RUNTIME
import CZlibRuntime
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: META

/// The META section, validated: at most 1024 entries, keys non-empty and unique, and
/// `class_labels` (if present) holding as many `\n`-separated labels as the graph output
/// has elements. Keys and values are read in place (not copied).
public struct BundleMetadata {
    let base: UnsafeRawPointer
    let size: Int
    /// Number of entries.
    public private(set) var count = 0
    /// Total bytes of all keys and values.
    public private(set) var textBytes = 0
    /// The value of `class_labels`, if present, and its number of labels.
    public private(set) var labels: UnsafeRawBufferPointer? = nil
    public private(set) var labelCount = 0

    /// Validates the decoded META section of `size` bytes at `base` for a graph whose
    /// output has `outputSize` elements.
    public init(_ base: UnsafeRawPointer, size: Int, outputSize: Int) throws(BundleStatus) {
        self.base = base
        self.size = size
        var c = BundleCursor(base, count: size)
        count = try c.count(limit: BundleLimits.maxMetadataEntries)
        // The keys (slices of the section), sorted afterwards to find duplicates: n·log n
        // comparisons, not a comparison of every pair (1024 keys of 64 KiB sharing a long
        // prefix would otherwise take 34 GB of memcmp).
        let keys = try bundleAllocate(UnsafeRawBufferPointer.self, count: Swift.max(count, 1))
        defer { free(keys) }
        for i in 0..<count {
            let key = try c.string()
            let value = try c.string()
            guard key.count > 0 else { throw .corrupt }
            keys.advanced(by: i).initialize(to: key)
            textBytes += key.count + value.count
            if bundleBytesEqual(key, "class_labels") { labels = value }
        }
        guard c.atEnd else { throw .corrupt }
        // Unique keys: after sorting (by length, then bytes), equal keys are neighbours.
        let sorted = UnsafeMutableBufferPointer(start: keys, count: count)
        bundleHeapSort(sorted)
        if count > 1 {
            for i in 1..<count where bundleBytesCompare(sorted[i - 1], sorted[i]) == 0 { throw .corrupt }
        }
        if let l = labels {
            labelCount = 1
            for b in l where b == 0x0A { labelCount += 1 }
            guard labelCount == outputSize else { throw .shapeMismatch }
        }
    }

    /// Calls `body` with each key and value, in file order.
    public func forEach(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void) {
        var c = BundleCursor(base, count: size)
        _ = try? c.u32()
        for _ in 0..<count {
            // Validated in init: these reads cannot fail.
            guard let key = try? c.string(), let value = try? c.string() else { return }
            body(key, value)
        }
    }
}

/// Whether two byte strings are equal.
func bundleBytesEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
}

/// Orders byte strings by length, then by bytes (memcmp): negative, zero or positive.
func bundleBytesCompare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    if a.count != b.count { return a.count < b.count ? -1 : 1 }
    return a.count == 0 ? 0 : Int(memcmp(a.baseAddress!, b.baseAddress!, a.count))
}

/// Sorts byte strings in place in the order of `bundleBytesCompare`: a heap sort, n·log n
/// comparisons in the worst case, no allocation, and a tenth of the code of the standard
/// library's generic sort in the runtime library.
func bundleHeapSort(_ items: UnsafeMutableBufferPointer<UnsafeRawBufferPointer>) {
    /// Moves items[root] down until the heap below it (within 0..<end) is ordered.
    func siftDown(_ root: Int, _ end: Int) {
        var parent = root
        while true {
            var child = 2 * parent + 1
            if child >= end { return }
            if child + 1 < end && bundleBytesCompare(items[child], items[child + 1]) < 0 { child += 1 }
            if bundleBytesCompare(items[parent], items[child]) >= 0 { return }
            items.swapAt(parent, child)
            parent = child
        }
    }
    let n = items.count
    var start = n / 2
    while start > 0 { start -= 1; siftDown(start, n) }
    var end = n
    while end > 1 {
        end -= 1
        items.swapAt(0, end)
        siftDown(0, end)
    }
}

/// Whether the bytes equal the ASCII `literal`.
func bundleBytesEqual(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
    bundleBytesEqual(bytes, UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
}

// MARK: TEST

/// The TEST section, validated: 1 … 64 vectors, finite non-negative tolerances, the
/// graph's input and output counts and sizes, and exactly the floats they imply.
public struct BundleSelfTestRecord {
    /// Number of vectors.
    public var count = 0
    public var rtol: Float = 0
    public var atol: Float = 0
    /// Floats per vector: every input's elements, then every output's.
    public var stride = 0
    /// `count · stride` f32, vector after vector, in place and unaligned.
    public var floats: UnsafeRawPointer

    /// Validates the decoded TEST section of `size` bytes at `base` for `graph`.
    public init(_ base: UnsafeRawPointer, size: Int, graph: Graph) throws(BundleStatus) {
        var c = BundleCursor(base, count: size)
        count = try c.count(limit: BundleLimits.maxSelfTestVectors)
        guard count >= 1 else { throw .corrupt }
        rtol = try c.f32()
        atol = try c.f32()
        guard rtol.isFinite, rtol >= 0, atol.isFinite, atol >= 0 else { throw .corrupt }
        for pass in 0..<2 {
            let n = pass == 0 ? graph.inputCount : graph.outputCount
            guard try c.u32() == UInt32(n) else { throw .shapeMismatch }
            for i in 0..<n {
                let elements = pass == 0 ? graph.inputValue(i).count : graph.outputValue(i).count
                guard try c.u32() == UInt32(elements) else { throw .shapeMismatch }
                stride += elements
            }
        }
        let (total, overflow) = count.multipliedReportingOverflow(by: stride)
        guard !overflow, total <= Int.max / 4 else { throw .limitExceeded }
        guard c.remaining == total * 4 else { throw .corrupt }
        floats = try c.bytes(total * 4)
    }
}
