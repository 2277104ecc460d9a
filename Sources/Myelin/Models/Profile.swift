/// Per-module cost of a model — output shape, parameters and FLOPs — measured by tracing one
/// forward pass (`TracedGraph`), so it covers any `Layer`, branches and residuals included.
/// `myelin summary` prints its `table`.
///
/// FLOP rule (per sample, forward pass, inference mode):
/// - convolution, transposed convolution, linear, matmul: 2 per multiply-add
///   (2 · output elements · inputs per output for a convolution: C/groups · kH · kW);
///   their bias additions are not counted;
/// - batch normalisation: 2 per element (scale and shift);
/// - max and average pooling: one per window element read (kH · kW per output);
///   adaptive average pooling: one per input element;
/// - data movement (reshape, concat, slice, permute, transpose, channel shuffle, pad,
///   upsampling): 0;
/// - every other op (activations, element-wise arithmetic, softmax): 1 per output element.
/// Convolutions and matrix products dominate every zoo model, so the total is within a few
/// percent of the multiply-add count × 2. Training costs about 3× the forward FLOPs (the
/// backward pass computes a gradient for the input and one for the weights, each as costly
/// as the forward product).
///
/// ```swift
/// let profile = try ModelProfile(SimpleCNN(), inputShape: [1, 28, 28])
/// print(profile.table)
/// profile.flops          // 5 319 616 per image
/// ```
public struct ModelProfile: CustomStringConvertible {
    /// One module: the ops it ran itself (not those of its children).
    public struct Row {
        /// Dotted module path ("" for ops the top-level model ran itself).
        public var module: String
        /// The module's type, e.g. `Conv2d`.
        public var kind: String
        /// Output shape of the module's last op, per sample (no batch dimension).
        public var outputShape: [Int]
        /// Parameters the module owns directly (its children's are in their own rows).
        public var parameters: Int
        /// Forward FLOPs per sample of the module's own ops.
        public var flops: Int
    }

    public var rows: [Row]
    /// All trainable scalars of the model.
    public var parameters: Int
    /// Forward FLOPs per sample (the sum of the rows).
    public var flops: Int

    /// Traces `model` on one zero sample of `inputShape` (per sample, e.g. `[1, 28, 28]`).
    public init(_ model: any Layer, inputShape: [Int]) throws {
        let graph = try TracedGraph(tracing: model, example: Tensor.zeros([1] + inputShape))
        let modules = Dictionary(model.namedModules(), uniquingKeysWith: { a, _ in a })
        var order: [String] = [], byPath: [String: Row] = [:]
        for node in graph.nodes {
            let path = node.modulePath
            if byPath[path] == nil {
                order.append(path)
                let module = modules[path] ?? model
                byPath[path] = Row(module: path, kind: "\(type(of: module))", outputShape: [],
                                   parameters: module.localParameters.reduce(0) { $0 + $1.1.count }, flops: 0)
            }
            byPath[path]!.flops += ModelProfile.flops(of: node, in: graph) / graph.batch
            byPath[path]!.outputShape = Array(graph.values[node.output].shape.dropFirst())
        }
        rows = order.map { byPath[$0]! }
        parameters = model.parameterCount
        flops = rows.reduce(0) { $0 + $1.flops }
    }

    /// FLOPs of one traced op for the graph's whole batch, by the rule above.
    public static func flops(of node: TracedGraph.Node, in graph: TracedGraph) -> Int {
        let out = graph.values[node.output].shape.reduce(1, *)
        let input = graph.shape(of: node.inputs[0])
        switch node.op {
        case "conv2d", "conv1d":
            return 2 * out * graph.shape(of: node.inputs[1]).dropFirst().reduce(1, *)
        case "conv_transpose2d":
            let w = graph.shape(of: node.inputs[1])   // [Cin, Cout/groups, kH, kW]: each input scatters to Cout/groups·kH·kW
            return 2 * input.reduce(1, *) * w.dropFirst().reduce(1, *)
        case "linear", "matmul":
            return 2 * out * (input.last ?? 1)
        case "batch_norm", "batch_norm_training":
            return 2 * out
        case "max_pool2d", "avg_pool2d":
            if case .ints(let k)? = node.attributes["kernel"] { return out * k.reduce(1, *) }
            return out
        case "adaptive_avg_pool2d":
            return input.reduce(1, *)
        case "reshape", "concat", "slice", "permute", "transpose", "expand", "channel_shuffle", "pad", "upsample_nearest2d",
             "index_select", "max_unpool2d":
            return 0
        default:
            return out
        }
    }

    /// One line per module, then the totals.
    ///
    /// ```text
    /// Module              Type       Output shape    Params      MFLOPs
    /// layers.0            Conv2d     [32, 26, 26]       320       0.389
    /// ```
    public var table: String {
        func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
            s.count >= n ? s : (right ? String(repeating: " ", count: n - s.count) + s : s + String(repeating: " ", count: n - s.count))
        }
        func mflops(_ f: Int) -> String {
            let v = Double(f) / 1e6
            var s = "\(Int((v * 1000).rounded()))"
            while s.count < 4 { s = "0" + s }
            return String(s.dropLast(3)) + "." + String(s.suffix(3))
        }
        let w0 = Swift.max(12, (rows.map { $0.module.count }.max() ?? 0) + 2)
        let w1 = Swift.max(8, (rows.map { $0.kind.count }.max() ?? 0) + 2)
        let w2 = Swift.max(16, (rows.map { "\($0.outputShape)".count }.max() ?? 0) + 2)
        var lines = [pad("Module", w0) + pad("Type", w1) + pad("Output shape", w2) + pad("Params", 10, right: true) + pad("MFLOPs", 12, right: true)]
        let rule = String(repeating: "─", count: w0 + w1 + w2 + 22)
        lines.append(rule)
        for r in rows {
            lines.append(pad(r.module.isEmpty ? "(model)" : r.module, w0) + pad(r.kind, w1) + pad("\(r.outputShape)", w2)
                         + pad("\(r.parameters)", 10, right: true) + pad(mflops(r.flops), 12, right: true))
        }
        lines.append(rule)
        lines.append(pad("Total", w0 + w1 + w2) + pad("\(parameters)", 10, right: true) + pad(mflops(flops), 12, right: true))
        lines.append("FLOPs per sample, forward; a multiply-add counts 2 (training ≈ 3× forward).")
        return lines.joined(separator: "\n")
    }

    public var description: String { table }
}
