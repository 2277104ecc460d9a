// Int8 quantisation of a lowered float graph (arithmetic in docs/bundle-format.md):
// every `linear` becomes a `qlinear` with symmetric per-output-channel i8 weights and u8
// activations whose scales come from the ranges the traced forward pass produced on the
// calibration inputs. A qlinear writes u8 straight into the next ones when only qlinears read
// its output; otherwise it writes f32, and one `quantize` per value feeds the qlinears that
// read it. Every other op stays in f32 (mixed precision: residual additions, concatenations,
// softmax).

enum Quantization {
    /// Per output channel: `s_w = max|W_j|/127` (1 for an all-zero row), `q = clamp(round(W/s_w), −127, 127)`.
    static func quantizeWeights(_ w: [Float], outputs: Int, inputs: Int) -> ([Int8], [Float]) {
        var q = [Int8](repeating: 0, count: w.count)
        var scales = [Float](repeating: 1, count: outputs)
        for j in 0..<outputs {
            var top: Float = 0
            for p in 0..<inputs { top = Swift.max(top, Swift.abs(w[j * inputs + p])) }
            let s = top > 0 ? top / 127 : 1
            scales[j] = s
            for p in 0..<inputs {
                let v = (w[j * inputs + p] / s).rounded(.toNearestOrEven)
                q[j * inputs + p] = Int8(Swift.max(-127, Swift.min(127, v)))
            }
        }
        return (q, scales)
    }

    /// u8 quantisation of a value with range (lo, hi): zero point 0 for non-negative values
    /// (ReLU outputs, pixels), otherwise the full range with the zero point inside it.
    static func activationQuantization(_ range: (Float, Float)) -> (scale: Float, zeroPoint: Int32) {
        let lo = Swift.min(range.0, 0), hi = Swift.max(range.1, 0)
        guard hi > lo, (hi - lo).isFinite else { return (1, 0) }
        let scale = (hi - lo) / 255
        let zero = Int32(Swift.max(0, Swift.min(255, (-lo / scale).rounded(.toNearestOrEven))))
        return (scale, zero)
    }

    /// The int8 bundle for `lowered` (a float graph lowered from `graph`, whose traced
    /// values hold the calibration activations).
    static func quantize(_ lowered: LoweredGraph, graph: TracedGraph) throws -> ModelBundle {
        let f = lowered.bundle
        var q = f
        q.precision = .int8
        q.ops = []
        var readers = [[Int]](repeating: [], count: f.values.count)
        for (i, op) in f.ops.enumerated() { for v in op.inputs { readers[v].append(i) } }
        func isLinear(_ i: Int) -> Bool { f.ops[i].code == .linear }
        func range(_ v: Int) throws -> (Float, Float) {
            guard let t = lowered.traced[v] else {
                throw BundleExporter.ExportError.invalidOption("int8: value \"\(f.values[v].name)\" has no calibration range")
            }
            var lo = Float.infinity, hi = -Float.infinity
            for x in graph.values[t].sample.data where x.isFinite { lo = Swift.min(lo, x); hi = Swift.max(hi, x) }
            return lo <= hi ? (lo, hi) : (0, 0)
        }
        // Values a qlinear writes as u8: produced by a linear, read only by linears.
        var u8Output = Set<Int>()
        for op in f.ops where op.code == .linear {
            let y = op.outputs[0]
            if !readers[y].isEmpty, readers[y].allSatisfy(isLinear), !f.outputs.contains(y) { u8Output.insert(y) }
        }
        var quantized: [Int: Int] = [:]   // f32 value → its u8 copy
        for op in f.ops {
            guard op.code == .linear else { q.ops.append(op); continue }
            let x = op.inputs[0], y = op.outputs[0]
            let wEntry = f.tensors[op.tensors[0]]
            let outputs = wEntry.shape[0], inputs = wEntry.shape[1]
            // Input: already u8, or quantised once here for every qlinear that reads it.
            let xq: Int
            if u8Output.contains(x) {
                xq = x
            } else if let known = quantized[x] {
                xq = known
            } else {
                let p = activationQuantization(try range(x))
                q.values.append(.init(name: f.values[x].name + ".q", dtype: .u8, shape: f.values[x].shape,
                                      scale: p.scale, zeroPoint: p.zeroPoint))
                xq = q.values.count - 1
                quantized[x] = xq
                q.ops.append(.init(.quantize, inputs: [x], outputs: [xq]))
            }
            let sx = q.values[xq].scale, zx = q.values[xq].zeroPoint
            let (wq, sw) = quantizeWeights(wEntry.floats, outputs: outputs, inputs: inputs)
            let bias = op.tensors.count > 1 ? f.tensors[op.tensors[1]].floats : [Float](repeating: 0, count: outputs)
            var bq = [Int32](repeating: 0, count: outputs)
            for j in 0..<outputs {
                var rowSum: Int64 = 0
                for p in 0..<inputs { rowSum += Int64(wq[j * inputs + p]) }
                let b = (Double(bias[j]) / (Double(sx) * Double(sw[j]))).rounded()
                let total = Swift.max(Swift.min(b, 1e15), -1e15) - Double(Int64(zx) * rowSum)
                bq[j] = Int32(Swift.max(Swift.min(total, Double(Int32.max)), Double(Int32.min)))
            }
            let name = wEntry.name
            q.tensors.append(.init(name: name + ".i8", dtype: .i8, shape: [outputs, inputs], data: wq.map { UInt8(bitPattern: $0) }))
            q.tensors.append(.init(name: name + ".scale", floats: sw, shape: [outputs]))
            q.tensors.append(.init(name: name + ".bias_i32", dtype: .i32, shape: [outputs], data: bq.withUnsafeBytes { Array($0) }))
            let n = q.tensors.count
            if u8Output.contains(y) {
                let p = activationQuantization(try range(y))
                q.values[y].dtype = BundleDType.u8.rawValue
                q.values[y].scale = p.scale
                q.values[y].zeroPoint = p.zeroPoint
            }
            var qop = op
            qop.opcode = BundleOpCode.qlinear.rawValue
            qop.inputs = [xq]
            qop.tensors = [n - 3, n - 2, n - 1]
            q.ops.append(qop)
        }
        // Drop the float tensors only the replaced linears used.
        var used = Set<Int>()
        for op in q.ops { used.formUnion(op.tensors) }
        var remap: [Int: Int] = [:]
        var tensors: [ModelBundle.TensorEntry] = []
        for (i, t) in q.tensors.enumerated() where used.contains(i) { remap[i] = tensors.count; tensors.append(t) }
        q.tensors = tensors
        for i in q.ops.indices { q.ops[i].tensors = q.ops[i].tensors.map { remap[$0]! } }
        return q
    }
}
