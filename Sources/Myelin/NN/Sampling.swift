import Foundation

/// Draws one token id per row of `logits` from `softmax(logits / temperature)`, keeping only
/// the `topK` most likely ids when given (ties at the k-th value are kept). The draw comes
/// from `generator`, so a seed fixes the text. `temperature` 0 picks the most likely id
/// (greedy decoding).
///
/// - Shape: logits `[vocabulary]` or `[batch, vocabulary]` → `batch` ids (one for a vector).
///
/// ```swift
/// let g = Generator(seed: 7)
/// let next = sample(logits: model(context).select(axis: 1, index: -1), temperature: 0.8, topK: 20, generator: g)
/// ```
public func sample(logits: Tensor, temperature: Float = 1, topK: Int? = nil, generator: Generator = .default) -> [Int] {
    check(logits.rank == 1 || logits.rank == 2, "sample: logits must be [vocabulary] or [batch, vocabulary], got \(logits.shape)")
    check(temperature >= 0, "sample: temperature must be non-negative, got \(temperature)")
    let v = logits.shape[logits.rank - 1], rows = logits.rank == 1 ? 1 : logits.shape[0]
    check(v > 0, "sample: empty vocabulary in logits of shape \(logits.shape)")
    if let k = topK { check(k > 0, "sample: topK must be positive, got \(k)") }
    return (0..<rows).map { r in
        let row = Array(logits.data[(r * v)..<((r + 1) * v)])
        let best = row.indices.max { row[$0] < row[$1] }!
        if temperature == 0 { return best }
        var floor = -Float.infinity
        if let k = topK, k < v { floor = row.sorted(by: >)[k - 1] }
        var weights = row.map { $0 >= floor ? Foundation.exp(($0 - row[best]) / temperature) : 0 }
        let total = weights.reduce(0, +)
        for i in weights.indices { weights[i] /= total }
        var u = generator.nextUniform()
        for (i, w) in weights.enumerated() where w > 0 {
            if u < w { return i }
            u -= w
        }
        return weights.lastIndex { $0 > 0 }!
    }
}
