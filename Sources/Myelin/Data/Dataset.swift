/// An in-memory dataset: one row of `inputs` per sample, with an integer class label
/// (classification) or a row of `targets` (regression).
///
/// - Shapes: inputs `[n, features…]`; labels `n` integers; targets `[n, outputs]` or `nil`.
public struct Dataset {
    public var inputs: Tensor
    /// Class indices (empty for regression datasets).
    public var labels: [Int]
    /// Regression targets (`nil` for classification datasets).
    public var targets: Tensor?
    /// Human-readable class names, indexed by label.
    public var classNames: [String]

    public init(inputs: Tensor, labels: [Int], classNames: [String]? = nil) {
        check(inputs.rank >= 1 && inputs.shape[0] == labels.count,
                     "Dataset: \(labels.count) labels for inputs of shape \(inputs.shape)")
        self.inputs = inputs
        self.labels = labels
        self.targets = nil
        let classes = (labels.max() ?? -1) + 1
        self.classNames = classNames ?? (0..<classes).map { "class \($0)" }
    }

    public init(inputs: Tensor, targets: Tensor) {
        check(inputs.rank >= 1 && targets.rank >= 1 && inputs.shape[0] == targets.shape[0],
                     "Dataset: inputs \(inputs.shape) and targets \(targets.shape) have different sample counts")
        self.inputs = inputs
        self.labels = []
        self.targets = targets
        self.classNames = []
    }

    /// Number of samples.
    public var count: Int { inputs.shape[0] }
    /// Number of classes (0 for regression).
    public var classCount: Int { classNames.count }
    /// Features per sample (product of the non-batch dimensions).
    public var featureCount: Int { inputs.shape.dropFirst().reduce(1, *) }
    /// Whether samples carry class labels.
    public var isClassification: Bool { targets == nil }

    /// The samples at `indices`, in that order.
    public func subset(_ indices: [Int]) -> Dataset {
        var d = self
        d.inputs = noGrad { inputs.gatherRows(indices) }
        d.labels = labels.isEmpty ? [] : indices.map { labels[$0] }
        d.targets = targets.map { t in noGrad { t.gatherRows(indices) } }
        return d
    }

    /// Splits off a fraction of the samples: returns (rest, split). With `stratified`, each
    /// class contributes the same fraction (rounded), so class proportions are preserved.
    public func split(fraction: Double, stratified: Bool = false, generator: Generator) -> (Dataset, Dataset) {
        check(fraction > 0 && fraction < 1, "split: fraction must be in (0, 1), got \(fraction)")
        var taken: [Int] = [], kept: [Int] = []
        if stratified && isClassification {
            var byClass = [[Int]](repeating: [], count: Swift.max(classCount, (labels.max() ?? 0) + 1))
            for i in generator.permutation(count) { byClass[labels[i]].append(i) }
            for members in byClass {
                let k = Int((Double(members.count) * fraction).rounded())
                taken += members.prefix(k)
                kept += members.dropFirst(k)
            }
        } else {
            let order = generator.permutation(count)
            let k = Int((Double(count) * fraction).rounded())
            taken = Array(order.prefix(k))
            kept = Array(order.dropFirst(k))
        }
        return (subset(kept.sorted()), subset(taken.sorted()))
    }

    /// Samples drawn with replacement (a bootstrap sample for bagging), same size as this set.
    public func bootstrap(generator: Generator) -> Dataset {
        subset((0..<count).map { _ in generator.nextInt(below: count) })
    }
}

/// Mini-batches of a dataset, reshuffled each epoch from a seeded generator.
///
/// ```swift
/// let loader = DataLoader(train, batchSize: 64, shuffle: true, generator: Generator(seed: 0))
/// for batch in loader.epoch() { … batch.inputs, batch.labels … }
/// ```
public struct DataLoader {
    public let dataset: Dataset
    public let batchSize: Int
    public let shuffle: Bool
    public let dropLast: Bool
    public let generator: Generator

    /// One mini-batch. Shapes: inputs `[b, features…]`, labels `b`, targets `[b, outputs]`.
    public struct Batch {
        public var inputs: Tensor
        public var labels: [Int]
        public var targets: Tensor?
    }

    public init(_ dataset: Dataset, batchSize: Int, shuffle: Bool = true, dropLast: Bool = false,
                generator: Generator = .default) {
        check(batchSize > 0, "DataLoader: batch size must be positive, got \(batchSize)")
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.dropLast = dropLast
        self.generator = generator
    }

    /// Number of batches per epoch.
    public var batchCount: Int {
        dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
    }

    /// The batches of one epoch (drawing a fresh permutation when shuffling).
    public func epoch() -> LazyMapSequence<[Range<Int>], Batch> {
        let order = shuffle ? generator.permutation(dataset.count) : Array(0..<dataset.count)
        let ranges = (0..<batchCount).map { b in (b * batchSize)..<Swift.min((b + 1) * batchSize, dataset.count) }
        let d = dataset
        return ranges.lazy.map { r in
            let idx = Array(order[r])
            return Batch(inputs: noGrad { d.inputs.gatherRows(idx) },
                         labels: d.labels.isEmpty ? [] : idx.map { d.labels[$0] },
                         targets: d.targets.map { t in noGrad { t.gatherRows(idx) } })
        }
    }
}

/// `for batch in loader { … }` iterates one epoch, as in PyTorch.
extension DataLoader: Sequence {
    public func makeIterator() -> LazyMapSequence<[Range<Int>], Batch>.Iterator { epoch().makeIterator() }
}
