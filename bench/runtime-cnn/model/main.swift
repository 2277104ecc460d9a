// Loads the PyTorch-trained anchor CNN (bench/runtime-cnn/twin.py's files) into Myelin's
// SimpleCNN — the same architecture — checks it reproduces PyTorch's logits, and exports it
// as f32 and f16 bundles for the runtime benchmark (bench/runtime-cnn/run.sh).
//
//   swift run -c release RuntimeCNNModel DIR
//   swift run -c release RuntimeCNNModel layout     (NCHW against NHWC, see Layout.swift)
import Foundation
import Myelin

let args = CommandLine.arguments
if args.count == 2 && args[1] == "layout" {
    measureLayouts()
    exit(0)
}
guard args.count == 2 else {
    FileHandle.standardError.write("usage: RuntimeCNNModel DIR (with twin.py's anchor_cnn.index, .weights, .expected)\n".data(using: .utf8)!)
    exit(2)
}
let dir = args[1]
let index = try String(contentsOfFile: "\(dir)/anchor_cnn.index", encoding: .utf8).split(separator: "\n")
let raw = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/anchor_cnn.weights"))
let floats = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
// PyTorch's Sequential indices → SimpleCNN's state-dict names.
let names = ["0": "layers.0", "3": "layers.3", "7": "layers.7", "9": "layers.9"]
var state: [(String, Tensor)] = []
var at = 0
for line in index {
    let parts = line.split(separator: " ")
    let (layer, kind) = (String(parts[0].split(separator: ".")[0]), String(parts[0].split(separator: ".")[1]))
    let shape = parts.dropFirst().map { Int($0)! }
    let count = shape.reduce(1, *)
    state.append(("\(names[layer]!).\(kind)", Tensor(shape: shape, data: Array(floats[at..<(at + count)]))))
    at += count
}
precondition(at == floats.count, "weights file holds \(floats.count) floats, index \(at)")
let model = SimpleCNN(generator: Generator(seed: 0))
try model.loadStateDict(StateDict(state))
model.eval()

let (_, test) = try FashionMNIST.load()
let two = Tensor(shape: [2, 784], data: Array(test.inputs.data.prefix(2 * 784)))
let expected = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/anchor_cnn.expected")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
let mine = noGrad { model(two) }.data
let error = zip(mine, expected).map { abs($0 - $1) }.max()!
print(String(format: "Myelin's copy against PyTorch's logits: max |difference| %.2e", error))
precondition(error < 1e-3, "the weights did not load as PyTorch's")
let accuracy = evaluate(model, on: test).accuracy ?? 0
print(String(format: "float test accuracy %.4f", accuracy))

for precision in [BundlePrecision.f32, .f16] {
    var options = BundleExporter.Options(precision: precision, classLabels: test.classNames, dataset: "Fashion-MNIST",
                                         testAccuracy: accuracy)
    options.inputShape = [1, 28, 28]
    options.selfTestInputs = [two.reshape([2, 1, 28, 28])]
    options.inputPreprocessing = "pixels / 255: floats in [0, 1], NCHW [1, 28, 28]"
    let bundle = try BundleExporter.export(model, options: options)
    let path = "\(dir)/cnn-\(precision.name).myelin"
    try bundle.write(to: path)
    print("\(path): \(bundle.encode().count) bytes, ops \(bundle.ops.map { $0.code.map { "\($0)" } ?? "?" }.joined(separator: " "))")
}
