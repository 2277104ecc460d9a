// Every zoo preset, trained briefly on Fashion-MNIST, exported in f32, f16 and int8 and run by
// libmyelin (the C runtime, loaded with dlopen) over the whole test set: the README's per-model
// table of export quality.
//
//   swift build --product CNNExportBench && bash scripts/runtime-build.sh   (or cmake --build .build-cmake --target myelin)
//   OMP_NUM_THREADS=1 .build/debug/CNNExportBench [STEPS] [LIBMYELIN] [PRESETS...]
//
// Per preset: STEPS Adam steps (default 300, batch 32, lr 2e-3, seed 1, one thread); float test
// accuracy of the Swift model; f32: max relative difference C vs the Swift model (per sample,
// relative to its largest |logit|); int8 (calibration: 1000 training images; layers kept in f32,
// lowest SQNR first, until the calibration agreement reaches MIN_AGREEMENT): accuracy, drop
// against float, argmax agreement with float, and whether C equals the Swift integer
// reference (`BundleExecutor(reference: true)`) on the first 256 images; f16 accuracy;
// bundle sizes as written (compressed); the arena of a batch-1 context against the sum of
// all the graph's values for one sample (what a context without reuse would take).
//
// With CNN_TWIN_DIR set, each preset's trained weights (DIR/NAME.index: "name dims…" lines,
// DIR/NAME.weights: little-endian f32 in that order), its f32 and int8 bundles
// (DIR/NAME-f32.myelin, DIR/NAME-int8.myelin) and the float logits of the first two test
// images (DIR/NAME.expected) and its FLOPs per image (DIR/NAME.flops) are written for bench/cnn-export/twins.py, which builds the
// PyTorch/ONNX twins of ResNet-mini and MobileNet-mini from the same weights.
import Foundation
import Myelin
#if canImport(Glibc)
import Glibc
#endif

typealias LoadMemory = @convention(c) (UnsafeRawPointer?, Int, UnsafeMutablePointer<OpaquePointer?>) -> Int32
typealias Free = @convention(c) (OpaquePointer?) -> Void
typealias ArenaSize = @convention(c) (OpaquePointer?, Int, UnsafeMutablePointer<Int>) -> Int32
typealias ContextCreate = @convention(c) (OpaquePointer?, Int, UnsafeMutablePointer<OpaquePointer?>) -> Int32
typealias Run = @convention(c) (OpaquePointer?, UnsafePointer<Float>?, Int, UnsafeMutablePointer<Float>?) -> Int32

let args = CommandLine.arguments
let steps = args.count > 1 ? Int(args[1])! : 300
let libraryPath = args.count > 2 ? args[2] : ".build-cmake/libmyelin.so"
let presets = args.count > 3 ? Array(args[3...]) : ModelZoo.names
// int8 mixed precision by agreement (BundleExporter's Int8ExportOptions.minimumAgreement) on
// the calibration images: MIN_AGREEMENT (percent, default 99.5; 0 turns it off).
let minimumAgreementPercent = Double(ProcessInfo.processInfo.environment["MIN_AGREEMENT"] ?? "99.5")!
let minimumAgreement = minimumAgreementPercent > 0 ? minimumAgreementPercent / 100 : nil
guard let handle = dlopen(libraryPath, RTLD_NOW) else { fatalError("cannot load \(libraryPath): \(String(cString: dlerror()))") }
func symbol<T>(_ name: String, _: T.Type) -> T { unsafeBitCast(dlsym(handle, name)!, to: T.self) }
let loadMemory = symbol("myelin_model_load_memory", LoadMemory.self)
let modelFree = symbol("myelin_model_free", Free.self)
let arenaSize = symbol("myelin_context_arena_size", ArenaSize.self)
let contextCreate = symbol("myelin_context_create", ContextCreate.self)
let contextFree = symbol("myelin_context_free", Free.self)
let run = symbol("myelin_run", Run.self)

/// Runs `bundle` in libmyelin on `x` (`n` samples) in batches of 256; also the batch-1 arena.
func runC(_ bundle: ModelBundle, _ x: [Float], n: Int, outputs: Int) -> (y: [Float], arena: Int) {
    let bytes = bundle.encode()
    var model: OpaquePointer?
    precondition(bytes.withUnsafeBytes { loadMemory($0.baseAddress, $0.count, &model) } == 0, "libmyelin refused the bundle")
    defer { modelFree(model) }
    var arena = 0
    precondition(arenaSize(model, 1, &arena) == 0)
    var context: OpaquePointer?
    precondition(contextCreate(model, 256, &context) == 0)
    defer { contextFree(context) }
    let inputSize = x.count / n
    var y = [Float](repeating: .nan, count: n * outputs)
    x.withUnsafeBufferPointer { xp in
        y.withUnsafeMutableBufferPointer { yp in
            var i = 0
            while i < n {
                let b = min(256, n - i)
                precondition(run(context, xp.baseAddress! + i * inputSize, b, yp.baseAddress! + i * outputs) == 0)
                i += b
            }
        }
    }
    return (y, arena)
}

func argmaxes(_ v: [Float], _ classes: Int) -> [Int] {
    stride(from: 0, to: v.count, by: classes).map { i in (0..<classes).max { v[i + $0] < v[i + $1] }! }
}
func fraction(_ a: [Int], _ b: [Int]) -> Double { Double(zip(a, b).filter { $0 == $1 }.count) / Double(a.count) }
func maxRelative(_ a: [Float], _ b: [Float], width: Int) -> Float {
    var worst: Float = 0
    for s in stride(from: 0, to: b.count, by: width) {
        var scale: Float = 0, error: Float = 0
        for i in s..<(s + width) { scale = max(scale, abs(b[i])); error = max(error, abs(a[i] - b[i])) }
        worst = max(worst, error / max(scale, 1e-6))
    }
    return worst
}

let (train, test) = try FashionMNIST.load()
let images = test.inputs.reshape([test.count, 1, 28, 28])
print("| model | params | float acc. | f32 C vs Swift (max rel.) | int8 acc. (drop) | int8 agreement | int8 C = Swift int ref. | f16 acc. | bundle f32 / f16 / int8 (KB) | arena b1 / Σ values (KB) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for name in presets {
    let g = Generator(seed: 1)
    let model = ModelZoo.make(name, generator: g)
    let optimizer = Adam(model.parameters(), lr: 2e-3)
    let loader = DataLoader(train, batchSize: 32, shuffle: true, generator: g)
    model.train()
    let start = Date()
    for batch in loader.epoch().prefix(steps) {
        optimizer.zeroGrad()
        crossEntropy(model(batch.inputs.reshape([batch.inputs.shape[0], 1, 28, 28])), batch.labels).backward()
        optimizer.step()
    }
    let trainSeconds = Date().timeIntervalSince(start)
    model.eval()
    let floatScores = noGrad { model(images) }.data
    let floatClasses = argmaxes(floatScores, 10)
    let floatAccuracy = fraction(floatClasses, test.labels)
    let twinDirectory = ProcessInfo.processInfo.environment["CNN_TWIN_DIR"]
    if let dir = twinDirectory {
        var index = "", data = [Float]()
        for (key, t) in model.stateDict().entries {
            index += ([key] + t.shape.map(String.init)).joined(separator: " ") + "\n"
            data += t.data
        }
        try index.write(toFile: "\(dir)/\(name).index", atomically: true, encoding: .utf8)
        try data.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: "\(dir)/\(name).weights"))
        try Array(floatScores[0..<20]).withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: "\(dir)/\(name).expected"))
        let flops = try ModelProfile(model, inputShape: [1, 28, 28]).flops
        try "\(flops)\n".write(toFile: "\(dir)/\(name).flops", atomically: true, encoding: .utf8)
    }
    var row: [String: String] = [:]
    var sizes: [String] = []
    var arenaText = ""
    for precision in [BundlePrecision.f32, .f16, .int8] {
        var options = BundleExporter.Options(precision: precision, classLabels: test.classNames, dataset: "Fashion-MNIST",
                                             testAccuracy: floatAccuracy)
        options.inputShape = [1, 28, 28]
        if precision == .int8 {
            options.calibration = train.inputs.rows(0..<1000).reshape([1000, 1, 28, 28])
            options.int8.minimumAgreement = minimumAgreement
        }
        let (bundle, report) = try BundleExporter.exportWithReport(model, options: options)
        if let report { FileHandle.standardError.write("\(name):\n\(report)\n".data(using: .utf8)!) }
        if let dir = twinDirectory, precision != .f16 { try bundle.write(to: "\(dir)/\(name)-\(precision.name).myelin") }
        sizes.append(String(format: "%.0f", Double(bundle.encode().count) / 1024))
        let (c, arena) = runC(bundle, images.data, n: test.count, outputs: 10)
        let classes = argmaxes(c, 10)
        switch precision {
        case .f32:
            row["f32"] = String(format: "%.1e", maxRelative(c, floatScores, width: 10))
            let values = bundle.values.reduce(0) { $0 + $1.count * (BundleDType(rawValue: $1.dtype)?.size ?? 4) }
            arenaText = String(format: "%.0f / %.0f", Double(arena) / 1024, Double(values) / 1024)
        case .f16:
            row["f16"] = String(format: "%.2f%%", 100 * fraction(classes, test.labels))
        case .int8:
            let accuracy = fraction(classes, test.labels)
            row["int8"] = String(format: "%.2f%% (%+.2f)", 100 * accuracy, 100 * (accuracy - floatAccuracy))
            row["agreement"] = String(format: "%.2f%%", 100 * fraction(classes, floatClasses))
            let n = 256
            let reference = BundleExecutor(bundle, reference: true).run(Array(images.data[0..<(n * 784)]), batch: n)
            let same = Array(c[0..<(n * 10)]) == reference
            row["exact"] = same ? "yes" : String(format: "no (max |Δ| %.2g)", zip(c, reference).map { abs($0 - $1) }.max()!)
        }
    }
    let params = model.parameters().reduce(0) { $0 + $1.count }
    print("| \(name) | \(params) | \(String(format: "%.2f%%", 100 * floatAccuracy)) | \(row["f32"]!) | \(row["int8"]!) | \(row["agreement"]!) | \(row["exact"]!) | \(row["f16"]!) | \(sizes.joined(separator: " / ")) | \(arenaText) |")
    FileHandle.standardError.write("\(name): \(steps) steps in \(String(format: "%.0f", trainSeconds)) s\n".data(using: .utf8)!)
}
