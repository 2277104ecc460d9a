// Trains the benchmark model — MLP 784-256-10 on Fashion-MNIST, Adam lr 1e-3, batch 64,
// as ../shared/anchors/torch_train.py does — and exports it as f32, f16 and int8 bundles
// (int8 calibrated on 1000 training samples), and a CNN (below). Prints each bundle's size and its accuracy
// under the Swift reference executor.
//
//   swift run -c release MyelinRuntimeModels OUT_DIR [EPOCHS]
import Foundation
import Myelin

let args = CommandLine.arguments
guard args.count >= 2 else {
    FileHandle.standardError.write("usage: MyelinRuntimeModels OUT_DIR [EPOCHS]\n".data(using: .utf8)!)
    exit(2)
}
let out = args[1], epochs = args.count > 2 ? Int(args[2]) ?? 1 : 1
try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

let (train, test) = try FashionMNIST.load()
let g = Generator(seed: 0)
let model = Sequential(Linear(784, 256, generator: g), ReLU(), Linear(256, 10, generator: g))
let trainer = Trainer(model: model, optimizer: Adam(model.parameters(), lr: 1e-3), batchSize: 64, generator: g)
try trainer.fit(train, epochs: epochs)
let accuracy = evaluate(model, on: test).accuracy ?? 0
print(String(format: "trained %d epoch(s): float test accuracy %.4f", epochs, accuracy))

var shuffler = Generator(seed: 1)
let sample = train.subset(Array((0..<train.count).shuffled(using: &shuffler).prefix(1000)))
for precision in [BundlePrecision.f32, .f16, .int8] {
    var options = BundleExporter.Options(precision: precision, calibration: sample.inputs, classLabels: train.classNames,
                                         dataset: "Fashion-MNIST", testAccuracy: accuracy)
    options.selfTestInputs = [Tensor(shape: [2, 784], data: Array(test.inputs.data.prefix(2 * 784)))]
    options.inputPreprocessing = "pixels / 255: floats in [0, 1], row-major [28, 28] as 784 values"
    let bundle = try BundleExporter.export(model, options: options)
    let path = "\(out)/mlp-\(precision.name).myelin"
    try bundle.write(to: path)
    let scores = BundleExecutor(bundle).run(test.inputs.data, batch: test.count)
    var correct = 0
    for i in 0..<test.count {
        let row = scores[(i * 10)..<((i + 1) * 10)]
        if row.firstIndex(of: row.max()!)! - i * 10 == test.labels[i] { correct += 1 }
    }
    let decoded = bundle.decodedSectionSizes().reduce(0) { $0 + $1.bytes }
    print(String(format: "%@: %d bytes on disk, %d decoded, reference accuracy %.4f", path, bundle.encode().count, decoded,
                 Double(correct) / Double(test.count)))
}

// The anchor CNN (SimpleCNN), one epoch on the first 20 000 training images, for the C and C++
// examples' CNN runs (ctest example_classify_cnn_*): NCHW input [1, 28, 28].
let cnn = SimpleCNN(generator: Generator(seed: 2))
let cnnTrain = train.subset(Array(0..<20_000))
try Trainer(model: cnn, optimizer: Adam(cnn.parameters(), lr: 1e-3), batchSize: 64, generator: Generator(seed: 3)).fit(cnnTrain, epochs: 1)
let cnnAccuracy = evaluate(cnn, on: test).accuracy ?? 0
for precision in [BundlePrecision.f32, .f16] {
    var options = BundleExporter.Options(precision: precision, classLabels: train.classNames, dataset: "Fashion-MNIST",
                                         testAccuracy: cnnAccuracy)
    options.inputShape = [1, 28, 28]
    options.inputPreprocessing = "pixels / 255: floats in [0, 1], NCHW [1, 28, 28]"
    let path = "\(out)/cnn-\(precision.name).myelin"
    try BundleExporter.export(cnn, options: options).write(to: path)
    print(String(format: "%@: CNN, float test accuracy %.4f", path, cnnAccuracy))
}
