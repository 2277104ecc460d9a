import ArgumentParser
import Foundation
import Myelin

/// `mlp`, or a convolutional network of the model zoo (`ModelZoo.names`).
enum ModelName: String, CaseIterable, ExpressibleByArgument {
    case mlp, cnn, lenet5, alexnet, vgg, inception, resnet, densenet, mobilenet, shufflenet
    case lstm, gru, charLSTM = "char-lstm", charTransformer = "char-transformer"   // SequencePresets.swift
    case seq2seqLSTM = "seq2seq-lstm", seq2seqTransformer = "seq2seq-transformer"
    // Generative presets (GenerativePresets.swift).
    case autoencoder, convAutoencoder = "conv-autoencoder", denoisingAutoencoder = "denoising-autoencoder", vae, vae2d, dcgan, cgan
}
extension DatasetName: ExpressibleByArgument {}
extension ScalerName: ExpressibleByArgument {}
extension OptimizerSpec.Kind: ExpressibleByArgument {}
extension ScheduleSpec.Kind: ExpressibleByArgument {}

/// Options shared by `train`, `search` and `ensemble`. Optional, so that `train --resume`
/// can tell an option given on the command line from its default.
struct DataOptions: ParsableArguments {
    @Option(help: "Dataset (default: fashion-mnist).")
    var dataset: DatasetName?
    @Option(name: .customLong("data"), help: "Folder with the IDX files, Fashion-MNIST or MNIST (default: \(FashionMNIST.defaultDirectory)).")
    var dataDirectory: String?
    @Option(parsing: .unconditional, help: "Fraction of the training set held out for validation, stratified (default: 0.1).")
    var validation: Double?
    @Option(help: "Input normalisation fitted on the training split (default: none).")
    var scaler: ScalerName?
    @Option(parsing: .unconditional, help: "Random seed: initialisation, shuffling, dropout, splits (default: 0).")
    var seed: UInt64?
    @Option(parsing: .unconditional, help: "Threads for large matrix multiplies, 1 to \(Self.maxThreads) (default: all cores).")
    var threads: Int?

    static let maxThreads = 256

    func validate() throws {
        if let v = validation { guard v >= 0 && v < 1 else { throw ValidationError("--validation must be in [0, 1), got \(v)") } }
        if let t = threads {
            guard (1...Self.maxThreads).contains(t) else { throw ValidationError("--threads must be in 1...\(Self.maxThreads), got \(t)") }
        }
    }

    var threadCount: Int { threads ?? Swift.min(ProcessInfo.processInfo.activeProcessorCount, Self.maxThreads) }
    var validationFraction: Double { validation ?? 0.1 }

    var config: DataConfig {
        DataConfig(dataset: dataset ?? .fashionMNIST, directory: dataDirectory ?? (dataset ?? .fashionMNIST).defaultDirectory, seed: seed ?? 0,
                   validationFraction: validationFraction, scaler: scaler ?? .none)
    }

    /// Default hidden widths and dropout of the `mlp` preset for this dataset.
    var presetHidden: [Int] { config.dataset == .fashionMNIST ? MLPSpec.fashionMNIST.hidden : [16, 16] }
    var presetDropout: Float { config.dataset == .fashionMNIST ? MLPSpec.fashionMNIST.dropout : 0 }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model, write checkpoint, history, plots and summary, then report test accuracy.",
        discussion: """
            --resume CHECKPOINT continues the checkpoint's run with all of its options (model, data, optimizer, \
            schedule, clipping, early stopping); giving a different value for one of them is an error. Only \
            --epochs, --out, --data and --threads may change. Without --epochs the run continues to its planned \
            total; with --epochs N it trains until N epochs are done. The cosine schedule anneals over the run's \
            total, so extending a cosine run re-plans the curve over N epochs: the remaining epochs get the \
            learning rates of an N-epoch run (the rate rises from the end of the shorter curve). Step and \
            exponential schedules continue unchanged.
            """)

    @Option(help: "Architecture: mlp, or a CNN for 28×28 images: \(ModelZoo.names.joined(separator: ", ")) (default: mlp); or a generative model: \(GenerativePreset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var model: ModelName?
    @Flag(help: "Augment training images: random crops (±2 pixels) and horizontal flips.") var augment = false
    @OptionGroup var data: DataOptions
    @Option(parsing: .unconditional, help: "Total number of epochs (default: 10; with --resume: the run's planned total).")
    var epochs: Int?
    @Option(parsing: .unconditional, help: "Mini-batch size (default: 64).") var batchSize: Int?
    @Option(help: "Optimizer (default: adam).")
    var optimizer: OptimizerSpec.Kind?
    @Option(parsing: .unconditional, help: "Learning rate (default depends on the optimizer: 1e-3 for adam, 0.05 for sgd).")
    var lr: Float?
    @Option(parsing: .unconditional, help: "Momentum of --optimizer momentum or nesterov (default: 0.9).") var momentum: Float?
    @Option(parsing: .unconditional, help: "L2 weight decay, decoupled for adamw (default: 0.01 for adamw, 0 otherwise).")
    var weightDecay: Float?
    @Option(help: "Hidden layer widths, e.g. 256,128 (default: the preset's).") var hidden: String?
    @Option(parsing: .unconditional, help: "Dropout probability after each hidden layer (default: the preset's).") var dropout: Float?
    @Flag(help: "Batch normalisation after each hidden Linear.") var batchnorm = false
    @Option(help: "Learning-rate schedule (default: cosine over the run's epochs).")
    var schedule: ScheduleSpec.Kind?
    @Option(parsing: .unconditional, help: "Step schedule: epochs between decays (default: a third of --epochs).") var stepSize: Int?
    @Option(parsing: .unconditional, help: "Step and exponential schedules: decay factor (default: 0.3 for step, 0.9 for exponential).")
    var gamma: Float?
    @Option(parsing: .unconditional, help: "Cosine schedule: learning rate at the last epoch (default: 0).") var minLr: Float?
    @Option(parsing: .unconditional, help: "Clip gradients to this global L2 norm (default: no clipping).") var clipNorm: Float?
    @Option(parsing: .unconditional, help: "Stop when validation loss has not improved for this many epochs (restores the best weights).")
    var earlyStopping: Int?
    @Option(help: "Output folder (default: run; with --resume: the checkpoint's folder).") var out: String?
    @Flag(help: "Overwrite a checkpoint already in the output folder.") var force = false
    @Option(help: "Continue the run of a checkpoint written by `myelin train` (see below).") var resume: String?
    @OptionGroup var sequence: SequenceOptions
    @OptionGroup(title: "Generative models") var generative: GenerativeOptions

    func validate() throws {
        if let e = epochs { guard e >= 1 else { throw ValidationError("--epochs must be at least 1, got \(e)") } }
        if let b = batchSize { guard b >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(b)") } }
        if let lr = lr { guard lr > 0 && lr.isFinite else { throw ValidationError("--lr must be positive, got \(lr)") } }
        if let m = momentum { guard m >= 0 && m < 1 else { throw ValidationError("--momentum must be in [0, 1), got \(m)") } }
        if let d = dropout { guard d >= 0 && d < 1 else { throw ValidationError("--dropout must be in [0, 1), got \(d)") } }
        if let w = weightDecay { guard w >= 0 && w.isFinite else { throw ValidationError("--weight-decay must be non-negative, got \(w)") } }
        if let s = stepSize { guard s >= 1 else { throw ValidationError("--step-size must be at least 1, got \(s)") } }
        if let g = gamma { guard g > 0 && g <= 1 else { throw ValidationError("--gamma must be in (0, 1], got \(g)") } }
        if let m = minLr { guard m >= 0 && m.isFinite else { throw ValidationError("--min-lr must be non-negative, got \(m)") } }
        if let c = clipNorm { guard c > 0 && c.isFinite else { throw ValidationError("--clip-norm must be positive, got \(c)") } }
        if let p = earlyStopping { guard p >= 1 else { throw ValidationError("--early-stopping must be at least 1, got \(p)") } }
        if let preset = model?.generativePreset, resume == nil { return try GenerativeRun(options: self).validateOptions(preset) }
        guard resume == nil else { return }   // the rest is checked against the checkpoint's run
        try validateSequenceOptions(model: model, dataset: data.dataset, options: sequence)
        if let m = model, m != .mlp, hidden != nil || dropout != nil || batchnorm {
            throw ValidationError("--hidden, --dropout and --batchnorm shape the mlp; --model \(m.rawValue) is a fixed architecture")
        }
        if batchnorm && (batchSize ?? 64) < 2 { throw ValidationError("--batchnorm needs --batch-size of at least 2 (batch statistics of one sample are undefined)") }
        if earlyStopping != nil && data.validationFraction == 0 { throw ValidationError("--early-stopping needs a validation split (--validation > 0)") }
        let kind = optimizer ?? .adam, scheduleKind = schedule ?? .cosine
        if momentum != nil && !OptimizerSpec.usesMomentum(kind) {
            throw ValidationError("--momentum applies to --optimizer momentum or nesterov, not \(kind.rawValue)")
        }
        if stepSize != nil && scheduleKind != .step { throw ValidationError("--step-size applies to --schedule step, not \(scheduleKind.rawValue)") }
        if gamma != nil && scheduleKind != .step && scheduleKind != .exponential {
            throw ValidationError("--gamma applies to --schedule step or exponential, not \(scheduleKind.rawValue)")
        }
        if let m = minLr {
            guard scheduleKind == .cosine else { throw ValidationError("--min-lr applies to --schedule cosine, not \(scheduleKind.rawValue)") }
            let base = lr ?? OptimizerSpec.defaultLearningRate(kind)
            guard m < base else { throw ValidationError("--min-lr \(m) must be below the learning rate \(base)") }
        }
    }

    /// The run described by the command line (no `--resume`).
    func newRunConfig(_ prepared: PreparedData) throws -> RunConfig {
        let kind = optimizer ?? .adam, scheduleKind = schedule ?? .cosine, total = epochs ?? 10
        let spec = MLPSpec(inputs: prepared.train.featureCount, hidden: try hidden.map { try parseIntList($0, name: "--hidden") } ?? data.presetHidden,
                           outputs: prepared.train.classCount, dropout: dropout ?? data.presetDropout, batchNorm: batchnorm)
        let opt = OptimizerSpec(kind: kind, learningRate: lr ?? OptimizerSpec.defaultLearningRate(kind),
                                weightDecay: weightDecay ?? OptimizerSpec.defaultWeightDecay(kind), momentum: momentum ?? 0.9)
        let architecture = model ?? .mlp
        if architecture != .mlp && sequenceDataSpec(model: model, options: sequence) == nil {
            guard prepared.train.featureCount == 784 else {
                throw CLIError("--model \(architecture.rawValue) takes 28×28 images; the \(data.config.dataset.rawValue) data has \(prepared.train.featureCount) features")
            }
        }
        return RunConfig(model: spec, architecture: architecture == .mlp ? nil : architecture.rawValue, augment: augment ? true : nil,
                         optimizer: opt, data: data.config, batchSize: batchSize ?? 64, epochs: total,
                         schedule: scheduleKind.rawValue,
                         stepSize: scheduleKind == .step ? stepSize ?? ScheduleSpec.defaultStepSize(epochs: total) : nil,
                         gamma: scheduleKind == .step || scheduleKind == .exponential ? gamma ?? ScheduleSpec.defaultGamma(scheduleKind) : nil,
                         minLearningRate: scheduleKind == .cosine ? minLr ?? 0 : nil,
                         clipNorm: clipNorm, earlyStopping: earlyStopping, classNames: prepared.train.classNames,
                         sequence: sequenceModelSpec(model: model, options: sequence))
    }

    /// Options given on the command line that differ from the checkpoint's run, as
    /// "--hidden 999 (the run has 16,16)".
    func conflicts(with c: RunConfig) throws -> [String] {
        var found: [String] = []
        func compare<T: Equatable>(_ name: String, _ given: T?, _ stored: T?, _ show: (T) -> String = { "\($0)" }) {
            guard let g = given, g != stored else { return }
            found.append("\(name) \(show(g)) (the run has \(stored.map(show) ?? "none"))")
        }
        let widths = { (h: [Int]) in h.isEmpty ? "none" : h.map(String.init).joined(separator: ",") }
        let spec = c.scheduleSpec
        compare("--dataset", data.dataset, c.data.dataset, { $0.rawValue })
        compare("--validation", data.validation, c.data.validationFraction)
        compare("--scaler", data.scaler, c.data.scaler, { $0.rawValue })
        compare("--seed", data.seed, c.data.seed)
        compare("--model", model?.rawValue, c.architectureName)
        if augment && c.augment != true { found.append("--augment (the run has none)") }
        compare("--hidden", try hidden.map { try parseIntList($0, name: "--hidden") }, c.model.hidden, widths)
        compare("--dropout", dropout, c.model.dropout)
        if batchnorm && !c.model.batchNorm { found.append("--batchnorm (the run has none)") }
        compare("--batch-size", batchSize, c.batchSize)
        compare("--optimizer", optimizer, c.optimizer.kind, { $0.rawValue })
        compare("--lr", lr, c.optimizer.learningRate)
        compare("--momentum", momentum, c.optimizer.momentum)
        compare("--weight-decay", weightDecay, c.optimizer.weightDecay)
        compare("--schedule", schedule, spec.kind, { $0.rawValue })
        compare("--step-size", stepSize, spec.kind == .step ? spec.stepSize : nil)
        compare("--gamma", gamma, spec.kind == .step || spec.kind == .exponential ? spec.gamma : nil)
        compare("--min-lr", minLr, spec.kind == .cosine ? spec.minLearningRate : nil)
        compare("--clip-norm", clipNorm, c.clipNorm)
        compare("--early-stopping", earlyStopping, c.earlyStopping)
        compare("--width", sequence.width, c.sequence?.width)
        compare("--layers", sequence.layers, c.sequence?.layers)
        compare("--context", sequence.context, c.sequence.map { _ in c.data.sequence?.context ?? c.sequence!.context })
        compare("--train-samples", sequence.trainSamples, c.data.sequence?.trainSamples)
        return found
    }

    func run() throws {
        if model?.generativePreset != nil || resume.map(GenerativeRunConfig.isGenerative) == true {
            return try GenerativeRun(options: self).run()
        }
        Threading.threads = data.threadCount
        var run: RunConfig
        let net: any Layer
        let trainer: Trainer
        let prepared: PreparedData
        let outFolder: String, checkpointPath: String
        var resumeLine: String?
        if let path = resume {
            let loaded = try LoadedRun(path: path)
            run = loaded.config
            let conflicting = try conflicts(with: run)
            guard conflicting.isEmpty else {
                throw CLIError("--resume continues \(path) with its own options; these differ: \(conflicting.joined(separator: ", ")); train a new run (another --out) to change them")
            }
            net = loaded.model
            trainer = loaded.trainer
            let done = trainer.epoch
            if let patience = run.earlyStopping, let best = bestValidationEpoch(trainer.history), done - best >= patience {
                throw CLIError("\(path): the run stopped early at epoch \(done) (no validation improvement since epoch \(best)); there is nothing to resume")
            }
            let total = epochs ?? run.epochs
            guard total > done else {
                if epochs != nil { throw CLIError("--epochs \(total): \(path) has already trained \(done) epochs; pass --epochs above \(done) to train further") }
                throw CLIError("\(path) has already completed its \(done) epochs; pass --epochs above \(done) to train further")
            }
            let planned = run.epochs
            run.epochs = total
            if let d = data.dataDirectory { run.data.directory = d }
            outFolder = out ?? { let f = (path as NSString).deletingLastPathComponent; return f.isEmpty ? "." : f }()
            checkpointPath = try prepareOutputFolder(outFolder, force: force, resuming: path)
            prepared = try prepareData(run.data)
            try checkDataFits(prepared, run, checkpoint: path)
            let spec = run.scheduleSpec
            var line = "resuming \(path): \(done) of \(total) epochs done"
            if total != planned { line += " (the run planned \(planned))" }
            line += ", " + spec.description(epochs: total)
            if spec.kind == .cosine && total != planned { line += ", re-planned from \(planned) epochs" }
            resumeLine = line
        } else {
            outFolder = out ?? "run"
            checkpointPath = try prepareOutputFolder(outFolder, force: force)
            var dataConfig = data.config
            dataConfig.sequence = sequenceDataSpec(model: model, options: sequence)
            prepared = try prepareData(dataConfig)
            run = try newRunConfig(prepared)
            run.data.sequence = dataConfig.sequence
            let generator = Generator(seed: run.data.seed)
            net = run.buildModel(generator: generator)
            trainer = Trainer(model: net, optimizer: run.optimizer.make(net.parameters()), loss: run.trainingLoss, batchSize: run.batchSize, generator: generator)
            trainer.augmentation = run.augmentation
        }
        // Schedulers read their base rate from the optimizer; on resume that rate is already
        // decayed, so set the configured base first, then move the schedule to the current epoch.
        trainer.optimizer.learningRate = run.optimizer.learningRate
        trainer.scheduler = run.scheduleSpec.make(trainer.optimizer, epochs: run.epochs)
        if let s = trainer.scheduler {
            s.epoch = trainer.epoch
            trainer.optimizer.learningRate = s.learningRate(epoch: trainer.epoch)
        }
        trainer.gradientClipNorm = run.clipNorm
        if let line = resumeLine {
            print(line + String(format: "; learning rate for epoch %d: %g", trainer.epoch + 1, trainer.optimizer.learningRate))
        }
        let summary = modelSummary(net, inputShape: run.inputShape)
        try writeText(summary + "\n", to: "\(outFolder)/summary.txt")
        if resume == nil { print(summary) }
        print("training on \(prepared.train.count) samples, validating on \(prepared.validation?.count ?? 0), \(Threading.threads) thread(s)")
        let early = run.earlyStopping.map { EarlyStopping(patience: $0, restoreBest: true) }
        let metadata = try run.metadata()
        trainer.callbacks = [ProgressLogger(), CSVLogger(path: "\(outFolder)/history.csv"),
                             CheckpointSaver(path: checkpointPath, metadata: { metadata })]
        if let e = early { trainer.callbacks.insert(e, at: 0) }
        var resumeCommand = "myelin train --resume \(shellQuoted(checkpointPath)) --epochs \(run.epochs)"
        if let d = data.dataDirectory { resumeCommand += " --data \(shellQuoted(d))" }
        let interrupt = InterruptHandler(checkpoint: checkpointPath, resumeCommand: resumeCommand, epochs: run.epochs) { [trainer] in trainer.epoch }
        try trainer.fit(prepared.train, validation: prepared.validation, epochs: run.epochs)
        interrupt.cancel()
        if let e = early, e.stoppedEpoch != nil || e.restoredEpoch != nil {
            let bestLoss = String(format: "%.4f", e.bestLoss)
            switch (e.stoppedEpoch, e.restoredEpoch) {
            case let (stopped?, restored?): print("early stopping at epoch \(stopped); restored the weights of epoch \(restored) (val_loss \(bestLoss))")
            case let (stopped?, nil):
                print("early stopping at epoch \(stopped); the best epoch (\(e.bestEpoch)) was trained before the resume and its weights were not kept: keeping the weights of epoch \(stopped)")
            case let (nil, restored?): print("restored the weights of epoch \(restored), the best on validation (val_loss \(bestLoss))")
            case (nil, nil): break
            }
            // The checkpoint holds the weights that are evaluated and exported.
            try Checkpoint(trainer: trainer, metadata: metadata).save(to: checkpointPath)
        }
        try writeText(SVGPlot.trainingCurves(trainer.history, title: "\(run.data.dataset.rawValue) \(run.architectureName == "mlp" ? "\(run.model.hidden)" : run.architectureName)"), to: "\(outFolder)/curves.svg")
        if run.isTextTask {
            let files = try reportTextTask(run, model: net, data: prepared, outFolder: outFolder)
            print("wrote \(checkpointPath), history.csv, curves.svg, summary.txt" + files.map { ", " + $0 }.joined())
            return
        }
        let result = evaluate(net, on: prepared.test)
        try writeText(SVGPlot.confusionMatrix(result.confusion, classNames: result.classNames), to: "\(outFolder)/confusion.svg")
        try writeText(result.report + "\n", to: "\(outFolder)/evaluation.txt")
        print(result.report)
        var pictures = ""
        if Visualize.firstConv2d(in: net) != nil {
            // What the CNN learned: its first layer's filters and the feature maps of one test image.
            try Visualize.filters(of: net, to: "\(outFolder)/filters.png")
            let maps = try Visualize.featureMaps(of: net, image: prepared.test.inputs.rows(0..<1), prefix: "\(outFolder)/feature-maps")
            pictures = ", filters.png, " + maps.map { ($0 as NSString).lastPathComponent }.joined(separator: ", ")
        }
        print("wrote \(checkpointPath), history.csv, curves.svg, confusion.svg, summary.txt, evaluation.txt\(pictures)")
        print(String(format: "test accuracy: %.2f%%", (result.accuracy ?? 0) * 100))
    }
}

/// The epoch with the lowest validation loss (the first, on ties), as early stopping counts it.
func bestValidationEpoch(_ history: [EpochRecord]) -> Int? {
    var best: (epoch: Int, loss: Double)?
    for r in history { if let v = r.validationLoss, v < best?.loss ?? .infinity { best = (r.epoch, v) } }
    return best?.epoch
}

/// On Ctrl-C, says how to continue and exits with status 130. The checkpoint of the last
/// completed epoch is intact: it is replaced atomically after each epoch.
final class InterruptHandler {
    let source: DispatchSourceSignal

    init(checkpoint: String, resumeCommand: String, epochs: Int, completed: @escaping () -> Int) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            let done = completed()
            let message = FileManager.default.fileExists(atPath: checkpoint)
                ? "\ninterrupted: \(checkpoint) holds epoch \(done) of \(epochs); resume with: \(resumeCommand)\n"
                : "\ninterrupted before the first epoch finished; no checkpoint was written\n"
            fflush(stdout)
            FileHandle.standardError.write(message.data(using: .utf8)!)
            exit(130)
        }
        source.resume()
    }

    func cancel() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
