import Foundation

// Character-level language models as `Layer`s (ids `[B, T]` → next-character logits
// `[B, T, V]`), so the generic `Trainer` trains them on windows of text with
// `TrainingLoss.sequenceCrossEntropy`; and sampling from them (`generateText`).

/// A language model over token ids that can continue a sequence.
public protocol CharLanguageModel: Layer {
    var vocabularySize: Int { get }
    /// `length` new ids after `prompt` (not included), each drawn from the model's
    /// next-token distribution with `temperature` and `topK` (see `sample`), from `generator`.
    func generate(prompt: [Int], length: Int, temperature: Float, topK: Int?, generator: Generator) -> [Int]
}

/// Embedding → LSTM (batch first) → Linear over the vocabulary.
///
/// - Shape: ids `[B, T]` → logits `[B, T, vocabularySize]`; `forward(_:_:)` also takes and
///   returns the LSTM state (`[layers, B, hidden]` each) for streaming and truncated BPTT.
public final class CharLSTM: CharLanguageModel {
    public let vocabularySize: Int
    public let embed: Embedding, lstm: LSTM, head: Linear
    public var isTraining = true
    /// Whether untraced forward passes fold the embedding into the LSTM's first input
    /// projection: the table `embed.weight · W_ihᵀ + b_ih` `[V, 4H]` is computed once per pass
    /// and each token's projection is a row of it (`LSTM.forward(tokens:embedding:)`). Same
    /// values and gradients (up to summation order) as embedding then LSTM; removes the
    /// per-token input GEMM. Under a tracer (export) the layers are always recorded unfolded.
    public var foldsEmbedding = true

    public init(vocabularySize: Int, embedding: Int = 64, hidden: Int = 256, layers: Int = 1, generator: Generator = .default) {
        self.vocabularySize = vocabularySize
        embed = Embedding(vocabularySize, embedding, generator: generator)
        lstm = LSTM(embedding, hidden, numLayers: layers, batchFirst: true, dropout: layers > 1 ? 0.1 : 0, generator: generator)
        head = Linear(hidden, vocabularySize, generator: generator)
    }

    public func forward(_ ids: Tensor) -> Tensor { forward(ids, nil).logits }

    public func forward(_ ids: Tensor, _ state: LSTM.State?) -> (logits: Tensor, state: LSTM.State) {
        check(ids.rank == 2, "CharLSTM: expected ids [batch, time], got \(ids.shape)")
        let (out, next) = foldsEmbedding && Tracer.current == nil
            ? lstm.forward(tokens: ids, embedding: embed.weight, state) : lstm(embed(ids), state)
        return (head(out), next)
    }

    public func generate(prompt: [Int], length: Int, temperature: Float, topK: Int?, generator: Generator) -> [Int] {
        check(!prompt.isEmpty, "CharLSTM.generate: the prompt must hold at least one id")
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        var out: [Int] = []
        noGrad {
            var (logits, state) = forward(Tensor(shape: [1, prompt.count], data: prompt.map(Float.init)), nil)
            for _ in 0..<length {
                let next = sample(logits: logits.select(axis: 1, index: -1), temperature: temperature, topK: topK, generator: generator)[0]
                out.append(next)
                (logits, state) = forward(Tensor(shape: [1, 1], data: [Float(next)]), state)
            }
        }
        return out
    }

    public var description: String { "CharLSTM(\(embed), \(lstm), \(head))" }
}

/// Decoder-only Transformer: token embeddings (N(0, 0.02²), GPT-2's initialisation) plus
/// learned positions, pre-norm layers with a causal mask, a final LayerNorm and a linear head.
///
/// - Shape: ids `[B, T]` with T ≤ `context` → logits `[B, T, vocabularySize]`.
public final class CharTransformer: CharLanguageModel {
    public let vocabularySize: Int, context: Int
    public let embed: Embedding, position: LearnedPositionalEncoding
    public let layers: [TransformerEncoderLayer]
    public let norm: LayerNorm, head: Linear
    public var isTraining = true

    public init(vocabularySize: Int, context: Int = 64, dim: Int = 96, heads: Int = 4, depth: Int = 3, dropout: Float = 0.1,
                generator: Generator = .default) {
        check(dim % heads == 0 && depth > 0 && context > 0,
              "CharTransformer: need dim divisible by heads, depth and context positive, got \(dim), \(heads), \(depth), \(context)")
        self.vocabularySize = vocabularySize
        self.context = context
        embed = Embedding(vocabularySize, dim, generator: generator)
        embed.weight.data = Tensor.randn([vocabularySize, dim], std: 0.02, generator: generator).data
        position = LearnedPositionalEncoding(context, dim, generator: generator)
        layers = (0..<depth).map { _ in
            TransformerEncoderLayer(dim, numHeads: heads, dimFeedforward: 4 * dim, dropout: dropout, activation: .gelu,
                                    batchFirst: true, normFirst: true, generator: generator)
        }
        norm = LayerNorm([dim])
        head = Linear(dim, vocabularySize, generator: generator)
    }

    public func forward(_ ids: Tensor) -> Tensor {
        check(ids.rank == 2 && ids.shape[1] <= context, "CharTransformer: expected ids [batch, ≤ \(context)], got \(ids.shape)")
        var x = position(embed(ids))
        for layer in layers { x = layer(x, causal: true) }
        return head(norm(x))
    }

    public func generate(prompt: [Int], length: Int, temperature: Float, topK: Int?, generator: Generator) -> [Int] {
        check(!prompt.isEmpty, "CharTransformer.generate: the prompt must hold at least one id")
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        var ids = prompt
        noGrad {
            for _ in 0..<length {
                let window = Array(ids.suffix(context))
                let logits = forward(Tensor(shape: [1, window.count], data: window.map(Float.init)))
                ids.append(sample(logits: logits.select(axis: 1, index: -1), temperature: temperature, topK: topK, generator: generator)[0])
            }
        }
        return Array(ids.dropFirst(prompt.count))
    }

    public var description: String { "CharTransformer(\(embed), \(position), \(layers.count) × \(layers[0]), \(norm), \(head))" }
}

extension TextDataset {
    /// Non-overlapping windows of `length` characters of `split` as a dataset for the
    /// `Trainer`: inputs `[N, length]` ids and targets `[N, length]` (the next character of
    /// each), ids as whole floats. At most `limit` windows, evenly spread over the text.
    public func windows(_ split: Split, length: Int, limit: Int? = nil) -> Dataset {
        let t = tokens(split)
        check(length > 0 && t.count > length, "windows: need length > 0 and a text longer than \(length), got \(length), \(t.count)")
        let available = (t.count - 1) / length
        let n = Swift.min(available, limit ?? available)
        check(n > 0, "windows: limit must be positive")
        var x = [Float](), y = [Float]()
        x.reserveCapacity(n * length); y.reserveCapacity(n * length)
        for w in 0..<n {
            let start = (w * available / n) * length
            for j in 0..<length { x.append(Float(t[start + j])); y.append(Float(t[start + j + 1])) }
        }
        return Dataset(inputs: Tensor(shape: [n, length], data: x), targets: Tensor(shape: [n, length], data: y))
    }
}
