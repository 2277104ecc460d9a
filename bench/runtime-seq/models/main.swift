// Builds the sequence benchmark's Myelin bundles from the PyTorch twins' weights
// (bench/runtime-seq/twins.py writes them as .mst state files) and checks each bundle
// against PyTorch's outputs on the same inputs before writing it.
//
//   swift run RuntimeSeqModels DIR      reads DIR/{lstm,transformer}.mst, writes DIR/{lstm,lstm-f16,lstm-int8,transformer}.myelin
import Foundation
import Myelin

let args = CommandLine.arguments
guard args.count >= 2 else {
    FileHandle.standardError.write("usage: RuntimeSeqModels DIR\n".data(using: .utf8)!)
    exit(2)
}
let dir = args[1]

func floats(_ name: String) throws -> [Float] {
    let d = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name)"))
    return d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

func maxRelativeError(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
}

/// LSTM(256, 256), batch first: x [B, T, 256] → every step's h [B, T, 256].
final class LSTMLayer: Layer {
    let lstm = LSTM(256, 256, batchFirst: true)
    var isTraining = true
    func forward(_ x: Tensor) -> Tensor { lstm(x).output }
    var children: [(String, any Module)] { [] }
    var localParameters: [(String, Tensor)] { lstm.localParameters }
    var description: String { "LSTMLayer" }
}

/// The twin of twins.py's CharTransformer (same parameter names).
final class CharTransformer: Layer {
    let embed = Embedding(96, 128), position = LearnedPositionalEncoding(128, 128)
    let layers = (0..<2).map { _ in
        TransformerEncoderLayer(128, numHeads: 4, dimFeedforward: 512, dropout: 0, activation: .gelu, batchFirst: true, normFirst: true)
    }
    let norm = LayerNorm(128), head = Linear(128, 96)
    var isTraining = true
    func forward(_ x: Tensor) -> Tensor {
        var h = position(embed(x))
        for layer in layers { h = layer(h, causal: true) }
        return head(norm(h))
    }
    var children: [(String, any Module)] {
        [("embed", embed), ("position", position)] + layers.enumerated().map { ("layers.\($0.offset)", $0.element as any Module) }
            + [("norm", norm), ("head", head)]
    }
    var description: String { "CharTransformer" }
}

func export(_ model: any Layer, name: String, input: Tensor, inputName: String, reference: [Float],
            precision: BundlePrecision = .f32, file: String? = nil) throws {
    try model.loadStateDict(try StateDictFile.read(from: "\(dir)/\(name).mst"))
    model.eval()
    let swift = noGrad { model(input) }.data
    var options = BundleExporter.Options(precision: precision)
    options.calibrationInputs = [input]
    options.selfTestInputs = [input]
    let bundle = try BundleExporter.export(model, inputs: [(inputName, Array(input.shape.dropFirst()))], outputNames: ["output"],
                                           options: options) { [model($0[0])] }
    let runtime = BundleExecutor(bundle, reference: false).run([input.data], batch: 1)[0]
    let file = file ?? name
    print("\(file): Swift vs PyTorch max rel. error \(maxRelativeError(swift, reference)), bundle vs PyTorch \(maxRelativeError(runtime, reference))")
    try Data(bundle.encode()).write(to: URL(fileURLWithPath: "\(dir)/\(file).myelin"))
}

let lstmInput = Tensor(shape: [1, 16, 256], data: try floats("lstm.input.f32"))
try export(LSTMLayer(), name: "lstm", input: lstmInput, inputName: "x", reference: try floats("lstm.ref.f32"))
// The same weights stored as f16 (computation stays f32): half the bytes each step reads.
try export(LSTMLayer(), name: "lstm", input: lstmInput, inputName: "x", reference: try floats("lstm.ref.f32"), precision: .f16,
           file: "lstm-f16")
// And as i8 with per-row scales (weight-only: x, h, c and the sums stay f32): a quarter of the bytes.
try export(LSTMLayer(), name: "lstm", input: lstmInput, inputName: "x", reference: try floats("lstm.ref.f32"), precision: .int8,
           file: "lstm-int8")
let tokenData = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/transformer.tokens.i32"))
let tokens = tokenData.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }.map { Float($0) }
try export(CharTransformer(), name: "transformer", input: Tensor(shape: [1, 128], data: tokens), inputName: "tokens",
           reference: try floats("transformer.ref.f32"))
