import Foundation

/// Small generated datasets for experiments and tests. All are deterministic given the generator.
public enum Synthetic {
    /// XOR of two binary inputs, optionally repeated with Gaussian jitter.
    /// Inputs `[4·repeats, 2]`, labels 0/1.
    public static func xor(repeats: Int = 1, noise: Float = 0, generator: Generator = Generator(seed: 0)) -> Dataset {
        var x: [Float] = [], y: [Int] = []
        for _ in 0..<repeats {
            for (a, b) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                x += [Float(a) + noise * generator.nextNormal(), Float(b) + noise * generator.nextNormal()]
                y.append(a ^ b)
            }
        }
        return Dataset(inputs: Tensor(shape: [y.count, 2], data: x), labels: y, classNames: ["0", "1"])
    }

    /// Isotropic Gaussian blobs: `countPerCenter` points around each center with standard
    /// deviation `std`; `labels[i]` is the class of center i (default: i).
    public static func blobs(centers: [[Float]], std: Float, countPerCenter: Int, labels: [Int]? = nil,
                             generator: Generator = Generator(seed: 0)) -> Dataset {
        check(!centers.isEmpty, "blobs: at least one center is needed")
        let dim = centers[0].count
        let classOf = labels ?? Array(0..<centers.count)
        check(classOf.count == centers.count, "blobs: \(classOf.count) labels for \(centers.count) centers")
        var x: [Float] = [], y: [Int] = []
        for (c, center) in centers.enumerated() {
            for _ in 0..<countPerCenter {
                for d in 0..<dim { x.append(center[d] + std * generator.nextNormal()) }
                y.append(classOf[c])
            }
        }
        return Dataset(inputs: Tensor(shape: [y.count, dim], data: x), labels: y)
    }

    /// Two interleaving half circles (scikit-learn's `make_moons`), `count` points in all.
    public static func moons(count: Int, noise: Float = 0.1, generator: Generator = Generator(seed: 0)) -> Dataset {
        var x: [Float] = [], y: [Int] = []
        let outer = count / 2
        for i in 0..<count {
            let upper = i < outer
            let n = upper ? outer : count - outer
            let t = Float.pi * Float(upper ? i : i - outer) / Float(Swift.max(n - 1, 1))
            let (px, py) = upper ? (cos(t), sin(t)) : (1 - cos(t), 0.5 - sin(t))
            x += [px + noise * generator.nextNormal(), py + noise * generator.nextNormal()]
            y.append(upper ? 0 : 1)
        }
        return Dataset(inputs: Tensor(shape: [count, 2], data: x), labels: y)
    }

    /// Two concentric circles (outer radius 1, inner radius `factor`), `count` points in all.
    public static func circles(count: Int, noise: Float = 0.05, factor: Float = 0.5,
                               generator: Generator = Generator(seed: 0)) -> Dataset {
        var x: [Float] = [], y: [Int] = []
        let outer = count / 2
        for i in 0..<count {
            let isOuter = i < outer
            let n = isOuter ? outer : count - outer
            let t = 2 * Float.pi * Float(isOuter ? i : i - outer) / Float(Swift.max(n, 1))
            let r: Float = isOuter ? 1 : factor
            x += [r * cos(t) + noise * generator.nextNormal(), r * sin(t) + noise * generator.nextNormal()]
            y.append(isOuter ? 0 : 1)
        }
        return Dataset(inputs: Tensor(shape: [count, 2], data: x), labels: y)
    }

    /// y = x·weights + bias + N(0, noise²), x ~ U(−1, 1). Inputs `[count, weights.count]`, targets `[count, 1]`.
    public static func linearRegression(count: Int, weights: [Float], bias: Float, noise: Float = 0.1,
                                        generator: Generator = Generator(seed: 0)) -> Dataset {
        var x: [Float] = [], y: [Float] = []
        for _ in 0..<count {
            var t = bias
            for w in weights {
                let v = 2 * generator.nextUniform() - 1
                x.append(v)
                t += w * v
            }
            y.append(t + noise * generator.nextNormal())
        }
        return Dataset(inputs: Tensor(shape: [count, weights.count], data: x), targets: Tensor(shape: [count, 1], data: y))
    }
}

/// Per-feature input normalisation with statistics from the training split only.
///
/// `.minMax` maps each feature's training range to [0, 1]; `.standardize` subtracts the
/// training mean and divides by the training standard deviation. The statistics are kept
/// (and saved in checkpoints) so evaluation and export apply the same transform.
public struct FeatureScaler: Equatable {
    public enum Kind: String, Equatable { case minMax = "minmax", standardize = "standardize" }
    public let kind: Kind
    /// Per-feature offset subtracted, then scale multiplied: x' = (x − offset)·scale.
    public let offset: [Float]
    public let scale: [Float]

    /// Fits the statistics on `inputs` (shape `[n, features]`).
    public init(_ kind: Kind, fitOn inputs: Tensor) {
        check(inputs.rank == 2 && inputs.shape[0] > 0, "FeatureScaler: expects [n, features] with n > 0, got \(inputs.shape)")
        let n = inputs.shape[0], f = inputs.shape[1]
        var offset = [Float](repeating: 0, count: f), scale = [Float](repeating: 1, count: f)
        for j in 0..<f {
            var lo = Float.infinity, hi = -Float.infinity, sum = 0.0, sumSq = 0.0
            for i in 0..<n {
                let v = inputs.data[i * f + j]
                lo = Swift.min(lo, v); hi = Swift.max(hi, v)
                sum += Double(v); sumSq += Double(v) * Double(v)
            }
            switch kind {
            case .minMax:
                offset[j] = lo
                scale[j] = hi > lo ? 1 / (hi - lo) : 1
            case .standardize:
                let mean = sum / Double(n)
                let std = Swift.max(0, sumSq / Double(n) - mean * mean).squareRoot()
                offset[j] = Float(mean)
                scale[j] = std > 1e-8 ? Float(1 / std) : 1
            }
        }
        self.init(kind: kind, offset: offset, scale: scale)
    }

    public init(kind: Kind, offset: [Float], scale: [Float]) {
        self.kind = kind
        self.offset = offset
        self.scale = scale
    }

    /// Applies the transform to a `[n, features]` tensor.
    public func transform(_ inputs: Tensor) -> Tensor {
        check(inputs.rank == 2 && inputs.shape[1] == offset.count,
                     "FeatureScaler: fitted on \(offset.count) features, got input \(inputs.shape)")
        var d = inputs.data
        let f = offset.count
        for i in 0..<d.count { d[i] = (d[i] - offset[i % f]) * scale[i % f] }
        return Tensor(shape: inputs.shape, data: d)
    }

    /// Applies the transform to a dataset's inputs.
    public func transform(_ dataset: Dataset) -> Dataset {
        var d = dataset
        d.inputs = transform(dataset.inputs)
        return d
    }
}
