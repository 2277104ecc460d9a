/// A Keras-style model summary: one row per layer of a `Sequential` with its output shape
/// and parameter count, then the total. Output shapes come from a forward pass of one
/// zero sample of `inputShape` in eval mode.
public func modelSummary(_ model: any Layer, inputShape: [Int]) -> String {
    let layers: [(String, any Layer)] = (model as? Sequential).map { s in s.layers.enumerated().map { (String($0.offset), $0.element) } } ?? [("0", model)]
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    var x = Tensor.zeros([1] + inputShape)
    var rows: [(String, String, Int)] = []
    noGrad {
        for (_, layer) in layers {
            x = layer(x)
            rows.append(("\(layer)", "\(["batch"] + x.shape.dropFirst().map(String.init))".replacingOccurrences(of: "\"", with: ""), layer.parameterCount))
        }
    }
    let w0 = Swift.max(28, (rows.map { $0.0.count }.max() ?? 0) + 2), w1 = 18
    func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
    var lines = [pad("Layer", w0) + pad("Output shape", w1) + "Params", String(repeating: "─", count: w0 + w1 + 10)]
    for (name, shape, params) in rows { lines.append(pad(name, w0) + pad(shape, w1) + "\(params)") }
    lines.append(String(repeating: "─", count: w0 + w1 + 10))
    lines.append("Total parameters: \(model.parameterCount) (\(model.parameterCount * 4 / 1024) KiB as float32)")
    return lines.joined(separator: "\n")
}
