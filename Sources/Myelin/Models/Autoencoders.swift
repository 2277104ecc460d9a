import Foundation

// Autoencoders for 28×28 grey images (Fashion-MNIST): a dense one, a convolutional one (also
// the denoising autoencoder, trained on corrupted inputs) and a variational one. Inputs are
// flat images `[n, 784]` with pixels in [0, 1] (as `FashionMNIST.load` gives them) or
// `[n, 1, 28, 28]`; reconstructions are `[n, 784]` in [0, 1].

/// Views `[n, C·H·W]` as `[n, C, H, W]` (the inverse of `Flatten`).
public final class Unflatten: Layer {
    /// The per-sample shape `[C, H, W]` (any rank).
    public let shape: [Int]
    public var isTraining = true
    public init(_ shape: [Int]) {
        check(!shape.isEmpty && shape.allSatisfy { $0 > 0 }, "Unflatten: shape \(shape) must be non-empty and positive")
        self.shape = shape
    }
    public func forward(_ input: Tensor) -> Tensor {
        let per = shape.reduce(1, *)
        check(input.rank == 2 && input.shape[1] == per, "Unflatten(\(shape)): expected input [batch, \(per)], got \(input.shape)")
        return input.reshape([input.shape[0]] + shape)
    }
    public var description: String { "Unflatten(\(shape))" }
}

/// Something that maps images to a code and back: `encode` `[n, 784] → [n, code]`,
/// `decode` `[n, code] → [n, 784]` (pixels in [0, 1]); `forward` reconstructs.
public protocol Autoencoder: Layer {
    /// Size of the code (the bottleneck).
    var codeSize: Int { get }
    func encode(_ images: Tensor) -> Tensor
    func decode(_ code: Tensor) -> Tensor
}

extension Autoencoder {
    public func forward(_ input: Tensor) -> Tensor { decode(encode(input)) }
}

/// Dense autoencoder: 784 → hidden → code → hidden → 784 (ReLU inside, sigmoid output).
public final class MLPAutoencoder: Autoencoder {
    public let encoder: Sequential
    public let decoder: Sequential
    public let codeSize: Int
    public var isTraining = true

    public init(inputs: Int = 784, hidden: Int = 256, code: Int = 32, generator: Generator = .default) {
        check(inputs > 0 && hidden > 0 && code > 0, "MLPAutoencoder: sizes must be positive, got \(inputs), \(hidden), \(code)")
        codeSize = code
        encoder = Sequential([Linear(inputs, hidden, generator: generator), ReLU(), Linear(hidden, code, generator: generator)])
        decoder = Sequential([Linear(code, hidden, generator: generator), ReLU(), Linear(hidden, inputs, generator: generator), Sigmoid()])
    }

    public func encode(_ images: Tensor) -> Tensor { encoder(images.rank == 4 ? images.flatten() : images) }
    public func decode(_ code: Tensor) -> Tensor { decoder(code) }
    public var description: String { "MLPAutoencoder(encoder: \(encoder), decoder: \(decoder))" }
}

/// Convolutional autoencoder (also the denoising one):
/// ```text
/// encoder [n,1,28,28] Conv2d(1→w,3,s2,p1) ReLU      → [n,w,14,14]
///                     Conv2d(w→2w,3,s2,p1) ReLU     → [n,2w,7,7]
///                     Flatten Linear(2w·49→code)    → [n,code]
/// decoder [n,code]    Linear(code→2w·49) ReLU       → [n,2w,7,7]
///                     ConvTranspose2d(2w→w,4,s2,p1) ReLU → [n,w,14,14]
///                     ConvTranspose2d(w→1,4,s2,p1) Sigmoid Flatten → [n,784]
/// ```
public final class ConvAutoencoder: Autoencoder {
    public let encoder: Sequential
    public let decoder: Sequential
    public let codeSize: Int
    public let width: Int
    public var isTraining = true

    public init(width: Int = 16, code: Int = 32, generator: Generator = .default) {
        check(width > 0 && code > 0, "ConvAutoencoder: width \(width) and code \(code) must be positive")
        codeSize = code
        self.width = width
        encoder = Sequential([
            Conv2d(1, width, kernelSize: 3, stride: 2, padding: 1, generator: generator), ReLU(),
            Conv2d(width, 2 * width, kernelSize: 3, stride: 2, padding: 1, generator: generator), ReLU(),
            Flatten(), Linear(2 * width * 49, code, generator: generator),
        ])
        decoder = Sequential([
            Linear(code, 2 * width * 49, generator: generator), ReLU(), Unflatten([2 * width, 7, 7]),
            ConvTranspose2d(2 * width, width, kernelSize: 4, stride: 2, padding: 1, generator: generator), ReLU(),
            ConvTranspose2d(width, 1, kernelSize: 4, stride: 2, padding: 1, generator: generator), Sigmoid(), Flatten(),
        ])
    }

    public func encode(_ images: Tensor) -> Tensor { encoder(imageBatch(images)) }
    public func decode(_ code: Tensor) -> Tensor { decoder(code) }
    public var description: String { "ConvAutoencoder(encoder: \(encoder), decoder: \(decoder))" }
}

/// Corruption applied to training inputs of a denoising autoencoder (the target stays clean).
public enum ImageNoise: Equatable, Codable, Sendable {
    /// Adds N(0, std²) to every pixel, then clamps to [0, 1].
    case gaussian(std: Float)
    /// Sets each pixel to 0 with probability `fraction` (masking noise, Vincent et al. 2008).
    case masking(fraction: Float)

    /// A corrupted copy of `images` (no gradient), drawing from `generator`.
    public func apply(to images: Tensor, generator: Generator) -> Tensor {
        var data = images.data
        switch self {
        case .gaussian(let std):
            check(std >= 0 && std.isFinite, "ImageNoise.gaussian: std must be non-negative, got \(std)")
            for i in data.indices { data[i] = Swift.min(1, Swift.max(0, data[i] + std * generator.nextNormal())) }
        case .masking(let fraction):
            check(fraction >= 0 && fraction <= 1, "ImageNoise.masking: fraction must be in [0, 1], got \(fraction)")
            for i in data.indices where generator.nextUniform() < fraction { data[i] = 0 }
        }
        return Tensor(shape: images.shape, data: data)
    }

    /// "gaussian σ=0.3", "masking 25%".
    public var summary: String {
        switch self {
        case .gaussian(let s): return "gaussian σ=\(s)"
        case .masking(let f): return "masking \(Int((f * 100).rounded()))%"
        }
    }
}

/// The terms of a VAE's loss for one batch, each averaged over the batch (nats per image).
public struct VAELossTerms {
    /// −E_q[log p(x|z)] with a Bernoulli decoder: the summed binary cross-entropy per image.
    public var reconstruction: Tensor
    /// KL(q(z|x) ‖ N(0, I)) per image.
    public var kl: Tensor
    /// reconstruction + β·KL, the negative ELBO (for β = 1) to minimise.
    public var total: Tensor
}

/// KL(N(μ, diag e^logvar) ‖ N(0, I)) summed over the latent axis and averaged over the batch:
/// mean_n −½ Σ_j (1 + logvar − μ² − e^logvar). Shapes: `mu`, `logVariance` `[n, latent]` → `[]`.
public func gaussianKLDivergence(mu: Tensor, logVariance: Tensor) -> Tensor {
    check(mu.rank == 2 && mu.shape == logVariance.shape,
          "gaussianKLDivergence: mu \(mu.shape) and logVariance \(logVariance.shape) must both be [batch, latent]")
    let perElement = 1 + logVariance - mu.square() - logVariance.exp()
    return perElement.sum() * (-0.5 / Float(mu.shape[0]))
}

/// Variational autoencoder (Kingma & Welling 2014) with a dense encoder and a Bernoulli
/// decoder: 784 → hidden ReLU → (μ, log σ²) `[n, latent]`; z = μ + σ·ε with ε ~ N(0, I)
/// (reparameterisation); z → hidden ReLU → 784 logits. `latent: 2` gives a latent space that
/// can be drawn.
///
/// ```swift
/// let vae = VAE(latent: 2, generator: g)
/// let terms = vae.loss(batch, generator: g)   // total = −ELBO per image
/// terms.total.backward()
/// ```
public final class VAE: Autoencoder {
    public let encoder: Sequential
    public let toMean: Linear
    public let toLogVariance: Linear
    public let decoder: Sequential
    public let latent: Int
    public var isTraining = true
    public var codeSize: Int { latent }

    public init(inputs: Int = 784, hidden: Int = 400, latent: Int = 20, generator: Generator = .default) {
        check(inputs > 0 && hidden > 0 && latent > 0, "VAE: sizes must be positive, got \(inputs), \(hidden), \(latent)")
        self.latent = latent
        encoder = Sequential([Linear(inputs, hidden, generator: generator), ReLU()])
        toMean = Linear(hidden, latent, generator: generator)
        toLogVariance = Linear(hidden, latent, generator: generator)
        decoder = Sequential([Linear(latent, hidden, generator: generator), ReLU(), Linear(hidden, inputs, generator: generator)])
    }

    /// The posterior's mean and log-variance, each `[n, latent]`.
    public func posterior(_ images: Tensor) -> (mu: Tensor, logVariance: Tensor) {
        let h = encoder(images.rank == 4 ? images.flatten() : images)
        return (toMean(h), toLogVariance(h))
    }

    /// The posterior mean (a deterministic code).
    public func encode(_ images: Tensor) -> Tensor { posterior(images).mu }
    /// Pixel probabilities `[n, 784]` for codes `[n, latent]`.
    public func decode(_ code: Tensor) -> Tensor { decoderLogits(code).sigmoid() }
    /// Bernoulli logits `[n, 784]`.
    public func decoderLogits(_ code: Tensor) -> Tensor { decoder(code) }

    /// z = μ + e^(½ logvar) ⊙ ε, with ε `[n, latent]` given (so the draw can be fixed).
    public static func reparameterize(mu: Tensor, logVariance: Tensor, noise: Tensor) -> Tensor {
        check(noise.shape == mu.shape, "VAE.reparameterize: noise \(noise.shape) must match mu \(mu.shape)")
        return mu + (logVariance * 0.5).exp() * noise
    }

    /// The loss terms for `images` with one draw of z per image; `noise` (ε, `[n, latent]`)
    /// defaults to a draw from `generator`. `beta` weights the KL term.
    public func loss(_ images: Tensor, beta: Float = 1, noise: Tensor? = nil, generator: Generator = .default) -> VAELossTerms {
        let x = images.rank == 4 ? images.flatten() : images
        let (mu, logVariance) = posterior(x)
        let eps = noise ?? Tensor.randn(mu.shape, generator: generator)
        let z = Self.reparameterize(mu: mu, logVariance: logVariance, noise: eps)
        let reconstruction = binaryCrossEntropyWithLogits(decoderLogits(z), x, reduction: .sum) * (1 / Float(x.shape[0]))
        let kl = gaussianKLDivergence(mu: mu, logVariance: logVariance)
        return VAELossTerms(reconstruction: reconstruction, kl: kl, total: reconstruction + kl * beta)
    }

    public var description: String {
        "VAE(latent: \(latent), encoder: \(encoder), mean: \(toMean), logVariance: \(toLogVariance), decoder: \(decoder))"
    }
}

extension Autoencoder {
    /// A trainer that minimises the MSE between the reconstruction of each batch — of its
    /// corrupted copy when `noise` is given (a denoising autoencoder) — and the clean batch,
    /// logging `mse`. The model is named "autoencoder", the optimizer "adam" in checkpoints.
    public func reconstructionTrainer(optimizer: Optimizer, noise: ImageNoise? = nil, batchSize: Int, generator: Generator) -> StepTrainer {
        StepTrainer(models: [("autoencoder", self)], optimizers: [("adam", optimizer)], batchSize: batchSize, generator: generator) { batch, context in
            let input = noise.map { $0.apply(to: batch.inputs, generator: context.generator) } ?? batch.inputs
            let loss = mseLoss(self(input), batch.inputs)
            try context.minimize(loss, with: optimizer, metric: "mse")
            return [("mse", Double(loss.item))]
        }
    }
}

extension VAE {
    /// A trainer that minimises the negative ELBO (reconstruction + β·KL, one z per image),
    /// logging `loss`, `reconstruction` and `kl` (nats per image). Named "vae" and "adam".
    public func elboTrainer(optimizer: Optimizer, beta: Float = 1, batchSize: Int, generator: Generator) -> StepTrainer {
        StepTrainer(models: [("vae", self)], optimizers: [("adam", optimizer)], batchSize: batchSize, generator: generator) { batch, context in
            let terms = self.loss(batch.inputs, beta: beta, generator: context.generator)
            try context.minimize(terms.total, with: optimizer, metric: "loss")
            return [("loss", Double(terms.total.item)), ("reconstruction", Double(terms.reconstruction.item)), ("kl", Double(terms.kl.item))]
        }
    }
}
