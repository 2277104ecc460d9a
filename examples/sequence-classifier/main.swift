// Fashion-MNIST read as a sequence: each 28×28 image is 28 steps of one 28-pixel row, fed
// to a GRU or an LSTM whose final hidden state goes to a linear classifier (issue 12).
//
//   SequenceClassifier [gru|lstm] [EPOCHS] [HIDDEN] [TRAIN_SAMPLES] [TEST_SAMPLES] [--data DIR]
//
// defaults: gru, 12 epochs, 128 hidden units, all 60 000 training and 10 000 test images. Adam (lr 2e-3,
// cosine-annealed), batch 128, gradient norm clipped at 1. Prints the loss, the epoch time
// and the test accuracy after every epoch.

import Foundation
import Myelin

var args = Array(CommandLine.arguments.dropFirst())
var dataDirectory = FashionMNIST.defaultDirectory
if let i = args.firstIndex(of: "--data"), i + 1 < args.count {
    dataDirectory = args[i + 1]
    args.removeSubrange(i...(i + 1))
}
let kind = args.count > 0 ? args[0] : "gru"
let epochs = args.count > 1 ? Int(args[1])! : 12
let hidden = args.count > 2 ? Int(args[2])! : 128
let trainLimit = args.count > 3 ? Int(args[3])! : Int.max
let testLimit = args.count > 4 ? Int(args[4])! : Int.max
guard kind == "gru" || kind == "lstm" else {
    print("usage: SequenceClassifier [gru|lstm] [EPOCHS] [HIDDEN] [TRAIN_SAMPLES] [TEST_SAMPLES] [--data DIR]")
    exit(2)
}

let generator = Generator(seed: 12)
var (train, test) = try FashionMNIST.load(directory: dataDirectory)
if trainLimit < train.count { train = train.subset(Array(0..<trainLimit)) }
if testLimit < test.count { test = test.subset(Array(0..<testLimit)) }

// [B, 784] → 28 rows of 28 pixels → final hidden state [B, hidden] → 10 logits.
let encoder: any SequenceEncoder = kind == "gru"
    ? GRU(28, hidden, batchFirst: true, generator: generator)
    : LSTM(28, hidden, batchFirst: true, generator: generator)
let model = Sequential(LastStep(encoder, sequenceShape: [28, 28]), Linear(hidden, 10, generator: generator))
print(model)
print("parameters: \(model.parameterCount), training images: \(train.count)")

let optimizer = Adam(model.parameters(), lr: 2e-3)
let schedule = CosineAnnealingLR(optimizer, period: epochs)
let loader = DataLoader(train, batchSize: 128, shuffle: true, generator: generator)
for epoch in 1...epochs {
    model.train()
    let start = Date()
    var total: Float = 0
    for batch in loader {
        optimizer.zeroGrad()
        let loss = crossEntropy(model(batch.inputs), batch.labels)
        loss.backward()
        clipGradNorm(model.parameters(), maxNorm: 1)
        optimizer.step()
        total += loss.item * Float(batch.labels.count)
    }
    let seconds = Date().timeIntervalSince(start)
    schedule.step()
    let result = evaluate(model, on: test)
    print(String(format: "epoch %2d  train loss %.4f  %.1f s  test accuracy %.2f%%", epoch, total / Float(train.count),
                 seconds, (result.accuracy ?? 0) * 100))
    fflush(stdout)
}
