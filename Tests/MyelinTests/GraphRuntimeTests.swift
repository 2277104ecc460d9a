import Foundation
import XCTest
@testable import Myelin
@testable import MyelinShared

/// Bundle format 2 graphs: every op run by the shared executor (through `BundleExecutor`)
/// against a naive Swift computation; a DAG with two inputs and two outputs run by the C
/// runtime and by Swift; the memory planner; and each op's rules on damaged records, with
/// the same status from the Swift reader and the C runtime.
final class GraphRuntimeTests: XCTestCase {
    typealias Op = ModelBundle.Op

    /// A hand-built graph: inputs and outputs by value id.
    static func graph(_ values: [ModelBundle.Value], inputs: [Int], outputs: [Int], ops: [Op],
                      tensors: [ModelBundle.TensorEntry] = []) -> ModelBundle {
        ModelBundle(precision: .f32, tensors: tensors, values: values, inputs: inputs, outputs: outputs, ops: ops)
    }

    static func f32(_ name: String, _ shape: [Int]) -> ModelBundle.Value { .init(name: name, dtype: .f32, shape: shape) }

    static func random(_ n: Int, seed: UInt64, scale: Float = 2) -> [Float] {
        let g = Generator(seed: seed)
        return (0..<n).map { _ in (g.nextUniform() * 2 - 1) * scale }
    }

    /// Runs a one-op graph with f32 inputs of the given shapes; returns inputs and outputs.
    func runOp(_ op: Op, inputs shapes: [[Int]], output: [Int], tensors: [ModelBundle.TensorEntry] = [], batch: Int = 3,
               file: StaticString = #filePath, line: UInt = #line) throws -> (x: [[Float]], y: [Float]) {
        var values = shapes.enumerated().map { Self.f32("x\($0.offset)", $0.element) }
        values.append(Self.f32("y", output))
        var o = op
        o.inputs = Array(0..<shapes.count)
        o.outputs = [shapes.count]
        let bundle = Self.graph(values, inputs: Array(0..<shapes.count), outputs: [shapes.count], ops: [o], tensors: tensors)
        let x = shapes.enumerated().map { Self.random(batch * $0.element.reduce(1, *), seed: UInt64(7 + $0.offset)) }
        let executor = try BundleExecutor(validating: bundle)
        let y = executor.run(x, batch: batch)[0]
        XCTAssertEqual(y.count, batch * output.reduce(1, *), file: file, line: line)
        return (x, y)
    }

    func assertClose(_ a: [Float], _ b: [Float], tolerance: Float = 1e-5, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, message, file: file, line: line)
        for (i, (u, v)) in zip(a, b).enumerated() where !(abs(u - v) <= tolerance * Swift.max(1, abs(v))) {
            XCTFail("\(message) element \(i): \(u) vs \(v)", file: file, line: line)
            return
        }
    }

    /// Row-major index helpers for naive references.
    static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        for i in stride(from: shape.count - 2, through: 0, by: -1) { s[i] = s[i + 1] * shape[i + 1] }
        return s
    }

    static func index(_ flat: Int, _ shape: [Int]) -> [Int] {
        var rest = flat
        return Self.strides(shape).map { s in defer { rest %= s }; return rest / s }
    }

    // MARK: Every op against a naive computation

    func testElementwiseActivations() throws {
        let cases: [(Op, (Float) -> Float)] = [
            (Op(.relu, inputs: [], outputs: []), { max($0, 0) }),
            (Op(.leakyRelu, inputs: [], outputs: [], attributes: [(.slope, .float(0.1))]), { $0 > 0 ? $0 : 0.1 * $0 }),
            (Op(.elu, inputs: [], outputs: [], attributes: [(.alpha, .float(0.7))]), { $0 > 0 ? $0 : 0.7 * (exp($0) - 1) }),
            (Op(.sigmoid, inputs: [], outputs: []), { 1 / (1 + exp(-$0)) }),
            (Op(.tanh, inputs: [], outputs: []), { tanh($0) }),
        ]
        for (op, f) in cases {
            let (x, y) = try runOp(op, inputs: [[2, 3]], output: [2, 3])
            assertClose(y, x[0].map(f), "\(op.code!)")
        }
    }

    func testSoftmaxAlongEachAxis() throws {
        let shape = [3, 4, 2]
        for axis in 0..<3 {
            for log in [false, true] {
                let op = Op(log ? .logSoftmax : .softmax, inputs: [], outputs: [], attributes: [(.axis, .int(Int64(axis)))])
                let (x, y) = try runOp(op, inputs: [shape], output: shape, batch: 2)
                var expected = [Float](repeating: 0, count: x[0].count)
                let per = 24, s = Self.strides(shape)
                for i in 0..<x[0].count {
                    let idx = Self.index(i % per, shape)
                    let base = (i / per) * per + i % per - idx[axis] * s[axis]
                    let line = (0..<shape[axis]).map { x[0][base + $0 * s[axis]] }
                    let z = line.map { exp(Double($0)) }.reduce(0, +)
                    expected[i] = log ? Float(Double(x[0][i]) - Foundation.log(z)) : Float(exp(Double(x[0][i])) / z)
                }
                assertClose(y, expected, tolerance: 1e-5, "softmax axis \(axis) log \(log)")
            }
        }
    }

    func testScaleShiftAlongAnAxis() throws {
        let scale: [Float] = [2, -1, 0.5], shift: [Float] = [1, 0, -3]
        let op = Op(.scaleShift, inputs: [], outputs: [], tensors: [0, 1], attributes: [(.axis, .int(1))])
        let (x, y) = try runOp(op, inputs: [[2, 3, 4]], output: [2, 3, 4],
                               tensors: [.init(name: "s", floats: scale, shape: [3]), .init(name: "t", floats: shift, shape: [3])])
        let expected = x[0].indices.map { i -> Float in let c = (i / 4) % 3; return x[0][i] * scale[c] + shift[c] }
        assertClose(y, expected, tolerance: 0)
    }

    func testLinearOnLeadingRowsWithF32AndF16Weights() throws {
        let w = Self.random(4 * 5, seed: 3), b = Self.random(4, seed: 4)
        for half in [false, true] {
            let weight: ModelBundle.TensorEntry = half
                ? .init(name: "w", dtype: .f16, shape: [4, 5], data: w.map(floatToHalfBits).withUnsafeBytes { Array($0) })
                : .init(name: "w", floats: w, shape: [4, 5])
            let used = half ? w.map { halfBitsToFloat(floatToHalfBits($0)) } : w
            let op = Op(.linear, inputs: [], outputs: [], tensors: [0, 1], attributes: [(.activation, .int(1))])
            let (x, y) = try runOp(op, inputs: [[2, 3, 5]], output: [2, 3, 4], tensors: [weight, .init(name: "b", floats: b, shape: [4])])
            var expected = [Float](repeating: 0, count: y.count)
            for r in 0..<(y.count / 4) {
                for j in 0..<4 {
                    var s = b[j]
                    for p in 0..<5 { s += x[0][r * 5 + p] * used[j * 5 + p] }
                    expected[r * 4 + j] = max(s, 0)
                }
            }
            assertClose(y, expected, tolerance: 1e-5, "f16 \(half)")
        }
    }

    /// quantize → qlinear (u8 and f32 outputs) → dequantize against the integer formulas,
    /// with k not a multiple of 4 (the kernel's last row runs from a padded copy).
    func testQuantizedOpsFollowTheFormulas() throws {
        let k = 7, n = 5, batch = 4
        let wq: [Int8] = (0..<(n * k)).map { Int8(($0 * 37) % 255 - 127) }
        let scales: [Float] = (0..<n).map { 0.01 + Float($0) * 0.002 }
        let bias: [Int32] = (0..<n).map { Int32($0 * 100 - 200) }
        let (sx, zx): (Float, Int32) = (0.02, 100), (sy, zy): (Float, Int32) = (0.05, 30)
        let values: [ModelBundle.Value] = [Self.f32("x", [2, k]), .init(name: "q", dtype: .u8, shape: [2, k], scale: sx, zeroPoint: zx),
                                           .init(name: "yq", dtype: .u8, shape: [2, n], scale: sy, zeroPoint: zy),
                                           Self.f32("y", [2, n]), Self.f32("yf", [2, n])]
        let tensors: [ModelBundle.TensorEntry] = [
            .init(name: "w", dtype: .i8, shape: [n, k], data: wq.map { UInt8(bitPattern: $0) }),
            .init(name: "s", floats: scales, shape: [n]),
            .init(name: "b", dtype: .i32, shape: [n], data: bias.withUnsafeBytes { Array($0) }),
        ]
        let ops = [Op(.quantize, inputs: [0], outputs: [1]),
                   Op(.qlinear, inputs: [1], outputs: [2], tensors: [0, 1, 2], attributes: [(.activation, .int(1))]),
                   Op(.dequantize, inputs: [2], outputs: [3]),
                   Op(.qlinear, inputs: [1], outputs: [4], tensors: [0, 1, 2])]
        let bundle = Self.graph(values, inputs: [0], outputs: [3, 4], ops: ops, tensors: tensors)
        let x = Self.random(batch * 2 * k, seed: 9)
        let q = x.map { quantizeToU8($0, invScale: 1 / sx, zeroPoint: Float(zx)) }
        var yq = [Float](), yf = [Float]()
        for r in 0..<(batch * 2) {
            for j in 0..<n {
                var acc = bias[j]
                for p in 0..<k { acc &+= Int32(q[r * k + p]) &* Int32(wq[j * k + p]) }
                let u = requantizeToU8(acc, multiplier: (sx * scales[j]) / sy, zeroPoint: Float(zy), low: Float(zy))
                yq.append(sy * Float(Int32(u) - zy))
                yf.append(Float(acc) * (sx * scales[j]))
            }
        }
        for reference in [true, false] {
            let y = try BundleExecutor(validating: bundle, reference: reference).run([x], batch: batch)
            XCTAssertEqual(y[0], yq, "reference \(reference)")
            XCTAssertEqual(y[1], yf, "reference \(reference)")
        }
    }

    func testBinaryOpsBroadcast() throws {
        let cases: [(BundleOpCode, (Float, Float) -> Float)] = [(.add, { $0 + $1 }), (.sub, { $0 - $1 }), (.mul, { $0 * $1 }), (.div, { $0 / $1 })]
        // (a, b, y) per-sample shapes
        let shapes: [([Int], [Int], [Int])] = [([2, 3], [2, 3], [2, 3]), ([2, 3], [3], [2, 3]), ([2, 1], [1, 3], [2, 3]), ([4, 1, 3], [2, 1], [4, 2, 3])]
        for (code, f) in cases {
            for (sa, sb, sy) in shapes {
                let (x, y) = try runOp(Op(code, inputs: [], outputs: []), inputs: [sa, sb], output: sy, batch: 2)
                let count = sy.reduce(1, *)
                let expected = (0..<y.count).map { i -> Float in
                    let idx = Self.index(i % count, sy), s = i / count
                    func at(_ shape: [Int], _ v: [Float]) -> Float {
                        let pad = sy.count - shape.count, st = Self.strides(shape)
                        let off = shape.indices.reduce(0) { $0 + (shape[$1] == 1 ? 0 : idx[pad + $1] * st[$1]) }
                        return v[s * shape.reduce(1, *) + off]
                    }
                    return f(at(sa, x[0]), at(sb, x[1]))
                }
                XCTAssertEqual(y, expected, "\(code) \(sa) \(sb)")
            }
            // A constant second operand, shared by every sample.
            let c: [Float] = [0.5, -2, 3]
            let (x, y) = try runOp(Op(code, inputs: [], outputs: [], tensors: [0]), inputs: [[2, 3]], output: [2, 3],
                                   tensors: [.init(name: "c", floats: c, shape: [3])])
            XCTAssertEqual(y, x[0].indices.map { f(x[0][$0], c[$0 % 3]) }, "\(code) constant")
        }
    }

    func testMovementOps() throws {
        // concat along axis 1: [2,3] ++ [2,2] → [2,5]
        var (x, y) = try runOp(Op(.concat, inputs: [], outputs: [], attributes: [(.axis, .int(1))]), inputs: [[2, 3], [2, 2]], output: [2, 5], batch: 2)
        var expected: [Float] = []
        for r in 0..<4 {
            expected += Array(x[0][(r * 3)..<(r * 3 + 3)])
            expected += Array(x[1][(r * 2)..<(r * 2 + 2)])
        }
        XCTAssertEqual(y, expected, "concat")
        // reshape [2,3] → [3,2]: the same elements
        (x, y) = try runOp(Op(.reshape, inputs: [], outputs: [], attributes: [(.shape, .ints([3, 2]))]), inputs: [[2, 3]], output: [3, 2])
        XCTAssertEqual(y, x[0], "reshape")
        // transpose [2,3,4] by perm [2,0,1] → [4,2,3]
        (x, y) = try runOp(Op(.transpose, inputs: [], outputs: [], attributes: [(.perm, .ints([2, 0, 1]))]), inputs: [[2, 3, 4]], output: [4, 2, 3], batch: 2)
        expected = (0..<y.count).map { i in
            let s = i / 24, o = Self.index(i % 24, [4, 2, 3])
            return x[0][s * 24 + o[1] * 12 + o[2] * 4 + o[0]]
        }
        XCTAssertEqual(y, expected, "transpose")
        // slice axis 1, 1 ..< 6 by 2 of [2,6] → [2,3]
        (x, y) = try runOp(Op(.slice, inputs: [], outputs: [], attributes: [(.axis, .int(1)), (.start, .int(1)), (.end, .int(6)), (.step, .int(2))]),
                           inputs: [[2, 6]], output: [2, 3])
        expected = (0..<y.count).map { i in x[0][(i / 3) * 6 + 1 + (i % 3) * 2] }
        XCTAssertEqual(y, expected, "slice")
    }

    func testMatMulBatchedAndConstant() throws {
        func naive(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Float] {
            (0..<(m * n)).map { i in (0..<k).reduce(Float(0)) { $0 + a[(i / n) * k + $1] * b[$1 * n + i % n] } }
        }
        // [2,3,4] · [1,4,5] → [2,3,5] (b's leading dim broadcasts)
        var (x, y) = try runOp(Op(.matmul, inputs: [], outputs: []), inputs: [[2, 3, 4], [1, 4, 5]], output: [2, 3, 5], batch: 2)
        var expected: [Float] = []
        for s in 0..<2 {
            for l in 0..<2 { expected += naive(Array(x[0][(s * 24 + l * 12)..<(s * 24 + l * 12 + 12)]), Array(x[1][(s * 20)..<(s * 20 + 20)]), m: 3, k: 4, n: 5) }
        }
        assertClose(y, expected, tolerance: 1e-5, "batched")
        // [3,4] · constant [4,2]
        let c = Self.random(8, seed: 5)
        (x, y) = try runOp(Op(.matmul, inputs: [], outputs: [], tensors: [0]), inputs: [[3, 4]], output: [3, 2],
                           tensors: [.init(name: "c", floats: c, shape: [4, 2])], batch: 2)
        expected = (0..<2).flatMap { s in naive(Array(x[0][(s * 12)..<(s * 12 + 12)]), c, m: 3, k: 4, n: 2) }
        assertClose(y, expected, tolerance: 1e-5, "constant")
    }

    // MARK: A DAG through the C runtime

    /// a [2,3], b [3,2] → features [3,4], probs [3,4]: matmul of two values, transpose, add,
    /// concat, reshape (aliased and not), slice, linear, matmul with a constant, broadcast add, softmax.
    static func dagBundle() -> ModelBundle {
        let values: [ModelBundle.Value] = [
            f32("a", [2, 3]), f32("b", [3, 2]),                        // 0 1
            f32("g", [2, 2]), f32("t", [2, 3]), f32("s", [2, 3]),    // 2 3 4
            f32("c", [2, 6]), f32("r", [3, 4]), f32("sl", [3, 2]),   // 5 6 7
            f32("features", [3, 4]), f32("m", [3, 4]), f32("gr", [1, 4]),  // 8 9 10
            f32("logits", [3, 4]), f32("probs", [3, 4]),               // 11 12
        ]
        let tensors: [ModelBundle.TensorEntry] = [
            .init(name: "w", floats: random(8, seed: 21), shape: [4, 2]), .init(name: "bias", floats: random(4, seed: 22), shape: [4]),
            .init(name: "C", floats: random(16, seed: 23), shape: [4, 4]),
        ]
        let ops = [
            Op(.matmul, inputs: [0, 1], outputs: [2]),
            Op(.transpose, inputs: [1], outputs: [3], attributes: [(.perm, .ints([1, 0]))]),
            Op(.add, inputs: [0, 3], outputs: [4]),
            Op(.concat, inputs: [4, 0], outputs: [5], attributes: [(.axis, .int(1))]),
            Op(.reshape, inputs: [5], outputs: [6], attributes: [(.shape, .ints([3, 4]))]),
            Op(.slice, inputs: [6], outputs: [7], attributes: [(.axis, .int(1)), (.start, .int(0)), (.end, .int(4)), (.step, .int(2))]),
            Op(.linear, inputs: [7], outputs: [8], tensors: [0, 1], attributes: [(.activation, .int(1))]),
            Op(.matmul, inputs: [6], outputs: [9], tensors: [2]),
            Op(.reshape, inputs: [2], outputs: [10], attributes: [(.shape, .ints([1, 4]))]),
            Op(.add, inputs: [9, 10], outputs: [11]),
            Op(.softmax, inputs: [11], outputs: [12], attributes: [(.axis, .int(1))]),
        ]
        return graph(values, inputs: [0, 1], outputs: [8, 12], ops: ops, tensors: tensors)
    }

    func testDAGMatchesBetweenSwiftAndC() throws {
        let library = try requireRuntime()
        let bundle = Self.dagBundle()
        let batch = 5
        let a = Self.random(batch * 6, seed: 31), b = Self.random(batch * 6, seed: 32)
        let swift = BundleExecutor(bundle).run([a, b], batch: batch)
        XCTAssertEqual(swift.map(\.count), [batch * 12, batch * 12])
        // Softmax rows sum to one; relu features are non-negative.
        for r in 0..<(batch * 3) { XCTAssertEqual(swift[1][(r * 4)..<(r * 4 + 4)].reduce(0, +), 1, accuracy: 1e-5) }
        XCTAssertTrue(swift[0].allSatisfy { $0 >= 0 })
        let runtime = try RuntimeLibrary.Model(library, bytes: bundle.encode(), maxBatch: 8, outputSize: 12)
        XCTAssertEqual(library.inputCount(runtime.handle), 2)
        XCTAssertEqual(library.outputCount(runtime.handle), 2)
        var index = -1
        XCTAssertEqual(library.findInput(runtime.handle, "b", &index), 0)
        XCTAssertEqual(index, 1)
        for n in [batch, 1] {
            let (status, c) = runtime.runMulti([Array(a.prefix(n * 6)), Array(b.prefix(n * 6))], batch: n, outputSizes: [12, 12])
            XCTAssertEqual(status, 0)
            XCTAssertEqual(c[0], Array(swift[0].prefix(n * 12)), "features, batch \(n)")
            XCTAssertEqual(c[1], Array(swift[1].prefix(n * 12)), "probs, batch \(n)")
        }
        // myelin_run is for one f32 input and output only.
        var out = [Float](repeating: 0, count: 12)
        XCTAssertEqual(library.run(runtime.context, a, 1, &out), BundleStatus.invalidArgument.rawValue)
        // The same arena size on both sides.
        var bytes = 0
        XCTAssertEqual(library.arenaSize(runtime.handle, 8, &bytes), 0)
        XCTAssertEqual(bytes, try BundleExecutor(bundle).arenaBytes(maxBatch: 8))
    }

    func testSelfTestWithTwoInputsAndOutputs() throws {
        let library = try requireRuntime()
        var bundle = Self.dagBundle()
        let a = Self.random(12, seed: 41), b = Self.random(12, seed: 42)
        let y = BundleExecutor(bundle).run([a, b], batch: 2)
        bundle.selfTest = .init(inputs: [a, b], expected: y, count: 2, rtol: 1e-6, atol: 1e-6)
        let decoded = try ModelBundle(decoding: bundle.encode())
        XCTAssertEqual(decoded.selfTest?.inputs, [a, b])
        XCTAssertEqual(decoded.selfTest?.expected, y)
        XCTAssertEqual(decoded.encode(compressed: false), bundle.encode(compressed: false))
        XCTAssertEqual(BundleExecutor(decoded).selfTest()?.passed, true)
        XCTAssertEqual(try RuntimeLibrary.Model(library, bytes: bundle.encode(), maxBatch: 1, outputSize: 12).selfTestStatus, 0)
        bundle.selfTest!.expected[1][3] += 0.01
        XCTAssertEqual(try RuntimeLibrary.Model(library, bytes: bundle.encode(), maxBatch: 1, outputSize: 12).selfTestStatus,
                       BundleStatus.selfTestFailed.rawValue)
    }

    // MARK: Memory planner

    /// x → relu → relu → add(·, skip) → … : a residual chain of 16 blocks of [64] values.
    static func residualChain(blocks: Int) -> ModelBundle {
        var values = [f32("x", [64])]
        var ops: [Op] = []
        var current = 0
        for i in 0..<blocks {
            values.append(f32("h\(i)", [64])); values.append(f32("k\(i)", [64])); values.append(f32("o\(i)", [64]))
            let h = values.count - 3, k = h + 1, o = h + 2
            ops.append(Op(.relu, inputs: [current], outputs: [h]))
            ops.append(Op(.tanh, inputs: [h], outputs: [k]))
            ops.append(Op(.add, inputs: [k, current], outputs: [o]))
            current = o
        }
        return graph(values, inputs: [0], outputs: [current], ops: ops)
    }

    func testPlannerReusesDeadValuesWithoutOverlap() throws {
        let bundle = Self.residualChain(blocks: 16)
        let bytes = bundle.encode(compressed: false)
        var loaded = try bytes.withUnsafeBytes { raw throws -> LoadedBundle in try LoadedBundle.load(raw.baseAddress!, count: raw.count) }
        defer { loaded.release() }
        let g = loaded.model.graph, maxBatch = 10
        var plan = try MemoryPlan.make(g, maxBatch: maxBatch)
        defer { plan.release() }
        var total = 0
        var ranges: [(value: Int, live: ClosedRange<Int>, bytes: Range<Int>)] = []
        for v in 0..<g.valueCount where plan.offsets![v] >= 0 {
            let size = plan.bytes(g, v, maxBatch: maxBatch)
            XCTAssertEqual(size, 64 * 4 * maxBatch)
            total += size
            let value = g.values![v]
            ranges.append((v, value.producer...Swift.max(value.producer, value.lastReader), plan.offsets![v]..<(plan.offsets![v] + size)))
        }
        XCTAssertEqual(ranges.count, 16 * 3 - 1, "every value but the graph input and output is in the arena")
        XCTAssertLessThanOrEqual(plan.arenaBytes - plan.scratchBytes, 3 * 64 * 4 * maxBatch, "three values live at a time")
        XCTAssertLessThan(plan.arenaBytes - plan.scratchBytes, total / 10)
        for (i, a) in ranges.enumerated() {
            for b in ranges[(i + 1)...] where a.live.overlaps(b.live) {
                XCTAssertFalse(a.bytes.overlaps(b.bytes), "values \(a.value) and \(b.value) are live together and share memory")
            }
        }
        // Without reuse every value has its own memory; results are the same.
        var separate = try MemoryPlan.make(g, maxBatch: maxBatch, reuse: false)
        defer { separate.release() }
        XCTAssertEqual(separate.arenaBytes - separate.scratchBytes, total)
        let x = Self.random(3 * 64, seed: 1)
        let executor = BundleExecutor(bundle)
        var observed = 0
        XCTAssertEqual(executor.run(x, batch: 3), executor.run(x, batch: 3) { _, _ in observed += 1 })
        XCTAssertEqual(observed, 48)
    }

    func testReshapeSharesItsInputsMemory() throws {
        let bundle = Self.dagBundle()
        let bytes = bundle.encode(compressed: false)
        var loaded = try bytes.withUnsafeBytes { raw throws -> LoadedBundle in try LoadedBundle.load(raw.baseAddress!, count: raw.count) }
        defer { loaded.release() }
        var plan = try MemoryPlan.make(loaded.model.graph, maxBatch: 4)
        defer { plan.release() }
        XCTAssertEqual(plan.roots![6], 5, "r = reshape(c) uses c's memory")
        XCTAssertEqual(plan.offsets![6], -1)
        XCTAssertEqual(plan.roots![10], 2, "gr = reshape(g) uses g's memory")
        // c stays live while r is read (by slice and matmul, ops 5 and 7): nothing produced
        // before op 7 overlaps it.
        let c = plan.offsets![5]..<(plan.offsets![5] + plan.bytes(loaded.model.graph, 5, maxBatch: 4))
        for v in [7] { // sl is produced at op 5 while c is live
            let r = plan.offsets![v]..<(plan.offsets![v] + plan.bytes(loaded.model.graph, v, maxBatch: 4))
            XCTAssertFalse(c.overlaps(r))
        }
    }

    // MARK: Damaged op records

    /// Each op's rules on a damaged record, with the status every reader must give.
    static func malformedOps() -> [(name: String, bundle: ModelBundle, status: BundleStatus)] {
        let dag = dagBundle()
        var cases: [(String, ModelBundle, BundleStatus)] = []
        func add(_ name: String, _ status: BundleStatus, _ change: (inout ModelBundle) -> Void) {
            var b = dag
            change(&b)
            cases.append((name, b, status))
        }
        func attributes(_ op: Int, _ list: [(BundleAttribute, ModelBundle.AttributeValue)]) -> (inout ModelBundle) -> Void {
            { $0.ops[op].attributes = list.map { ($0.0.rawValue, $0.1) } }
        }
        let slice = 5, softmax = 10, concat = 3, reshape = 4, transpose = 1
        add("softmax-negative-axis", .corrupt, attributes(softmax, [(.axis, .int(-1))]))
        add("softmax-axis-beyond-rank", .shapeMismatch, attributes(softmax, [(.axis, .int(2))]))
        add("softmax-missing-axis", .corrupt, attributes(softmax, []))
        add("softmax-axis-as-float", .corrupt, attributes(softmax, [(.axis, .float(1))]))
        add("softmax-foreign-attribute", .unsupported, attributes(softmax, [(.axis, .int(1)), (.slope, .float(1))]))
        add("softmax-repeated-attribute", .corrupt, attributes(softmax, [(.axis, .int(1)), (.axis, .int(1))]))
        add("concat-axis-beyond-rank", .shapeMismatch, attributes(concat, [(.axis, .int(2))]))
        add("concat-dims-differ", .shapeMismatch, attributes(concat, [(.axis, .int(0))]))
        add("concat-dtype-differs", .unsupported) { $0.values[4] = .init(name: "s", dtype: .i32, shape: [2, 3]) }
        add("transpose-not-a-permutation", .corrupt, attributes(transpose, [(.perm, .ints([0, 0]))]))
        add("transpose-perm-out-of-range", .corrupt, attributes(transpose, [(.perm, .ints([1, 2]))]))
        add("transpose-perm-length", .shapeMismatch, attributes(transpose, [(.perm, .ints([2, 0, 1]))]))
        add("reshape-count", .shapeMismatch) { $0.ops[reshape].attributes = [(BundleAttribute.shape.rawValue, .ints([4, 4]))]; $0.values[6].shape = [4, 4] }
        add("reshape-shape-differs-from-value", .shapeMismatch, attributes(reshape, [(.shape, .ints([4, 3]))]))
        add("reshape-zero-dim", .corrupt, attributes(reshape, [(.shape, .ints([3, 0]))]))
        add("reshape-list-too-long", .limitExceeded, attributes(reshape, [(.shape, .ints([Int64](repeating: 1, count: 65)))]))
        add("reshape-shape-as-floats", .corrupt, attributes(reshape, [(.shape, .floats([3, 4]))]))
        add("slice-step-zero", .corrupt, attributes(slice, [(.axis, .int(1)), (.start, .int(0)), (.end, .int(4)), (.step, .int(0))]))
        add("slice-negative-start", .corrupt, attributes(slice, [(.axis, .int(1)), (.start, .int(-1)), (.end, .int(4)), (.step, .int(2))]))
        add("slice-end-beyond-dim", .shapeMismatch, attributes(slice, [(.axis, .int(1)), (.start, .int(0)), (.end, .int(5)), (.step, .int(2))]))
        add("slice-empty", .shapeMismatch, attributes(slice, [(.axis, .int(1)), (.start, .int(2)), (.end, .int(2))]))
        add("slice-output-count", .shapeMismatch, attributes(slice, [(.axis, .int(1)), (.start, .int(0)), (.end, .int(4))]))
        add("slice-missing-end", .corrupt, attributes(slice, [(.axis, .int(1)), (.start, .int(0))]))
        add("linear-unknown-activation", .unsupported) { $0.ops[6].attributes = [(BundleAttribute.activation.rawValue, .int(7))] }
        add("linear-without-weights", .corrupt) { $0.ops[6].tensors = [] }
        add("linear-weight-shape", .shapeMismatch) { $0.tensors[0].shape = [2, 4] }
        add("add-three-inputs", .corrupt) { $0.ops[2].inputs = [0, 3, 0] }
        add("add-broadcast-mismatch", .shapeMismatch) { $0.ops[2].inputs = [0, 2] }
        add("relu-on-u8", .unsupported) {
            $0.values.append(.init(name: "u", dtype: .u8, shape: [2, 2], scale: 1, zeroPoint: 0))
            $0.values.append(.init(name: "u2", dtype: .u8, shape: [2, 2], scale: 1, zeroPoint: 0))
            $0.inputs.append($0.values.count - 2)
            $0.ops.append(Op(.relu, inputs: [$0.values.count - 2], outputs: [$0.values.count - 1]))
        }
        add("matmul-inner-dims", .shapeMismatch) { $0.tensors[2].shape = [2, 8] }
        add("matmul-two-outputs", .corrupt) { $0.ops[0].outputs = [2, 3] }
        add("nan-attribute", .corrupt) { $0.ops[softmax].opcode = BundleOpCode.leakyRelu.rawValue; $0.ops[softmax].attributes = [(BundleAttribute.slope.rawValue, .float(.nan))] }
        add("duplicate-io-names", .corrupt) { $0.values[8].name = "a" }
        add("input-is-output", .corrupt) { $0.outputs = [8, 0] }
        add("no-inputs", .corrupt) { $0.inputs = [] }
        add("seventeen-outputs", .limitExceeded) { $0.outputs = [Int](repeating: 8, count: 17) }
        add("output-never-defined", .corrupt) { $0.values.append(f32("ghost", [1])); $0.outputs.append($0.values.count - 1) }
        add("value-rank-6", .limitExceeded) { $0.values[12].shape = [1, 1, 1, 1, 3, 4] }
        // Ops the DAG does not use, appended to read one of its values.
        func append(_ name: String, _ status: BundleStatus, _ code: BundleOpCode, input: Int = 8, output: ModelBundle.Value,
                    tensors: [ModelBundle.TensorEntry] = [], _ attrs: [(BundleAttribute, ModelBundle.AttributeValue)] = []) {
            add(name, status) { b in
                b.values.append(output)
                let first = b.tensors.count
                b.tensors += tensors
                b.ops.append(Op(code, inputs: [input], outputs: [b.values.count - 1], tensors: Array(first..<b.tensors.count), attributes: attrs))
            }
        }
        let three: [ModelBundle.TensorEntry] = [.init(name: "s", floats: [1, 2, 3], shape: [3]), .init(name: "t", floats: [0, 0, 0], shape: [3])]
        append("scale-shift-axis-beyond-rank", .shapeMismatch, .scaleShift, output: f32("z", [3, 4]), tensors: three, [(.axis, .int(2))])
        append("scale-shift-channels", .shapeMismatch, .scaleShift, output: f32("z", [3, 4]), tensors: three, [(.axis, .int(1))])
        append("scale-shift-one-tensor", .corrupt, .scaleShift, output: f32("z", [3, 4]), tensors: [three[0]], [(.axis, .int(0))])
        append("elu-missing-alpha", .corrupt, .elu, output: f32("z", [3, 4]))
        append("leaky-relu-shape", .shapeMismatch, .leakyRelu, output: f32("z", [4, 3]), [(.slope, .float(0.1))])
        append("quantize-to-f32", .unsupported, .quantize, output: f32("z", [3, 4]))
        append("dequantize-from-f32", .unsupported, .dequantize, output: f32("z", [3, 4]))
        append("quantize-shape", .shapeMismatch, .quantize, output: .init(name: "z", dtype: .u8, shape: [12], scale: 0.1, zeroPoint: 0))
        append("qlinear-from-f32", .unsupported, .qlinear, output: f32("z", [3, 2]),
               tensors: [.init(name: "w", dtype: .i8, shape: [2, 4], data: [UInt8](repeating: 1, count: 8)), three[0], three[1]])
        append("qlinear-two-tensors", .corrupt, .qlinear, output: f32("z", [3, 2]), tensors: [three[0], three[1]])
        append("matmul-rank-1", .shapeMismatch, .matmul, output: f32("z", [3]), tensors: [.init(name: "v", floats: [1, 2, 3, 4], shape: [4])])
        append("matmul-int-operand", .unsupported, .matmul, output: f32("z", [3, 1]),
               tensors: [.init(name: "v", dtype: .i32, shape: [4, 1], data: [UInt8](repeating: 0, count: 16))])
        append("div-constant-shape", .shapeMismatch, .div, output: f32("z", [3, 4]), tensors: [three[0]])
        append("transpose-dtype-change", .unsupported, .transpose, output: .init(name: "z", dtype: .i32, shape: [4, 3]), [(.perm, .ints([1, 0]))])
        append("concat-of-nothing", .corrupt, .concat, output: f32("z", [3, 4]), [(.axis, .int(0))])
        cases[cases.count - 1].1.ops[cases[cases.count - 1].1.ops.count - 1].inputs = []
        append("softmax-on-f16", .unsupported, .softmax, output: .init(name: "z", dtype: .f16, shape: [3, 4]), [(.axis, .int(0))])
        add("unknown-opcode", .unsupported) { $0.ops[2].opcode = 200 }
        add("unknown-attribute-key", .unsupported) { $0.ops[2].attributes = [(99, .int(0))] }
        return cases.map { (name: $0.0, bundle: $0.1, status: $0.2) }
    }

    func testEveryOpsRulesGiveTheirStatusInSwiftAndC() throws {
        let library = try requireRuntime()
        XCTAssertEqual(library.loadStatus(Self.dagBundle().encode()), 0)
        for m in Self.malformedOps() {
            let bytes = m.bundle.encode()
            XCTAssertEqual(library.loadStatus(bytes), m.status.rawValue, m.name)
            do {
                _ = try ModelBundle(decoding: bytes)
                XCTFail("\(m.name) was accepted by the Swift reader")
            } catch let e as BundleError {
                XCTAssertEqual(e.status, m.status, m.name)
            }
        }
    }

    /// Layouts: an unknown one is unsupported, a packed layout on a vector is corrupt, and a
    /// row-major weight matrix (which readers pack at load) gives the packed one's results.
    func testTensorLayouts() throws {
        let library = try requireRuntime()
        let bundle = Self.dagBundle()
        var (graph, data) = bundle.encodeGraphAndData()
        // The first tensor record: name "w" (4 + 1 bytes after the precision and count), dtype, layout.
        let layoutOffset = 4 + 4 + 4 + 1 + 4
        XCTAssertEqual(graph[layoutOffset], UInt8(BundleTensorLayout.packedLinear.rawValue))
        func file(_ g: [UInt8]) -> [UInt8] {
            BundleFile.assemble([.init(kind: BundleSectionKind.graph, payload: g), .init(kind: BundleSectionKind.data, payload: data)])
        }
        var bad = graph
        bad[layoutOffset] = 7
        XCTAssertEqual(library.loadStatus(file(bad)), BundleStatus.unsupported.rawValue)
        XCTAssertThrowsError(try ModelBundle(decoding: file(bad))) { XCTAssertEqual(($0 as? BundleError)?.status, .unsupported) }
        // "bias" (the second record) stored with a packed layout.
        let second = layoutOffset + 4 + 4 + 8 + 8 + 8 + 4 + 4 + 4
        XCTAssertEqual(graph[second], 0)
        bad = graph
        bad[second] = 1
        XCTAssertEqual(library.loadStatus(file(bad)), BundleStatus.corrupt.rawValue)
        let packed = BundleExecutor(bundle, reference: false), rowMajor = BundleExecutor(bundle, reference: true)
        let a = Self.random(12, seed: 3), b = Self.random(12, seed: 4)
        XCTAssertEqual(packed.run([a, b], batch: 2), rowMajor.run([a, b], batch: 2))
        (graph, data) = bundle.encodeGraphAndData(packWeights: false)
        XCTAssertEqual(graph[layoutOffset], 0)
        XCTAssertEqual(library.loadStatus(file(graph)), 0)
    }
}
