import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// int8 recurrent weights (issue 12, "int8 weights wherever it keeps accuracy"): rnn, lstm and
/// gru ops store W_ih and W_hh as i8 with one f32 scale per row; x, the state and the sums stay
/// f32. The batch-1 product equals its naive reference bit for bit; int8 exports of recurrent
/// models run identically in C and in the Swift executor, stream like their whole-sequence
/// runs, stay close to the float model; malformed i8 operands are refused with a status, the
/// same from the Swift reader and the C API.
final class RecurrentInt8Tests: XCTestCase {
    // MARK: Kernel

    /// Shapes with a lone last panel, partial panels, k = 1 and the LSTM(256) step's 1024 × 256.
    func testInt8GEMVEqualsItsReferenceBitForBit() {
        let g = Generator(seed: 31)
        for (n, k) in [(1, 1), (31, 5), (32, 3), (33, 7), (64, 300), (97, 513), (1024, 256)] {
            let w = (0..<(n * k)).map { _ in Int8(Int(g.next() % 255) - 127) }
            let x = (0..<k).map { _ in g.nextUniform() * 2 - 1 }
            let scales = (0..<n).map { _ in g.nextUniform() * 0.02 + 1e-4 }, bias = (0..<n).map { _ in g.nextUniform() - 0.5 }
            var packed = [Int8](repeating: 99, count: linearPackedCount(outputs: n, inputs: k))
            int8PackWeights(outputs: n, inputs: k, weights: w, into: &packed)
            var fast = [Float](repeating: .nan, count: n), reference = fast
            linearPackedInt8GEMV(n: n, k: k, x: x, packed: packed, scales: scales, bias: bias, y: &fast)
            int8GEMVReference(n: n, k: k, x: x, weights: w, scales: scales, bias: bias, y: &reference)
            XCTAssertEqual(fast, reference, "int8 GEMV \(n)×\(k)")
            // And the float product of the dequantised weights, to summation-order rounding.
            for j in 0..<n {
                let dot = (0..<k).reduce(Double(0)) { $0 + Double(w[j * k + $1]) * Double(x[$1]) }
                XCTAssertEqual(Double(fast[j]), Double(bias[j]) + Double(scales[j]) * dot, accuracy: 1e-5 * Double(k).squareRoot() + 1e-6,
                               "\(n)×\(k) row \(j)")
            }
        }
    }

    // MARK: Exported models

    static let steps = 6, batch = 2

    static func int8Export(_ model: any Layer, _ x: Tensor, name: String) throws -> (ModelBundle, QuantizationReport) {
        var options = BundleExporter.Options(precision: .int8)
        options.calibrationInputs = [x]
        options.selfTestInputs = [x]
        let (bundle, report) = try BundleExporter.exportWithReport(model, inputs: [(name, Array(x.shape.dropFirst()))], outputNames: ["output"],
                                                                   options: options) { [model($0[0])] }
        return (bundle, report!)
    }

    /// A character LSTM language model (two layers), a GRU, a bidirectional GRU and an RNN
    /// classifier: i8 recurrent weights, one report row per recurrent layer, C == the Swift
    /// executor bit for bit (whole sequences; unidirectional models also step by step, equal
    /// to the whole run), and within weight-rounding of the float model.
    func testInt8RecurrentModelsRunInCLikeTheSwiftExecutor() throws {
        let library = try XCTUnwrap(StreamingRuntime.shared, RuntimeLibrary.loadError)
        let g = Generator(seed: 32)
        let tokens = SequenceRuntimeTests.tokens(33), features = Tensor.randn([Self.batch, Self.steps, 5], generator: Generator(seed: 34))
        let models: [(String, any Layer, Tensor, Bool)] = [
            ("char-lstm", SequenceRuntimeTests.CharLSTM(g), tokens, true),
            ("gru", SequenceRuntimeTests.classifier(GRU(5, 16, batchFirst: true, generator: g), width: 16, g), features, true),
            ("bigru", SequenceRuntimeTests.classifier(GRU(5, 8, batchFirst: true, bidirectional: true, generator: g), width: 16, g), features, false),
            ("rnn", SequenceRuntimeTests.classifier(RNN(5, 12, batchFirst: true, generator: g), width: 12, g), features, true),
        ]
        for (name, model, x, streams) in models {
            model.eval()
            let (bundle, report) = try Self.int8Export(model, x, name: "x")
            let recurrent = bundle.ops.filter { [.rnn, .lstm, .gru].contains($0.code) }
            XCTAssertFalse(recurrent.isEmpty, name)
            for op in recurrent {
                XCTAssertEqual(op.tensors.count % 6, 0, name)
                XCTAssertEqual(op.tensors.map { bundle.tensors[$0].dtype }.filter { $0 == BundleDType.i8.rawValue }.count, 2 * op.tensors.count / 6, name)
            }
            XCTAssertEqual(report.layers.filter { ["rnn", "lstm", "gru"].contains($0.op) }.count, recurrent.count, name)
            // A language model's logits [N, T, V] agree per position, a classifier's per sample.
            XCTAssertEqual(report.positions, name == "char-lstm" ? Self.batch * Self.steps : Self.batch, name)
            for layer in report.layers where layer.op != "linear" { XCTAssertGreaterThan(layer.sqnr, 25, "\(name) \(layer.name)") }

            let perSample = bundle.values[bundle.outputs[0]].count
            let swift = try BundleExecutor(validating: bundle, reference: false).run([x.data], batch: Self.batch)[0]
            let runtime = try StreamingRuntime.Model(library, bytes: bundle.encode(), maxBatch: Self.batch)
            let c = try runtime.run([x.data], batch: Self.batch, outputCount: perSample)
            XCTAssertEqual(c, swift, "\(name): C and the Swift executor")
            let float = noGrad { model(x) }.data
            var error: Float = 0, signal: Float = 0
            for (a, b) in zip(c, float) { error += (a - b) * (a - b); signal += b * b }
            XCTAssertLessThanOrEqual((error / signal).squareRoot(), 0.05, "\(name): int8 against float")
            guard streams else { continue }
            let perStepInput = x.count / (Self.batch * Self.steps)
            var last: [Float] = []
            for t in 0..<Self.steps {
                let rows = x.narrow(axis: 1, start: t, length: 1).data
                XCTAssertEqual(rows.count, Self.batch * perStepInput)
                last = try runtime.step([rows], batch: Self.batch, steps: 1, outputCount: name == "char-lstm" ? perSample / Self.steps : perSample)
                if name == "char-lstm" {
                    let v = perSample / Self.steps
                    var expected: [Float] = []
                    for b in 0..<Self.batch {
                        let start: Int = b * perSample + t * v
                        expected += c[start..<(start + v)]
                    }
                    assertClose(last, expected, atol: 1e-6, rtol: 1e-6, "\(name): step \(t) against the whole run")
                }
            }
            if name != "char-lstm" { assertClose(last, c, atol: 1e-6, rtol: 1e-6, "\(name): the last step against the whole run") }
        }
    }

    /// `recurrentWeights: false` keeps the recurrent weights f32 (the linears still int8).
    func testRecurrentWeightsCanStayFloat() throws {
        let model = SequenceRuntimeTests.CharLSTM(Generator(seed: 35))
        model.eval()
        let x = SequenceRuntimeTests.tokens(36)
        var options = BundleExporter.Options(precision: .int8)
        options.calibrationInputs = [x]
        options.int8.recurrentWeights = false
        let bundle = try BundleExporter.export(model, inputs: [("x", [Self.steps])], outputNames: ["output"], options: options) { [model($0[0])] }
        for op in bundle.ops where op.code == .lstm { XCTAssertEqual(op.tensors.count, 4) }
        XCTAssertTrue(bundle.ops.contains { $0.code == .qlinear })
    }

    // MARK: Malformed operands

    /// A one-op lstm graph (H = 3, in = 2) with i8 weights: the status from the Swift reader and
    /// from the C API's load, which must agree.
    static func status(wih: (BundleDType, [Int]) = (.i8, [12, 2]), whh: (BundleDType, [Int]) = (.i8, [12, 3]),
                       sih: (BundleDType, [Int])? = (.f32, [12]), shh: (BundleDType, [Int])? = (.f32, [12]), scale: Float = 0.01,
                       extra: Int = 0) throws -> (swift: Int32, c: Int32) {
        func tensor(_ name: String, _ t: (BundleDType, [Int]), _ value: Float) -> ModelBundle.TensorEntry {
            let count = t.1.reduce(1, *)
            switch t.0 {
            case .i8: return .init(name: name, dtype: .i8, shape: t.1, data: (0..<count).map { UInt8(bitPattern: Int8($0 % 200 - 100)) })
            case .f16: return .init(name: name, dtype: .f16, shape: t.1, data: [UInt8](repeating: 0x20, count: 2 * count))
            case .i32: return .init(name: name, dtype: .i32, shape: t.1, data: [UInt8](repeating: 1, count: 4 * count))
            default: return .init(name: name, floats: [Float](repeating: value, count: count), shape: t.1)
            }
        }
        var tensors = [tensor("wih", wih, 0.1), tensor("whh", whh, 0.1), tensor("bih", (.f32, [12]), 0.1), tensor("bhh", (.f32, [12]), 0.1)]
        if let s = sih { tensors.append(tensor("sih", s, scale)) }
        if let s = shh { tensors.append(tensor("shh", s, scale)) }
        for i in 0..<extra { tensors.append(tensor("extra\(i)", (.f32, [12]), 0.1)) }
        let bundle = ModelBundle(precision: .int8, tensors: tensors,
                                 values: [.init(name: "x", dtype: .f32, shape: [4, 2]), .init(name: "y", dtype: .f32, shape: [4, 3])],
                                 inputs: [0], outputs: [1], ops: [.init(.lstm, inputs: [0], outputs: [1], tensors: Array(tensors.indices))])
        let bytes = try bundle.encode()
        let swift: Int32
        do {
            _ = try ModelBundle(decoding: bytes)
            swift = 0
        } catch let e as BundleError {
            swift = e.status.rawValue
        } catch let s as BundleStatus {
            swift = s.rawValue
        } catch {
            swift = -1
        }
        let library = try XCTUnwrap(RuntimeLibrary.shared, RuntimeLibrary.loadError)
        return (swift, library.loadStatus(bytes))
    }

    func testMalformedInt8RecurrentOperandsGetAStatusFromSwiftAndC() throws {
        let cases: [(String, (swift: Int32, c: Int32), BundleStatus)] = [
            ("well formed", try Self.status(), .ok),
            ("scale count", try Self.status(sih: (.f32, [11])), .shapeMismatch),
            ("scale rank", try Self.status(shh: (.f32, [12, 1])), .shapeMismatch),
            ("scale dtype", try Self.status(sih: (.f16, [12])), .unsupported),
            ("scale i32", try Self.status(shh: (.i32, [12])), .unsupported),
            ("scales missing", try Self.status(sih: nil, shh: nil), .corrupt),
            ("one scale missing", try Self.status(shh: nil), .corrupt),
            ("a seventh tensor", try Self.status(extra: 1), .corrupt),
            ("W_hh f32 beside i8 W_ih", try Self.status(whh: (.f32, [12, 3])), .unsupported),
            ("W_ih f32 with scales", try Self.status(wih: (.f32, [12, 2])), .corrupt),
            ("W_hh shape", try Self.status(whh: (.i8, [12, 4])), .shapeMismatch),
            ("W_ih shape", try Self.status(wih: (.i8, [12, 3])), .shapeMismatch),
            ("W_ih rows", try Self.status(wih: (.i8, [10, 2]), whh: (.i8, [10, 3])), .shapeMismatch),
            ("zero scale", try Self.status(scale: 0), .corrupt),
            ("negative scale", try Self.status(scale: -1), .corrupt),
            ("NaN scale", try Self.status(scale: .nan), .corrupt),
            ("infinite scale", try Self.status(scale: .infinity), .corrupt),
        ]
        for (name, got, want) in cases {
            XCTAssertEqual(got.swift, want.rawValue, "\(name): Swift reader")
            XCTAssertEqual(got.c, want.rawValue, "\(name): C API")
        }
    }
}
