// Classifying four Gaussian blobs with a small neural network, then saving and reloading it.
//
// Points are scattered (standard deviation 0.3) around four centres. The blobs at (1, 1) and
// (−1, −1) are class 0, those at (1, −1) and (−1, 1) class 1 — an XOR pattern, so no single
// straight line separates the classes and the network needs its hidden layer.
//
// Run: swift run GaussianBlobs [path/to/model.mst]   (default: a new temporary folder)

import Foundation
import Myelin

let generator = Generator(seed: 0)   // all randomness (data, shuffle, initial weights) comes from here

// MARK: Data: 25 points per blob, shuffled, split 80 train / 20 test

let blobs: [(x: Float, y: Float, label: Float)] = [(1, 1, 0), (-1, -1, 0), (1, -1, 1), (-1, 1, 1)]
var coordinates: [Float] = [], labels: [Float] = []
for blob in blobs {
    let noise = Tensor.randn([25, 2], std: 0.3, generator: generator)
    let points = noise + Tensor([blob.x, blob.y])        // [25, 2] + [2] broadcasts over rows
    coordinates += points.data
    labels += [Float](repeating: blob.label, count: 25)
}
let allX = Tensor(shape: [100, 2], data: coordinates)
let allY = Tensor(shape: [100, 1], data: labels)

let order = generator.permutation(100)                  // shuffle, then split
let trainX = allX.gatherRows(Array(order[..<80])), trainY = allY.gatherRows(Array(order[..<80]))
let testX = allX.gatherRows(Array(order[80...])), testY = allY.gatherRows(Array(order[80...]))
print("data: \(trainX.shape[0]) training points, \(testX.shape[0]) test points")

// MARK: Model, loss and optimizer

func makeModel() -> Sequential {
    Sequential(Linear(2, 5, generator: generator), ReLU(),
               Linear(5, 1, generator: generator), Sigmoid())   // output: P(label = 1)
}
let model = makeModel()
print(model)
let optimizer = SGD(model.parameters(), lr: 0.03)

/// Loss and accuracy (prediction = probability ≥ 0.5) on a data set, without recording gradients.
func evaluate(_ x: Tensor, _ y: Tensor) -> (loss: Float, accuracy: Float) {
    noGrad {
        let p = model(x)
        let correct = zip(p.data, y.data).filter { ($0 >= 0.5 ? 1 : 0) == $1 }.count
        return (binaryCrossEntropy(p, y).item, Float(correct) / Float(y.count))
    }
}

let before = evaluate(testX, testY)
print(String(format: "test loss before training: %.4f", before.loss))
print(String(format: "test accuracy before training: %.1f%%", before.accuracy * 100))

// MARK: Training: full batch, 2000 epochs

for epoch in 1...2000 {
    optimizer.zeroGrad()
    let loss = binaryCrossEntropy(model(trainX), trainY)
    loss.backward()
    optimizer.step()
    if epoch % 400 == 0 { print(String(format: "epoch %4d  training loss %.4f", epoch, loss.item)) }
}

let after = evaluate(testX, testY)
print(String(format: "test loss after training: %.4f", after.loss))
print(String(format: "test accuracy: %.1f%%", after.accuracy * 100))

// MARK: Save, reload into a fresh model, compare

// Without a path argument, a fresh temporary folder: two runs at once never share a file.
func defaultPath() throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gaussian-blobs-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder.appendingPathComponent("model.mst").path
}

do {
    let path = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : try defaultPath()
    try model.stateDict().save(to: path)                 // parameters by name: "0.weight", …
    print("saved model to \(path)")
    let restored = makeModel()                           // new random weights…
    try restored.loadStateDict(StateDict.load(from: path))   // …replaced by the saved ones
    let original = noGrad { model(testX) }, reloaded = noGrad { restored(testX) }
    let difference = zip(original.data, reloaded.data).map { abs($0 - $1) }.max()!
    print("max prediction difference after reload: \(difference)")
    print("predictions identical after reload: \(original.data == reloaded.data ? "yes" : "no")")

    let p = noGrad { restored(Tensor([[-1, 1]])) }.item
    print(String(format: "P(label 1 | (-1, 1)): %.4f", p))
} catch {
    print("error: \(error)")
    exit(1)
}
