/// Stops the program with `message` when `condition` is false, in debug and release builds
/// alike. Myelin uses it for every shape, index and argument check of its public API:
/// `precondition` drops its message under `-O`, and `-Ounchecked` drops the check itself.
///
/// Messages name the op and the shapes involved, e.g.
/// `linear: input shape [5, 3] does not match weight shape [10, 784] (expected [batch, 784])`.
@inline(__always)
func check(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if _slowPath(!condition) { fatalError(message(), file: file, line: line) }
}
