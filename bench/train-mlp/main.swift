// Training-speed benchmark: Linear(784,256) → ReLU → Linear(256,10), Adam lr 1e-3, batch 64,
// Fashion-MNIST, the same workload as ../shared/anchors/torch_train.py mlp.
// Usage: swift run -c release TrainMLPBench [EPOCHS] [THREADS]
// Prints seconds per epoch and test accuracy, then a RESULT line with the median epoch time.
import Foundation
import Myelin

let args = CommandLine.arguments
let epochs = args.count > 1 ? Int(args[1]) ?? 1 : 1
Threading.threads = args.count > 2 ? Int(args[2]) ?? 1 : 1

let (train, test) = try FashionMNIST.load()
let g = Generator(seed: 0)
let model = Sequential(Linear(784, 256, generator: g), ReLU(), Linear(256, 10, generator: g))
let optimizer = Adam(model.parameters(), lr: 1e-3)
let loader = DataLoader(train, batchSize: 64, shuffle: true, generator: g)

var times: [Double] = []
var accuracy = 0.0
for epoch in 1...epochs {
    model.train()
    let start = DispatchTime.now().uptimeNanoseconds
    var last: Float = 0
    for batch in loader.epoch() {
        optimizer.zeroGrad()
        let loss = crossEntropy(model(batch.inputs), batch.labels)
        loss.backward()
        optimizer.step()
        last = loss.item
    }
    times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    model.eval()
    let predictions = noGrad { model(test.inputs) }.argmax(axis: 1)
    accuracy = Double(zip(predictions, test.labels).filter { $0 == $1 }.count) / Double(test.count)
    print(String(format: "epoch %d %.2fs loss %.4f test_acc %.4f", epoch, times.last!, last, accuracy))
}
print(String(format: "RESULT myelin mlp threads %d median_epoch_s %.3f final_acc %.4f",
             Threading.threads, times.sorted()[times.count / 2], accuracy))
