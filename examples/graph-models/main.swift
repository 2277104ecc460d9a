// Models that are graphs, not chains: a residual MLP and a model with two inputs, trained on
// Fashion-MNIST, exported by tracing, ready for the C runtime (examples/c/two_inputs.c).
//
//   GraphModels OUT_DIR [EPOCHS] [TRAIN_SAMPLES]
//
// writes OUT_DIR/residual-{f32,int8}.myelin and OUT_DIR/two-inputs-{f32,int8}.myelin and
// prints each model's test accuracy. Both models are ordinary user code: a module's
// parameters are found in its stored properties, and `forward` may take any inputs.

import Foundation
import Myelin

/// `relu(x + fc2(relu(fc1(x))))`: a residual block on `width` features.
final class ResidualBlock: Layer {
    let fc1: Linear, fc2: Linear
    var isTraining = true
    init(_ width: Int, generator: Generator) {
        fc1 = Linear(width, width, generator: generator)
        fc2 = Linear(width, width, generator: generator)
    }
    func forward(_ x: Tensor) -> Tensor { (x + fc2(fc1(x).relu())).relu() }
    var description: String { "ResidualBlock(\(fc1.inFeatures))" }
}

/// 784 → 128, two residual blocks, → 10.
final class ResidualMLP: Layer {
    let stem: Linear, blocks: [ResidualBlock], head: Linear
    var isTraining = true
    init(generator: Generator) {
        stem = Linear(784, 128, generator: generator)
        blocks = [ResidualBlock(128, generator: generator), ResidualBlock(128, generator: generator)]
        head = Linear(128, 10, generator: generator)
    }
    func forward(_ x: Tensor) -> Tensor {
        var h = stem(x).relu()
        for block in blocks { h = block(h) }
        return head(h)
    }
    var description: String { "ResidualMLP(stem: \(stem), blocks: \(blocks.count), head: \(head))" }
}

/// Two inputs: the image `[784]` and a side vector `[28]` (the image's column means, a
/// stand-in for metadata that arrives beside an image). Their features are concatenated.
final class ImageWithSide: Module {
    let image: Sequential, side: Linear, head: Sequential
    var isTraining = true
    init(generator: Generator) {
        image = Sequential(Linear(784, 128, generator: generator), ReLU())
        side = Linear(28, 16, generator: generator)
        head = Sequential(Linear(144, 64, generator: generator), ReLU(), Linear(64, 10, generator: generator))
    }
    func forward(_ x: Tensor, _ v: Tensor) -> Tensor {
        head(Tensor.concat([image(x), side(v).tanh()], axis: 1))
    }
    var description: String { "ImageWithSide" }
}

/// Column means of `[n, 784]` images: `[n, 28]`.
func sideVector(_ images: Tensor) -> Tensor {
    images.reshape([-1, 28, 28]).mean(axis: 1)
}

let arguments = CommandLine.arguments
guard arguments.count >= 2, arguments.count <= 4 else {
    print("usage: GraphModels OUT_DIR [EPOCHS] [TRAIN_SAMPLES]")
    exit(2)
}
let out = arguments[1]
let epochs = arguments.count > 2 ? Int(arguments[2]) ?? 3 : 3
try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
var (train, test) = try FashionMNIST.load()
if arguments.count > 3, let n = Int(arguments[3]), n < train.count { train = train.subset(Array(0..<n)) }
let generator = Generator(seed: 7)

/// Trains with Adam and cross-entropy; `logits` runs the model on a batch of indices.
func fit(_ model: any Module, _ logits: (Dataset) -> Tensor) {
    let optimizer = Adam(model.parameters(), lr: 1e-3)
    for epoch in 1...epochs {
        model.train()
        var total: Float = 0, batches = 0
        for batch in DataLoader(train, batchSize: 64, shuffle: true, generator: generator) {
            let loss = crossEntropy(logits(Dataset(inputs: batch.inputs, labels: batch.labels)), batch.labels)
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
            total += loss.item
            batches += 1
        }
        model.eval()
        let predictions = noGrad { logits(test) }.argmax(axis: 1)
        let accuracy = Double(zip(predictions, test.labels).filter { $0 == $1 }.count) / Double(test.count)
        print(String(format: "  epoch %d: loss %.4f, test accuracy %.2f%%", epoch, total / Float(batches), accuracy * 100))
    }
}

let calibrationRows = Array(0..<Swift.min(1000, train.count))
let preprocessing = "pixels / 255: floats in [0, 1], one image = 784 values, row-major 28 x 28"

print("residual MLP:")
let residual = ResidualMLP(generator: generator)
fit(residual) { residual($0.inputs) }
for precision in [BundlePrecision.f32, .int8] {
    var options = BundleExporter.Options(precision: precision, calibration: train.inputs.gatherRows(calibrationRows),
                                         classLabels: FashionMNIST.classNames, dataset: "Fashion-MNIST")
    options.inputPreprocessing = preprocessing
    let bundle = try BundleExporter.export(residual, options: options)
    try bundle.write(to: "\(out)/residual-\(precision.name).myelin")
    print("  wrote \(out)/residual-\(precision.name).myelin: \(bundle.ops.count) ops")
}

print("two-input model:")
let twoInputs = ImageWithSide(generator: generator)
fit(twoInputs) { twoInputs.forward($0.inputs, sideVector($0.inputs)) }
for precision in [BundlePrecision.f32, .int8] {
    let images = train.inputs.gatherRows(calibrationRows)
    var options = BundleExporter.Options(precision: precision, classLabels: FashionMNIST.classNames, dataset: "Fashion-MNIST")
    options.calibrationInputs = [images, sideVector(images)]
    options.inputPreprocessing = preprocessing + "; side = the 28 column means of the image"
    let bundle = try BundleExporter.export(twoInputs, inputs: [("image", [784]), ("side", [28])], outputNames: ["logits"],
                                           options: options) { [twoInputs.forward($0[0], $0[1])] }
    try bundle.write(to: "\(out)/two-inputs-\(precision.name).myelin")
    print("  wrote \(out)/two-inputs-\(precision.name).myelin: \(bundle.ops.count) ops")
}
