import ArgumentParser
import Foundation
import Myelin

// `myelin train --model autoencoder|conv-autoencoder|denoising-autoencoder|vae|vae2d|dcgan|cgan`:
// generative models on Fashion-MNIST, trained by a `StepTrainer`, with their pictures and measures.

/// Options only the generative presets use (grouped into `train`).
struct GenerativeOptions: ParsableArguments {
    @Option(help: "Denoising autoencoder: noise injected into training inputs, gaussian or masking (default: gaussian).")
    var noise: NoiseKind?
    @Option(parsing: .unconditional, help: "Noise level: σ of gaussian noise (default 0.3) or the masked fraction (default 0.25).")
    var noiseLevel: Float?
    @Option(parsing: .unconditional, help: "Code / latent size (default: 32 for autoencoders, 20 for vae, 2 for vae2d, 64 for GANs).")
    var latent: Int?
    @Option(help: "Checkpoint of `myelin train --model cnn`: its penultimate features give the GAN's Fréchet distance (FID) and its predictions the class evenness.")
    var classifier: String?
    @Option(parsing: .unconditional, help: "Generated images measured against the test set (default: 10000).")
    var fidSamples: Int?

    enum NoiseKind: String, CaseIterable, Codable, ExpressibleByArgument { case gaussian, masking }
}

enum GenerativePreset: String, Codable, CaseIterable {
    case autoencoder, convAutoencoder = "conv-autoencoder", denoisingAutoencoder = "denoising-autoencoder", vae, vae2d, dcgan, cgan

    var isGAN: Bool { self == .dcgan || self == .cgan }
    var isVAE: Bool { self == .vae || self == .vae2d }
}

extension ModelName {
    /// The generative preset this name selects (nil for classifiers).
    var generativePreset: GenerativePreset? { GenerativePreset(rawValue: rawValue) }
}

/// A generative run as stored in its checkpoint (key `myelin.generative`).
struct GenerativeRunConfig: Codable {
    var preset: GenerativePreset
    var data: DataConfig
    var batchSize: Int
    var epochs: Int
    var learningRate: Float
    var latent: Int
    var width: Int
    var noise: ImageNoise?
    var clipNorm: Float?
    var earlyStopping: Int?
    var trainSamples: Int?
    var fidSamples: Int
    var classifier: String?

    static let key = "myelin.generative"

    func metadata() throws -> [String: String] { [Self.key: String(decoding: try JSONEncoder().encode(self), as: UTF8.self)] }

    static func from(_ checkpoint: Checkpoint) -> GenerativeRunConfig? {
        guard let json = checkpoint.header.metadata[key] else { return nil }
        return try? JSONDecoder().decode(GenerativeRunConfig.self, from: Data(json.utf8))
    }

    /// Whether the file is a checkpoint of a generative run.
    static func isGenerative(checkpoint path: String) -> Bool {
        guard Checkpoint.hasMagic(atPath: path), let c = try? Checkpoint.load(from: path) else { return false }
        return c.header.metadata[key] != nil
    }
}

/// The models of one preset, the trainer around them and what they draw and measure.
final class GenerativeSession {
    let config: GenerativeRunConfig
    let trainer: StepTrainer
    let autoencoder: (any Autoencoder)?
    let gan: GAN?
    /// Fixed latent codes for the per-epoch GAN samples (same picture each epoch).
    let fixedLatent: Tensor

    init(_ c: GenerativeRunConfig) {
        config = c
        let g = Generator(seed: c.data.seed)
        switch c.preset {
        case .dcgan, .cgan:
            let gan = GAN(latent: c.latent, width: c.width, classes: c.preset == .cgan ? 10 : nil, learningRate: c.learningRate, generator: g)
            self.gan = gan
            autoencoder = nil
            trainer = gan.makeTrainer(batchSize: c.batchSize, generator: g)
        default:
            gan = nil
            let model: any Autoencoder
            switch c.preset {
            case .autoencoder: model = MLPAutoencoder(hidden: 256, code: c.latent, generator: g)
            case .vae, .vae2d: model = VAE(hidden: 400, latent: c.latent, generator: g)
            default: model = ConvAutoencoder(width: c.width, code: c.latent, generator: g)
            }
            autoencoder = model
            let optimizer = Adam(model.parameters(), lr: c.learningRate)
            if let vae = model as? VAE {
                trainer = vae.elboTrainer(optimizer: optimizer, batchSize: c.batchSize, generator: g)
            } else {
                trainer = model.reconstructionTrainer(optimizer: optimizer, noise: c.noise, batchSize: c.batchSize, generator: g)
            }
        }
        trainer.gradientClipNorm = c.clipNorm
        fixedLatent = Tensor.randn([100, c.latent], generator: Generator(seed: c.data.seed &+ 1000))
    }

    /// The metric early stopping watches (nil for GANs, whose losses do not measure quality).
    var monitoredMetric: String? {
        config.preset.isGAN ? nil : config.preset.isVAE ? "val_loss" : "val_mse"
    }

    /// Validation: reconstruction MSE (of noisy inputs for the denoiser) or −ELBO.
    func installValidation(_ validation: Dataset?) {
        guard let v = validation, let model = autoencoder else { return }
        let seed = config.data.seed &+ 2000
        if let vae = model as? VAE {
            trainer.validate = { _ in [("val_loss", -vaeELBO(vae, on: v, generator: Generator(seed: seed)).elbo)] }
        } else {
            let noise = config.noise
            trainer.validate = { _ in [("val_mse", reconstructionMSE(model, on: v, noise: noise, generator: Generator(seed: seed)))] }
        }
    }

    /// GAN samples from the fixed codes (a row per class for a cGAN), `[100, 784]`.
    func fixedSamples() -> Tensor {
        guard let gan else { fatalError("fixedSamples: not a GAN") }
        let net = gan.generatorNet
        let wasTraining = net.isTraining
        net.eval()
        defer { net.train(wasTraining) }
        let labels = net.classes.map { c in (0..<100).map { ($0 / 10) % c } }
        return noGrad { net.generate(fixedLatent, labels: labels) }
    }

    var summary: String {
        trainer.models.map { name, m in "\(name): \(m.parameterCount) parameters\n\(m)" }.joined(separator: "\n\n")
    }
}

/// `myelin train` for a generative preset (new run or `--resume`).
struct GenerativeRun {
    let options: Train

    /// Options of the classifier presets that have no meaning here.
    func validateOptions(_ preset: GenerativePreset) throws {
        let o = options
        var foreign: [String] = []
        if o.optimizer != nil { foreign.append("--optimizer") }
        if o.momentum != nil { foreign.append("--momentum") }
        if o.weightDecay != nil { foreign.append("--weight-decay") }
        if o.hidden != nil { foreign.append("--hidden") }
        if o.dropout != nil { foreign.append("--dropout") }
        if o.batchnorm { foreign.append("--batchnorm") }
        if o.augment { foreign.append("--augment") }
        if o.schedule != nil || o.stepSize != nil || o.gamma != nil || o.minLr != nil { foreign.append("--schedule/--step-size/--gamma/--min-lr") }
        if o.data.scaler != nil { foreign.append("--scaler") }
        guard foreign.isEmpty else {
            throw ValidationError("\(foreign.joined(separator: ", ")) do not apply to --model \(preset.rawValue) (Adam, pixels in [0, 1], constant learning rate)")
        }
        if let d = o.data.dataset, d != .fashionMNIST { throw ValidationError("--model \(preset.rawValue) trains on 28×28 images: --dataset fashion-mnist (or MNIST files via --data)") }
        let g = o.generative
        if g.noise != nil || g.noiseLevel != nil, preset != .denoisingAutoencoder {
            throw ValidationError("--noise and --noise-level apply to --model denoising-autoencoder")
        }
        if let level = g.noiseLevel {
            let masking = g.noise == .masking
            guard level.isFinite && level >= 0 && (!masking || level <= 1) else {
                throw ValidationError("--noise-level must be \(masking ? "in [0, 1] for masking" : "non-negative"), got \(level)")
            }
        }
        if let l = g.latent { guard l >= 1 else { throw ValidationError("--latent must be at least 1, got \(l)") } }
        if preset == .vae2d, let l = g.latent, l != 2 { throw ValidationError("--model vae2d has a 2-D latent space; use --model vae for --latent \(l)") }
        if o.sequence.layers != nil || o.sequence.context != nil {
            throw ValidationError("--layers and --context shape the sequence models, not --model \(preset.rawValue)")
        }
        if let w = o.sequence.width { guard w >= 1 else { throw ValidationError("--width must be at least 1, got \(w)") } }
        if o.sequence.width != nil && (preset == .autoencoder || preset.isVAE) { throw ValidationError("--width applies to convolutional models, not --model \(preset.rawValue)") }
        if let n = g.fidSamples { guard n >= 2 else { throw ValidationError("--fid-samples must be at least 2, got \(n)") } }
        if g.classifier != nil || g.fidSamples != nil, !preset.isGAN { throw ValidationError("--classifier and --fid-samples measure GANs (--model dcgan or cgan)") }
        if let n = o.sequence.trainSamples {
            guard n >= (o.batchSize ?? 64) else { throw ValidationError("--train-samples \(n) makes no full batch of \(o.batchSize ?? 64) (--batch-size)") }
        }
        if o.earlyStopping != nil && preset.isGAN { throw ValidationError("--early-stopping: a GAN's losses do not measure its images, so GAN runs do not stop early") }
        if o.earlyStopping != nil && o.data.validationFraction == 0 { throw ValidationError("--early-stopping needs a validation split (--validation > 0)") }
        if (o.batchSize ?? 64) < 2 && preset.isGAN { throw ValidationError("--batch-size must be at least 2 for the GAN's BatchNorm") }
    }

    /// Options given with `--resume` that differ from the checkpoint's run, each as
    /// "--option given (the run has stored)"; options the run's model has no use for count
    /// as differing from "none". `--epochs`, `--data`, `--threads`, `--out` and `--force` may change.
    func conflicts(with c: GenerativeRunConfig) -> [String] {
        let o = options, g = o.generative
        var found: [String] = []
        func compare<T: Equatable>(_ name: String, _ given: T?, _ stored: T?, _ show: (T) -> String = { "\($0)" }) {
            guard let v = given, v != stored else { return }
            found.append("\(name) \(show(v)) (the run has \(stored.map(show) ?? "none"))")
        }
        compare("--model", o.model?.rawValue, c.preset.rawValue)
        compare("--dataset", o.data.dataset, c.data.dataset, { $0.rawValue })
        compare("--validation", o.data.validation, c.data.validationFraction)
        compare("--scaler", o.data.scaler, c.data.scaler, { $0.rawValue })
        compare("--seed", o.data.seed, c.data.seed)
        compare("--batch-size", o.batchSize, c.batchSize)
        compare("--lr", o.lr, c.learningRate)
        compare("--clip-norm", o.clipNorm, c.clipNorm)
        compare("--early-stopping", o.earlyStopping, c.earlyStopping)
        compare("--train-samples", o.sequence.trainSamples, c.trainSamples)
        compare("--latent", g.latent, c.latent)
        let convolutional = !(c.preset == .autoencoder || c.preset.isVAE)
        compare("--width", o.sequence.width, convolutional ? c.width : nil)
        let noiseKind: GenerativeOptions.NoiseKind? = c.noise.map { if case .masking = $0 { return .masking } else { return .gaussian } }
        compare("--noise", g.noise, noiseKind, { $0.rawValue })
        let noiseLevel: Float? = c.noise.map { switch $0 { case .gaussian(let s): return s; case .masking(let f): return f } }
        compare("--noise-level", g.noiseLevel, noiseLevel)
        compare("--fid-samples", g.fidSamples, c.preset.isGAN ? c.fidSamples : nil)
        compare("--classifier", g.classifier.map { URL(fileURLWithPath: $0).standardizedFileURL.path }, c.classifier)
        // The generative presets train with Adam at a constant rate on raw pixels.
        compare("--optimizer", o.optimizer, OptimizerSpec.Kind.adam, { $0.rawValue })
        compare("--momentum", o.momentum, nil)
        compare("--weight-decay", o.weightDecay, nil)
        compare("--hidden", o.hidden, nil)
        compare("--dropout", o.dropout, nil)
        if o.batchnorm { found.append("--batchnorm (the run has none)") }
        if o.augment { found.append("--augment (the run has none)") }
        compare("--schedule", o.schedule, nil, { $0.rawValue })
        compare("--step-size", o.stepSize, nil)
        compare("--gamma", o.gamma, nil)
        compare("--min-lr", o.minLr, nil)
        compare("--layers", o.sequence.layers, nil)
        compare("--context", o.sequence.context, nil)
        return found
    }

    func newConfig(_ preset: GenerativePreset) throws -> GenerativeRunConfig {
        let o = options, g = o.generative
        var noise: ImageNoise?
        if preset == .denoisingAutoencoder {
            noise = g.noise == .masking ? .masking(fraction: g.noiseLevel ?? 0.25) : .gaussian(std: g.noiseLevel ?? 0.3)
        }
        let defaultLatent = preset.isGAN ? 64 : preset == .vae2d ? 2 : preset == .vae ? 20 : 32
        var data = o.data.config
        if preset.isGAN { data.validationFraction = 0 }
        let classifier = g.classifier.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        return GenerativeRunConfig(preset: preset, data: data, batchSize: o.batchSize ?? 64, epochs: o.epochs ?? (preset.isGAN ? 5 : 10),
                                   learningRate: o.lr ?? (preset.isGAN ? 2e-4 : 1e-3), latent: g.latent ?? defaultLatent,
                                   width: o.sequence.width ?? (preset.isGAN ? 32 : 16), noise: noise, clipNorm: o.clipNorm,
                                   earlyStopping: o.earlyStopping, trainSamples: o.sequence.trainSamples, fidSamples: g.fidSamples ?? 10_000,
                                   classifier: classifier)
    }

    func run() throws {
        let o = options
        Threading.threads = o.data.threadCount
        var config: GenerativeRunConfig
        let session: GenerativeSession
        let outFolder: String, checkpointPath: String
        if let path = o.resume {
            let checkpoint = try Checkpoint.load(from: path)
            guard let stored = GenerativeRunConfig.from(checkpoint) else {
                throw CLIError("\(path): not a checkpoint of a generative run")
            }
            config = stored
            let conflicting = conflicts(with: config)
            guard conflicting.isEmpty else {
                throw CLIError("--resume continues \(path) with its own options; these differ: \(conflicting.joined(separator: ", ")); train a new run (another --out) to change them")
            }
            session = GenerativeSession(config)
            do { try checkpoint.restore(into: session.trainer) } catch { throw MyelinError.file(path: path, problem: "\(error)") }
            let done = session.trainer.epoch
            let total = o.epochs ?? config.epochs
            guard total > done else { throw CLIError("\(path) has already trained \(done) epochs; pass --epochs above \(done) to train further") }
            config.epochs = total
            if let d = o.data.dataDirectory { config.data.directory = d }
            outFolder = o.out ?? { let f = (path as NSString).deletingLastPathComponent; return f.isEmpty ? "." : f }()
            checkpointPath = try prepareOutputFolder(outFolder, force: o.force, resuming: path)
            print("resuming \(path): \(done) of \(total) epochs done")
        } else {
            guard let preset = o.model?.generativePreset else { throw CLIError("not a generative preset") }
            config = try newConfig(preset)
            outFolder = o.out ?? "run"
            checkpointPath = try prepareOutputFolder(outFolder, force: o.force)
            session = GenerativeSession(config)
        }
        var prepared = try prepareData(config.data)
        if let n = config.trainSamples, n < prepared.train.count { prepared.train = prepared.train.subset(Array(0..<n)) }
        guard prepared.train.count >= config.batchSize else {
            throw CLIError("\(prepared.train.count) training images make no full batch of \(config.batchSize); lower --batch-size")
        }
        guard prepared.train.featureCount == 784 else {
            throw CLIError("--model \(config.preset.rawValue) takes 28×28 images; the data has \(prepared.train.featureCount) features")
        }
        let classifier = try config.classifier.map(Self.loadClassifier)
        session.installValidation(prepared.validation)
        try writeText(session.summary + "\n", to: "\(outFolder)/summary.txt")
        if o.resume == nil { print(session.summary) }
        print("training \(config.preset.rawValue) on \(prepared.train.count) samples, validating on \(prepared.validation?.count ?? 0), \(Threading.threads) thread(s)"
              + (config.noise.map { ", noise \($0.summary)" } ?? ""))
        let metadata = try config.metadata()
        let trainer = session.trainer
        trainer.callbacks = [StepProgressLogger(), MetricCSVLogger(path: "\(outFolder)/history.csv"),
                             MetricPlotter(path: "\(outFolder)/curves.svg", title: "Fashion-MNIST \(config.preset.rawValue)"),
                             StepCheckpointSaver(path: checkpointPath, metadata: { metadata })]
        if session.gan != nil {
            trainer.callbacks.append(EpochHook { t, _ in
                try GenerativePictures.grid(session.fixedSamples(), columns: 10).writePNG(to: "\(outFolder)/samples-epoch-\(t.epoch).png")
            })
        }
        var early: MetricEarlyStopping?
        if let patience = config.earlyStopping, let metric = session.monitoredMetric {
            early = MetricEarlyStopping(monitor: metric, patience: patience)
            trainer.callbacks.insert(early!, at: 0)
        }
        var resumeCommand = "myelin train --resume \(shellQuoted(checkpointPath)) --epochs \(config.epochs)"
        if let d = o.data.dataDirectory { resumeCommand += " --data \(shellQuoted(d))" }
        let interrupt = InterruptHandler(checkpoint: checkpointPath, resumeCommand: resumeCommand, epochs: config.epochs) { [trainer] in trainer.epoch }
        try trainer.fit(prepared.train, epochs: config.epochs)
        interrupt.cancel()
        if let e = early, let restored = e.restoredEpoch {
            print("early stopping\(e.stoppedEpoch.map { " at epoch \($0)" } ?? ""); restored the weights of epoch \(restored) (\(e.monitor) \(String(format: "%.4f", e.best)))")
            try Checkpoint(stepTrainer: trainer, metadata: metadata).save(to: checkpointPath)
        }
        var report = try Self.evaluateAndDraw(session, prepared, classifier: classifier, outFolder: outFolder)
        report.append(exportBundles(session, prepared, outFolder: outFolder))
        try writeText(report.joined(separator: "\n") + "\n", to: "\(outFolder)/evaluation.txt")
        for line in report { print(line) }
    }

    /// Bundles for the C runtime: generator (f32 and int8) of a GAN; autoencoder (the
    /// denoiser), encoder and decoder of the others. A model the runtime cannot run yet is
    /// reported, not an error: the checkpoint holds the training.
    func exportBundles(_ s: GenerativeSession, _ data: PreparedData, outFolder: String) -> String {
        var written: [String] = []
        do {
            let calibration = data.train.inputs.rows(0..<Swift.min(500, data.train.count))
            var bundles = Self.bundles(s, precision: .f32, calibration: calibration)
            if s.gan != nil { bundles += Self.bundles(s, precision: .int8, calibration: calibration) }
            for (part, make) in bundles {
                let name = part + ".myelin"
                try make().write(to: "\(outFolder)/\(name)")
                written.append(name)
            }
            return "exported " + written.joined(separator: ", ")
        } catch {
            return "exported \(written.isEmpty ? "no bundle" : written.joined(separator: ", ")); not exported: \(error)"
        }
    }

    /// The bundles of a session's model in `precision`, each named by its part ("generator";
    /// "autoencoder" or "denoiser", "encoder", "decoder"), with "-f16" or "-int8" appended
    /// below f32. Autoencoders calibrate int8 on `calibration` images `[n, 784]`, decoders
    /// and generators on codes drawn from N(0, I) (seeded by the run's seed).
    static func bundles(_ s: GenerativeSession, precision: BundlePrecision, calibration: Tensor) -> [(part: String, make: () throws -> ModelBundle)] {
        let suffix = precision == .f32 ? "" : "-" + precision.name
        // One generator per precision, as training draws it (the f32 bundles' calibration first).
        let g = Generator(seed: s.config.data.seed &+ 7000)
        if precision == .int8, s.gan != nil { _ = Tensor.randn([256, s.config.latent], generator: g) }
        if let gan = s.gan {
            return [("generator" + suffix, { try GenerativeExport.generator(gan.generatorNet, precision: precision, generator: g) })]
        }
        guard let ae = s.autoencoder else { return [] }
        return [((s.config.noise == nil ? "autoencoder" : "denoiser") + suffix, { try GenerativeExport.autoencoder(ae, precision: precision, calibration: calibration) }),
                ("encoder" + suffix, { try GenerativeExport.encoder(ae, precision: precision, calibration: calibration) }),
                ("decoder" + suffix, { try GenerativeExport.decoder(ae, precision: precision, generator: g) })]
    }

    static func loadClassifier(_ path: String) throws -> CNNFeatureExtractor {
        let loaded = try LoadedRun(path: path)
        guard let cnn = loaded.model as? SimpleCNN else {
            throw CLIError("--classifier \(path): expected a checkpoint of `myelin train --model cnn`, found --model \(loaded.config.architectureName)")
        }
        return CNNFeatureExtractor(cnn)
    }

    /// Test-set measures and pictures (none without `outFolder`: `myelin eval`, whose
    /// measures equal training's, drawing the same random numbers); returns the report lines.
    static func evaluateAndDraw(_ s: GenerativeSession, _ data: PreparedData, classifier: CNNFeatureExtractor?, outFolder: String?) throws -> [String] {
        let c = s.config, test = data.test
        var lines: [String] = []
        var files = ["checkpoint.ckpt", "history.csv", "curves.svg", "summary.txt", "evaluation.txt"]
        func write(_ image: PixelImage, _ name: String) throws {
            guard let outFolder else { return }
            try image.writePNG(to: "\(outFolder)/\(name)")
            files.append(name)
        }
        let shown = test.inputs.rows(0..<16)
        if let ae = s.autoencoder {
            ae.eval()
            let g = Generator(seed: c.data.seed &+ 3000)
            if let vae = ae as? VAE {
                let elbo = vaeELBO(vae, on: test, generator: g)
                lines.append(String(format: "test ELBO %.2f nats per image (reconstruction %.2f, KL %.2f; one z per image, Bernoulli pixels)",
                                    elbo.elbo, elbo.reconstruction, elbo.kl))
                lines.append(String(format: "test reconstruction MSE (posterior mean) %.5f", reconstructionMSE(vae, on: test)))
                try write(GenerativePictures.grid(noGrad { vae.decode(Tensor.randn([100, c.latent], generator: g)) }, columns: 10), "samples.png")
                if c.latent == 2, let outFolder {
                    let points = noGrad { vae.encode(test.inputs) }
                    try writeText(SVGPlot.latentScatter(points, labels: test.labels, classNames: test.classNames,
                                                        title: "VAE latent space (posterior means of \(test.count) test images)"),
                                  to: "\(outFolder)/latent-space.svg")
                    files.append("latent-space.svg")
                    try write(GenerativePictures.grid(noGrad { vae.decode(GenerativePictures.latentLattice(steps: 15, extent: 3)) }, columns: 15), "manifold.png")
                }
            } else {
                lines.append(String(format: "test reconstruction MSE %.5f", reconstructionMSE(ae, on: test)))
            }
            if let noise = c.noise {
                let noisyMSE = reconstructionMSE(IdentityAutoencoder(), on: test, noise: noise, generator: Generator(seed: c.data.seed &+ 4000))
                let denoisedMSE = reconstructionMSE(ae, on: test, noise: noise, generator: Generator(seed: c.data.seed &+ 4000))
                lines.append(String(format: "test MSE with %@ noise: noisy input %.5f, denoised %.5f", noise.summary, noisyMSE, denoisedMSE))
                let noisy = noise.apply(to: shown, generator: Generator(seed: c.data.seed &+ 5000))
                try write(GenerativePictures.rows([shown, noisy, noGrad { ae(noisy) }]), "denoising.png")
            } else {
                try write(GenerativePictures.rows([shown, noGrad { ae(shown) }]), "reconstructions.png")
            }
            // Interpolations between the codes of test images i and i + 8.
            let codes = noGrad { ae.encode(test.inputs.rows(0..<16)) }
            let path = GenerativePictures.interpolate(from: codes.rows(0..<8), to: codes.rows(8..<16), steps: 10)
            try write(GenerativePictures.grid(noGrad { ae.decode(path) }, columns: 10), "interpolations.png")
        } else if let gan = s.gan {
            let g = Generator(seed: c.data.seed &+ 6000)
            try write(GenerativePictures.grid(s.fixedSamples(), columns: 10), "samples.png")
            let a = Tensor.randn([8, c.latent], generator: g), b = Tensor.randn([8, c.latent], generator: g)
            let path = GenerativePictures.interpolate(from: a, to: b, steps: 10)
            let net = gan.generatorNet
            net.eval()
            let labels = net.classes.map { cl in (0..<80).map { ($0 / 10) % cl } }
            try write(GenerativePictures.grid(noGrad { net.generate(path, labels: labels) }, columns: 10), "interpolations.png")
            if let extractor = classifier {
                let count = c.fidSamples
                let requested = net.classes.map { cl in (0..<count).map { $0 % cl } }
                let generated = gan.sample(count, labels: requested, generator: g)
                let real = test.inputs.rows(0..<Swift.min(count, test.count))
                let report = GenerationReport(generated: generated, real: real, extractor: extractor, requestedLabels: requested)
                lines.append("\(count) generated vs \(real.shape[0]) test images: " + report.summary)
                let floor = GenerationReport(generated: data.train.inputs.rows(0..<Swift.min(count, data.train.count)), real: real, extractor: extractor)
                lines.append(String(format: "reference: FID of %d real training images vs the test images %.3f", Swift.min(count, data.train.count), floor.frechetDistance))
            } else {
                lines.append("no FID: pass --classifier CHECKPOINT (from `myelin train --model cnn`) to measure the samples")
            }
        }
        if outFolder != nil { lines.append("wrote " + files.joined(separator: ", ")) }
        return lines
    }
}

/// Returns its input: measures the error of the noisy input itself.
final class IdentityAutoencoder: Autoencoder {
    var isTraining = true
    var codeSize: Int { 784 }
    func encode(_ images: Tensor) -> Tensor { images.rank == 4 ? images.flatten() : images }
    func decode(_ code: Tensor) -> Tensor { code }
    var description: String { "Identity" }
}
