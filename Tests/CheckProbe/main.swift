// Runs one misuse of the public API named on the command line, so that a test can check
// (in a subprocess, since the process stops) that Myelin stops with a message naming the op
// and the shapes, in the build configuration under test. Prints "no error" if it survives.
import Foundation
import Myelin

let cases: [String: () -> Void] = [
    "linear-shape": { _ = Linear(784, 10)(Tensor.zeros([5, 3])) },
    "add-broadcast": { _ = Tensor.zeros([4, 3]) + Tensor.zeros([5, 3]) },
    "cross-entropy-label": { _ = crossEntropy(Tensor.zeros([2, 10]), [3, 42]) },
    "matmul-shape": { _ = Tensor.zeros([2, 3]).matmul(Tensor.zeros([4, 5])) },
    "reshape-count": { _ = Tensor.zeros([2, 3]).reshape([4, 2]) },
    "recurrent-state-shape": {
        // Exported with the state as model inputs [B, layers, H], passed on without the transpose to [layers, B, H].
        let lstm = LSTM(4, 8, numLayers: 2, batchFirst: true)
        var options = BundleExporter.Options()
        options.calibrationInputs = [Tensor.zeros([3, 5, 4]), Tensor.zeros([3, 2, 8]), Tensor.zeros([3, 2, 8])]
        _ = try? BundleExporter.export(lstm, inputs: [("x", [5, 4]), ("h0", [2, 8]), ("c0", [2, 8])], options: options) { t in
            let (y, state) = lstm(t[0], (t[1], t[2]))
            return [y, state.h, state.c]
        }
    },
]
// `CheckProbe write-loop checkpoint|bundle PATH FIRST`: saves version FIRST, FIRST + 1, …
// of a checkpoint or bundle to PATH without end, printing each version once its save has
// returned; CrashSafetyTests kills it (SIGKILL) at random moments. Every value of version
// v is `crashProbeValue(v, i)`, so a reader can tell a whole file from a mixed one.
func crashProbeValue(_ version: Int, _ i: Int) -> Float { Float(version) + Float(i % 1000) * 0.001 }
if CommandLine.arguments.count == 5, CommandLine.arguments[1] == "write-loop", var version = Int(CommandLine.arguments[4]) {
    let kind = CommandLine.arguments[2], path = CommandLine.arguments[3]
    let g = Generator(seed: 1)
    let model = Sequential(Linear(256, 512, generator: g), ReLU(), Linear(512, 10, generator: g))   // 136K floats
    let trainer = Trainer(model: model, optimizer: SGD(model.parameters(), lr: 0.1), batchSize: 8, generator: g)
    let count = 256 * 1024
    setvbuf(stdout, nil, _IOLBF, 0)
    while true {
        if kind == "checkpoint" {
            for p in model.parameters() { for i in 0..<p.data.count { p.data[i] = crashProbeValue(version, i) } }
            try Checkpoint(trainer: trainer, metadata: ["version": String(version)]).save(to: path)
        } else {
            var bundle = ModelBundle(precision: .f32, tensors: [.init(name: "w", floats: (0..<count).map { crashProbeValue(version, $0) }, shape: [count])],
                                     values: [.init(name: "x", dtype: .f32, shape: [count]), .init(name: "y", dtype: .f32, shape: [count])],
                                     inputs: [0], outputs: [1], ops: [.init(.add, inputs: [0], outputs: [1], tensors: [0])])
            bundle.metadata = [("version", String(version))]
            try bundle.write(to: path)
        }
        print("saved \(version)")
        version += 1
    }
}
// `CheckProbe malloc-threshold`: makes one tensor (which keeps freed memory in the process
// unless MYELIN_MALLOC_DEFAULTS=1, see `Tensor.allocatorTuned`), then prints whether glibc
// serves a fresh 24 MiB block by mmap ("mmap", its default for blocks of 128 KiB and more)
// or from the heap ("heap", under the 32 MiB threshold Myelin sets). A mapped block is whole
// pages, so its usable size exceeds the request by almost a page; a heap block's by < 32 bytes.
@_silgen_name("malloc_usable_size") func glibcMallocUsableSize(_ block: UnsafeMutableRawPointer?) -> Int
if CommandLine.arguments.count == 2, CommandLine.arguments[1] == "malloc-threshold" {
    _ = Tensor.zeros([1])
    let request = 24 << 20
    guard let block = malloc(request) else { exit(3) }
    print(glibcMallocUsableSize(block) - request >= 1024 ? "mmap" : "heap")
    free(block)
    exit(0)
}
guard CommandLine.arguments.count == 2, let run = cases[CommandLine.arguments[1]] else {
    print("usage: CheckProbe <\(cases.keys.sorted().joined(separator: "|"))>")
    exit(2)
}
run()
print("no error")
