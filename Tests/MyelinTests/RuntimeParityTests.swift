import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// The C runtime (libmyelin.so, Embedded Swift) loaded with dlopen, so the test process —
/// which has the full Swift runtime — never links the Embedded object (DESIGN.md, pitfall).
/// The library comes from `MYELIN_LIBRARY` (scripts/test.sh builds it and sets it); else the
/// tests build it themselves into `.build-cmake` of the package (`cmake -S . -B .build-cmake
/// -DCMAKE_BUILD_TYPE=Release`, `cmake --build .build-cmake --target myelin`), once per
/// process and under a file lock so that parallel test processes do not build it twice at
/// once; the build is incremental, so a library older than its sources is rebuilt. If that
/// fails the runtime tests fail with the build's output.
final class RuntimeLibrary {
    typealias LoadMemory = @convention(c) (UnsafeRawPointer?, Int, UnsafeMutablePointer<OpaquePointer?>?) -> Int32
    typealias Free = @convention(c) (OpaquePointer?) -> Void
    typealias ContextCreate = @convention(c) (OpaquePointer?, Int, UnsafeMutablePointer<OpaquePointer?>?) -> Int32
    typealias Run = @convention(c) (OpaquePointer?, UnsafePointer<Float>?, Int, UnsafeMutablePointer<Float>?) -> Int32
    typealias ModelStatus = @convention(c) (OpaquePointer?) -> Int32
    typealias Metadata = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32
    typealias RunMulti = @convention(c) (OpaquePointer?, Int, UnsafePointer<UnsafeRawPointer?>?, UnsafePointer<UnsafeMutableRawPointer?>?) -> Int32
    typealias ArenaSize = @convention(c) (OpaquePointer?, Int, UnsafeMutablePointer<Int>?) -> Int32
    typealias Count = @convention(c) (OpaquePointer?) -> Int
    typealias Find = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, UnsafeMutablePointer<Int>?) -> Int32

    let loadMemory: LoadMemory
    let modelFree: Free
    let contextCreate: ContextCreate
    let contextFree: Free
    let run: Run
    let selfTest: ModelStatus
    let precision: ModelStatus
    let metadata: Metadata
    let runMulti: RunMulti
    let arenaSize: ArenaSize
    let inputCount: Count
    let outputCount: Count
    let findInput: Find

    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Why `shared` is nil (the build's output, or dlopen's error).
    static var loadError = ""

    static let shared: RuntimeLibrary? = {
        let path: String
        if let given = ProcessInfo.processInfo.environment["MYELIN_LIBRARY"] {
            path = given
        } else {
            let build = package.appendingPathComponent(".build-cmake")
            path = build.appendingPathComponent("libmyelin.so").path
            do {
                try ensureBuilt(library: path, lock: build.appendingPathComponent(".myelin-build.lock").path) {
                    try buildRuntime(package: package, build: build)
                }
            } catch {
                loadError = "\(error)"
                return nil
            }
        }
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            loadError = dlerror().map { String(cString: $0) } ?? "dlopen failed"
            return nil
        }
        return RuntimeLibrary(handle)
    }()

    /// Runs `build` holding an exclusive lock on the file `lock` (created with its folder),
    /// so concurrent processes build one after the other; then `library` must exist.
    static func ensureBuilt(library: String, lock: String, build: () throws -> Void) throws {
        try FileManager.default.createDirectory(atPath: (lock as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let fd = open(lock, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BundleError(.io, "cannot open \(lock)") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw BundleError(.io, "cannot lock \(lock)") }
        defer { _ = flock(fd, LOCK_UN) }
        try build()
        guard FileManager.default.fileExists(atPath: library) else { throw BundleError(.io, "\(library) not built") }
    }

    /// Configures (once) and builds the `myelin` target of the package's CMake project.
    static func buildRuntime(package: URL, build: URL) throws {
        func run(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            process.currentDirectoryURL = package
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw BundleError(.io, "libmyelin.so could not be built (\(arguments.joined(separator: " "))):\n\(text)")
            }
        }
        if !FileManager.default.fileExists(atPath: build.appendingPathComponent("CMakeCache.txt").path) {
            try run(["cmake", "-S", package.path, "-B", build.path, "-DCMAKE_BUILD_TYPE=Release"])
        }
        try run(["cmake", "--build", build.path, "--target", "myelin", "-j", ProcessInfo.processInfo.environment["MYELIN_JOBS"] ?? "2"])
    }

    init?(_ handle: UnsafeMutableRawPointer) {
        func symbol<T>(_ name: String, _ type: T.Type) -> T? { dlsym(handle, name).map { unsafeBitCast($0, to: type) } }
        guard let a = symbol("myelin_model_load_memory", LoadMemory.self), let b = symbol("myelin_model_free", Free.self),
              let c = symbol("myelin_context_create", ContextCreate.self), let d = symbol("myelin_context_free", Free.self),
              let e = symbol("myelin_run", Run.self), let f = symbol("myelin_model_selftest", ModelStatus.self),
              let g = symbol("myelin_model_precision", ModelStatus.self), let h = symbol("myelin_model_metadata", Metadata.self),
              let i = symbol("myelin_run_multi", RunMulti.self), let j = symbol("myelin_context_arena_size", ArenaSize.self),
              let k = symbol("myelin_model_input_count", Count.self), let l = symbol("myelin_model_output_count", Count.self),
              let m = symbol("myelin_model_find_input", Find.self)
        else { return nil }
        loadMemory = a; modelFree = b; contextCreate = c; contextFree = d; run = e; selfTest = f; precision = g; metadata = h
        runMulti = i; arenaSize = j; inputCount = k; outputCount = l; findInput = m
    }

    /// The status of loading `bytes` (the model is freed again).
    func loadStatus(_ bytes: [UInt8]) -> Int32 {
        var model: OpaquePointer?
        let status = bytes.withUnsafeBytes { loadMemory($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), $0.count, &model) }
        modelFree(model)
        return status
    }

    /// A loaded model with a context for `maxBatch` samples.
    final class Model {
        let library: RuntimeLibrary
        let handle: OpaquePointer
        let context: OpaquePointer
        let outputSize: Int

        init(_ library: RuntimeLibrary, bytes: [UInt8], maxBatch: Int, outputSize: Int) throws {
            self.library = library
            self.outputSize = outputSize
            var model: OpaquePointer?
            let status = bytes.withUnsafeBytes { library.loadMemory($0.baseAddress, $0.count, &model) }
            guard status == 0, let model else { throw BundleError(BundleStatus(rawValue: status) ?? .corrupt, "runtime refused the bundle") }
            var context: OpaquePointer?
            guard library.contextCreate(model, maxBatch, &context) == 0, let context else {
                library.modelFree(model)
                throw BundleError(.outOfMemory, "runtime context")
            }
            handle = model
            self.context = context
        }

        deinit {
            library.contextFree(context)
            library.modelFree(handle)
        }

        /// Runs `inputs` (`[n × inputSize]`) in batches of `batch`.
        func run(_ inputs: [Float], count n: Int, batch: Int) -> [Float] {
            let inputSize = inputs.count / n
            var out = [Float](repeating: .nan, count: n * outputSize)
            inputs.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { y in
                    var i = 0
                    while i < n {
                        let b = Swift.min(batch, n - i)
                        let status = library.run(context, x.baseAddress! + i * inputSize, b, y.baseAddress! + i * outputSize)
                        precondition(status == 0, "myelin_run failed with \(status)")
                        i += b
                    }
                }
            }
            return out
        }

        var selfTestStatus: Int32 { library.selfTest(handle) }

        /// Runs `batch` samples with `myelin_run_multi`: f32 inputs in graph order, outputs
        /// of the given element counts per sample.
        func runMulti(_ inputs: [[Float]], batch: Int, outputSizes: [Int]) -> (status: Int32, outputs: [[Float]]) {
            var outputs = outputSizes.map { [Float](repeating: .nan, count: batch * $0) }
            let ins = inputs.map { x -> UnsafeMutableRawPointer in
                let p = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, x.count * 4), alignment: 64)
                x.withUnsafeBytes { if $0.count > 0 { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
                return p
            }
            let outs = outputs.map { UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, $0.count * 4), alignment: 64) }
            defer { for p in ins + outs { p.deallocate() } }
            let inPointers: [UnsafeRawPointer?] = ins.map { UnsafeRawPointer($0) }
            let outPointers: [UnsafeMutableRawPointer?] = outs
            let status = library.runMulti(context, batch, inPointers, outPointers)
            for i in outputs.indices {
                outputs[i] = Array(UnsafeBufferPointer(start: outs[i].assumingMemoryBound(to: Float.self), count: outputs[i].count))
            }
            return (status, outputs)
        }

        func metadata(_ key: String) -> String? {
            var value: UnsafePointer<CChar>?
            guard library.metadata(handle, key, &value) == 0, let value else { return nil }
            return String(cString: value)
        }
    }
}

/// The runtime library (built on first use if need be), or a test failure saying why not.
func requireRuntime() throws -> RuntimeLibrary {
    if let library = RuntimeLibrary.shared { return library }
    let message = "libmyelin.so unavailable: \(RuntimeLibrary.loadError)\n(build it with scripts/runtime-build.sh, or set MYELIN_LIBRARY)"
    XCTFail(message)
    throw BundleError(.io, message)
}

/// The issue's parity requirements on Fashion-MNIST: an MLP 784-256-10 trained here for a
/// few hundred Adam steps and exported in every precision, run by the C runtime on the
/// whole test set and compared with the Swift model and the Swift reference executor.
final class RuntimeParityTests: XCTestCase {
    struct Trained {
        let model: Sequential
        let test: Dataset
        let train: Dataset
        let floatOutputs: [Float]
        let floatAccuracy: Double
    }

    static let trained: Trained? = {
        guard let (train, test) = try? FashionMNIST.load() else { return nil }
        let g = Generator(seed: 42)
        let model = Sequential(Linear(784, 256, generator: g), ReLU(), Linear(256, 10, generator: g))
        let optimizer = Adam(model.parameters(), lr: 1e-3)
        let loader = DataLoader(train, batchSize: 64, shuffle: true, generator: g)
        model.train()
        for batch in loader.epoch().prefix(400) {
            optimizer.zeroGrad()
            crossEntropy(model(batch.inputs), batch.labels).backward()
            optimizer.step()
        }
        model.eval()
        let outputs = noGrad { model(test.inputs).data }
        return Trained(model: model, test: test, train: train, floatOutputs: outputs,
                       floatAccuracy: accuracy(outputs, test.labels))
    }()

    static func accuracy(_ scores: [Float], _ labels: [Int]) -> Double {
        Double(zip(argmaxes(scores, classes: 10), labels).filter { $0 == $1 }.count) / Double(labels.count)
    }

    static func argmaxes(_ scores: [Float], classes: Int) -> [Int] {
        stride(from: 0, to: scores.count, by: classes).map { i in
            (0..<classes).max { scores[i + $0] < scores[i + $1] }!
        }
    }

    func trainedModel() throws -> Trained {
        guard let t = Self.trained else {
            let message = "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist; scripts/test.sh does)"
            XCTFail(message)
            throw BundleError(.io, message)
        }
        return t
    }

    func export(_ t: Trained, _ precision: BundlePrecision) throws -> ModelBundle {
        var options = BundleExporter.Options(precision: precision, calibration: t.train.subset(Array(0..<1000)).inputs,
                                             classLabels: t.train.classNames, dataset: "Fashion-MNIST", testAccuracy: t.floatAccuracy)
        options.selfTestInputs = [Tensor(shape: [2, 784], data: Array(t.test.inputs.data.prefix(2 * 784)))]
        return try BundleExporter.export(t.model, options: options)
    }

    /// f32: the runtime matches the Swift model within 1e-5 relative on all 10 000 test
    /// images, in batches of 256 and one image at a time.
    func testF32MatchesSwiftModelOnWholeTestSet() throws {
        let library = try requireRuntime()
        let t = try trainedModel()
        let bundle = try export(t, .f32)
        let runtime = try RuntimeLibrary.Model(library, bytes: bundle.encode(), maxBatch: 256, outputSize: 10)
        XCTAssertEqual(runtime.selfTestStatus, 0)
        XCTAssertEqual(library.precision(runtime.handle), Int32(BundlePrecision.f32.rawValue))
        XCTAssertEqual(runtime.metadata("dataset"), "Fashion-MNIST")
        for batch in [256, 1, 7] {
            let y = runtime.run(t.test.inputs.data, count: t.test.count, batch: batch)
            var worst: Float = 0
            for (a, b) in zip(y, t.floatOutputs) { worst = Swift.max(worst, abs(a - b) / Swift.max(abs(b), 1e-3)) }
            XCTAssertLessThanOrEqual(worst, 1e-5, "batch \(batch): worst relative error \(worst)")
            XCTAssertEqual(Self.accuracy(y, t.test.labels), t.floatAccuracy)
        }
    }

    /// int8: the runtime's VNNI (or portable) kernel gives exactly the Swift reference's
    /// integer arithmetic; argmax agrees with float on ≥ 99% of the test set; accuracy
    /// drops by ≤ 0.5 points; the bundle is ≤ 0.26 of the f32 one before compression.
    func testInt8MatchesIntegerReferenceAndFloat() throws {
        let library = try requireRuntime()
        let t = try trainedModel()
        let int8 = try export(t, .int8), f32 = try export(t, .f32)
        let runtime = try RuntimeLibrary.Model(library, bytes: int8.encode(), maxBatch: 256, outputSize: 10)
        XCTAssertEqual(runtime.selfTestStatus, 0)
        let reference = BundleExecutor(int8).run(t.test.inputs.data, batch: t.test.count)
        for batch in [256, 1, 13] {
            let y = runtime.run(t.test.inputs.data, count: t.test.count, batch: batch)
            XCTAssertEqual(y, reference, "batch \(batch): runtime differs from the Swift integer reference")
        }
        let floatClasses = Self.argmaxes(t.floatOutputs, classes: 10), intClasses = Self.argmaxes(reference, classes: 10)
        let agreement = Double(zip(floatClasses, intClasses).filter { $0 == $1 }.count) / Double(t.test.count)
        XCTAssertGreaterThanOrEqual(agreement, 0.99)
        let drop = t.floatAccuracy - Self.accuracy(reference, t.test.labels)
        XCTAssertLessThanOrEqual(drop, 0.005, "accuracy \(t.floatAccuracy) → \(Self.accuracy(reference, t.test.labels))")
        func size(_ b: ModelBundle) -> Int { b.decodedSectionSizes().reduce(0) { $0 + $1.bytes } }
        XCTAssertLessThanOrEqual(Double(size(int8)) / Double(size(f32)), 0.26)
        print("int8 parity: argmax agreement \(agreement), accuracy \(t.floatAccuracy) → \(t.floatAccuracy - drop), size ratio \(Double(size(int8)) / Double(size(f32)))")
    }

    func testF16MatchesReferenceAndStaysCloseToFloat() throws {
        let library = try requireRuntime()
        let t = try trainedModel()
        let bundle = try export(t, .f16)
        let runtime = try RuntimeLibrary.Model(library, bytes: bundle.encode(), maxBatch: 256, outputSize: 10)
        XCTAssertEqual(runtime.selfTestStatus, 0)
        let y = runtime.run(t.test.inputs.data, count: t.test.count, batch: 256)
        XCTAssertEqual(y, BundleExecutor(bundle).run(t.test.inputs.data, batch: t.test.count))
        let worst = zip(y, t.floatOutputs).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 0.05, "f16 weights move logits by \(worst)")
        XCTAssertGreaterThanOrEqual(Self.accuracy(y, t.test.labels), t.floatAccuracy - 0.002)
    }

    func testSelfTestStatuses() throws {
        let library = try requireRuntime()
        var bundle = try BundleFixtureTests.tinyBundle(.int8)
        var model = try RuntimeLibrary.Model(library, bytes: bundle.encode(), maxBatch: 1, outputSize: 4)
        XCTAssertEqual(model.selfTestStatus, BundleStatus.ok.rawValue)
        bundle.selfTest!.expected[0][5] += 1
        model = try RuntimeLibrary.Model(library, bytes: bundle.encode(), maxBatch: 1, outputSize: 4)
        XCTAssertEqual(model.selfTestStatus, BundleStatus.selfTestFailed.rawValue)
        bundle.selfTest!.expected[0][5] = .nan
        model = try RuntimeLibrary.Model(library, bytes: bundle.encode(), maxBatch: 1, outputSize: 4)
        XCTAssertEqual(model.selfTestStatus, BundleStatus.selfTestFailed.rawValue)
        bundle.selfTest = nil
        model = try RuntimeLibrary.Model(library, bytes: bundle.encode(), maxBatch: 1, outputSize: 4)
        XCTAssertEqual(model.selfTestStatus, BundleStatus.notFound.rawValue)
    }
}
