// Passes over a traced graph that export runs before lowering it to a bundle. Each is small,
// keeps the graph's outputs exactly (up to float rounding of folded weights), and is tested
// on its own (Tests/MyelinTests/GraphPassTests.swift).

extension TracedGraph {
    /// Removes nodes whose value reaches no graph output (e.g. a branch whose result was
    /// discarded). Returns how many were removed.
    @discardableResult
    public mutating func eliminateDeadNodes() -> Int {
        var live = Set(outputs.map(\.value))
        var keep = [Bool](repeating: false, count: nodes.count)
        for i in nodes.indices.reversed() where live.contains(nodes[i].output) {
            keep[i] = true
            for case .value(let v) in nodes[i].inputs { live.insert(v) }
        }
        let before = nodes.count
        nodes = nodes.indices.filter { keep[$0] }.map { nodes[$0] }
        return before - nodes.count
    }

    /// Folds each `batch_norm` that follows a `linear`, `conv1d` or `conv2d` (whose output
    /// nothing else reads) into that op's weight and bias:
    /// `W'[o] = W[o]·s[o]`, `b'[o] = s[o]·(b[o] − mean[o]) + beta[o]`, `s = gamma/√(var + eps)`,
    /// computed in Double. New constants are made (a weight may be shared with another op).
    /// Returns how many were folded.
    @discardableResult
    public mutating func foldBatchNorm() -> Int {
        var folded = 0
        var i = 0
        while i < nodes.count {
            defer { i += 1 }
            let bn = nodes[i]
            guard bn.op == "batch_norm", case .value(let y) = bn.inputs[0], let p = producer(of: y) else { continue }
            let producerNode = nodes[p]
            let channelAxis = producerNode.op == "linear" ? values[y].shape.count - 1 : 1
            guard ["linear", "conv1d", "conv2d"].contains(producerNode.op), producerNode.attributes["activation"] == nil,
                  case .int(let axis)? = bn.attributes["axis"], axis == channelAxis,
                  consumers(of: y) == [i], !isOutput(y),
                  producerNode.inputs.count >= 2, case .constant(let wID) = producerNode.inputs[1],
                  case .float(let eps)? = bn.attributes["eps"] else { continue }
            let weight = constants[wID].tensor
            let outChannels = weight.shape[0]
            func constantData(_ k: Int) -> [Float]? {
                guard k < bn.inputs.count, case .constant(let c) = bn.inputs[k] else { return nil }
                return constants[c].tensor.data
            }
            guard let mean = constantData(1), let variance = constantData(2), mean.count == outChannels else { continue }
            let gamma = constantData(3) ?? [Float](repeating: 1, count: outChannels)
            let beta = constantData(4) ?? [Float](repeating: 0, count: outChannels)
            var bias = [Float](repeating: 0, count: outChannels)
            if producerNode.inputs.count > 2, case .constant(let bID) = producerNode.inputs[2] { bias = constants[bID].tensor.data }
            let perChannel = weight.count / outChannels
            var w = weight.data, b = bias
            for o in 0..<outChannels {
                let s = Double(gamma[o]) / (Double(variance[o]) + eps).squareRoot()
                for k in 0..<perChannel { w[o * perChannel + k] = Float(Double(w[o * perChannel + k]) * s) }
                b[o] = Float(s * (Double(bias[o]) - Double(mean[o])) + Double(beta[o]))
            }
            let prefix = producerNode.modulePath.isEmpty ? producerNode.op : producerNode.modulePath
            constants.append(Constant(name: "\(prefix).weight+bn", tensor: Tensor(shape: weight.shape, data: w)))
            constants.append(Constant(name: "\(prefix).bias+bn", tensor: Tensor(shape: [outChannels], data: b)))
            var merged = producerNode
            merged.inputs = [producerNode.inputs[0], .constant(constants.count - 2), .constant(constants.count - 1)]
            merged.output = bn.output
            nodes[i] = merged
            nodes.remove(at: p)
            i -= 1
            folded += 1
        }
        return folded
    }

    /// Fuses a `relu` into the `linear`, `conv1d`, `conv2d` or `conv_transpose2d` before it
    /// when nothing else reads that op's output: the op gets the attribute `activation: 1` and
    /// writes the relu's value. Returns how many were fused.
    @discardableResult
    public mutating func fuseActivations() -> Int {
        var fused = 0
        var i = 0
        while i < nodes.count {
            defer { i += 1 }
            guard nodes[i].op == "relu", case .value(let y) = nodes[i].inputs[0], let p = producer(of: y),
                  ["linear", "conv1d", "conv2d", "conv_transpose2d"].contains(nodes[p].op), nodes[p].attributes["activation"] == nil,
                  consumers(of: y) == [i], !isOutput(y) else { continue }
            var merged = nodes[p]
            merged.attributes["activation"] = .int(1)
            merged.output = nodes[i].output
            nodes[i] = merged
            nodes.remove(at: p)
            i -= 1
            fused += 1
        }
        return fused
    }

    /// Drops reshapes whose output shape equals their input's (readers use the input).
    @discardableResult
    public mutating func removeIdentityReshapes() -> Int {
        var removed = 0
        var i = 0
        while i < nodes.count {
            let n = nodes[i]
            if n.op == "reshape", case .value(let x) = n.inputs[0], values[x].shape == values[n.output].shape, !isOutput(n.output) {
                for j in nodes.indices {
                    nodes[j].inputs = nodes[j].inputs.map { $0 == .value(n.output) ? .value(x) : $0 }
                }
                nodes.remove(at: i)
                removed += 1
            } else {
                i += 1
            }
        }
        return removed
    }

    /// The passes export runs, in order.
    public mutating func optimizeForInference() {
        eliminateDeadNodes()
        removeIdentityReshapes()
        foldBatchNorm()
        fuseActivations()
    }
}
