import Foundation

/// The text of `myelin inspect`: sections, graph with shapes and dtypes, tensors and their
/// sizes, metadata, and the self-test run by the Swift reference executor.
///
/// ```swift
/// let result = try BundleInspector.inspect(path: "model.myelin")
/// print(result.report)
/// exit(result.selfTestPassed == false ? 1 : 0)
/// ```
public enum BundleInspector {
    public struct Result {
        public var bundle: ModelBundle
        public var report: String
        /// nil when the bundle has no self-test vectors.
        public var selfTestPassed: Bool?
    }

    /// Reads, validates and describes the bundle at `path`.
    /// - Throws: `BundleError` (with the runtime's status) for unreadable or invalid files.
    public static func inspect(path: String) throws -> Result {
        let bytes: [UInt8]
        bytes = try AtomicFile.read(path)   // a MyelinError naming the path and the problem
        return try inspect(bytes: bytes, name: path)
    }

    public static func inspect(bytes: [UInt8], name: String) throws -> Result {
        let bundle = try ModelBundle(decoding: bytes)
        var lines: [String] = []
        let minor = bytes.count >= 12 ? UInt16(bytes[10]) | UInt16(bytes[11]) << 8 : 0
        lines.append("\(name): Myelin bundle \(BundleLayout.versionMajor).\(minor), \(bytes.count) bytes, precision \(bundle.precision.name)")
        // Decoding succeeded, so the header parses.
        let table = bytes.withUnsafeBytes { raw in try? BundleSectionTable.parse(raw.baseAddress!, count: raw.count) }!
        var sections: [String] = []
        for (kind, s) in [("GRPH", table.graph), ("DATA", table.data), ("META", table.metadata), ("TEST", table.selfTest)] where s.present {
            let encoding = ["stored", "deflate", "deflate, shuffled"][Int(s.encoding)]
            sections.append("\(kind) \(s.storedSize) B \(encoding) → \(s.size) B")
        }
        lines.append("sections: " + sections.joined(separator: ", "))

        func describe(_ id: Int) -> String {
            let v = bundle.values[id]
            let quant = v.scale != 0 ? " (scale \(v.scale), zero \(v.zeroPoint))" : ""
            return "\(v.name) \(dtypeName(v.dtype)) \(v.shape)\(quant)"
        }
        for id in bundle.inputs { lines.append("input:  " + describe(id)) }
        for id in bundle.outputs { lines.append("output: " + describe(id)) }
        lines.append("graph (\(bundle.ops.count) ops):")
        for (i, op) in bundle.ops.enumerated() {
            var text = "  \(i) \(op.code.map { "\(OpRegistry.description($0).name)" } ?? "op\(op.opcode)"): "
            text += op.inputs.map(describe).joined(separator: ", ") + " → " + op.outputs.map(describe).joined(separator: ", ")
            for (key, value) in op.attributes {
                let name = BundleAttribute(rawValue: key).map { "\($0.name)" } ?? "attribute\(key)"
                switch value {
                case .int(let v) where key == BundleAttribute.activation.rawValue: text += v == BundleActivation.relu.rawValue ? ", relu" : ""
                case .int(let v): text += ", \(name) \(v)"
                case .float(let v): text += ", \(name) \(v)"
                case .ints(let v): text += ", \(name) \(v)"
                case .floats(let v): text += ", \(name) \(v)"
                }
            }
            if !op.tensors.isEmpty { text += "; " + op.tensors.map { bundle.tensors[$0].name }.joined(separator: ", ") }
            lines.append(text)
        }
        // The runtime's memory plan for one sample (values reuse the space of dead ones).
        if let layout = try? BundleExecutor(bundle, reference: false).arenaLayout(maxBatch: 1) {
            let sum = bundle.values.indices.filter { !bundle.inputs.contains($0) && !bundle.outputs.contains($0) }
                .reduce(0) { $0 + bundle.values[$1].count * (BundleDType(rawValue: bundle.values[$1].dtype)?.size ?? 4) }
            lines.append("memory per sample: arena \(layout.values) B for values totalling \(sum) B, kernel scratch \(layout.scratch) B")
        }
        let total = bundle.tensors.reduce(0) { $0 + $1.data.count }
        lines.append("tensors (\(bundle.tensors.count), \(total) B):")
        for (i, t) in bundle.tensors.enumerated() {
            lines.append("  \(t.name) \(dtypeName(t.dtype)) \(t.shape) \(t.data.count) B" + (bundle.layout(ofTensor: i) == .rowMajor ? "" : ", stored packed"))
        }
        lines.append("metadata (\(bundle.metadata.count)):")
        for (key, value) in bundle.metadata {
            lines.append("  \(key) = \(key == "class_labels" ? value.replacingOccurrences(of: "\n", with: ", ") : value)")
        }
        var passed: Bool?
        if let t = bundle.selfTest, let result = BundleExecutor(bundle).selfTest() {
            passed = result.passed
            lines.append("self-test: \(t.count) vectors, \(result.passed ? "passed" : "FAILED") "
                         + "(max |error| \(result.maxError), tolerance atol \(t.atol) + rtol \(t.rtol)·|expected|)")
        } else {
            lines.append("self-test: none")
        }
        return Result(bundle: bundle, report: lines.joined(separator: "\n"), selfTestPassed: passed)
    }

    static func dtypeName(_ raw: UInt32) -> String {
        BundleDType(rawValue: raw).map { "\($0.name)" } ?? "dtype\(raw)"
    }
}
