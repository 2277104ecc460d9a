import Foundation

// Int8 quantisation of a lowered float graph (arithmetic in docs/bundle-format.md): every
// `linear` becomes a `qlinear` and every `conv2d` a `qconv2d`, with symmetric
// per-output-channel i8 weights and u8 activations whose scales come from the ranges the
// traced forward pass produced on the calibration inputs. A quantised op writes u8 straight
// into its readers when each of them is a quantised op or a u8 move (reshape, transpose,
// slice, channel shuffle, max pooling) whose output is itself read that way; otherwise it writes f32, and one `quantize` per
// value feeds the quantised ops that read it. Recurrent layers get i8 weights only
// (Quantization+Sequence.swift). Every other op stays in f32 (f32 islands: average pooling,
// residual additions, concatenations, softmax, attention cores).
//
// Before quantising: range equalisation of conv2d → conv2d pairs (exact in float; the channels
// of a value share its per-tensor u8 scale more evenly) and, per int8 conv2d, bias correction
// (its mean float − int8 output per channel folded into the bias).
//
// Mixed precision: layers the user names, (optionally) layers whose int8 error measured in
// isolation is too large, and (optionally) the least accurate layers, one at a time, until the
// model's argmax agreement with float reaches a target, stay `linear`/`conv2d` in f32. The export reports, per layer,
// that error (SQNR and max relative error on calibration rows) and the model's argmax
// agreement (and accuracy, given labels) against float; a collapse is a warning with figures.

/// How `BundleExporter` quantises an int8 export.
public struct Int8ExportOptions {
    /// Layers kept in f32, by module path ("features.3", "classifier.1") — the name of the
    /// layer's weight without ".weight". An unknown name is an error listing the layers.
    public var keepFloat: [String] = []
    /// Layers whose isolated int8 SQNR (dB) is below this stay in f32; nil: none do.
    public var minimumSQNR: Double? = nil
    /// Target argmax agreement with float (fraction) on the comparison samples (held out, or
    /// calibration): while the int8 model agrees less, one more layer is kept in f32 — the one
    /// whose return to f32 brings the model's output closest to float's (highest output SQNR
    /// on the calibration rows); nil: no such search.
    public var minimumAgreement: Double? = nil
    /// How activation ranges come from the calibration values: `.minMax` takes the observed
    /// range; `.mse` shrinks it (by 2% steps, down to 20%) to the clip range whose
    /// quantise–dequantise round trip has the least squared error on those values — long
    /// tails then no longer cost every other value its resolution.
    public enum Calibration { case minMax, mse }
    public var calibration = Calibration.mse
    /// Calibration rows the per-layer errors are measured on (the first ones).
    public var reportSamples = 64
    /// Whether each int8 conv2d's bias absorbs the mean of its float − int8 output per output
    /// channel (`Quantization.biasCorrection`), measured on the first `biasCorrectionSamples`
    /// calibration rows. (Linear layers keep their bias.)
    public var biasCorrection = true
    public var biasCorrectionSamples = 256
    /// Whether the output channels of a conv2d read only by another conv2d are rescaled
    /// first (`Quantization.equalizeRanges`, exact in float) so that their calibration ranges
    /// share the per-tensor u8 scale more evenly.
    public var equalizeRanges = true
    /// Held-out inputs `[n, …]` (one-input models) on which the int8 bundle is compared with
    /// the float model; by default the calibration inputs.
    public var validationInputs: Tensor? = nil
    /// Labels of `validationInputs` (or of the calibration rows): the report then has both
    /// accuracies.
    public var validationLabels: [Int]? = nil
    /// Below this argmax agreement with float, or above this accuracy drop (fraction, not
    /// points), the int8 model has collapsed: the report carries a warning with the figures.
    public var warnBelowAgreement = 0.97
    public var warnAboveAccuracyDrop = 0.01
    /// Whether the recurrent layers (rnn, lstm, gru) get i8 weights with per-row scales
    /// (Quantization+Sequence.swift); their activations and state stay f32 either way.
    public var recurrentWeights = true

    public init(keepFloat: [String] = [], minimumSQNR: Double? = nil) {
        self.keepFloat = keepFloat
        self.minimumSQNR = minimumSQNR
    }
}

/// What an int8 export measured: per-layer quantisation error and the model's agreement with
/// float. `description` is the table `myelin export` prints.
public struct QuantizationReport: CustomStringConvertible {
    public struct Layer {
        /// Module path of the layer ("features.0").
        public var name: String
        /// "linear", "conv2d", or (i8 weights, f32 activations) "rnn", "lstm", "gru".
        public var op: String
        /// Signal-to-quantisation-noise ratio of the layer's output, in dB: 10·log10(Σy² / Σ(y − ŷ)²),
        /// with ŷ the int8 op's f32 output on the float input quantised with its calibrated
        /// range (∞ when exact). Requantising a u8 output is the next layer's input error.
        public var sqnr: Double
        /// max |y − ŷ| / max |y|.
        public var maxRelativeError: Double
        /// Whether the bundle runs the layer in int8 (false: kept in f32).
        public var quantized: Bool
        /// Why a layer stays in f32 ("kept by the user", "SQNR below …").
        public var reason: String?
    }

    public var layers: [Layer] = []
    /// Rows the layer errors were measured on.
    public var layerSamples = 0
    /// Samples the model comparison ran on, and whether they were held out.
    public var samples = 0
    /// Positions the argmax agreement counts: `samples` for a classifier, samples × time steps
    /// for a sequence output `[N, T, V]` (compared per position).
    public var positions = 0
    public var heldOut = false
    /// Fraction of samples whose int8 argmax equals float's (first output).
    public var argmaxAgreement: Double?
    public var floatAccuracy: Double?
    public var int8Accuracy: Double?
    /// Collapse warnings, with figures.
    public var warnings: [String] = []

    public var description: String {
        var lines = ["int8 quantisation error per layer (\(layerSamples) calibration samples):",
                     "  layer                          op       SQNR dB   max rel. err  precision"]
        for l in layers {
            let sqnr = l.sqnr.isInfinite ? "inf" : String(format: "%.1f", l.sqnr)
            lines.append("  " + l.name.padding(toLength: 30, withPad: " ", startingAt: 0) + " "
                         + l.op.padding(toLength: 8, withPad: " ", startingAt: 0)
                         + String(repeating: " ", count: Swift.max(0, 8 - sqnr.count)) + sqnr
                         + String(format: "   %10.4f", l.maxRelativeError) + "   " + (l.quantized ? "int8" : "f32 (\(l.reason ?? ""))"))
        }
        let set = heldOut ? "held-out" : "calibration"
        if let a = argmaxAgreement, let f = floatAccuracy, let q = int8Accuracy {
            lines.append(String(format: "int8 on %d %@ samples: accuracy %.2f%% (float %.2f%%), argmax agreement with float %.2f%%",
                                samples, heldOut ? "test" : set, 100 * q, 100 * f, 100 * a))
        } else if let a = argmaxAgreement, positions > samples {
            lines.append(String(format: "int8 on %d %@ samples (%d positions): argmax agreement with float per position %.2f%%",
                                samples, set, positions, 100 * a))
        } else if let a = argmaxAgreement {
            lines.append(String(format: "int8 on %d %@ samples: argmax agreement with float %.2f%%", samples, set, 100 * a))
        }
        for w in warnings { lines.append("WARNING: " + w) }
        return lines.joined(separator: "\n")
    }
}

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

    /// The activation range of calibration values `data`: observed (min, max), or with `.mse`
    /// that range scaled by the factor f ∈ {1, 0.98, …, 0.2} whose u8 round trip has the least
    /// squared error (on at most 2^18 evenly spaced values).
    static func calibratedRange(_ data: [Float], _ method: Int8ExportOptions.Calibration) -> (Float, Float) {
        var lo = Float.infinity, hi = -Float.infinity
        for x in data where x.isFinite { lo = Swift.min(lo, x); hi = Swift.max(hi, x) }
        guard lo <= hi else { return (0, 0) }
        guard method == .mse, hi > lo else { return (lo, hi) }
        let step = Swift.max(1, data.count >> 18)
        var values: [Float] = []
        values.reserveCapacity(data.count / step + 1)
        for i in stride(from: 0, to: data.count, by: step) where data[i].isFinite { values.append(data[i]) }
        var best = (lo, hi), bestError = Double.infinity
        for k in 0...40 {
            let f = 1 - Float(k) * 0.02
            let candidate = (lo * f, hi * f)
            let p = activationQuantization(candidate)
            let inverse = quantizationInverseScale(p.scale), z = Float(p.zeroPoint)
            var error = 0.0
            for x in values {
                let q = Float(quantizeToU8(x, invScale: inverse, zeroPoint: z))
                let d = Double(x - p.scale * (q - z))
                error += d * d
            }
            if error < bestError { bestError = error; best = candidate }
        }
        return best
    }

    /// The module path of a layer from its weight tensor's name ("features.0.weight+bn" → "features.0").
    static func layerName(_ weightName: String) -> String {
        if let r = weightName.range(of: ".weight", options: .backwards) { return String(weightName[..<r.lowerBound]) }
        return weightName
    }

    static func isQuantizable(_ op: ModelBundle.Op) -> Bool { op.code == .linear || op.code == .conv2d }
    /// Ops that move u8 elements unchanged (same scale and zero point in and out); max pooling
    /// (without indices) too: max commutes with the monotone quantisation, so it is exact.
    static func movesU8(_ op: ModelBundle.Op) -> Bool {
        op.code == .reshape || op.code == .transpose || op.code == .slice || op.code == .channelShuffle
            || (op.code == .maxPool2d && op.outputs.count == 1)
    }

    /// The int8 tensors of float op `op` (linear or conv2d) reading u8 input (s_x, z_x):
    /// weight i8, its scales, and the i32 bias with −z_x·Σw folded in.
    /// `biasShift` (per output channel, f32 units) is added to the float bias first (bias correction).
    static func quantizedTensors(_ f: ModelBundle, _ op: ModelBundle.Op, inputScale sx: Float, inputZeroPoint zx: Int32,
                                 biasShift: [Float]? = nil) -> [ModelBundle.TensorEntry] {
        let wEntry = f.tensors[op.tensors[0]]
        let outputs = wEntry.shape[0], inputs = wEntry.shape.dropFirst().reduce(1, *)
        let (wq, sw) = quantizeWeights(wEntry.floats, outputs: outputs, inputs: inputs)
        var bias = op.tensors.count > 1 ? f.tensors[op.tensors[1]].floats : [Float](repeating: 0, count: outputs)
        if let biasShift { for j in 0..<outputs { bias[j] += biasShift[j] } }
        var bq = [Int32](repeating: 0, count: outputs)
        for j in 0..<outputs {
            var rowSum: Int64 = 0
            for p in 0..<inputs { rowSum += Int64(wq[j * inputs + p]) }
            let b = (Double(bias[j]) / (Double(sx) * Double(sw[j]))).rounded()
            let total = Swift.max(Swift.min(b, 1e15), -1e15) - Double(Int64(zx) * rowSum)
            bq[j] = Int32(Swift.max(Swift.min(total, Double(Int32.max)), Double(Int32.min)))
        }
        let name = wEntry.name
        return [.init(name: name + ".i8", dtype: .i8, shape: wEntry.shape, data: wq.map { UInt8(bitPattern: $0) }),
                .init(name: name + ".scale", floats: sw, shape: [outputs]),
                .init(name: name + ".bias_i32", dtype: .i32, shape: [outputs], data: bq.withUnsafeBytes { Array($0) })]
    }

    /// The int8 bundle for `lowered` (a float graph lowered from `graph`, whose traced
    /// values hold the calibration activations), and the per-layer part of the report.
    /// `agreementKept` names layers kept in f32 by the `minimumAgreement` search.
    static func quantize(_ lowered: LoweredGraph, graph: TracedGraph, options: Int8ExportOptions, agreementKept: [String] = []) throws
        -> (ModelBundle, QuantizationReport) {
        var f = lowered.bundle
        var readers = [[Int]](repeating: [], count: f.values.count)
        for (i, op) in f.ops.enumerated() { for v in op.inputs { readers[v].append(i) } }
        var rescaled: [Int: Tensor] = [:]   // calibration values of equalised outputs
        /// The traced activation of bundle value `v`, batch first (a time-major sequence or a
        /// recurrent state has the batch at axis 1).
        func sample(_ v: Int) throws -> Tensor {
            if let known = rescaled[v] { return known }
            guard let t = lowered.traced[v] else {
                throw BundleExporter.ExportError.invalidOption("int8: value \"\(f.values[v].name)\" has no calibration range")
            }
            let value = graph.values[t]
            return value.batchAxis == 0 ? value.sample : value.sample.transpose(0, value.batchAxis)
        }
        if options.equalizeRanges { rescaled = try equalizeRanges(&f, readers: readers, sample: sample) }
        var ranges: [Int: (Float, Float)] = [:]
        func range(_ v: Int) throws -> (Float, Float) {
            if let known = ranges[v] { return known }
            let r = calibratedRange(try sample(v).data, options.calibration)
            ranges[v] = r
            return r
        }

        // Layers: names, the user's choices, the isolated error of each.
        let layerOps = f.ops.indices.filter { isQuantizable(f.ops[$0]) || (options.recurrentWeights && isRecurrent(f.ops[$0])) }
        let names = layerOps.map { layerName(f.tensors[f.ops[$0].tensors[0]].name) }
        for k in options.keepFloat where !names.contains(k) {
            throw BundleExporter.ExportError.invalidOption("int8: no layer \"\(k)\" to keep in float; the layers are \(names.joined(separator: ", "))")
        }
        var report = QuantizationReport()
        var quantizedOps = Set<Int>()
        for (i, index) in layerOps.enumerated() {
            let op = f.ops[index]
            let error = isRecurrent(op)
                ? try isolatedRecurrentError(f, op, inputs: try op.inputs.map(sample), output: try sample(op.outputs[0]), rows: options.reportSamples)
                : try isolatedError(f, op, input: try sample(op.inputs[0]), output: try sample(op.outputs[0]),
                                    inputRange: try range(op.inputs[0]), rows: options.reportSamples)
            report.layerSamples = error.rows
            var layer = QuantizationReport.Layer(name: names[i], op: layerKind(op), sqnr: error.sqnr,
                                                 maxRelativeError: error.maxRelative, quantized: true, reason: nil)
            if options.keepFloat.contains(names[i]) {
                layer.quantized = false; layer.reason = "kept by the user"
            } else if let minimum = options.minimumSQNR, error.sqnr < minimum {
                layer.quantized = false; layer.reason = String(format: "SQNR below %.1f dB", minimum)
            } else if agreementKept.contains(names[i]) {
                layer.quantized = false
                layer.reason = String(format: "agreement below %.2f%%", 100 * (options.minimumAgreement ?? 1))
            } else if op.code == .conv2d && f.tensors[op.tensors[0]].shape.dropFirst().reduce(1, *) > qconvMaxPatch {
                layer.quantized = false; layer.reason = "patch too large for i32 sums"
            }
            if layer.quantized { quantizedOps.insert(index) }
            report.layers.append(layer)
        }

        // Values written as u8: every reader is a quantised op or a u8 move whose output is u8 too.
        var wantsU8 = [Bool](repeating: false, count: f.values.count)
        for index in f.ops.indices.reversed() {
            for v in f.ops[index].outputs {
                wantsU8[v] = !readers[v].isEmpty && !f.outputs.contains(v) && readers[v].allSatisfy { r in
                    (quantizedOps.contains(r) && isQuantizable(f.ops[r])) || (movesU8(f.ops[r]) && f.ops[r].inputs.count == 1 && wantsU8[f.ops[r].outputs[0]])
                }
            }
        }
        var isU8 = [Bool](repeating: false, count: f.values.count)
        var q = f
        q.precision = .int8
        q.ops = []
        var quantizedCopy: [Int: Int] = [:]   // f32 value → its u8 copy
        for (index, op) in f.ops.enumerated() {
            if movesU8(op), op.inputs.count == 1, isU8[op.inputs[0]], wantsU8[op.outputs[0]] {
                let x = q.values[op.inputs[0]], y = op.outputs[0]
                q.values[y].dtype = BundleDType.u8.rawValue
                q.values[y].scale = x.scale
                q.values[y].zeroPoint = x.zeroPoint
                isU8[y] = true
                q.ops.append(op)
                continue
            }
            guard quantizedOps.contains(index) else { q.ops.append(op); continue }
            if isRecurrent(op) { q.ops.append(recurrentInt8Op(op, in: &q)); continue }
            let x = op.inputs[0], y = op.outputs[0]
            // Input: already u8, or quantised once here for every quantised op that reads it.
            let xq: Int
            if isU8[x] {
                xq = x
            } else if let known = quantizedCopy[x] {
                xq = known
            } else {
                let p = activationQuantization(try range(x))
                q.values.append(.init(name: f.values[x].name + ".q", dtype: .u8, shape: f.values[x].shape,
                                      scale: p.scale, zeroPoint: p.zeroPoint))
                xq = q.values.count - 1
                quantizedCopy[x] = xq
                q.ops.append(.init(.quantize, inputs: [x], outputs: [xq]))
            }
            let shift = options.biasCorrection && op.code == .conv2d
                ? try biasCorrection(f, op, input: try sample(x), inputScale: q.values[xq].scale, inputZeroPoint: q.values[xq].zeroPoint,
                                     rows: options.biasCorrectionSamples)
                : nil
            q.tensors += quantizedTensors(f, op, inputScale: q.values[xq].scale, inputZeroPoint: q.values[xq].zeroPoint,
                                          biasShift: shift)
            let n = q.tensors.count
            if wantsU8[y] {
                let p = activationQuantization(try range(y))
                q.values[y].dtype = BundleDType.u8.rawValue
                q.values[y].scale = p.scale
                q.values[y].zeroPoint = p.zeroPoint
                isU8[y] = true
            }
            var qop = op
            qop.opcode = (op.code == .linear ? BundleOpCode.qlinear : .qconv2d).rawValue
            qop.inputs = [xq]
            qop.tensors = [n - 3, n - 2, n - 1]
            q.ops.append(qop)
        }
        // Drop the float tensors only the replaced ops used.
        var used = Set<Int>()
        for op in q.ops { used.formUnion(op.tensors) }
        var remap: [Int: Int] = [:]
        var tensors: [ModelBundle.TensorEntry] = []
        for (i, t) in q.tensors.enumerated() where used.contains(i) { remap[i] = tensors.count; tensors.append(t) }
        q.tensors = tensors
        for i in q.ops.indices { q.ops[i].tensors = q.ops[i].tensors.map { remap[$0]! } }
        return (q, report)
    }

    /// Of `candidates` (int8 layers), the one whose return to f32 (besides `kept`) gives the
    /// model output closest to float's — highest SQNR of the first output over the first 256
    /// calibration rows; nil when there is none.
    static func mostSensitiveLayer(_ lowered: LoweredGraph, graph: TracedGraph, options: Int8ExportOptions, kept: [String],
                                   candidates: [String]) throws -> String? {
        guard !candidates.isEmpty else { return nil }
        let samples = graph.inputs.map { graph.values[$0.value].sample }
        let n = Swift.min(256, samples[0].shape[0])
        let inputs = samples.map { Array($0.data[0..<(n * ($0.count / $0.shape[0]))]) }
        let float = graph.values[graph.outputs[0].value].sample
        let expected = float.data[0..<(n * (float.count / float.shape[0]))]
        var best: (name: String, sqnr: Double)?
        for name in candidates {
            let (bundle, _) = try quantize(lowered, graph: graph, options: options, agreementKept: kept + [name])
            let y = try BundleExecutor(validating: bundle, reference: false).run(inputs, batch: n)[0]
            var signal = 0.0, noise = 0.0
            for (a, b) in zip(expected, y) { signal += Double(a) * Double(a); noise += Double(a - b) * Double(a - b) }
            let sqnr = noise == 0 ? Double.infinity : 10 * log10(Swift.max(signal, .leastNormalMagnitude) / noise)
            if best == nil || sqnr > best!.sqnr { best = (name, sqnr) }
        }
        return best?.name
    }

    /// Cross-layer range equalisation: for each conv2d A whose output y only one conv2d B reads
    /// (y not a graph output, A's and B's weights used by no other op), output channel c of A
    /// (weight row and bias) is multiplied by f_c > 0 and B's weights reading channel c divided
    /// by it — the same model in float, since ReLU(f·x) = f·ReLU(x). A's i8 weights do not
    /// change (per-output-channel scales); with r_c channel c's largest |y| on the calibration
    /// values and R the largest of all, f_c = R / r_c when B is depthwise (its per-channel
    /// scales absorb 1/f_c as well), else (R / r_c)^0.75 (a compromise: B's rows then span more of their i8 range):
    /// channels with small ranges no longer get a few of the per-tensor u8 levels. Returns
    /// the rescaled calibration values of each such y.
    static func equalizeRanges(_ f: inout ModelBundle, readers: [[Int]], sample: (Int) throws -> Tensor) throws -> [Int: Tensor] {
        var rescaled: [Int: Tensor] = [:]
        var uses = [Int](repeating: 0, count: f.tensors.count)
        for op in f.ops { for t in op.tensors { uses[t] += 1 } }
        for a in f.ops.indices where f.ops[a].code == .conv2d {
            let y = f.ops[a].outputs[0]
            guard readers[y].count == 1, !f.outputs.contains(y), f.ops[readers[y][0]].code == .conv2d,
                  f.ops[readers[y][0]].inputs[0] == y else { continue }
            let opA = f.ops[a], opB = f.ops[readers[y][0]]
            guard (opA.tensors + [opB.tensors[0]]).allSatisfy({ uses[$0] == 1 }) else { continue }
            let wA = f.tensors[opA.tensors[0]], wB = f.tensors[opB.tensors[0]]
            let channels = wA.shape[0], cg = wB.shape[1], perChannel = wB.shape.dropFirst(2).reduce(1, *)
            guard channels % cg == 0, wB.shape[0] % (channels / cg) == 0 else { continue }
            let groups = channels / cg, ng = wB.shape[0] / groups
            let values = try sample(y)
            let n = values.shape[0], plane = values.count / Swift.max(1, n * channels)
            var top = [Float](repeating: 0, count: channels)
            values.data.withUnsafeBufferPointer { v in
                for i in 0..<v.count { let c = (i / plane) % channels; top[c] = Swift.max(top[c], Swift.abs(v[i])) }
            }
            let largest = top.max() ?? 0
            guard largest > 0, largest.isFinite else { continue }
            let exponent: Float = cg == 1 && ng == 1 ? 1 : 0.75
            let factors = top.map { $0 > 0 ? Swift.min(powf(largest / $0, exponent), 1e4) : 1 }
            var weightA = wA.floats
            let rowA = weightA.count / channels
            for c in 0..<channels { for p in 0..<rowA { weightA[c * rowA + p] *= factors[c] } }
            f.tensors[opA.tensors[0]] = .init(name: wA.name, floats: weightA, shape: wA.shape)
            if opA.tensors.count > 1 {
                let bEntry = f.tensors[opA.tensors[1]]
                f.tensors[opA.tensors[1]] = .init(name: bEntry.name, floats: zip(bEntry.floats, factors).map { $0 * $1 }, shape: bEntry.shape)
            }
            var weightB = wB.floats
            for c in 0..<channels {
                let group = c / cg, j = c % cg
                for o in (group * ng)..<((group + 1) * ng) {
                    for p in 0..<perChannel { weightB[(o * cg + j) * perChannel + p] /= factors[c] }
                }
            }
            f.tensors[opB.tensors[0]] = .init(name: wB.name, floats: weightB, shape: wB.shape)
            var scaled = values.data
            for i in scaled.indices { scaled[i] *= factors[(i / plane) % channels] }
            rescaled[y] = Tensor(shape: values.shape, data: scaled)
        }
        return rescaled
    }

    /// Bias correction of float op `op` (linear or conv2d): per output channel, the mean of
    /// float − int8 pre-activation output over the first `rows` calibration samples, the int8
    /// op reading the float input quantised with (scale, zero point). Folded into the bias, it
    /// removes the systematic part of the weights' rounding error — large for layers with few
    /// weights per output, like depthwise convolutions (9 per channel). `applied`: a correction
    /// already in the int8 op's bias (the measured mean is then what remains).
    static func biasCorrection(_ f: ModelBundle, _ op: ModelBundle.Op, input: Tensor, inputScale: Float, inputZeroPoint: Int32,
                               rows: Int, applied: [Float]? = nil) throws -> [Float] {
        let n = Swift.max(1, Swift.min(rows, input.shape[0]))
        let xShape = f.values[op.inputs[0]].shape, yShape = f.values[op.outputs[0]].shape
        let outputs = f.tensors[op.tensors[0]].shape[0]
        var linear = op
        linear.attributes.removeAll { $0.key == BundleAttribute.activation.rawValue }
        // Float: the op alone without its activation.
        var floatOp = linear
        floatOp.inputs = [0]; floatOp.outputs = [1]
        floatOp.tensors = Array(0..<op.tensors.count)
        let floatBundle = ModelBundle(precision: .f32, tensors: op.tensors.map { f.tensors[$0] },
                                      values: [.init(name: "x", dtype: .f32, shape: xShape), .init(name: "y", dtype: .f32, shape: yShape)],
                                      inputs: [0], outputs: [1], ops: [floatOp])
        // int8: quantize, then the int8 op with f32 output.
        var qop = linear
        qop.opcode = (op.code == .linear ? BundleOpCode.qlinear : .qconv2d).rawValue
        qop.inputs = [1]; qop.outputs = [2]; qop.tensors = [0, 1, 2]
        let int8Bundle = ModelBundle(precision: .int8,
                                     tensors: quantizedTensors(f, op, inputScale: inputScale, inputZeroPoint: inputZeroPoint,
                                                               biasShift: applied),
                                     values: [.init(name: "x", dtype: .f32, shape: xShape),
                                              .init(name: "xq", dtype: .u8, shape: xShape, scale: inputScale, zeroPoint: inputZeroPoint),
                                              .init(name: "y", dtype: .f32, shape: yShape)],
                                     inputs: [0], outputs: [2], ops: [.init(.quantize, inputs: [0], outputs: [1]), qop])
        let x = Array(input.data[0..<(n * (input.count / input.shape[0]))])
        let exact = try BundleExecutor(validating: floatBundle, reference: false).run(x, batch: n)
        let rounded = try BundleExecutor(validating: int8Bundle, reference: false).run(x, batch: n)
        // Channel of element i: conv2d [O, H, W] per sample, linear [..., O].
        let perSample = yShape.reduce(1, *)
        let plane = op.code == .conv2d ? perSample / outputs : 1
        var sums = [Double](repeating: 0, count: outputs), counts = [Int](repeating: 0, count: outputs)
        for i in 0..<exact.count {
            let j = ((i % perSample) / plane) % outputs
            sums[j] += Double(exact[i] - rounded[i]); counts[j] += 1
        }
        return (0..<outputs).map { counts[$0] > 0 ? Float(sums[$0] / Double(counts[$0])) : 0 }
    }

    /// The error of float op `op` replaced by its int8 version on the first `rows` calibration
    /// samples: input quantised with its calibrated range, f32 output, against the float output.
    static func isolatedError(_ f: ModelBundle, _ op: ModelBundle.Op, input: Tensor, output: Tensor, inputRange: (Float, Float),
                              rows: Int) throws
        -> (sqnr: Double, maxRelative: Double, rows: Int) {
        let n = Swift.max(1, Swift.min(rows, input.shape[0]))
        let p = activationQuantization(inputRange)
        var mini = ModelBundle(precision: .int8, tensors: quantizedTensors(f, op, inputScale: p.scale, inputZeroPoint: p.zeroPoint),
                               values: [.init(name: "x", dtype: .f32, shape: f.values[op.inputs[0]].shape),
                                        .init(name: "xq", dtype: .u8, shape: f.values[op.inputs[0]].shape, scale: p.scale, zeroPoint: p.zeroPoint),
                                        .init(name: "y", dtype: .f32, shape: f.values[op.outputs[0]].shape)],
                               inputs: [0], outputs: [2], ops: [])
        var qop = op
        qop.opcode = (op.code == .linear ? BundleOpCode.qlinear : .qconv2d).rawValue
        qop.inputs = [1]
        qop.outputs = [2]
        qop.tensors = [0, 1, 2]
        mini.ops = [.init(.quantize, inputs: [0], outputs: [1]), qop]
        let perIn = input.count / input.shape[0], perOut = output.count / output.shape[0]
        let y = try BundleExecutor(validating: mini, reference: false).run([Array(input.data[0..<(n * perIn)])], batch: n)[0]
        var signal = 0.0, noise = 0.0, top: Float = 0, worst: Float = 0
        for (a, b) in zip(output.data[0..<(n * perOut)], y) {
            signal += Double(a) * Double(a); noise += Double(a - b) * Double(a - b)
            top = Swift.max(top, Swift.abs(a)); worst = Swift.max(worst, Swift.abs(a - b))
        }
        let sqnr = noise == 0 ? Double.infinity : 10 * log10(Swift.max(signal, .leastNormalMagnitude) / noise)
        return (sqnr, top > 0 ? Double(worst / top) : Double(worst), n)
    }
}
