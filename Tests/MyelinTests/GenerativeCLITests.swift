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
}
