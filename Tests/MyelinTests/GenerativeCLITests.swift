import Foundation
import XCTest
@testable import Myelin

/// `myelin train --model autoencoder|…|cgan` as a user runs it (on a few hundred
/// Fashion-MNIST images, so it takes seconds).
final class GenerativeCLITests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-gen-cli-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func myelin(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try runProduct("myelin", args, directory: dir)
    }

    func testOptionsThatDoNotApplyAreRefused() throws {
        let cases: [([String], String)] = [
            (["train", "--model", "vae", "--noise", "masking"], "--noise and --noise-level apply to --model denoising-autoencoder"),
            (["train", "--model", "denoising-autoencoder", "--noise", "masking", "--noise-level", "1.5"], "--noise-level must be in [0, 1] for masking, got 1.5"),
            (["train", "--model", "dcgan", "--optimizer", "sgd"], "--optimizer do not apply to --model dcgan"),
            (["train", "--model", "dcgan", "--early-stopping", "2"], "GAN runs do not stop early"),
            (["train", "--model", "vae2d", "--latent", "8"], "--model vae2d has a 2-D latent space"),
            (["train", "--model", "vae", "--classifier", "x.ckpt"], "--classifier and --fid-samples measure GANs"),
            (["train", "--model", "autoencoder", "--width", "8"], "--width applies to convolutional models"),
            (["train", "--model", "cgan", "--dataset", "xor"], "trains on 28×28 images"),
            (["train", "--model", "dcgan", "--latent", "0"], "--latent must be at least 1, got 0"),
            (["train", "--model", "conv-autoencoder", "--train-samples", "10"], "--train-samples 10 makes no full batch of 64"),
        ]
        for (args, expected) in cases {
            let r = try myelin(args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.stderr.contains(expected), "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count, 1, "\(args): \(r.stderr)")
        }
    }

    func testVAE2dRunDrawsItsLatentSpaceAndResumes() throws {
        let out = "\(dir!)/vae2d"
        let r = try myelin(["train", "--model", "vae2d", "--train-samples", "256", "--validation", "0.01", "--epochs", "1",
                            "--threads", "1", "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("test ELBO"), r.stdout)
        for file in ["checkpoint.ckpt", "history.csv", "curves.svg", "summary.txt", "evaluation.txt", "samples.png",
                     "latent-space.svg", "manifold.png", "reconstructions.png", "interpolations.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(file)"), file)
        }
        let scatter = try String(contentsOfFile: "\(out)/latent-space.svg", encoding: .utf8)
        XCTAssertEqual(scatter.components(separatedBy: "class=\"point\"").count - 1, 10_000, "one point per test image")
        XCTAssertTrue(scatter.contains("Ankle boot"))
        let csv = try String(contentsOfFile: "\(out)/history.csv", encoding: .utf8)
        XCTAssertTrue(csv.hasPrefix("epoch,loss,reconstruction,kl,val_loss,seconds\n1,"), csv)

        let resumed = try myelin(["train", "--resume", "\(out)/checkpoint.ckpt", "--epochs", "2"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming \(out)/checkpoint.ckpt: 1 of 2 epochs done"), resumed.stdout)
        XCTAssertTrue(resumed.stdout.contains("epoch 2/2"), resumed.stdout)
        let lines = try String(contentsOfFile: "\(out)/history.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(lines[1], csv.split(separator: "\n")[1], "the first epoch's row is kept")
        let again = try myelin(["train", "--resume", "\(out)/checkpoint.ckpt", "--epochs", "2"])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("has already trained 2 epochs"), again.stderr)
    }

    func file(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(dir!)/\(path)"))) }

    /// The measure lines of a training run's evaluation.txt (not the file lists).
    func measureLines(_ folder: String) throws -> [String] {
        try String(contentsOfFile: "\(dir!)/\(folder)/evaluation.txt", encoding: .utf8).split(separator: "\n").map(String.init)
            .filter { !$0.hasPrefix("wrote ") && !$0.hasPrefix("exported ") }
    }

    /// A denoising autoencoder's checkpoint: `eval` prints training's measures, `summary` its
    /// network and options, `export` writes the bundles training writes (f32: the same bytes;
    /// int8 and f16: self-testing bundles of the same graph), and `--resume` refuses every
    /// option that differs from the run, naming the option and both values.
    func testDenoisingAutoencoderCheckpointWithEvalSummaryExportAndResume() throws {
        try FileManager.default.createDirectory(atPath: "\(dir!)/tiny", withIntermediateDirectories: true)
        try writeTinyImageFolder("\(dir!)/tiny")
        let train = try myelin(["train", "--model", "denoising-autoencoder", "--data", "tiny", "--batch-size", "8", "--validation", "0",
                                "--epochs", "1", "--latent", "4", "--threads", "1", "--out", "dae"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let measures = try measureLines("dae")
        XCTAssertTrue(measures.contains { $0.hasPrefix("test reconstruction MSE") }, "\(measures)")
        XCTAssertTrue(measures.contains { $0.hasPrefix("test MSE with gaussian") }, "\(measures)")

        let eval = try myelin(["eval", "dae/checkpoint.ckpt", "--data", "tiny"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let evalLines = eval.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(evalLines.first?.hasPrefix("checkpoint: dae/checkpoint.ckpt (denoising-autoencoder, epoch 1") == true, eval.stdout)
        XCTAssertEqual(Array(evalLines.dropFirst()), measures, "eval repeats training's measures exactly")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/reconstructions.png"), "eval draws nothing")
        let fid = try myelin(["eval", "dae/checkpoint.ckpt", "--data", "tiny", "--fid-samples", "10"])
        XCTAssertNotEqual(fid.status, 0)
        XCTAssertTrue(fid.stderr.contains("--fid-samples and --classifier measure GANs"), fid.stderr)

        let summary = try myelin(["summary", "dae/checkpoint.ckpt"])
        XCTAssertEqual(summary.status, 0, summary.stderr)
        let trainedSummary = try String(contentsOfFile: "\(dir!)/dae/summary.txt", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(summary.stdout.contains(trainedSummary), "the networks' layers and parameters:\n\(summary.stdout)")
        for needle in ["model: denoising-autoencoder", "autoencoder: ", "latent 4, width 16, training noise gaussian σ=0.3", "batch 8",
                       "epochs completed: 1 of 1", "epoch 1/1"] {
            XCTAssertTrue(summary.stdout.contains(needle), "missing \(needle) in:\n\(summary.stdout)")
        }

        let f32 = try myelin(["export", "dae/checkpoint.ckpt", "--data", "tiny", "--out", "bundles/dae.myelin"])
        XCTAssertEqual(f32.status, 0, f32.stderr)
        for part in ["denoiser", "encoder", "decoder"] {
            XCTAssertTrue(f32.stdout.contains("wrote bundles/dae-\(part).myelin: f32"), f32.stdout)
            XCTAssertEqual(try file("bundles/dae-\(part).myelin"), try file("dae/\(part).myelin"), "\(part): the bundle training wrote")
        }
        for precision in ["int8", "f16"] {
            let r = try myelin(["export", "dae/checkpoint.ckpt", "--data", "tiny", "--precision", precision, "--out", "\(precision)/dae.myelin"])
            XCTAssertEqual(r.status, 0, r.stderr)
            for part in ["denoiser", "encoder", "decoder"] {
                let bundle = try ModelBundle(decoding: try file("\(precision)/dae-\(part).myelin"))
                XCTAssertEqual(bundle.precision.name, precision, part)
                let trained = try ModelBundle(decoding: try file("dae/\(part).myelin"))
                XCTAssertEqual(bundle.inputSize, trained.inputSize, part)
                XCTAssertEqual(bundle.outputSize, trained.outputSize, part)
                let check = try XCTUnwrap(BundleExecutor(bundle).selfTest(), "\(precision) \(part) has self-test vectors")
                XCTAssertTrue(check.passed, "\(precision) \(part): max error \(check.maxError)")
            }
        }

        // --resume: every option of the run may only be repeated, not changed.
        let conflicts: [([String], String)] = [
            (["--model", "vae"], "--model vae (the run has denoising-autoencoder)"),
            (["--latent", "8"], "--latent 8 (the run has 4)"),
            (["--noise", "masking"], "--noise masking (the run has gaussian)"),
            (["--noise-level", "0.5"], "--noise-level 0.5 (the run has 0.3)"),
            (["--batch-size", "16"], "--batch-size 16 (the run has 8)"),
            (["--lr", "0.01"], "--lr 0.01 (the run has 0.001)"),
            (["--seed", "3"], "--seed 3 (the run has 0)"),
            (["--validation", "0.2"], "--validation 0.2 (the run has 0.0)"),
            (["--dataset", "xor"], "--dataset xor (the run has fashion-mnist)"),
            (["--width", "8"], "--width 8 (the run has 16)"),
            (["--train-samples", "32"], "--train-samples 32 (the run has none)"),
            (["--clip-norm", "1"], "--clip-norm 1.0 (the run has none)"),
            (["--optimizer", "sgd"], "--optimizer sgd (the run has adam)"),
            (["--schedule", "step"], "--schedule step (the run has none)"),
        ]
        for (args, expected) in conflicts {
            let r = try myelin(["train", "--resume", "dae/checkpoint.ckpt", "--epochs", "2", "--data", "tiny"] + args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.stderr.contains("these differ: \(expected); train a new run"), "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count, 1, "\(args): \(r.stderr)")
        }
        // Repeating the run's own options is no conflict.
        let same = try myelin(["train", "--resume", "dae/checkpoint.ckpt", "--epochs", "2", "--data", "tiny", "--latent", "4",
                               "--noise", "gaussian", "--batch-size", "8", "--model", "denoising-autoencoder", "--threads", "1"])
        XCTAssertEqual(same.status, 0, same.stderr)
        XCTAssertTrue(same.stdout.contains("1 of 2 epochs done"), same.stdout)
    }

    /// A DCGAN's checkpoint: `eval` measures FID and class evenness with the run's classifier
    /// on the run's sample count (training's figures) or on `--fid-samples`; `summary` shows
    /// both networks; `export` writes the generator training writes, f32 and int8.
    func testGANCheckpointWithEvalSummaryAndExport() throws {
        try FileManager.default.createDirectory(atPath: "\(dir!)/tiny", withIntermediateDirectories: true)
        try writeTinyImageFolder("\(dir!)/tiny")
        let cnn = try myelin(["train", "--model", "cnn", "--data", "tiny", "--epochs", "1", "--batch-size", "8", "--validation", "0",
                              "--threads", "1", "--out", "cnn"])
        XCTAssertEqual(cnn.status, 0, cnn.stderr)
        let train = try myelin(["train", "--model", "dcgan", "--data", "tiny", "--batch-size", "8", "--epochs", "1", "--latent", "4",
                                "--width", "4", "--threads", "1", "--classifier", "cnn/checkpoint.ckpt", "--fid-samples", "16", "--out", "gan"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let measures = try measureLines("gan")
        XCTAssertTrue(measures.contains { $0.hasPrefix("16 generated vs 16 test images: ") }, "\(measures)")

        let eval = try myelin(["eval", "gan/checkpoint.ckpt", "--data", "tiny"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertEqual(Array(eval.stdout.split(separator: "\n").map(String.init).dropFirst()), measures, "eval repeats training's measures")
        let fewer = try myelin(["eval", "gan/checkpoint.ckpt", "--data", "tiny", "--fid-samples", "12"])
        XCTAssertEqual(fewer.status, 0, fewer.stderr)
        XCTAssertTrue(fewer.stdout.contains("12 generated vs 12 test images: "), fewer.stdout)
        XCTAssertTrue(fewer.stdout.contains("FID"), fewer.stdout)
        XCTAssertFalse(fewer.stdout.contains("16 generated"), fewer.stdout)
        let tooFew = try myelin(["eval", "gan/checkpoint.ckpt", "--fid-samples", "1"])
        XCTAssertNotEqual(tooFew.status, 0)
        XCTAssertTrue(tooFew.stderr.contains("--fid-samples must be at least 2, got 1"), tooFew.stderr)

        let summary = try myelin(["summary", "gan/checkpoint.ckpt"])
        XCTAssertEqual(summary.status, 0, summary.stderr)
        for needle in ["model: dcgan (generative; 2 networks", "generator: ", "discriminator: ", "latent 4, width 4",
                       "FID: 16 images, classifier ", "epochs completed: 1 of 1"] {
            XCTAssertTrue(summary.stdout.contains(needle), "missing \(needle) in:\n\(summary.stdout)")
        }

        for (precision, trained) in [("f32", "generator.myelin"), ("int8", "generator-int8.myelin")] {
            let r = try myelin(["export", "gan/checkpoint.ckpt", "--data", "tiny", "--precision", precision, "--out", "\(precision)/gan.myelin"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try file("\(precision)/gan-generator.myelin"), try file("gan/\(trained)"), "\(precision): the bundle training wrote")
        }
        let keep = try myelin(["export", "gan/checkpoint.ckpt", "--precision", "int8", "--keep-float", "x"])
        XCTAssertNotEqual(keep.status, 0)
        XCTAssertTrue(keep.stderr.contains("--keep-float, --min-sqnr and --min-agreement apply to classifier checkpoints"), keep.stderr)
    }

    /// A damaged generative checkpoint: eval, summary and export refuse it with one line
    /// naming the file, whether its run configuration is unreadable, disagrees with the
    /// stored weights, or the file is cut short.
    func testDamagedGenerativeCheckpointsAreRefusedClearly() throws {
        try FileManager.default.createDirectory(atPath: "\(dir!)/tiny", withIntermediateDirectories: true)
        try writeTinyImageFolder("\(dir!)/tiny")
        let train = try myelin(["train", "--model", "autoencoder", "--data", "tiny", "--batch-size", "8", "--validation", "0",
                                "--epochs", "1", "--latent", "4", "--threads", "1", "--out", "ae"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let good = try Checkpoint.load(from: "\(dir!)/ae/checkpoint.ckpt")
        let json = try XCTUnwrap(good.header.metadata["myelin.generative"])
        XCTAssertTrue(json.contains("\"latent\":4"), json)
        var garbled = good
        garbled.header.metadata["myelin.generative"] = "{not json"
        try garbled.save(to: "\(dir!)/garbled.ckpt")
        var mismatched = good
        mismatched.header.metadata["myelin.generative"] = json.replacingOccurrences(of: "\"latent\":4", with: "\"latent\":5")
        try mismatched.save(to: "\(dir!)/mismatched.ckpt")
        let bytes = try file("ae/checkpoint.ckpt")
        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: "\(dir!)/truncated.ckpt"))
        let cases: [(String, String)] = [("garbled.ckpt", "garbled.ckpt: not a checkpoint of a generative run"),
                                         ("mismatched.ckpt", "mismatched.ckpt"), ("truncated.ckpt", "truncated.ckpt")]
        for (name, expected) in cases {
            for command in [["eval", name, "--data", "tiny"], ["summary", name], ["export", name, "--data", "tiny", "--out", "x/\(name).myelin"]] {
                let r = try myelin(command)
                XCTAssertNotEqual(r.status, 0, "\(command)")
                XCTAssertTrue(r.stderr.hasPrefix("myelin: error: ") && r.stderr.contains(expected), "\(command): \(r.stderr)")
                XCTAssertEqual(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count, 1, "\(command): \(r.stderr)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir!)/x"), "nothing is exported from a damaged checkpoint")
    }
}
