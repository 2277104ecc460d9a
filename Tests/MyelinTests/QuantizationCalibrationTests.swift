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
}
