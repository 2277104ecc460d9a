// Character-level language models on Debian's `fortunes` text (issue 12): an LSTM trained
// with truncated backpropagation through time, and a small decoder-only Transformer
// (pre-norm encoder layers with a causal mask) trained on random windows.
//
//   CharLM [lstm|transformer] [STEPS] [--data DIR] [--seed N] [--sample CHARACTERS]
//          [--width N] [--layers N] [--context N] [--batch N] [--lr PEAK]
//
// defaults: LSTM 256 hidden units, 1 layer, 64-character chunks of 32 streams; Transformer
// width 96, 3 layers, 4 heads, context 64, batch 32.
//
// Prints the training loss as it goes, the validation bits per character (cross-entropy in
// bits over the whole validation text, which is every 10th fortune), and samples at a few
// temperatures and top-k settings from a fixed seed.

import Foundation
import Myelin

var args = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    defer { args.removeSubrange(i...(i + 1)) }
    return args[i + 1]
}
let directory = option("--data") ?? "/usr/share/games/fortunes"
let seed = UInt64(option("--seed") ?? "1")!
let sampleLength = Int(option("--sample") ?? "300")!
let widthOption = option("--width").map { Int($0)! }
let layersOption = option("--layers").map { Int($0)! }
let contextOption = option("--context").map { Int($0)! }
let batchOption = option("--batch").map { Int($0)! }
let lrOption = option("--lr").map { Float($0)! }
let kind = args.count > 0 ? args[0] : "lstm"
let steps = args.count > 1 ? Int(args[1])! : 1500
guard kind == "lstm" || kind == "transformer" else {
    print("usage: CharLM [lstm|transformer] [STEPS] [--data DIR] [--seed N] [--sample CHARACTERS]")
    exit(2)
}

let text = try TextDataset.fortunes(directory: directory)
print("fortunes: \(text.train.count) training and \(text.validation.count) validation characters, vocabulary \(text.vocabularySize)")
let generator = Generator(seed: seed)
let v = text.vocabularySize

/// Embedding → LSTM → Linear over the vocabulary. Batch first: `[B, T]` ids → `[B, T, V]`.
final class LSTMLanguageModel: Module {
    let embed: Embedding, lstm: LSTM, head: Linear
    var isTraining = true
    init(vocabulary: Int, embedding: Int, hidden: Int, layers: Int, generator: Generator) {
        embed = Embedding(vocabulary, embedding, generator: generator)
        lstm = LSTM(embedding, hidden, numLayers: layers, batchFirst: true, dropout: layers > 1 ? 0.1 : 0, generator: generator)
        head = Linear(hidden, vocabulary, generator: generator)
    }
    func forward(_ ids: Tensor, _ state: LSTM.State?) -> (logits: Tensor, state: LSTM.State) {
        let (out, next) = lstm(embed(ids), state)
        return (head(out), next)
    }
    var description: String { "LSTMLanguageModel(\(embed), \(lstm), \(head))" }
}

/// Token and learned position embeddings → pre-norm Transformer layers with a causal mask →
/// LayerNorm → Linear. `[B, T]` ids (T ≤ context) → `[B, T, V]`.
final class TransformerLanguageModel: Module {
    let embed: Embedding, position: LearnedPositionalEncoding, layers: [TransformerEncoderLayer]
    let norm: LayerNorm, head: Linear
    let context: Int
    var isTraining = true
    init(vocabulary: Int, dim: Int, heads: Int, depth: Int, context: Int, generator: Generator) {
        self.context = context
        embed = Embedding(vocabulary, dim, generator: generator)
        // GPT-2's N(0, 0.02²) instead of Embedding's N(0, 1): at N(0, 1) the token vectors
        // drown the learned position vectors and the model barely learns to use positions.
        embed.weight.data = Tensor.randn([vocabulary, dim], std: 0.02, generator: generator).data
        position = LearnedPositionalEncoding(context, dim, generator: generator)
        layers = (0..<depth).map { _ in
            TransformerEncoderLayer(dim, numHeads: heads, dimFeedforward: 4 * dim, dropout: 0.1, activation: .gelu,
                                    batchFirst: true, normFirst: true, generator: generator)
        }
        norm = LayerNorm(dim)
        head = Linear(dim, vocabulary, generator: generator)
    }
    func forward(_ ids: Tensor) -> Tensor {
        var x = position(embed(ids))
        for layer in layers { x = layer(x, causal: true) }
        return head(norm(x))
    }
    var description: String { "TransformerLanguageModel(\(embed), \(position), \(layers.count) × \(layers[0]), \(norm), \(head))" }
}

let log2e = Float(1 / Foundation.log(2.0))
let printEvery = Swift.max(1, Swift.min(100, steps / 10))
let start = Date()
func elapsed() -> String { String(format: "%.0f s", Date().timeIntervalSince(start)) }

/// Cosine decay from `peak` after a linear warm-up of `warmup` steps.
func learningRate(_ step: Int, peak: Float, warmup: Int) -> Float {
    if step < warmup { return peak * Float(step + 1) / Float(warmup) }
    return peak * 0.5 * (1 + Float(Foundation.cos(Double.pi * Double(step - warmup) / Double(Swift.max(1, steps - warmup)))))
}

if kind == "lstm" {
    let model = LSTMLanguageModel(vocabulary: v, embedding: 64, hidden: widthOption ?? 256, layers: layersOption ?? 1, generator: generator)
    print(model, "parameters: \(model.parameterCount)")
    let peak = lrOption ?? 2e-3
    let optimizer = Adam(model.parameters(), lr: peak)
    // Truncated BPTT: 32 parallel streams through the training text, 64 characters per
    // chunk; the state crosses chunk boundaries detached, so gradients stop there.
    let chunks = text.streams(.train, batchSize: batchOption ?? 32, length: contextOption ?? 64)
    var state: LSTM.State? = nil
    var running: Float = 0
    for step in 0..<steps {
        let (x, y) = chunks[step % chunks.count]
        if step % chunks.count == 0 { state = nil }
        optimizer.learningRate = learningRate(step, peak: peak, warmup: 50)
        optimizer.zeroGrad()
        let (logits, next) = model.forward(x, state)
        let loss = sequenceCrossEntropy(logits, y)
        loss.backward()
        clipGradNorm(model.parameters(), maxNorm: 1)
        optimizer.step()
        state = (next.h.detach(), next.c.detach())
        running += loss.item
        if (step + 1) % printEvery == 0 {
            print(String(format: "step %5d  train %.3f bits/char  ", step + 1, running / Float(printEvery) * log2e) + elapsed())
            fflush(stdout)
            running = 0
        }
    }
    model.train(false)
    var total: Float = 0, count = 0
    var evalState: LSTM.State? = nil
    noGrad {
        for (x, y) in text.streams(.validation, batchSize: 16, length: 256) {
            let (logits, next) = model.forward(x, evalState)
            evalState = next
            total += sequenceCrossEntropy(logits, y, reduction: .sum).item
            count += y.count
        }
    }
    print(String(format: "validation: %.3f bits per character over %d characters (state carried across the whole stream); ", total / Float(count) * log2e, count) + elapsed())
    for (temperature, topK) in [(Float(0.5), Int?.none), (0.8, 20), (1.0, nil)] {
        let g = Generator(seed: 7)
        var ids = text.encode("Q: ")
        noGrad {
            var (logits, s) = model.forward(Tensor(shape: [1, ids.count], data: ids.map(Float.init)), nil)
            for _ in 0..<sampleLength {
                let last = logits.select(axis: 1, index: -1)
                let next = sample(logits: last, temperature: temperature, topK: topK, generator: g)[0]
                ids.append(next)
                (logits, s) = model.forward(Tensor(shape: [1, 1], data: [Float(next)]), s)
            }
        }
        print("--- sample, temperature \(temperature), top-k \(topK.map(String.init) ?? "all"):\n" + text.decode(ids))
    }
} else {
    let context = contextOption ?? 64
    let model = TransformerLanguageModel(vocabulary: v, dim: widthOption ?? 96, heads: 4, depth: layersOption ?? 3, context: context,
                                         generator: generator)
    print(model, "parameters: \(model.parameterCount)")
    let peak = lrOption ?? 1e-3
    let optimizer = AdamW(model.parameters(), lr: peak, weightDecay: 0.01)
    var running: Float = 0
    for step in 0..<steps {
        let (x, y) = text.randomWindows(.train, batchSize: batchOption ?? 32, length: context, generator: generator)
        optimizer.learningRate = learningRate(step, peak: peak, warmup: 100)
        optimizer.zeroGrad()
        let loss = sequenceCrossEntropy(model.forward(x), y)
        loss.backward()
        clipGradNorm(model.parameters(), maxNorm: 1)
        optimizer.step()
        running += loss.item
        if (step + 1) % printEvery == 0 {
            print(String(format: "step %5d  train %.3f bits/char  ", step + 1, running / Float(printEvery) * log2e) + elapsed())
            fflush(stdout)
            running = 0
        }
    }
    model.train(false)
    var total: Float = 0, count = 0
    noGrad {
        // Consecutive windows of `context` characters: each position sees the window so far.
        for (x, y) in text.streams(.validation, batchSize: 16, length: context) {
            total += sequenceCrossEntropy(model.forward(x), y, reduction: .sum).item
            count += y.count
        }
    }
    print(String(format: "validation: %.3f bits per character over %d characters (non-overlapping %d-character windows); ", total / Float(count) * log2e, count, context) + elapsed())
    for (temperature, topK) in [(Float(0.5), Int?.none), (0.8, 20), (1.0, nil)] {
        let g = Generator(seed: 7)
        var ids = text.encode("Q: ")
        noGrad {
            for _ in 0..<sampleLength {
                let window = Array(ids.suffix(context))
                let logits = model.forward(Tensor(shape: [1, window.count], data: window.map(Float.init)))
                ids.append(sample(logits: logits.select(axis: 1, index: -1), temperature: temperature, topK: topK, generator: g)[0])
            }
        }
        print("--- sample, temperature \(temperature), top-k \(topK.map(String.init) ?? "all"):\n" + text.decode(ids))
    }
}
