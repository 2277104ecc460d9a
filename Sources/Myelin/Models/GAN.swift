import Foundation

// DCGAN (Radford et al. 2016) for 28×28 grey images: a transposed-convolution generator and a
// convolutional discriminator with BatchNorm and LeakyReLU, trained with BCE-with-logits.
// With `classes` set, both are conditioned on a class label: a conditional GAN. The generator
// reads a one-hot label concatenated to its latent code; the discriminator adds a projection
// term ⟨E·onehot(y), features⟩ to its logit (Miyato & Koyama 2018), so it scores how well an
// image fits its label (a label merely concatenated before the last Linear would only add a
// per-class bias, which cannot tell a matching image from a mismatched one).

/// One-hot rows `[labels.count, classes]`.
public func oneHot(_ labels: [Int], classes: Int) -> Tensor {
    check(classes > 0, "oneHot: classes must be positive, got \(classes)")
    var data = [Float](repeating: 0, count: labels.count * classes)
    for (i, y) in labels.enumerated() {
        check(y >= 0 && y < classes, "oneHot: label \(y) out of range for \(classes) classes")
        data[i * classes + y] = 1
    }
    return Tensor(shape: [labels.count, classes], data: data)
}

/// DCGAN generator:
/// ```text
/// z [n, latent] (⊕ one-hot [n, classes])
///   Linear(→2w·49) Unflatten BatchNorm2d(2w) ReLU          → [n, 2w, 7, 7]
///   ConvTranspose2d(2w→w, 4, s2, p1) BatchNorm2d(w) ReLU   → [n, w, 14, 14]
///   ConvTranspose2d(w→1, 4, s2, p1) Sigmoid Flatten        → [n, 784] in (0, 1)
/// ```
public final class DCGANGenerator: Layer {
    public let latent: Int
    /// Number of classes conditioned on (nil: unconditional).
    public let classes: Int?
    public let width: Int
    public let layers: Sequential
    public var isTraining = true

    public init(latent: Int = 64, width: Int = 32, classes: Int? = nil, generator: Generator = .default) {
        check(latent > 0 && width > 0, "DCGANGenerator: latent \(latent) and width \(width) must be positive")
        if let c = classes { check(c > 0, "DCGANGenerator: classes must be positive, got \(c)") }
        self.latent = latent
        self.classes = classes
        self.width = width
        let w = Init.normal(mean: 0, std: 0.02)
        layers = Sequential([
            Linear(latent + (classes ?? 0), 2 * width * 49, generator: generator), Unflatten([2 * width, 7, 7]),
            BatchNorm2d(2 * width), ReLU(),
            ConvTranspose2d(2 * width, width, kernelSize: 4, stride: 2, padding: 1, weightInit: w, generator: generator),
            BatchNorm2d(width), ReLU(),
            ConvTranspose2d(width, 1, kernelSize: 4, stride: 2, padding: 1, weightInit: w, generator: generator),
            Sigmoid(), Flatten(),
        ])
    }

    /// `input` is `[n, latent]`, or `[n, latent + classes]` (latent ⊕ one-hot) when conditional.
    public func forward(_ input: Tensor) -> Tensor {
        let expected = latent + (classes ?? 0)
        check(input.rank == 2 && input.shape[1] == expected,
              "DCGANGenerator: expected input [batch, \(expected)] (latent \(latent)\(classes.map { " + \($0) classes" } ?? "")), got \(input.shape)")
        return layers(input)
    }

    /// Images `[n, 784]` for latent codes `z` `[n, latent]` and, when conditional, `labels`.
    public func generate(_ z: Tensor, labels: [Int]? = nil) -> Tensor {
        guard let c = classes else {
            check(labels == nil, "DCGANGenerator.generate: labels given to an unconditional generator")
            return self(z)
        }
        guard let y = labels else { fatalError("DCGANGenerator.generate: a conditional generator needs labels") }
        check(y.count == z.shape[0], "DCGANGenerator.generate: \(y.count) labels for \(z.shape[0]) latent codes")
        return self(Tensor.concat([z, oneHot(y, classes: c)], axis: 1))
    }

    public var description: String { "DCGANGenerator(latent: \(latent)\(classes.map { ", classes: \($0)" } ?? ""), \(layers))" }
}

/// DCGAN discriminator (one logit per image, "real" > 0):
/// ```text
/// x [n, 784] → [n, 1, 28, 28]
///   Conv2d(1→w, 4, s2, p1) LeakyReLU(0.2)                  → [n, w, 14, 14]
///   Conv2d(w→2w, 4, s2, p1) BatchNorm2d(2w) LeakyReLU(0.2) → [n, 2w, 7, 7]
///   Flatten → h [n, 2w·49]; Linear(→1)                     → [n, 1]
///   cGAN: + Σ_j h ⊙ (onehot(y)·E), E [classes, 2w·49]      → [n, 1]
/// ```
public final class DCGANDiscriminator: Module {
    public let classes: Int?
    public let width: Int
    public let features: Sequential
    public let head: Linear
    /// The class embedding E of a conditional discriminator (a bias-free Linear on the one-hot label).
    public let classProjection: Linear?
    public var isTraining = true

    public init(width: Int = 32, classes: Int? = nil, generator: Generator = .default) {
        check(width > 0, "DCGANDiscriminator: width must be positive, got \(width)")
        if let c = classes { check(c > 0, "DCGANDiscriminator: classes must be positive, got \(c)") }
        self.classes = classes
        self.width = width
        let w = Init.normal(mean: 0, std: 0.02)
        features = Sequential([
            Conv2d(1, width, kernelSize: 4, stride: 2, padding: 1, weightInit: w, generator: generator), LeakyReLU(slope: 0.2),
            Conv2d(width, 2 * width, kernelSize: 4, stride: 2, padding: 1, weightInit: w, generator: generator),
            BatchNorm2d(2 * width), LeakyReLU(slope: 0.2), Flatten(),
        ])
        head = Linear(2 * width * 49, 1, generator: generator)
        classProjection = classes.map { Linear($0, 2 * width * 49, bias: false, generator: generator) }
    }

    /// Logits `[n, 1]` for images `[n, 784]` or `[n, 1, 28, 28]` (and labels when conditional).
    public func callAsFunction(_ images: Tensor, labels: [Int]? = nil) -> Tensor {
        let h = features(imageBatch(images))
        guard let c = classes else {
            check(labels == nil, "DCGANDiscriminator: labels given to an unconditional discriminator")
            return head(h)
        }
        guard let y = labels, let projection = classProjection else { fatalError("DCGANDiscriminator: a conditional discriminator needs labels") }
        check(y.count == h.shape[0], "DCGANDiscriminator: \(y.count) labels for \(h.shape[0]) images")
        return head(h) + (projection(oneHot(y, classes: c)) * h).sum(axis: 1, keepDims: true)
    }

    public var description: String { "DCGANDiscriminator(\(classes.map { "classes: \($0), " } ?? "")\(features), head: \(head))" }
}

/// A DCGAN (or cGAN) under training: both networks, their Adam optimizers (lr 2e-4,
/// β₁ 0.5, as the DCGAN paper) and the alternating update.
///
/// ```swift
/// let gan = GAN(latent: 64, width: 32, classes: nil, generator: g)
/// let trainer = gan.makeTrainer(batchSize: 64, generator: g)
/// try trainer.fit(train, epochs: 5)
/// ```
public final class GAN {
    public let generatorNet: DCGANGenerator
    public let discriminator: DCGANDiscriminator
    public let generatorOptimizer: Adam
    public let discriminatorOptimizer: Adam

    public init(latent: Int = 64, width: Int = 32, classes: Int? = nil, learningRate: Float = 2e-4, generator: Generator) {
        generatorNet = DCGANGenerator(latent: latent, width: width, classes: classes, generator: generator)
        discriminator = DCGANDiscriminator(width: width, classes: classes, generator: generator)
        generatorOptimizer = Adam(generatorNet.parameters(), lr: learningRate, beta1: 0.5)
        discriminatorOptimizer = Adam(discriminator.parameters(), lr: learningRate, beta1: 0.5)
    }

    /// One alternating update on a batch of real images: first the discriminator on real
    /// (target 1) and generated (target 0, generator detached) images, then the generator
    /// so that the discriminator calls its images real (the non-saturating loss). Labels
    /// of the real batch condition both networks of a cGAN; its fakes reuse them.
    /// Returns `d_loss`, `g_loss`, `d_real` (mean D(x) as a probability) and `d_fake`.
    public func step(_ batch: DataLoader.Batch, context: StepContext) throws -> [(String, Double)] {
        let n = batch.inputs.shape[0]
        let labels: [Int]? = generatorNet.classes == nil ? nil : batch.labels
        let z = Tensor.randn([n, generatorNet.latent], generator: context.generator)
        let fake = generatorNet.generate(z, labels: labels)
        let ones = Tensor.ones([n, 1]), zeros = Tensor.zeros([n, 1])

        let realLogits = discriminator(batch.inputs, labels: labels)
        let fakeLogits = discriminator(fake.detach(), labels: labels)
        let dLoss = binaryCrossEntropyWithLogits(realLogits, ones) + binaryCrossEntropyWithLogits(fakeLogits, zeros)
        try context.minimize(dLoss, with: discriminatorOptimizer, metric: "d_loss")

        // The generator's update needs gradients through the discriminator, not of its weights
        // (the next discriminator update zeroes them first): freeze them meanwhile, as
        // `requires_grad_(False)` in PyTorch, which skips their weight-gradient products.
        let discriminatorParameters = discriminator.parameters().filter(\.requiresGrad)
        for p in discriminatorParameters { p.requiresGrad = false }
        defer { for p in discriminatorParameters { p.requiresGrad = true } }
        let gLoss = binaryCrossEntropyWithLogits(discriminator(fake, labels: labels), ones)
        try context.minimize(gLoss, with: generatorOptimizer, metric: "g_loss")
        func meanProbability(_ logits: Tensor) -> Double {
            Double(logits.data.reduce(0) { $0 + 1 / (1 + Foundation.exp(-$1)) }) / Double(n)
        }
        return [("d_loss", Double(dLoss.item)), ("g_loss", Double(gLoss.item)),
                ("d_real", meanProbability(realLogits)), ("d_fake", meanProbability(fakeLogits))]
    }

    /// A trainer over both networks and optimizers that runs `step` on every batch.
    public func makeTrainer(batchSize: Int, generator: Generator) -> StepTrainer {
        StepTrainer(models: [("generator", generatorNet), ("discriminator", discriminator)],
                    optimizers: [("generator", generatorOptimizer), ("discriminator", discriminatorOptimizer)],
                    batchSize: batchSize, generator: generator) { batch, context in
            try self.step(batch, context: context)
        }
    }

    /// `count` images `[count, 784]` from the generator in evaluation mode, drawn with
    /// `generator`, in batches (labels cycle through the classes for a cGAN unless given).
    public func sample(_ count: Int, labels: [Int]? = nil, generator: Generator, batchSize: Int = 500) -> Tensor {
        let net = generatorNet
        let wasTraining = net.isTraining
        net.eval()
        defer { net.train(wasTraining) }
        let allLabels = net.classes.map { c in labels ?? (0..<count).map { $0 % c } }
        var data: [Float] = []
        data.reserveCapacity(count * 784)
        var start = 0
        while start < count {
            let n = Swift.min(batchSize, count - start)
            let z = Tensor.randn([n, net.latent], generator: generator)
            let images = noGrad { net.generate(z, labels: allLabels.map { Array($0[start..<(start + n)]) }) }
            data += images.data
            start += n
        }
        return Tensor(shape: [count, 784], data: data)
    }
}
