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
            emit(codes[cell], [x], [y], tensors: tensors, cell == 1 ? [(.nonlinearity, .int(1))] : [])
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
                let (ids, padding) = try keyIDs(n.inputs[projections])
                inputs.append(ids)
                if padding != 0 { attributes.append((.paddingId, .int(Int64(padding)))) }
            } else if n.inputs.count != projections {
                throw fail("\(n.inputs.count) operands")
            }
            emit(.attention, inputs, [y], attributes)
        default:
            return false
        }
        return true
    }

    /// The token ids (an i32 graph input) and padding id of a traced `padding_mask` operand.
    mutating func keyIDs(_ operand: TracedGraph.Operand) throws -> (value: Int, padding: Int) {
        guard case .value(let m) = operand, let p = graph.producer(of: m), graph.nodes[p].op == "padding_mask",
              case .value(let ids)? = graph.nodes[p].inputs.first, graph.inputs.contains(where: { $0.value == ids }),
              case .int(let padding)? = graph.nodes[p].attributes["padding_id"] else {
            throw fail("its key padding mask is not a padding mask of a graph input's token ids")
        }
        let x = try value(ids)
        bundle.values[x].dtype = BundleDType.i32.rawValue
        return (x, padding)
    }
}
