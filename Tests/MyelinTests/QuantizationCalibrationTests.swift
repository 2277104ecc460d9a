import XCTest
@testable import Myelin
@testable import MyelinShared

/// int8 export calibration: MSE-chosen activation ranges (clip long tails, keep ranges
/// without tails), and mixed precision by argmax agreement (`minimumAgreement`).
final class QuantizationCalibrationTests: XCTestCase {
    /// Squared error of the u8 round trip of `data` with range `r`.
    static func roundTripError(_ data: [Float], _ r: (Float, Float)) -> Double {
        let p = Quantization.activationQuantization(r)
        let inverse = quantizationInverseScale(p.scale), z = Float(p.zeroPoint)
        return data.reduce(0.0) { e, x in
            let d = Double(x - p.scale * (Float(quantizeToU8(x, invScale: inverse, zeroPoint: z)) - z))
            return e + d * d
        }
    }

    func testMSERangeClipsATailWhenThatLowersTheErrorAndNeverDoesWorse() {
        let g = Generator(seed: 2)
        // 200k values in [0, 1) and two outliers: clipping near 1.46 costs the two less than
        // the resolution it gives everything else (16% less squared error).
        var tail = Tensor.uniform([200_000], low: 0, high: 1, generator: g).data
        tail += [1.6, 1.7]
        let minMax = Quantization.calibratedRange(tail, .minMax)
        XCTAssertEqual(minMax.1, 1.7)
        XCTAssertTrue(minMax.0 >= 0 && minMax.0 < 1e-3)
        let mse = Quantization.calibratedRange(tail, .mse)
        XCTAssertLessThan(mse.1, 0.9 * 1.7, "the tail is clipped")
        XCTAssertLessThan(Self.roundTripError(tail, mse), 0.9 * Self.roundTripError(tail, minMax))

        // Other shapes: a range f·(min, max) with f in [0.2, 1], never a larger error than min/max.
        let shapes: [[Float]] = [
            Tensor.uniform([20000], low: -2, high: 3, generator: g).data,
            Tensor.randn([20000], generator: g).data.map { exp($0) },
            Tensor.randn([20000], generator: g).data.map { Swift.max($0, 0) },
        ]
        for (k, data) in shapes.enumerated() {
            let a = Quantization.calibratedRange(data, .minMax), b = Quantization.calibratedRange(data, .mse)
            let f = b.1 / a.1
            XCTAssertTrue(f >= 0.2 - 1e-6 && f <= 1, "shape \(k): factor \(f)")
            if a.0 < 0 { XCTAssertEqual(b.0 / a.0, f, accuracy: 1e-5, "shape \(k): both ends scaled alike") }
            XCTAssertLessThanOrEqual(Self.roundTripError(data, b), Self.roundTripError(data, a), "shape \(k)")
        }
        // No finite value: an empty range, no crash.
        XCTAssertTrue(Quantization.calibratedRange([.nan, .infinity], .mse) == (0, 0))
    }

    /// A CNN whose top two logits nearly tie disagrees with float on some calibration samples
    /// in int8; with `minimumAgreement` 1 the export keeps layers in f32, one at a time,
    /// until it agrees on all of them, and says so per layer and in the metadata.
    func testMinimumAgreementKeepsLayersInFloatUntilTheTargetIsMet() throws {
        let g = Generator(seed: 11)
        let head = Linear(8 * 11 * 11, 10, generator: g)
        let model = Sequential(Conv2d(1, 8, kernelSize: 3, generator: g), ReLU(), MaxPool2d(kernelSize: 2),
                               Conv2d(8, 8, kernelSize: 3, generator: g), ReLU(), Flatten(), head)
        model.eval()
        // Classes 0 and 1 nearly tie on every sample (row 1 = 3·row 0 + 0.1% noise, other rows
        // small): their order is decided by differences int8's weight rounding overturns.
        var w = head.weight.data
        let k = 8 * 11 * 11
        let noise = Tensor.randn([k], generator: g).data
        for p in 0..<k {
            w[p] *= 3
            w[k + p] = w[p] + 0.001 * abs(w[p]) * noise[p]
        }
        head.weight.data = w
        head.bias?.data = [Float](repeating: 0, count: 10)
        var options = BundleExporter.Options(precision: .int8)
        options.calibration = Tensor.uniform([400, 1, 28, 28], generator: Generator(seed: 12))
        let (_, plain) = try BundleExporter.exportWithReport(model, options: options)
        let before = try XCTUnwrap(plain?.argmaxAgreement)
        XCTAssertLessThan(before, 1, "the all-int8 model disagrees somewhere (else this test shows nothing)")
        XCTAssertTrue(plain!.layers.allSatisfy(\.quantized))

        options.int8.minimumAgreement = 1
        let (bundle, searched) = try BundleExporter.exportWithReport(model, options: options)
        let report = try XCTUnwrap(searched)
        XCTAssertEqual(report.argmaxAgreement, 1, "\(report)")
        let kept = report.layers.filter { !$0.quantized }
        XCTAssertFalse(kept.isEmpty)
        XCTAssertTrue(kept.allSatisfy { $0.reason == "agreement below 100.00%" }, "\(report)")
        XCTAssertEqual(bundle.metadata.first { $0.key == "int8.float_layers" }?.value, kept.map(\.name).joined(separator: ","))
        XCTAssertEqual(bundle.ops.filter { $0.code == .conv2d || $0.code == .linear }.count, kept.count, "kept layers run in f32")
        // A target already met keeps every layer int8.
        options.int8.minimumAgreement = before
        XCTAssertTrue(try BundleExporter.exportWithReport(model, options: options).report!.layers.allSatisfy(\.quantized))
    }

    /// x [2, 6, 6] → conv 3×3 (2 → 4, ReLU) → depthwise 3×3 (ReLU) → conv 1×1 (4 → 3), float,
    /// with the first conv's output channels spanning very different ranges; calibration values
    /// of every value on `n` inputs.
    static func unevenChain(n: Int) throws -> (ModelBundle, [Float], [Int: Tensor]) {
        let g = Generator(seed: 21)
        func conv(_ x: Int, _ y: Int, _ t: Int, groups: Int, padding: Int, relu: Bool) -> ModelBundle.Op {
            let p = Int64(padding)
            return .init(.conv2d, inputs: [x], outputs: [y], tensors: [t, t + 1],
                         attributes: [(.stride, .ints([1, 1])), (.padding, .ints([p, p, p, p])), (.dilation, .ints([1, 1])),
                                      (.groups, .int(Int64(groups)))] + (relu ? [(.activation, .int(1))] : []))
        }
        var w1 = Tensor.randn([4, 2, 3, 3], generator: g).data
        let spread: [Float] = [1, 0.05, 4, 0.3]
        for i in w1.indices { w1[i] *= spread[i / 18] }
        let tensors: [ModelBundle.TensorEntry] = [
            .init(name: "c1.weight", floats: w1, shape: [4, 2, 3, 3]), .init(name: "c1.bias", floats: spread.map { 0.1 * $0 }, shape: [4]),
            .init(name: "c2.weight", floats: Tensor.randn([4, 1, 3, 3], generator: g).data, shape: [4, 1, 3, 3]),
            .init(name: "c2.bias", floats: [0.1, -0.05, 0.2, 0], shape: [4]),
            .init(name: "c3.weight", floats: Tensor.randn([3, 4, 1, 1], generator: g).data, shape: [3, 4, 1, 1]),
            .init(name: "c3.bias", floats: [0, 0.1, -0.1], shape: [3]),
        ]
        let values: [ModelBundle.Value] = [.init(name: "x", dtype: .f32, shape: [2, 6, 6]), .init(name: "a", dtype: .f32, shape: [4, 6, 6]),
                                           .init(name: "b", dtype: .f32, shape: [4, 6, 6]), .init(name: "y", dtype: .f32, shape: [3, 6, 6])]
        let f = ModelBundle(precision: .f32, tensors: tensors, values: values, inputs: [0], outputs: [3],
                            ops: [conv(0, 1, 0, groups: 1, padding: 1, relu: true), conv(1, 2, 2, groups: 4, padding: 1, relu: true),
                                  conv(2, 3, 4, groups: 1, padding: 0, relu: false)])
        let x = Tensor.uniform([n * 72], generator: g).data
        var samples: [Int: Tensor] = [0: Tensor(shape: [n, 2, 6, 6], data: x)]
        _ = try BundleExecutor(validating: f, reference: false).run([.f32(x)], batch: n) { v, contents in
            samples[v] = Tensor(shape: [n] + f.values[v].shape, data: contents.floats)
        }
        return (f, x, samples)
    }

    static func channelMaxima(_ t: Tensor) -> [Float] {
        let channels = t.shape[1], plane = t.count / (t.shape[0] * channels)
        var top = [Float](repeating: 0, count: channels)
        for (i, v) in t.data.enumerated() { top[(i / plane) % channels] = Swift.max(top[(i / plane) % channels], abs(v)) }
        return top
    }

    /// Range equalisation changes no float output; the first conv's output (read by a
    /// depthwise conv) gets the same range in every channel, the depthwise conv's (read by a
    /// 1×1 conv) ranges closer together (ratio to the power 0.25); the rescaled calibration
    /// values are what the equalised graph computes.
    func testRangeEqualisationKeepsTheFloatOutputsAndEvensTheChannelRanges() throws {
        let n = 16
        let (f, x, samples) = try Self.unevenChain(n: n)
        var readers = [[Int]](repeating: [], count: f.values.count)
        for (i, op) in f.ops.enumerated() { for v in op.inputs { readers[v].append(i) } }
        var e = f
        let rescaled = try Quantization.equalizeRanges(&e, readers: readers, sample: { samples[$0]! })
        XCTAssertEqual(Set(rescaled.keys), [1, 2], "the outputs read by one conv, not the graph output")
        let before = try BundleExecutor(validating: f, reference: false).run([x], batch: n)[0]
        var observed: [Int: [Float]] = [:]
        let after = try BundleExecutor(validating: e, reference: false).run([.f32(x)], batch: n) { observed[$0] = $1.floats }[0].floats
        let top = before.map(abs).max()!
        for (a, b) in zip(before, after) { XCTAssertEqual(a, b, accuracy: 1e-5 * top) }
        for v in [1, 2] {
            let scale = rescaled[v]!.data.map(abs).max()!
            for (a, b) in zip(rescaled[v]!.data, observed[v]!) { XCTAssertEqual(a, b, accuracy: 1e-5 * scale, "value \(v)") }
        }
        let a0 = Self.channelMaxima(samples[1]!), a1 = Self.channelMaxima(rescaled[1]!)
        XCTAssertGreaterThan(a0.max()! / a0.min()!, 10, "uneven to begin with")
        for m in a1 { XCTAssertEqual(m, a1.max()!, accuracy: 1e-5 * a1.max()!) }
        let b0 = Self.channelMaxima(samples[2]!), b1 = Self.channelMaxima(rescaled[2]!)
        XCTAssertEqual(b1.max()! / b1.min()!, powf(b0.max()! / b0.min()!, 0.25), accuracy: 1e-3 * b1.max()! / b1.min()!)
    }

    /// Bias correction: the mean float − int8 output per channel of a depthwise conv, folded
    /// into the int8 op's bias, leaves (measured again) a residual of under 10% of it.
    func testBiasCorrectionRemovesTheMeanInt8ErrorPerChannel() throws {
        let n = 16
        let (f, _, samples) = try Self.unevenChain(n: n)
        let op = f.ops[1], input = samples[1]!
        let p = Quantization.activationQuantization(Quantization.calibratedRange(input.data, .mse))
        let shift = try Quantization.biasCorrection(f, op, input: input, inputScale: p.scale, inputZeroPoint: p.zeroPoint, rows: n)
        let largest = shift.map(abs).max()!
        XCTAssertGreaterThan(largest, 0, "int8 has a mean error to correct")
        let residual = try Quantization.biasCorrection(f, op, input: input, inputScale: p.scale, inputZeroPoint: p.zeroPoint, rows: n,
                                                       applied: shift)
        for r in residual { XCTAssertLessThan(abs(r), 0.1 * largest) }
    }
}
