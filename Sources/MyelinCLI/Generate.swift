import ArgumentParser
import Foundation
import Myelin

/// `myelin generate`: text sampled from a character language model (`myelin train --dataset
/// fortunes --model char-lstm|char-transformer`), or dates translated by a seq2seq model.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample text from a character language model's checkpoint (or translate dates with a seq2seq checkpoint).",
        discussion: """
            With a char-lstm or char-transformer checkpoint, prints --length characters after --prompt, each drawn \
            from softmax(logits / --temperature) restricted to the --top-k most likely characters; --seed fixes the \
            text. Temperature 0 always takes the most likely character. With a seq2seq checkpoint, --prompt is a date \
            in any human format and the output is its ISO form (greedy decoding).
            """)

    @Option(help: "Checkpoint written by `myelin train` (a char-* or seq2seq-* model).") var checkpoint: String?
    @Option(help: "Bundle written by `myelin export` of a char-* checkpoint: sampled through the runtime's executor, state kept between steps (what examples/c/generate.c does from C).") var bundle: String?
    @Option(help: "Text to continue (char models; default: none) or the date to translate (seq2seq).") var prompt: String?
    @Option(parsing: .unconditional, help: "Characters to generate (default: 300).") var length: Int = 300
    @Option(parsing: .unconditional, help: "Sampling temperature, 0 for greedy (default: 0.8).") var temperature: Float = 0.8
    @Option(parsing: .unconditional, help: "Sample only among the k most likely characters (default: all).") var topK: Int?
    @Option(parsing: .unconditional, help: "Random seed of the sampling (default: 0).") var seed: UInt64 = 0

    func validate() throws {
        guard (checkpoint == nil) != (bundle == nil) else { throw ValidationError("give one of --checkpoint or --bundle") }
        guard length >= 1 && length <= 1_000_000 else { throw ValidationError("--length must be in 1...1000000, got \(length)") }
        guard temperature >= 0 && temperature.isFinite else { throw ValidationError("--temperature must be non-negative, got \(temperature)") }
        if let k = topK { guard k >= 1 else { throw ValidationError("--top-k must be at least 1, got \(k)") } }
    }

    func run() throws {
        if let bundle { return try runBundle(bundle) }
        let checkpoint = self.checkpoint!
        let loaded = try LoadedRun(path: checkpoint)
        let config = loaded.config
        if let s2s = loaded.model as? any Seq2SeqModel {
            guard let date = prompt, !date.isEmpty else { throw CLIError("--prompt: give the date to translate, e.g. --prompt \"3 April 2024\"") }
            guard let ids = DateTask.encode(date) else {
                throw CLIError("--prompt \"\(date)\": only letters, digits, spaces and ' , - . / are understood")
            }
            guard ids.count <= DateTask.sourceLength else {
                throw CLIError("--prompt \"\(date)\" has \(ids.count) characters; the model reads at most \(DateTask.sourceLength)")
            }
            let source = Tensor(shape: [1, DateTask.sourceLength], data: DateTask.sourceIds(date).map(Float.init))
            print(DateTask.decode(s2s.greedyDecode(source, startId: DateTask.start)[0]))
            return
        }
        guard let lm = loaded.model as? any CharLanguageModel else {
            throw CLIError("\(checkpoint): a \(config.architectureName) model does not generate text; train --dataset fortunes --model char-lstm or char-transformer")
        }
        let vocabulary = config.classNames
        guard vocabulary.count == lm.vocabularySize else {
            throw CLIError("\(checkpoint): the run stores \(vocabulary.count) characters for a model of \(lm.vocabularySize)")
        }
        let (promptIds, text) = encodedPrompt(vocabulary)
        let ids = lm.generate(prompt: promptIds, length: length, temperature: temperature, topK: topK, generator: Generator(seed: seed))
        print(text + decodeText(ids, vocabulary: vocabulary))
    }

    /// The ids of --prompt (characters outside the vocabulary skipped with a warning) and the
    /// text to print before the generated characters. An empty prompt starts after the fortune
    /// separator's newline, like the start of a fortune, and prints nothing before them.
    func encodedPrompt(_ vocabulary: [String]) -> (ids: [Int], printed: String) {
        let text = prompt ?? ""
        let ids = encodeText(text, vocabulary: vocabulary)
        let dropped = text.unicodeScalars.count - ids.count
        if dropped > 0 {
            FileHandle.standardError.write("myelin: warning: \(dropped) character(s) of --prompt are not in the model's vocabulary and were skipped\n".data(using: .utf8)!)
        }
        if !ids.isEmpty { return (ids, text) }
        let start = encodeText("\n", vocabulary: vocabulary)
        return (start.isEmpty ? [0] : start, "")
    }

    /// Samples from an exported character model: the prompt, then one character per step,
    /// each fed back with `BundleExecutor.Stream` (recurrent state and key/value cache kept).
    func runBundle(_ path: String) throws {
        let model = try ModelBundle.read(from: path)
        guard let characters = model.metadata("vocabulary.characters") else {
            throw CLIError("\(path): no vocabulary.characters metadata: not a character language model (export a char-lstm or char-transformer checkpoint)")
        }
        let vocabulary = characters.unicodeScalars.map { String($0) }
        let stream = try BundleExecutor(validating: model).stream(maxBatch: 1)
        guard let limits = stream.limits else { throw CLIError("\(path): the model cannot run step by step") }
        let (ids, text) = encodedPrompt(vocabulary)
        let generator = Generator(seed: seed)
        var history = ids, out: [Int] = []
        // A window of the last `capacity / 2` ids is fed again when the key/value cache is full.
        func feed(_ tokens: [Int]) throws -> [Float] {
            var logits: [Float] = []
            for chunk in stride(from: 0, to: tokens.count, by: limits.maxSteps) {
                let part = Array(tokens[chunk..<Swift.min(tokens.count, chunk + limits.maxSteps)])
                let y = try stream.step([part.map(Float.init)], batch: 1, steps: part.count)[0]
                logits = Array(y.suffix(vocabulary.count))
            }
            return logits
        }
        var logits = try feed(ids)
        for _ in 0..<length {
            let next = sample(logits: Tensor(shape: [vocabulary.count], data: logits), temperature: temperature, topK: topK, generator: generator)[0]
            out.append(next)
            history.append(next)
            if limits.capacity > 0 && stream.position >= limits.capacity {
                stream.reset()
                logits = try feed(Array(history.suffix(limits.capacity / 2)))
            } else {
                logits = try feed([next])
            }
        }
        print(text + decodeText(out, vocabulary: vocabulary))
    }
}
