import ArgumentParser
import Foundation
import Myelin

enum SearchStrategyName: String, CaseIterable, ExpressibleByArgument { case grid, random }

struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Hyperparameter search on the validation split; retrains the best configuration and evaluates it once on the test split.")

    @OptionGroup var data: DataOptions
    @Option(help: "grid (every combination) or random (--trials combinations).") var strategy: SearchStrategyName = .grid
    @Option(parsing: .unconditional, help: "Number of random combinations.") var trials: Int = 6
    @Option(parsing: .unconditional, help: "Epochs per trial.") var epochs: Int = 3
    @Option(help: "Optimizer for every trial.") var optimizer: OptimizerSpec.Kind = .adam
    @Option(parsing: .unconditional, help: "Learning rates, comma-separated.") var lr: String = "0.001,0.003"
    @Option(parsing: .unconditional, help: "Batch sizes, comma-separated.") var batchSize: String = "64,128"
    @Option(help: "Hidden layer candidates separated by ';', widths by ',' (e.g. \"128;256,128\").") var hidden: String?
    @Option(parsing: .unconditional, help: "Weight decays, comma-separated (default: 0.01 for adamw, 0 otherwise).") var weightDecay: String?
    @Option(parsing: .unconditional, help: "Dropout for every trial (default: the preset's).") var dropout: Float?
    @Option(help: "Write the ranked results as CSV to this file.") var csv: String?
    @Option(help: "Save the retrained best configuration as OUT/checkpoint.ckpt (for eval, summary, export).") var out: String?
    @Flag(help: "Overwrite a checkpoint already in the --out folder.") var force = false

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard trials >= 1 else { throw ValidationError("--trials must be at least 1, got \(trials)") }
        guard data.validationFraction > 0 else { throw ValidationError("search needs a validation split (--validation > 0)") }
        if let d = dropout { guard d >= 0 && d < 1 else { throw ValidationError("--dropout must be in [0, 1), got \(d)") } }
    }

    func run() throws {
        try refuseTextDataset(data.dataset, command: Self._commandName)
        Threading.threads = data.threadCount
        let space = SearchSpace(
            learningRates: try parseFloatList(lr, name: "--lr", positive: true),
            batchSizes: try parseIntList(batchSize, name: "--batch-size"),
            hiddenLayers: try hidden.map { try $0.split(separator: ";").map { try parseIntList(String($0), name: "--hidden") } } ?? [data.presetHidden],
            weightDecays: try weightDecay.map { try parseFloatList($0, name: "--weight-decay") } ?? [OptimizerSpec.defaultWeightDecay(optimizer)])
        guard space.batchSizes.count > 0 else { throw CLIError("--batch-size: expected positive integers separated by commas, got \"\(batchSize)\"") }
        guard space.weightDecays.allSatisfy({ $0 >= 0 }) else { throw CLIError("--weight-decay: weight decays must be non-negative") }
        // Every output is checked before the first trial, not after the last.
        if let path = csv { try checkWritable(file: path) }
        let checkpointPath = try out.map { try prepareOutputFolder($0, force: force) }
        let configs = strategy == .grid ? space.grid : space.random(count: trials, generator: Generator(seed: data.config.seed))
        let prepared = try prepareData(data.config)
        guard let validation = prepared.validation else { throw CLIError("search needs a validation split") }
        print("\(configs.count) configurations, \(epochs) epoch(s) each, scored on \(validation.count) validation samples")
        func run(_ c: TrialConfig) -> RunConfig {
            RunConfig(model: MLPSpec(inputs: prepared.train.featureCount, hidden: c.hidden, outputs: prepared.train.classCount,
                                     dropout: dropout ?? data.presetDropout),
                      optimizer: OptimizerSpec(kind: optimizer, learningRate: c.learningRate, weightDecay: c.weightDecay),
                      data: data.config, batchSize: c.batchSize, epochs: epochs, schedule: ScheduleSpec.Kind.none.rawValue,
                      classNames: prepared.train.classNames)
        }
        func train(_ c: TrialConfig) throws -> Trainer {
            let g = Generator(seed: data.config.seed), config = run(c)
            let model = config.model.build(generator: g)
            let trainer = Trainer(model: model, optimizer: config.optimizer.make(model.parameters()), batchSize: c.batchSize, generator: g)
            try trainer.fit(prepared.train, epochs: epochs)
            return trainer
        }
        var k = 0
        let results = try hyperparameterSearch(configs) { c in
            k += 1
            let e = evaluate(try train(c).model, on: validation)
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
        let trainer = try train(best)
        let test = evaluate(trainer.model, on: prepared.test)
        print(String(format: "best configuration test accuracy: %.2f%%", (test.accuracy ?? 0) * 100))
        if let path = checkpointPath {
            try Checkpoint(trainer: trainer, metadata: try run(best).metadata()).save(to: path)
            print("wrote \(path) (myelin eval, summary and export read it)")
        }
    }
}

struct EnsembleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ensemble",
        abstract: "Bagging: train K models on bootstrap samples, report each member's and the averaged ensemble's test accuracy.")

    @OptionGroup var data: DataOptions
    @Option(parsing: .unconditional, help: "Number of members.") var members: Int = 5
    @Option(parsing: .unconditional, help: "Epochs per member.") var epochs: Int = 3
    @Option(parsing: .unconditional, help: "Mini-batch size.") var batchSize: Int = 64
    @Option(parsing: .unconditional, help: "Learning rate (Adam).") var lr: Float = 1e-3
    @Option(help: "Hidden layer widths (default: the preset's).") var hidden: String?
    @Option(help: "Save each member as OUT/member-K.ckpt (for eval, summary, export).") var out: String?
    @Flag(help: "Overwrite member checkpoints already in the --out folder.") var force = false

    func validate() throws {
        guard members >= 1 else { throw ValidationError("--members must be at least 1, got \(members)") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        guard lr > 0 && lr.isFinite else { throw ValidationError("--lr must be positive, got \(lr)") }
    }

    func run() throws {
        try refuseTextDataset(data.dataset, command: Self._commandName)
        Threading.threads = data.threadCount
        var config = data.config
        config.validationFraction = 0
        let widths = try hidden.map { try parseIntList($0, name: "--hidden") } ?? data.presetHidden
        let paths = try out.map { folder in try (1...members).map { try prepareOutputFolder(folder, checkpoint: "member-\($0).ckpt", force: force) } }
        let prepared = try prepareData(config)
        let run = RunConfig(model: MLPSpec(inputs: prepared.train.featureCount, hidden: widths, outputs: prepared.train.classCount,
                                           dropout: data.presetDropout),
                            optimizer: OptimizerSpec(kind: .adam, learningRate: lr), data: config, batchSize: batchSize,
                            epochs: epochs, schedule: ScheduleSpec.Kind.none.rawValue, classNames: prepared.train.classNames)
        let g = Generator(seed: config.seed)
        var trained = 0
        let ensemble = try bagging(count: members, train: prepared.train, generator: g, makeModel: { _ in
            run.model.build(generator: g)
        }, fit: { model, sample in
            let trainer = Trainer(model: model, optimizer: run.optimizer.make(model.parameters()), batchSize: batchSize, generator: g)
            try trainer.fit(sample, epochs: epochs)
            if let p = paths?[trained] { try Checkpoint(trainer: trainer, metadata: try run.metadata()).save(to: p) }
            trained += 1
        })
        for (k, m) in ensemble.members.enumerated() {
            print(String(format: "member %d test accuracy: %.2f%%", k + 1, (evaluate(m, on: prepared.test).accuracy ?? 0) * 100))
        }
        print(String(format: "ensemble of %d test accuracy: %.2f%%", members, ensemble.accuracy(on: prepared.test) * 100))
        if let folder = out { print("wrote \(folder)/member-1.ckpt … member-\(members).ckpt (myelin eval, summary and export read each)") }
    }
}
