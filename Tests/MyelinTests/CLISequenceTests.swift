import Foundation
import XCTest
@testable import Myelin

/// The sequence presets of `myelin train` (issue 12) at tiny sizes: they train with the
/// usual progress, checkpoint, history, curves and resume; the text tasks report bits per
/// character or exact-match accuracy; `myelin generate` samples from a checkpoint.
final class CLISequenceTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-seq-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(dir!)/fortunes", withIntermediateDirectories: true)
        // A tiny fortunes folder: plain files of fortunes separated by lines holding "%", and an index file to skip.
        let sayings = ["A stitch in time saves nine.", "The early bird catches the worm.", "Where there is smoke there is fire.",
                       "Look before you leap.", "Every cloud has a silver lining."]
        var text = ""
        for i in 0..<60 { text += sayings[i % sayings.count] + (i % 3 == 0 ? " Truly.\n" : "\n") + "%\n" }
        try text.write(toFile: "\(dir!)/fortunes/proverbs", atomically: true, encoding: .utf8)
        try Data([0, 1, 2, 0xFF]).write(to: URL(fileURLWithPath: "\(dir!)/fortunes/proverbs.dat"))
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func myelin(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try runProduct("myelin", args, directory: dir)
    }

    func history(_ run: String) throws -> [String] {
        try String(contentsOfFile: "\(dir!)/\(run)/history.csv", encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func testCharLSTMTrainsResumesReportsAndGenerates() throws {
        let train = try myelin(["train", "--dataset", "fortunes", "--model", "char-lstm", "--data", "fortunes", "--width", "24",
                                "--context", "16", "--epochs", "2", "--batch-size", "16", "--lr", "0.01", "--out", "lm", "--threads", "1"])
        XCTAssertEqual(train.status, 0, train.stderr)
        for needle in ["epoch 1/2", "epoch 2/2", "validation: ", "bits per character", "--- sample, temperature 0.5",
                       "wrote lm/checkpoint.ckpt, history.csv, curves.svg"] {
            XCTAssertTrue(train.stdout.contains(needle), "missing \(needle) in:\n\(train.stdout)")
        }
        XCTAssertEqual(try history("lm").count, 3, "header and two epochs")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir!)/lm/curves.svg"))
        // The loss falls: the text is five proverbs, far below the 6.6 bits/char of a uniform guess.
        let bits = try XCTUnwrap(train.stdout.components(separatedBy: "validation: ").last?.split(separator: " ").first.flatMap { Double($0) })
        XCTAssertLessThan(bits, 4.5, train.stdout)
        let resumed = try myelin(["train", "--resume", "lm/checkpoint.ckpt", "--epochs", "3"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try history("lm").count, 4)
        let conflict = try myelin(["train", "--resume", "lm/checkpoint.ckpt", "--epochs", "4", "--width", "32"])
        XCTAssertNotEqual(conflict.status, 0)
        XCTAssertTrue(conflict.stderr.contains("--width 32 (the run has 24)"), conflict.stderr)
        let eval = try myelin(["eval", "lm/checkpoint.ckpt"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.contains("bits per character"), eval.stdout)

        // generate: seeded, the requested length, the prompt kept, and only known characters.
        let args = ["generate", "--checkpoint", "lm/checkpoint.ckpt", "--prompt", "The ", "--length", "40", "--seed", "5", "--top-k", "3"]
        let a = try myelin(args), b = try myelin(args)
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(a.stdout, b.stdout, "a seed fixes the text")
        XCTAssertTrue(a.stdout.hasPrefix("The "), a.stdout)
        XCTAssertEqual(a.stdout.dropLast().unicodeScalars.count, 44, a.stdout)
        let c = try myelin(["generate", "--checkpoint", "lm/checkpoint.ckpt", "--prompt", "The ", "--length", "40", "--seed", "6", "--temperature", "1.5"])
        XCTAssertNotEqual(a.stdout, c.stdout)
        let greedy1 = try myelin(["generate", "--checkpoint", "lm/checkpoint.ckpt", "--length", "30", "--temperature", "0", "--seed", "1"])
        let greedy2 = try myelin(["generate", "--checkpoint", "lm/checkpoint.ckpt", "--length", "30", "--temperature", "0", "--seed", "2"])
        XCTAssertEqual(greedy1.stdout, greedy2.stdout, "temperature 0 ignores the seed")
        let unknown = try myelin(["generate", "--checkpoint", "lm/checkpoint.ckpt", "--prompt", "☃The", "--length", "5"])
        XCTAssertEqual(unknown.status, 0, unknown.stderr)
        XCTAssertTrue(unknown.stderr.contains("1 character(s) of --prompt are not in the model's vocabulary"), unknown.stderr)

        // export: a bundle that reads a window of 16 token ids and carries the vocabulary for generate.c.
        let exported = try myelin(["export", "lm/checkpoint.ckpt", "--out", "lm/lm.myelin"])
        XCTAssertEqual(exported.status, 0, exported.stderr)
        XCTAssertFalse(exported.stdout.contains("accuracy"), exported.stdout)
        let bundle = try ModelBundle.read(from: "\(dir!)/lm/lm.myelin")
        XCTAssertEqual(bundle.values[bundle.inputs[0]].shape, [16])
        let vocabulary = try XCTUnwrap(bundle.metadata("vocabulary.characters"))
        XCTAssertTrue(vocabulary.contains("T") && vocabulary.contains("."), vocabulary)
        XCTAssertNil(bundle.metadata("class_labels"))
        // generate --bundle streams through the runtime's executor: greedy text equals the checkpoint's.
        let fromBundle = try myelin(["generate", "--bundle", "lm/lm.myelin", "--prompt", "The ", "--length", "30", "--temperature", "0"])
        let fromCheckpoint = try myelin(["generate", "--checkpoint", "lm/checkpoint.ckpt", "--prompt", "The ", "--length", "30", "--temperature", "0"])
        XCTAssertEqual(fromBundle.status, 0, fromBundle.stderr)
        XCTAssertEqual(fromBundle.stdout, fromCheckpoint.stdout)
        // int8: the LSTM's recurrent weights i8 (a row of the report), bits per character against float.
        let int8 = try myelin(["export", "lm/checkpoint.ckpt", "--out", "lm/lm-int8.myelin", "--precision", "int8", "--calibration", "64"])
        XCTAssertEqual(int8.status, 0, int8.stderr)
        XCTAssertTrue(int8.stdout.range(of: #"\n  \S+ +lstm +[0-9.]+ .* int8\n"#, options: .regularExpression) != nil, int8.stdout)
        let bitsLine = try XCTUnwrap(int8.stdout.split(separator: "\n").first { $0.hasPrefix("int8 on ") && $0.contains("bits per character") }, int8.stdout)
        let numbers = bitsLine.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: CharacterSet(charactersIn: "()"))) }
        XCTAssertEqual(numbers.count, 3, String(bitsLine))   // windows, int8 bits, float bits
        XCTAssertLessThan(abs(numbers[1] - numbers[2]), 0.05, String(bitsLine))
        XCTAssertFalse(int8.stdout.contains("WARNING: int8 costs"), int8.stdout)
        let int8Bundle = try ModelBundle.read(from: "\(dir!)/lm/lm-int8.myelin")
        XCTAssertTrue(int8Bundle.ops.filter { $0.code == .lstm }.allSatisfy { op in
            op.tensors.count == 6 && int8Bundle.tensors[op.tensors[0]].dtype == BundleDType.i8.rawValue
        })
        let both = try myelin(["generate", "--bundle", "lm/lm.myelin", "--checkpoint", "lm/checkpoint.ckpt"])
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.stderr.contains("give one of --checkpoint or --bundle"), both.stderr)
    }

    func testCharTransformerTrains() throws {
        let train = try myelin(["train", "--dataset", "fortunes", "--model", "char-transformer", "--data", "fortunes", "--width", "16",
                                "--layers", "1", "--context", "16", "--epochs", "1", "--batch-size", "16", "--out", "tf", "--threads", "1"])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("bits per character") && train.stdout.contains("--- sample"), train.stdout)
        let generated = try myelin(["generate", "--checkpoint", "tf/checkpoint.ckpt", "--length", "100", "--prompt", "Look"])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        XCTAssertEqual(generated.stdout.dropLast().unicodeScalars.count, 104, "longer than the 16-character context: the window slides")
    }

    func testSeq2SeqPresetsTrainReportAndTranslate() throws {
        let lstm = try myelin(["train", "--dataset", "dates", "--model", "seq2seq-lstm", "--train-samples", "128", "--width", "16",
                               "--epochs", "1", "--batch-size", "32", "--out", "s2s", "--threads", "1"])
        XCTAssertEqual(lstm.status, 0, lstm.stderr)
        for needle in ["epoch 1/1", "test exact-match accuracy: ", "(2000 held-out dates)", "attention.png: rows are the output characters"] {
            XCTAssertTrue(lstm.stdout.contains(needle), "missing \(needle) in:\n\(lstm.stdout)")
        }
        let png = try Data(contentsOf: URL(fileURLWithPath: "\(dir!)/s2s/attention.png"))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let translated = try myelin(["generate", "--checkpoint", "s2s/checkpoint.ckpt", "--prompt", "3 April 2024"])
        XCTAssertEqual(translated.status, 0, translated.stderr)
        XCTAssertEqual(translated.stdout.split(separator: "\n").count, 1, translated.stdout)
        let bad = try myelin(["generate", "--checkpoint", "s2s/checkpoint.ckpt", "--prompt", "3 April 2024 ☃"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("only letters, digits, spaces"), bad.stderr)
        let tooLong = try myelin(["generate", "--checkpoint", "s2s/checkpoint.ckpt", "--prompt", String(repeating: "1", count: 40)])
        XCTAssertTrue(tooLong.stderr.contains("has 40 characters; the model reads at most 34"), tooLong.stderr)

        let transformer = try myelin(["train", "--dataset", "dates", "--model", "seq2seq-transformer", "--train-samples", "128",
                                      "--width", "16", "--layers", "1", "--epochs", "1", "--batch-size", "32", "--out", "s2t", "--threads", "1"])
        XCTAssertEqual(transformer.status, 0, transformer.stderr)
        XCTAssertTrue(transformer.stdout.contains("test exact-match accuracy: "), transformer.stdout)
        XCTAssertTrue(transformer.stdout.contains("attention.png: rows are the output characters"), transformer.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir!)/s2t/attention.png"))

        // `myelin export` writes a translating bundle (source and target inputs, the token table
        // in the metadata) for both models; it passes its own self-test; int8 too, with its
        // exact-match accuracy against float's.
        for (run, model) in [("s2s", "LSTM"), ("s2t", "Transformer")] {
            let exported = try myelin(["export", "\(run)/checkpoint.ckpt", "--out", "\(run)/dates.myelin"])
            XCTAssertEqual(exported.status, 0, exported.stderr)
            XCTAssertTrue(exported.stdout.contains("inputs source [34] and target [11] token ids"), exported.stdout)
            XCTAssertFalse(exported.stdout.contains("WARNING"), exported.stdout)
            let bundle = try ModelBundle.read(from: "\(dir!)/\(run)/dates.myelin")
            XCTAssertEqual(bundle.inputs.map { bundle.values[$0].name }, ["source", "target"], model)
            XCTAssertTrue(bundle.metadata.contains { $0.key == "seq2seq.characters" && $0.value == String(DateTask.characters) }, model)
            XCTAssertEqual(BundleExecutor(bundle).selfTest()?.passed, true, model)
            let int8 = try myelin(["export", "\(run)/checkpoint.ckpt", "--out", "\(run)/int8.myelin", "--precision", "int8", "--calibration", "64"])
            XCTAssertEqual(int8.status, 0, int8.stderr)
            XCTAssertTrue(int8.stdout.contains("int8 on 2000 test dates: exact match "), int8.stdout)
            let quantized = try ModelBundle.read(from: "\(dir!)/\(run)/int8.myelin")
            XCTAssertTrue(quantized.ops.contains { $0.code == .qlinear } && !quantized.ops.contains { $0.code == .linear }, model)
            if model == "LSTM" { XCTAssertTrue(quantized.ops.filter { $0.code == .lstm }.allSatisfy { $0.tensors.count % 6 == 0 }) }
        }
    }

    func testMismatchedPresetsAndBadOptionsAreRefused() throws {
        let cases: [([String], String)] = [
            (["--dataset", "fortunes"], "--dataset fortunes trains --model char-lstm or char-transformer"),
            (["--dataset", "dates", "--model", "char-lstm"], "--dataset dates trains --model seq2seq-lstm or seq2seq-transformer"),
            (["--model", "seq2seq-lstm"], "--model seq2seq-lstm trains on --dataset dates, not fashion-mnist"),
            (["--model", "mlp", "--width", "8"], "--width, --layers, --context and --train-samples apply to the sequence models"),
            (["--model", "lstm", "--train-samples", "8"], "--train-samples applies to --dataset fortunes or dates"),
            (["--dataset", "dates", "--model", "seq2seq-lstm", "--width", "15"], "--width of seq2seq-lstm must be even"),
            (["--dataset", "dates", "--model", "seq2seq-transformer", "--width", "18"], "must be a multiple of its 4 attention heads"),
            (["--dataset", "dates", "--model", "seq2seq-lstm", "--context", "8"], "--context applies to --model char-lstm or char-transformer"),
            (["--dataset", "fortunes", "--model", "char-lstm", "--layers", "0"], "--layers must be at least 1, got 0"),
        ]
        for (args, message) in cases {
            let r = try myelin(["train"] + args + ["--out", "bad"])
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.stderr.contains(message), "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)")
        }
        let missing = try myelin(["train", "--dataset", "fortunes", "--model", "char-lstm", "--data", "nowhere", "--out", "bad"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("nowhere") && missing.stderr.contains("apt-get install fortunes"), missing.stderr)
        for command in ["search", "ensemble"] {
            let r = try myelin([command, "--dataset", "dates"])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("train the dates models with `myelin train --dataset dates --model seq2seq-lstm`"), r.stderr)
        }
        let notText = try myelin(["generate", "--checkpoint", "nothing.ckpt"])
        XCTAssertNotEqual(notText.status, 0)
        for bad in [["--length", "0"], ["--temperature", "-1"], ["--top-k", "0"]] {
            let r = try myelin(["generate", "--checkpoint", "x.ckpt"] + bad)
            XCTAssertNotEqual(r.status, 0, "\(bad)")
            XCTAssertTrue(r.stderr.contains(bad[0]), r.stderr)
        }
    }

    /// `--model lstm|gru` read Fashion-MNIST-style images row by row (a tiny IDX folder here).
    func testRowByRowClassifiersTrain() throws {
        try FileManager.default.createDirectory(atPath: "\(dir!)/tiny", withIntermediateDirectories: true)
        try writeTinyImageFolder("\(dir!)/tiny")
        for model in ["lstm", "gru"] {
            let r = try myelin(["train", "--model", model, "--data", "tiny", "--width", "8", "--epochs", "1", "--batch-size", "8",
                                "--validation", "0", "--out", model, "--threads", "1"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("test accuracy: "), r.stdout)
            XCTAssertTrue(r.stdout.contains("confusion.svg"), r.stdout)
            let summary = try myelin(["summary", "\(model)/checkpoint.ckpt"])
            XCTAssertTrue(summary.stdout.contains("model: \(model)"), summary.stdout)
        }
    }
}
