import Foundation

/// Bundles of generative models for the C runtime (`examples/c/generate_images.c`,
/// `examples/c/denoise.c`): a generator (latent code → image), an encoder (image → code), a
/// decoder (code → image) and a whole autoencoder (image → reconstruction, the denoiser).
/// Each is traced in evaluation mode and self-tested against the Swift model.
public enum GenerativeExport {
    /// The generator: input "latent" `[latent]` (⊕ one-hot `[classes]` for a cGAN, in the same
    /// input), output "image" `[784]` in (0, 1). `.int8` calibrates on `calibrationCount` codes
    /// from N(0, I) drawn with `generator` (and cycling classes).
    /// Metadata: `generator.latent`, `generator.classes` (0 when unconditional).
    public static func generator(_ net: DCGANGenerator, precision: BundlePrecision = .f32,
                                 calibrationCount: Int = 256, generator: Generator) throws -> ModelBundle {
        let wasTraining = net.isTraining
        net.eval()
        defer { net.train(wasTraining) }
        let z = Tensor.randn([calibrationCount, net.latent], generator: generator)
        let input = net.classes.map { c in Tensor.concat([z, oneHot((0..<calibrationCount).map { $0 % c }, classes: c)], axis: 1) } ?? z
        var options = BundleExporter.Options(precision: precision, calibration: input)
        options.inputShape = [input.shape[1]]
        options.inputPreprocessing = net.classes == nil
            ? "latent code z ~ N(0, I), \(net.latent) floats"
            : "latent code z ~ N(0, I), \(net.latent) floats, then a one-hot class, \(net.classes!) floats"
        options.metadata = [("generator.latent", "\(net.latent)"), ("generator.classes", "\(net.classes ?? 0)"),
                            ("output.postprocessing", "pixels in (0, 1), row-major [28, 28]; × 255 for 8-bit grey")]
        return try BundleExporter.export(net, inputs: [("latent", [input.shape[1]])], outputNames: ["image"], options: options) { [net($0[0])] }
    }

    /// The whole autoencoder: input "image" `[784]`, output "reconstruction" `[784]` (for a
    /// denoising autoencoder: the denoised image). `.int8` calibrates on `calibration` `[n, 784]`.
    public static func autoencoder(_ model: any Autoencoder, precision: BundlePrecision = .f32, calibration: Tensor) throws -> ModelBundle {
        try withEval(model) {
            var options = BundleExporter.Options(precision: precision, calibration: calibration)
            options.inputShape = [784]
            options.inputPreprocessing = "pixels / 255: floats in [0, 1], row-major [28, 28]"
            options.metadata = [("autoencoder.code", "\(model.codeSize)")]
            return try BundleExporter.export(model, inputs: [("image", [784])], outputNames: ["reconstruction"], options: options) { [model($0[0])] }
        }
    }

    /// The encoder: input "image" `[784]`, output "code" `[code]` (a VAE's posterior mean).
    /// `.int8` calibrates on `calibration` `[n, 784]`.
    public static func encoder(_ model: any Autoencoder, precision: BundlePrecision = .f32, calibration: Tensor) throws -> ModelBundle {
        try withEval(model) {
            var options = BundleExporter.Options(precision: precision, calibration: calibration)
            options.inputShape = [784]
            options.inputPreprocessing = "pixels / 255: floats in [0, 1], row-major [28, 28]"
            return try BundleExporter.export(model, inputs: [("image", [784])], outputNames: ["code"], options: options) { [model.encode($0[0])] }
        }
    }

    /// The decoder: input "code" `[code]`, output "image" `[784]` in (0, 1). `.int8`
    /// calibrates on 64 codes from N(0, I) drawn with `generator`.
    public static func decoder(_ model: any Autoencoder, precision: BundlePrecision = .f32, generator: Generator) throws -> ModelBundle {
        try withEval(model) {
            var options = BundleExporter.Options(precision: precision, calibration: Tensor.randn([64, model.codeSize], generator: generator))
            options.inputShape = [model.codeSize]
            options.metadata = [("output.postprocessing", "pixels in (0, 1), row-major [28, 28]")]
            return try BundleExporter.export(model, inputs: [("code", [model.codeSize])], outputNames: ["image"], options: options) { [model.decode($0[0])] }
        }
    }

    static func withEval<T>(_ model: any Module, _ body: () throws -> T) rethrows -> T {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        return try body()
    }
}
