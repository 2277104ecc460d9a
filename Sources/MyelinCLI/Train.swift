import ArgumentParser
import Foundation
import Myelin

enum ModelName: String, CaseIterable, ExpressibleByArgument { case mlp }
enum ScheduleName: String, CaseIterable, ExpressibleByArgument, Codable { case none, step, exponential, cosine }
extension DatasetName: ExpressibleByArgument {}
extension ScalerName: ExpressibleByArgument {}
extension OptimizerSpec.Kind: ExpressibleByArgument {}

/// Options shared by `train`, `search` and `ensemble`.
struct DataOptions: ParsableArguments {
    @Option(help: "Dataset: \(DatasetName.allCases.map(\.rawValue).joined(separator: ", ")).")
    var dataset: DatasetName = .fashionMNIST
    @Option(name: .customLong("data"), help: "Folder with the IDX files (Fashion-MNIST or MNIST).")
    var dataDirectory: String = FashionMNIST.defaultDirectory
    @Option(help: "Fraction of the training set held out for validation (stratified).")
    var validation: Double = 0.1
    @Option(help: "Input normalisation fitted on the training split: none, minmax, standardize.")
    var scaler: ScalerName = .none
    @Option(help: "Random seed (initialisation, shuffling, dropout, splits).")
    var seed: UInt64 = 0
    @Option(help: "Threads for large matrix multiplies (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard validation >= 0 && validation < 1 else { throw ValidationError("--validation must be in [0, 1), got \(validation)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    var config: DataConfig {
        DataConfig(dataset: dataset, directory: dataDirectory, seed: seed, validationFraction: validation, scaler: scaler)
    }

    /// Default hidden widths and dropout of the `mlp` preset for this dataset.
    var presetHidden: [Int] { dataset == .fashionMNIST ? MLPSpec.fashionMNIST.hidden : [16, 16] }
    var presetDropout: Float { dataset == .fashionMNIST ? MLPSpec.fashionMNIST.dropout : 0 }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model, write checkpoint, history, plots and summary, then report test accuracy.")

    @Option(help: "Architecture preset: mlp.") var model: ModelName = .mlp
    @OptionGroup var data: DataOptions
    @Option(help: "Total number of epochs (with --resume: train until this many are done).") var epochs: Int = 10
    @Option(help: "Mini-batch size.") var batchSize: Int = 64
    @Option(help: "Optimizer: \(OptimizerSpec.Kind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var optimizer: OptimizerSpec.Kind = .adam
    @Option(help: "Learning rate (default depends on the optimizer: 1e-3 for adam).") var lr: Float?
    @Option(help: "Momentum for momentum/nesterov.") var momentum: Float = 0.9
    @Option(help: "L2 weight decay (decoupled for adamw).") var weightDecay: Float = 0
    @Option(help: "Hidden layer widths, e.g. 256,128 (default: the preset's).") var hidden: String?
    @Option(help: "Dropout probability after each hidden layer (default: the preset's).") var dropout: Float?
    @Flag(help: "Batch normalisation after each hidden Linear.") var batchnorm = false
    @Option(help: "Learning-rate schedule over the run: none, step, exponential, cosine.") var schedule: ScheduleName = .cosine
    @Option(help: "Clip gradients to this global L2 norm.") var clipNorm: Float?
    @Option(help: "Stop when validation loss has not improved for this many epochs (restores the best weights).")
    var earlyStopping: Int?
    @Option(help: "Output folder.") var out: String = "run"
    @Option(help: "Resume from a checkpoint written by a previous run.") var resume: String?

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        if let lr = lr { guard lr > 0 && lr.isFinite else { throw ValidationError("--lr must be positive, got \(lr)") } }
        if let d = dropout { guard d >= 0 && d < 1 else { throw ValidationError("--dropout must be in [0, 1), got \(d)") } }
        guard weightDecay >= 0 else { throw ValidationError("--weight-decay must be non-negative, got \(weightDecay)") }
        if let p = earlyStopping { guard p >= 1 else { throw ValidationError("--early-stopping must be at least 1, got \(p)") } }
        if batchnorm && batchSize < 2 { throw ValidationError("--batchnorm needs --batch-size of at least 2 (batch statistics of one sample are undefined)") }
        if earlyStopping != nil && data.validation == 0 { throw ValidationError("--early-stopping needs a validation split (--validation > 0)") }
    }

    func run() throws {
        Threading.threads = data.threads
        let run: RunConfig
        let net: Sequential
        let trainer: Trainer
        let prepared: PreparedData
        if let path = resume {
            let loaded = try LoadedRun(path: path)
            var c = loaded.config
            c.epochs = epochs
            run = c
            net = loaded.model
            trainer = loaded.trainer
            print("resuming \(path) at epoch \(trainer.epoch) of \(epochs)")
            prepared = try prepareData(run.data)
            try checkDataFits(prepared, run, checkpoint: path)
        } else {
            prepared = try prepareData(data.config)
            let spec = MLPSpec(inputs: prepared.train.featureCount, hidden: try hidden.map { try parseIntList($0, name: "--hidden") } ?? data.presetHidden,
                               outputs: prepared.train.classCount, dropout: dropout ?? data.presetDropout, batchNorm: batchnorm)
            let opt = OptimizerSpec(kind: optimizer, learningRate: lr ?? OptimizerSpec.defaultLearningRate(optimizer),
                                    weightDecay: weightDecay, momentum: momentum)
            run = RunConfig(model: spec, optimizer: opt, data: data.config, batchSize: batchSize, epochs: epochs,
                            schedule: schedule.rawValue, classNames: prepared.train.classNames)
            let generator = Generator(seed: data.seed)
            net = spec.build(generator: generator)
            trainer = Trainer(model: net, optimizer: opt.make(net.parameters()), batchSize: batchSize, generator: generator)
        }
        // Schedulers read their base rate from the optimizer; on resume that rate is already
        // decayed, so set the configured base first, then move the schedule to the current epoch.
        trainer.optimizer.learningRate = run.optimizer.learningRate
        switch ScheduleName(rawValue: run.schedule) ?? .none {
        case .none: break
        case .step: trainer.scheduler = StepLR(trainer.optimizer, stepSize: Swift.max(1, run.epochs / 3), gamma: 0.3)
        case .exponential: trainer.scheduler = ExponentialLR(trainer.optimizer, gamma: 0.9)
        case .cosine: trainer.scheduler = CosineAnnealingLR(trainer.optimizer, period: run.epochs)
        }
        if let s = trainer.scheduler {
            s.epoch = trainer.epoch
            trainer.optimizer.learningRate = s.learningRate(epoch: trainer.epoch)
        }
        trainer.gradientClipNorm = clipNorm
        try makeDirectory(out)
        let summary = modelSummary(net, inputShape: [run.model.inputs])
        try writeText(summary + "\n", to: "\(out)/summary.txt")
        if resume == nil { print(summary) }
        print("training on \(prepared.train.count) samples, validating on \(prepared.validation?.count ?? 0), \(Threading.threads) thread(s)")
        let early = earlyStopping.map { EarlyStopping(patience: $0, restoreBest: true) }
        let metadata = try run.metadata()
        trainer.callbacks = [ProgressLogger(), CSVLogger(path: "\(out)/history.csv"),
                             CheckpointSaver(path: "\(out)/checkpoint.ckpt", metadata: { metadata })]
        if let e = early { trainer.callbacks.insert(e, at: 0) }
        try trainer.fit(prepared.train, validation: prepared.validation, epochs: run.epochs)
        if let e = early, let stopped = e.stoppedEpoch {
            print("early stopping at epoch \(stopped); restored the weights of epoch \(e.bestEpoch) (val_loss \(String(format: "%.4f", e.bestLoss)))")
            try Checkpoint(trainer: trainer, metadata: metadata).save(to: "\(out)/checkpoint.ckpt")
        }
        try writeText(SVGPlot.trainingCurves(trainer.history, title: "\(run.data.dataset.rawValue) \(run.model.hidden)"), to: "\(out)/curves.svg")
        let result = evaluate(net, on: prepared.test)
        try writeText(SVGPlot.confusionMatrix(result.confusion, classNames: result.classNames), to: "\(out)/confusion.svg")
        try writeText(result.report + "\n", to: "\(out)/evaluation.txt")
        print(result.report)
        print("wrote \(out)/checkpoint.ckpt, history.csv, curves.svg, confusion.svg, summary.txt, evaluation.txt")
        print(String(format: "test accuracy: %.2f%%", (result.accuracy ?? 0) * 100))
    }
}
