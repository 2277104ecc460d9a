import ArgumentParser
import Foundation
import Myelin

enum SearchStrategyName: String, CaseIterable, ExpressibleByArgument { case grid, random }

struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Hyperparameter search on the validation split; retrains the best configuration and evaluates it once on the test split.")

    @OptionGroup var data: DataOptions
    @Option(help: "grid (every combination) or random (--trials combinations).") var strategy: SearchStrategyName = .grid
    @Option(help: "Number of random combinations.") var trials: Int = 6
    @Option(help: "Epochs per trial.") var epochs: Int = 3
    @Option(help: "Optimizer for every trial.") var optimizer: OptimizerSpec.Kind = .adam
    @Option(help: "Learning rates, comma-separated.") var lr: String = "0.001,0.003"
    @Option(help: "Batch sizes, comma-separated.") var batchSize: String = "64,128"
    @Option(help: "Hidden layer candidates separated by ';', widths by ',' (e.g. \"128;256,128\").") var hidden: String?
    @Option(help: "Weight decays, comma-separated.") var weightDecay: String = "0"
    @Option(help: "Dropout for every trial (default: the preset's).") var dropout: Float?
    @Option(help: "Write the ranked results as CSV to this file.") var csv: String?

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard trials >= 1 else { throw ValidationError("--trials must be at least 1, got \(trials)") }
        guard data.validation > 0 else { throw ValidationError("search needs a validation split (--validation > 0)") }
    }

    func run() throws {
        Threading.threads = data.threads
        let space = SearchSpace(
            learningRates: try parseFloatList(lr, name: "--lr"),
            batchSizes: try parseIntList(batchSize, name: "--batch-size"),
            hiddenLayers: try hidden.map { try $0.split(separator: ";").map { try parseIntList(String($0), name: "--hidden") } } ?? [data.presetHidden],
            weightDecays: try parseFloatList(weightDecay, name: "--weight-decay"))
        let configs = strategy == .grid ? space.grid : space.random(count: trials, generator: Generator(seed: data.seed))
        let prepared = try prepareData(data.config)
        guard let validation = prepared.validation else { throw CLIError("search needs a validation split") }
        print("\(configs.count) configurations, \(epochs) epoch(s) each, scored on \(validation.count) validation samples")
        func train(_ c: TrialConfig, on set: Dataset, validation: Dataset?) throws -> Sequential {
            let g = Generator(seed: data.seed)
            let model = MLPSpec(inputs: set.featureCount, hidden: c.hidden, outputs: set.classCount,
                                dropout: dropout ?? data.presetDropout).build(generator: g)
            let opt = OptimizerSpec(kind: optimizer, learningRate: c.learningRate, weightDecay: c.weightDecay).make(model.parameters())
            let trainer = Trainer(model: model, optimizer: opt, batchSize: c.batchSize, generator: g)
            try trainer.fit(set, validation: validation, epochs: epochs)
            return model
        }
        var k = 0
        let results = try hyperparameterSearch(configs) { c in
            k += 1
            let e = evaluate(try train(c, on: prepared.train, validation: nil), on: validation)
            print(String(format: "[%d/%d] %@  val_acc %.2f%%  val_loss %.4f", k, configs.count, c.description, (e.accuracy ?? 0) * 100, e.loss))
            return e
        }
        print("\nranked by validation accuracy:")
        print(searchTable(results))
        if let path = csv {
            var lines = ["rank,val_accuracy,val_loss,lr,batch_size,hidden,weight_decay"]
            for (i, r) in results.enumerated() {
                lines.append("\(i + 1),\(r.validationAccuracy),\(r.validationLoss),\(r.config.learningRate),\(r.config.batchSize),\"\(r.config.hidden.map(String.init).joined(separator: ","))\",\(r.config.weightDecay)")
            }
            try writeText(lines.joined(separator: "\n") + "\n", to: path)
        }
        let best = results[0].config
        print("\nretraining the best configuration (\(best)) on the training split, evaluating once on the test split")
        let model = try train(best, on: prepared.train, validation: nil)
        let test = evaluate(model, on: prepared.test)
        print(String(format: "best configuration test accuracy: %.2f%%", (test.accuracy ?? 0) * 100))
    }
}

struct EnsembleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ensemble",
        abstract: "Bagging: train K models on bootstrap samples, report each member's and the averaged ensemble's test accuracy.")

    @OptionGroup var data: DataOptions
    @Option(help: "Number of members.") var members: Int = 5
    @Option(help: "Epochs per member.") var epochs: Int = 3
    @Option(help: "Mini-batch size.") var batchSize: Int = 64
    @Option(help: "Learning rate (Adam).") var lr: Float = 1e-3
    @Option(help: "Hidden layer widths (default: the preset's).") var hidden: String?

    func validate() throws {
        guard members >= 1 else { throw ValidationError("--members must be at least 1, got \(members)") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
    }

    func run() throws {
        Threading.threads = data.threads
        var config = data.config
        config.validationFraction = 0
        let prepared = try prepareData(config)
        let widths = try hidden.map { try parseIntList($0, name: "--hidden") } ?? data.presetHidden
        let g = Generator(seed: data.seed)
        let ensemble = try bagging(count: members, train: prepared.train, generator: g, makeModel: { _ in
            MLPSpec(inputs: prepared.train.featureCount, hidden: widths, outputs: prepared.train.classCount,
                    dropout: data.presetDropout).build(generator: g)
        }, fit: { model, sample in
            let trainer = Trainer(model: model, optimizer: Adam(model.parameters(), lr: lr), batchSize: batchSize, generator: g)
            try trainer.fit(sample, epochs: epochs)
        })
        for (k, m) in ensemble.members.enumerated() {
            print(String(format: "member %d test accuracy: %.2f%%", k + 1, (evaluate(m, on: prepared.test).accuracy ?? 0) * 100))
        }
        print(String(format: "ensemble of %d test accuracy: %.2f%%", members, ensemble.accuracy(on: prepared.test) * 100))
    }
}
