import ArgumentParser
import Foundation
import Myelin

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a checkpoint to a compressed .myelin bundle for the C runtime (f32, f16 or int8).")

    @Argument(help: "Checkpoint written by `myelin train`.") var checkpoint: String
    @Option(help: "Bundle to write.") var out: String = "model.myelin"
    @Option(help: "Weight precision: f32, f16 or int8 (int8 also quantises activations).") var precision: String = "f32"
    @Option(help: "Training samples used to calibrate int8 activation scales.") var calibration: Int = 2000
    @Option(help: "Self-test vectors stored in the bundle.") var selfTests: Int = 4
    @Option(name: .customLong("data"), help: "Override the folder with the IDX files.") var dataDirectory: String?

    func validate() throws {
        guard BundlePrecision(name: precision) != nil else {
            throw ValidationError("--precision must be f32, f16 or int8, got \(precision)")
        }
        guard calibration >= 1 else { throw ValidationError("--calibration must be at least 1, got \(calibration)") }
        guard selfTests >= 0 else { throw ValidationError("--self-tests must not be negative, got \(selfTests)") }
    }

    func run() throws {
        let loaded = try LoadedRun(path: checkpoint)
        let (dataConfig, data) = try loadData(for: loaded, checkpoint: checkpoint, directory: dataDirectory)
        // The bundle takes raw inputs: fold the training-time input scaler into the first Linear.
        if let scaler = data.scaler { try foldScaler(scaler, into: loaded.model) }
        let raw = data.scaler == nil ? data : try prepareData({ var c = dataConfig; c.scaler = .none; return c }())
        let accuracy = evaluate(loaded.model, on: raw.test).accuracy
        var options = BundleExporter.Options(precision: BundlePrecision(name: precision)!,
                                             calibration: raw.train.inputs.rows(0..<Swift.min(calibration, raw.train.count)),
                                             classLabels: loaded.config.classNames, dataset: dataConfig.dataset.rawValue,
                                             testAccuracy: accuracy)
        options.selfTestCount = selfTests
        if selfTests > 0 { options.selfTestInputs = [raw.test.inputs.rows(0..<Swift.min(selfTests, raw.test.count))] }
        let bundle = try BundleExporter.export(loaded.model, options: options)
        try bundle.write(to: out)
        let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        print("wrote \(out): \(precision), \(size) bytes, test accuracy of the exported float model \(String(format: "%.2f%%", (accuracy ?? 0) * 100))")
    }

    /// x' = (x − offset)·scale feeding y = W x' + b equals y = (W·diag(scale)) x + (b − W·diag(scale)·offset).
    func foldScaler(_ scaler: FeatureScaler, into model: Sequential) throws {
        guard let first = model.layers.first as? Linear else { throw CLIError("cannot fold the input scaler: the first layer is not Linear") }
        let n = first.outFeatures, k = first.inFeatures
        var w = first.weight.data, b = first.bias?.data ?? [Float](repeating: 0, count: n)
        for j in 0..<n {
            for i in 0..<k {
                w[j * k + i] *= scaler.scale[i]
                b[j] -= w[j * k + i] * scaler.offset[i]
            }
        }
        first.weight.data = w
        guard let bias = first.bias else { throw CLIError("cannot fold the input scaler into a Linear without bias") }
        bias.data = b
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a bundle's graph, shapes, dtypes, sizes and metadata, and run its self-test.")

    @Argument(help: "A .myelin bundle.") var bundle: String

    func run() throws {
        let result: BundleInspector.Result
        do { result = try BundleInspector.inspect(path: bundle) } catch {
            throw CLIError("\(bundle): \(error)")
        }
        print(result.report)
        if result.selfTestPassed == false { throw ExitCode(2) }
    }
}
