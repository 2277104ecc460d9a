// Greedy translation by a seq2seq bundle (`Seq2SeqModel.exportBundle`) through the Swift
// executor's stream — the runtime's kernels, as examples/c/translate.c runs them from C — so an
// f16 or int8 translator's exact-match accuracy can be measured against the float model's.

extension BundleExecutor {
    /// Greedy ids `[N][T]` for `sources` `[N, S]` (padded source ids): after a reset, step t
    /// feeds the source and one target token per row (`startId`, then the previous argmax) and
    /// takes the argmax of its logits `[N, V]` (ties to the lower id). Rows run `batchSize` at a time.
    public func greedyTranslations(sources: Tensor, startId: Int, steps: Int, batchSize: Int = 256) throws -> [[Int]] {
        let n = sources.shape[0], perRow = sources.count / Swift.max(n, 1)
        var result: [[Int]] = []
        let stream = try stream(maxBatch: Swift.min(batchSize, Swift.max(n, 1)))
        for start in stride(from: 0, to: n, by: batchSize) {
            let b = Swift.min(batchSize, n - start)
            let source = Array(sources.data[(start * perRow)..<((start + b) * perRow)])
            stream.reset()
            var tokens = [Float](repeating: Float(startId), count: b), ids = [[Int]](repeating: [], count: b)
            for _ in 0..<steps {
                let logits = try stream.step([source, tokens], batch: b, steps: 1)[0]
                let v = logits.count / b
                for r in 0..<b {
                    var best = 0
                    for j in 1..<v where logits[r * v + j] > logits[r * v + best] { best = j }
                    ids[r].append(best)
                    tokens[r] = Float(best)
                }
            }
            result += ids
        }
        return result
    }
}
