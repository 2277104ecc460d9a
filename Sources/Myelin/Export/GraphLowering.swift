// Lowering a traced graph (training ops, shapes with the batch) to a bundle graph (inference
// ops of docs/bundle-format.md, per-sample shapes, per-sample axes). Run the passes of
// GraphPasses.swift first; quantisation (Quantization.swift) works on the float bundle made here.

/// A float bundle graph and, for each of its values, the traced value it computes (when it
/// has one), so quantisation can read activation ranges from the trace.
struct LoweredGraph {
    var bundle: ModelBundle
    /// Bundle value id → traced value id.
    var traced: [Int: Int]
}

extension TracedGraph {
    /// Lowers to a bundle graph whose weights are stored in `weightType` (f32 or f16; other
    /// tensors are f32). Every value is f32.
    func lowered(weightType: BundleDType = .f32) throws -> LoweredGraph {
        var lowering = Lowering(graph: self, weightType: weightType)
        for node in nodes { try lowering.lower(node) }
        lowering.bundle.inputs = try inputs.map { try lowering.value($0.value) }
        lowering.bundle.outputs = try outputs.map { try lowering.value($0.value) }
        // Graph input and output names are the caller's names.
        for (i, input) in inputs.enumerated() { lowering.bundle.values[lowering.bundle.inputs[i]].name = input.name }
        for (i, output) in outputs.enumerated() { lowering.bundle.values[lowering.bundle.outputs[i]].name = output.name }
        return LoweredGraph(bundle: lowering.bundle, traced: lowering.tracedOf)
    }
}

/// The state of one lowering: which traced values and constants have bundle ids already.
struct Lowering {
    let graph: TracedGraph
    let weightType: BundleDType
    var bundle = ModelBundle(precision: .f32, tensors: [], values: [], inputs: [], outputs: [], ops: [])
    var valueIDs: [Int: Int] = [:]
    var tensorIDs: [String: Int] = [:]
    var tracedOf: [Int: Int] = [:]
    var node: TracedGraph.Node! = nil

    init(graph: TracedGraph, weightType: BundleDType) {
        self.graph = graph
        self.weightType = weightType
        bundle.precision = weightType == .f16 ? .f16 : .f32
    }

    func fail(_ reason: String) -> BundleExporter.ExportError { .unsupportedOp(op: node.op, module: node.modulePath, reason: reason) }

    /// Bundle id of traced value `v` (created on first use, per-sample shape).
    mutating func value(_ v: Int) throws -> Int {
        if let id = valueIDs[v] { return id }
        var shape = graph.values[v].shape
        shape.remove(at: graph.values[v].batchAxis)   // per sample: a time-major [T, B, …] is [T, …]
        guard shape.count <= 5 else { throw fail("a value of rank \(shape.count + 1) (at most 6 with the batch)") }
        bundle.values.append(.init(name: graph.values[v].name, dtype: .f32, shape: shape))
        valueIDs[v] = bundle.values.count - 1
        tracedOf[bundle.values.count - 1] = v
        return bundle.values.count - 1
    }

    /// A new value with no traced counterpart (an intermediate of a multi-op lowering).
    mutating func scratchValue(_ name: String, shape: [Int]) -> Int {
        bundle.values.append(.init(name: name, dtype: .f32, shape: shape))
        return bundle.values.count - 1
    }

    /// A tensor holding `data` (deduplicated by `key`).
    mutating func tensor(_ key: String, _ data: [Float], shape: [Int], dtype: BundleDType = .f32) -> Int {
        if let id = tensorIDs[key] { return id }
        if dtype == .f16 {
            let bits = data.map(floatToHalfBits)
            bundle.tensors.append(.init(name: key, dtype: .f16, shape: shape, data: bits.withUnsafeBytes { Array($0) }))
        } else {
            bundle.tensors.append(.init(name: key, floats: data, shape: shape))
        }
        tensorIDs[key] = bundle.tensors.count - 1
        return bundle.tensors.count - 1
    }

    mutating func constantTensor(_ c: Int, dtype: BundleDType = .f32) -> Int {
        let t = graph.constants[c]
        return tensor(t.name + (dtype == .f16 ? "#f16" : ""), t.tensor.data, shape: t.tensor.shape, dtype: dtype)
    }

    func attribute(_ key: String) -> OpAttribute? { node.attributes[key] }

    func int(_ key: String) throws -> Int {
        guard case .int(let v)? = attribute(key) else { throw fail("attribute \"\(key)\" missing") }
        return v
    }

    func float(_ key: String) throws -> Double {
        switch attribute(key) {
        case .float(let v)?: return v
        case .int(let v)?: return Double(v)
        default: throw fail("attribute \"\(key)\" missing")
        }
    }

    func ints(_ key: String) throws -> [Int] {
        guard case .ints(let v)? = attribute(key) else { throw fail("attribute \"\(key)\" missing") }
        return v
    }

    /// A full-rank axis (non-negative after normalisation) as a per-sample axis.
    func sampleAxis(_ axis: Int, rank: Int) throws -> Int {
        let a = axis < 0 ? axis + rank : axis, b = graph.values[node.output].batchAxis
        guard a >= 0, a != b, a < rank else { throw fail(a == b ? "it works along the batch dimension" : "axis \(axis) of rank \(rank)") }
        return a > b ? a - 1 : a
    }

    mutating func emit(_ code: BundleOpCode, _ inputs: [Int], _ outputs: [Int], tensors: [Int] = [],
                       _ attributes: [(BundleAttribute, ModelBundle.AttributeValue)] = []) {
        bundle.ops.append(.init(code, inputs: inputs, outputs: outputs, tensors: tensors, attributes: attributes))
    }

    mutating func lower(_ n: TracedGraph.Node) throws {
        node = n
        if n.op == "padding_mask" { return }   // no value of its own: the attention reading it takes the ids
        // A transpose that only moves the batch axis (to or from a time-major [T, B, …]) changes
        // nothing per sample: the output is its input.
        if n.op == "permute", case .value(let x) = n.inputs[0], let perm = try? ints("perm"),
           samplePermutation(perm, from: graph.values[x].batchAxis, to: graph.values[n.output].batchAxis) == Array(0..<(perm.count - 1)),
           !(graph.isOutput(n.output) && graph.inputs.contains { $0.value == x }) {
            valueIDs[n.output] = try value(x)
            return
        }
        let rank = graph.values[n.output].shape.count
        func operandValue(_ k: Int) throws -> Int {
            guard k < n.inputs.count, case .value(let v) = n.inputs[k] else { throw fail("operand \(k) is not computed from the inputs") }
            return try value(v)
        }
        let y = try value(n.output)
        let activation: [(BundleAttribute, ModelBundle.AttributeValue)] =
            n.attributes["activation"] == .int(1) ? [(.activation, .int(BundleActivation.relu.rawValue))] : []
        switch n.op {
        case "linear":
            let x = try operandValue(0)
            guard n.inputs.count >= 2, case .constant(let w) = n.inputs[1] else { throw fail("its weight is computed, not a parameter") }
            var ts = [constantTensor(w, dtype: weightType)]
            if n.inputs.count > 2 {
                guard case .constant(let b) = n.inputs[2] else { throw fail("its bias is computed, not a parameter") }
                ts.append(constantTensor(b))
            }
            emit(.linear, [x], [y], tensors: ts, activation)
        case "relu": emit(.relu, [try operandValue(0)], [y])
        case "sigmoid": emit(.sigmoid, [try operandValue(0)], [y])
        case "tanh": emit(.tanh, [try operandValue(0)], [y])
        case "leaky_relu": emit(.leakyRelu, [try operandValue(0)], [y], [(.slope, .float(try float("slope")))])
        case "elu": emit(.elu, [try operandValue(0)], [y], [(.alpha, .float(try float("alpha")))])
        case "softmax", "log_softmax":
            let axis = try sampleAxis((try? int("axis")) ?? rank - 1, rank: rank)
            emit(n.op == "softmax" ? .softmax : .logSoftmax, [try operandValue(0)], [y], [(.axis, .int(Int64(axis)))])
        case "batch_norm":
            // Not folded into a preceding op: a per-channel affine map.
            let x = try operandValue(0)
            let axis = try sampleAxis(try int("axis"), rank: rank)
            let eps = try float("eps")
            var columns: [[Float]] = []
            for k in 1..<n.inputs.count {
                guard case .constant(let c) = n.inputs[k] else { throw fail("its statistics are computed, not buffers") }
                columns.append(graph.constants[c].tensor.data)
            }
            let channels = columns[0].count
            var scale = [Float](repeating: 0, count: channels), shift = scale
            for c in 0..<channels {
                let s = Double(columns.count > 2 ? columns[2][c] : 1) / (Double(columns[1][c]) + eps).squareRoot()
                scale[c] = Float(s)
                shift[c] = Float(Double(columns.count > 3 ? columns[3][c] : 0) - Double(columns[0][c]) * s)
            }
            let prefix = n.modulePath.isEmpty ? "batch_norm\(bundle.ops.count)" : n.modulePath
            emit(.scaleShift, [x], [y], tensors: [tensor(prefix + ".scale", scale, shape: [channels]),
                                                  tensor(prefix + ".shift", shift, shape: [channels])],
                 [(.axis, .int(Int64(axis)))])
        case "add", "sub", "mul", "div":
            try lowerBinary(n, y)
        case "add_scalar", "mul_scalar":
            let s = Float(try float("value"))
            emit(n.op == "add_scalar" ? .add : .mul, [try operandValue(0)], [y],
                 tensors: [tensor("\(n.op)(\(s))", [s], shape: [1])])
        case "neg":
            emit(.mul, [try operandValue(0)], [y], tensors: [tensor("mul_scalar(-1.0)", [-1], shape: [1])])
        case "rsub_scalar":
            // s − x = (−1)·x + s
            let x = try operandValue(0), s = Float(try float("value"))
            let t = scratchValue(bundle.values[y].name + ".negated", shape: bundle.values[y].shape)
            emit(.mul, [x], [t], tensors: [tensor("mul_scalar(-1.0)", [-1], shape: [1])])
            emit(.add, [t], [y], tensors: [tensor("add_scalar(\(s))", [s], shape: [1])])
        case "concat":
            let axis = try sampleAxis(try int("axis"), rank: rank)
            emit(.concat, try n.inputs.indices.map { try operandValue($0) }, [y], [(.axis, .int(Int64(axis)))])
        case "reshape":
            guard graph.values[n.output].batchAxis == 0 else { throw fail("it reshapes a time-major value") }
            emit(.reshape, [try operandValue(0)], [y], [(.shape, .ints(bundle.values[y].shape.map { Int64($0) }))])
        case "permute":
            guard case .value(let x) = n.inputs[0] else { throw fail("operand 0 is not computed from the inputs") }
            let perm = samplePermutation(try ints("perm"), from: graph.values[x].batchAxis, to: graph.values[n.output].batchAxis)
            if perm == Array(0..<perm.count) {
                emit(.reshape, [try value(x)], [y], [(.shape, .ints(bundle.values[y].shape.map { Int64($0) }))])
            } else {
                emit(.transpose, [try value(x)], [y], [(.perm, .ints(perm.map { Int64($0) }))])
            }
        case "slice":
            let axis = try sampleAxis(try int("axis"), rank: rank)
            emit(.slice, [try operandValue(0)], [y], [(.axis, .int(Int64(axis))), (.start, .int(Int64(try int("start")))),
                                                      (.end, .int(Int64(try int("end")))), (.step, .int(Int64(try int("step"))))])
        case "matmul":
            try lowerMatmul(n, y)
        default:
            // Op families in their own files: GraphLowering+Convolution.swift,
            // GraphLowering+Sequence.swift.
            if try lowerConvolutionFamily(n, y) { return }
            if try lowerSequenceFamily(n, y) { return }
            throw fail("the bundle format has no such op yet")
        }
    }

    /// The per-sample permutation of a traced `perm` that moves the batch axis `from` → `to`.
    func samplePermutation(_ perm: [Int], from: Int, to: Int) -> [Int] {
        perm.enumerated().filter { $0.offset != to }.map { $0.element > from ? $0.element - 1 : $0.element }
    }

    /// Elementwise binary ops: two values, or a value and a constant that does not vary
    /// along the batch (broadcast against each sample).
    mutating func lowerBinary(_ n: TracedGraph.Node, _ y: Int) throws {
        let code: BundleOpCode = ["add": .add, "sub": .sub, "mul": .mul, "div": .div][n.op]!
        let fullRank = graph.values[n.output].shape.count
        func perSampleConstant(_ c: Int) throws -> Int {
            let t = graph.constants[c].tensor
            var shape = t.shape
            if shape.count == fullRank {
                guard shape[0] == 1 else { throw fail("a constant operand of shape \(shape) varies along the batch") }
                shape.removeFirst()
            }
            if shape.isEmpty { shape = [1] }
            return tensor(graph.constants[c].name, t.data, shape: shape)
        }
        switch (n.inputs[0], n.inputs[1]) {
        case (.value(let a), .value(let b)):
            emit(code, [try value(a), try value(b)], [y])
        case (.value(let a), .constant(let c)):
            emit(code, [try value(a)], [y], tensors: [try perSampleConstant(c)])
        case (.constant(let c), .value(let b)) where code == .add || code == .mul:
            emit(code, [try value(b)], [y], tensors: [try perSampleConstant(c)])
        case (.constant(let c), .value(let b)) where code == .sub:
            // c − x = (−1)·x + c
            let t = scratchValue(bundle.values[y].name + ".negated", shape: bundle.values[y].shape)
            emit(.mul, [try value(b)], [t], tensors: [tensor("mul_scalar(-1.0)", [-1], shape: [1])])
            emit(.add, [t], [y], tensors: [try perSampleConstant(c)])
        default:
            throw fail("a constant divided by a computed value, or two constants")
        }
    }

    /// `x · C` with a constant matrix C `[k, n]` becomes `linear` with weight Cᵀ; two values
    /// multiply sample by sample (both need rank ≥ 3 with the batch, else the product would
    /// contract over the batch).
    mutating func lowerMatmul(_ n: TracedGraph.Node, _ y: Int) throws {
        switch (n.inputs[0], n.inputs[1]) {
        case (.value(let a), .constant(let c)) where graph.constants[c].tensor.rank == 2:
            let t = graph.constants[c].tensor, k = t.shape[0], cols = t.shape[1]
            var w = [Float](repeating: 0, count: k * cols)
            for i in 0..<k { for j in 0..<cols { w[j * k + i] = t.data[i * cols + j] } }
            emit(.linear, [try value(a)], [y], tensors: [tensor(graph.constants[c].name + "ᵀ", w, shape: [cols, k], dtype: weightType)])
        case (.value(let a), .constant(let c)):
            let t = graph.constants[c].tensor
            guard t.rank < graph.values[n.output].shape.count || t.shape[0] == 1 else {
                throw fail("a constant operand of shape \(t.shape) varies along the batch")
            }
            let shape = t.rank == graph.values[n.output].shape.count ? Array(t.shape.dropFirst()) : t.shape
            emit(.matmul, [try value(a)], [y], tensors: [tensor(graph.constants[c].name, t.data, shape: shape)])
        case (.value(let a), .value(let b)):
            guard graph.values[a].shape.count >= 3, graph.values[b].shape.count >= 3 else {
                throw fail("a product of \(graph.values[a].shape) and \(graph.values[b].shape) contracts over the batch")
            }
            emit(.matmul, [try value(a), try value(b)], [y])
        default:
            throw fail("a constant times a computed value")
        }
    }
}
