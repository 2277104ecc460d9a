import ArgumentParser
import Foundation
import Myelin

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint on its dataset's test split: loss, accuracy, per-class accuracy, confusion matrix.")

    @Argument(help: "Checkpoint written by `myelin train`.") var checkpoint: String
    @Option(name: .customLong("data"), help: "Override the folder with the IDX files.") var dataDirectory: String?
    @Option(help: "Also write the confusion matrix as SVG to this file.") var confusionSVG: String?

    func run() throws {
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
