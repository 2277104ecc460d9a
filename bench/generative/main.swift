// The Myelin side of the generative anchor (torch_generative.py is the PyTorch twin):
//
//   GenerativeBench train conv-autoencoder|vae|dcgan EPOCHS SAMPLES [SAMPLES_IDX]
//       trains on the first SAMPLES training images with 1 thread, printing per epoch the wall
//       and CPU seconds, then the test measure (MSE, ELBO) or, for dcgan, writes 10 000
//       samples as an IDX file (SAMPLES_IDX) for `fid`.
//   GenerativeBench fid CLASSIFIER.ckpt IMAGES.idx [IMAGES.idx …]
//       Fréchet distance to the Fashion-MNIST test set and class evenness of each file's images
//       (uint8 IDX, as both sides write them), on the penultimate features of the CNN of
//       CLASSIFIER.ckpt (`myelin train --model cnn`).
import Foundation
import Myelin

func cpuSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// Writes `[n, 784]` pixels in [0, 1] as an IDX file of unsigned bytes `[n, 28, 28]`.
func writeIDX(_ images: Tensor, to path: String) throws {
    let n = images.shape[0]
    var bytes: [UInt8] = [0, 0, 0x08, 3]
    for d in [n, 28, 28] { bytes += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
    bytes += images.data.map { UInt8((Swift.min(1, Swift.max(0, $0)) * 255).rounded()) }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
    exit(2)
}

let args = CommandLine.arguments
guard args.count >= 2 else { fail("usage: GenerativeBench train MODEL EPOCHS SAMPLES [SAMPLES_IDX] | fid CLASSIFIER.ckpt IMAGES.idx…") }
Threading.threads = 1
let (fullTrain, test) = try FashionMNIST.load()

switch args[1] {
case "train":
    guard args.count >= 5, let epochs = Int(args[3]), let samples = Int(args[4]) else { fail("usage: GenerativeBench train MODEL EPOCHS SAMPLES [SAMPLES_IDX]") }
    let train = fullTrain.subset(Array(0..<Swift.min(samples, fullTrain.count)))
    let g = Generator(seed: 0)
    let trainer: StepTrainer
    var measure: () throws -> String
    switch args[2] {
    case "conv-autoencoder":
        let ae = ConvAutoencoder(width: 16, code: 32, generator: g)
        trainer = ae.reconstructionTrainer(optimizer: Adam(ae.parameters(), lr: 1e-3), batchSize: 64, generator: g)
        measure = { String(format: "test_mse %.5f", reconstructionMSE(ae, on: test)) }
    case "vae":
        let vae = VAE(hidden: 400, latent: 20, generator: g)
        trainer = vae.elboTrainer(optimizer: Adam(vae.parameters(), lr: 1e-3), batchSize: 64, generator: g)
        measure = { String(format: "test_elbo %.3f", vaeELBO(vae, on: test, generator: Generator(seed: 1)).elbo) }
    case "dcgan":
        let gan = GAN(latent: 64, width: 32, generator: g)
        trainer = gan.makeTrainer(batchSize: 64, generator: g)
        let out = args.count > 5 ? args[5] : "/tmp/myelin_dcgan_samples.idx"
        measure = {
            try writeIDX(gan.sample(10_000, generator: Generator(seed: 1)), to: out)
            return "wrote 10000 samples to \(out)"
        }
    default: fail("unknown model \(args[2]): conv-autoencoder, vae or dcgan")
    }
    var walls: [Double] = [], cpus: [Double] = []
    var cpuStart = cpuSeconds()
    trainer.callbacks = [EpochHook { _, record in
        let cpu = cpuSeconds() - cpuStart
        walls.append(record.seconds)
        cpus.append(cpu)
        let metrics = zip(record.names, record.values).map { String(format: "%@ %.4f", $0, $1) }.joined(separator: " ")
        print(String(format: "epoch %d wall_s %.2f cpu_s %.2f %@", record.epoch, record.seconds, cpu, metrics))
        fflush(stdout)
        cpuStart = cpuSeconds()
    }]
    try trainer.fit(train, epochs: epochs)
    print("RESULT myelin \(args[2]) samples \(train.count) epochs \(epochs) median_wall_s \(String(format: "%.2f", walls.sorted()[walls.count / 2])) median_cpu_s \(String(format: "%.2f", cpus.sorted()[cpus.count / 2])) \(try measure())")
case "fid":
    guard args.count >= 4 else { fail("usage: GenerativeBench fid CLASSIFIER.ckpt IMAGES.idx…") }
    let checkpoint = try Checkpoint.load(from: args[2])
    let cnn = SimpleCNN()
    try cnn.loadStateDict(checkpoint.modelState)
    let extractor = CNNFeatureExtractor(cnn)
    let accuracy = Double(zip(extractor.run(test.inputs).predictions, test.labels).filter { $0 == $1 }.count) / Double(test.count)
    print(String(format: "classifier test accuracy %.2f%%", accuracy * 100))
    for path in args[3...] {
        let idx = try IDX.read(path)
        let images = Tensor(shape: [idx.shape[0], 784], data: idx.bytes.map { Float($0) / 255 })
        let report = GenerationReport(generated: images, real: test.inputs, extractor: extractor)
        print("RESULT fid \(path): \(report.summary)")
    }
case "profile":
    // CPU ms per layer (forward, backward) of the DCGAN's generator and discriminator, batch 64.
    let batches = args.count > 2 ? Int(args[2]) ?? 20 : 20
    let gan = GAN(latent: 64, width: 32, generator: Generator(seed: 0))
    let d = gan.discriminator
    let stacks: [(String, [any Layer], [Int])] = [("G", gan.generatorNet.layers.layers, [64, 64]),
                                                 ("D", d.features.layers + [d.head], [64, 1, 28, 28])]
    for (name, layers, shape) in stacks {
        var forward = [Double](repeating: 0, count: layers.count), backward = forward
        for _ in 0..<batches {
            var x = Tensor.uniform(shape, generator: Generator(seed: 1))
            var outputs: [(Tensor, Tensor)] = []
            for (i, layer) in layers.enumerated() {
                let input = x.detach()
                input.requiresGrad = true
                let t = cpuSeconds()
                let y = layer(input)
                forward[i] += cpuSeconds() - t
                outputs.append((input, y))
                x = y
            }
            for (i, (_, y)) in outputs.enumerated().reversed() {
                let seed = Tensor.ones(y.shape)
                let t = cpuSeconds()
                y.backward(seed)
                backward[i] += cpuSeconds() - t
            }
        }
        for (i, layer) in layers.enumerated() {
            print(String(format: "%@ %-60@ forward %7.2f ms  backward %7.2f ms", name, "\(layer)".prefix(60).description,
                         forward[i] * 1000 / Double(batches), backward[i] * 1000 / Double(batches)))
        }
    }
default: fail("unknown command \(args[1]): train, fid or profile")
}
