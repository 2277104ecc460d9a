// Transformer layers as PyTorch's `nn.TransformerEncoderLayer` / `nn.TransformerDecoderLayer`:
// same sub-module names (a PyTorch state dict loads as is), post-norm by default, pre-norm
// with `normFirst`. Composed of MultiheadAttention, Linear, LayerNorm and Dropout.

/// The feed-forward block's activation.
public enum TransformerActivation: String, Sendable {
    case relu, gelu
}

/// `linear2(dropout(act(linear1(x))))`.
func feedForward(_ x: Tensor, _ l1: Linear, _ l2: Linear, _ drop: Dropout, _ act: TransformerActivation) -> Tensor {
    let h = l1(x)
    return l2(drop(act == .relu ? h.relu() : h.gelu()))
}

/// One Transformer encoder layer: self-attention then a feed-forward block, each wrapped in
/// a residual connection and LayerNorm.
///
/// - Post-norm (default, PyTorch's default and the original paper):
///   `x = norm1(x + dropout1(selfAttn(x)))`, `x = norm2(x + dropout2(ff(x)))`.
/// - Pre-norm (`normFirst`, GPT-2 style, steadier to train deep):
///   `x = x + dropout1(selfAttn(norm1(x)))`, `x = x + dropout2(ff(norm2(x)))`.
/// - Shape: src `[S, B, dModel]` (`[B, S, dModel]` when `batchFirst`) → same shape.
/// - Masks (nonzero = hidden): `mask` `[S, S]`, `keyPaddingMask` `[B, S]`; `causal` hides
///   future positions (a decoder-only language model is a stack of these with `causal`).
/// - Children: `self_attn`, `linear1` `[dimFeedforward, dModel]`, `dropout`, `linear2`,
///   `norm1`, `norm2`, `dropout1`, `dropout2`.
///
/// ```swift
/// let layer = TransformerEncoderLayer(64, numHeads: 4, dimFeedforward: 256, dropout: 0.1, batchFirst: true, normFirst: true)
/// layer(Tensor.randn([8, 32, 64]), causal: true)   // [8, 32, 64]
/// ```
public final class TransformerEncoderLayer: Module {
    public let selfAttn: MultiheadAttention
    public let linear1: Linear, linear2: Linear
    public let norm1: LayerNorm, norm2: LayerNorm
    public let dropout: Dropout, dropout1: Dropout, dropout2: Dropout
    public let activation: TransformerActivation
    public let normFirst: Bool
    public var isTraining = true

    public init(_ dModel: Int, numHeads: Int, dimFeedforward: Int = 2048, dropout: Float = 0.1,
                activation: TransformerActivation = .relu, layerNormEps: Float = 1e-5, batchFirst: Bool = false,
                normFirst: Bool = false, generator: Generator = .default) {
        selfAttn = MultiheadAttention(dModel, numHeads: numHeads, dropout: dropout, batchFirst: batchFirst, generator: generator)
        linear1 = Linear(dModel, dimFeedforward, generator: generator)
        linear2 = Linear(dimFeedforward, dModel, generator: generator)
        norm1 = LayerNorm([dModel], eps: layerNormEps)
        norm2 = LayerNorm([dModel], eps: layerNormEps)
        self.dropout = Dropout(dropout, generator: generator)
        dropout1 = Dropout(dropout, generator: generator)
        dropout2 = Dropout(dropout, generator: generator)
        self.activation = activation
        self.normFirst = normFirst
    }

    func selfAttention(_ x: Tensor, _ mask: Tensor?, _ keyPaddingMask: Tensor?, _ causal: Bool) -> Tensor {
        dropout1(selfAttn(x, x, x, keyPaddingMask: keyPaddingMask, attnMask: mask, causal: causal, needWeights: false).output)
    }

    /// Applies the layer; see the type's documentation for shapes and masks.
    public func forward(_ src: Tensor, mask: Tensor? = nil, keyPaddingMask: Tensor? = nil, causal: Bool = false) -> Tensor {
        var x = src
        if normFirst {
            x = x.residualAdd(selfAttention(norm1(x), mask, keyPaddingMask, causal))
            x = x.residualAdd(dropout2(feedForward(norm2(x), linear1, linear2, dropout, activation)))
        } else {
            x = norm1(x.residualAdd(selfAttention(x, mask, keyPaddingMask, causal)))
            x = norm2(x.residualAdd(dropout2(feedForward(x, linear1, linear2, dropout, activation))))
        }
        return x
    }

    public func callAsFunction(_ src: Tensor, mask: Tensor? = nil, keyPaddingMask: Tensor? = nil, causal: Bool = false) -> Tensor {
        Tracer.enter(self)
        defer { Tracer.leave() }
        return forward(src, mask: mask, keyPaddingMask: keyPaddingMask, causal: causal)
    }

    public var localParameters: [(String, Tensor)] { [] }
    public var localBuffers: [(String, Tensor)] { [] }
    public var children: [(String, any Module)] {
        [("self_attn", selfAttn), ("linear1", linear1), ("dropout", dropout), ("linear2", linear2),
         ("norm1", norm1), ("norm2", norm2), ("dropout1", dropout1), ("dropout2", dropout2)]
    }
    public var description: String {
        "TransformerEncoderLayer(\(selfAttn), feedforward: \(linear1.outFeatures), \(activation)\(normFirst ? ", normFirst" : ""), dropout: \(dropout.p))"
    }
}

/// One Transformer decoder layer: masked self-attention over the target, attention to the
/// encoder's output (`memory`), then a feed-forward block; each with a residual connection
/// and LayerNorm, post-norm by default, pre-norm with `normFirst` (as the encoder layer).
///
/// - Shape: tgt `[T, B, dModel]`, memory `[S, B, dModel]` (batch first when `batchFirst`)
///   → like tgt.
/// - Masks (nonzero = hidden): `tgtMask` `[T, T]`, `memoryMask` `[T, S]`,
///   `tgtKeyPaddingMask` `[B, T]`, `memoryKeyPaddingMask` `[B, S]`; `tgtCausal` hides future
///   target positions.
/// - Children: `self_attn`, `multihead_attn`, `linear1`, `dropout`, `linear2`, `norm1`,
///   `norm2`, `norm3`, `dropout1`, `dropout2`, `dropout3`.
///
/// ```swift
/// let layer = TransformerDecoderLayer(64, numHeads: 4, dimFeedforward: 256, batchFirst: true)
/// layer(Tensor.randn([8, 12, 64]), memory: Tensor.randn([8, 30, 64]), tgtCausal: true)   // [8, 12, 64]
/// ```
public final class TransformerDecoderLayer: Module {
    public let selfAttn: MultiheadAttention, crossAttn: MultiheadAttention
    public let linear1: Linear, linear2: Linear
    public let norm1: LayerNorm, norm2: LayerNorm, norm3: LayerNorm
    public let dropout: Dropout, dropout1: Dropout, dropout2: Dropout, dropout3: Dropout
    public let activation: TransformerActivation
    public let normFirst: Bool
    public var isTraining = true

    public init(_ dModel: Int, numHeads: Int, dimFeedforward: Int = 2048, dropout: Float = 0.1,
                activation: TransformerActivation = .relu, layerNormEps: Float = 1e-5, batchFirst: Bool = false,
                normFirst: Bool = false, generator: Generator = .default) {
        selfAttn = MultiheadAttention(dModel, numHeads: numHeads, dropout: dropout, batchFirst: batchFirst, generator: generator)
        crossAttn = MultiheadAttention(dModel, numHeads: numHeads, dropout: dropout, batchFirst: batchFirst, generator: generator)
        linear1 = Linear(dModel, dimFeedforward, generator: generator)
        linear2 = Linear(dimFeedforward, dModel, generator: generator)
        norm1 = LayerNorm([dModel], eps: layerNormEps)
        norm2 = LayerNorm([dModel], eps: layerNormEps)
        norm3 = LayerNorm([dModel], eps: layerNormEps)
        self.dropout = Dropout(dropout, generator: generator)
        dropout1 = Dropout(dropout, generator: generator)
        dropout2 = Dropout(dropout, generator: generator)
        dropout3 = Dropout(dropout, generator: generator)
        self.activation = activation
        self.normFirst = normFirst
    }

    /// Applies the layer; see the type's documentation for shapes and masks.
    public func forward(_ tgt: Tensor, memory: Tensor, tgtMask: Tensor? = nil, memoryMask: Tensor? = nil,
                        tgtKeyPaddingMask: Tensor? = nil, memoryKeyPaddingMask: Tensor? = nil, tgtCausal: Bool = false) -> Tensor {
        func sa(_ x: Tensor) -> Tensor {
            dropout1(selfAttn(x, x, x, keyPaddingMask: tgtKeyPaddingMask, attnMask: tgtMask, causal: tgtCausal, needWeights: false).output)
        }
        func ca(_ x: Tensor) -> Tensor {
            dropout2(crossAttn(x, memory, memory, keyPaddingMask: memoryKeyPaddingMask, attnMask: memoryMask, needWeights: false).output)
        }
        var x = tgt
        if normFirst {
            x = x.residualAdd(sa(norm1(x)))
            x = x.residualAdd(ca(norm2(x)))
            x = x.residualAdd(dropout3(feedForward(norm3(x), linear1, linear2, dropout, activation)))
        } else {
            x = norm1(x.residualAdd(sa(x)))
            x = norm2(x.residualAdd(ca(x)))
            x = norm3(x.residualAdd(dropout3(feedForward(x, linear1, linear2, dropout, activation))))
        }
        return x
    }

    public func callAsFunction(_ tgt: Tensor, memory: Tensor, tgtMask: Tensor? = nil, memoryMask: Tensor? = nil,
                               tgtKeyPaddingMask: Tensor? = nil, memoryKeyPaddingMask: Tensor? = nil, tgtCausal: Bool = false) -> Tensor {
        Tracer.enter(self)
        defer { Tracer.leave() }
        return forward(tgt, memory: memory, tgtMask: tgtMask, memoryMask: memoryMask, tgtKeyPaddingMask: tgtKeyPaddingMask,
                       memoryKeyPaddingMask: memoryKeyPaddingMask, tgtCausal: tgtCausal)
    }

    public var localParameters: [(String, Tensor)] { [] }
    public var localBuffers: [(String, Tensor)] { [] }
    public var children: [(String, any Module)] {
        [("self_attn", selfAttn), ("multihead_attn", crossAttn), ("linear1", linear1), ("dropout", dropout), ("linear2", linear2),
         ("norm1", norm1), ("norm2", norm2), ("norm3", norm3), ("dropout1", dropout1), ("dropout2", dropout2), ("dropout3", dropout3)]
    }
    public var description: String {
        "TransformerDecoderLayer(\(selfAttn), feedforward: \(linear1.outFeatures), \(activation)\(normFirst ? ", normFirst" : ""), dropout: \(dropout.p))"
    }
}
