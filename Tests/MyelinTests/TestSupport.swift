import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// Central-difference gradient check of `f` at `inputs`.
///
/// The scalar checked is L = Σ f(inputs) ⊙ R for a fixed random R (so every output element's
/// gradient matters). For each input element, the analytic ∂L/∂x from `backward()` must
/// match (L(x+ε) − L(x−ε)) / 2ε within `atol + rtol·|value|`.
func assertGradientsMatch(
    _ name: String, inputs: [Tensor], eps: Float = 1e-2, atol: Float = 5e-3, rtol: Float = 2e-2,
    file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor
) {
    for t in inputs { t.requiresGrad = true; t.zeroGrad() }
    let probe = f(inputs)
    let weights = Tensor.randn(probe.shape, generator: Generator(seed: 99))
    func scalar() -> Double {
        let out = noGrad { f(inputs) }
        var s = 0.0
        for i in 0..<out.count { s += Double(out.data[i]) * Double(weights.data[i]) }
        return s
    }
    (probe * weights).sum().backward()
    var worst: (Float, String) = (0, "")
    for (k, t) in inputs.enumerated() {
        guard let analytic = t.gradStorage else {
            XCTFail("\(name): input \(k) received no gradient", file: file, line: line)
            continue
        }
        for i in 0..<t.count {
            let saved = t.data[i]
            t.data[i] = saved + eps
            let plus = scalar()
            t.data[i] = saved - eps
            let minus = scalar()
            t.data[i] = saved
            let numeric = Float((plus - minus) / Double(2 * eps))
            let err = Swift.abs(numeric - analytic[i])
            let allowed = atol + rtol * Swift.max(Swift.abs(numeric), Swift.abs(analytic[i]))
            if err > allowed && err - allowed > worst.0 {
                worst = (err - allowed, "input \(k) element \(i): analytic \(analytic[i]), numeric \(numeric)")
            }
        }
    }
    if worst.0 > 0 { XCTFail("\(name): gradient mismatch, worst at \(worst.1)", file: file, line: line) }
}

/// Asserts two float arrays are elementwise close.
func assertClose(_ actual: [Float], _ expected: [Float], atol: Float = 1e-5, rtol: Float = 1e-5,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(message): element counts differ", file: file, line: line)
    for i in 0..<Swift.min(actual.count, expected.count) {
        let tol = atol + rtol * Swift.abs(expected[i])
        if !(Swift.abs(actual[i] - expected[i]) <= tol) {
            XCTFail("\(message): element \(i) is \(actual[i]), expected \(expected[i]) (±\(tol))", file: file, line: line)
            return
        }
    }
}

/// Loads Tests/MyelinTests/Fixtures/<name> from the test bundle's resources.
func fixtureURL(_ name: String) -> URL {
    Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil)!
}

/// A deterministic tensor of smooth values away from kinks, for gradient checks.
func smooth(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    Tensor.randn(shape, std: scale, generator: Generator(seed: seed))
}

/// The build products directory holding the package's executables (the test target depends
/// on them, so `swift test` builds them): the directory of the test bundle or its parent.
let productsDirectory: URL = {
    final class Anchor {}
    let testBundle = Bundle(for: Anchor.self).bundleURL
    var candidates = [testBundle.deletingLastPathComponent(), testBundle,
                      Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
    if let executable = Bundle.main.executableURL { candidates.append(executable.deletingLastPathComponent()) }
    candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.appendingPathComponent("LogicGates").path) }
        ?? candidates[0]
}()

/// Runs the package executable `name` and collects its exit status and output.
func runProduct(_ name: String, _ arguments: [String] = [], directory: String? = nil,
                environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let url = productsDirectory.appendingPathComponent(name)
    guard FileManager.default.isExecutableFile(atPath: url.path) else {
        throw MyelinError.file(path: url.path, problem: "executable not built")
    }
    let process = Process()
    process.executableURL = url
    process.arguments = arguments
    if let d = directory { process.currentDirectoryURL = URL(fileURLWithPath: d) }
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let stdout = Pipe(), stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    // Read both pipes concurrently so a chatty process cannot block on a full pipe.
    final class Box: @unchecked Sendable { var data = Data() }
    let errBox = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { errBox.data = stderr.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let outData = stdout.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    let errData = errBox.data
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// A tiny MNIST-style IDX folder at `folder` (which must exist): 40 training and 20 test
/// 28×28 images of 10 classes, each class a distinct grey level with a brighter left half.
func writeTinyImageFolder(_ folder: String) throws {
    func idx(_ dims: [Int], _ data: [UInt8]) -> Data {
        var b: [UInt8] = [0, 0, 8, UInt8(dims.count)]
        for d in dims { b += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
        return Data(b + data)
    }
    for (prefix, n) in [("train", 40), ("t10k", 20)] {
        let pixels: [UInt8] = (0..<(n * 784)).map { (i: Int) -> UInt8 in
            let base: Int = (i / 784) % 10 * 25
            return UInt8(base + (i % 28 < 14 ? 5 : 0))
        }
        try idx([n, 28, 28], pixels).write(to: URL(fileURLWithPath: "\(folder)/\(prefix)-images-idx3-ubyte"))
        try idx([n], (0..<n).map { UInt8($0 % 10) }).write(to: URL(fileURLWithPath: "\(folder)/\(prefix)-labels-idx1-ubyte"))
    }
}

extension InferenceContext {
    /// Runs `model` (one f32 input, one f32 output) on `batch` samples of `input` into `output`,
    /// through the executor the C runtime runs.
    mutating func run(_ model: InferenceModel, batch: Int, input: [Float], output: inout [Float]) {
        input.withUnsafeBytes { x in
            output.withUnsafeMutableBytes { y in
                let ins: [UnsafeRawPointer?] = [x.baseAddress]
                let outs: [UnsafeMutableRawPointer?] = [y.baseAddress]
                run(model, batch: batch, inputs: ins, outputs: outs)
            }
        }
    }
}
