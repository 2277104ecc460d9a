// Training-speed benchmark of convolutional networks on Fashion-MNIST: Adam lr 1e-3,
// batch 64, no augmentation. With the default model `cnn` it is the workload of
// ../shared/anchors/torch_train.py cnn (the same network, layer for layer).
//
// Usage: swift run -c release TrainCNNBench [EPOCHS] [THREADS] [MODEL] [SUBSET] [TEST_SUBSET]
//          one line per epoch, then a RESULT line; SUBSET trains on the first SUBSET images
//          (to time large models; the epoch time is then extrapolated to 60 000 images),
//          TEST_SUBSET evaluates on the first TEST_SUBSET test images.
//        swift run -c release TrainCNNBench profile [THREADS] [MODEL] [BATCHES]
//          where a training step's time goes: per layer forward and backward (the model's
//          children in order, Sequentials opened up), loss, optimizer.
//
// Achieved GFLOP/s = 3 × forward FLOPs per image (ModelProfile: a multiply-add is 2 FLOPs)
// × images per second (wall time). Each epoch also prints the process CPU time, which on a
// busy shared machine measures the work better than the wall clock. The 3 is the usual convention: the backward pass computes the
// input gradient and the weight gradient, each about as costly as the forward product.
import Foundation
import Myelin

let args = Array(CommandLine.arguments.dropFirst())
let (train, test) = try FashionMNIST.load()

func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
func pad(_ s: String, _ n: Int) -> String { s.count >= n ? String(s.prefix(n)) : s + String(repeating: " ", count: n - s.count) }

/// CPU seconds used by the whole process (all threads): on a shared, busy machine this
/// counts the work done, not the time spent waiting for a core.
func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

if args.first == "profile" {
    Threading.threads = args.count > 1 ? Int(args[1]) ?? 1 : 1
    let name = args.count > 2 ? args[2] : "cnn"
    let batches = args.count > 3 ? Int(args[3]) ?? 100 : 100
    let model = ModelZoo.make(name, generator: Generator(seed: 0))
    // The zoo models' forward passes chain their children in order (stem, blocks, head, …), so
    // the children, with Sequentials opened up, can be run one at a time.
    func chain(_ name: String, _ layer: any Layer) -> [(String, any Layer)] {
        guard let s = layer as? Sequential else { return [("\(name) \(layer)", layer)] }
        return s.layers.enumerated().flatMap { chain("\(name).\($0.offset)", $0.element) }
    }
    let layers = model.children.compactMap { c in (c.1 as? any Layer).map { chain(c.0, $0) } }.flatMap { $0 }
    let profile = try ModelProfile(model, inputShape: [1, 28, 28])
    print(profile.table)
    let loader = DataLoader(train, batchSize: 64, shuffle: true, generator: Generator(seed: 0))
    var forward = [Double](repeating: 0, count: layers.count), backward = forward
    var lossTime = 0.0, optimizerTime = 0.0, dataTime = 0.0
    let optimizer = Adam(model.parameters(), lr: 1e-3)
    var iterator = loader.makeIterator()
    // Process CPU time, not wall time: the machine is shared (see processCPUSeconds).
    func now() -> Double { processCPUSeconds() }
    let total = now()
    for _ in 0..<batches {
        var t = now()
        guard let batch = iterator.next() else { break }
        dataTime += (now() - t)
        // Each layer on a detached copy of its input, so its backward is timed alone.
        var x = batch.inputs.reshape([-1, 1, 28, 28]).detach()
        var outputs: [(Tensor, Tensor)] = []
        optimizer.zeroGrad()
        for (i, (_, layer)) in layers.enumerated() {
            let input = x.detach()
            input.requiresGrad = i > 0
            t = now()
            let y = layer(input)
            forward[i] += (now() - t)
            outputs.append((input, y))
            x = y
        }
        t = now()
        let logits = x.detach()   // a leaf, so it keeps its gradient
        logits.requiresGrad = true
        crossEntropy(logits, batch.labels).backward()
        lossTime += (now() - t)
        var grad = logits.grad!
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            t = now()
            outputs[i].1.backward(grad)
            backward[i] += (now() - t)
            if i > 0 { grad = outputs[i].0.grad! }
        }
        t = now()
        optimizer.step()
        optimizerTime += (now() - t)
    }
    let all = now() - total
    let perStep = 1000 / Double(batches)
    print("\nCPU ms per step of 64 images (\(batches) steps, \(Threading.threads) threads); the last column is the share of the step")
    print(pad("", 60) + "   forward  backward   share")
    for (i, (label, _)) in layers.enumerated() {
        print(pad(label, 60) + String(format: "%10.3f%10.3f  %5.1f%%", forward[i] * perStep, backward[i] * perStep,
                                      (forward[i] + backward[i]) / all * 100))
    }
    for (label, time) in [("loss (cross-entropy, forward and backward)", lossTime), ("optimizer (Adam step)", optimizerTime),
                          ("batch gather", dataTime)] {
        print(pad(label, 60) + String(format: "%20.3f  %5.1f%%", time * perStep, time / all * 100))
    }
    print(pad("total", 60) + String(format: "%20.3f", all * perStep))
    exit(0)
}

let epochs = args.count > 0 ? Int(args[0]) ?? 1 : 1
Threading.threads = args.count > 1 ? Int(args[1]) ?? 1 : 1
let name = args.count > 2 ? args[2] : "cnn"
let subset = args.count > 3 ? Int(args[3]).map { min($0, train.count) } : nil
let data = subset.map { train.subset(Array(0..<$0)) } ?? train
let testData = args.count > 4 ? Int(args[4]).map { test.subset(Array(0..<min($0, test.count))) } ?? test : test

let g = Generator(seed: 0)
let model = ModelZoo.make(name, generator: g)
let flopsPerImage = Double(try ModelProfile(model, inputShape: [1, 28, 28]).flops)
let optimizer = Adam(model.parameters(), lr: 1e-3)
let loader = DataLoader(data, batchSize: 64, shuffle: true, generator: g)

var times: [Double] = [], cpuTimes: [Double] = []
var accuracy = 0.0
for epoch in 1...epochs {
    model.train()
    let start = DispatchTime.now().uptimeNanoseconds, cpuStart = processCPUSeconds()
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
    cpuTimes.append((processCPUSeconds() - cpuStart) * Double(train.count) / Double(data.count))
    model.eval()
    var correct = 0
    for s in stride(from: 0, to: testData.count, by: 1000) {
        let rows = s..<min(s + 1000, testData.count)
        correct += zip(noGrad { model(testData.inputs.rows(rows)) }.argmax(axis: 1), testData.labels[rows]).filter { $0 == $1 }.count
    }
    accuracy = Double(correct) / Double(testData.count)
    let rate = Double(train.count) / elapsed
    print(String(format: "epoch %d %.2fs (cpu %.2fs)%@ %.0f images/s %.1f GFLOP/s loss %.4f test_acc %.4f", epoch, elapsed,
                 cpuTimes.last!, subset == nil ? "" : " (extrapolated from \(data.count) images)", rate,
                 3 * flopsPerImage * rate / 1e9, last, accuracy))
    fflush(stdout)
}
let median = times.sorted()[times.count / 2]
print(String(format: "RESULT myelin %@ threads %d median_epoch_s %.2f cpu_s %.2f images_per_s %.0f gflops %.1f final_acc %.4f mflops_per_image %.3f",
             name, Threading.threads, median, cpuTimes.sorted()[times.count / 2], Double(train.count) / median,
             3 * flopsPerImage * Double(train.count) / median / 1e9, accuracy, flopsPerImage / 1e6))
