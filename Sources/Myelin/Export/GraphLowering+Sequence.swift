// Lowering of the sequence family (embedding, recurrent cells, normalisation, attention).

extension Lowering {
    /// Lowers `n` if it is a sequence-family op; false if it is not one.
    mutating func lowerSequenceFamily(_ n: TracedGraph.Node, _ y: Int) throws -> Bool {
        switch n.op {
        default: return false
        }
    }
}
