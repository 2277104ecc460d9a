import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// Generator, denoiser, encoder and decoder bundles run by the C runtime give the Swift
/// models' outputs: f32 within 1e-5, int8 exactly the Swift integer reference.
final class GenerativeRuntimeTests: XCTestCase {
    /// A few GAN steps on random images, so BatchNorm's running statistics are not the defaults.
    func trainedGAN(classes: Int?) throws -> GAN {
        let g = Generator(seed: 1)
        let gan = GAN(latent: 8, width: 4, classes: classes, learningRate: 1e-3, generator: g)
        let data = Dataset(inputs: Tensor.uniform([64, 784], generator: g), labels: (0..<64).map { $0 % 10 })
        try gan.makeTrainer(batchSize: 16, generator: g).fit(data, epochs: 2)
        gan.generatorNet.eval()
        return gan
    }

    func maxAbsoluteError(_ a: [Float], _ b: [Float]) -> Float {
        XCTAssertEqual(a.count, b.count)
        return zip(a, b).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
    }

    func testGeneratorBundlesMatchSwiftInC() throws {
        let library = try requireRuntime()
        for classes in [nil, 10] as [Int?] {
            let gan = try trainedGAN(classes: classes)
            let net = gan.generatorNet
            let z = Tensor.randn([32, 8], generator: Generator(seed: 3))
            let input = classes.map { Tensor.concat([z, oneHot((0..<32).map { $0 % 10 }, classes: $0)], axis: 1) } ?? z
            let expected = noGrad { net(input) }.data
            for precision in [BundlePrecision.f32, .int8] {
                let bundle = try GenerativeExport.generator(net, precision: precision, generator: Generator(seed: 4))
                XCTAssertTrue(bundle.ops.contains { $0.code == .convTranspose2d }, "the generator's transposed convolutions are in the bundle")
                let runtime = try RuntimeLibrary.Model(library, bytes: bundle.encode(), maxBatch: 32, outputSize: 784)
                XCTAssertEqual(runtime.metadata("generator.latent"), "8")
                XCTAssertEqual(runtime.metadata("generator.classes"), "\(classes ?? 0)")
                XCTAssertEqual(runtime.selfTestStatus, 0)
                let c = runtime.run(input.data, count: 32, batch: 32)
                if precision == .f32 {
                    XCTAssertLessThanOrEqual(maxAbsoluteError(c, expected), 1e-5, "f32 generator (classes \(classes ?? 0)): C against Swift")
                } else {
                    XCTAssertEqual(c, BundleExecutor(bundle, reference: true).run(input.data, batch: 32), "int8: C equals the Swift integer reference")
                    XCTAssertLessThanOrEqual(maxAbsoluteError(c, expected), 0.05, "int8 generator stays close to float")
                }
            }
        }
    }

    func testAutoencoderBundlesMatchSwiftInC() throws {
        let library = try requireRuntime()
        let g = Generator(seed: 5)
        let ae = ConvAutoencoder(width: 4, code: 6, generator: g)
        let images = Tensor.uniform([20, 784], generator: g)
        ae.eval()
        let cases: [(String, ModelBundle, Tensor, Tensor)] = [
            ("denoiser", try GenerativeExport.autoencoder(ae, calibration: images), images, noGrad { ae(images) }),
            ("encoder", try GenerativeExport.encoder(ae, calibration: images), images, noGrad { ae.encode(images) }),
            ("decoder", try GenerativeExport.decoder(ae, generator: g), noGrad { ae.encode(images) }, noGrad { ae.decode(ae.encode(images)) }),
        ]
        for (name, bundle, input, expected) in cases {
            let runtime = try RuntimeLibrary.Model(library, bytes: bundle.encode(), maxBatch: 20, outputSize: expected.shape[1])
            let c = runtime.run(input.data, count: 20, batch: 20)
            let scale = expected.data.reduce(0) { Swift.max($0, Swift.abs($1)) }
            XCTAssertLessThanOrEqual(maxAbsoluteError(c, expected.data), 1e-5 * Swift.max(1, scale), "\(name): C against Swift")
        }
    }
}

/// The C example programs (examples/c/generate_images.c, denoise.c), built with CMake and run
/// on bundles exported here; their printed figures must equal what Swift computes from the
/// same seeds (the test repeats the programs' splitmix64 / Box–Muller draws).
final class GenerativeExampleTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-gen-examples-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    static let build = RuntimeLibrary.package.appendingPathComponent(".build-cmake")

    /// Builds the two example programs (once per process) and returns the build folder.
    static let built: Result<URL, Error> = Result(catching: {
        try RuntimeLibrary.ensureBuilt(library: build.appendingPathComponent("denoise").path,
                                       lock: build.appendingPathComponent(".myelin-build.lock").path) {
            try RuntimeLibrary.buildRuntime(package: RuntimeLibrary.package, build: build)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["cmake", "--build", build.path, "--target", "generate_images", "denoise", "-j", "2"]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw BundleError(.io, "the C examples did not build") }
        }
        return build
    })

    func runExample(_ name: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let folder = try Self.built.get()
        let process = Process()
        process.executableURL = folder.appendingPathComponent(name)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, o, e)
    }

    /// The C programs' random draws.
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func uniform() -> Double { Double(next() >> 11) / 9_007_199_254_740_992.0 }
        mutating func normal() -> Float {
            let u1 = (Double(next() >> 11) + 1.0) / 9_007_199_254_740_992.0
            return Float((-2.0 * Foundation.log(u1)).squareRoot() * Foundation.cos(6.283185307179586 * uniform()))
        }
    }

    func number(after label: String, in text: String) -> Double? {
        guard let r = text.range(of: label) else { return nil }
        return Double(text[r.upperBound...].prefix { "0123456789.-e".contains($0) })
    }

    func testGenerateImagesFromASeedWithF32AndInt8Generators() throws {
        let g = Generator(seed: 1)
        let gan = GAN(latent: 8, width: 4, classes: 10, learningRate: 1e-3, generator: g)
        try gan.makeTrainer(batchSize: 16, generator: g).fit(Dataset(inputs: Tensor.uniform([64, 784], generator: g), labels: (0..<64).map { $0 % 10 }), epochs: 1)
        let net = gan.generatorNet
        net.eval()
        // The program's codes for seed 42, 16 images, class rows of 8: classes 0 and 1.
        var rng = SplitMix(state: 42)
        var rows: [Float] = []
        for i in 0..<16 {
            rows += (0..<8).map { _ in rng.normal() }
            rows += (0..<10).map { $0 == (i / 8) % 10 ? 1 : 0 }
        }
        let swiftMean = Double(noGrad { net(Tensor(shape: [16, 18], data: rows)) }.data.reduce(0, +)) / Double(16 * 784)
        for precision in [BundlePrecision.f32, .int8] {
            let path = "\(dir!)/generator-\(precision.name).myelin"
            try GenerativeExport.generator(net, precision: precision, generator: Generator(seed: 2)).write(to: path)
            let r = try runExample("generate_images", [path, "42", "\(dir!)/grid-\(precision.name).png", "16"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("16 images from seed 42 (\(precision.name) generator, latent 8, conditional)"), r.stdout)
            let mean = try XCTUnwrap(number(after: "mean pixel ", in: r.stdout), r.stdout)
            XCTAssertEqual(mean, swiftMean, accuracy: precision == .f32 ? 2e-6 : 5e-3, "\(precision.name): C's images against Swift's")
            let png = try XCTUnwrap(FileManager.default.contents(atPath: "\(dir!)/grid-\(precision.name).png"))
            XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            // Width: 8 tiles of 56 pixels and 9 borders; height: 2 rows.
            XCTAssertEqual(Array(png[16..<24]), [0, 0, 0x01, 0xC9, 0, 0, 0, 0x73])
        }
        let bad = try runExample("generate_images", ["\(dir!)/generator-f32.myelin", "1", "\(dir!)/x.png", "4", "12"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("CLASS must be in 0…9"), bad.stderr)
        let notGenerator = "\(dir!)/denoiser.myelin"
        try GenerativeExport.autoencoder(ConvAutoencoder(width: 2, code: 4, generator: g), calibration: Tensor.uniform([8, 784], generator: g)).write(to: notGenerator)
        let wrong = try runExample("generate_images", [notGenerator, "1", "\(dir!)/x.png"])
        XCTAssertTrue(wrong.stderr.contains("is not a generator bundle"), wrong.stderr)
    }

    func testDenoiseReportsTheSwiftErrors() throws {
        let (_, test) = try FashionMNIST.load()
        let g = Generator(seed: 3)
        let ae = ConvAutoencoder(width: 2, code: 8, generator: g)
        ae.eval()
        let path = "\(dir!)/denoiser.myelin"
        try GenerativeExport.autoencoder(ae, calibration: test.inputs.rows(0..<64)).write(to: path)
        let r = try runExample("denoise", [path, "\(dir!)/denoised.png", "masking:0.25", "7"])
        XCTAssertEqual(r.status, 0, r.stderr)
        // The same masking draws in Swift, then the Swift model on every test image.
        var rng = SplitMix(state: 7)
        let noisy = Tensor(shape: test.inputs.shape, data: test.inputs.data.map { rng.uniform() < 0.25 ? 0 : $0 })
        var noisyError = 0.0, denoisedError = 0.0
        for (a, b) in zip(noisy.data, test.inputs.data) { noisyError += Double(a - b) * Double(a - b) }
        for start in stride(from: 0, to: test.count, by: 1000) {
            let out = noGrad { ae(noisy.rows(start..<(start + 1000))) }
            for (a, b) in zip(out.data, test.inputs.data[(start * 784)..<((start + 1000) * 784)]) { denoisedError += Double(a - b) * Double(a - b) }
        }
        let n = Double(test.inputs.count)
        XCTAssertEqual(try XCTUnwrap(number(after: "MSE noisy ", in: r.stdout), r.stdout), noisyError / n, accuracy: 1e-5)
        XCTAssertEqual(try XCTUnwrap(number(after: "denoised ", in: r.stdout), r.stdout), denoisedError / n, accuracy: 1e-5)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir!)/denoised.png"))
        let bad = try runExample("denoise", [path, "\(dir!)/x.png", "salt:0.1"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("NOISE must be gaussian:SIGMA or masking:FRACTION"), bad.stderr)
    }
}
