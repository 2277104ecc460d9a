// Lowering of the convolutional family (conv, pooling, upsampling, channel shuffle).

extension Lowering {
    /// Lowers `n` if it is a convolutional-family op; false if it is not one.
    mutating func lowerConvolutionFamily(_ n: TracedGraph.Node, _ y: Int) throws -> Bool {
        switch n.op {
        default: return false
        }
    }
}
