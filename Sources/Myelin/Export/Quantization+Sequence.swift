import Foundation

// Int8 weights of the recurrent ops (rnn, lstm, gru; Ops/SequenceRecurrent.swift) in an int8
// export: W_ih and W_hh become i8 with one f32 scale per row (symmetric, s = max|W_row|/127, as
// the linears' weights), while x, the state h (and c), the biases and the arithmetic stay f32
// — weight-only quantisation. A step then reads a quarter of the f32 weight bytes, and no
// activation range is needed (the recurrent state has none that calibration could fix).
// Each recurrent layer is a row of the int8 report (its output's SQNR in isolation) and can be
// kept in f32 like a linear (`keepFloat`, `minimumSQNR`, the agreement search).

extension Quantization {
    static func isRecurrent(_ op: ModelBundle.Op) -> Bool { op.code == .rnn || op.code == .lstm || op.code == .gru }

    /// The report's op name of a quantisable layer.
    static func layerKind(_ op: ModelBundle.Op) -> String {
        switch op.code {
        case .linear: return "linear"
        case .conv2d: return "conv2d"
        case .rnn: return "rnn"
        case .lstm: return "lstm"
        default: return "gru"
        }
    }

    /// `op`, a float recurrent op of `bundle`, with i8 weights: per direction the tensors become
    /// W_ih i8, W_hh i8, b_ih, b_hh, s_ih, s_hh (the i8 tensors and scales appended to `bundle`).
    static func recurrentInt8Op(_ op: ModelBundle.Op, in bundle: inout ModelBundle) -> ModelBundle.Op {
        var q = op
        q.tensors = []
        for d in 0..<(op.tensors.count / 4) {
            var weights: [Int] = [], scales: [Int] = []
            for m in 0..<2 {
                let w = bundle.tensors[op.tensors[4 * d + m]]
                let (values, rowScales) = quantizeWeights(w.floats, outputs: w.shape[0], inputs: w.shape[1])
                bundle.tensors.append(.init(name: w.name + ".i8", dtype: .i8, shape: w.shape, data: values.map { UInt8(bitPattern: $0) }))
                weights.append(bundle.tensors.count - 1)
                bundle.tensors.append(.init(name: w.name + ".scale", floats: rowScales, shape: [w.shape[0]]))
                scales.append(bundle.tensors.count - 1)
            }
            q.tensors += weights + [op.tensors[4 * d + 2], op.tensors[4 * d + 3]] + scales
        }
        return q
    }

    /// The error of float recurrent op `op` of `f` with i8 weights, alone on the first `rows`
    /// calibration samples of its inputs: SQNR and max relative error of its first output.
    static func isolatedRecurrentError(_ f: ModelBundle, _ op: ModelBundle.Op, inputs: [Tensor], output: Tensor, rows: Int)
        throws -> (sqnr: Double, maxRelative: Double, rows: Int) {
        let n = Swift.max(1, Swift.min(rows, inputs[0].shape[0]))
        var mini = ModelBundle(precision: .int8, tensors: op.tensors.map { f.tensors[$0] }, values: [], inputs: [], outputs: [], ops: [])
        var local = op
        local.tensors = Array(0..<op.tensors.count)
        local.inputs = op.inputs.map { v in mini.values.append(f.values[v]); return mini.values.count - 1 }
        local.outputs = op.outputs.map { v in mini.values.append(f.values[v]); return mini.values.count - 1 }
        mini.inputs = local.inputs
        mini.outputs = local.outputs
        mini.ops = [recurrentInt8Op(local, in: &mini)]
        let y = try BundleExecutor(validating: mini, reference: false)
            .run(inputs.map { Array($0.data[0..<(n * ($0.count / $0.shape[0]))]) }, batch: n)[0]
        let expected = output.data[0..<(n * (output.count / output.shape[0]))]
        var signal = 0.0, noise = 0.0, top: Float = 0, worst: Float = 0
        for (a, b) in zip(expected, y) {
            signal += Double(a) * Double(a); noise += Double(a - b) * Double(a - b)
            top = Swift.max(top, Swift.abs(a)); worst = Swift.max(worst, Swift.abs(a - b))
        }
        let sqnr = noise == 0 ? Double.infinity : 10 * log10(Swift.max(signal, .leastNormalMagnitude) / noise)
        return (sqnr, top > 0 ? Double(worst / top) : Double(worst), n)
    }
}
