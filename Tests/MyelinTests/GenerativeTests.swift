import Foundation
import XCTest
@testable import Myelin

/// Autoencoders, VAE, GANs: losses against PyTorch (Fixtures/generative_goldens.json, made by
/// Fixtures/make_generative_goldens.py), gradient checks, the eigen-decomposition and Fréchet
/// distance against closed forms, and the step trainer (exact resume, NaN stop, early stopping).
final class GenerativeTests: XCTestCase {
    static let goldens: [String: Any] = {
        let data = try! Data(contentsOf: fixtureURL("generative_goldens.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    func golden(_ name: String) -> [String: Any] { Self.goldens[name] as! [String: Any] }

    func tensor(_ any: Any?) -> Tensor {
        let d = any as! [String: Any]
        return Tensor(shape: (d["shape"] as! [NSNumber]).map { $0.intValue }, data: (d["data"] as! [NSNumber]).map { $0.floatValue })
    }

    func number(_ any: Any?) -> Float { (any as! NSNumber).floatValue }

    // MARK: Losses against PyTorch

    func testVAELossMatchesPyTorch() {
        let g = golden("vae_loss")
        let x = tensor(g["x"]), logits = tensor(g["logits"]), mu = tensor(g["mu"]), logvar = tensor(g["logvar"])
        for t in [logits, mu, logvar] { t.requiresGrad = true }
        let reconstruction = binaryCrossEntropyWithLogits(logits, x, reduction: .sum) * (1 / Float(3))
        let kl = gaussianKLDivergence(mu: mu, logVariance: logvar)
        let total = reconstruction + kl
        XCTAssertEqual(reconstruction.item, number(g["reconstruction"]), accuracy: 1e-5)
        XCTAssertEqual(kl.item, number(g["kl"]), accuracy: 1e-5)
        XCTAssertEqual(total.item, number(g["total"]), accuracy: 1e-5)
        total.backward()
        assertClose(logits.grad!.data, tensor(g["grad_logits"]).data, atol: 1e-6, "grad logits")
        assertClose(mu.grad!.data, tensor(g["grad_mu"]).data, atol: 1e-6, "grad mu")
        assertClose(logvar.grad!.data, tensor(g["grad_logvar"]).data, atol: 1e-6, "grad logvar")
    }

    func testReparameterizationMatchesPyTorch() {
        let g = golden("reparameterize")
        let mu = tensor(g["mu"]), logvar = tensor(g["logvar"])
        mu.requiresGrad = true
        logvar.requiresGrad = true
        let z = VAE.reparameterize(mu: mu, logVariance: logvar, noise: tensor(g["eps"]))
        assertClose(z.data, tensor(g["z"]).data, atol: 1e-6, "z")
        (z * tensor(g["grad_output"])).sum().backward()
        assertClose(mu.grad!.data, tensor(g["grad_mu"]).data, atol: 1e-6, "grad mu")
        assertClose(logvar.grad!.data, tensor(g["grad_logvar"]).data, atol: 1e-6, "grad logvar")
    }

    func testGANLossesMatchPyTorch() {
        let d = golden("gan_d_loss")
        let real = tensor(d["real"]), fake = tensor(d["fake"])
        real.requiresGrad = true
        fake.requiresGrad = true
        let dLoss = binaryCrossEntropyWithLogits(real, .ones([4, 1])) + binaryCrossEntropyWithLogits(fake, .zeros([4, 1]))
        XCTAssertEqual(dLoss.item, number(d["loss"]), accuracy: 1e-5)
        dLoss.backward()
        assertClose(real.grad!.data, tensor(d["grad_real"]).data, atol: 1e-6, "grad real")
        assertClose(fake.grad!.data, tensor(d["grad_fake"]).data, atol: 1e-6, "grad fake")
        let gg = golden("gan_g_loss")
        let f = tensor(gg["fake"])
        f.requiresGrad = true
        let gLoss = binaryCrossEntropyWithLogits(f, .ones([4, 1]))
        XCTAssertEqual(gLoss.item, number(gg["loss"]), accuracy: 1e-5)
        gLoss.backward()
        assertClose(f.grad!.data, tensor(gg["grad_fake"]).data, atol: 1e-6, "grad fake (generator)")
    }

    func testVAELossGradientsMatchFiniteDifferences() {
        let x = Tensor.uniform([2, 5], generator: Generator(seed: 3))
        assertGradientsMatch("kl", inputs: [smooth([2, 3], seed: 1), smooth([2, 3], seed: 2, scale: 0.5)]) {
            gaussianKLDivergence(mu: $0[0], logVariance: $0[1])
        }
        // The whole loss through a tiny VAE, with respect to its input-side weights and the noise.
        let vae = VAE(inputs: 5, hidden: 4, latent: 2, generator: Generator(seed: 4))
        let noise = smooth([2, 2], seed: 5)
        assertGradientsMatch("vae loss", inputs: [vae.toMean.weight, vae.toLogVariance.weight, noise], eps: 1e-2, atol: 2e-3) { _ in
            vae.loss(x, noise: noise).total
        }
    }

    // MARK: Linear algebra and Fréchet distance

    func testSymmetricEigenOnKnownMatrices() {
        // [[2, 1], [1, 2]]: eigenvalues 1 and 3, eigenvectors (1, −1)/√2 and (1, 1)/√2.
        let (values, vectors) = symmetricEigen([2, 1, 1, 2], n: 2)
        XCTAssertEqual(values[0], 1, accuracy: 1e-12)
        XCTAssertEqual(values[1], 3, accuracy: 1e-12)
        let r = 1 / 2.0.squareRoot()
        XCTAssertEqual(Swift.abs(vectors[0 * 2 + 0]), r, accuracy: 1e-12)
        XCTAssertEqual(vectors[0 * 2 + 0] * vectors[1 * 2 + 0], -0.5, accuracy: 1e-12)   // (1, −1) direction
        XCTAssertEqual(vectors[0 * 2 + 1] * vectors[1 * 2 + 1], 0.5, accuracy: 1e-12)    // (1, 1) direction
        // A diagonal matrix keeps its entries (sorted).
        XCTAssertEqual(symmetricEigen([5, 0, 0, 0, -2, 0, 0, 0, 1], n: 3).values, [-2, 1, 5])
        // A dense symmetric 7×7: A·v = λ·v for every pair, V orthonormal.
        let n = 7
        let b = Tensor.randn([n, n], generator: Generator(seed: 11)).data.map(Double.init)
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { a[i * n + j] = b[i * n + j] + b[j * n + i] } }
        let (lambda, v) = symmetricEigen(a, n: n)
        for k in 0..<n {
            for i in 0..<n {
                var av = 0.0
                for j in 0..<n { av += a[i * n + j] * v[j * n + k] }
                XCTAssertEqual(av, lambda[k] * v[i * n + k], accuracy: 1e-9, "A·v = λ·v, pair \(k), row \(i)")
            }
            for l in 0..<n {
                var dot = 0.0
                for i in 0..<n { dot += v[i * n + k] * v[i * n + l] }
                XCTAssertEqual(dot, k == l ? 1 : 0, accuracy: 1e-10)
            }
        }
        XCTAssertEqual(lambda, lambda.sorted())
        // The square root of a PSD matrix AᵀA squares back to it.
        var psd = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for k in 0..<n { psd[i * n + j] += b[k * n + i] * b[k * n + j] } } }
        let root = symmetricSquareRoot(psd, n: n)
        for i in 0..<n {
            for j in 0..<n {
                var s = 0.0
                for k in 0..<n { s += root[i * n + k] * root[k * n + j] }
                XCTAssertEqual(s, psd[i * n + j], accuracy: 1e-8)
                XCTAssertEqual(root[i * n + j], root[j * n + i], accuracy: 1e-10)
            }
        }
    }

    func testFrechetDistanceMatchesPyTorchAndClosedForms() {
        let g = golden("frechet")
        let a = FeatureStatistics(tensor(g["a"])), b = FeatureStatistics(tensor(g["b"]))
        assertClose(a.covariance.map(Float.init), tensor(g["cov_a"]).data, atol: 1e-6, "covariance")
        assertClose(symmetricEigen(a.covariance, n: 3).values.map(Float.init), tensor(g["eigenvalues_cov_a"]).data, atol: 1e-6, "eigenvalues")
        XCTAssertEqual(Float(frechetDistance(a, b)), number(g["distance"]), accuracy: 1e-5)
        XCTAssertEqual(frechetDistance(a, a), 0, accuracy: 1e-9)
        // 1-D: (μ₁ − μ₂)² + (σ₁ − σ₂)².
        let one = FeatureStatistics(mean: [1], covariance: [4]), two = FeatureStatistics(mean: [-2], covariance: [9])
        XCTAssertEqual(frechetDistance(one, two), 9 + 1, accuracy: 1e-12)
        // Diagonal covariances: Σ (√a − √b)² plus the mean term.
        let p = FeatureStatistics(mean: [0, 0, 0], covariance: [1, 0, 0, 0, 4, 0, 0, 0, 9])
        let q = FeatureStatistics(mean: [1, 0, 2], covariance: [4, 0, 0, 0, 4, 0, 0, 0, 1])
        XCTAssertEqual(frechetDistance(p, q), 5 + 1 + 0 + 4, accuracy: 1e-10)
        XCTAssertEqual(frechetDistance(p, q), frechetDistance(q, p), accuracy: 1e-10)
    }

    func testClassEvenness() {
        let even = classEvenness(Array(0..<10) + Array(0..<10), classes: 10)
        XCTAssertEqual(even.entropy, Foundation.log(10.0), accuracy: 1e-12)
        XCTAssertEqual(even.normalized, 1, accuracy: 1e-12)
        XCTAssertEqual(classEvenness([3, 3, 3], classes: 10).normalized, 0)
        let skewed = classEvenness([0, 0, 1, 2], classes: 4)
        XCTAssertEqual(skewed.histogram, [2, 1, 1, 0])
        XCTAssertEqual(skewed.entropy, 0.5 * Foundation.log(2.0) + 0.5 * Foundation.log(4.0), accuracy: 1e-12)
    }

    // MARK: Models and noise

    func testModelShapesAndConditioning() {
        let g = Generator(seed: 1)
        let x = Tensor.uniform([3, 784], generator: g)
        XCTAssertEqual(MLPAutoencoder(hidden: 8, code: 4, generator: g)(x).shape, [3, 784])
        let conv = ConvAutoencoder(width: 2, code: 4, generator: g)
        XCTAssertEqual(conv.encode(x).shape, [3, 4])
        XCTAssertEqual(conv(x).shape, [3, 784])
        XCTAssertEqual(conv(x.reshape([3, 1, 28, 28])).shape, [3, 784])
        let vae = VAE(hidden: 8, latent: 2, generator: g)
        XCTAssertEqual(vae.encode(x).shape, [3, 2])
        XCTAssertTrue(vae(x).data.allSatisfy { $0 > 0 && $0 < 1 })
        let gen = DCGANGenerator(latent: 4, width: 2, classes: 10, generator: g)
        gen.eval()
        let z = Tensor.randn([2, 4], generator: g)
        let a = gen.generate(z, labels: [1, 1]), b = gen.generate(z, labels: [7, 7])
        XCTAssertEqual(a.shape, [2, 784])
        XCTAssertNotEqual(a.data, b.data, "the label must change the conditional generator's output")
        let d = DCGANDiscriminator(width: 2, classes: 10, generator: g)
        XCTAssertEqual(d(a, labels: [1, 1]).shape, [2, 1])
        XCTAssertEqual(oneHot([2, 0], classes: 3).data, [0, 0, 1, 1, 0, 0])
        // The conditional discriminator judges image and label together: how much the label
        // changes the logit depends on the image (a label concatenated before the last Linear
        // would shift every image's logit by the same per-class amount).
        d.eval()
        let images = Tensor.uniform([4, 784], generator: g)
        let as1 = d(images, labels: [1, 1, 1, 1]).data, as7 = d(images, labels: [7, 7, 7, 7]).data
        let shifts = zip(as1, as7).map { $0 - $1 }
        XCTAssertGreaterThan(shifts.max()! - shifts.min()!, 1e-4, "label effect \(shifts) must depend on the image")
    }

    func testNoiseCorruptsAsSpecified() {
        let clean = Tensor.full([20, 784], 0.5)
        let masked = ImageNoise.masking(fraction: 0.25).apply(to: clean, generator: Generator(seed: 2))
        let zeroed = Double(masked.data.filter { $0 == 0 }.count) / Double(clean.count)
        // 15 680 pixels: the binomial standard deviation of the fraction is 0.0035.
        XCTAssertEqual(zeroed, 0.25, accuracy: 0.015)
        XCTAssertTrue(zip(masked.data, clean.data).allSatisfy { $0 == 0 || $0 == $1 })
        let noisy = ImageNoise.gaussian(std: 0.1).apply(to: clean, generator: Generator(seed: 3))
        let diffs = zip(noisy.data, clean.data).map { Double($0 - $1) }
        let std = (diffs.map { $0 * $0 }.reduce(0, +) / Double(diffs.count)).squareRoot()
        XCTAssertEqual(std, 0.1, accuracy: 0.005)
        let saturated = ImageNoise.gaussian(std: 2).apply(to: clean, generator: Generator(seed: 4))
        XCTAssertTrue(saturated.data.allSatisfy { $0 >= 0 && $0 <= 1 })
        XCTAssertEqual(ImageNoise.masking(fraction: 0).apply(to: clean, generator: Generator(seed: 5)).data, clean.data)
    }

    // MARK: Step trainer

    /// 40 random "images" with labels, enough for a few batches.
    func tinyImages(_ count: Int = 40, seed: UInt64 = 9) -> Dataset {
        let g = Generator(seed: seed)
        return Dataset(inputs: Tensor.uniform([count, 784], generator: g), labels: (0..<count).map { $0 % 10 },
                       classNames: FashionMNIST.classNames)
    }

    func makeGAN(seed: UInt64, classes: Int? = nil) -> (GAN, StepTrainer) {
        let g = Generator(seed: seed)
        let gan = GAN(latent: 4, width: 2, classes: classes, learningRate: 1e-3, generator: g)
        return (gan, gan.makeTrainer(batchSize: 8, generator: Generator(seed: 77)))
    }

    /// The generator's update freezes the discriminator's weights: afterwards they are trainable
    /// again and their gradients are exactly those of the discriminator's own loss (the
    /// generator's loss added nothing; before, it was computed and thrown away).
    func testGeneratorUpdateComputesNoDiscriminatorWeightGradients() throws {
        let trained = GAN(latent: 8, width: 4, generator: Generator(seed: 5))
        let byHand = GAN(latent: 8, width: 4, generator: Generator(seed: 5))
        let images = Tensor.uniform([6, 784], generator: Generator(seed: 6))
        let batch = DataLoader.Batch(inputs: images, labels: Array(repeating: 0, count: 6), targets: nil)
        _ = try trained.step(batch, context: StepContext(generator: Generator(seed: 7), epoch: 0, batch: 0, gradientClipNorm: nil))
        // The discriminator's half of the step, with the same draws.
        let fake = byHand.generatorNet.generate(Tensor.randn([6, 8], generator: Generator(seed: 7)))
        let dLoss = binaryCrossEntropyWithLogits(byHand.discriminator(images), Tensor.ones([6, 1]))
            + binaryCrossEntropyWithLogits(byHand.discriminator(fake.detach()), Tensor.zeros([6, 1]))
        byHand.discriminatorOptimizer.zeroGrad()
        dLoss.backward()
        for ((name, p), q) in zip(trained.discriminator.namedParameters(), byHand.discriminator.parameters()) {
            XCTAssertTrue(p.requiresGrad, "\(name) left frozen")
            XCTAssertEqual(p.grad?.data, q.grad?.data, "\(name): gradient is not the discriminator loss's")
        }
    }

    func testGANResumeIsBitIdentical() throws {
        let data = tinyImages()
        let (straight, straightTrainer) = makeGAN(seed: 1, classes: 10)
        try straightTrainer.fit(data, epochs: 4)

        let (first, firstTrainer) = makeGAN(seed: 1, classes: 10)
        try firstTrainer.fit(data, epochs: 2)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gan-resume-\(UUID()).ckpt").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Checkpoint(stepTrainer: firstTrainer, metadata: ["run": "test"]).save(to: path)
        _ = first
        // A fresh GAN with other initial weights and another RNG: everything must come from the file.
        let (resumed, resumedTrainer) = makeGAN(seed: 123, classes: 10)
        resumedTrainer.generator.state = Generator(seed: 5).state
        let loaded = try Checkpoint.load(from: path)
        XCTAssertEqual(loaded.header.metadata["run"], "test")
        try loaded.restore(into: resumedTrainer)
        XCTAssertEqual(resumedTrainer.epoch, 2)
        try resumedTrainer.fit(data, epochs: 4)

        let a = straightTrainer.modelsState(), b = resumedTrainer.modelsState()
        XCTAssertEqual(a.names, b.names)
        XCTAssertGreaterThan(a.names.count, 10)
        for ((name, x), (_, y)) in zip(a.entries, b.entries) { XCTAssertEqual(x.data, y.data, "model state \(name)") }
        let oa = straightTrainer.optimizersState(), ob = resumedTrainer.optimizersState()
        XCTAssertEqual(oa.names, ob.names)
        for ((name, x), (_, y)) in zip(oa.entries, ob.entries) { XCTAssertEqual(x.data, y.data, "optimizer state \(name)") }
        XCTAssertEqual(straightTrainer.history.map { $0.values }, resumedTrainer.history.map { $0.values })
        XCTAssertEqual(straightTrainer.history.map { $0.names }, [[String]](repeating: ["d_loss", "g_loss", "d_real", "d_fake"], count: 4))
        XCTAssertEqual(straightTrainer.generator.state.0, resumedTrainer.generator.state.0)
        XCTAssertEqual(straight.generatorNet.width, resumed.generatorNet.width)
    }

    func testCheckpointRestoreRejectsOtherModels() throws {
        let (_, ganTrainer) = makeGAN(seed: 1)
        let checkpoint = Checkpoint(stepTrainer: ganTrainer)
        let ae = MLPAutoencoder(hidden: 4, code: 2)
        let opt = Adam(ae.parameters())
        let other = StepTrainer(models: [("autoencoder", ae)], optimizers: [("adam", opt)], generator: Generator(seed: 0)) { _, _ in [] }
        XCTAssertThrowsError(try checkpoint.restore(into: other)) { error in
            XCTAssertTrue("\(error)".contains("autoencoder"), "\(error)")
        }
        // A classifier's checkpoint is not a StepTrainer's.
        let mlp = MLPSpec(inputs: 4, hidden: [3], outputs: 2).build(generator: Generator(seed: 0))
        let classifier = Checkpoint(trainer: Trainer(model: mlp, optimizer: SGD(mlp.parameters(), lr: 0.1), generator: Generator(seed: 0)))
        XCTAssertThrowsError(try classifier.restore(into: ganTrainer)) { error in
            XCTAssertTrue("\(error)".contains("classifier"), "\(error)")
        }
        // The header round-trips through the file format, metric history included.
        try ganTrainer.fit(tinyImages(), epochs: 1)
        let trained = Checkpoint(stepTrainer: ganTrainer)
        XCTAssertEqual(try Checkpoint.decode(try trained.encode(), path: "x").header.metrics, ganTrainer.history)
        // A history whose names and values disagree is refused with a message, not a crash later.
        var forged = trained
        forged.header.metrics![0].values.removeLast()
        XCTAssertThrowsError(try Checkpoint.decode(try forged.encode(), path: "x.ckpt")) { error in
            XCTAssertTrue("\(error)".contains("x.ckpt: checkpoint header is not valid") && "\(error)".contains("4 metric names for 3 values"), "\(error)")
        }
    }

    func testNonFiniteLossStopsNamingEpochAndBatchBeforeAnyUpdate() throws {
        let ae = MLPAutoencoder(hidden: 4, code: 2, generator: Generator(seed: 1))
        let opt = Adam(ae.parameters(), lr: 1e-2)
        var before: [[Float]] = []
        let trainer = StepTrainer(models: [("ae", ae)], optimizers: [("adam", opt)], batchSize: 10, generator: Generator(seed: 2)) { batch, context in
            var loss = mseLoss(ae(batch.inputs), batch.inputs)
            if context.epoch == 2 && context.batch == 3 {
                before = ae.parameters().map { $0.data }
                loss = loss * Float.nan
            }
            try context.minimize(loss, with: opt, metric: "mse")
            return [("mse", Double(loss.item))]
        }
        XCTAssertThrowsError(try trainer.fit(tinyImages(), epochs: 3)) { error in
            guard case let TrainingError.nonFinite(metric, value, epoch, batch) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(metric, "mse")
            XCTAssertTrue(value.isNaN)
            XCTAssertEqual(epoch, 2)
            XCTAssertEqual(batch, 3)
            XCTAssertTrue("\(error)".contains("mse is nan at epoch 2, batch 3"), "\(error)")
        }
        XCTAssertEqual(ae.parameters().map { $0.data }, before, "no parameter may change on a NaN loss")
        XCTAssertEqual(trainer.epoch, 1)
        // A logged metric that is not finite stops too.
        let bad = StepTrainer(models: [("ae", ae)], optimizers: [], batchSize: 10, generator: Generator(seed: 2)) { _, context in
            [("ratio", context.batch == 2 ? .infinity : 1)]
        }
        XCTAssertThrowsError(try bad.fit(tinyImages(), epochs: 1)) { error in
            XCTAssertTrue("\(error)".contains("ratio is inf at epoch 1, batch 2"), "\(error)")
        }
    }

    func testEarlyStoppingOnValidationMetricRestoresBestModel() throws {
        let ae = MLPAutoencoder(hidden: 4, code: 2, generator: Generator(seed: 1))
        let opt = SGD(ae.parameters(), lr: 0.1)
        let trainer = StepTrainer(models: [("ae", ae)], optimizers: [("sgd", opt)], batchSize: 20, generator: Generator(seed: 2)) { batch, context in
            let loss = mseLoss(ae(batch.inputs), batch.inputs)
            try context.minimize(loss, with: opt)
            return [("loss", Double(loss.item))]
        }
        let scripted = [5.0, 4.0, 4.5, 4.6, 4.7, 1.0]
        var weightsAt: [Int: [Float]] = [:]
        trainer.validate = { t in
            weightsAt[t.epoch + 1] = ae.encoder.layers[0].parameters()[0].data
            return [("val_loss", scripted[t.epoch])]
        }
        let stopper = MetricEarlyStopping(monitor: "val_loss", patience: 2)
        trainer.callbacks = [stopper]
        try trainer.fit(tinyImages(), epochs: 6)
        XCTAssertEqual(stopper.stoppedEpoch, 4)
        XCTAssertEqual(trainer.epoch, 4)
        XCTAssertEqual(stopper.restoredEpoch, 2)
        XCTAssertEqual(ae.encoder.layers[0].parameters()[0].data, weightsAt[2])
        XCTAssertNotEqual(weightsAt[2], weightsAt[4])
    }

    /// Four simple shapes (left half, top half, a centred square, a diagonal band), 16 copies each.
    func shapes() -> Dataset {
        var images: [Float] = []
        for k in 0..<4 {
            for y in 0..<28 {
                for x in 0..<28 {
                    let on = [x < 14, y < 14, (7..<21).contains(x) && (7..<21).contains(y), Swift.abs(x - y) < 4][k]
                    images.append(on ? 0.9 : 0.1)
                }
            }
        }
        let patterns = Tensor(shape: [4, 784], data: images)
        return Dataset(inputs: patterns.gatherRows((0..<64).map { $0 % 4 }), labels: (0..<64).map { $0 % 4 })
    }

    func testAutoencoderTrainingLowersReconstructionError() throws {
        let g = Generator(seed: 3)
        let data = shapes()
        let ae = ConvAutoencoder(width: 4, code: 4, generator: g)
        let opt = Adam(ae.parameters(), lr: 1e-2)
        let noise = ImageNoise.masking(fraction: 0.2)
        let trainer = StepTrainer(models: [("ae", ae)], optimizers: [("adam", opt)], batchSize: 16, generator: g) { batch, context in
            let loss = mseLoss(ae(noise.apply(to: batch.inputs, generator: context.generator)), batch.inputs)
            try context.minimize(loss, with: opt, metric: "mse")
            return [("mse", Double(loss.item))]
        }
        trainer.validate = { _ in [("val_mse", reconstructionMSE(ae, on: data, noise: noise, generator: Generator(seed: 8)))] }
        try trainer.fit(data, epochs: 30)
        let after = reconstructionMSE(ae, on: data)
        // Predicting the mean image for every input scores the pixel variance across the shapes.
        let mean = data.inputs.mean(axis: 0)
        let meanImageMSE = Double(mseLoss(mean.expand(data.inputs.shape), data.inputs).item)
        XCTAssertLessThan(after, meanImageMSE / 4, "MSE \(after), mean image \(meanImageMSE)")
        XCTAssertLessThan(trainer.history.last!["val_mse"]!, trainer.history.first!["val_mse"]! / 2)
    }

    func testVAEELBOIsNegativeLossAndImprovesWithTraining() throws {
        let g = Generator(seed: 4)
        let data = shapes()
        let vae = VAE(hidden: 16, latent: 2, generator: g)
        let opt = Adam(vae.parameters(), lr: 1e-2)
        let trainer = StepTrainer(models: [("vae", vae)], optimizers: [("adam", opt)], batchSize: 16, generator: g) { batch, context in
            let terms = vae.loss(batch.inputs, generator: context.generator)
            try context.minimize(terms.total, with: opt)
            return [("loss", Double(terms.total.item)), ("kl", Double(terms.kl.item))]
        }
        let before = vaeELBO(vae, on: data, generator: Generator(seed: 1))
        XCTAssertEqual(before.elbo, -(before.reconstruction + before.kl), accuracy: 1e-9)
        XCTAssertGreaterThanOrEqual(before.kl, 0)
        try trainer.fit(data, epochs: 6)
        let after = vaeELBO(vae, on: data, generator: Generator(seed: 1))
        XCTAssertGreaterThan(after.elbo, before.elbo + 20, "ELBO \(before.elbo) → \(after.elbo)")
    }

    // MARK: Pictures and logs

    func testPicturesAndScatter() throws {
        let a = Tensor.full([3, 784], 0), b = Tensor.full([3, 784], 1)
        let image = GenerativePictures.rows([a, b], scale: 1)
        XCTAssertEqual(image.width, 3 * 28 + 4)
        XCTAssertEqual(image.height, 2 * 28 + 3)
        XCTAssertEqual(image.pixels[(1 + 5) * image.width + 1 + 5], 0, "first row black")
        XCTAssertEqual(image.pixels[(2 + 28 + 5) * image.width + 1 + 5], 255, "second row white")
        let path = GenerativePictures.interpolate(from: Tensor([[0, 0]]), to: Tensor([[1, -2]]), steps: 3)
        XCTAssertEqual(path.data, [0, 0, 0.5, -1, 1, -2])
        let lattice = GenerativePictures.latentLattice(steps: 3, extent: 2)
        XCTAssertEqual(Array(lattice.data.prefix(2)), [-2, 2])
        XCTAssertEqual(Array(lattice.data.suffix(2)), [2, -2])

        let points = Tensor.randn([30, 2], generator: Generator(seed: 1))
        let labels = (0..<30).map { $0 % 3 }
        let svg = SVGPlot.latentScatter(points, labels: labels, classNames: ["a", "b", "c"])
        XCTAssertEqual(svg.components(separatedBy: "class=\"point\"").count - 1, 30)
        XCTAssertEqual(svg.components(separatedBy: "fill=\"#ff7f0e\" fill-opacity").count - 1, 10, "class 1's points in its colour")
        XCTAssertTrue(svg.contains(">c</text>"))
    }

    func testMetricCSVAndCurvesCoverEveryMetric() {
        let history = [MetricRecord(epoch: 1, names: ["d_loss", "g_loss", "val_g_loss"], values: [1, 2, 3], seconds: 0.5),
                       MetricRecord(epoch: 2, names: ["d_loss", "g_loss", "val_g_loss", "fid"], values: [0.5, 1.5, 2.5, 9], seconds: 0.25)]
        let csv = MetricCSVLogger.csv(history).split(separator: "\n").map(String.init)
        XCTAssertEqual(csv[0], "epoch,d_loss,g_loss,val_g_loss,fid,seconds")
        XCTAssertEqual(csv[1], "1,1.000000,2.000000,3.000000,,0.500000")
        XCTAssertEqual(csv[2], "2,0.500000,1.500000,2.500000,9.000000,0.250000")
        let svg = SVGPlot.metricCurves(history, title: "GAN")
        XCTAssertEqual(svg.components(separatedBy: "class=\"plot-area\"").count - 1, 3, "panels d_loss, g_loss (with val), fid")
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 4)
        XCTAssertEqual(StepProgressLogger.line(history[1], epochs: 2), "epoch 2/2  0.2s  d_loss 0.5000  g_loss 1.5000  val_g_loss 2.5000  fid 9.0000")
    }
}
