// Lowering of the sequence family (embedding, recurrent layers, normalisation, attention,
// positional encodings) to the ops of Sources/MyelinShared/Ops/Sequence*.swift. The traced
// nodes come from NN/Recurrent.swift (`recurrent`, `recurrent_last_step`), NN/Attention.swift
// (`attention`, `positional_encoding`), Autograd/Indexing.swift (`embedding`)
// and Autograd/NormalizationOps.swift (`layer_norm`, `gelu`).

extension Lowering {
    /// Lowers `n` if it is a sequence-family op; false if it is not one.
    mutating func lowerSequenceFamily(_ n: TracedGraph.Node, _ y: Int) throws -> Bool {
        func constant(_ k: Int, _ what: String) throws -> Int {
            guard k < n.inputs.count, case .constant(let c) = n.inputs[k] else { throw fail("its \(what) is computed, not a parameter") }
            return c
        }
        func input(_ k: Int) throws -> Int {
            guard k < n.inputs.count, case .value(let v) = n.inputs[k] else { throw fail("operand \(k) is not computed from the inputs") }
            return try value(v)
        }
        switch n.op {
        case "embedding":
            // Inputs [table, ids]: the ids must be a graph input, which becomes i32 token ids.
            let table = try constant(0, "table")
            guard n.inputs.count == 2, case .value(let ids) = n.inputs[1], graph.inputs.contains(where: { $0.value == ids }) else {
                throw fail("its token ids are computed; they must be a graph input (exported as i32)")
            }
            let x = try value(ids)
            bundle.values[x].dtype = BundleDType.i32.rawValue
            emit(.embedding, [x], [y], tensors: [constantTensor(table)])
        case "recurrent":
            let cell = try int("cell"), directions = try int("directions"), hasBias = try int("bias") == 1
            let codes: [BundleOpCode] = [.rnn, .rnn, .lstm, .gru]
            guard (0..<4).contains(cell), directions == 1 || directions == 2 else { throw fail("cell \(cell), directions \(directions)") }
            let x = try input(0)
            var tensors: [Int] = []
            var k = 1
            for _ in 0..<directions {
                let wih = try constant(k, "input weight"), whh = try constant(k + 1, "hidden weight")
                let rows = graph.constants[wih].tensor.shape[0]
                tensors += [constantTensor(wih, dtype: weightType), constantTensor(whh, dtype: weightType)]
                if hasBias {
                    tensors += [constantTensor(try constant(k + 2, "input bias")), constantTensor(try constant(k + 3, "hidden bias"))]
                    k += 4
                } else {
                    let zeros = tensor("zeros[\(rows)]", [Float](repeating: 0, count: rows), shape: [rows])
                    tensors += [zeros, zeros]
                    k += 2
                }
            }
            // Operands after the weights: the initial h (and c), per sample [D, H].
            var inputs = [x]
            while k < n.inputs.count {
                guard case .value = n.inputs[k] else {
                    throw fail("its initial state is a constant; make it a model input, or pass nil for a zero state")
                }
                inputs.append(try input(k))
                k += 1
            }
            emit(codes[cell], inputs, [y], tensors: tensors, cell == 1 ? [(.nonlinearity, .int(1))] : [])
        case "recurrent_state":
            // The final h (state 0) or c (state 1) of the recurrent op that wrote operand 0: that
            // op's h_n / c_n output [D, H] (added here), reshaped to the traced per-sample shape.
            let which = try int("state"), source = try input(0)
            guard which == 0 || which == 1,
                  let o = bundle.ops.lastIndex(where: { $0.outputs.first == source && ($0.code == .rnn || $0.code == .lstm || $0.code == .gru) }),
                  which == 0 || bundle.ops[o].code == .lstm else { throw fail("its operand is not the output of a recurrent layer") }
            let hidden = bundle.tensors[bundle.ops[o].tensors[1]].shape[1], directions = bundle.ops[o].tensors.count / 4
            while bundle.ops[o].outputs.count < which + 2 {
                let name = bundle.values[source].name + (bundle.ops[o].outputs.count == 1 ? ".h_n" : ".c_n")
                bundle.ops[o].outputs.append(scratchValue(name, shape: [directions, hidden]))
            }
            emit(.reshape, [bundle.ops[o].outputs[which + 1]], [y], [(.shape, .ints(bundle.values[y].shape.map { Int64($0) }))])
        case "recurrent_last_step":
            let reverse = try int("reverse")
            emit(.lastStep, [try input(0)], [y], reverse > 0 ? [(.reverse, .int(Int64(reverse)))] : [])
        case "layer_norm":
            let x = try input(0)
            var tensors: [Int] = []
            if n.inputs.count == 3 { tensors = [constantTensor(try constant(1, "weight")), constantTensor(try constant(2, "bias"))] }
            emit(.layerNorm, [x], [y], tensors: tensors, [(.axes, .int(Int64(try int("axes")))), (.eps, .float(try float("eps")))])
        case "gelu":
            emit(.gelu, [try input(0)], [y], (try int("approximate")) == 1 ? [(.approximate, .int(1))] : [])
        case "positional_encoding":
            emit(.positionalEncoding, [try input(0)], [y], tensors: [constantTensor(try constant(1, "table"))])
        case "attention":
            // The core of attention (its projections are linears). Self-attention: qkv, heads,
            // causal, a key/value cache of the traced length. Cross-attention: q, k, v, a cache of
            // the memory's length. Either may read a key padding mask, which becomes the key ids.
            let cross = (try? int("cross")) == 1
            let projections = cross ? 3 : 1
            var inputs = try (0..<projections).map { try input($0) }
            var attributes: [(BundleAttribute, ModelBundle.AttributeValue)] =
                [(.heads, .int(Int64(try int("heads")))), (.causal, .int(Int64(try int("causal")))),
                 (.maxContext, .int(Int64(bundle.values[inputs[cross ? 1 : 0]].shape[0])))]
            if n.inputs.count == projections + 1 {
                inputs.append(try keyIDs(n.inputs[projections]))
            } else if n.inputs.count != projections {
                throw fail("\(n.inputs.count) operands")
            }
            if case .float(let scale)? = attribute("score_scale") { attributes.append((.scoreScale, .float(scale))) }
            emit(.attention, inputs, [y], attributes)
        default:
            return false
        }
        return true
    }

    /// The token ids (an i32 graph input) of a traced `padding_mask` operand (id 0 is padding).
    mutating func keyIDs(_ operand: TracedGraph.Operand) throws -> Int {
        guard case .value(let m) = operand, let p = graph.producer(of: m), graph.nodes[p].op == "padding_mask",
              case .value(let ids)? = graph.nodes[p].inputs.first, graph.inputs.contains(where: { $0.value == ids }),
              graph.nodes[p].attributes["padding_id"] == .int(0) else {
            throw fail("its key padding mask is not a padding mask (id 0) of a graph input's token ids")
        }
        let x = try value(ids)
        bundle.values[x].dtype = BundleDType.i32.rawValue
        return x
    }
}
