// The loaded model: plain structs in memory obtained from posix_memalign, so that every
// allocation failure becomes MYELIN_ERR_OUT_OF_MEMORY instead of a trap, and a model is
// immutable after loading (threads share it; each uses its own context).

import CZlibRuntime

/// 64-byte aligned allocation of at least one byte; failure is `.outOfMemory`.
///
/// Buffers of `hugePageThreshold` bytes or more (a model's weights) are placed on 2 MiB
/// boundaries and offered to the kernel as transparent huge pages: loading then takes a
/// handful of page faults instead of hundreds (which dominated the load time of an f32
/// MLP). Where huge pages are unavailable `madvise` fails harmlessly.
@inline(__always)
func runtimeAllocate(bytes: Int) throws(BundleStatus) -> UnsafeMutableRawPointer {
    var p: UnsafeMutableRawPointer? = nil
    guard bytes >= 0 else { throw .outOfMemory }
    if bytes >= hugePageThreshold {
        let size = (bytes + hugePageSize - 1) / hugePageSize * hugePageSize
        guard posix_memalign(&p, hugePageSize, size) == 0, let q = p else { throw .outOfMemory }
        _ = madvise(q, size, MADV_HUGEPAGE)
        return q
    }
    guard posix_memalign(&p, 64, Swift.max(bytes, 64)) == 0, let q = p else { throw .outOfMemory }
    return q
}

let hugePageSize = 2 << 20
let hugePageThreshold = 512 << 10

/// Room for `count` values of `T` (uninitialised); the size is overflow-checked.
@inline(__always)
func runtimeAllocate<T>(_ type: T.Type, count: Int) throws(BundleStatus) -> UnsafeMutablePointer<T> {
    let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
    guard !overflow, count >= 0 else { throw .limitExceeded }
    return try runtimeAllocate(bytes: bytes).bindMemory(to: T.self, capacity: count)
}

/// `a + b` and `a · b` with overflow reported as `.limitExceeded`.
@inline(__always)
func checkedAdd(_ a: Int, _ b: Int) throws(BundleStatus) -> Int {
    let (r, o) = a.addingReportingOverflow(b)
    guard !o else { throw .limitExceeded }
    return r
}

@inline(__always)
func checkedMultiply(_ a: Int, _ b: Int) throws(BundleStatus) -> Int {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    guard !o else { throw .limitExceeded }
    return r
}

/// An activation between ops. Shapes are per sample.
struct RuntimeValue {
    var dtype = BundleDType.f32
    var shape = BundleShape()
    /// Elements per sample in a buffer (u8 rows are padded to 64 for the int8 kernel).
    var stride = 0
    var scale: Float = 0
    var zeroPoint: Int32 = 0
    var count: Int { shape.count }
}

/// One op, ready to run: weights packed for the kernels, quantisation constants precomputed.
struct RuntimeOp {
    var code = BundleOpCode.relu
    var input = 0
    var output = 0
    var inFeatures = 0
    var outFeatures = 0
    var relu = false
    /// `leaky_relu` slope or `elu` alpha.
    var parameter: Float = 0
    /// `quantize`: 1/scale and zero point of the output.
    var inverseScale: Float = 0
    var zeroPoint: Int32 = 0
    /// `linear`: packed f32 (PackedGEMM layout); `qlinear`: packed i8 (QuantizedGEMM layout).
    var weights: UnsafeMutableRawPointer? = nil
    /// `linear`: f32 bias or nil; `qlinear`: i32 bias.
    var bias: UnsafeMutableRawPointer? = nil
    /// `qlinear`: per-channel multipliers; `scale_shift`: scale.
    var multipliers: UnsafeMutablePointer<Float>? = nil
    /// `scale_shift`: shift.
    var shift: UnsafeMutablePointer<Float>? = nil
    /// Tensor ids, used while loading.
    var tensorIDs = (-1, -1, -1)
}

/// A metadata entry: NUL-terminated key and value owned by the model.
struct RuntimeMetadata {
    var key: UnsafePointer<CChar>
    var value: UnsafePointer<CChar>
}

/// Everything `myelin_model_*` exposes. Owned memory: `values`, `ops`, `arena` (weights),
/// `strings` (metadata and label text), `metadata`, `labels`, `selfTest`.
struct RuntimeModel {
    var precision: UInt32 = 0
    var values: UnsafeMutablePointer<RuntimeValue>? = nil
    var valueCount = 0
    var ops: UnsafeMutablePointer<RuntimeOp>? = nil
    var opCount = 0
    var inputValue = 0
    var outputValue = 0
    var arena: UnsafeMutableRawPointer? = nil
    var strings: UnsafeMutableRawPointer? = nil
    var metadata: UnsafeMutablePointer<RuntimeMetadata>? = nil
    var metadataCount = 0
    var labels: UnsafeMutablePointer<UnsafePointer<CChar>>? = nil
    var labelCount = 0
    /// Self-test: `selfTestCount` inputs then as many expected outputs, all f32.
    var selfTest: UnsafeMutablePointer<Float>? = nil
    var selfTestCount = 0
    var selfTestRTol: Float = 0
    var selfTestATol: Float = 0

    var input: RuntimeValue { values![inputValue] }
    var output: RuntimeValue { values![outputValue] }
}

/// Frees a model and everything it owns (any field may still be nil during loading).
func runtimeModelDestroy(_ model: UnsafeMutablePointer<RuntimeModel>) {
    let m = model.pointee
    free(m.values)
    free(m.ops)
    free(m.arena)
    free(m.strings)
    free(m.metadata)
    free(m.labels)
    free(m.selfTest)
    model.deinitialize(count: 1)
    free(model)
}
