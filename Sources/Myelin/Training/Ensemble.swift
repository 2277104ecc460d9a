/// Averages the class probabilities (softmax of logits) of several models.
public final class Ensemble {
    public let members: [any Layer]

    public init(_ members: [any Layer]) {
        check(!members.isEmpty, "Ensemble: needs at least one member")
        self.members = members
    }

    /// Mean of the members' softmax outputs. Shape `[batch, classes]`.
    public func probabilities(_ inputs: Tensor) -> Tensor {
        noGrad {
            for m in members { m.eval() }
            var sum = members[0](inputs).softmax()
            for m in members.dropFirst() { sum = sum + m(inputs).softmax() }
            return sum / Float(members.count)
        }
    }

    /// Fraction of `data` the averaged prediction classifies correctly.
    public func accuracy(on data: Dataset, batchSize: Int = 1000) -> Double {
        var correct = 0
        for batch in DataLoader(data, batchSize: batchSize, shuffle: false).epoch() {
            correct += zip(probabilities(batch.inputs).argmax(axis: 1), batch.labels).filter { $0 == $1 }.count
        }
        return Double(correct) / Double(Swift.max(data.count, 1))
    }
}

/// Bagging: trains `count` models, each on its own bootstrap sample of `train`.
/// - Parameters:
///   - makeModel: builds member k (untrained).
///   - fit: trains a member on its bootstrap sample.
public func bagging(count: Int, train: Dataset, generator: Generator,
                    makeModel: (Int) -> any Layer, fit: (any Layer, Dataset) throws -> Void) rethrows -> Ensemble {
    check(count >= 1, "bagging: count must be at least 1, got \(count)")
    var members: [any Layer] = []
    for k in 0..<count {
        let model = makeModel(k)
        try fit(model, train.bootstrap(generator: generator))
        members.append(model)
    }
    return Ensemble(members)
}
