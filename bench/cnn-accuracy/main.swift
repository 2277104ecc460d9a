// Accuracy run: trains a zoo model on Fashion-MNIST with augmentation (random crop ±2 px,
// horizontal flip), SGD with Nesterov momentum and a per-step cosine learning-rate schedule, and
// reports test accuracy after every epoch. At the end it saves the weights and draws the
// first layer's filters and one test image's feature maps.
//
// Usage: swift run -c release CNNAccuracy [MODEL] [EPOCHS] [THREADS] [--subset N] [--no-augment]
//                                          [--lr LR] [--batch B] [--out PREFIX]
// Defaults: resnet, 15 epochs, 2 threads, lr 0.1, batch 128, PREFIX /tmp/cnn-accuracy-MODEL.
// Prints one line per epoch and a RESULT line.
import Foundation
import Myelin

var positional: [String] = [], options: [String: String] = [:]
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    if a == "--no-augment" { options[a] = "1" } else if a.hasPrefix("--") { options[a] = args.popFirst() ?? "" } else { positional.append(a) }
}
let name = positional.count > 0 ? positional[0] : "resnet"
let epochs = positional.count > 1 ? Int(positional[1]) ?? 15 : 15
Threading.threads = positional.count > 2 ? Int(positional[2]) ?? 2 : 2
let learningRate = Float(options["--lr"] ?? "") ?? 0.1
let batchSize = Int(options["--batch"] ?? "") ?? 128
let prefix = options["--out"] ?? "/tmp/cnn-accuracy-\(name)"

var (train, test) = try FashionMNIST.load()
if let n = options["--subset"].flatMap(Int.init) { train = train.subset(Array(0..<n)) }
let g = Generator(seed: 0)
let model = ModelZoo.make(name, generator: g)
let profile = try ModelProfile(model, inputShape: [1, 28, 28])
print("\(name): \(profile.parameters) parameters, \(String(format: "%.2f", Double(profile.flops) / 1e6)) MFLOPs per image; "
      + "\(epochs) epochs of \(train.count) images, batch \(batchSize), SGD Nesterov lr \(learningRate) cosine, "
      + "augmentation \(options["--no-augment"] == nil ? "crop ±2 + flip" : "none"), \(Threading.threads) threads")
let optimizer = SGD(model.parameters(), lr: learningRate, momentum: 0.9, nesterov: true, weightDecay: 5e-4)
// Cosine annealing per step, lr·½(1 + cos(π·step/steps)) from lr to 0 over the whole run:
// as `CosineAnnealingLR` but smooth within an epoch, which matters for runs of a few epochs.
let totalSteps = epochs * (train.count + batchSize - 1) / batchSize
var stepCount = 0
let augment = Augmentation.compose([.randomCrop(padding: 2), .horizontalFlip()])
let loader = DataLoader(train, batchSize: batchSize, shuffle: true, generator: g)

func testAccuracy() -> Double {
    model.eval()
    defer { model.train() }
    var correct = 0
    for start in stride(from: 0, to: test.count, by: 1000) {
        let rows = start..<min(start + 1000, test.count)
        let predictions = noGrad { model(test.inputs.rows(rows)) }.argmax(axis: 1)
        correct += zip(predictions, test.labels[rows]).filter { $0 == $1 }.count
    }
    return Double(correct) / Double(test.count)
}

let begin = DispatchTime.now().uptimeNanoseconds
var accuracy = 0.0, times: [Double] = []
for epoch in 1...epochs {
    let start = DispatchTime.now().uptimeNanoseconds
    model.train()
    var lossSum = 0.0, correct = 0, seen = 0
    for batch in loader {
        let x = options["--no-augment"] == nil ? augment(batch.inputs, generator: g) : batch.inputs
        optimizer.learningRate = learningRate * 0.5 * (1 + Float(cos(Double.pi * Double(stepCount) / Double(totalSteps))))
        stepCount += 1
        optimizer.zeroGrad()
        let logits = model(x)
        let loss = crossEntropy(logits, batch.labels)
        loss.backward()
        optimizer.step()
        lossSum += Double(loss.item) * Double(batch.labels.count)
        seen += batch.labels.count
        correct += zip(logits.argmax(axis: 1), batch.labels).filter { $0 == $1 }.count
    }
    times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    let lr = optimizer.learningRate
    accuracy = testAccuracy()
    let total = Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9
    print(String(format: "epoch %d lr %.4f train_loss %.4f train_acc %.4f test_acc %.4f epoch_s %.1f total_min %.1f",
                 epoch, lr, lossSum / Double(seen), Double(correct) / Double(seen), accuracy, times.last!, total / 60))
    fflush(stdout)
}
let total = Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9
try StateDictFile.write(model.stateDict(), to: prefix + ".weights")
try Visualize.filters(of: model, to: prefix + "-filters.png")
let maps = try Visualize.featureMaps(of: model, image: test.inputs.rows(0..<1), prefix: prefix + "-maps")
print("wrote \(prefix).weights, \(prefix)-filters.png, \(maps.count) feature-map grids (\(prefix)-maps-*.png)")
print(String(format: "RESULT myelin %@ epochs %d threads %d median_epoch_s %.1f total_min %.1f final_acc %.4f",
             name, epochs, Threading.threads, times.sorted()[times.count / 2], total / 60, accuracy))
