// Opcode → description: the one place that lists the ops (docs/bundle-format.md, "Ops").

public enum OpRegistry {
    @_optimize(speed)  // called per op per run by the executor
    public static func description(_ code: BundleOpCode) -> OpDescription {
        switch code {
        case .linear: return LinearOp.description
        case .qlinear: return QuantizeOps.qlinear
        case .quantize: return QuantizeOps.quantize
        case .dequantize: return QuantizeOps.dequantize
        case .relu: return ActivationOps.relu
        case .leakyRelu: return ActivationOps.leakyRelu
        case .elu: return ActivationOps.elu
        case .sigmoid: return ActivationOps.sigmoid
        case .tanh: return ActivationOps.tanh
        case .softmax: return ActivationOps.softmax
        case .logSoftmax: return ActivationOps.logSoftmax
        case .scaleShift: return ScaleShiftOp.description
        case .add: return BinaryOps.add
        case .sub: return BinaryOps.sub
        case .mul: return BinaryOps.mul
        case .div: return BinaryOps.div
        case .concat: return MovementOps.concat
        case .reshape: return MovementOps.reshape
        case .transpose: return MovementOps.transpose
        case .slice: return MovementOps.slice
        case .matmul: return MatMulOp.description
        case .embedding: return SequenceOps.embedding
        case .rnn: return RecurrentOp.rnn
        case .lstm: return RecurrentOp.lstm
        case .gru: return RecurrentOp.gru
        case .layerNorm: return SequenceOps.layerNorm
        case .gelu: return SequenceOps.gelu
        case .attention: return AttentionOp.description
        case .positionalEncoding: return SequenceOps.positionalEncoding
        case .lastStep: return SequenceOps.lastStep
        case .conv2d: return ConvOps.conv2d
        case .qconv2d: return QConvOps.qconv2d
        case .convTranspose2d: return ConvOps.convTranspose2d
        case .maxPool2d: return PoolOps.maxPool2d
        case .avgPool2d: return PoolOps.avgPool2d
        case .adaptiveAvgPool2d: return PoolOps.adaptiveAvgPool2d
        case .maxUnpool2d: return PoolOps.maxUnpool2d
        case .upsampleNearest2d: return PoolOps.upsampleNearest2d
        case .channelShuffle: return PoolOps.channelShuffle
        }
    }
}
