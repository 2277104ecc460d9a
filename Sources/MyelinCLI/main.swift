import ArgumentParser
import Foundation
import Myelin

/// `myelin`: train, evaluate, inspect and search models from the command line.
struct MyelinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "myelin",
        abstract: "Train neural networks in Swift and export them for the C runtime.",
        version: myelinVersion,
        subcommands: [Train.self, Eval.self, Summary.self, Search.self, EnsembleCommand.self, Export.self, Inspect.self,
                      Generate.self])
}

/// The version of the package (libmyelin's MYELIN_VERSION_STRING in include/myelin.h; a test keeps them equal).
let myelinVersion = "0.1.0"

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write("myelin: error: \(message)\n".data(using: .utf8)!)
    exit(code)
}

/// Levenshtein distance, for "did you mean" suggestions.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var row = Array(0...b.count)   // distances from a[..<i] to every prefix of b
    for (i, ca) in a.enumerated() {
        var diagonal = row[0]
        row[0] = i + 1
        for (j, cb) in b.enumerated() {
            let above = row[j + 1]
            row[j + 1] = Swift.min(above + 1, row[j] + 1, diagonal + (ca == cb ? 0 : 1))
            diagonal = above
        }
    }
    return row[b.count]
}

/// The parser's message on one line: a list of valid values ("Please provide one of the
/// following:" and a bullet per value) is joined with commas instead of being cut off.
func oneLine(_ message: String) -> String {
    let lines = message.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    guard let first = lines.first else { return message }
    let values = lines.dropFirst().filter { $0.hasPrefix("- ") }.map { $0.dropFirst(2) }
    return values.isEmpty ? first : first + " " + values.joined(separator: ", ")
}

// A mistyped command gets a suggestion instead of "Unexpected argument".
let commandNames = MyelinCommand.configuration.subcommands.map { $0._commandName } + ["help"]
if CommandLine.arguments.count > 1, case let word = CommandLine.arguments[1], !word.hasPrefix("-"), !commandNames.contains(word),
   let closest = commandNames.min(by: { editDistance(word, $0) < editDistance(word, $1) }), editDistance(word, closest) <= 2 {
    fail("unknown command '\(word)'; did you mean '\(closest)'? (see 'myelin help')", code: 64)
}

// Line-buffered output, so per-epoch lines appear immediately in logs and pipes.
setvbuf(stdout, nil, _IOLBF, 0)

// Errors print as one line on standard error with a non-zero exit; help prints in full.
do {
    var command = try MyelinCommand.parseAsRoot()
    try command.run()
} catch let error as MyelinError {
    FileHandle.standardError.write("myelin: error: \(error)\n".data(using: .utf8)!)
    exit(1)
} catch let error as TrainingError {
    FileHandle.standardError.write("myelin: error: \(error)\n".data(using: .utf8)!)
    exit(1)
} catch let code as ExitCode {
    exit(code.rawValue)
} catch let error as CLIError {
    FileHandle.standardError.write("myelin: error: \(error)\n".data(using: .utf8)!)
    exit(1)
} catch {
    let code = MyelinCommand.exitCode(for: error)
    if code == .success {
        print(MyelinCommand.fullMessage(for: error))
        exit(0)
    }
    fail("\(oneLine(MyelinCommand.message(for: error))) (see 'myelin help')", code: code.rawValue == 0 ? 1 : code.rawValue)
}
