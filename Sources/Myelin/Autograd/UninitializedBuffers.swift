/// `count` floats left unwritten (no zero fill), for buffers an op overwrites whole before
/// reading: the zero fill of `[Float](repeating: 0, count:)` is a full extra pass over memory.
@inline(__always)
func uninitializedFloats(_ count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}
