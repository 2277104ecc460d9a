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

    @Option(help: "Checkpoint written by `myelin train` (a char-* or seq2seq-* model).") var checkpoint: String
    @Option(help: "Text to continue (char models; default: none) or the date to translate (seq2seq).") var prompt: String?
    @Option(parsing: .unconditional, help: "Characters to generate (default: 300).") var length: Int = 300
    @Option(parsing: .unconditional, help: "Sampling temperature, 0 for greedy (default: 0.8).") var temperature: Float = 0.8
    @Option(parsing: .unconditional, help: "Sample only among the k most likely characters (default: all).") var topK: Int?
    @Option(parsing: .unconditional, help: "Random seed of the sampling (default: 0).") var seed: UInt64 = 0

    func validate() throws {
        guard length >= 1 && length <= 1_000_000 else { throw ValidationError("--length must be in 1...1000000, got \(length)") }
        guard temperature >= 0 && temperature.isFinite else { throw ValidationError("--temperature must be non-negative, got \(temperature)") }
        if let k = topK { guard k >= 1 else { throw ValidationError("--top-k must be at least 1, got \(k)") } }
    }

    func run() throws {
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
        let text = prompt ?? ""
        var promptIds = encodeText(text, vocabulary: vocabulary)
        let dropped = text.unicodeScalars.count - promptIds.count
        if dropped > 0 {
            FileHandle.standardError.write("myelin: warning: \(dropped) character(s) of --prompt are not in the model's vocabulary and were skipped\n".data(using: .utf8)!)
        }
        // An empty prompt starts after the fortune separator's newline, like the start of a fortune.
        let starts = promptIds.isEmpty
        if starts { promptIds = encodeText("\n", vocabulary: vocabulary) }
        if promptIds.isEmpty { promptIds = [0] }
        let ids = lm.generate(prompt: promptIds, length: length, temperature: temperature, topK: topK, generator: Generator(seed: seed))
        print((starts ? "" : text) + decodeText(ids, vocabulary: vocabulary))
    }
}
