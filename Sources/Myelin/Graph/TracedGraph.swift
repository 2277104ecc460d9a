/// The graph a model's forward pass actually computed, recorded by a `Tracer`: the input of
/// export. Values are activations (their first dimension is the batch), constants are the
/// model's parameters and buffers (by state-dict name) and any other tensor the forward pass
/// used without computing it from the inputs. Nodes are in execution order; each writes one
/// value. Export runs passes over it (`GraphPasses.swift`) and then lowers it to a bundle.
///
/// ```swift
/// let graph = try TracedGraph(tracing: model, inputs: [("image", x)])
/// print(graph)    // one line per node: op, operands, attributes, module path
/// ```
public struct TracedGraph: CustomStringConvertible {
    /// What a node reads: an activation or a constant.
    public enum Operand: Hashable {
        case value(Int)
        case constant(Int)
    }

    /// An activation. `shape` includes the batch dimension; `sample` is what the traced
    /// forward pass computed (kept for calibration and checks).
    public struct Value {
        public var name: String
        public var shape: [Int]
        public var sample: Tensor
        /// The axis of `shape` that is the batch: 0, or 1 for a time-major sequence `[T, B, …]`
        /// (a recurrent layer with `batchFirst: false` between transposes at the model's boundary)
        /// and for a recurrent state `[layers·directions, B, H]`.
        public var batchAxis = 0
    }

    /// A tensor the graph reads but does not compute: a parameter, a buffer, or a tensor made
    /// inside `forward` without the inputs (a mask, a fixed table).
    public struct Constant {
        public var name: String
        public var tensor: Tensor
    }

    /// One op application: `op` and `attributes` as recorded by `Tensor.result`.
    public struct Node {
        public var op: String
        public var inputs: [Operand]
        public var output: Int
        public var attributes: OpAttributes
        /// Dotted path of the module that ran it ("" at the top level).
        public var modulePath: String
    }

    public var values: [Value] = []
    public var constants: [Constant] = []
    public var nodes: [Node] = []
    /// Graph inputs and outputs: names and value ids, in the caller's order.
    public var inputs: [(name: String, value: Int)] = []
    public var outputs: [(name: String, value: Int)] = []
    /// The batch size of the traced example (the first dimension of every value).
    public var batch: Int

    /// Errors of tracing and export; each names the op and the module path where it applies.
    public enum TraceError: Error, CustomStringConvertible, Equatable {
        case invalidInputs(String)
        case outputNotComputed(String)
        case batchDimension(op: String, module: String, shape: [Int], batch: Int)
        /// An op read a tensor that has the batch's size but was not computed by recorded
        /// ops (built from `.data`, say): export would freeze it as a constant.
        case untracedTensor(op: String, module: String, shape: [Int])

        public var description: String {
            switch self {
            case .invalidInputs(let m): return "trace: \(m)"
            case .outputNotComputed(let name):
                return "trace: output \"\(name)\" is not computed from the inputs (a constant or an input passed through unchanged)"
            case .batchDimension(let op, let module, let shape, let batch):
                return "trace: \(op) in \(module.isEmpty ? "the model" : "module \"\(module)\"") gives shape \(shape), "
                    + "whose first dimension is not the batch (\(batch)); ops may not mix samples"
            case .untracedTensor(let op, let module, let shape):
                return "trace: \(op) in \(module.isEmpty ? "the model" : "module \"\(module)\"") reads a tensor of shape \(shape) "
                    + "that was not computed by Myelin ops (made from .data?); it would be frozen into the bundle"
            }
        }
    }

    /// Records `forward` run once on `inputs` in evaluation mode, without gradients.
    ///
    /// - Parameters:
    ///   - model: names the constants (state-dict names) and the module paths of nodes.
    ///   - inputs: named example inputs, all with the same first (batch) dimension.
    ///   - outputNames: names of the tensors `forward` returns (default `output`, `output1`, …).
    ///   - forward: the computation, e.g. `{ [model($0[0])] }` or `{ [model.forward($0[0], $0[1])] }`.
    public init(tracing model: any Module, inputs: [(name: String, example: Tensor)], outputNames: [String]? = nil,
                forward: ([Tensor]) -> [Tensor]) throws {
        guard let first = inputs.first, first.example.rank >= 1, first.example.shape[0] >= 1 else {
            throw TraceError.invalidInputs("needs at least one input with a batch dimension")
        }
        batch = first.example.shape[0]
        for (name, x) in inputs where x.rank < 1 || x.shape[0] != batch {
            throw TraceError.invalidInputs("input \"\(name)\" has shape \(x.shape); every input needs the batch \(batch) first")
        }
        guard Set(inputs.map(\.name)).count == inputs.count else { throw TraceError.invalidInputs("input names must be unique") }

        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        let tracer = Tracer()
        for (path, module) in model.namedModules() { tracer.paths[ObjectIdentifier(module)] = path }
        let examples = inputs.map { $0.example.detach() }
        let results = noGrad { tracer.recording { forward(examples) } }

        var operands: [ObjectIdentifier: Operand] = [:]
        var stateNames: [ObjectIdentifier: String] = [:]
        for (name, t) in model.stateDict().entries { stateNames[ObjectIdentifier(t)] = name }
        var usedNames = Set<String>()
        func unique(_ base: String) -> String {
            var name = base, k = 1
            while !usedNames.insert(name).inserted { k += 1; name = "\(base)_\(k)" }
            return name
        }
        for (i, x) in examples.enumerated() {
            values.append(Value(name: unique(inputs[i].name), shape: x.shape, sample: x))
            operands[ObjectIdentifier(x)] = .value(values.count - 1)
            self.inputs.append((inputs[i].name, values.count - 1))
        }
        for n in tracer.nodes {
            var nodeInputs: [Operand] = []
            for t in n.inputs {
                if let known = operands[ObjectIdentifier(t)] { nodeInputs.append(known); continue }
                let stateName = stateNames[ObjectIdentifier(t)]
                if stateName == nil, t.rank >= 1, t.shape[0] == batch, batch > 1 {
                    throw TraceError.untracedTensor(op: n.op, module: n.modulePath, shape: t.shape)
                }
                let name = stateName ?? "\(n.modulePath.isEmpty ? "" : n.modulePath + ".")\(n.op).constant"
                constants.append(Constant(name: unique(name), tensor: t))
                operands[ObjectIdentifier(t)] = .constant(constants.count - 1)
                nodeInputs.append(.constant(constants.count - 1))
            }
            // The batch axis: the recording op's when it gave one; a permute moves its input's;
            // other ops keep their first value input's where the output has the batch there,
            // else it is axis 0. Only 0 or 1.
            let shape = n.output.shape
            var axis = n.batchAxis ?? 0
            if n.batchAxis == nil, case .value(let v)? = nodeInputs.first(where: { if case .value = $0 { return true } else { return false } }) {
                axis = values[v].batchAxis
                if n.op == "permute", case .ints(let perm)? = n.attributes["perm"] {
                    axis = perm.firstIndex(of: axis) ?? -1
                } else if axis >= shape.count || shape[axis] != batch {
                    axis = 0
                }
            }
            guard axis == 0 || axis == 1, axis < shape.count, shape[axis] == batch else {
                throw TraceError.batchDimension(op: n.op, module: n.modulePath, shape: shape, batch: batch)
            }
            let base = n.modulePath.isEmpty ? n.op : "\(n.modulePath).\(n.op)"
            values.append(Value(name: unique(base), shape: shape, sample: n.output, batchAxis: axis))
            operands[ObjectIdentifier(n.output)] = .value(values.count - 1)
            nodes.append(Node(op: n.op, inputs: nodeInputs, output: values.count - 1, attributes: n.attributes,
                              modulePath: n.modulePath))
        }
        let names = outputNames ?? results.indices.map { $0 == 0 ? "output" : "output\($0)" }
        guard names.count == results.count else {
            throw TraceError.invalidInputs("\(names.count) output names for \(results.count) outputs")
        }
        guard Set(names).count == names.count else { throw TraceError.invalidInputs("output names must be unique") }
        for (name, t) in zip(names, results) {
            guard case .value(let v)? = operands[ObjectIdentifier(t)], !self.inputs.contains(where: { $0.value == v }) else {
                throw TraceError.outputNotComputed(name)
            }
            guard values[v].batchAxis == 0 else {
                throw TraceError.invalidInputs("output \"\(name)\" is time-major \(values[v].shape): transpose it to batch first")
            }
            outputs.append((name, v))
        }
        eliminateDeadNodes()
    }

    /// Traces a one-input layer: `model(example)`.
    public init(tracing model: any Layer, example: Tensor, inputName: String = "input", outputName: String = "output") throws {
        try self.init(tracing: model, inputs: [(inputName, example)], outputNames: [outputName]) { [model($0[0])] }
    }

    // MARK: Queries

    /// Index of the node that writes value `v`, or nil for graph inputs.
    public func producer(of v: Int) -> Int? { nodes.firstIndex { $0.output == v } }

    /// Indices of the nodes that read value `v`.
    public func consumers(of v: Int) -> [Int] {
        nodes.indices.filter { nodes[$0].inputs.contains(.value(v)) }
    }

    /// Whether value `v` is a graph output.
    public func isOutput(_ v: Int) -> Bool { outputs.contains { $0.value == v } }

    /// Shape of an operand (values: with the batch dimension).
    public func shape(of operand: Operand) -> [Int] {
        switch operand {
        case .value(let v): return values[v].shape
        case .constant(let c): return constants[c].tensor.shape
        }
    }

    public var description: String {
        func name(_ o: Operand) -> String {
            switch o {
            case .value(let v): return "%\(values[v].name)"
            case .constant(let c): return "@\(constants[c].name)"
            }
        }
        var lines = ["graph(" + inputs.map { "%\(values[$0.value].name): \(values[$0.value].shape)" }.joined(separator: ", ") + ")"]
        for n in nodes {
            let attrs = n.attributes.keys.sorted().map { "\($0): \(n.attributes[$0]!)" }.joined(separator: ", ")
            lines.append("  %\(values[n.output].name) = \(n.op)(\(n.inputs.map(name).joined(separator: ", ")))"
                         + (attrs.isEmpty ? "" : " {\(attrs)}") + " : \(values[n.output].shape)")
        }
        lines.append("  return " + outputs.map { "\($0.name) = %\(values[$0.value].name)" }.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}
