import Foundation

// Sequence-to-sequence models for token ids (issue 12): an LSTM encoder–decoder with Luong
// ("general") attention, and a Transformer encoder–decoder. Both are `Layer`s for training
// with teacher forcing: the input row holds the padded source ids followed by the decoder's
// input (the start id and the target shifted right), the output is the logits of every
// target position. `greedyDecode` translates new sources one token at a time.

/// What the CLI and tests need from a sequence-to-sequence model.
public protocol Seq2SeqModel: Layer {
    /// Source positions (padded with id 0) and target positions (including the end id).
    var sourceLength: Int { get }
    var targetLength: Int { get }
    var vocabularySize: Int { get }
    /// The most likely continuation, one token at a time from `startId`, in evaluation mode (no
    /// dropout): `targetLength` ids per source row (callers cut at the end id).
    /// - Shape: sources `[B, sourceLength]` ids → B rows of `targetLength` ids.
    func greedyDecode(_ sources: Tensor, startId: Int) -> [[Int]]
    /// The teacher-forced logits `[B, t, V]` of decoder input ids `[B, t]` for source ids
    /// `[B, sourceLength]` (t ≤ targetLength): the computation a bundle exports (`exportBundle`).
    func logits(source: Tensor, target: Tensor) -> Tensor
}

/// Splits a teacher-forcing row `[B, S + T]` into source ids `[B, S]` and decoder input `[B, T]`.
func splitTeacherForcing(_ input: Tensor, sourceLength s: Int, targetLength t: Int, name: String) -> (source: Tensor, target: Tensor) {
    check(input.rank == 2 && input.shape[1] == s + t,
          "\(name): expected [batch, \(s + t)] ids (\(s) source, \(t) decoder input), got \(input.shape)")
    return (input.narrow(axis: 1, start: 0, length: s), input.narrow(axis: 1, start: s, length: t))
}

/// 1 where a source id is padding (0), else 0: `[B, S]`, the key padding mask of attention.
/// Under a tracer (export) recorded as a `padding_mask` node of the ids, which the attention
/// that reads it lowers to its key ids input (GraphLowering+Sequence.swift).
func paddingMask(_ source: Tensor) -> Tensor {
    let mask = Tensor(shape: source.shape, data: source.data.map { $0 == 0 ? 1 : 0 })
    Tracer.current?.record("padding_mask", inputs: [source], output: mask, attributes: ["padding_id": .int(0)])
    return mask
}

/// LSTM encoder–decoder with Luong global attention ("general" score `hᵀ W s`), as in Luong
/// et al. 2015 without input feeding: a bidirectional LSTM reads the source; its final states
/// (both directions concatenated) start a unidirectional decoder LSTM; every decoder output
/// attends over the encoder outputs (padding hidden), and `tanh(W_c [h; context])` goes to
/// the vocabulary.
///
/// - Shape: input `[B, sourceLength + targetLength]` ids → logits `[B, targetLength, vocabularySize]`.
/// - `attention(_:)` returns the weights `[B, T, S]` too, for heat maps.
public final class Seq2SeqLSTM: Seq2SeqModel {
    public let sourceLength: Int, targetLength: Int, vocabularySize: Int, hiddenSize: Int
    public let sourceEmbedding: Embedding, targetEmbedding: Embedding
    public let encoder: LSTM, decoder: LSTM
    public let score: Linear, combine: Linear, head: Linear
    public var isTraining = true

    /// `hiddenSize` must be even (the encoder has `hiddenSize / 2` units per direction).
    public init(vocabularySize: Int, sourceLength: Int, targetLength: Int, embedding: Int = 32, hiddenSize: Int = 128,
                generator: Generator = .default) {
        check(hiddenSize > 0 && hiddenSize % 2 == 0, "Seq2SeqLSTM: hiddenSize must be positive and even, got \(hiddenSize)")
        self.sourceLength = sourceLength
        self.targetLength = targetLength
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        sourceEmbedding = Embedding(vocabularySize, embedding, generator: generator)
        targetEmbedding = Embedding(vocabularySize, embedding, generator: generator)
        encoder = LSTM(embedding, hiddenSize / 2, batchFirst: true, bidirectional: true, generator: generator)
        decoder = LSTM(embedding, hiddenSize, batchFirst: true, generator: generator)
        score = Linear(hiddenSize, hiddenSize, bias: false, generator: generator)
        combine = Linear(2 * hiddenSize, hiddenSize, generator: generator)
        head = Linear(hiddenSize, vocabularySize, generator: generator)
    }

    /// Encoder outputs `[B, S, H]`, the decoder's initial state (`[1, B, H]` each) and the padding mask `[B, S]`.
    /// Under a tracer (export) the state is batch first, `[B, 1, H]` each: traced
    /// `recurrent_state` values of the encoder's output, which lower to the encoder op's h_n and
    /// c_n outputs (reshaped), read by the decoder op as its initial state.
    func encode(_ source: Tensor) -> (memory: Tensor, state: LSTM.State, mask: Tensor) {
        let (memory, final) = encoder(sourceEmbedding(source))
        let b = source.shape[0]
        func merge(_ s: Tensor) -> Tensor { s.transpose(0, 1).reshape([1, b, hiddenSize]) }   // [2, B, H/2] → [1, B, H]
        if let tracer = Tracer.current {
            Tracer.current = nil
            let h = merge(final.h).transpose(0, 1), c = merge(final.c).transpose(0, 1)
            Tracer.current = tracer
            tracer.record("recurrent_state", inputs: [memory], output: h, attributes: ["state": .int(0)])
            tracer.record("recurrent_state", inputs: [memory], output: c, attributes: ["state": .int(1)])
            return (memory, (h, c), paddingMask(source))
        }
        return (memory, (merge(final.h), merge(final.c)), paddingMask(source))
    }

    /// `decode` under a tracer: the decoder LSTM recorded as one `recurrent` node that also reads
    /// the initial state (batch first, from `encode`), the attention as one cross-attention node
    /// (queries h, keys score(memory), values memory, the padding mask; one head, scale 1).
    func tracedDecode(_ target: Tensor, memory: Tensor, mask: Tensor, state: LSTM.State, tracer: Tracer)
        -> (logits: Tensor, state: LSTM.State, weights: Tensor) {
        let embedded = targetEmbedding(target)
        Tracer.current = nil
        let (h, next) = decoder(embedded, (state.h.transpose(0, 1), state.c.transpose(0, 1)))
        let w = decoder.stack.weights(0, 0)
        Tracer.current = tracer
        tracer.record("recurrent", inputs: [embedded, w.ih, w.hh, w.bih!, w.bhh!, state.h, state.c], output: h,
                      attributes: ["cell": .int(2), "directions": .int(1), "bias": .int(1)])
        let keys = score(memory)
        Tracer.current = nil
        let b = memory.shape[0], s = memory.shape[1]
        let weights = h.matmul(keys.transpose(1, 2)).maskedFill(mask.reshape([b, 1, s]), value: -.infinity).softmax(axis: -1)
        let context = weights.matmul(memory)
        Tracer.current = tracer
        tracer.record("attention", inputs: [h, keys, memory, mask], output: context,
                      attributes: ["heads": .int(1), "causal": .int(0), "cross": .int(1), "score_scale": .float(1)])
        let attended = combine(Tensor.concat([h, context], axis: 2)).tanh()
        return (head(attended), next, weights)
    }

    /// Decoder steps for input ids `[B, t]` from `state`: logits `[B, t, V]`, the next state and attention weights `[B, t, S]`.
    func decode(_ target: Tensor, memory: Tensor, mask: Tensor, state: LSTM.State) -> (logits: Tensor, state: LSTM.State, weights: Tensor) {
        if let tracer = Tracer.current { return tracedDecode(target, memory: memory, mask: mask, state: state, tracer: tracer) }
        let (h, next) = decoder(targetEmbedding(target), state)
        let b = memory.shape[0], s = memory.shape[1]
        let scores = h.matmul(score(memory).transpose(1, 2)).maskedFill(mask.reshape([b, 1, s]), value: -.infinity)
        let weights = scores.softmax(axis: -1)
        let context = weights.matmul(memory)
        let attended = combine(Tensor.concat([h, context], axis: 2)).tanh()
        return (head(attended), next, weights)
    }

    public func forward(_ input: Tensor) -> Tensor {
        attention(input).logits
    }

    public func logits(source: Tensor, target: Tensor) -> Tensor {
        let (memory, state, mask) = encode(source)
        return decode(target, memory: memory, mask: mask, state: state).logits
    }

    /// Teacher-forced logits `[B, T, V]` and attention weights `[B, T, S]`.
    public func attention(_ input: Tensor) -> (logits: Tensor, weights: Tensor) {
        let (source, target) = splitTeacherForcing(input, sourceLength: sourceLength, targetLength: targetLength, name: "Seq2SeqLSTM")
        let (memory, state, mask) = encode(source)
        let out = decode(target, memory: memory, mask: mask, state: state)
        return (out.logits, out.weights)
    }

    public func greedyDecode(_ sources: Tensor, startId: Int) -> [[Int]] {
        greedyDecodeWithAttention(sources, startId: startId).ids
    }

    /// Greedy decoding that also returns each step's attention weights: ids (B rows of T) and
    /// weights `[B, T, S]`.
    public func greedyDecodeWithAttention(_ sources: Tensor, startId: Int) -> (ids: [[Int]], weights: Tensor) {
        check(sources.rank == 2 && sources.shape[1] == sourceLength,
              "Seq2SeqLSTM.greedyDecode: expected sources [batch, \(sourceLength)], got \(sources.shape)")
        let b = sources.shape[0]
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        return noGrad {
            let (memory, initial, mask) = encode(sources)
            var state = initial
            var ids = [[Int]](repeating: [], count: b)
            var token = Tensor(shape: [b, 1], data: [Float](repeating: Float(startId), count: b))
            var steps: [Tensor] = []
            for _ in 0..<targetLength {
                let out = decode(token, memory: memory, mask: mask, state: state)
                state = out.state
                steps.append(out.weights)
                let next = out.logits.reshape([b, vocabularySize]).argmax(axis: 1)
                for r in 0..<b { ids[r].append(next[r]) }
                token = Tensor(shape: [b, 1], data: next.map(Float.init))
            }
            return (ids, Tensor.concat(steps, axis: 1))
        }
    }

    public var description: String {
        "Seq2SeqLSTM(vocabulary \(vocabularySize), source \(sourceLength), target \(targetLength), \(encoder) → \(decoder), Luong attention)"
    }
}

/// Transformer encoder–decoder (Vaswani et al. 2017, pre-norm): token embeddings plus
/// sinusoidal positions, `layers` encoder layers over the source (padding masked), `layers`
/// decoder layers (causal self-attention, cross-attention to the encoder output with the
/// source padding masked), a final LayerNorm on each side and a linear head.
///
/// - Shape: input `[B, sourceLength + targetLength]` ids → logits `[B, targetLength, vocabularySize]`.
public final class Seq2SeqTransformer: Seq2SeqModel {
    public let sourceLength: Int, targetLength: Int, vocabularySize: Int, dim: Int
    public let sourceEmbedding: Embedding, targetEmbedding: Embedding
    public let positions: SinusoidalPositionalEncoding
    public let encoderLayers: [TransformerEncoderLayer], decoderLayers: [TransformerDecoderLayer]
    public let encoderNorm: LayerNorm, decoderNorm: LayerNorm, head: Linear
    public var isTraining = true

    public init(vocabularySize: Int, sourceLength: Int, targetLength: Int, dim: Int = 64, heads: Int = 4, layers: Int = 2,
                dropout: Float = 0.1, generator: Generator = .default) {
        check(dim > 0 && heads > 0 && dim % heads == 0 && layers > 0,
              "Seq2SeqTransformer: need dim divisible by heads and at least one layer, got dim \(dim), heads \(heads), layers \(layers)")
        self.sourceLength = sourceLength
        self.targetLength = targetLength
        self.vocabularySize = vocabularySize
        self.dim = dim
        sourceEmbedding = Embedding(vocabularySize, dim, generator: generator)
        targetEmbedding = Embedding(vocabularySize, dim, generator: generator)
        positions = SinusoidalPositionalEncoding(dim, maxLength: Swift.max(sourceLength, targetLength), batchFirst: true)
        encoderLayers = (0..<layers).map { _ in
            TransformerEncoderLayer(dim, numHeads: heads, dimFeedforward: 4 * dim, dropout: dropout, activation: .gelu,
                                    batchFirst: true, normFirst: true, generator: generator)
        }
        decoderLayers = (0..<layers).map { _ in
            TransformerDecoderLayer(dim, numHeads: heads, dimFeedforward: 4 * dim, dropout: dropout, activation: .gelu,
                                    batchFirst: true, normFirst: true, generator: generator)
        }
        encoderNorm = LayerNorm([dim])
        decoderNorm = LayerNorm([dim])
        head = Linear(dim, vocabularySize, generator: generator)
    }

    /// Encoder output `[B, S, dim]` and the source padding mask `[B, S]`.
    func encode(_ source: Tensor) -> (memory: Tensor, mask: Tensor) {
        let mask = paddingMask(source)
        var x = positions(sourceEmbedding(source))
        for layer in encoderLayers { x = layer(x, keyPaddingMask: mask) }
        return (encoderNorm(x), mask)
    }

    /// Logits `[B, t, V]` for decoder input ids `[B, t]`.
    func decode(_ target: Tensor, memory: Tensor, mask: Tensor) -> Tensor {
        var x = positions(targetEmbedding(target))
        for layer in decoderLayers { x = layer(x, memory: memory, memoryKeyPaddingMask: mask, tgtCausal: true) }
        return head(decoderNorm(x))
    }

    public func forward(_ input: Tensor) -> Tensor {
        let (source, target) = splitTeacherForcing(input, sourceLength: sourceLength, targetLength: targetLength, name: "Seq2SeqTransformer")
        let (memory, mask) = encode(source)
        return decode(target, memory: memory, mask: mask)
    }

    /// The last decoder layer's cross-attention weights (averaged over heads) for a
    /// teacher-forcing input `[B, S + T]`: `[B, T, S]`, for heat maps. Evaluation mode (no dropout).
    public func crossAttention(_ input: Tensor) -> Tensor {
        let (source, target) = splitTeacherForcing(input, sourceLength: sourceLength, targetLength: targetLength, name: "Seq2SeqTransformer")
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        return noGrad {
            let (memory, mask) = encode(source)
            var x = positions(targetEmbedding(target))
            for layer in decoderLayers.dropLast() { x = layer(x, memory: memory, memoryKeyPaddingMask: mask, tgtCausal: true) }
            let last = decoderLayers[decoderLayers.count - 1]
            // The pre-norm layer up to its cross-attention (TransformerDecoderLayer.forward, normFirst).
            let y = x + last.selfAttn(last.norm1(x), last.norm1(x), last.norm1(x), causal: true, needWeights: false).output
            let q = last.norm2(y)
            return last.crossAttn(q, memory, memory, keyPaddingMask: mask, needWeights: true).weights!
        }
    }

    public func greedyDecode(_ sources: Tensor, startId: Int) -> [[Int]] {
        check(sources.rank == 2 && sources.shape[1] == sourceLength,
              "Seq2SeqTransformer.greedyDecode: expected sources [batch, \(sourceLength)], got \(sources.shape)")
        let b = sources.shape[0]
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        return noGrad {
            let (memory, mask) = encode(sources)
            var prefix = [[Int]](repeating: [startId], count: b)
            for step in 0..<targetLength {
                let input = Tensor(shape: [b, step + 1], data: prefix.flatMap { $0.map(Float.init) })
                let logits = decode(input, memory: memory, mask: mask).select(axis: 1, index: step)
                for (r, id) in logits.argmax(axis: 1).enumerated() { prefix[r].append(id) }
            }
            return prefix.map { Array($0.dropFirst()) }
        }
    }

    public func logits(source: Tensor, target: Tensor) -> Tensor {
        let (memory, mask) = encode(source)
        return decode(target, memory: memory, mask: mask)
    }

    public var description: String {
        "Seq2SeqTransformer(vocabulary \(vocabularySize), source \(sourceLength), target \(targetLength), dim \(dim), \(encoderLayers.count)+\(decoderLayers.count) layers)"
    }
}

/// Exact-match accuracy of greedy decoding on `examples` of a `DateTask`: the fraction whose
/// decoded text equals the target, and the first few mistakes as (source, expected, got).
public func dateAccuracy(_ model: any Seq2SeqModel, on examples: [DateTask.Example], batchSize: Int = 256)
    -> (accuracy: Double, mistakes: [(source: String, expected: String, got: String)]) {
    let wasTraining = model.isTraining
    model.eval()
    defer { model.train(wasTraining) }
    var correct = 0
    var mistakes: [(String, String, String)] = []
    for start in stride(from: 0, to: examples.count, by: batchSize) {
        let part = examples[start..<Swift.min(start + batchSize, examples.count)]
        let sources = Tensor(shape: [part.count, DateTask.sourceLength], data: part.flatMap { DateTask.sourceIds($0.source).map(Float.init) })
        for (e, ids) in zip(part, model.greedyDecode(sources, startId: DateTask.start)) {
            let got = DateTask.decode(ids)
            if got == e.target { correct += 1 } else if mistakes.count < 10 { mistakes.append((e.source, e.target, got)) }
        }
    }
    return (Double(correct) / Double(Swift.max(1, examples.count)), mistakes)
}

/// A heat map of attention weights `[T, S]` (rows: output steps, columns: source
/// characters), `cell` pixels per weight, white (0) to dark blue (1), with each row scaled
/// to its own maximum so the peak of every step is visible.
public func attentionHeatMap(_ weights: [[Float]], cell: Int = 12) -> PixelImage {
    check(!weights.isEmpty && !weights[0].isEmpty && weights.allSatisfy { $0.count == weights[0].count } && cell > 0,
          "attentionHeatMap: expected a non-empty [T, S] table and a positive cell size")
    let rows = weights.count, columns = weights[0].count
    let width = columns * cell, height = rows * cell
    var pixels = [UInt8](repeating: 255, count: width * height * 3)
    for r in 0..<rows {
        let peak = Swift.max(weights[r].max() ?? 0, 1e-12)
        for c in 0..<columns {
            let v = Swift.min(1, Swift.max(0, weights[r][c] / peak))
            let rgb = [UInt8(255 - 230 * v), UInt8(255 - 200 * v), UInt8(255 - 90 * v)]
            for y in (r * cell)..<((r + 1) * cell) where y % cell != cell - 1 {
                for x in (c * cell)..<((c + 1) * cell) where x % cell != cell - 1 {
                    for k in 0..<3 { pixels[(y * width + x) * 3 + k] = rgb[k] }
                }
            }
        }
    }
    return PixelImage(width: width, height: height, channels: 3, pixels: pixels)
}

extension Seq2SeqModel {
    /// A bundle that translates from C (docs/bundle-format.md, "Sequence-to-sequence"): graph
    /// inputs `source` i32 `[sourceLength]` (padded with 0) and `target` i32 `[targetLength]` (the
    /// start id, then the tokens decoded so far), output `logits` f32 `[targetLength, V]`. The
    /// encoder (over `source`, padding masked) is the stream's context: the first step after a
    /// reset runs it and the cross-attention keeps its keys and values; every step then feeds one
    /// decoder token and gets its logits, with the self-attention's key/value cache.
    /// (Seq2SeqLSTM: the bidirectional encoder and its final states are the context, the decoder
    /// LSTM starts from them and keeps its state, Luong attention is a one-head cross-attention.)
    /// `options.metadata` gets the token table of the dates task (`seq2seq.characters`: the
    /// characters of ids `seq2seq.first_id` …, and `seq2seq.start_id`, `seq2seq.end_id`,
    /// `seq2seq.padding_id`) when `dateVocabulary`. Without calibration inputs the traced example
    /// is two rows of nonzero ids.
    public func exportBundle(options: BundleExporter.Options = BundleExporter.Options(), dateVocabulary: Bool = true) throws -> ModelBundle {
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        var options = options
        if dateVocabulary { options.metadata += seq2seqMetadata() }
        if options.calibrationInputs == nil {
            let v = vocabularySize
            func ids(_ n: Int, _ seed: Int) -> Tensor { Tensor(shape: [2, n], data: (0..<(2 * n)).map { Float(1 + ($0 * 7 + seed) % (v - 1)) }) }
            options.calibrationInputs = [ids(sourceLength, 3), ids(targetLength, 5)]
        }
        return try BundleExporter.export(self, inputs: [("source", [sourceLength]), ("target", [targetLength])],
                                         outputNames: ["logits"], options: options) { [logits(source: $0[0], target: $0[1])] }
    }
}

/// Metadata naming the dates task's tokens in a seq2seq bundle (read by examples/c/translate.c).
func seq2seqMetadata() -> [(key: String, value: String)] {
    [("seq2seq.characters", String(DateTask.characters)), ("seq2seq.first_id", "3"), ("seq2seq.start_id", "\(DateTask.start)"),
     ("seq2seq.end_id", "\(DateTask.end)"), ("seq2seq.padding_id", "\(DateTask.padding)")]
}
