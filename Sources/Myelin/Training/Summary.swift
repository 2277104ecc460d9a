/// A Keras-style model summary: one row per module that computes something, with its output
/// shape, parameters and forward MFLOPs per sample (`ModelProfile`, by tracing one zero
/// sample of `inputShape` in eval mode), then the totals.
public func modelSummary(_ model: any Layer, inputShape: [Int]) -> String {
    let total = "Total parameters: \(model.parameterCount) (\(model.parameterCount * 4 / 1024) KiB as float32)"
    let profile: ModelProfile
    do { profile = try ModelProfile(model, inputShape: inputShape) } catch {
        return "(no per-layer profile: \(error))\n" + total
    }
    let modules = Dictionary(model.namedModules(), uniquingKeysWith: { a, _ in a })
    // A leaf module prints itself (`Linear(in: 784, out: 256)`); a module that computes
    // between its children (a residual addition) shows its path and type.
    let rows = profile.rows.map { r -> (String, String, String, String) in
        let module = modules[r.module]
        let label = module.map { $0.children.isEmpty ? "\($0)" : "(\(r.module.isEmpty ? "model" : r.module)) \(r.kind)" } ?? r.kind
        let shape = "[" + (["batch"] + r.outputShape.map(String.init)).joined(separator: ", ") + "]"
        return (label, shape, "\(r.parameters)", String(format: "%.3f", Double(r.flops) / 1e6))
    }
    func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: Swift.max(0, n - s.count))
        return right ? fill + s : s + fill
    }
    let w0 = Swift.max(28, (rows.map { $0.0.count }.max() ?? 0) + 2), w1 = Swift.max(18, (rows.map { $0.1.count }.max() ?? 0) + 2)
    let rule = String(repeating: "─", count: w0 + w1 + 22)
    var lines = [pad("Layer", w0) + pad("Output shape", w1) + pad("Params", 10, right: true) + pad("MFLOPs", 12, right: true), rule]
    for r in rows { lines.append(pad(r.0, w0) + pad(r.1, w1) + pad(r.2, 10, right: true) + pad(r.3, 12, right: true)) }
    lines.append(rule)
    lines.append(String(format: "%@ %.3f MFLOPs per sample, forward (a multiply-add counts 2; training ≈ 3×)", total, Double(profile.flops) / 1e6))
    return lines.joined(separator: "\n")
}
