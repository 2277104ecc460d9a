// The `.myelin` bundle format (docs/bundle-format.md): codes, limits, and the parts of
// reading that both the exporter's Swift reader and the Embedded-Swift runtime need —
// bounds-checked cursor, header and section table validation, CRC, deflate decoding,
// byte (un)shuffling and half-precision conversion.
//
// This one file is compiled into both modules (the runtime's copy is a symlink), so it
// uses only the standard library and zlib, no Foundation and no String.

#if MYELIN_RUNTIME
import CZlibRuntime
#else
import CZlib
#endif

/// Outcome of a bundle or runtime operation; the raw values are the C API's `myelin_status`.
public enum BundleStatus: Int32, Error {
    case ok = 0
    case invalidArgument = 1
    case io = 2
    case notABundle = 3
    case unsupportedVersion = 4
    case corrupt = 5
    case checksum = 6
    case unsupported = 7
    case shapeMismatch = 8
    case outOfMemory = 9
    case limitExceeded = 10
    case notFound = 11
    case selfTestFailed = 12
}

/// Element types of tensors and values.
public enum BundleDType: UInt32 {
    case f32 = 1, f16 = 2, i8 = 3, i32 = 4, u8 = 5, bf16 = 6

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .i8, .u8: return 1
        }
    }

    /// The format's name ("f32", …).
    public var name: StaticString {
        switch self {
        case .f32: return "f32"
        case .f16: return "f16"
        case .i8: return "i8"
        case .i32: return "i32"
        case .u8: return "u8"
        case .bf16: return "bf16"
        }
    }
}

/// How a tensor's bytes are arranged in DATA (docs/bundle-format.md, "Tensor record").
public enum BundleTensorLayout: UInt32 {
    /// Row-major, the last dimension contiguous.
    case rowMajor = 0
    /// `linearPackWeights` (PackedGEMM.swift) of an `[out, in]` f32 or f16 matrix.
    case packedLinear = 1
    /// `qgemmPackWeights` (QuantizedGEMM.swift) of an `[out, in]` i8 matrix.
    case packedQGEMM = 2
}

/// Payload types of op attributes.
public enum BundleAttributeType: UInt32 {
    case int = 1, float = 2, ints = 3, floats = 4
}

/// How a bundle stores its weights.
public enum BundlePrecision: UInt32 {
    case f32 = 1, f16 = 2, int8 = 3
}

/// Operations of the graph, in the numbering of the format. Ranges by family: 1–21 core; 22–39 convolutional (Ops/Conv*.swift, Ops/Pool*.swift);
/// 40–59 sequence (Ops/Sequence*.swift). Attribute keys likewise: 1–9 core, 10–19 convolutional,
/// 20–29 sequence.
public enum BundleOpCode: UInt32 {
    case linear = 1, qlinear = 2, quantize = 3, relu = 4, leakyRelu = 5, elu = 6
    case sigmoid = 7, tanh = 8, softmax = 9, logSoftmax = 10, scaleShift = 11
    case dequantize = 12, add = 13, sub = 14, mul = 15, div = 16
    case concat = 17, reshape = 18, transpose = 19, slice = 20, matmul = 21
    // Sequence family (Ops/Sequence*.swift).
    case embedding = 40, rnn = 41, lstm = 42, gru = 43, layerNorm = 44, gelu = 45
    case attention = 46, positionalEncoding = 47, lastStep = 48
    // Convolutional family (23 is qconv2d).
    case conv2d = 22, qconv2d = 23, convTranspose2d = 24, maxPool2d = 25, avgPool2d = 26, adaptiveAvgPool2d = 27
    case maxUnpool2d = 28, upsampleNearest2d = 29, channelShuffle = 30
}

/// Attribute keys of op records.
public enum BundleAttribute: UInt32 {
    case activation = 1, slope = 2, alpha = 3, axis = 4, shape = 5, perm = 6, start = 7, end = 8, step = 9
    // Sequence family.
    case nonlinearity = 20, eps = 21, axes = 22, approximate = 23, heads = 24, causal = 25, maxContext = 26, reverse = 27, scoreScale = 28
    // Convolutional family.
    case stride = 10, padding = 11, dilation = 12, groups = 13, kernel = 14, countIncludePad = 15
    case outputSize = 16, scale = 17, outputPadding = 18

    /// The format's name of the key.
    public var name: StaticString {
        switch self {
        case .activation: return "activation"
        case .slope: return "slope"
        case .alpha: return "alpha"
        case .axis: return "axis"
        case .shape: return "shape"
        case .perm: return "perm"
        case .start: return "start"
        case .end: return "end"
        case .step: return "step"
        case .nonlinearity: return "nonlinearity"
        case .eps: return "eps"
        case .axes: return "axes"
        case .approximate: return "approximate"
        case .heads: return "heads"
        case .causal: return "causal"
        case .maxContext: return "max_context"
        case .reverse: return "reverse"
        case .scoreScale: return "score_scale"
        case .stride: return "stride"
        case .padding: return "padding"
        case .dilation: return "dilation"
        case .groups: return "groups"
        case .kernel: return "kernel"
        case .countIncludePad: return "count_include_pad"
        case .outputSize: return "output_size"
        case .scale: return "scale"
        case .outputPadding: return "output_padding"
        }
    }
}

/// Activation fused into `linear` and `qlinear`.
public enum BundleActivation: Int64 {
    case none = 0, relu = 1
}

/// Section kinds: the FourCC bytes read as a little-endian u32.
public enum BundleSectionKind {
    public static let graph: UInt32 = fourCC(0x47, 0x52, 0x50, 0x48)     // "GRPH"
    public static let data: UInt32 = fourCC(0x44, 0x41, 0x54, 0x41)      // "DATA"
    public static let metadata: UInt32 = fourCC(0x4D, 0x45, 0x54, 0x41)  // "META"
    public static let selfTest: UInt32 = fourCC(0x54, 0x45, 0x53, 0x54)  // "TEST"

    static func fourCC(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32) -> UInt32 { a | b << 8 | c << 16 | d << 24 }
}

/// Fixed numbers of the format.
public enum BundleLayout {
    /// "\x89MYELIN\n"
    public static let magic: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0x89, 0x4D, 0x59, 0x45, 0x4C, 0x49, 0x4E, 0x0A)
    public static let versionMajor: UInt16 = 2
    public static let versionMinor: UInt16 = 0
    public static let headerSize = 32
    public static let sectionEntrySize = 40
    /// Alignment of tensor offsets inside DATA and of the decoded DATA buffer.
    public static let tensorAlignment = 64
    /// Section encodings: raw bytes; a raw deflate stream (RFC 1951, as zlib writes with
    /// windowBits −15); deflate of the bytes shuffled into 4 planes (byte b of every
    /// 4-byte lane together), which puts float exponents side by side.
    public static let encodingStored: UInt32 = 0
    public static let encodingDeflate: UInt32 = 1
    public static let encodingDeflateShuffled: UInt32 = 2

    /// Whether the 8 bytes at `p` are the magic.
    public static func hasMagic(_ p: UnsafeRawPointer) -> Bool {
        let m = magic
        return p.load(fromByteOffset: 0, as: UInt8.self) == m.0 && p.load(fromByteOffset: 1, as: UInt8.self) == m.1
            && p.load(fromByteOffset: 2, as: UInt8.self) == m.2 && p.load(fromByteOffset: 3, as: UInt8.self) == m.3
            && p.load(fromByteOffset: 4, as: UInt8.self) == m.4 && p.load(fromByteOffset: 5, as: UInt8.self) == m.5
            && p.load(fromByteOffset: 6, as: UInt8.self) == m.6 && p.load(fromByteOffset: 7, as: UInt8.self) == m.7
    }
}

/// Limits every reader enforces before allocating (see the format's "Limits").
public enum BundleLimits {
    public static let maxFileBytes = 1 << 30
    public static let maxSections = 16
    public static let maxSectionBytes = 512 << 20
    public static let maxTotalSectionBytes = 1 << 30
    public static let maxTensors = 1024
    public static let maxValues = 1024
    public static let maxOps = 1024
    /// Load-time packed weights (all ops, after sharing) per byte of decoded DATA, plus 1 MiB:
    /// f16 weights widened to f32 (2×) in a tile-padded copy, plus the lane-ordered copy of a
    /// convolution that runs in 32-channel lane blocks (another 2×) — just over 4× for an f16
    /// conv stack, so 5.
    public static let preparedPerDataByte = 5
    public static let maxOperands = 16
    /// Graph inputs, and graph outputs.
    public static let maxGraphIO = 16
    /// Entries of an int64 or float64 list attribute.
    public static let maxListEntries = 64
    /// Rank of a tensor (a constant), and per-sample rank of a value (the batch comes on top).
    public static let maxRank = 6
    public static let maxValueRank = 5
    public static let maxDimension = 1 << 24
    public static let maxElements = 1 << 28
    public static let maxStringBytes = 65536
    public static let maxMetadataEntries = 1024
    public static let maxSelfTestVectors = 64
    /// Samples per run a context may be created for.
    public static let maxBatch = 1 << 20
    /// Deflate cannot expand more than about 1032:1; a larger claim is a lie.
    public static let maxZlibRatio = 1032
    /// A deflated section may decode to at most `maxInflateRatio` × its stored bytes plus
    /// `inflateAllowance` (beyond it: `.limitExceeded`), so a load's work and memory grow
    /// with the file's size, not with what it claims: a file of F bytes decodes to at most
    /// 16 · F + 256 KiB. Real sections inflate 1.1–6.2× (f32 weights about 1.2×, graphs
    /// and metadata up to about 6×); the exporter stores what would compress further
    /// (runs of zeros) in stored deflate blocks.
    public static let maxInflateRatio = 16
    public static let inflateAllowance = 64 << 10
}

/// Bounds-checked little-endian reading over a byte range; every overrun is `.corrupt`.
public struct BundleCursor {
    public let base: UnsafeRawPointer
    public let count: Int
    public private(set) var offset = 0

    public init(_ base: UnsafeRawPointer, count: Int) {
        self.base = base
        self.count = count
    }

    public var remaining: Int { count - offset }
    public var atEnd: Bool { offset == count }

    @inline(__always)
    mutating func take(_ n: Int) throws(BundleStatus) -> UnsafeRawPointer {
        guard n >= 0, n <= count - offset else { throw .corrupt }
        let p = base + offset
        offset += n
        return p
    }

    public mutating func u32() throws(BundleStatus) -> UInt32 {
        UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self))
    }

    public mutating func i32() throws(BundleStatus) -> Int32 {
        Int32(littleEndian: try take(4).loadUnaligned(as: Int32.self))
    }

    public mutating func u64() throws(BundleStatus) -> UInt64 {
        UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self))
    }

    public mutating func f32() throws(BundleStatus) -> Float {
        Float(bitPattern: try u32())
    }

    public mutating func f64() throws(BundleStatus) -> Double {
        Double(bitPattern: try u64())
    }

    /// A count bounded by `limit` (beyond it: `.limitExceeded`).
    public mutating func count(limit: Int) throws(BundleStatus) -> Int {
        let n = try u32()
        guard n <= UInt32(limit) else { throw .limitExceeded }
        return Int(n)
    }

    /// A `str`: returns its bytes (not copied) after checking the length limit and that it holds no NUL.
    public mutating func string() throws(BundleStatus) -> UnsafeRawBufferPointer {
        let n = try count(limit: BundleLimits.maxStringBytes)
        let p = try take(n)
        let bytes = UnsafeRawBufferPointer(start: p, count: n)
        for b in bytes where b == 0 { throw .corrupt }
        return bytes
    }

    /// Raw bytes of length `n` (not copied).
    public mutating func bytes(_ n: Int) throws(BundleStatus) -> UnsafeRawPointer {
        try take(n)
    }

    /// A shape record: u32 rank (0 … `maxRank`) then u32 dims (1 … 2^24), element count ≤ 2^28.
    public mutating func shape(maxRank: Int = BundleLimits.maxRank) throws(BundleStatus) -> BundleShape {
        let r = try u32()
        guard r <= UInt32(maxRank) else { throw .limitExceeded }
        var shape = BundleShape()
        shape.rank = Int(r)
        var elements = 1
        for i in 0..<shape.rank {
            let d = try u32()
            guard d >= 1 else { throw .corrupt }
            guard d <= UInt32(BundleLimits.maxDimension) else { throw .limitExceeded }
            shape.setDim(i, Int(d))
            let (product, overflow) = elements.multipliedReportingOverflow(by: Int(d))
            guard !overflow, product <= BundleLimits.maxElements else { throw .limitExceeded }
            elements = product
        }
        shape.count = elements
        return shape
    }
}

/// A validated shape of rank 0 … 6 (fixed storage: no allocation). Unused dims are 1.
public struct BundleShape {
    public var rank = 0
    public var dims = (1, 1, 1, 1, 1, 1)
    /// Product of the dims (1 for rank 0).
    public var count = 1

    public init() {}

    /// A shape from up to 6 dims (each ≥ 1).
    public init(rank: Int, _ d: (Int, Int, Int, Int, Int, Int)) {
        self.rank = rank
        dims = d
        count = 1
        for i in 0..<rank { count *= dim(i) }
    }

    /// Dim `i` (indices outside 0..<6 read the last slot). Read from memory by index: a switch
    /// over the tuple costs a branch ladder at each of its many inlined uses (-2 KB stripped).
    @inline(__always)
    public func dim(_ i: Int) -> Int {
        let slot = UInt(bitPattern: i) < 6 ? i : 5
        var copy = dims
        return withUnsafePointer(to: &copy) { UnsafeRawPointer($0).assumingMemoryBound(to: Int.self)[slot] }
    }

    /// Sets dim `i` (indices outside 0..<6 write the last slot).
    @inline(__always)
    public mutating func setDim(_ i: Int, _ d: Int) {
        let slot = UInt(bitPattern: i) < 6 ? i : 5
        withUnsafeMutablePointer(to: &dims) { UnsafeMutableRawPointer($0).assumingMemoryBound(to: Int.self)[slot] = d }
    }

    /// Product of dims `[from, to)`.
    public func product(_ from: Int, _ to: Int) -> Int {
        var p = 1
        var i = from
        while i < to { p *= dim(i); i += 1 }
        return p
    }

    public func same(as other: BundleShape) -> Bool {
        guard rank == other.rank else { return false }
        for i in 0..<rank where dim(i) != other.dim(i) { return false }
        return true
    }
}

/// One entry of the section table.
public struct BundleSection {
    public var kind: UInt32 = 0
    public var encoding: UInt32 = 0
    public var offset = 0
    public var storedSize = 0
    public var size = 0
    public var crc: UInt32 = 0
    public var present = false
}

/// The validated header: the four known sections (unknown kinds are bounds-checked and skipped).
public struct BundleSectionTable {
    public var graph = BundleSection()
    public var data = BundleSection()
    public var metadata = BundleSection()
    public var selfTest = BundleSection()

    /// Validates header and section table of `count` bytes at `base` in the documented
    /// order (length and magic, version, header length, header CRC, entries, section CRCs).
    public static func parse(_ base: UnsafeRawPointer, count: Int) throws(BundleStatus) -> BundleSectionTable {
        guard count >= 8 else { throw .notABundle }
        guard BundleLayout.hasMagic(base) else { throw .notABundle }
        guard count >= 12 else { throw .corrupt }
        var c = BundleCursor(base, count: count)
        _ = try c.bytes(8)
        let major = UInt16(littleEndian: try c.bytes(2).loadUnaligned(as: UInt16.self))
        guard major == BundleLayout.versionMajor else { throw .unsupportedVersion }
        _ = try c.bytes(2)  // minor: newer minor versions are readable
        guard count >= BundleLayout.headerSize else { throw .corrupt }
        let flags = try c.u32()
        let fileSize = try c.u64()
        let sectionCount = try c.u32()
        let headerCRC = try c.u32()
        guard fileSize == UInt64(count) else { throw .corrupt }
        guard sectionCount >= 1 else { throw .corrupt }
        guard sectionCount <= UInt32(BundleLimits.maxSections) else { throw .limitExceeded }
        let tableBytes = Int(sectionCount) * BundleLayout.sectionEntrySize
        guard tableBytes <= count - BundleLayout.headerSize else { throw .corrupt }
        var crc = bundleCRC32(base, 28, 0)
        crc = bundleCRC32(base + BundleLayout.headerSize, tableBytes, crc)
        guard crc == headerCRC else { throw .checksum }
        guard flags == 0 else { throw .unsupported }

        var table = BundleSectionTable()
        var total = 0
        let payloadStart = BundleLayout.headerSize + tableBytes
        for _ in 0..<Int(sectionCount) {
            var s = BundleSection()
            s.kind = try c.u32()
            s.encoding = try c.u32()
            let offset = try c.u64(), stored = try c.u64(), size = try c.u64()
            s.crc = try c.u32()
            let reserved = try c.u32()
            guard reserved == 0 else { throw .corrupt }
            // Bounds before anything else: offsets and sizes are untrusted 64-bit numbers.
            guard offset <= UInt64(count), stored <= UInt64(count) - offset, offset >= UInt64(payloadStart) else { throw .corrupt }
            s.offset = Int(offset)
            s.storedSize = Int(stored)
            // A claim beyond the cap is refused before anything is allocated.
            guard size <= UInt64(BundleLimits.maxSectionBytes) else { throw .limitExceeded }
            switch s.encoding {
            case BundleLayout.encodingStored:
                guard size == stored else { throw .corrupt }
            case BundleLayout.encodingDeflate, BundleLayout.encodingDeflateShuffled:
                guard size <= stored * UInt64(BundleLimits.maxZlibRatio) + 64 else { throw .corrupt }
                guard size <= stored * UInt64(BundleLimits.maxInflateRatio) + UInt64(BundleLimits.inflateAllowance) else {
                    throw .limitExceeded
                }
                guard s.encoding == BundleLayout.encodingDeflate || size % 4 == 0 else { throw .corrupt }
            default:
                throw .unsupported
            }
            s.size = Int(size)
            s.present = true
            switch s.kind {
            case BundleSectionKind.graph: try table.graph.assignOnce(s)
            case BundleSectionKind.data: try table.data.assignOnce(s)
            case BundleSectionKind.metadata: try table.metadata.assignOnce(s)
            case BundleSectionKind.selfTest: try table.selfTest.assignOnce(s)
            default: continue   // unknown kinds are skipped without decoding
            }
            total += s.size
            guard total <= BundleLimits.maxTotalSectionBytes else { throw .limitExceeded }
        }
        guard table.graph.present, table.data.present else { throw .corrupt }
        try table.graph.verifyCRC(file: base)
        try table.data.verifyCRC(file: base)
        try table.metadata.verifyCRC(file: base)
        try table.selfTest.verifyCRC(file: base)
        return table
    }
}

extension BundleSection {
    mutating func assignOnce(_ s: BundleSection) throws(BundleStatus) {
        guard !present else { throw .corrupt }
        self = s
    }

    func verifyCRC(file: UnsafeRawPointer) throws(BundleStatus) {
        guard !present || bundleCRC32(file + offset, storedSize, 0) == crc else { throw .checksum }
    }

    /// Whether decoding needs a scratch buffer of `size` bytes (the shuffled encoding).
    public var needsScratch: Bool { encoding == BundleLayout.encodingDeflateShuffled }

    /// Decodes the section from the file at `file` into `destination` (`size` bytes);
    /// `scratch` (`size` bytes) is needed when `needsScratch`. A deflate stream must
    /// produce exactly `size` bytes and end exactly at the end of the stored bytes.
    public func decode(file: UnsafeRawPointer, into destination: UnsafeMutableRawPointer,
                       scratch: UnsafeMutableRawPointer?) throws(BundleStatus) {
        let source = file + offset
        if encoding == BundleLayout.encodingStored {
            if size > 0 { destination.copyMemory(from: source, byteCount: size) }
            return
        }
        let shuffled = encoding == BundleLayout.encodingDeflateShuffled
        guard !shuffled || scratch != nil else { throw .invalidArgument }
        let output = shuffled ? scratch! : destination
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw .outOfMemory }
        defer { inflateEnd(&stream) }
        // zlib counts in 32-bit units; sections are capped well below 4 GiB.
        stream.next_in = UnsafeMutablePointer(mutating: source.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(storedSize)
        stream.next_out = output.assumingMemoryBound(to: UInt8.self)
        stream.avail_out = UInt32(size)
        // With exactly `size` bytes of room, a stream that would write more (a zlib bomb
        // behind a small declared size) cannot reach its end and is refused.
        let result = inflate(&stream, Z_FINISH)
        if result == Z_MEM_ERROR { throw .outOfMemory }
        guard result == Z_STREAM_END, stream.total_out == UInt(size), stream.avail_in == 0 else { throw .corrupt }
        if shuffled { byteUnshuffle(UnsafeRawPointer(output), into: destination, count: size) }
    }
}

/// Byte planes → 4-byte lanes: `dst[4i + b] = src[b·(count/4) + i]` (`count` a multiple of 4).
public func byteUnshuffle(_ src: UnsafeRawPointer, into dst: UnsafeMutableRawPointer, count: Int) {
    let lanes = count / 4
    let s = src.assumingMemoryBound(to: UInt8.self), d = dst.assumingMemoryBound(to: UInt8.self)
    for i in 0..<lanes {
        d[4 * i] = s[i]; d[4 * i + 1] = s[lanes + i]; d[4 * i + 2] = s[2 * lanes + i]; d[4 * i + 3] = s[3 * lanes + i]
    }
}

/// 4-byte lanes → byte planes, the inverse of `byteUnshuffle`.
public func byteShuffle(_ src: UnsafeRawPointer, into dst: UnsafeMutableRawPointer, count: Int) {
    let lanes = count / 4
    let s = src.assumingMemoryBound(to: UInt8.self), d = dst.assumingMemoryBound(to: UInt8.self)
    for i in 0..<lanes {
        d[i] = s[4 * i]; d[lanes + i] = s[4 * i + 1]; d[2 * lanes + i] = s[4 * i + 2]; d[3 * lanes + i] = s[4 * i + 3]
    }
}

/// CRC-32 (zlib's polynomial) of `count` bytes, continuing from `crc`.
@inline(__always)
public func bundleCRC32(_ p: UnsafeRawPointer, _ count: Int, _ crc: UInt32) -> UInt32 {
    var c = UInt(crc)
    var q = p.assumingMemoryBound(to: UInt8.self)
    var left = count
    while left > 0 {
        let chunk = min(left, 1 << 30)
        c = crc32(c, q, UInt32(chunk))
        q += chunk
        left -= chunk
    }
    return UInt32(truncatingIfNeeded: c)
}

// MARK: Half precision

/// f32 → f16 bits, round to nearest even; overflow gives ±infinity, NaN stays NaN.
@inline(__always)
public func floatToHalfBits(_ value: Float) -> UInt16 {
    let x = value.bitPattern
    let sign = UInt16(truncatingIfNeeded: (x >> 16) & 0x8000)
    let exponent = Int((x >> 23) & 0xFF)
    var mantissa = x & 0x7F_FFFF
    if exponent == 0xFF {                       // Inf or NaN
        return sign | 0x7C00 | (mantissa != 0 ? 0x200 | UInt16(truncatingIfNeeded: mantissa >> 13) : 0)
    }
    let e = exponent - 127 + 15
    if e >= 0x1F { return sign | 0x7C00 }       // too large: infinity
    if e <= 0 {                                 // subnormal half or zero
        if e < -10 { return sign }
        mantissa |= 0x80_0000
        let shift = UInt32(14 - e)
        let half = mantissa >> shift
        let rest = mantissa & ((1 << shift) - 1)
        let halfway = UInt32(1) << (shift - 1)
        let roundUp = rest > halfway || (rest == halfway && (half & 1) != 0)
        return sign | UInt16(truncatingIfNeeded: half + (roundUp ? 1 : 0))
    }
    let half = UInt32(e) << 10 | mantissa >> 13
    let rest = mantissa & 0x1FFF
    let roundUp = rest > 0x1000 || (rest == 0x1000 && (half & 1) != 0)
    // A carry out of the mantissa correctly bumps the exponent (up to infinity).
    return sign | UInt16(truncatingIfNeeded: half + (roundUp ? 1 : 0))
}

/// f16 bits → f32 (exact).
@inline(__always)
public func halfBitsToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa · 2^-24, exact in f32.
        let magnitude = Float(mantissa) * (1.0 / 16_777_216.0)
        return Float(bitPattern: sign | magnitude.bitPattern)
    }
    if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13) }
    return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
}
