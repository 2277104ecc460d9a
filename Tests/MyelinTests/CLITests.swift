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
            // Enum values are listed, not cut off after "one of the following:".
            (["train", "--optimizer", "lbfgs"], "Please provide one of the following: sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam, adamw"),
            // Negative numbers reach the range checks instead of "Missing value".
            (["train", "--epochs", "-1"], "--epochs must be at least 1, got -1"),
            (["train", "--lr", "-1"], "--lr must be positive, got -1"),
            (["train", "--batch-size", "-5"], "--batch-size must be at least 1, got -5"),
            (["train", "--clip-norm", "-1"], "--clip-norm must be positive, got -1"),
            (["search", "--lr", "-0.1,0.01"], "--lr: expected positive numbers separated by commas"),
            (["ensemble", "--members", "-2"], "--members must be at least 1, got -2"),
            (["export", "x.ckpt", "--self-tests", "-1"], "--self-tests must not be negative, got -1"),
            (["train", "--threads", "1000"], "--threads must be in 1...256, got 1000"),
            (["train", "--threads", "0"], "--threads must be in 1...256, got 0"),
            (["train", "--dataset", "blobs", "--momentum", "0.5"], "--momentum applies to --optimizer momentum or nesterov, not adam"),
            (["train", "--dataset", "blobs", "--gamma", "0.5"], "--gamma applies to --schedule step or exponential, not cosine"),
            (["train", "--dataset", "blobs", "--schedule", "exponential", "--step-size", "2"], "--step-size applies to --schedule step, not exponential"),
            (["train", "--dataset", "blobs", "--min-lr", "0.1"], "--min-lr 0.1 must be below the learning rate 0.001"),
            (["trian", "--dataset", "blobs"], "unknown command 'trian'; did you mean 'train'?"),
            (["serach"], "did you mean 'search'?"),
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
        XCTAssertTrue(resumed.stdout.contains("resuming part/checkpoint.ckpt: 3 of 6 epochs done (the run planned 3), exponential schedule (×0.9 per epoch)"), resumed.stdout)
        let a = try Checkpoint.load(from: "\(dir!)/full/checkpoint.ckpt"), b = try Checkpoint.load(from: "\(dir!)/part/checkpoint.ckpt")
        XCTAssertEqual(b.header.epoch, 6)
        for ((n1, t1), (n2, t2)) in zip(a.modelState.entries, b.modelState.entries) {
            XCTAssertEqual(n1, n2)
            XCTAssertEqual(t1.data, t2.data, "\(n1) differs after resume")
        }
    }

    /// The `lr` column of a checkpoint's history.
    func learningRates(_ path: String) throws -> [Float] {
        try Checkpoint.load(from: "\(dir!)/\(path)").header.history.map { Float($0.learningRate) }
    }

    func weights(_ path: String) throws -> [[Float]] {
        try Checkpoint.load(from: "\(dir!)/\(path)").modelState.entries.map { $0.1.data }
    }

    /// Every training option is in the checkpoint: a resumed run with gradient clipping
    /// equals the uninterrupted one, and `summary` shows clipping and early stopping.
    func testResumeKeepsClipNormAndSummaryShowsIt() throws {
        let common = ["--dataset", "blobs", "--hidden", "8", "--lr", "0.05", "--clip-norm", "0.05", "--schedule", "exponential",
                      "--early-stopping", "5", "--threads", "1"]
        XCTAssertEqual(try myelin(["train"] + common + ["--epochs", "4", "--out", "full"]).status, 0)
        XCTAssertEqual(try myelin(["train"] + common + ["--epochs", "2", "--out", "part"]).status, 0)
        let resumed = try myelin(["train", "--resume", "part/checkpoint.ckpt", "--epochs", "4"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try weights("part/checkpoint.ckpt"), try weights("full/checkpoint.ckpt"), "resumed with the same clipping")
        let summary = try myelin(["summary", "part/checkpoint.ckpt"])
        XCTAssertTrue(summary.stdout.contains("gradient clipping: global L2 norm 0.05; early stopping: patience 5"), summary.stdout)
        XCTAssertTrue(summary.stdout.contains("exponential schedule (×0.9 per epoch)"), summary.stdout)
    }

    /// `--resume` refuses options that contradict the checkpoint, and an `--epochs` that trains nothing.
    func testResumeRefusesConflictsAndEmptyRuns() throws {
        let train = try myelin(["train", "--dataset", "blobs", "--hidden", "8", "--epochs", "2", "--threads", "1"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let cases: [([String], String)] = [
            (["--hidden", "999", "--optimizer", "sgd", "--lr", "0.5", "--batchnorm"],
             "--hidden 999 (the run has 8), --batchnorm (the run has none), --optimizer sgd (the run has adam), --lr 0.5 (the run has 0.001)"),
            (["--clip-norm", "1"], "--clip-norm 1.0 (the run has none)"),
            (["--schedule", "step", "--epochs", "5"], "--schedule step (the run has cosine)"),
            (["--epochs", "1"], "--epochs 1: run/checkpoint.ckpt has already trained 2 epochs; pass --epochs above 2 to train further"),
            ([], "run/checkpoint.ckpt has already completed its 2 epochs; pass --epochs above 2 to train further"),
        ]
        for (args, expected) in cases {
            let r = try myelin(["train", "--resume", "run/checkpoint.ckpt"] + args)
            XCTAssertEqual(r.status, 1, "\(args)")
            XCTAssertTrue(r.stderr.contains(expected), "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(args): \(r.stderr)")
        }
        // Options equal to the run's are accepted.
        let same = try myelin(["train", "--resume", "run/checkpoint.ckpt", "--hidden", "8", "--dataset", "blobs", "--epochs", "3"])
        XCTAssertEqual(same.status, 0, same.stderr)
    }

    /// Extending a cosine run re-plans the curve over the new total (documented in `--help`):
    /// the added epochs get the rates of a run planned that long from the start.
    func testExtendingACosineRunReplansItsSchedule() throws {
        let common = ["--dataset", "blobs", "--hidden", "8", "--lr", "0.01", "--threads", "1"]
        XCTAssertEqual(try myelin(["train"] + common + ["--epochs", "4", "--out", "four"]).status, 0)
        XCTAssertEqual(try myelin(["train"] + common + ["--epochs", "2", "--out", "two"]).status, 0)
        let extended = try myelin(["train", "--resume", "two/checkpoint.ckpt", "--epochs", "4"])
        XCTAssertEqual(extended.status, 0, extended.stderr)
        XCTAssertTrue(extended.stdout.contains("resuming two/checkpoint.ckpt: 2 of 4 epochs done (the run planned 2), cosine schedule over 4 epochs to lr 0, re-planned from 2 epochs; learning rate for epoch 3: 0.005"),
                      extended.stdout)
        XCTAssertEqual(Array(try learningRates("two/checkpoint.ckpt").suffix(2)), Array(try learningRates("four/checkpoint.ckpt").suffix(2)))
        XCTAssertEqual(try learningRates("two/checkpoint.ckpt").prefix(2), [0.01, 0.005])
        let help = try myelin(["train", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        XCTAssertTrue(help.contains("extending a cosine run re-plans the curve over N epochs"), help)
    }

    /// `train` does not replace an existing checkpoint unless told to.
    func testTrainRefusesToOverwriteACheckpoint() throws {
        let args = ["train", "--dataset", "blobs", "--hidden", "4", "--epochs", "1", "--threads", "1"]
        XCTAssertEqual(try myelin(args).status, 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(dir!)/run/checkpoint.ckpt"))
        let again = try myelin(args + ["--seed", "5"])
        XCTAssertEqual(again.status, 1)
        XCTAssertEqual(again.stderr, "myelin: error: run/checkpoint.ckpt already exists: continue it with `myelin train --resume run/checkpoint.ckpt`, overwrite it with --force, or choose another --out\n")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(dir!)/run/checkpoint.ckpt")), before)
        XCTAssertEqual(try myelin(args + ["--seed", "5", "--force"]).status, 0)
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: "\(dir!)/run/checkpoint.ckpt")), before)
    }

    /// AdamW defaults to weight decay 0.01; schedule parameters are options and are stored.
    func testAdamWDefaultAndScheduleOptions() throws {
        XCTAssertEqual(try myelin(["train", "--dataset", "blobs", "--hidden", "4", "--epochs", "1", "--optimizer", "adamw", "--out", "w"]).status, 0)
        XCTAssertTrue(try myelin(["summary", "w/checkpoint.ckpt"]).stdout.contains("optimizer: adamw lr 0.001 weight decay 0.01"))
        let step = try myelin(["train", "--dataset", "blobs", "--hidden", "4", "--epochs", "4", "--lr", "0.01", "--schedule", "step",
                               "--step-size", "2", "--gamma", "0.5", "--out", "s"])
        XCTAssertEqual(step.status, 0, step.stderr)
        XCTAssertEqual(try learningRates("s/checkpoint.ckpt"), [0.01, 0.01, 0.005, 0.005])
        let cosine = try myelin(["train", "--dataset", "blobs", "--hidden", "4", "--epochs", "2", "--lr", "0.01", "--min-lr", "0.002", "--out", "c"])
        XCTAssertEqual(cosine.status, 0, cosine.stderr)
        XCTAssertEqual(try learningRates("c/checkpoint.ckpt"), [0.01, 0.006])
        let exponential = try myelin(["train", "--dataset", "blobs", "--hidden", "4", "--epochs", "2", "--lr", "0.01", "--schedule", "exponential",
                                      "--gamma", "0.5", "--out", "e"])
        XCTAssertEqual(exponential.status, 0, exponential.stderr)
        XCTAssertEqual(try learningRates("e/checkpoint.ckpt"), [0.01, 0.005])
    }

    /// `--version`, `--threads` help, `inspect` of a checkpoint, `export` into a new folder.
    func testVersionHelpInspectAndExportMessages() throws {
        let header = try String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../include/myelin.h").path, encoding: .utf8)
        let version = try XCTUnwrap(header.split(separator: "\n").first { $0.hasPrefix("#define MYELIN_VERSION_STRING") }?.split(separator: "\"")[1])
        let v = try myelin(["--version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertEqual(v.stdout, "\(version)\n")
        let help = try myelin(["train", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        XCTAssertTrue(help.contains("Threads for large matrix multiplies, 1 to 256 (default: all cores). --"), help)
        XCTAssertEqual(try myelin(["train", "--dataset", "blobs", "--hidden", "4", "--epochs", "1", "--threads", "1"]).status, 0)
        let inspect = try myelin(["inspect", "run/checkpoint.ckpt"])
        XCTAssertEqual(inspect.status, 1)
        XCTAssertEqual(inspect.stderr, "myelin: error: run/checkpoint.ckpt is a training checkpoint, not a bundle: export it with `myelin export run/checkpoint.ckpt`\n")
        let export = try myelin(["export", "run/checkpoint.ckpt", "--out", "bundles/new/model.myelin"])
        XCTAssertEqual(export.status, 0, export.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir!)/bundles/new/model.myelin"))
    }

    /// Ctrl-C prints the exact command that continues the run.
    func testInterruptPrintsTheResumeCommand() throws {
        let process = Process()
        process.executableURL = productsDirectory.appendingPathComponent("myelin")
        process.arguments = ["train", "--dataset", "blobs", "--hidden", "4", "--epochs", "1000000", "--threads", "1", "--out", "long run"]
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let checkpoint = "\(dir!)/long run/checkpoint.ckpt"
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: checkpoint) && Date() < deadline { usleep(20_000) }
        process.interrupt()
        process.waitUntilExit()
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 130, message)
        XCTAssertTrue(message.contains("interrupted: long run/checkpoint.ckpt holds epoch "), message)
        XCTAssertTrue(message.hasSuffix("; resume with: myelin train --resume 'long run/checkpoint.ckpt' --epochs 1000000\n"), message)
        XCTAssertGreaterThanOrEqual(try Checkpoint.load(from: checkpoint).header.epoch, 1)
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

    /// `search --out` keeps the retrained best model; outputs are checked before the first trial.
    func testSearchSavesTheBestAndChecksOutputsFirst() throws {
        let args = ["search", "--dataset", "blobs", "--epochs", "1", "--lr", "0.001,0.05", "--batch-size", "32", "--hidden", "4", "--threads", "1"]
        let r = try myelin(args + ["--out", "best"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("wrote best/checkpoint.ckpt"), r.stdout)
        let testAccuracy = try XCTUnwrap(r.stdout.split(separator: "\n").last { $0.hasPrefix("best configuration test accuracy: ") }?.split(separator: " ").last)
        let eval = try myelin(["eval", "best/checkpoint.ckpt"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.contains("test accuracy: \(testAccuracy)"), "\(eval.stdout) vs \(testAccuracy)")
        for bad in [["--csv", "missing/results.csv"], ["--out", "best"]] {
            let refused = try myelin(args + bad)
            XCTAssertEqual(refused.status, 1, "\(bad)")
            XCTAssertFalse(refused.stdout.contains("[1/2]"), "\(bad): refused before training: \(refused.stdout)")
            XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
        }
        XCTAssertTrue(try myelin(args + ["--csv", "missing/results.csv"]).stderr.contains("missing/results.csv: cannot write: folder missing does not exist"))
    }

    func testEnsembleSavesItsMembers() throws {
        let r = try myelin(["ensemble", "--dataset", "blobs", "--members", "2", "--epochs", "1", "--hidden", "4", "--threads", "1", "--out", "bag"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for k in 1...2 {
            let eval = try myelin(["eval", "bag/member-\(k).ckpt"])
            XCTAssertEqual(eval.status, 0, eval.stderr)
            let member = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("member \(k) test accuracy: ") }?.split(separator: " ").last)
            XCTAssertTrue(eval.stdout.contains("test accuracy: \(member)"), eval.stdout)
        }
        let again = try myelin(["ensemble", "--dataset", "blobs", "--members", "2", "--epochs", "1", "--hidden", "4", "--out", "bag"])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stderr.contains("bag/member-1.ckpt already exists"), again.stderr)
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
            // The input scaler is an op in front of the model: on raw inputs the exported
            // float model scores exactly what the trained model scored on scaled inputs.
            XCTAssertTrue(e.stdout.split(separator: "\n")[0].hasSuffix("test accuracy of the exported float model \(trainedAccuracy)"), "\(e.stdout) vs \(trainedAccuracy)")
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
