import ArgumentParser
import Foundation
import Myelin

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint on its dataset's test split: loss, accuracy, per-class accuracy, confusion matrix; for a generative model, its reconstruction MSE, ELBO or FID and class evenness.")

    @Argument(help: "Checkpoint written by `myelin train`.") var checkpoint: String
    @Option(name: .customLong("data"), help: "Override the folder with the IDX files.") var dataDirectory: String?
    @Option(help: "Also write the confusion matrix as SVG to this file.") var confusionSVG: String?
    @Option(parsing: .unconditional, help: "GAN checkpoints: generated images measured against the test set (default: the run's --fid-samples).")
    var fidSamples: Int?
    @Option(help: "GAN checkpoints: checkpoint of `myelin train --model cnn` for the FID and class evenness (default: the run's --classifier).")
    var classifier: String?

    func validate() throws {
        if let n = fidSamples { guard n >= 2 else { throw ValidationError("--fid-samples must be at least 2, got \(n)") } }
    }

    func run() throws {
        if GenerativeRunConfig.isGenerative(checkpoint: checkpoint) {
            if confusionSVG != nil { throw CLIError("--confusion-svg: \(checkpoint) is a generative model, which has no confusion matrix") }
            let loaded = try GenerativeCheckpoint(path: checkpoint) { config in
                if let n = fidSamples { config.fidSamples = n }
                if let c = classifier { config.classifier = URL(fileURLWithPath: c).standardizedFileURL.path }
            }
            if (fidSamples != nil || classifier != nil) && !loaded.config.preset.isGAN {
                throw CLIError("--fid-samples and --classifier measure GANs; \(checkpoint) is --model \(loaded.config.preset.rawValue)")
            }
            for line in try loaded.evaluate(directory: dataDirectory) { print(line) }
            return
        }
        if fidSamples != nil || classifier != nil { throw CLIError("--fid-samples and --classifier measure GAN checkpoints; \(checkpoint) is a classifier") }
        let loaded = try LoadedRun(path: checkpoint)
        let (_, data) = try loadData(for: loaded, checkpoint: checkpoint, directory: dataDirectory)
        if loaded.config.isTextTask { try reportTextTask(loaded.config, model: loaded.model, data: data, outFolder: nil); return }
        let result = evaluate(loaded.model, on: data.test)
        print("checkpoint: \(checkpoint) (epoch \(loaded.trainer.epoch), \(loaded.config.data.dataset.rawValue) test split, \(data.test.count) samples)")
        print(result.report)
        if let path = confusionSVG {
            try writeText(SVGPlot.confusionMatrix(result.confusion, classNames: result.classNames), to: path)
        }
        print(String(format: "test accuracy: %.2f%%", (result.accuracy ?? 0) * 100))
    }
}

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a checkpoint's model summary and training history.")

    @Argument(help: "Checkpoint written by `myelin train`.") var checkpoint: String

    func run() throws {
        if GenerativeRunConfig.isGenerative(checkpoint: checkpoint) {
            for line in try GenerativeCheckpoint(path: checkpoint).summary { print(line) }
            return
        }
        let loaded = try LoadedRun(path: checkpoint)
        let c = loaded.config
        print("model: \(c.architectureName)\(c.augment == true ? ", trained with augmentation (random crops ±2, flips)" : "")")
        print(modelSummary(loaded.model, inputShape: c.inputShape))
        var optimizer = "optimizer: \(c.optimizer.kind.rawValue) lr \(c.optimizer.learningRate) weight decay \(c.optimizer.weightDecay)"
        if OptimizerSpec.usesMomentum(c.optimizer.kind) { optimizer += " momentum \(c.optimizer.momentum)" }
        print(optimizer + "; batch \(c.batchSize); \(c.scheduleSpec.description(epochs: c.epochs))")
        print("gradient clipping: \(c.clipNorm.map { "global L2 norm \($0)" } ?? "none"); early stopping: \(c.earlyStopping.map { "patience \($0) (restores the best weights)" } ?? "none")")
        print("data: \(c.data.dataset.rawValue) (validation \(c.data.validationFraction), scaler \(c.data.scaler.rawValue), seed \(c.data.seed))")
        print("epochs completed: \(loaded.trainer.epoch) of \(c.epochs)")
        for r in loaded.trainer.history { print("  " + ProgressLogger.line(r, epochs: c.epochs)) }
    }
}
