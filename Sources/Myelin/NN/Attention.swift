import Foundation

// Attention and positional encodings, composed of recorded ops (matmul, softmax,
// masked_fill, linear, reshape, permute), so their backward passes are those ops'.
//
// Masks follow `maskedFill` and PyTorch's `key_padding_mask`: a NONZERO entry means "do not
// attend" (the score becomes −∞ before the softmax). A query whose every key is masked gets
// NaN, as in PyTorch.

/// `[L, S]` mask hiding future positions: entry (i, j) is 1 where j > i.
///
/// ```swift
/// causalMask(3)   // [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
/// ```
public func causalMask(_ length: Int, keys: Int? = nil) -> Tensor {
    let s = keys ?? length
    var d = [Float](repeating: 0, count: length * s)
    for i in 0..<length { for j in 0..<s where j > i { d[i * s + j] = 1 } }
    return Tensor(shape: [length, s], data: d)
}

/// Dropout on `x` when `p > 0` (inverted: survivors scaled by 1/(1−p)).
func dropoutMask(_ x: Tensor, p: Float, generator: Generator) -> Tensor {
    p > 0 ? x.dropout(p: p, generator: generator) : x
}

/// Attention weights and output for `q [..., L, d]`, `k [..., S, d]`, `v [..., S, dv]`,
/// with each mask (broadcast to `[..., L, S]`) hiding its nonzero entries.
func attention(_ q: Tensor, _ k: Tensor, _ v: Tensor, masks: [Tensor], dropout: Float,
               generator: Generator) -> (output: Tensor, weights: Tensor) {
    let d = q.shape[q.rank - 1]
    let weights: Tensor
    if Tracer.current == nil {
        weights = q.matmulTransposed(k).maskedSoftmax(scale: 1 / Float(d).squareRoot(), masks: masks)   // two nodes, no copy of kᵀ
    } else {
        var scores = q.matmul(k.transpose(-1, -2)) * (1 / Float(d).squareRoot())
        for m in masks { scores = scores.maskedFill(m, value: -.infinity) }
        weights = scores.softmax(axis: -1)
    }
    return (dropoutMask(weights, p: dropout, generator: generator).matmul(v), weights)
}

/// Scaled dot-product attention, `softmax(q·kᵀ/√d + mask) · v`, as PyTorch's
/// `F.scaled_dot_product_attention` — except that `mask` is nonzero where attention is NOT
/// allowed (PyTorch's boolean `attn_mask` is the opposite; `key_padding_mask` agrees).
///
/// - Shapes: query `[…, L, d]`, key `[…, S, d]`, value `[…, S, dv]` (leading dimensions
///   broadcast, e.g. `[batch, heads]`); mask broadcastable to `[…, L, S]` → `[…, L, dv]`.
/// - `causal` additionally hides key j from query i when j > i. `dropout` drops attention
///   weights (pass 0 outside training).
///
/// ```swift
/// let q = Tensor.randn([2, 4, 10, 16]), k = Tensor.randn([2, 4, 10, 16]), v = Tensor.randn([2, 4, 10, 16])
/// scaledDotProductAttention(q, k, v, causal: true)   // [2, 4, 10, 16]
/// ```
public func scaledDotProductAttention(_ query: Tensor, _ key: Tensor, _ value: Tensor, mask: Tensor? = nil,
                                      causal: Bool = false, dropout: Float = 0, generator: Generator = .default) -> Tensor {
    check(query.rank >= 2 && key.rank == query.rank && value.rank == query.rank
            && query.shape.last == key.shape.last && key.shape[key.rank - 2] == value.shape[value.rank - 2],
          "scaledDotProductAttention: shapes \(query.shape), \(key.shape), \(value.shape) are not [..., L, d], [..., S, d], [..., S, dv]")
    var masks: [Tensor] = mask.map { [$0] } ?? []
    if causal { masks.append(causalMask(query.shape[query.rank - 2], keys: key.shape[key.rank - 2])) }
    return attention(query, key, value, masks: masks, dropout: dropout, generator: generator).output
}

/// Multi-head attention, as PyTorch's `nn.MultiheadAttention` (same parameter layout, so a
/// PyTorch state dict loads as is): queries, keys and values are projected by the three
/// blocks of `in_proj_weight`, split into `numHeads` heads of `embedDim / numHeads`, attended
/// separately, concatenated and projected by `out_proj`.
///
/// - Shape: query `[L, B, E]`, key and value `[S, B, E]` (`[B, L, E]`, `[B, S, E]` when
///   `batchFirst`) → output like query; attention weights averaged over heads `[B, L, S]`.
/// - Masks (nonzero = hidden): `keyPaddingMask` `[B, S]` (padding keys), `attnMask` `[L, S]`
///   or `[B·heads, L, S]`; `causal` hides future keys.
/// - Parameters: `in_proj_weight` `[3E, E]` (Xavier uniform), `in_proj_bias` `[3E]` (zeros),
///   `out_proj.weight` `[E, E]` (Linear's default), `out_proj.bias` `[E]` (zeros).
/// - `dropout` applies to the attention weights in training mode.
///
/// ```swift
/// let mha = MultiheadAttention(64, numHeads: 4, batchFirst: true)
/// let x = Tensor.randn([8, 20, 64])
/// let (y, w) = mha(x, x, x, causal: true)   // y [8, 20, 64], w [8, 20, 20]
/// ```
public final class MultiheadAttention: Module {
    public let embedDim: Int
    public let numHeads: Int
    public let dropout: Float
    public let batchFirst: Bool
    public let inProjWeight: Tensor
    public let inProjBias: Tensor
    public let outProj: Linear
    public var isTraining = true
    let generator: Generator

    public init(_ embedDim: Int, numHeads: Int, dropout: Float = 0, batchFirst: Bool = false, generator: Generator = .default) {
        check(embedDim > 0 && numHeads > 0 && embedDim % numHeads == 0,
              "MultiheadAttention: embedDim \(embedDim) must be a positive multiple of numHeads \(numHeads)")
        check(dropout >= 0 && dropout < 1, "MultiheadAttention: dropout must be in [0, 1), got \(dropout)")
        self.embedDim = embedDim
        self.numHeads = numHeads
        self.dropout = dropout
        self.batchFirst = batchFirst
        self.generator = generator
        // PyTorch: xavier_uniform_ over the whole [3E, E] matrix (fan-in E, fan-out 3E).
        inProjWeight = Init.xavierUniform().make([3 * embedDim, embedDim], fanIn: embedDim, fanOut: 3 * embedDim, generator: generator)
        inProjWeight.requiresGrad = true
        inProjBias = Tensor.zeros([3 * embedDim], requiresGrad: true)
        outProj = Linear(embedDim, embedDim, biasInit: .zeros, generator: generator)
    }

    /// `[B, n, E]` → `[B, heads, n, E/heads]`.
    func heads(_ x: Tensor) -> Tensor {
        x.reshape([x.shape[0], x.shape[1], numHeads, embedDim / numHeads]).permute([0, 2, 1, 3])
    }

    /// Attends `query` to `key`/`value`; see the type's documentation for shapes and masks.
    /// The weights are computed only when `needWeights`.
    public func forward(_ query: Tensor, _ key: Tensor, _ value: Tensor, keyPaddingMask: Tensor? = nil,
                        attnMask: Tensor? = nil, causal: Bool = false, needWeights: Bool = true) -> (output: Tensor, weights: Tensor?) {
        if let tracer = Tracer.current, batchFirst, key === value, attnMask == nil, query.rank == 3, key.rank == 3,
           query.shape[2] == embedDim, key.shape[2] == embedDim, !(causal && query !== key) {
            return traced(query, key, keyPaddingMask: keyPaddingMask, causal: causal, needWeights: needWeights, tracer: tracer)
        }
        let e = embedDim
        check(query.rank == 3 && key.rank == 3 && value.rank == 3 && query.shape[2] == e && key.shape[2] == e && value.shape[2] == e
                && key.shape[0] == value.shape[0] && key.shape[1] == value.shape[1],
              "MultiheadAttention(\(e)): expected query, key, value \(batchFirst ? "[B, L, \(e)], [B, S, \(e)]" : "[L, B, \(e)], [S, B, \(e)]"), got \(query.shape), \(key.shape), \(value.shape)")
        let q0 = batchFirst ? query : query.transpose(0, 1)
        let b = q0.shape[0], l = q0.shape[1]
        let q: Tensor, k: Tensor, v: Tensor
        // Outside a tracer the heads are cut straight from the projections (one copy each) and
        // merged back likewise; under one, as the recorded split, reshape and permute.
        let direct = Tracer.current == nil
        if query === key && key === value {
            // Self-attention: one GEMM for all three projections.
            let qkv = linear(q0, weight: inProjWeight, bias: inProjBias)
            if direct {
                (q, k, v) = (qkv.attentionHeads(part: 0, of: 3, heads: numHeads), qkv.attentionHeads(part: 1, of: 3, heads: numHeads),
                             qkv.attentionHeads(part: 2, of: 3, heads: numHeads))
            } else {
                let parts = qkv.split(sizes: [e, e, e], axis: 2)
                (q, k, v) = (heads(parts[0]), heads(parts[1]), heads(parts[2]))
            }
        } else {
            let k0 = batchFirst ? key : key.transpose(0, 1), v0 = batchFirst ? value : value.transpose(0, 1)
            check(k0.shape[0] == b, "MultiheadAttention: query batch \(b) and key batch \(k0.shape[0]) differ")
            func project(_ x: Tensor, _ i: Int) -> Tensor {
                linear(x, weight: inProjWeight.narrow(axis: 0, start: i * e, length: e), bias: inProjBias.narrow(axis: 0, start: i * e, length: e))
            }
            let projected = (project(q0, 0), project(k0, 1), project(v0, 2))
            (q, k, v) = direct ? (projected.0.attentionHeads(part: 0, of: 1, heads: numHeads), projected.1.attentionHeads(part: 0, of: 1, heads: numHeads),
                                  projected.2.attentionHeads(part: 0, of: 1, heads: numHeads))
                : (heads(projected.0), heads(projected.1), heads(projected.2))
        }
        let s = k.shape[2]
        var masks: [Tensor] = []
        if let m = keyPaddingMask {
            check(m.shape == [b, s], "MultiheadAttention: keyPaddingMask must be [\(b), \(s)], got \(m.shape)")
            masks.append(m.reshape([b, 1, 1, s]))
        }
        if let m = attnMask {
            if m.shape == [l, s] { masks.append(m) } else {
                check(m.shape == [b * numHeads, l, s], "MultiheadAttention: attnMask must be [\(l), \(s)] or [\(b * numHeads), \(l), \(s)], got \(m.shape)")
                masks.append(m.reshape([b, numHeads, l, s]))
            }
        }
        if causal { masks.append(causalMask(l, keys: s)) }
        let (attended, weights) = attention(q, k, v, masks: masks, dropout: isTraining ? dropout : 0, generator: generator)
        let merged = outProj(direct ? attended.mergedAttentionHeads() : attended.permute([0, 2, 1, 3]).reshape([b, l, e]))
        return (batchFirst ? merged : merged.transpose(0, 1), needWeights ? weights.mean(axis: 1) : nil)
    }

    /// Export: the projections are recorded as the linears they are, the core between them as
    /// one `attention` node, which lowers to the runtime op (GraphLowering+Sequence.swift).
    /// Self-attention (`query === key`): inputs qkv `[B, L, 3E]` (in_proj's output); with a
    /// key padding mask also the mask, which must come from `paddingMask` (a traced
    /// `padding_mask` of the token ids). Cross-attention: inputs q `[B, L, E]`, k and v
    /// `[B, S, E]` (three linears over the blocks of in_proj) and the optional mask; attribute
    /// `cross` 1. Output: the heads merged `[B, L, E]`, before out_proj.
    func traced(_ query: Tensor, _ memory: Tensor, keyPaddingMask: Tensor?, causal: Bool, needWeights: Bool,
                tracer: Tracer) -> (output: Tensor, weights: Tensor?) {
        let e = embedDim, b = query.shape[0], l = query.shape[1], s = memory.shape[1]
        let cross = query !== memory
        let operands: [Tensor], q: Tensor, k: Tensor, v: Tensor
        if cross {
            // The blocks of in_proj as tensors of their own (constants of the bundle).
            func project(_ x: Tensor, _ i: Int) -> Tensor {
                let w = Tensor(shape: [e, e], data: Array(inProjWeight.data[(i * e * e)..<((i + 1) * e * e)]))
                let bias = Tensor(shape: [e], data: Array(inProjBias.data[(i * e)..<((i + 1) * e)]))
                return linear(x, weight: w, bias: bias)
            }
            (q, k, v) = (project(query, 0), project(memory, 1), project(memory, 2))
            operands = [q, k, v]
        } else {
            let qkv = linear(query, weight: inProjWeight, bias: inProjBias)
            operands = [qkv]
            Tracer.current = nil
            let parts = qkv.split(sizes: [e, e, e], axis: 2)
            (q, k, v) = (parts[0], parts[1], parts[2])
            Tracer.current = tracer
        }
        Tracer.current = nil
        var masks: [Tensor] = causal ? [causalMask(l)] : []
        if let m = keyPaddingMask {
            check(m.shape == [b, s], "MultiheadAttention: keyPaddingMask must be [\(b), \(s)], got \(m.shape)")
            masks.append(m.reshape([b, 1, 1, s]))
        }
        let (attended, weights) = attention(heads(q), heads(k), heads(v), masks: masks, dropout: 0, generator: generator)
        let merged = attended.permute([0, 2, 1, 3]).reshape([b, l, e])
        Tracer.current = tracer
        tracer.record("attention", inputs: operands + (keyPaddingMask.map { [$0] } ?? []), output: merged,
                      attributes: ["heads": .int(numHeads), "causal": .int(causal ? 1 : 0), "cross": .int(cross ? 1 : 0)])
        return (outProj(merged), needWeights ? weights.mean(axis: 1) : nil)
    }

    public func callAsFunction(_ query: Tensor, _ key: Tensor, _ value: Tensor, keyPaddingMask: Tensor? = nil,
                               attnMask: Tensor? = nil, causal: Bool = false, needWeights: Bool = true) -> (output: Tensor, weights: Tensor?) {
        Tracer.enter(self)
        defer { Tracer.leave() }
        return forward(query, key, value, keyPaddingMask: keyPaddingMask, attnMask: attnMask, causal: causal, needWeights: needWeights)
    }

    public var localParameters: [(String, Tensor)] { [("in_proj_weight", inProjWeight), ("in_proj_bias", inProjBias)] }
    public var localBuffers: [(String, Tensor)] { [] }
    public var children: [(String, any Module)] { [("out_proj", outProj)] }
    public var description: String {
        "MultiheadAttention(\(embedDim), numHeads: \(numHeads)\(dropout > 0 ? ", dropout: \(dropout)" : "")\(batchFirst ? ", batchFirst: true" : ""))"
    }
}

/// `compute()`; under a tracer (export) with batch-first input, recorded as one
/// `positional_encoding` node (inputs x and the whole table), which lowers to the runtime op
/// that adds the rows of the stream's positions.
extension Tensor {
    /// Block `part` of `parts` equal blocks along the last axis of x `[B, L, parts·E]`, cut into
    /// heads: `[B, heads, L, E/heads]`. Equals `narrow(axis: 2, start: part·E, length: E)
    /// .reshape([B, L, heads, E/heads]).permute([0, 2, 1, 3])` as one copy of head rows (the
    /// generic permute builds an index map of every element). Recorded as `attention_heads`,
    /// outside a tracer only.
    func attentionHeads(part: Int, of parts: Int, heads: Int) -> Tensor {
        check(rank == 3 && parts > 0 && part >= 0 && part < parts && heads > 0 && shape[2] % (parts * heads) == 0,
              "attentionHeads: cannot cut part \(part) of \(parts) into \(heads) heads from shape \(shape)")
        let batch = shape[0], length = shape[1], width = shape[2], e = width / parts, d = e / heads
        var out = uninitializedFloats(batch * length * e)
        // Head row (b, h, l) ← x[b, l, part·E + h·d ..< + d].
        @inline(__always) func rows(_ body: (_ head: Int, _ source: Int) -> Void) {
            for b in 0..<batch { for h in 0..<heads { for l in 0..<length {
                body(((b * heads + h) * length + l) * d, (b * length + l) * width + part * e + h * d)
            } } }
        }
        data.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { y in
                rows { (y.baseAddress! + $0).update(from: x.baseAddress! + $1, count: d) }
            }
        }
        let input = self
        return Tensor.result("attention_heads", shape: [batch, heads, length, d], data: out, inputs: [self]) { g in
            input.accumulateGrad(count: input.count) { acc in
                g.withUnsafeBufferPointer { gp in rows { head, source in for j in 0..<d { acc[source + j] += gp[head + j] } } }
            }
        }
    }

    /// Heads `[B, heads, L, d]` merged back to `[B, L, heads·d]`: `permute([0, 2, 1, 3])
    /// .reshape([B, L, heads·d])` as one copy of head rows. Recorded as `attention_merge_heads`,
    /// outside a tracer only.
    func mergedAttentionHeads() -> Tensor {
        check(rank == 4, "mergedAttentionHeads: expected [batch, heads, length, d], got \(shape)")
        let batch = shape[0], heads = shape[1], length = shape[2], d = shape[3], e = heads * d
        var out = uninitializedFloats(count)
        @inline(__always) func rows(_ body: (_ head: Int, _ merged: Int) -> Void) {
            for b in 0..<batch { for h in 0..<heads { for l in 0..<length {
                body(((b * heads + h) * length + l) * d, (b * length + l) * e + h * d)
            } } }
        }
        data.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { y in
                rows { (y.baseAddress! + $1).update(from: x.baseAddress! + $0, count: d) }
            }
        }
        let input = self
        return Tensor.result("attention_merge_heads", shape: [batch, length, e], data: out, inputs: [self]) { g in
            input.accumulateGrad(count: input.count) { acc in
                g.withUnsafeBufferPointer { gp in rows { head, merged in for j in 0..<d { acc[head + j] += gp[merged + j] } } }
            }
        }
    }
}

func tracedPositional(_ input: Tensor, table: Tensor, batchFirst: Bool, _ compute: () -> Tensor) -> Tensor {
    guard let tracer = Tracer.current, batchFirst else { return compute() }
    Tracer.current = nil
    let result = compute()
    Tracer.current = tracer
    tracer.record("positional_encoding", inputs: [input, table], output: result, attributes: [:])
    return result
}

/// Adds the fixed sinusoidal position code of "Attention Is All You Need":
/// `pe[pos, 2i] = sin(pos / 10000^(2i/d))`, `pe[pos, 2i+1] = cos(pos / 10000^(2i/d))`.
///
/// - Shape: x `[B, T, d]` (`[T, B, d]` unless `batchFirst`), T ≤ `maxLength` → same shape.
/// - The table `pe` `[maxLength, d]` is a buffer (saved, not trained).
///
/// ```swift
/// let pos = SinusoidalPositionalEncoding(64, maxLength: 512)
/// pos(Tensor.zeros([2, 10, 64]))   // the first 10 rows of the table, for each example
/// ```
public final class SinusoidalPositionalEncoding: Layer {
    public let dim: Int
    public let maxLength: Int
    public let batchFirst: Bool
    public let pe: Tensor
    public var isTraining = true

    public init(_ dim: Int, maxLength: Int = 5000, batchFirst: Bool = true) {
        check(dim > 0 && maxLength > 0, "SinusoidalPositionalEncoding: dim and maxLength must be positive, got \(dim), \(maxLength)")
        self.dim = dim
        self.maxLength = maxLength
        self.batchFirst = batchFirst
        var table = [Float](repeating: 0, count: maxLength * dim)
        for pos in 0..<maxLength {
            for i in stride(from: 0, to: dim, by: 2) {
                let angle = Double(pos) * Foundation.exp(-Double(i) * Foundation.log(10000.0) / Double(dim))
                table[pos * dim + i] = Float(Foundation.sin(angle))
                if i + 1 < dim { table[pos * dim + i + 1] = Float(Foundation.cos(angle)) }
            }
        }
        pe = Tensor(shape: [maxLength, dim], data: table)
    }

    public func forward(_ input: Tensor) -> Tensor {
        let t = input.shape[batchFirst ? 1 : 0]
        check(input.rank == 3 && input.shape[2] == dim && t <= maxLength,
              "SinusoidalPositionalEncoding(\(dim)): expected \(batchFirst ? "[B, T" : "[T, B"), \(dim)] with T ≤ \(maxLength), got \(input.shape)")
        return tracedPositional(input, table: pe, batchFirst: batchFirst) {
            let rows = pe.narrow(axis: 0, start: 0, length: t)
            return input + (batchFirst ? rows : rows.unsqueeze(1))
        }
    }

    public var description: String { "SinusoidalPositionalEncoding(\(dim), maxLength: \(maxLength))" }
}

/// Adds a learned vector per position (GPT-style), initialised N(0, 0.02²).
///
/// - Shape: x `[B, T, d]` (`[T, B, d]` unless `batchFirst`), T ≤ `maxLength` → same shape.
/// - Parameters: `weight` `[maxLength, d]`.
///
/// ```swift
/// let pos = LearnedPositionalEncoding(128, 64)
/// pos(tokenEmbeddings)   // [B, T, 64] plus the first T rows of weight
/// ```
public final class LearnedPositionalEncoding: Layer {
    public let maxLength: Int
    public let dim: Int
    public let batchFirst: Bool
    public let weight: Tensor
    public var isTraining = true

    public init(_ maxLength: Int, _ dim: Int, batchFirst: Bool = true, generator: Generator = .default) {
        check(dim > 0 && maxLength > 0, "LearnedPositionalEncoding: maxLength and dim must be positive, got \(maxLength), \(dim)")
        self.maxLength = maxLength
        self.dim = dim
        self.batchFirst = batchFirst
        weight = Tensor.randn([maxLength, dim], std: 0.02, generator: generator, requiresGrad: true)
    }

    public func forward(_ input: Tensor) -> Tensor {
        let t = input.shape[batchFirst ? 1 : 0]
        check(input.rank == 3 && input.shape[2] == dim && t <= maxLength,
              "LearnedPositionalEncoding(\(maxLength), \(dim)): expected \(batchFirst ? "[B, T" : "[T, B"), \(dim)] with T ≤ \(maxLength), got \(input.shape)")
        return tracedPositional(input, table: weight, batchFirst: batchFirst) {
            let rows = weight.narrow(axis: 0, start: 0, length: t)
            return input + (batchFirst ? rows : rows.unsqueeze(1))
        }
    }

    public var description: String { "LearnedPositionalEncoding(\(maxLength), \(dim))" }
}
