import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// Runs the `myelin` executable as a user would.
final class CLITests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-cli-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func myelin(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try runProduct("myelin", args, directory: dir)
    }

    /// Bad input: one line on standard error, a non-zero exit, no stack trace.
    func testBadArgumentsGiveOneLineErrors() throws {
        let cases: [([String], String)] = [
            (["train", "--dataset", "nope"], "The value 'nope' is invalid for '--dataset <dataset>'"),
            (["train", "--optimizer", "lbfgs"], "The value 'lbfgs' is invalid for '--optimizer <optimizer>'"),
            (["train", "--epochs", "0"], "--epochs must be at least 1, got 0"),
            (["train", "--lr=-1"], "--lr must be positive"),
            (["train", "--bogus"], "Unknown option '--bogus'"),
            (["train", "--dataset", "blobs", "--hidden", "8,x"], "--hidden: expected positive integers separated by commas"),
            (["frobnicate"], "Unexpected argument 'frobnicate'"),
            (["train", "--dataset", "xor", "--batchnorm", "--batch-size", "1"], "--batchnorm needs --batch-size of at least 2"),
            (["train", "--dataset", "xor", "--validation", "0.9999"], "--validation 0.9999 leaves no training samples"),
            (["eval", "missing.ckpt"], "missing.ckpt: no such file"),
            (["train", "--data", "/nonexistent", "--epochs", "1"], "install the dataset with `sudo apt-get install dataset-fashion-mnist`"),
            (["train", "--resume", "missing.ckpt"], "missing.ckpt: no such file"),
        ]
        for (args, expected) in cases {
            let r = try myelin(args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.stderr.hasPrefix("myelin: error: "), "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(expected), "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(args): one line, got \(r.stderr)")
        }
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: "\(dir!)/bad.ckpt"))
        let r = try myelin(["summary", "bad.ckpt"])
        XCTAssertEqual(r.stderr, "myelin: error: bad.ckpt: too short to be a Myelin checkpoint (7 bytes)\n")
    }

    func testTrainEvalSummaryAndResume() throws {
        let common = ["--dataset", "moons", "--hidden", "16,16", "--batch-size", "32", "--lr", "0.01", "--seed", "3", "--threads", "1", "--schedule", "exponential"]
        let full = try myelin(["train"] + common + ["--epochs", "6", "--out", "full"])
        XCTAssertEqual(full.status, 0, full.stderr)
        for file in ["checkpoint.ckpt", "history.csv", "curves.svg", "confusion.svg", "summary.txt", "evaluation.txt"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir!)/full/\(file)"), file)
        }
        let csv = try String(contentsOfFile: "\(dir!)/full/history.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 7)
        let accuracyLine = try XCTUnwrap(full.stdout.split(separator: "\n").last { $0.hasPrefix("test accuracy: ") })
        XCTAssertGreaterThan(Double(accuracyLine.dropFirst(15).dropLast())!, 85, "moons is learnable in 6 epochs")
        XCTAssertTrue(full.stdout.contains("epoch 6/6"))

        let eval = try myelin(["eval", "full/checkpoint.ckpt"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.contains(String(accuracyLine)), "eval reproduces the test accuracy of train")
        XCTAssertTrue(eval.stdout.contains("confusion matrix"))

        let summary = try myelin(["summary", "full/checkpoint.ckpt"])
        XCTAssertEqual(summary.status, 0, summary.stderr)
        XCTAssertTrue(summary.stdout.contains("Linear(in: 2, out: 16)"))
        XCTAssertTrue(summary.stdout.contains("epochs completed: 6 of 6"))

        // Interrupted after 3 epochs, resumed to 6: identical weights to the uninterrupted run
        // (the exponential schedule does not depend on the total epoch count, so both runs share it).
        XCTAssertEqual(try myelin(["train"] + common + ["--epochs", "3", "--out", "part"]).status, 0)
        let resumed = try myelin(["train", "--resume", "part/checkpoint.ckpt", "--epochs", "6", "--out", "part"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming part/checkpoint.ckpt at epoch 3 of 6"))
        let a = try Checkpoint.load(from: "\(dir!)/full/checkpoint.ckpt"), b = try Checkpoint.load(from: "\(dir!)/part/checkpoint.ckpt")
        XCTAssertEqual(b.header.epoch, 6)
        for ((n1, t1), (n2, t2)) in zip(a.modelState.entries, b.modelState.entries) {
            XCTAssertEqual(n1, n2)
            XCTAssertEqual(t1.data, t2.data, "\(n1) differs after resume")
        }
    }

    func testEarlyStoppingAndBatchNormOptions() throws {
        let r = try myelin(["train", "--dataset", "circles", "--hidden", "8", "--batchnorm", "--dropout", "0.1", "--epochs", "60",
                            "--early-stopping", "2", "--lr", "0.05", "--threads", "1", "--out", "es"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("BatchNorm1d(8"))
        XCTAssertTrue(r.stdout.contains("early stopping at epoch"), r.stdout)
    }

    func testSearchRanksAndRetrainsBest() throws {
        let r = try myelin(["search", "--dataset", "moons", "--epochs", "2", "--lr", "0.001,0.05", "--batch-size", "32",
                            "--hidden", "8;16", "--threads", "1", "--csv", "search.csv"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("4 configurations"))
        XCTAssertTrue(r.stdout.contains("rank  val_acc"))
        XCTAssertTrue(r.stdout.contains("best configuration test accuracy:"))
        let csv = try String(contentsOfFile: "\(dir!)/search.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 5)
        let random = try myelin(["search", "--dataset", "xor", "--strategy", "random", "--trials", "2", "--epochs", "1", "--threads", "1"])
        XCTAssertEqual(random.status, 0, random.stderr)
        XCTAssertTrue(random.stdout.contains("2 configurations"))
    }

    func testEnsembleReportsMembersAndAverage() throws {
        let r = try myelin(["ensemble", "--dataset", "blobs", "--members", "3", "--epochs", "2", "--hidden", "8", "--threads", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").filter { $0.hasPrefix("member ") }.count, 3)
        XCTAssertTrue(r.stdout.contains("ensemble of 3 test accuracy:"))
    }

    func testExportAndInspect() throws {
        let train = try myelin(["train", "--dataset", "circles", "--hidden", "16", "--lr", "0.02", "--epochs", "8",
                                "--scaler", "standardize", "--threads", "1", "--out", "run"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let trainedAccuracy = try XCTUnwrap(train.stdout.split(separator: "\n").last { $0.hasPrefix("test accuracy: ") }?.dropFirst(15))
        let trained = try Checkpoint.load(from: "\(dir!)/run/checkpoint.ckpt")
        XCTAssertFalse(trained.header.history.isEmpty)
        for precision in ["f32", "f16", "int8"] {
            let e = try myelin(["export", "run/checkpoint.ckpt", "--precision", precision, "--out", "m-\(precision).myelin"])
            XCTAssertEqual(e.status, 0, e.stderr)
            XCTAssertTrue(e.stdout.hasPrefix("wrote m-\(precision).myelin: \(precision), "), e.stdout)
            // The input scaler is folded into the first Linear: on raw inputs the exported
            // float model scores exactly what the trained model scored on scaled inputs.
            XCTAssertTrue(e.stdout.hasSuffix("test accuracy of the exported float model \(trainedAccuracy)\n"), "\(e.stdout) vs \(trainedAccuracy)")
            let i = try myelin(["inspect", "m-\(precision).myelin"])
            XCTAssertEqual(i.status, 0, i.stderr)
            XCTAssertTrue(i.stdout.contains("precision \(precision)"), i.stdout)
            XCTAssertTrue(i.stdout.contains("dataset = circles"), i.stdout)
            XCTAssertTrue(i.stdout.contains("self-test: 4 vectors, passed"), i.stdout)
        }
        let bundle = try ModelBundle.read(from: "\(dir!)/m-f32.myelin")
        XCTAssertEqual(bundle.precision, .f32)
        let bad = try myelin(["export", "run/checkpoint.ckpt", "--precision", "f64"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1)
        XCTAssertTrue(bad.stderr.contains("--precision must be f32, f16 or int8, got f64"), bad.stderr)
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: "\(dir!)/m-f32.myelin")))
        bytes[bytes.count / 2] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: "\(dir!)/broken.myelin"))
        let broken = try myelin(["inspect", "broken.myelin"])
        XCTAssertNotEqual(broken.status, 0)
        XCTAssertTrue(broken.stderr.hasPrefix("myelin: error: broken.myelin: "), broken.stderr)
        XCTAssertEqual(broken.stderr.split(separator: "\n").count, 1)
        XCTAssertEqual(try myelin(["inspect", "missing.myelin"]).status, 1)
    }

    /// Writes the four IDX files of a tiny MNIST-style dataset with `side`×`side` images.
    func writeTinyIDX(_ folder: String, side: Int) throws {
        try FileManager.default.createDirectory(atPath: "\(dir!)/\(folder)", withIntermediateDirectories: true)
        func idx(_ dims: [Int], _ data: [UInt8]) -> Data {
            var b: [UInt8] = [0, 0, 8, UInt8(dims.count)]
            for d in dims { b += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
            return Data(b + data)
        }
        for (prefix, n) in [("train", 40), ("t10k", 20)] {
            let labels = (0..<n).map { UInt8($0 % 10) }
            let pixels = (0..<(n * side * side)).map { i in UInt8((i / (side * side)) % 10 * 25) }
            try idx([n, side, side], pixels).write(to: URL(fileURLWithPath: "\(dir!)/\(folder)/\(prefix)-images-idx3-ubyte"))
            try idx([n], labels).write(to: URL(fileURLWithPath: "\(dir!)/\(folder)/\(prefix)-labels-idx1-ubyte"))
        }
    }

    /// `--data DIR` reads any MNIST-style folder; data that does not fit a checkpoint's model
    /// is a one-line error, not a crash.
    func testDataFolderOverrideAndMismatchedData() throws {
        try writeTinyIDX("small", side: 4)
        try writeTinyIDX("other", side: 3)
        let train = try myelin(["train", "--data", "small", "--hidden", "8", "--epochs", "2", "--validation", "0", "--threads", "1", "--out", "run"])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("Linear(in: 16, out: 8)"), train.stdout)
        XCTAssertEqual(try myelin(["eval", "run/checkpoint.ckpt"]).status, 0)
        for command in ["eval", "export"] {
            let r = try myelin([command, "run/checkpoint.ckpt", "--data", "other"])
            XCTAssertEqual(r.status, 1, "\(command): \(r.stderr)")
            XCTAssertEqual(r.stderr, "myelin: error: run/checkpoint.ckpt: the model takes 16 input features, the data has 9\n")
        }
    }
}
