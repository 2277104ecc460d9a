import Foundation
import XCTest

/// Another SwiftPM package uses Myelin through the README's `Package.swift` lines, built from
/// a temporary folder (about a minute and a half of compiling on two cores).
final class SwiftPMConsumerTests: XCTestCase {
    func testAnotherPackageBuildsAgainstMyelin() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("myelin-consumer-\(UUID().uuidString)")
        let sources = dir.appendingPathComponent("Sources/App")
        try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // A path dependency's package name is its folder's name (README, "Use Myelin from your package").
        let manifest = """
            // swift-tools-version:6.0
            import PackageDescription

            let package = Package(
                name: "App",
                dependencies: [.package(path: "\(root.path)")],
                targets: [
                    .executableTarget(name: "App", dependencies: [.product(name: "Myelin", package: "\(root.lastPathComponent)")],
                                      swiftSettings: [.swiftLanguageMode(.v5)]),
                ]
            )
            """
        try manifest.write(to: dir.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        try """
            import Myelin

            let model = Sequential(Linear(4, 8), ReLU(), Linear(8, 2))
            print("output shape \\(model(Tensor.ones([3, 4])).shape), parameters \\(model.parameterCount)")
            """.write(to: sources.appendingPathComponent("main.swift"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["swift", "run", "--package-path", dir.path, "--scratch-path", dir.appendingPathComponent(".build").path, "App"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, String(text.suffix(2000)))
        XCTAssertTrue(text.contains("output shape [3, 2], parameters 58"), String(text.suffix(2000)))
    }
}
