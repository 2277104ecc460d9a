import Foundation

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

/// Turns a trained model into a `ModelBundle` for the C runtime, by tracing: the model's
/// forward pass runs once on example inputs (in evaluation mode), every op it computes is
/// recorded (`TracedGraph`), passes fold BatchNorm into the op before it, fuse ReLUs and drop
/// what reaches no output (Dropout is an identity in evaluation mode and never appears), and
/// the graph is lowered to the bundle's inference ops. Any model built from supported ops
/// exports, custom modules and several inputs and outputs included; an unsupported op is an
/// error naming the op and the module that used it.
///
/// - `.f16` stores the weights of `linear` ops in half precision.
/// - `.int8`: weights symmetric per output channel (`s_w = max|W_j|/127`); activations entering
///   each `linear` and `conv2d` are asymmetric u8 calibrated on `options.calibration` (the
///   min/max range, shrunk where that lowers the squared error: `Int8ExportOptions.calibration`),
///   whose rows are also the traced example; the recurrent layers (rnn, lstm, gru) get i8
///   weights with per-row scales but keep f32 activations (Quantization+Sequence.swift); other
///   ops stay in f32 (see Quantization.swift).
///   `options.int8` keeps named layers in float, those whose error is too large, or (with
///   `minimumAgreement`) the most sensitive ones until the argmax agreement is reached;
///   `exportWithReport` also returns the per-layer error and the argmax agreement with float.
/// - Metadata: exporter version, precision, the input preprocessing, and when given class
///   labels, data set and test accuracy; self-test vectors with the float model's outputs and
///   a tolerance that follows from the precision.
///
/// ```swift
/// var options = BundleExporter.Options(precision: .int8, calibration: train.inputs.rows(0..<1000))
/// options.classLabels = train.classNames
/// let bundle = try BundleExporter.export(model, options: options)          // one input
/// try bundle.write(to: "model.myelin")
///
/// let twoInputs = try BundleExporter.export(model, inputs: [("image", [784]), ("side", [4])],
///                                           outputNames: ["logits"]) { [model.forward($0[0], $0[1])] }
/// ```
public enum BundleExporter {
    /// The exporter's version, recorded as `myelin.exporter` = "Myelin <version>".
    public static let version = "0.2.0"

    public struct Options {
        public var precision: BundlePrecision
        /// Calibration inputs `[n, …input shape]` of a one-input model (required for int8; also
        /// the traced example). For several inputs use `calibrationInputs`.
        public var calibration: Tensor? {
            get { calibrationInputs?.first }
            set { calibrationInputs = newValue.map { [$0] } }
        }
        /// One calibration tensor per graph input, all with the same number of rows.
        public var calibrationInputs: [Tensor]?
        /// Self-test inputs, one tensor `[k, …]` per graph input; by default the first
        /// `selfTestCount` calibration rows, or deterministic uniform [0, 1) inputs.
        public var selfTestInputs: [Tensor]?
        public var selfTestCount: Int
        public var classLabels: [String]?
        public var dataset: String?
        public var testAccuracy: Double?
        /// What the inputs mean, for C programs (metadata `input.preprocessing`), e.g.
        /// "pixels / 255: floats in [0, 1], row-major [28, 28]".
        public var inputPreprocessing: String?
        /// Further metadata entries (keys must not repeat the ones above).
        public var metadata: [(key: String, value: String)]
        /// Per-sample input shape of a one-input model; by default `[inFeatures]` of its first Linear.
        public var inputShape: [Int]?
        /// int8 only: layers kept in float, automatic fallback, the held-out set of the report.
        public var int8 = Int8ExportOptions()

        public init(precision: BundlePrecision = .f32, calibration: Tensor? = nil, classLabels: [String]? = nil,
                    dataset: String? = nil, testAccuracy: Double? = nil) {
            self.precision = precision
            calibrationInputs = calibration.map { [$0] }
            selfTestInputs = nil
            selfTestCount = 2
            self.classLabels = classLabels
            self.dataset = dataset
            self.testAccuracy = testAccuracy
            inputPreprocessing = nil
            metadata = []
            inputShape = nil
        }
    }

    /// Why a model cannot be exported.
    public enum ExportError: Error, CustomStringConvertible, Equatable {
        /// An op the bundle format cannot express, with the module path that used it.
        case unsupportedOp(op: String, module: String, reason: String)
        case shapeMismatch(String)
        case missingCalibration
        case invalidOption(String)
        /// The float bundle does not reproduce the model within its tolerance (an exporter bug).
        case selfTestFailed(maxError: Float, tolerance: Float)

        public var description: String {
            switch self {
            case .unsupportedOp(let op, let module, let reason):
                return "cannot export op \"\(op)\" in \(module.isEmpty ? "the model's top level" : "module \"\(module)\"")"
                    + (reason.isEmpty ? "" : ": \(reason)")
            case .shapeMismatch(let m): return "shape mismatch: \(m)"
            case .missingCalibration: return "int8 export needs calibration inputs (a sample of the training data)"
            case .invalidOption(let m): return m
            case .selfTestFailed(let e, let t):
                return "the exported graph differs from the model (max |error| \(e), tolerance \(t)): please report this"
            }
        }
    }

    /// Exports a one-input layer; its input shape is `options.inputShape`, the calibration
    /// inputs' shape, or `[inFeatures]` of its first Linear.
    public static func export(_ model: any Layer, options: Options = Options()) throws -> ModelBundle {
        try export(model, inputs: [("input", try inputShape(model, options))], outputNames: ["output"], options: options) { [model($0[0])] }
    }

    /// Exports any module: `inputs` names each graph input with its per-sample shape,
    /// `forward` computes the outputs (named by `outputNames`) from one tensor per input.
    public static func export(_ model: any Module, inputs: [(name: String, shape: [Int])], outputNames: [String]? = nil,
                              options: Options = Options(), forward: ([Tensor]) -> [Tensor]) throws -> ModelBundle {
        try exportWithReport(model, inputs: inputs, outputNames: outputNames, options: options, forward: forward).bundle
    }

    /// `export` of a one-input layer, with the int8 report (nil for f32 and f16).
    public static func exportWithReport(_ model: any Layer, options: Options) throws -> (bundle: ModelBundle, report: QuantizationReport?) {
        try exportWithReport(model, inputs: [("input", try inputShape(model, options))], outputNames: ["output"], options: options) { [model($0[0])] }
    }

    /// `export` with the int8 report (nil for f32 and f16): per-layer quantisation error,
    /// argmax agreement with the float model (and accuracies, given labels), and warnings when
    /// the int8 model collapses — also written to the metadata (`int8.argmax_agreement`, …).
    public static func exportWithReport(_ model: any Module, inputs: [(name: String, shape: [Int])], outputNames: [String]? = nil,
                                        options: Options = Options(), forward: ([Tensor]) -> [Tensor]) throws
        -> (bundle: ModelBundle, report: QuantizationReport?) {
        guard !inputs.isEmpty else { throw ExportError.invalidOption("a model needs at least one input") }
        let examples = try exampleInputs(inputs, options)
        var graph = try TracedGraph(tracing: model, inputs: zip(inputs, examples).map { ($0.0.name, $0.1) },
                                    outputNames: outputNames, forward: forward)
        graph.optimizeForInference()
        let lowered = try graph.lowered(weightType: options.precision == .f16 ? .f16 : .f32)
        var bundle = lowered.bundle
        var report: QuantizationReport?
        if options.precision == .int8 {
            (bundle, report) = try Quantization.quantize(lowered, graph: graph, options: options.int8)
        }
        // The reader validates every op like the runtime does: a lowering mistake stops here.
        do {
            _ = try ModelBundle(decoding: bundle.encode(compressed: false))
        } catch let status as BundleStatus {
            throw ExportError.shapeMismatch("the lowered graph does not validate (\(status)):\n\(graph)")
        }
        bundle.metadata = try metadata(options, bundle: bundle, calibrationRows: examples[0].shape[0])
        if report != nil {
            try compareWithFloat(model, bundle, graph: graph, examples: examples, options: options, report: &report!, forward: forward)
            // Mixed precision by agreement: one more layer back to f32 at a time until the target is met.
            var kept: [String] = []
            while let target = options.int8.minimumAgreement, report!.argmaxAgreement ?? 1 < target,
                  let next = try Quantization.mostSensitiveLayer(lowered, graph: graph, options: options.int8, kept: kept,
                                                                 candidates: report!.layers.filter(\.quantized).map(\.name)) {
                kept.append(next)
                (bundle, report) = try Quantization.quantize(lowered, graph: graph, options: options.int8, agreementKept: kept)
                bundle.metadata = try metadata(options, bundle: bundle, calibrationRows: examples[0].shape[0])
                try compareWithFloat(model, bundle, graph: graph, examples: examples, options: options, report: &report!, forward: forward)
            }
            bundle.metadata += int8Metadata(report!)
        }
        bundle.selfTest = try selfTest(model, bundle, inputs, options, forward: forward)
        return (bundle, report)
    }

    /// Per-sample input shape of a one-input layer: `options.inputShape`, the calibration
    /// inputs' shape, or `[inFeatures]` of its first Linear.
    static func inputShape(_ model: any Layer, _ options: Options) throws -> [Int] {
        if let s = options.inputShape { return s }
        if let c = options.calibrationInputs?.first, c.rank >= 2 { return Array(c.shape.dropFirst()) }
        if let first = model.namedModules().lazy.compactMap({ $0.1 as? Linear }).first { return [first.inFeatures] }
        throw ExportError.invalidOption("the model has no Linear layer: set Options.inputShape")
    }

    // MARK: int8 report

    /// Runs the int8 bundle (the runtime's kernels) on the held-out inputs, or on the
    /// calibration inputs, and compares its first output's argmax with the float model's.
    static func compareWithFloat(_ model: any Module, _ bundle: ModelBundle, graph: TracedGraph, examples: [Tensor], options: Options,
                                 report: inout QuantizationReport, forward: ([Tensor]) -> [Tensor]) throws {
        let inputs: [Tensor], floatOutput: Tensor
        if let held = options.int8.validationInputs {
            guard examples.count == 1, Array(held.shape.dropFirst()) == Array(examples[0].shape.dropFirst()) else {
                throw ExportError.shapeMismatch("int8 validation inputs \(held.shape) for inputs \(examples.map(\.shape))")
            }
            let wasTraining = model.isTraining
            model.eval()
            defer { model.train(wasTraining) }
            inputs = [held]
            floatOutput = noGrad { forward([held.detach()]) }[0]
            report.heldOut = true
        } else {
            inputs = examples
            floatOutput = graph.values[graph.outputs[0].value].sample
        }
        let n = inputs[0].shape[0]
        let executor = try BundleExecutor(validating: bundle, reference: false)
        let int8Output = executor.run(inputs.map(\.data), batch: n)[0]
        // A sequence output ([N, T, V]) agrees position by position (argmax over the vocabulary,
        // its last axis); any other output sample by sample (argmax over all its values).
        let classes = floatOutput.rank == 3 ? floatOutput.shape[2] : floatOutput.count / n
        let positions = floatOutput.count / classes
        func argmaxes(_ v: [Float]) -> [Int] {
            (0..<positions).map { i in (0..<classes).max { v[i * classes + $0] < v[i * classes + $1] }! }
        }
        let floatClasses = argmaxes(floatOutput.data), int8Classes = argmaxes(int8Output)
        let agreement = Double(zip(floatClasses, int8Classes).filter { $0 == $1 }.count) / Double(positions)
        report.samples = n
        report.positions = positions
        report.argmaxAgreement = agreement
        let set = report.heldOut ? "held-out" : "calibration"
        if agreement < options.int8.warnBelowAgreement {
            report.warnings.append(String(format: "int8 argmax agrees with float on only %.2f%% of %d %@ %@ (expected ≥ %.2f%%)",
                                          100 * agreement, positions, set, positions > n ? "positions" : "samples",
                                          100 * options.int8.warnBelowAgreement))
        }
        if let labels = options.int8.validationLabels, positions == n {
            guard labels.count == n else { throw ExportError.invalidOption("\(labels.count) int8 validation labels for \(n) samples") }
            func accuracy(_ c: [Int]) -> Double { Double(zip(c, labels).filter { $0 == $1 }.count) / Double(n) }
            let f = accuracy(floatClasses), q = accuracy(int8Classes)
            report.floatAccuracy = f
            report.int8Accuracy = q
            if f - q > options.int8.warnAboveAccuracyDrop {
                report.warnings.append(String(format: "int8 accuracy %.2f%% against float %.2f%% on %d %@ samples: a drop of %.2f points",
                                              100 * q, 100 * f, n, set, 100 * (f - q)))
            }
        }
    }

    static func int8Metadata(_ r: QuantizationReport) -> [(key: String, value: String)] {
        var entries: [(key: String, value: String)] = []
        if let a = r.argmaxAgreement { entries.append(("int8.argmax_agreement", String(format: "%.4f", a))) }
        if let q = r.int8Accuracy { entries.append(("int8.accuracy", String(format: "%.4f", q))) }
        let kept = r.layers.filter { !$0.quantized }.map(\.name)
        if !kept.isEmpty { entries.append(("int8.float_layers", kept.joined(separator: ","))) }
        return entries
    }

    // MARK: Examples

    /// The traced example: the calibration inputs, or (f32/f16) two deterministic uniform samples.
    static func exampleInputs(_ inputs: [(name: String, shape: [Int])], _ options: Options) throws -> [Tensor] {
        if let given = options.calibrationInputs, !given.isEmpty {
            guard given.count == inputs.count else {
                throw ExportError.invalidOption("\(given.count) calibration tensors for \(inputs.count) inputs")
            }
            for (t, input) in zip(given, inputs) where Array(t.shape.dropFirst()) != input.shape || t.shape[0] != given[0].shape[0] || t.shape[0] == 0 {
                throw ExportError.shapeMismatch("calibration inputs \(t.shape) for input \"\(input.name)\" of shape [n, \(input.shape.map(String.init).joined(separator: ", "))]")
            }
            return given
        }
        guard options.precision != .int8 else { throw ExportError.missingCalibration }
        let generator = Generator(seed: 1)
        return inputs.map { Tensor.uniform([2] + $0.shape, generator: generator) }
    }

    // MARK: Metadata and self-test

    static func metadata(_ options: Options, bundle: ModelBundle, calibrationRows: Int) throws -> [(key: String, value: String)] {
        var entries: [(key: String, value: String)] = [
            ("myelin.exporter", "Myelin \(version)"),
            ("myelin.precision", options.precision.name),
        ]
        if let p = options.inputPreprocessing { entries.append(("input.preprocessing", p)) }
        if let labels = options.classLabels {
            let outputSize = bundle.values[bundle.outputs[0]].count
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
        if options.precision == .int8 { entries.append(("int8.calibration_samples", String(calibrationRows))) }
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

    /// The self-test tolerance for outputs whose largest magnitude is `scale`: set by the
    /// precision alone, never by the error observed at export (so a damaged or badly
    /// quantised bundle fails it). f32 differs from the model only by summation order and
    /// BatchNorm folding: 2⁻¹⁴ relative to the scale (about 500 ulps). f16 weights carry a
    /// relative error of 2⁻¹¹ each: 2⁻⁷ of the scale. int8 rounds every activation and weight
    /// to 1/255 of its range: 2⁻³ of the scale.
    public static func selfTestTolerance(_ precision: BundlePrecision, scale: Float) -> (rtol: Float, atol: Float) {
        let s = Swift.max(scale, 1e-3)
        switch precision {
        case .f32: return (0x1p-14, 0x1p-14 * s)
        case .f16: return (0x1p-7, 0x1p-7 * s)
        case .int8: return (0, 0x1p-3 * s)
        }
    }

    static func selfTest(_ model: any Module, _ bundle: ModelBundle, _ inputs: [(name: String, shape: [Int])],
                         _ options: Options, forward: ([Tensor]) -> [Tensor]) throws -> ModelBundle.SelfTest? {
        var tests: [Tensor]
        if let given = options.selfTestInputs {
            guard given.count == inputs.count, given.allSatisfy({ $0.rank >= 1 && $0.shape[0] == given[0].shape[0] && $0.shape[0] >= 1 }),
                  zip(given, inputs).allSatisfy({ Array($0.0.shape.dropFirst()) == $0.1.shape }) else {
                throw ExportError.shapeMismatch("self-test inputs \(given.map(\.shape)) for inputs \(inputs.map(\.shape))")
            }
            tests = given
        } else {
            guard options.selfTestCount > 0 else { return nil }
            if let c = options.calibrationInputs, !c.isEmpty {
                let k = Swift.min(options.selfTestCount, c[0].shape[0])
                tests = c.map { $0.rows(0..<k) }
            } else {
                let generator = Generator(seed: 2)
                tests = inputs.map { Tensor.uniform([options.selfTestCount] + $0.shape, generator: generator) }
                // Token-id inputs (i32, read by an embedding) get id 0: uniform floats are no ids.
                for (i, v) in bundle.inputs.enumerated() where bundle.values[v].dtype == BundleDType.i32.rawValue {
                    tests[i] = Tensor.zeros(tests[i].shape)
                }
            }
        }
        let count = tests[0].shape[0]
        guard count <= BundleLimits.maxSelfTestVectors else {
            throw ExportError.invalidOption("\(count) self-test vectors, at most \(BundleLimits.maxSelfTestVectors)")
        }
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        let expected = noGrad { forward(tests.map { $0.detach() }) }
        var scale: Float = 0
        for t in expected { for v in t.data { scale = Swift.max(scale, Swift.abs(v)) } }
        let (rtol, atol) = selfTestTolerance(bundle.precision, scale: scale)
        let test = ModelBundle.SelfTest(inputs: tests.map(\.data), expected: expected.map(\.data), count: count, rtol: rtol, atol: atol)
        if bundle.precision == .f32 {
            var checked = bundle
            checked.selfTest = test
            if let result = BundleExecutor(checked).selfTest(), !result.passed {
                throw ExportError.selfTestFailed(maxError: result.maxError, tolerance: atol)
            }
        }
        return test
    }
}
