import Foundation

/// Turns a trained model into a `ModelBundle` for the C runtime.
///
/// - BatchNorm1d right after a Linear is folded into it (`W' = s·W`, `b' = s·(b − μ) + β`
///   with `s = γ/√(σ² + ε)`); elsewhere it becomes a `scale_shift` op.
/// - Dropout, Identity and Flatten are dropped (they are identities at inference).
/// - ReLU right after a Linear is fused into it.
/// - `.int8`: weights symmetric per output channel (`s_w = max|W_j|/127`); activations
///   entering each Linear are asymmetric u8 with scale and zero point calibrated on
///   `options.calibration` (min/max); Linear→Linear chains pass u8 values directly.
///   The arithmetic is the one in docs/bundle-format.md.
/// - Metadata: exporter version, precision, and when given class labels, data set, test
///   accuracy; self-test vectors with the float model's outputs.
///
/// ```swift
/// var options = BundleExporter.Options(precision: .int8)
/// options.calibration = train.inputs            // or a sample of it
/// options.classLabels = train.classNames
/// let bundle = try BundleExporter.export(model, options: options)
/// try bundle.write(to: "model.myelin")
/// ```
extension BundlePrecision {
    /// "f32", "f16" or "int8" (the CLI's `--precision` values and the `myelin.precision` metadata).
    public var name: String {
        switch self {
        case .f32: return "f32"
        case .f16: return "f16"
        case .int8: return "int8"
        }
    }

    public init?(name: String) {
        switch name {
        case "f32": self = .f32
        case "f16": self = .f16
        case "int8": self = .int8
        default: return nil
        }
    }
}

public enum BundleExporter {
    /// The exporter's version, recorded as `myelin.exporter` = "Myelin <version>".
    public static let version = "0.1.0"

    public struct Options {
        public var precision: BundlePrecision
        /// Inputs `[n, inputSize]` for calibrating activation scales (required for int8).
        public var calibration: Tensor?
        /// Self-test inputs `[k, inputSize]`; by default the first `selfTestCount` rows of
        /// `calibration`, or deterministic uniform [0, 1) inputs without calibration data.
        public var selfTestInputs: Tensor?
        public var selfTestCount: Int
        public var classLabels: [String]?
        public var dataset: String?
        public var testAccuracy: Double?
        /// Further metadata entries (keys must not repeat the ones above).
        public var metadata: [(key: String, value: String)]
        /// Per-sample input size, needed only when the model has no Linear layer.
        public var inputSize: Int?

        public init(precision: BundlePrecision = .f32, calibration: Tensor? = nil, classLabels: [String]? = nil,
                    dataset: String? = nil, testAccuracy: Double? = nil) {
            self.precision = precision
            self.calibration = calibration
            selfTestInputs = nil
            selfTestCount = 2
            self.classLabels = classLabels
            self.dataset = dataset
            self.testAccuracy = testAccuracy
            metadata = []
            inputSize = nil
        }
    }

    /// Why a model cannot be exported.
    public enum ExportError: Error, CustomStringConvertible, Equatable {
        case unsupportedLayer(String)
        case shapeMismatch(String)
        case missingCalibration
        case invalidOption(String)

        public var description: String {
            switch self {
            case .unsupportedLayer(let l): return "cannot export layer \(l)"
            case .shapeMismatch(let m): return "shape mismatch: \(m)"
            case .missingCalibration: return "int8 export needs calibration inputs (a sample of the training data)"
            case .invalidOption(let m): return m
            }
        }
    }

    /// A layer of the inference graph before precision is chosen.
    enum Layer {
        case linear(name: String, weight: [Float], bias: [Float]?, outputs: Int, inputs: Int, relu: Bool)
        case scaleShift(name: String, scale: [Float], shift: [Float])
        case activation(BundleOpCode, parameter: (BundleAttribute, Float)?)
    }

    public static func export(_ model: any Myelin.Layer, options: Options = Options()) throws -> ModelBundle {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }

        let layers = try inferenceLayers(model)
        guard !layers.isEmpty else { throw ExportError.unsupportedLayer("\(model) (nothing to compute)") }
        let inputSize = try inferInputSize(layers, options)
        let floatBundle = try graph(layers, inputSize: inputSize, precision: .f32, ranges: [:])
        var bundle: ModelBundle
        switch options.precision {
        case .f32: bundle = floatBundle
        case .f16: bundle = try graph(layers, inputSize: inputSize, precision: .f16, ranges: [:])
        case .int8:
            guard let calibration = options.calibration, calibration.count > 0 else { throw ExportError.missingCalibration }
            guard calibration.rank == 2, calibration.shape[1] == inputSize else {
                throw ExportError.shapeMismatch("calibration inputs \(calibration.shape), model input [n, \(inputSize)]")
            }
            let ranges = calibrate(floatBundle, calibration)
            bundle = try graph(layers, inputSize: inputSize, precision: .int8, ranges: ranges)
        }
        bundle.metadata = try metadata(options, outputSize: bundle.outputSize)
        bundle.selfTest = try selfTest(model, bundle, options, inputSize: inputSize)
        return bundle
    }

    // MARK: Layers

    static func leaves(_ module: any Myelin.Layer, path: String) -> [(String, any Myelin.Layer)] {
        guard let seq = module as? Sequential else { return [(path, module)] }
        return seq.layers.enumerated().flatMap { leaves($0.element, path: path.isEmpty ? String($0.offset) : "\(path).\($0.offset)") }
    }

    static func inferenceLayers(_ model: any Myelin.Layer) throws -> [Layer] {
        var out: [Layer] = []
        for (name, m) in leaves(model, path: "") {
            switch m {
            case let l as Linear:
                out.append(.linear(name: name.isEmpty ? "linear" : name, weight: l.weight.data, bias: l.bias?.data,
                                   outputs: l.outFeatures, inputs: l.inFeatures, relu: false))
            case let bn as BatchNorm1d:
                // s = γ/√(σ²+ε), t = β − μ·s, in Double so the fold stays within an f32 ulp or two.
                let s = (0..<bn.features).map { Double(bn.weight?.data[$0] ?? 1) / (Double(bn.runningVar.data[$0]) + Double(bn.eps)).squareRoot() }
                let beta = (0..<bn.features).map { Double(bn.bias?.data[$0] ?? 0) }
                if case .linear(let lname, let w, let b, let outputs, let inputs, false)? = out.last {
                    guard outputs == bn.features else {
                        throw ExportError.shapeMismatch("\(name): BatchNorm1d(\(bn.features)) after a Linear with \(outputs) outputs")
                    }
                    var folded = w, bias = [Float](repeating: 0, count: outputs)
                    for j in 0..<outputs {
                        for p in 0..<inputs { folded[j * inputs + p] = Float(Double(w[j * inputs + p]) * s[j]) }
                        bias[j] = Float(s[j] * (Double(b?[j] ?? 0) - Double(bn.runningMean.data[j])) + beta[j])
                    }
                    out[out.count - 1] = .linear(name: lname, weight: folded, bias: bias, outputs: outputs, inputs: inputs, relu: false)
                } else {
                    out.append(.scaleShift(name: name, scale: s.map { Float($0) },
                                           shift: (0..<bn.features).map { Float(beta[$0] - Double(bn.runningMean.data[$0]) * s[$0]) }))
                }
            case is Dropout, is Identity, is Flatten:
                continue
            case is ReLU:
                if case .linear(let lname, let w, let b, let o, let i, false)? = out.last {
                    out[out.count - 1] = .linear(name: lname, weight: w, bias: b, outputs: o, inputs: i, relu: true)
                } else {
                    out.append(.activation(.relu, parameter: nil))
                }
            case let l as LeakyReLU: out.append(.activation(.leakyRelu, parameter: (.slope, l.slope)))
            case let e as ELU: out.append(.activation(.elu, parameter: (.alpha, e.alpha)))
            case is Sigmoid: out.append(.activation(.sigmoid, parameter: nil))
            case is Tanh: out.append(.activation(.tanh, parameter: nil))
            case let s as Softmax where s.axis == -1 || s.axis == 1: out.append(.activation(.softmax, parameter: nil))
            case let s as LogSoftmax where s.axis == -1 || s.axis == 1: out.append(.activation(.logSoftmax, parameter: nil))
            default:
                throw ExportError.unsupportedLayer("\(name.isEmpty ? "" : "(\(name)) ")\(m)")
            }
        }
        return out
    }

    static func inferInputSize(_ layers: [Layer], _ options: Options) throws -> Int {
        for layer in layers {
            switch layer {
            case .linear(_, _, _, _, let inputs, _): return inputs
            case .scaleShift(_, let scale, _): return scale.count
            case .activation: continue
            }
        }
        guard let n = options.inputSize, n > 0 else {
            throw ExportError.invalidOption("the model has no Linear or BatchNorm layer: set Options.inputSize")
        }
        return n
    }

    // MARK: Graph

    /// Activation range (min, max) of a value of the float graph, by value id.
    typealias Ranges = [Int: (Float, Float)]

    /// Builds the graph. Value ids of the f32 graph are stable: value i+1 is the output of
    /// layer i, so `ranges` (measured on the f32 graph) index layer inputs directly.
    static func graph(_ layers: [Layer], inputSize: Int, precision: BundlePrecision, ranges: Ranges) throws -> ModelBundle {
        var tensors: [ModelBundle.TensorEntry] = []
        var values = [ModelBundle.Value(name: "input", dtype: .f32, shape: [inputSize])]
        var ops: [ModelBundle.Op] = []
        var current = 0          // value id holding the running activation
        var features = inputSize
        func addValue(_ name: String, _ dtype: BundleDType, _ n: Int, _ q: (Float, Int32) = (0, 0)) -> Int {
            values.append(.init(name: name, dtype: dtype, shape: [n], scale: q.0, zeroPoint: q.1))
            return values.count - 1
        }
        func addTensor(_ t: ModelBundle.TensorEntry) -> Int { tensors.append(t); return tensors.count - 1 }

        for (index, layer) in layers.enumerated() {
            let floatInput = index          // id of this layer's input in the f32 graph
            switch layer {
            case .linear(let name, let weight, let bias, let outputs, let inputs, let relu):
                guard inputs == features else {
                    throw ExportError.shapeMismatch("\(name): Linear expects \(inputs) inputs, previous layer gives \(features)")
                }
                let activation: [(BundleAttribute, ModelBundle.AttributeValue)] = relu ? [(.activation, .int(BundleActivation.relu.rawValue))] : []
                if precision == .int8 {
                    // Input: u8 from the previous qlinear, or quantised here.
                    var x = current
                    if values[x].dtype != BundleDType.u8.rawValue {
                        let q = activationQuantization(ranges[floatInput]!)
                        x = addValue("\(name).input_q", .u8, inputs, q)
                        ops.append(.init(.quantize, inputs: [current], outputs: [x]))
                    }
                    let (sx, zx) = (values[x].scale, values[x].zeroPoint)
                    let (wq, sw) = quantizeWeights(weight, outputs: outputs, inputs: inputs)
                    var bq = [Int32](repeating: 0, count: outputs)
                    for j in 0..<outputs {
                        var rowSum: Int64 = 0
                        for p in 0..<inputs { rowSum += Int64(wq[j * inputs + p]) }
                        let b = (Double(bias?[j] ?? 0) / (Double(sx) * Double(sw[j]))).rounded()
                        let total = Swift.max(Swift.min(b, 1e15), -1e15) - Double(Int64(zx) * rowSum)
                        bq[j] = Int32(Swift.max(Swift.min(total, Double(Int32.max)), Double(Int32.min)))
                    }
                    let w = addTensor(.init(name: "\(name).weight", dtype: .i8, shape: [outputs, inputs], data: wq.map { UInt8(bitPattern: $0) }))
                    let s = addTensor(.init(name: "\(name).weight_scale", floats: sw, shape: [outputs]))
                    let b = addTensor(.init(name: "\(name).bias", dtype: .i32, shape: [outputs], data: bq.withUnsafeBytes { Array($0) }))
                    // Output: u8 straight into the next Linear, else f32.
                    let y: Int
                    if index + 1 < layers.count, case .linear(let next, _, _, _, _, _) = layers[index + 1] {
                        y = addValue("\(next).input_q", .u8, outputs, activationQuantization(ranges[index + 1]!))
                    } else {
                        y = addValue("\(name).output", .f32, outputs)
                    }
                    ops.append(.init(.qlinear, inputs: [x], outputs: [y], tensors: [w, s, b], attributes: activation))
                    current = y
                } else {
                    let w = precision == .f16
                        ? addTensor(.init(name: "\(name).weight", dtype: .f16, shape: [outputs, inputs],
                                          data: weight.map(floatToHalfBits).withUnsafeBytes { Array($0) }))
                        : addTensor(.init(name: "\(name).weight", floats: weight, shape: [outputs, inputs]))
                    var ts = [w]
                    if let bias { ts.append(addTensor(.init(name: "\(name).bias", floats: bias, shape: [outputs]))) }
                    let y = addValue("\(name).output", .f32, outputs)
                    ops.append(.init(.linear, inputs: [current], outputs: [y], tensors: ts, attributes: activation))
                    current = y
                }
                features = outputs
            case .scaleShift(let name, let scale, let shift):
                guard scale.count == features else {
                    throw ExportError.shapeMismatch("\(name): BatchNorm1d(\(scale.count)) on \(features) features")
                }
                let s = addTensor(.init(name: "\(name).scale", floats: scale, shape: [features]))
                let t = addTensor(.init(name: "\(name).shift", floats: shift, shape: [features]))
                let y = addValue("\(name).output", .f32, features)
                ops.append(.init(.scaleShift, inputs: [current], outputs: [y], tensors: [s, t]))
                current = y
            case .activation(let code, let parameter):
                let y = addValue("\(ops.count).\(code)", .f32, features)
                let attributes = parameter.map { [($0.0, ModelBundle.AttributeValue.float(Double($0.1)))] } ?? []
                ops.append(.init(code, inputs: [current], outputs: [y], attributes: attributes))
                current = y
            }
        }
        return ModelBundle(precision: precision, tensors: tensors, values: values, inputs: [0], outputs: [current], ops: ops)
    }

    /// Per output channel: `s_w = max|W_j|/127` (1 for an all-zero row), `q = clamp(round(W/s_w), −127, 127)`.
    static func quantizeWeights(_ w: [Float], outputs: Int, inputs: Int) -> ([Int8], [Float]) {
        var q = [Int8](repeating: 0, count: w.count)
        var scales = [Float](repeating: 1, count: outputs)
        for j in 0..<outputs {
            let row = w[(j * inputs)..<((j + 1) * inputs)]
            let top = row.reduce(0) { Swift.max($0, abs($1)) }
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
    static func activationQuantization(_ range: (Float, Float)) -> (Float, Int32) {
        let lo = Swift.min(range.0, 0), hi = Swift.max(range.1, 0)
        guard hi > lo, (hi - lo).isFinite else { return (1, 0) }
        let scale = (hi - lo) / 255
        let zero = Int32(Swift.max(0, Swift.min(255, (-lo / scale).rounded(.toNearestOrEven))))
        return (scale, zero)
    }

    /// Min and max of every value of the f32 graph over the calibration inputs.
    static func calibrate(_ bundle: ModelBundle, _ calibration: Tensor) -> Ranges {
        var ranges: Ranges = [:]
        let executor = BundleExecutor(bundle)
        let n = calibration.shape[0], width = calibration.shape[1]
        func record(_ id: Int, _ v: [Float]) {
            var (lo, hi) = ranges[id] ?? (Float.infinity, -Float.infinity)
            for x in v where x.isFinite { lo = Swift.min(lo, x); hi = Swift.max(hi, x) }
            ranges[id] = (lo, hi)
        }
        var start = 0
        while start < n {
            let rows = Swift.min(256, n - start)
            let chunk = Array(calibration.data[(start * width)..<((start + rows) * width)])
            record(bundle.inputs[0], chunk)
            _ = executor.run(chunk, batch: rows) { id, contents in
                if case .f32(let v) = contents { record(id, v) }
            }
            start += rows
        }
        return ranges.mapValues { $0.0 <= $0.1 ? $0 : (0, 0) }
    }

    // MARK: Metadata and self-test

    static func metadata(_ options: Options, outputSize: Int) throws -> [(key: String, value: String)] {
        var entries: [(key: String, value: String)] = [
            ("myelin.exporter", "Myelin \(version)"),
            ("myelin.precision", options.precision.name),
        ]
        if let labels = options.classLabels {
            guard labels.count == outputSize else {
                throw ExportError.invalidOption("\(labels.count) class labels for \(outputSize) outputs")
            }
            guard !labels.contains(where: { $0.contains("\n") || $0.utf8.contains(0) }) else {
                throw ExportError.invalidOption("class labels must not contain newlines or NUL")
            }
            entries.append(("class_labels", labels.joined(separator: "\n")))
        }
        if let d = options.dataset { entries.append(("dataset", d)) }
        if let a = options.testAccuracy { entries.append(("test_accuracy", String(format: "%.4f", a))) }
        if options.precision == .int8, let c = options.calibration { entries.append(("int8.calibration_samples", String(c.shape[0]))) }
        entries += options.metadata
        var seen = Set<String>()
        for (key, value) in entries {
            guard !key.isEmpty, seen.insert(key).inserted else { throw ExportError.invalidOption("metadata key \"\(key)\" is empty or repeated") }
            guard !key.utf8.contains(0), !value.utf8.contains(0),
                  key.utf8.count <= BundleLimits.maxStringBytes, value.utf8.count <= BundleLimits.maxStringBytes else {
                throw ExportError.invalidOption("metadata \"\(key)\" contains NUL or exceeds \(BundleLimits.maxStringBytes) bytes")
            }
        }
        return entries
    }

    static func selfTest(_ model: any Myelin.Layer, _ bundle: ModelBundle, _ options: Options, inputSize: Int) throws -> ModelBundle.SelfTest? {
        let inputs: [Float]
        if let given = options.selfTestInputs {
            guard given.rank == 2, given.shape[1] == inputSize, given.shape[0] >= 1 else {
                throw ExportError.shapeMismatch("self-test inputs \(given.shape), model input [k, \(inputSize)]")
            }
            inputs = given.data
        } else {
            guard options.selfTestCount > 0 else { return nil }
            if let c = options.calibration, c.shape[0] > 0 {
                inputs = Array(c.data.prefix(Swift.min(options.selfTestCount, c.shape[0]) * inputSize))
            } else {
                inputs = Tensor.uniform([options.selfTestCount, inputSize], generator: Generator(seed: 1)).data
            }
        }
        let count = inputs.count / inputSize
        guard count <= BundleLimits.maxSelfTestVectors else {
            throw ExportError.invalidOption("\(count) self-test vectors, at most \(BundleLimits.maxSelfTestVectors)")
        }
        let expected = noGrad { model(Tensor(shape: [count, inputSize], data: inputs)).data }
        guard expected.count == count * bundle.outputSize else {
            throw ExportError.shapeMismatch("the model gives \(expected.count / count) outputs per sample, the graph \(bundle.outputSize)")
        }
        let produced = BundleExecutor(bundle).run(inputs, batch: count)
        var deviation: Float = 0
        for (y, e) in zip(produced, expected) { deviation = Swift.max(deviation, abs(y - e)) }
        if bundle.precision == .f32 {
            // The graph is the model up to BatchNorm folding: a tight tolerance.
            return .init(inputs: [inputs], expected: [expected], count: count, rtol: 1e-4, atol: Swift.max(1e-5, 2 * deviation))
        }
        return .init(inputs: [inputs], expected: [expected], count: count, rtol: 0, atol: 2 * deviation + 1e-4)
    }
}
