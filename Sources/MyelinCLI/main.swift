import ArgumentParser
import Foundation
import Myelin

/// `myelin`: train, evaluate, inspect and search models from the command line.
struct MyelinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "myelin",
        abstract: "Train neural networks in Swift and export them for the C runtime.",
        subcommands: [Train.self, Eval.self, Summary.self, Search.self, EnsembleCommand.self, Export.self, Inspect.self])
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
    let message = MyelinCommand.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
    FileHandle.standardError.write("myelin: error: \(message) (see 'myelin help')\n".data(using: .utf8)!)
    exit(code.rawValue == 0 ? 1 : code.rawValue)
}
