// Myelin side of the character language model twins (issue 12): exactly what
// `myelin train --dataset fortunes --model char-lstm|char-transformer --train-samples N
// --epochs E --threads T` trains (same model classes, data windows, Trainer, Adam 1e-3, cosine
// schedule per epoch, batch 64), timed per epoch by wall clock and by process CPU time.
//
//   SeqTrainBench lstm|transformer EPOCHS TRAIN_WINDOWS [THREADS] [--data DIR] [--validation-windows N] [--no-fold]
//
// --no-fold: the char-LSTM runs its embedding and first input projection as two layers
// (`CharLSTM.foldsEmbedding = false`), i.e. all the FLOPs the PyTorch twin does.
//
// One line per epoch: RESULT myelin char-KIND epoch E wall_s W cpu_s C train_loss L val_bits B gflops G
// (G: 3 × forward FLOPs × training windows / CPU seconds of the training pass; the FLOPs are the
// unfolded model's, as PyTorch runs it, also when the char-LSTM folds its embedding).

import Foundation
import Myelin

var args = Array(CommandLine.arguments.dropFirst())
var directory = "/usr/share/games/fortunes"
if let i = args.firstIndex(of: "--data"), i + 1 < args.count { directory = args[i + 1]; args.removeSubrange(i...(i + 1)) }
// --validation-windows N: validate on the first N windows only (for profiling the training pass).
var validationLimit: Int? = nil
if let i = args.firstIndex(of: "--validation-windows"), i + 1 < args.count { validationLimit = Int(args[i + 1]); args.removeSubrange(i...(i + 1)) }
let fold = !args.contains("--no-fold")
args.removeAll { $0 == "--no-fold" }
guard args.count >= 3, ["lstm", "transformer"].contains(args[0]), let epochs = Int(args[1]), let limit = Int(args[2]) else {
    print("usage: SeqTrainBench lstm|transformer EPOCHS TRAIN_WINDOWS [THREADS] [--data DIR] [--validation-windows N] [--no-fold]")
    exit(2)
}
let kind = args[0]
Threading.threads = args.count > 3 ? Int(args[3])! : 1

func cpuSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

let text = try TextDataset.fortunes(directory: directory)
let train = text.windows(.train, length: 64, limit: limit), validation = text.windows(.validation, length: 64, limit: validationLimit)
let generator = Generator(seed: 0)
let model: any Layer
if kind == "lstm" {
    let lstm = CharLSTM(vocabularySize: text.vocabularySize, embedding: 64, hidden: 256, layers: 1, generator: generator)
    lstm.foldsEmbedding = fold
    model = lstm
} else {
    model = CharTransformer(vocabularySize: text.vocabularySize, context: 64, dim: 96, heads: 4, depth: 3, generator: generator)
}
// Forward FLOPs per window, counted here (ModelProfile cannot trace these models yet: the
// batch-first LSTM and attention permute the batch axis away). A multiply-add counts 2.
// LSTM, per step: gate GEMMs 2·4H·(E+H), head 2·H·V. Transformer, per layer: QKV 2·T·d·3d,
// scores and weighted sum 2·2·T·T·d, output projection 2·T·d·d, feed-forward 2·2·T·d·4d; head 2·T·d·V.
let v = text.vocabularySize, t = 64
let forwardFLOPs = kind == "lstm" ? t * (2 * 4 * 256 * (64 + 256) + 2 * 256 * v)
    : 3 * (2 * t * 96 * 288 + 4 * t * t * 96 + 2 * t * 96 * 96 + 4 * t * 96 * 384) + 2 * t * 96 * v
print("myelin char-\(kind)\(kind == "lstm" ? (fold ? " (embedding folded into W_ih)" : " (embedding not folded)") : ""): \(train.count) training windows, \(validation.count) validation windows of 64, vocabulary \(text.vocabularySize), \(model.parameterCount) parameters, \(Threading.threads) thread(s), \(forwardFLOPs) forward FLOPs per window")

final class Timer: Callback {
    var wall = 0.0, cpu = 0.0
    func epochWillBegin(_ trainer: Trainer, epoch: Int, batches: Int) { wall = Date().timeIntervalSince1970; cpu = cpuSeconds() }
    func batchDidEnd(_ trainer: Trainer, batch: Int, batches: Int, samples: Int, loss: Float) {
        if batch == batches { wall = Date().timeIntervalSince1970 - wall; cpu = cpuSeconds() - cpu }   // training pass only
    }
    func epochDidEnd(_ trainer: Trainer, record: EpochRecord) {
        let gflops = Double(3 * forwardFLOPs * train.count) / cpu / 1e9
        print(String(format: "RESULT myelin char-%@ epoch %d wall_s %.2f cpu_s %.2f train_loss %.4f val_bits %.4f gflops %.1f", kind, record.epoch,
                     wall, cpu, record.trainLoss, (record.validationLoss ?? .nan) / log(2.0), gflops))
        fflush(stdout)
    }
}
let optimizer = Adam(model.parameters(), lr: 1e-3)
let trainer = Trainer(model: model, optimizer: optimizer, loss: .sequenceCrossEntropy, batchSize: 64, generator: generator)
trainer.scheduler = CosineAnnealingLR(optimizer, period: epochs)
trainer.callbacks = [Timer()]
try trainer.fit(train, validation: validation, epochs: epochs)
