import Foundation

/// Runs a bundle in Swift: the reference the C runtime is tested against, the exporter's
/// calibration pass, and what `myelin inspect` uses for the self-test.
///
/// - `linear` goes through `linearPacked` (the runtime's own f32 kernel, shared source),
///   so f32 bundles give the runtime's results bit for bit.
/// - `qlinear` goes through the naive `qgemmReference` and the shared quantisation
///   formulas of QuantizedGEMM.swift: the Swift-side reference of the runtime's integer
///   arithmetic, independent of its packed VNNI kernel.
/// - activations use the same formulas and libm functions as the runtime.
///
/// ```swift
/// let outputs = BundleExecutor(bundle).run(images, batch: 64)   // [64 × outputSize]
/// ```
public final class BundleExecutor {
    public let bundle: ModelBundle
    /// Per op: packed f32 weights (`linear`) or per-channel multipliers (`qlinear`).
    private var packed: [Int: [Float]] = [:]

    public init(_ bundle: ModelBundle) {
        self.bundle = bundle
        for (i, op) in bundle.ops.enumerated() {
            let x = bundle.values[op.inputs[0]], y = bundle.values[op.outputs[0]]
            switch op.code {
            case .linear:
                let w = bundle.tensors[op.tensors[0]].floats
                var p = [Float](repeating: 0, count: linearPackedCount(outputs: y.count, inputs: x.count))
                w.withUnsafeBufferPointer { wp in
                    p.withUnsafeMutableBufferPointer { linearPackWeights(outputs: y.count, inputs: x.count, weights: wp.baseAddress!, into: $0.baseAddress!) }
                }
                packed[i] = p
            case .qlinear:
                let scales = bundle.tensors[op.tensors[1]].floats
                packed[i] = scales.map {
                    qlinearMultiplier(inputScale: x.scale, weightScale: $0,
                                      outputScale: y.dtype == BundleDType.u8.rawValue ? y.scale : nil)
                }
            default:
                break
            }
        }
    }

    /// A value's contents for a batch: floats for f32 values, bytes for u8 values.
    public enum Contents {
        case f32([Float])
        case u8([UInt8])
    }

    /// Runs `batch` samples (`input` is `[batch × inputSize]`) and returns `[batch × outputSize]`.
    /// `observe` sees every value as it is produced (value id, contents).
    public func run(_ input: [Float], batch: Int, observe: ((Int, Contents) -> Void)? = nil) -> [Float] {
        check(input.count == batch * bundle.inputSize,
                     "BundleExecutor: \(input.count) inputs for a batch of \(batch) × \(bundle.inputSize)")
        var contents: [Int: Contents] = [bundle.inputs[0]: .f32(input)]
        for (i, op) in bundle.ops.enumerated() {
            let xv = bundle.values[op.inputs[0]], yv = bundle.values[op.outputs[0]]
            let n = yv.count, k = xv.count
            let result: Contents
            switch (op.code!, contents[op.inputs[0]]!) {
            case (.linear, .f32(let x)):
                let bias = op.tensors.count > 1 ? bundle.tensors[op.tensors[1]].floats : nil
                var y = [Float](repeating: 0, count: batch * n)
                var workspace = [Float](repeating: 0, count: linearPackedWorkspaceCount)
                let relu = op.attribute(.activation) == .int(BundleActivation.relu.rawValue)
                packed[i]!.withUnsafeBufferPointer { w in
                    x.withUnsafeBufferPointer { xp in
                        y.withUnsafeMutableBufferPointer { yp in
                            workspace.withUnsafeMutableBufferPointer { ws in
                                if let bias {
                                    bias.withUnsafeBufferPointer { bp in
                                        linearPacked(m: batch, n: n, k: k, x: xp.baseAddress!, ldx: k, packed: w.baseAddress!,
                                                     bias: bp.baseAddress!, y: yp.baseAddress!, ldy: n, relu: relu, workspace: ws.baseAddress!)
                                    }
                                } else {
                                    linearPacked(m: batch, n: n, k: k, x: xp.baseAddress!, ldx: k, packed: w.baseAddress!,
                                                 bias: nil, y: yp.baseAddress!, ldy: n, relu: relu, workspace: ws.baseAddress!)
                                }
                            }
                        }
                    }
                }
                result = .f32(y)
            case (.qlinear, .u8(let x)):
                let w = bundle.tensors[op.tensors[0]].data.map { Int8(bitPattern: $0) }
                let bias = bundle.tensors[op.tensors[2]].data.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
                var acc = [Int32](repeating: 0, count: batch * n)
                qgemmReference(m: batch, n: n, k: k, x: x, ldx: k, w: w, bias: bias, acc: &acc, ldacc: n)
                let multipliers = packed[i]!
                let relu = op.attribute(.activation) == .int(BundleActivation.relu.rawValue)
                if yv.dtype == BundleDType.f32.rawValue {
                    result = .f32(acc.indices.map { dequantizeAccumulator(acc[$0], multiplier: multipliers[$0 % n], relu: relu) })
                } else {
                    let z = Float(yv.zeroPoint), low: Float = relu ? z : 0
                    result = .u8(acc.indices.map { requantizeToU8(acc[$0], multiplier: multipliers[$0 % n], zeroPoint: z, low: low) })
                }
            case (.quantize, .f32(let x)):
                let inv = quantizationInverseScale(yv.scale), z = Float(yv.zeroPoint)
                result = .u8(x.map { quantizeToU8($0, invScale: inv, zeroPoint: z) })
            case (_, .f32(let x)):
                result = .f32(elementwise(op, x, batch: batch, count: n))
            default:
                fatalError("BundleExecutor: op \(op.opcode) got an input of the wrong type")
            }
            contents[op.outputs[0]] = result
            observe?(op.outputs[0], result)
        }
        guard case .f32(let out) = contents[bundle.outputs[0]]! else { fatalError("BundleExecutor: output is not f32") }
        return out
    }

    /// The f32 activation ops, as the runtime computes them (Executor.swift).
    private func elementwise(_ op: ModelBundle.Op, _ x: [Float], batch: Int, count n: Int) -> [Float] {
        func parameter(_ key: BundleAttribute) -> Float {
            if case .float(let v) = op.attribute(key) { return Float(v) }
            fatalError("BundleExecutor: missing attribute \(key)")
        }
        var y = x
        switch op.code! {
        case .relu: y = x.map { Swift.max($0, 0) }
        case .leakyRelu: let s = parameter(.slope); y = x.map { $0 > 0 ? $0 : s * $0 }
        case .elu: let a = parameter(.alpha); y = x.map { $0 > 0 ? $0 : a * Foundation.expm1($0) }
        case .sigmoid:
            y = x.map { v in
                if v >= 0 { return 1 / (1 + Foundation.exp(-v)) }
                let e = Foundation.exp(v)
                return e / (1 + e)
            }
        case .tanh: y = x.map { Foundation.tanh($0) }
        case .softmax, .logSoftmax:
            for r in 0..<batch {
                let row = Array(x[(r * n)..<((r + 1) * n)])
                var top = -Float.infinity
                for v in row { top = Swift.max(top, v) }
                if op.code == .softmax {
                    var z: Float = 0
                    for j in 0..<n { let e = Foundation.exp(row[j] - top); y[r * n + j] = e; z += e }
                    for j in 0..<n { y[r * n + j] /= z }
                } else {
                    var z: Float = 0
                    for v in row { z += Foundation.exp(v - top) }
                    let logZ = Foundation.log(z)
                    for j in 0..<n { y[r * n + j] = (row[j] - top) - logZ }
                }
            }
        case .scaleShift:
            let scale = bundle.tensors[op.tensors[0]].floats, shift = bundle.tensors[op.tensors[1]].floats
            for i in 0..<y.count { y[i] = x[i] * scale[i % n] + shift[i % n] }
        default:
            fatalError("BundleExecutor: \(op.opcode) is not elementwise")
        }
        return y
    }

    /// Runs the stored self-test vectors: whether all pass and the largest deviation.
    public func selfTest() -> (passed: Bool, maxError: Float)? {
        guard let t = bundle.selfTest else { return nil }
        let y = run(t.inputs[0], batch: t.count)
        var passed = true, maxError: Float = 0
        for (v, e) in zip(y, t.expected[0]) {
            let d = abs(v - e)
            if !(d <= t.atol + t.rtol * abs(e)) { passed = false }
            maxError = Swift.max(maxError, d.isNaN ? .infinity : d)
        }
        return (passed, maxError)
    }
}
