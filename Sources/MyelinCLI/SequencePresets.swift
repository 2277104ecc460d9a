import ArgumentParser
import Foundation
import Myelin

// The sequence presets of `myelin train` (issue 12):
//   --model lstm|gru                                  Fashion-MNIST read row by row (28 steps of 28 pixels)
//   --dataset fortunes --model char-lstm|char-transformer   character language models
//   --dataset dates --model seq2seq-lstm|seq2seq-transformer  human-written dates → ISO 8601
// They train with the same Trainer, progress lines, checkpoints, resume, history and curves
// as every other model; only the data, the loss (sequence cross-entropy for the text tasks)
// and the final report differ.

/// The sequence architectures, their defaults and the data they take.
enum SequencePreset: String, CaseIterable {
    case lstm, gru
    case charLSTM = "char-lstm", charTransformer = "char-transformer"
    case seq2seqLSTM = "seq2seq-lstm", seq2seqTransformer = "seq2seq-transformer"

    /// The dataset the preset trains on.
    var dataset: DatasetName {
        switch self {
        case .lstm, .gru: return .fashionMNIST
        case .charLSTM, .charTransformer: return .fortunes
        case .seq2seqLSTM, .seq2seqTransformer: return .dates
        }
    }

    /// Default width: hidden units of the recurrent models, model dimension of the Transformers.
    var defaultWidth: Int {
        switch self {
        case .lstm, .gru, .seq2seqLSTM: return 128
        case .charLSTM: return 256
        case .charTransformer: return 96
        case .seq2seqTransformer: return 64
        }
    }

    var defaultLayers: Int {
        switch self {
        case .charTransformer: return 3
        case .seq2seqTransformer: return 2
        default: return 1
        }
    }

    /// Builds the model for `vocabulary` token ids (unused by the Fashion-MNIST classifiers).
    func build(_ spec: SequenceModelSpec, vocabulary: Int, generator: Generator) -> any Layer {
        switch self {
        case .lstm, .gru:
            let encoder: any SequenceEncoder = self == .gru
                ? GRU(28, spec.width, numLayers: spec.layers, batchFirst: true, generator: generator)
                : LSTM(28, spec.width, numLayers: spec.layers, batchFirst: true, generator: generator)
            return Sequential(LastStep(encoder, sequenceShape: [28, 28]), Linear(spec.width, 10, generator: generator))
        case .charLSTM:
            return CharLSTM(vocabularySize: vocabulary, embedding: 64, hidden: spec.width, layers: spec.layers, generator: generator)
        case .charTransformer:
            return CharTransformer(vocabularySize: vocabulary, context: spec.context, dim: spec.width, heads: 4, depth: spec.layers,
                                   generator: generator)
        case .seq2seqLSTM:
            return Seq2SeqLSTM(vocabularySize: DateTask.vocabularySize, sourceLength: DateTask.sourceLength,
                               targetLength: DateTask.targetLength, embedding: 32, hiddenSize: spec.width, generator: generator)
        case .seq2seqTransformer:
            return Seq2SeqTransformer(vocabularySize: DateTask.vocabularySize, sourceLength: DateTask.sourceLength,
                                      targetLength: DateTask.targetLength, dim: spec.width, heads: 4, layers: spec.layers,
                                      generator: generator)
        }
    }
}

/// Sizes of a sequence model, stored in the checkpoint's run configuration.
struct SequenceModelSpec: Codable, Equatable {
    var width: Int
    var layers: Int
    /// Characters per training window of the character models (the Transformer's context).
    var context: Int
}

/// How much of a generated or text dataset a run uses, stored with the data configuration.
struct SequenceDataSpec: Codable, Equatable {
    /// Characters per window (fortunes).
    var context: Int
    /// Training windows (fortunes, nil: all) or generated training pairs (dates).
    var trainSamples: Int?
}

/// Command-line options of the sequence presets.
struct SequenceOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Sequence models: hidden units (LSTM, GRU) or model dimension (Transformer); conv generative models: channels of the first convolution (default: the preset's).")
    var width: Int?
    @Option(parsing: .unconditional, help: "Sequence models: recurrent or Transformer layers (default: the preset's).")
    var layers: Int?
    @Option(parsing: .unconditional, help: "Character models: characters per training window, the Transformer's context (default: 64).")
    var context: Int?
    @Option(parsing: .unconditional, help: "fortunes: at most this many training windows (default: all); dates: generated training pairs (default: 40000); generative models: the first N training images (default: all).")
    var trainSamples: Int?

    func validate() throws {
        for (name, value) in [("--width", width), ("--layers", layers), ("--context", context), ("--train-samples", trainSamples)] {
            if let v = value { guard v >= 1 else { throw ValidationError("\(name) must be at least 1, got \(v)") } }
        }
        if let w = width, let l = layers, w * l > 1 << 20 { throw ValidationError("--width \(w) × --layers \(l) is too large") }
    }

    var isEmpty: Bool { width == nil && layers == nil && context == nil && trainSamples == nil }
}

extension DatasetName {
    /// The folder `--data` defaults to.
    var defaultDirectory: String { self == .fortunes ? "/usr/share/games/fortunes" : FashionMNIST.defaultDirectory }
}

/// Validation of the options of `train` for the sequence presets (model and dataset must
/// match; the MLP's options do not apply).
func validateSequenceOptions(model: ModelName?, dataset: DatasetName?, options: SequenceOptions) throws {
    let preset = model.flatMap { SequencePreset(rawValue: $0.rawValue) }
    if let d = dataset, d == .fortunes || d == .dates {
        guard let p = preset, p.dataset == d else {
            let fitting = SequencePreset.allCases.filter { $0.dataset == d }.map(\.rawValue).joined(separator: " or ")
            throw ValidationError("--dataset \(d.rawValue) trains --model \(fitting)")
        }
    }
    if let p = preset, p.dataset != (dataset ?? .fashionMNIST) {
        throw ValidationError("--model \(p.rawValue) trains on --dataset \(p.dataset.rawValue), not \(dataset?.rawValue ?? "fashion-mnist")")
    }
    if preset == nil && !options.isEmpty {
        throw ValidationError("--width, --layers, --context and --train-samples apply to the sequence models (lstm, gru, char-*, seq2seq-*)")
    }
    if let p = preset {
        if options.context != nil && p != .charLSTM && p != .charTransformer { throw ValidationError("--context applies to --model char-lstm or char-transformer") }
        if options.trainSamples != nil && p.dataset == .fashionMNIST { throw ValidationError("--train-samples applies to --dataset fortunes or dates") }
        if p == .seq2seqLSTM, let w = options.width, w % 2 != 0 { throw ValidationError("--width of seq2seq-lstm must be even (two encoder directions), got \(w)") }
        if p == .charTransformer || p == .seq2seqTransformer, let w = options.width, w % 4 != 0 {
            throw ValidationError("--width of \(p.rawValue) must be a multiple of its 4 attention heads, got \(w)")
        }
    }
}

/// `search` and `ensemble` tune and average classifiers; the text tasks train with `train`.
func refuseTextDataset(_ dataset: DatasetName?, command: String) throws {
    if let d = dataset, d == .fortunes || d == .dates {
        throw CLIError("\(command) trains classifiers (MLPs); train the \(d.rawValue) models with `myelin train --dataset \(d.rawValue) --model \(SequencePreset.allCases.first { $0.dataset == d }!.rawValue)`")
    }
}

/// The data part of a sequence run (nil for the other models).
func sequenceDataSpec(model: ModelName?, options: SequenceOptions) -> SequenceDataSpec? {
    guard let p = model.flatMap({ SequencePreset(rawValue: $0.rawValue) }), p.dataset != .fashionMNIST else { return nil }
    return SequenceDataSpec(context: options.context ?? 64, trainSamples: options.trainSamples ?? (p.dataset == .dates ? 40_000 : nil))
}

/// The model part of a sequence run (nil for the other models).
func sequenceModelSpec(model: ModelName?, options: SequenceOptions) -> SequenceModelSpec? {
    guard let p = model.flatMap({ SequencePreset(rawValue: $0.rawValue) }) else { return nil }
    return SequenceModelSpec(width: options.width ?? p.defaultWidth, layers: options.layers ?? p.defaultLayers, context: options.context ?? 64)
}

/// The fortunes or dates data of a run; nil for the other datasets. Fortunes: windows of the
/// training text, the validation text (every 10th fortune) as validation and test. Dates:
/// training, validation and held-out test pairs from disjoint calendar dates.
func prepareSequenceData(_ c: DataConfig) throws -> PreparedData? {
    switch c.dataset {
    case .fortunes:
        let text = try TextDataset.fortunes(directory: c.directory)
        let spec = c.sequence ?? SequenceDataSpec(context: 64, trainSamples: nil)
        guard text.train.count > spec.context + 1, text.validation.count > spec.context + 1 else {
            throw CLIError("\(c.directory): the text is too short for windows of \(spec.context) characters")
        }
        let validation = text.windows(.validation, length: spec.context)
        var train = text.windows(.train, length: spec.context, limit: spec.trainSamples)
        train.classNames = text.vocabulary.map { String($0) }
        return PreparedData(train: train, validation: validation, test: validation, scaler: nil)
    case .dates:
        let spec = c.sequence ?? SequenceDataSpec(context: 64, trainSamples: 40_000)
        let n = spec.trainSamples ?? 40_000
        let task = DateTask(trainCount: n, validationCount: Swift.max(100, Swift.min(2000, n / 20)), testCount: 2000, seed: c.seed)
        func dataset(_ e: [DateTask.Example]) -> Dataset { let (x, y) = task.tensors(e); return Dataset(inputs: x, targets: y) }
        return PreparedData(train: dataset(task.train), validation: dataset(task.validation), test: dataset(task.test), scaler: nil)
    default:
        return nil
    }
}

extension RunConfig {
    /// The sequence preset of this run, if any.
    var sequencePreset: SequencePreset? { architecture.flatMap { SequencePreset(rawValue: $0) } }

    /// Whether the run is a text task (fortunes or dates), trained with sequence cross-entropy.
    var isTextTask: Bool { data.dataset == .fortunes || data.dataset == .dates }

    var trainingLoss: TrainingLoss { isTextTask ? .sequenceCrossEntropy : .crossEntropy }

    /// The model of a sequence preset (nil for the others).
    func buildSequenceModel(generator: Generator) -> (any Layer)? {
        guard let p = sequencePreset else { return nil }
        let spec = sequence ?? SequenceModelSpec(width: p.defaultWidth, layers: p.defaultLayers, context: 64)
        return p.build(spec, vocabulary: model.outputs, generator: generator)
    }

    /// Per-sample input shape of a sequence preset: the flat image or the ids of one row.
    var sequenceInputShape: [Int]? { sequencePreset == nil ? nil : [model.inputs] }

    /// Bundle metadata of a character model: its vocabulary (UTF-8 characters in id order)
    /// under `vocabulary.characters`, for `examples/c/generate.c`.
    var textMetadata: [(key: String, value: String)] {
        data.dataset == .fortunes ? [(key: "vocabulary.characters", value: classNames.joined())] : []
    }
}

/// What a text run reports after training (and `myelin eval` on its checkpoint):
/// fortunes: validation bits per character and samples; dates: exact-match accuracy on the
/// held-out dates, a few translations, and for the LSTM the attention of one example as a PNG.
/// Returns the names of the files written.
@discardableResult
func reportTextTask(_ run: RunConfig, model: any Layer, data: PreparedData, outFolder: String?) throws -> [String] {
    let bitsPerNat = 1 / log(2.0)
    switch run.data.dataset {
    case .fortunes:
        let e = evaluate(model, on: data.validation ?? data.test, loss: .sequenceCrossEntropy, batchSize: 256)
        print(String(format: "validation: %.3f bits per character over %d windows of %d characters", e.loss * bitsPerNat,
                     (data.validation ?? data.test).count, run.model.inputs))
        guard let lm = model as? any CharLanguageModel else { return [] }
        let vocabulary = run.classNames
        for (temperature, topK) in [(Float(0.5), Int?.none), (0.8, 20), (1.0, nil)] {
            let prompt = encodeText("Q: ", vocabulary: vocabulary)
            let ids = lm.generate(prompt: prompt.isEmpty ? [0] : prompt, length: 200, temperature: temperature, topK: topK, generator: Generator(seed: 7))
            print("--- sample, temperature \(temperature), top-k \(topK.map(String.init) ?? "all"):\n" + decodeText(prompt + ids, vocabulary: vocabulary))
        }
        return []
    case .dates:
        guard let s2s = model as? any Seq2SeqModel else { return [] }
        let task = DateTask(trainCount: run.data.sequence?.trainSamples ?? 40_000, validationCount: 0, testCount: 2000, seed: run.data.seed)
        let (accuracy, mistakes) = dateAccuracy(s2s, on: task.test)
        for e in task.test.prefix(4) {
            let ids = s2s.greedyDecode(Tensor(shape: [1, DateTask.sourceLength], data: DateTask.sourceIds(e.source).map(Float.init)), startId: DateTask.start)[0]
            print("  \"\(e.source)\" → \(DateTask.decode(ids))")
        }
        for m in mistakes.prefix(5) { print("  mistake: \"\(m.source)\" → \(m.got) (expected \(m.expected))") }
        var files: [String] = []
        // The attention of one held-out example written with words (month names move around):
        // rows are output characters, columns input characters.
        if let folder = outFolder, let example = task.test.first(where: { $0.source.contains { $0.isLetter } }) ?? task.test.first {
            let source = Tensor(shape: [1, DateTask.sourceLength], data: DateTask.sourceIds(example.source).map(Float.init))
            let ids = s2s.greedyDecode(source, startId: DateTask.start)[0]
            var weights: Tensor?
            if let lstm = s2s as? Seq2SeqLSTM {
                weights = lstm.greedyDecodeWithAttention(source, startId: DateTask.start).weights
            } else if let transformer = s2s as? Seq2SeqTransformer {
                let forced = source.data + ([DateTask.start] + ids.dropLast()).map(Float.init)
                weights = transformer.crossAttention(Tensor(shape: [1, DateTask.sourceLength + DateTask.targetLength], data: forced))
            }
            if let w = weights {
                let sourceCount = example.source.count, steps = Swift.max(1, DateTask.decode(ids).count)
                let table = (0..<steps).map { t in (0..<sourceCount).map { s in w.data[t * DateTask.sourceLength + s] } }
                try attentionHeatMap(table).writePNG(to: "\(folder)/attention.png")
                print("attention.png: rows are the output characters \"\(DateTask.decode(ids))\", columns the input \"\(example.source)\"")
                files.append("attention.png")
            }
        }
        print(String(format: "test exact-match accuracy: %.2f%% (%d held-out dates)", accuracy * 100, task.test.count))
        return files
    default:
        return []
    }
}

/// Ids of `text` in a vocabulary of single characters (`RunConfig.classNames` of a character model); unknown characters are dropped.
func encodeText(_ text: String, vocabulary: [String]) -> [Int] {
    var index: [String: Int] = [:]
    for (i, c) in vocabulary.enumerated() { index[c] = i }
    return text.unicodeScalars.compactMap { index[String($0)] }
}

func decodeText(_ ids: [Int], vocabulary: [String]) -> String {
    ids.map { $0 >= 0 && $0 < vocabulary.count ? vocabulary[$0] : "" }.joined()
}
