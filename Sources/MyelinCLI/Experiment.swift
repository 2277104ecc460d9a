import Foundation
import Myelin

/// Datasets the CLI can train on.
enum DatasetName: String, CaseIterable, Codable {
    case fashionMNIST = "fashion-mnist", xor, blobs, moons, circles
    case fortunes, dates   // text tasks of the sequence presets (SequencePresets.swift)
}

/// Input normalisations the CLI offers (statistics from the training split).
enum ScalerName: String, CaseIterable, Codable { case none, minmax, standardize }

/// Everything that determines the data a run trains and is evaluated on; stored in the
/// checkpoint so `eval` and `summary` rebuild exactly the same splits.
struct DataConfig: Codable {
    var dataset: DatasetName
    var directory: String
    var seed: UInt64
    var validationFraction: Double
    var scaler: ScalerName
    /// Window length and training-set size of the text tasks (fortunes, dates).
    var sequence: SequenceDataSpec?
}

struct PreparedData {
    var train: Dataset
    var validation: Dataset?
    var test: Dataset
    var scaler: FeatureScaler?
}

/// Loads (or generates) the dataset, splits off a stratified validation set and fits the
/// scaler on the training part only.
func prepareData(_ c: DataConfig) throws -> PreparedData {
    if let text = try prepareSequenceData(c) { return text }
    var train: Dataset, test: Dataset
    switch c.dataset {
    case .fashionMNIST:
        (train, test) = try FashionMNIST.load(directory: c.directory)
    case .xor:
        train = Synthetic.xor(repeats: 100, noise: 0.15, generator: Generator(seed: c.seed))
        test = Synthetic.xor(repeats: 50, noise: 0.15, generator: Generator(seed: c.seed &+ 1))
    case .blobs:
        let centers: [[Float]] = [[1, 1], [-1, -1], [1, -1], [-1, 1]]
        train = Synthetic.blobs(centers: centers, std: 0.3, countPerCenter: 100, labels: [0, 0, 1, 1], generator: Generator(seed: c.seed))
        test = Synthetic.blobs(centers: centers, std: 0.3, countPerCenter: 50, labels: [0, 0, 1, 1], generator: Generator(seed: c.seed &+ 1))
    case .moons:
        train = Synthetic.moons(count: 400, noise: 0.1, generator: Generator(seed: c.seed))
        test = Synthetic.moons(count: 200, noise: 0.1, generator: Generator(seed: c.seed &+ 1))
    case .fortunes, .dates:
        fatalError("prepareSequenceData handles \(c.dataset.rawValue)")
    case .circles:
        train = Synthetic.circles(count: 400, noise: 0.05, generator: Generator(seed: c.seed))
        test = Synthetic.circles(count: 200, noise: 0.05, generator: Generator(seed: c.seed &+ 1))
    }
    var validation: Dataset? = nil
    if c.validationFraction > 0 {
        let (rest, val) = train.split(fraction: c.validationFraction, stratified: true, generator: Generator(seed: c.seed &+ 2))
        train = rest
        validation = val
    }
    guard train.count > 0 else { throw CLIError("--validation \(c.validationFraction) leaves no training samples") }
    var scaler: FeatureScaler? = nil
    switch c.scaler {
    case .none: break
    case .minmax: scaler = FeatureScaler(.minMax, fitOn: train.inputs)
    case .standardize: scaler = FeatureScaler(.standardize, fitOn: train.inputs)
    }
    if let s = scaler {
        train = s.transform(train)
        validation = validation.map { s.transform($0) }
        test = s.transform(test)
    }
    return PreparedData(train: train, validation: validation, test: test, scaler: scaler)
}

/// The CLI's checkpoint metadata: how to rebuild model, optimizer and data.
struct RunConfig: Codable {
    /// The MLP's widths, or for a zoo architecture just its input and output sizes.
    var model: MLPSpec
    /// A `ModelZoo` name (cnn, resnet, …); nil or "mlp" for the MLP of `model`.
    var architecture: String?
    /// Random crops (±2 pixels) and horizontal flips of the training images.
    var augment: Bool?
    var optimizer: OptimizerSpec
    var data: DataConfig
    var batchSize: Int
    /// The run's total epochs (the cosine schedule anneals over exactly these).
    var epochs: Int
    var schedule: String
    // Optional so that checkpoints written before these were stored still load.
    var stepSize: Int?
    var gamma: Float?
    var minLearningRate: Float?
    var clipNorm: Float?
    var earlyStopping: Int?
    var classNames: [String]
    /// Sizes of a sequence preset's model (SequencePresets.swift).
    var sequence: SequenceModelSpec?

    /// The schedule with every parameter resolved (older checkpoints: the defaults of their time).
    var scheduleSpec: ScheduleSpec {
        let kind = ScheduleSpec.Kind(rawValue: schedule) ?? .none
        return ScheduleSpec(kind: kind, stepSize: stepSize ?? ScheduleSpec.defaultStepSize(epochs: epochs),
                            gamma: gamma ?? ScheduleSpec.defaultGamma(kind), minLearningRate: minLearningRate ?? 0)
    }

    static let key = "myelin.run"

    /// The architecture's name as the CLI shows it.
    var architectureName: String { architecture ?? "mlp" }

    /// A freshly initialised model of this run.
    func buildModel(generator: Generator) -> any Layer {
        if let sequenceModel = buildSequenceModel(generator: generator) { return sequenceModel }
        guard let name = architecture, name != "mlp" else { return model.build(generator: generator) }
        return ModelZoo.make(name, classes: model.outputs, generator: generator)
    }

    /// The augmentation of the training batches, if any.
    var augmentation: Augmentation? {
        augment == true ? Augmentation.compose([.randomCrop(padding: 2), .horizontalFlip()]) : nil
    }

    /// Per-sample input shape for summaries: images for the zoo, flat features for the MLP.
    var inputShape: [Int] { sequenceInputShape ?? (architectureName == "mlp" ? [model.inputs] : [1, 28, 28]) }

    func metadata() throws -> [String: String] {
        [Self.key: String(decoding: try JSONEncoder().encode(self), as: UTF8.self)]
    }

    static func from(_ checkpoint: Checkpoint, path: String) throws -> RunConfig {
        guard let json = checkpoint.header.metadata[key] else {
            throw MyelinError.file(path: path, problem: "checkpoint has no CLI run configuration (was it written by `myelin train`?)")
        }
        do { return try JSONDecoder().decode(RunConfig.self, from: Data(json.utf8)) } catch {
            throw MyelinError.file(path: path, problem: "run configuration is not valid: \(error)")
        }
    }
}

/// A model and optimizer rebuilt from a checkpoint written by `myelin train`.
struct LoadedRun {
    var config: RunConfig
    var checkpoint: Checkpoint
    var model: any Layer
    var trainer: Trainer

    init(path: String) throws {
        checkpoint = try Checkpoint.load(from: path)
        config = try RunConfig.from(checkpoint, path: path)
        let generator = Generator(seed: config.data.seed)
        model = config.buildModel(generator: generator)
        trainer = Trainer(model: model, optimizer: config.optimizer.make(model.parameters()), loss: config.trainingLoss,
                          batchSize: config.batchSize, generator: generator)
        trainer.augmentation = config.augmentation
        do { try checkpoint.restore(into: trainer) } catch {
            throw MyelinError.file(path: path, problem: "\(error)")
        }
    }
}

/// The data of a checkpoint's run, from `directory` when given (`--data`), checked to fit
/// the model. Returns the data configuration used as well.
func loadData(for loaded: LoadedRun, checkpoint: String, directory: String?) throws -> (DataConfig, PreparedData) {
    var config = loaded.config.data
    if let d = directory { config.directory = d }
    let data = try prepareData(config)
    try checkDataFits(data, loaded.config, checkpoint: checkpoint)
    return (config, data)
}

/// Data loaded for a checkpoint (possibly from another `--data` folder) must fit its model.
func checkDataFits(_ data: PreparedData, _ config: RunConfig, checkpoint: String) throws {
    let features = data.test.featureCount, classes = data.test.classCount
    guard features == config.model.inputs else {
        throw CLIError("\(checkpoint): the model takes \(config.model.inputs) input features, the data has \(features)")
    }
    guard classes <= config.model.outputs else {
        throw CLIError("\(checkpoint): the model has \(config.model.outputs) classes, the data has \(classes)")
    }
}

/// Parses "256,128" into [256, 128].
func parseIntList(_ s: String, name: String) throws -> [Int] {
    if s.isEmpty || s == "none" { return [] }
    let parts = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.allSatisfy({ $0 != nil && $0! > 0 }) else { throw CLIError("\(name): expected positive integers separated by commas, got \"\(s)\"") }
    return parts.map { $0! }
}

func parseFloatList(_ s: String, name: String, positive: Bool = false) throws -> [Float] {
    let parts = s.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
    guard !parts.isEmpty, parts.allSatisfy({ $0 != nil && $0!.isFinite && (!positive || $0! > 0) }) else {
        throw CLIError("\(name): expected \(positive ? "positive " : "")numbers separated by commas, got \"\(s)\"")
    }
    return parts.map { $0! }
}

/// A user-facing error: printed as one line, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func writeText(_ text: String, to path: String) throws {
    do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
        throw MyelinError.file(path: path, problem: "cannot write: \(error.localizedDescription)")
    }
}

/// Fails now, before any training, if `path` could not be written later: its folder must
/// exist, and the file (or, for a new file, its folder) must be writable.
func checkWritable(file path: String) throws {
    let fm = FileManager.default
    var isDirectory: ObjCBool = false
    if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
        guard !isDirectory.boolValue else { throw CLIError("\(path): is a folder, expected a file") }
        guard fm.isWritableFile(atPath: path) else { throw CLIError("\(path): cannot write: permission denied") }
        return
    }
    let folder = (path as NSString).deletingLastPathComponent
    let parent = folder.isEmpty ? "." : folder
    guard fm.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw CLIError("\(path): cannot write: folder \(parent) does not exist")
    }
    guard fm.isWritableFile(atPath: parent) else { throw CLIError("\(path): cannot write: folder \(parent) is not writable") }
}

/// Creates the output folder `out` and makes sure training will not silently replace a
/// checkpoint there: an existing `checkpoint` file is refused unless `force` (or unless it is
/// `resuming`, the checkpoint being continued).
func prepareOutputFolder(_ out: String, checkpoint: String = "checkpoint.ckpt", force: Bool, resuming: String? = nil) throws -> String {
    let path = (out as NSString).appendingPathComponent(checkpoint)
    let same = resuming.map { URL(fileURLWithPath: $0).standardizedFileURL.path == URL(fileURLWithPath: path).standardizedFileURL.path } ?? false
    if FileManager.default.fileExists(atPath: path) && !same && !force {
        throw CLIError("\(path) already exists: continue it with `myelin train --resume \(shellQuoted(path))`, overwrite it with --force, or choose another --out")
    }
    try makeDirectory(out)
    try checkWritable(file: path)
    return path
}

/// `path` as one shell word.
func shellQuoted(_ path: String) -> String {
    path.allSatisfy({ $0.isLetter || $0.isNumber || "_./-+,:=@".contains($0) }) && !path.isEmpty
        ? path : "'" + path.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

func makeDirectory(_ path: String) throws {
    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
        throw MyelinError.file(path: path, problem: "cannot create directory: \(error.localizedDescription)")
    }
}
