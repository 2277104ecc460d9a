import ArgumentParser
import Foundation
import Myelin

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a checkpoint to a compressed .myelin bundle for the C runtime (f32, f16 or int8).")

    @Argument(help: "Checkpoint written by `myelin train`.") var checkpoint: String
    @Option(help: "Bundle to write; for a generative checkpoint, STEM.myelin names one bundle per network part: STEM-generator.myelin, or STEM-autoencoder (or -denoiser), -encoder and -decoder.myelin.") var out: String = "model.myelin"
    @Option(help: "Weight precision: f32, f16 or int8 (int8 also quantises activations).") var precision: String = "f32"
    @Option(parsing: .unconditional, help: "Training samples used to calibrate int8 activation scales.") var calibration: Int = 2000
    @Option(parsing: .unconditional, help: "Self-test vectors stored in the bundle.") var selfTests: Int = 4
    @Option(name: .customLong("data"), help: "Override the folder with the IDX files.") var dataDirectory: String?
    @Option(help: "int8: layers kept in float, comma-separated module paths (as the error table names them).") var keepFloat: String?
    @Option(help: "int8: keep in float every layer whose int8 SQNR (dB) is below this.") var minSqnr: Double?
    @Option(help: "int8: keep layers in float, lowest SQNR first, until the argmax agreement with float (%) reaches this.") var minAgreement: Double?

    func validate() throws {
        guard BundlePrecision(name: precision) != nil else {
            throw ValidationError("--precision must be f32, f16 or int8, got \(precision)")
        }
        guard calibration >= 1 else { throw ValidationError("--calibration must be at least 1, got \(calibration)") }
        guard selfTests >= 0 else { throw ValidationError("--self-tests must not be negative, got \(selfTests)") }
        if let a = minAgreement, !(a >= 0 && a <= 100) { throw ValidationError("--min-agreement must be a percentage (0 … 100), got \(a)") }
    }

    func run() throws {
        if GenerativeRunConfig.isGenerative(checkpoint: checkpoint) { return try exportGenerative() }
        let loaded = try LoadedRun(path: checkpoint)
        let (dataConfig, data) = try loadData(for: loaded, checkpoint: checkpoint, directory: dataDirectory)
        if loaded.model is Seq2SeqTransformer || loaded.model is Seq2SeqLSTM { return try exportSeq2Seq(loaded, data) }
        // The bundle takes raw inputs: the training-time input scaler becomes its own op in front.
        let model: any Layer = data.scaler.map { Sequential(FeatureScaling($0), loaded.model) } ?? loaded.model
        let raw = data.scaler == nil ? data : try prepareData({ var c = dataConfig; c.scaler = .none; return c }())
        let accuracy = loaded.config.isTextTask ? nil : evaluate(model, on: raw.test).accuracy
        var options = BundleExporter.Options(precision: BundlePrecision(name: precision)!,
                                             calibration: raw.train.inputs.rows(0..<Swift.min(calibration, raw.train.count)),
                                             classLabels: loaded.config.isTextTask ? nil : loaded.config.classNames,
                                             dataset: dataConfig.dataset.rawValue, testAccuracy: accuracy)
        // A language model reads a window of token ids; its vocabulary goes into the metadata.
        if let shape = loaded.config.sequenceInputShape, loaded.config.isTextTask { options.inputShape = shape }
        if dataConfig.dataset == .fashionMNIST {
            options.inputPreprocessing = "pixels / 255: floats in [0, 1], one image = 784 values, row-major 28 x 28"
        }
        options.metadata += loaded.config.textMetadata
        options.selfTestCount = selfTests
        if selfTests > 0 { options.selfTestInputs = [raw.test.inputs.rows(0..<Swift.min(selfTests, raw.test.count))] }
        if let k = keepFloat { options.int8.keepFloat = k.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        options.int8.minimumSQNR = minSqnr
        options.int8.minimumAgreement = minAgreement.map { $0 / 100 }
        if !loaded.config.isTextTask {
            options.int8.validationInputs = raw.test.inputs
            options.int8.validationLabels = raw.test.labels
        }
        let (bundle, report) = try BundleExporter.exportWithReport(model, options: options)
        let folder = (out as NSString).deletingLastPathComponent
        if !folder.isEmpty { try makeDirectory(folder) }   // as `train --out` does
        try bundle.write(to: out)
        let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        let measured = accuracy.map { ", test accuracy of the exported float model " + String(format: "%.2f%%", $0 * 100) } ?? ""
        print("wrote \(out): \(precision), \(size) bytes\(measured)")
        if let report {
            // Per-layer error, agreement and accuracy on the test set; warnings when int8 collapses.
            print(report)
        }
        if loaded.config.isTextTask {
            if bundle.precision != .f32 { try reportBitsPerCharacter(bundle, float: model, on: raw.validation ?? raw.test) }
        } else if report == nil && bundle.precision != .f32 {
            try reportApproximation(bundle, float: model, on: raw.test)
        }
        if let result = BundleExecutor(bundle).selfTest(), !result.passed {
            print("WARNING: the bundle fails its own self-test (max |error| \(result.maxError)): it does not reproduce the model")
        }
    }

    /// A dates translator: source and target inputs, the encoder as the stream's context, the
    /// token table in the metadata (`Seq2SeqTransformer.exportBundle`; examples/c/translate.c).
    func exportSeq2Seq(_ loaded: LoadedRun, _ data: PreparedData) throws {
        guard let model = loaded.model as? any Seq2SeqModel else { throw ValidationError("not a seq2seq model") }
        var options = BundleExporter.Options(precision: BundlePrecision(name: precision)!)
        options.dataset = "dates"
        // Held-out teacher-forcing rows [source ids, start id + target] as self-test vectors.
        func split(_ rows: Tensor) -> [Tensor] {
            [rows.narrow(axis: 1, start: 0, length: model.sourceLength), rows.narrow(axis: 1, start: model.sourceLength, length: model.targetLength)]
        }
        let examples = split(data.test.inputs.rows(0..<Swift.max(1, Swift.min(selfTests, data.test.count))))
        // int8 activation ranges come from training rows (teacher forcing, as the model saw them).
        options.calibrationInputs = precision == "int8" ? split(data.train.inputs.rows(0..<Swift.min(calibration, data.train.count))) : examples
        options.selfTestCount = selfTests
        if selfTests > 0 { options.selfTestInputs = examples }
        let bundle = try model.exportBundle(options: options)
        let folder = (out as NSString).deletingLastPathComponent
        if !folder.isEmpty { try makeDirectory(folder) }
        try bundle.write(to: out)
        let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        print("wrote \(out): \(precision), \(size) bytes; inputs source [\(model.sourceLength)] and target [\(model.targetLength)] token ids, "
              + "output logits [\(model.targetLength), \(model.vocabularySize)] (translate with examples/c/translate.c)")
        if bundle.precision != .f32 { try reportTranslationAccuracy(bundle, float: model, on: data.test.inputs) }
        if let result = BundleExecutor(bundle).selfTest(), !result.passed {
            print("WARNING: the bundle fails its own self-test (max |error| \(result.maxError)): it does not reproduce the model")
        }
    }

    /// An f16 or int8 language model approximates the model: bits per character of the bundle
    /// (the runtime's kernels, through the Swift executor) and of the float model on the same
    /// windows `[N, T]` with next-character targets `[N, T]`.
    func reportBitsPerCharacter(_ bundle: ModelBundle, float model: any Layer, on set: Dataset) throws {
        guard let targets = set.targets, set.count > 0 else { return }
        let approximated = try BundleExecutor(validating: bundle, reference: false).run([set.inputs.data], batch: set.count)[0]
        model.eval()
        let float = noGrad { model(set.inputs) }.data
        func bits(_ logits: [Float]) -> Double {
            let v = logits.count / targets.count
            var nats = 0.0
            for i in 0..<targets.count {
                let row = logits[(i * v)..<((i + 1) * v)], top = Double(row.max()!)
                nats += top + log(row.reduce(0.0) { $0 + exp(Double($1) - top) }) - Double(row[i * v + Int(targets.data[i])])
            }
            return nats / Double(targets.count) / log(2.0)
        }
        let q = bits(approximated), f = bits(float)
        print(String(format: "%@ on %d windows: %.3f bits per character (float %.3f)", bundle.precision.name, set.count, q, f))
        if q - f > 0.02 * f {
            print(String(format: "WARNING: %@ costs %.3f bits per character against float; consider --precision f16 or f32",
                         bundle.precision.name, q - f))
        }
    }

    /// An f16 or int8 translator approximates the model: exact-match accuracy of its greedy
    /// translations (the runtime's kernels, through the Swift executor) against the float
    /// model's, over the test rows `[N, S + T]` (source ids, then the start id and the target).
    func reportTranslationAccuracy(_ bundle: ModelBundle, float model: any Seq2SeqModel, on rows: Tensor) throws {
        let n = rows.shape[0], s = model.sourceLength, t = model.targetLength
        guard n > 0 else { return }
        let sources = rows.narrow(axis: 1, start: 0, length: s)
        let expected = (0..<n).map { i in DateTask.decode(rows.data[(i * (s + t) + s)..<((i + 1) * (s + t))].map { Int($0) }) }
        func accuracy(_ ids: [[Int]]) -> Double { Double(zip(ids, expected).filter { DateTask.decode($0) == $1 }.count) / Double(n) }
        let approximated = accuracy(try BundleExecutor(validating: bundle, reference: false)
            .greedyTranslations(sources: sources, startId: DateTask.start, steps: t))
        model.eval()
        let float = accuracy(model.greedyDecode(sources, startId: DateTask.start))
        print(String(format: "%@ on %d test dates: exact match %.2f%% (float %.2f%%)", bundle.precision.name, n, 100 * approximated, 100 * float))
        if float - approximated > 0.01 {
            print(String(format: "WARNING: %@ loses %.2f points of exact-match accuracy against float; consider --precision f16 or f32",
                         bundle.precision.name, 100 * (float - approximated)))
        }
    }

    /// A generative checkpoint: its encoder, decoder and autoencoder (or denoiser), or its
    /// generator, as `STEM-PART.myelin` next to --out (each bundle self-tests against the model).
    func exportGenerative() throws {
        if keepFloat != nil || minSqnr != nil || minAgreement != nil {
            throw CLIError("--keep-float, --min-sqnr and --min-agreement apply to classifier checkpoints, not \(checkpoint)")
        }
        let loaded = try GenerativeCheckpoint(path: checkpoint)
        let precision = BundlePrecision(name: precision)!
        for path in try loaded.export(out: out, precision: precision, calibration: calibration, directory: dataDirectory) {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            print("wrote \(path): \(precision.name), \(size) bytes")
        }
    }

    /// An f16 or int8 bundle approximates the model: measure how well on held-out data, and
    /// say so loudly when the approximation costs accuracy.
    func reportApproximation(_ bundle: ModelBundle, float model: any Layer, on test: Dataset) throws {
        let labels = test.labels
        guard test.count > 0, labels.count == test.count else { return }
        let scores = BundleExecutor(bundle).run(test.inputs.data, batch: test.count)
        model.eval()
        let reference = noGrad { model(test.inputs) }
        let classes = scores.count / test.count
        let predicted = Tensor(shape: [test.count, classes], data: scores).argmax(axis: 1)
        let floatPredicted = reference.argmax(axis: 1)
        let accuracy = Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(test.count)
        let floatAccuracy = Double(zip(floatPredicted, labels).filter { $0 == $1 }.count) / Double(test.count)
        let agreement = Double(zip(predicted, floatPredicted).filter { $0 == $1 }.count) / Double(test.count)
        print(String(format: "%@ on %d test samples: accuracy %.2f%% (float %.2f%%), argmax agreement with float %.2f%%",
                     bundle.precision.name, test.count, accuracy * 100, floatAccuracy * 100, agreement * 100))
        if floatAccuracy - accuracy > 0.01 || agreement < 0.97 {
            print(String(format: "WARNING: %@ loses %.2f points of accuracy against float; consider --precision f16 or f32",
                         bundle.precision.name, (floatAccuracy - accuracy) * 100))
        }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a bundle's graph, shapes, dtypes, sizes and metadata, and run its self-test.")

    @Argument(help: "A .myelin bundle.") var bundle: String

    func run() throws {
        let result: BundleInspector.Result
        if Checkpoint.hasMagic(atPath: bundle) {
            throw CLIError("\(bundle) is a training checkpoint, not a bundle: export it with `myelin export \(shellQuoted(bundle))`")
        }
        do { result = try BundleInspector.inspect(path: bundle) } catch let error as MyelinError {
            throw CLIError("\(error)")             // already names the file
        } catch {
            throw CLIError("\(bundle): \(error)")
        }
        print(result.report)
        if result.selfTestPassed == false { throw ExitCode(2) }
    }
}
