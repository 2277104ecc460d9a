import Foundation

// Measures of generative models: reconstruction error, the VAE's evidence lower bound, the
// Fréchet distance between feature statistics of generated and real images (FID, Heusel et
// al. 2017, here on the features of Myelin's own Fashion-MNIST CNN) and how evenly a
// classifier spreads generated samples over the classes.

/// Mean squared error per pixel between `autoencoder`'s reconstructions and the clean
/// images of `data` (in evaluation mode). With `noise`, the inputs are corrupted first (the
/// denoising error), drawing from `generator`.
public func reconstructionMSE(_ autoencoder: any Autoencoder, on data: Dataset, noise: ImageNoise? = nil,
                              generator: Generator = .default, batchSize: Int = 500) -> Double {
    check(data.count > 0, "reconstructionMSE: the dataset is empty")
    let wasTraining = autoencoder.isTraining
    autoencoder.eval()
    defer { autoencoder.train(wasTraining) }
    var total = 0.0
    for start in stride(from: 0, to: data.count, by: batchSize) {
        let clean = data.inputs.rows(start..<Swift.min(start + batchSize, data.count))
        let input = noise.map { $0.apply(to: clean, generator: generator) } ?? clean
        let output = noGrad { autoencoder(input) }
        check(output.count == clean.count, "reconstructionMSE: reconstruction \(output.shape) does not match images \(clean.shape)")
        for (a, b) in zip(output.data, clean.data) { total += Double(a - b) * Double(a - b) }
    }
    return total / Double(data.inputs.count)
}

/// The VAE's evidence lower bound on the test images, in nats per image:
/// ELBO = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)), with the Bernoulli likelihood of the pixels
/// (grey values in [0, 1] used as Bernoulli means, the usual convention for Fashion-MNIST)
/// and one draw of z per image from `generator`. Higher is better; −ELBO ≥ −log p(x).
public func vaeELBO(_ vae: VAE, on data: Dataset, generator: Generator, batchSize: Int = 500)
    -> (elbo: Double, reconstruction: Double, kl: Double) {
    check(data.count > 0, "vaeELBO: the dataset is empty")
    let wasTraining = vae.isTraining
    vae.eval()
    defer { vae.train(wasTraining) }
    var reconstruction = 0.0, kl = 0.0
    for start in stride(from: 0, to: data.count, by: batchSize) {
        let x = data.inputs.rows(start..<Swift.min(start + batchSize, data.count))
        let terms = noGrad { vae.loss(x, generator: generator) }
        let n = Double(x.shape[0])
        reconstruction += Double(terms.reconstruction.item) * n
        kl += Double(terms.kl.item) * n
    }
    let r = reconstruction / Double(data.count), k = kl / Double(data.count)
    return (-(r + k), r, k)
}

/// Eigen-decomposition of a symmetric matrix by the cyclic Jacobi method (rotations that zero
/// one off-diagonal pair at a time, until the off-diagonal mass is negligible).
///
/// - Parameters: `matrix` row-major `n×n`, symmetric.
/// - Returns: eigenvalues (ascending) and eigenvectors as the columns of a row-major `n×n` matrix.
public func symmetricEigen(_ matrix: [Double], n: Int, maxSweeps: Int = 100) -> (values: [Double], vectors: [Double]) {
    check(n >= 1 && matrix.count == n * n, "symmetricEigen: expected \(n)×\(n) = \(n * n) values, got \(matrix.count)")
    var scale = 0.0
    for i in 0..<n { for j in 0..<n { scale = Swift.max(scale, Swift.abs(matrix[i * n + j])) } }
    for i in 0..<n {
        for j in 0..<i {
            check(Swift.abs(matrix[i * n + j] - matrix[j * n + i]) <= 1e-9 * Swift.max(scale, 1e-300),
                  "symmetricEigen: the matrix is not symmetric at (\(i), \(j))")
        }
    }
    var a = matrix
    var v = [Double](repeating: 0, count: n * n)
    for i in 0..<n { v[i * n + i] = 1 }
    var total = 0.0
    for x in a { total += x * x }
    for _ in 0..<maxSweeps {
        var off = 0.0
        for i in 0..<n { for j in 0..<n where i != j { off += a[i * n + j] * a[i * n + j] } }
        if off <= 1e-30 * Swift.max(total, 1e-300) { break }
        for p in 0..<(n - 1) {
            for q in (p + 1)..<n {
                let apq = a[p * n + q]
                if apq == 0 { continue }
                // The rotation angle that zeroes a[p][q]: tan 2θ = 2a_pq / (a_qq − a_pp).
                let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                let t = (theta >= 0 ? 1.0 : -1.0) / (Swift.abs(theta) + (theta * theta + 1).squareRoot())
                let c = 1 / (t * t + 1).squareRoot(), s = t * c
                for k in 0..<n {   // columns p and q
                    let akp = a[k * n + p], akq = a[k * n + q]
                    a[k * n + p] = c * akp - s * akq
                    a[k * n + q] = s * akp + c * akq
                }
                for k in 0..<n {   // rows p and q
                    let apk = a[p * n + k], aqk = a[q * n + k]
                    a[p * n + k] = c * apk - s * aqk
                    a[q * n + k] = s * apk + c * aqk
                }
                for k in 0..<n {
                    let vkp = v[k * n + p], vkq = v[k * n + q]
                    v[k * n + p] = c * vkp - s * vkq
                    v[k * n + q] = s * vkp + c * vkq
                }
            }
        }
    }
    let order = (0..<n).sorted { a[$0 * n + $0] < a[$1 * n + $1] }
    var vectors = [Double](repeating: 0, count: n * n)
    for (column, source) in order.enumerated() { for k in 0..<n { vectors[k * n + column] = v[k * n + source] } }
    return (order.map { a[$0 * n + $0] }, vectors)
}

/// The symmetric positive semi-definite square root V·diag(√λ)·Vᵀ of a symmetric PSD matrix
/// (row-major `n×n`); eigenvalues that rounding made slightly negative count as 0.
public func symmetricSquareRoot(_ matrix: [Double], n: Int) -> [Double] {
    let (values, v) = symmetricEigen(matrix, n: n)
    let roots = values.map { Swift.max($0, 0).squareRoot() }
    var out = [Double](repeating: 0, count: n * n)
    for i in 0..<n {
        for j in 0..<n {
            var s = 0.0
            for k in 0..<n { s += v[i * n + k] * roots[k] * v[j * n + k] }
            out[i * n + j] = s
        }
    }
    return out
}

/// Mean and covariance (divisor n − 1) of feature rows.
public struct FeatureStatistics {
    public var mean: [Double]
    /// Row-major `d×d`.
    public var covariance: [Double]
    public var dimension: Int { mean.count }

    /// - Parameter features: `[n, d]`, n ≥ 2.
    public init(_ features: Tensor) {
        check(features.rank == 2 && features.shape[0] >= 2, "FeatureStatistics: expected features [n ≥ 2, d], got \(features.shape)")
        let n = features.shape[0], d = features.shape[1]
        var mean = [Double](repeating: 0, count: d)
        for r in 0..<n { for j in 0..<d { mean[j] += Double(features.data[r * d + j]) } }
        for j in 0..<d { mean[j] /= Double(n) }
        var cov = [Double](repeating: 0, count: d * d)
        var centred = [Double](repeating: 0, count: d)
        for r in 0..<n {
            for j in 0..<d { centred[j] = Double(features.data[r * d + j]) - mean[j] }
            for i in 0..<d where centred[i] != 0 {
                let ci = centred[i]
                for j in i..<d { cov[i * d + j] += ci * centred[j] }
            }
        }
        for i in 0..<d {
            for j in i..<d {
                cov[i * d + j] /= Double(n - 1)
                cov[j * d + i] = cov[i * d + j]
            }
        }
        self.mean = mean
        covariance = cov
    }

    public init(mean: [Double], covariance: [Double]) {
        check(covariance.count == mean.count * mean.count,
              "FeatureStatistics: covariance has \(covariance.count) values for dimension \(mean.count)")
        self.mean = mean
        self.covariance = covariance
    }
}

/// The Fréchet distance between the Gaussians N(μ₁, Σ₁) and N(μ₂, Σ₂):
/// ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2·(Σ₁^½ Σ₂ Σ₁^½)^½). (tr (Σ₁Σ₂)^½ equals tr (Σ₁^½Σ₂Σ₁^½)^½, which
/// only needs square roots of symmetric matrices.)
public func frechetDistance(_ a: FeatureStatistics, _ b: FeatureStatistics) -> Double {
    check(a.dimension == b.dimension, "frechetDistance: dimensions \(a.dimension) and \(b.dimension) differ")
    let d = a.dimension
    var meanTerm = 0.0
    for j in 0..<d { meanTerm += (a.mean[j] - b.mean[j]) * (a.mean[j] - b.mean[j]) }
    let root = symmetricSquareRoot(a.covariance, n: d)
    // M = root · Σ₂ · root, symmetrised against rounding.
    var tmp = [Double](repeating: 0, count: d * d), m = [Double](repeating: 0, count: d * d)
    for i in 0..<d { for k in 0..<d where root[i * d + k] != 0 { for j in 0..<d { tmp[i * d + j] += root[i * d + k] * b.covariance[k * d + j] } } }
    for i in 0..<d { for k in 0..<d where tmp[i * d + k] != 0 { for j in 0..<d { m[i * d + j] += tmp[i * d + k] * root[k * d + j] } } }
    for i in 0..<d { for j in 0..<i { let s = (m[i * d + j] + m[j * d + i]) / 2; m[i * d + j] = s; m[j * d + i] = s } }
    let traceRoot = symmetricEigen(m, n: d).values.reduce(0) { $0 + Swift.max($1, 0).squareRoot() }
    var trace = 0.0
    for i in 0..<d { trace += a.covariance[i * d + i] + b.covariance[i * d + i] }
    return meanTerm + trace - 2 * traceRoot
}

/// How evenly predicted classes are spread: the entropy (nats) of the histogram of
/// `predictions` over `classes`, and that entropy divided by log(classes) (1: perfectly even,
/// 0: every sample in one class).
public func classEvenness(_ predictions: [Int], classes: Int) -> (entropy: Double, normalized: Double, histogram: [Int]) {
    check(classes >= 2, "classEvenness: needs at least 2 classes, got \(classes)")
    check(!predictions.isEmpty, "classEvenness: no predictions")
    var histogram = [Int](repeating: 0, count: classes)
    for p in predictions {
        check(p >= 0 && p < classes, "classEvenness: prediction \(p) out of range for \(classes) classes")
        histogram[p] += 1
    }
    var entropy = 0.0
    for c in histogram where c > 0 {
        let f = Double(c) / Double(predictions.count)
        entropy -= f * Foundation.log(f)
    }
    return (entropy, entropy / Foundation.log(Double(classes)), histogram)
}

/// The feature extractor for FID and class evenness: a trained `SimpleCNN` (`myelin train
/// --model cnn`) whose penultimate layer (the 128 ReLU units before the logits) gives the
/// features and whose logits give the class.
public struct CNNFeatureExtractor {
    public let network: SimpleCNN

    public init(_ network: SimpleCNN) {
        self.network = network
        network.eval()
    }

    /// Penultimate features `[n, 128]` and predicted classes of images `[n, 784]`, in batches.
    public func run(_ images: Tensor, batchSize: Int = 500) -> (features: Tensor, predictions: [Int]) {
        let layers = network.layers.layers
        let body = Sequential(Array(layers.dropLast())), head = layers.last!
        var features: [Float] = [], predictions: [Int] = []
        var width = 0
        for start in stride(from: 0, to: images.shape[0], by: batchSize) {
            let x = images.rows(start..<Swift.min(start + batchSize, images.shape[0]))
            let (f, logits) = noGrad { () -> (Tensor, Tensor) in
                let f = body(imageBatch(x))
                return (f, head(f))
            }
            width = f.shape[1]
            features += f.data
            predictions += logits.argmax(axis: 1)
        }
        return (Tensor(shape: [images.shape[0], width], data: features), predictions)
    }
}

/// FID-style and evenness measures of generated images against real ones.
public struct GenerationReport {
    /// Fréchet distance between the feature statistics of generated and real images.
    public var frechetDistance: Double
    /// Entropy of the predicted-class histogram of the generated images, nats and normalised.
    public var classEntropy: Double
    public var classEvenness: Double
    public var histogram: [Int]
    /// For a cGAN: the fraction of samples the classifier assigns to the class they were generated for.
    public var conditionalAccuracy: Double?

    /// Measures `generated` `[n, 784]` against `real` `[m, 784]` with `extractor`.
    public init(generated: Tensor, real: Tensor, extractor: CNNFeatureExtractor, requestedLabels: [Int]? = nil) {
        let g = extractor.run(generated), r = extractor.run(real)
        frechetDistance = Myelin.frechetDistance(FeatureStatistics(g.features), FeatureStatistics(r.features))
        let e = Myelin.classEvenness(g.predictions, classes: extractor.network.layers.layers.last.flatMap { ($0 as? Linear)?.outFeatures } ?? 10)
        classEntropy = e.entropy
        classEvenness = e.normalized
        histogram = e.histogram
        conditionalAccuracy = requestedLabels.map { labels in
            Double(zip(labels, g.predictions).filter { $0 == $1 }.count) / Double(Swift.max(labels.count, 1))
        }
    }

    public var summary: String {
        var s = String(format: "FID (Myelin CNN features) %.3f, class evenness %.4f (entropy %.4f nats of %.4f), histogram %@",
                       frechetDistance, classEvenness, classEntropy, Foundation.log(Double(histogram.count)), "\(histogram)")
        if let a = conditionalAccuracy { s += String(format: ", samples classified as their requested class %.2f%%", a * 100) }
        return s
    }
}
