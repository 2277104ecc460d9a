import ArgumentParser
import Foundation
import Myelin

// `myelin eval`, `myelin summary` and `myelin export` on a checkpoint of a generative run
// (`myelin train --model autoencoder|…|cgan`): the checkpoint's own configuration rebuilds
// the models, its state restores them.

/// A generative checkpoint loaded with its models restored.
struct GenerativeCheckpoint {
    let path: String
    let session: GenerativeSession
    var config: GenerativeRunConfig { session.config }

    /// Loads `path`; `adjust` may change the run's measuring options (FID sample count,
    /// classifier) before the models are built.
    init(path: String, adjust: (inout GenerativeRunConfig) -> Void = { _ in }) throws {
        let checkpoint = try Checkpoint.load(from: path)
        guard var config = GenerativeRunConfig.from(checkpoint) else { throw CLIError("\(path): not a checkpoint of a generative run") }
        adjust(&config)
        session = GenerativeSession(config)
        do { try checkpoint.restore(into: session.trainer) } catch { throw MyelinError.file(path: path, problem: "\(error)") }
        self.path = path
    }

    /// The run's data (its training subset as trained), from `directory` if given.
    func data(directory: String?) throws -> PreparedData {
        var dataConfig = config.data
        if let d = directory { dataConfig.directory = d }
        var prepared = try prepareData(dataConfig)
        if let n = config.trainSamples, n < prepared.train.count { prepared.train = prepared.train.subset(Array(0..<n)) }
        guard prepared.test.featureCount == 784 else {
            throw CLIError("\(path): --model \(config.preset.rawValue) takes 28×28 images; the data has \(prepared.test.featureCount) features")
        }
        return prepared
    }

    /// `myelin eval`: the measures training printed (test MSE, ELBO; for a GAN, FID and
    /// class evenness on `config.fidSamples` images when a classifier is known).
    func evaluate(directory: String?) throws -> [String] {
        let prepared = try data(directory: directory)
        let classifier = try config.classifier.map(GenerativeRun.loadClassifier)
        let header = "checkpoint: \(path) (\(config.preset.rawValue), epoch \(session.trainer.epoch), \(config.data.dataset.rawValue) test split, \(prepared.test.count) images)"
        return [header] + (try GenerativeRun.evaluateAndDraw(session, prepared, classifier: classifier, outFolder: nil))
    }

    /// `myelin summary`: each sub-network's layers and parameters, the run's options and history.
    var summary: [String] {
        let c = config
        var lines = ["model: \(c.preset.rawValue) (generative; \(session.trainer.models.count) network\(session.trainer.models.count == 1 ? "" : "s"), "
                     + "\(session.trainer.models.reduce(0) { $0 + $1.1.parameterCount }) parameters)"]
        lines.append(session.summary)
        var shape = "latent \(c.latent)"
        if !(c.preset == .autoencoder || c.preset.isVAE) { shape += ", width \(c.width)" }
        if let n = c.noise { shape += ", training noise \(n.summary)" }
        lines.append(shape)
        lines.append("optimizer: adam lr \(c.learningRate) (constant); batch \(c.batchSize); gradient clipping: \(c.clipNorm.map { "global L2 norm \($0)" } ?? "none"); "
                     + "early stopping: \(c.earlyStopping.map { "patience \($0)" } ?? "none")")
        lines.append("data: \(c.data.dataset.rawValue) (validation \(c.data.validationFraction), seed \(c.data.seed)"
                     + "\(c.trainSamples.map { ", first \($0) training images" } ?? ""))")
        if c.preset.isGAN { lines.append("FID: \(c.fidSamples) images, classifier \(c.classifier ?? "none")") }
        lines.append("epochs completed: \(session.trainer.epoch) of \(c.epochs)")
        for r in session.trainer.history { lines.append("  " + StepProgressLogger.line(r, epochs: c.epochs)) }
        return lines
    }

    /// `myelin export`: every bundle training writes for this model, in `precision`, as
    /// `STEM-PART.myelin` next to `out` (`STEM` is `out` without `.myelin`). Returns the paths.
    func export(out: String, precision: BundlePrecision, calibration count: Int, directory: String?) throws -> [String] {
        let prepared = try data(directory: directory)
        let calibration = prepared.train.inputs.rows(0..<Swift.min(count, prepared.train.count))
        let stem = out.hasSuffix(".myelin") ? String(out.dropLast(".myelin".count)) : out
        let folder = (out as NSString).deletingLastPathComponent
        if !folder.isEmpty { try makeDirectory(folder) }
        var written: [String] = []
        let suffix = precision == .f32 ? "" : "-" + precision.name
        for (part, make) in GenerativeRun.bundles(session, precision: precision, calibration: calibration) {
            let name = "\(stem)-\(part.hasSuffix(suffix) ? String(part.dropLast(suffix.count)) : part).myelin"
            let bundle: ModelBundle
            do { bundle = try make() } catch { throw CLIError("\(path): cannot export the \(part) as \(precision.name): \(error)") }
            try bundle.write(to: name)
            written.append(name)
        }
        return written
    }
}
