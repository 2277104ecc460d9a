// Training-speed benchmark of convolutional networks on Fashion-MNIST: Adam lr 1e-3,
// batch 64, no augmentation. With the default model `cnn` it is the workload of
// ../shared/anchors/torch_train.py cnn (the same network, layer for layer).
//
// Usage: swift run -c release TrainCNNBench [EPOCHS] [THREADS] [MODEL] [SUBSET]
//          one line per epoch, then a RESULT line; SUBSET trains on the first SUBSET images
//          (to time large models; the epoch time is then extrapolated to 60 000 images).
//        swift run -c release TrainCNNBench profile [THREADS] [MODEL] [BATCHES]
//          where a training step's time goes: per layer forward and backward (for models
//          whose top level is a Sequential of layers, like `cnn`), loss, optimizer.
//
// Achieved GFLOP/s = 3 × forward FLOPs per image (ModelProfile: a multiply-add is 2 FLOPs)
// × images per second. The 3 is the usual convention: the backward pass computes the
// input gradient and the weight gradient, each about as costly as the forward product.
import Foundation
import Myelin

let args = Array(CommandLine.arguments.dropFirst())
let (train, test) = try FashionMNIST.load()

func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

if args.first == "profile" {
    Threading.threads = args.count > 1 ? Int(args[1]) ?? 1 : 1
    let name = args.count > 2 ? args[2] : "cnn"
    let batches = args.count > 3 ? Int(args[3]) ?? 100 : 100
    let model = ModelZoo.make(name, generator: Generator(seed: 0))
    let layers: [(String, any Layer)] = (model as? SimpleCNN).map { m in m.layers.layers.enumerated().map { ("layers.\($0.offset) \($0.element)", $0.element) } }
        ?? model.children.compactMap { c in (c.1 as? any Layer).map { (c.0, $0) } }
    let profile = try ModelProfile(model, inputShape: [1, 28, 28])
    print(profile.table)
    let loader = DataLoader(train, batchSize: 64, shuffle: true, generator: Generator(seed: 0))
    var forward = [Double](repeating: 0, count: layers.count), backward = forward
    var lossTime = 0.0, optimizerTime = 0.0, dataTime = 0.0
    let optimizer = Adam(model.parameters(), lr: 1e-3)
    var iterator = loader.makeIterator()
    let total = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<batches {
        var t = DispatchTime.now().uptimeNanoseconds
        guard let batch = iterator.next() else { break }
        dataTime += seconds(since: t)
        // Each layer on a detached copy of its input, so its backward is timed alone.
        var x = batch.inputs.reshape([-1, 1, 28, 28]).detach()
        var outputs: [(Tensor, Tensor)] = []
        optimizer.zeroGrad()
        for (i, (_, layer)) in layers.enumerated() {
            let input = x.detach()
            input.requiresGrad = i > 0
            t = DispatchTime.now().uptimeNanoseconds
            let y = layer(input)
            forward[i] += seconds(since: t)
            outputs.append((input, y))
            x = y
        }
        t = DispatchTime.now().uptimeNanoseconds
        let loss = crossEntropy(x, batch.labels)
        loss.backward()
        lossTime += seconds(since: t)
        var grad = outputs.last!.1.grad!
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            t = DispatchTime.now().uptimeNanoseconds
            outputs[i].1.backward(grad)
            backward[i] += seconds(since: t)
            if i > 0 { grad = outputs[i].0.grad! }
        }
        t = DispatchTime.now().uptimeNanoseconds
        optimizer.step()
        optimizerTime += seconds(since: t)
    }
    let all = seconds(since: total)
    let perStep = 1000 / Double(batches)
    print("\nms per step of 64 images (\(batches) steps, \(Threading.threads) threads); the last column is the share of the step")
    for (i, (label, _)) in layers.enumerated() {
        print(String(format: "%-58@ fwd %7.3f  bwd %7.3f  %5.1f%%", label.prefix(58) as CVarArg,
                     forward[i] * perStep, backward[i] * perStep, (forward[i] + backward[i]) / all * 100))
    }
    print(String(format: "%-58@ %19.3f  %5.1f%%", "loss (cross-entropy fwd+bwd)", lossTime * perStep, lossTime / all * 100))
    print(String(format: "%-58@ %19.3f  %5.1f%%", "optimizer (Adam step)", optimizerTime * perStep, optimizerTime / all * 100))
    print(String(format: "%-58@ %19.3f  %5.1f%%", "batch gather", dataTime * perStep, dataTime / all * 100))
    print(String(format: "%-58@ %19.3f", "total", all * perStep))
    exit(0)
}

let epochs = args.count > 0 ? Int(args[0]) ?? 1 : 1
Threading.threads = args.count > 1 ? Int(args[1]) ?? 1 : 1
let name = args.count > 2 ? args[2] : "cnn"
let subset = args.count > 3 ? Int(args[3]).map { min($0, train.count) } : nil
let data = subset.map { train.subset(Array(0..<$0)) } ?? train

let g = Generator(seed: 0)
let model = ModelZoo.make(name, generator: g)
let flopsPerImage = Double(try ModelProfile(model, inputShape: [1, 28, 28]).flops)
let optimizer = Adam(model.parameters(), lr: 1e-3)
let loader = DataLoader(data, batchSize: 64, shuffle: true, generator: g)

var times: [Double] = []
var accuracy = 0.0
for epoch in 1...epochs {
    model.train()
    let start = DispatchTime.now().uptimeNanoseconds
    var last: Float = 0
    for batch in loader {
        optimizer.zeroGrad()
        let loss = crossEntropy(model(batch.inputs), batch.labels)
        loss.backward()
        optimizer.step()
        last = loss.item
    }
    let elapsed = seconds(since: start) * Double(train.count) / Double(data.count)   // per 60 000 images
    times.append(elapsed)
    model.eval()
    var correct = 0
    for s in stride(from: 0, to: test.count, by: 1000) {
        let rows = s..<min(s + 1000, test.count)
        correct += zip(noGrad { model(test.inputs.rows(rows)) }.argmax(axis: 1), test.labels[rows]).filter { $0 == $1 }.count
    }
    accuracy = Double(correct) / Double(test.count)
    let rate = Double(train.count) / elapsed
    print(String(format: "epoch %d %.2fs%@ %.0f images/s %.1f GFLOP/s loss %.4f test_acc %.4f", epoch, elapsed,
                 subset == nil ? "" : " (extrapolated from \(data.count) images)", rate, 3 * flopsPerImage * rate / 1e9,
                 last, accuracy))
    fflush(stdout)
}
let median = times.sorted()[times.count / 2]
print(String(format: "RESULT myelin %@ threads %d median_epoch_s %.2f images_per_s %.0f gflops %.1f final_acc %.4f mflops_per_image %.3f",
             name, Threading.threads, median, Double(train.count) / median, 3 * flopsPerImage * Double(train.count) / median / 1e9,
             accuracy, flopsPerImage / 1e6))
