// Small SIMD helpers for the hot elementwise loops (stdlib only, shareable with the runtime).
//
// LLVM does not vectorise scalar loops containing a float division here, and the standard
// library's SIMD `squareRoot()` runs lane by lane; these helpers give the compiler shapes it
// turns into vdivps / vsqrtps (with `-Xcc -fno-math-errno`, set in Package.swift).

public typealias Float16x = SIMD16<Float>

extension SIMD16 where Scalar == Float {
    /// 16 floats from `p` (no alignment needed).
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> Self { UnsafeRawPointer(p).loadUnaligned(as: Self.self) }

    /// 16 floats from `p` (no alignment needed).
    @inlinable @inline(__always)
    public static func load(_ p: UnsafeMutablePointer<Float>) -> Self { UnsafeRawPointer(p).loadUnaligned(as: Self.self) }

    /// Stores the 16 lanes at `p` (no alignment needed).
    @inlinable @inline(__always)
    public func store(_ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: self, as: Self.self) }

    /// Lane-wise square root as one vector instruction.
    @inlinable @inline(__always)
    public func vectorSquareRoot() -> Self {
        var r = self
        withUnsafeMutableBytes(of: &r) { raw in
            let p = raw.baseAddress!.assumingMemoryBound(to: Float.self)
            for i in 0..<16 { p[i] = p[i].squareRoot() }
        }
        return r
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    /// Copies `count` floats from `source` with one `memmove` (the regions may overlap):
    /// smaller than `update(from:count:)`, which the runtime's size-optimised build expands
    /// into forward and backward copy loops.
    @inlinable @inline(__always)
    public func copyFloats(from source: UnsafePointer<Float>, count: Int) {
        UnsafeMutableRawPointer(self).copyMemory(from: source, byteCount: count * MemoryLayout<Float>.stride)
    }
}
