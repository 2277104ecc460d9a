import Foundation
import XCTest
@testable import Myelin

/// n-d tensor ops: values against hand-computed or obviously-correct expectations,
/// finite-difference gradient checks, and the op names/attributes the tracer records.
final class MovementOpTests: XCTestCase {
    /// 0, 1, 2, … in the given shape, so each element's value is its flat index.
    func iota(_ shape: [Int]) -> Tensor { Tensor.arange(0, Float(shape.reduce(1, *))).reshape(shape) }

    // MARK: Values

    func testReshapeFamilyValues() {
        let x = iota([2, 3, 4])
        XCTAssertEqual(x.reshape([4, -1]).shape, [4, 6])
        XCTAssertEqual(x.unsqueeze(0).shape, [1, 2, 3, 4])
        XCTAssertEqual(x.unsqueeze(-1).shape, [2, 3, 4, 1])
        XCTAssertEqual(x.unsqueeze(2).shape, [2, 3, 1, 4])
        XCTAssertEqual(x.unsqueeze(1).squeeze(1).shape, [2, 3, 4])
        XCTAssertEqual(Tensor.zeros([2, 1]).squeeze(-1).shape, [2])
        XCTAssertEqual(x.flatten(startAxis: 1, endAxis: 2).shape, [2, 12])
        XCTAssertEqual(x.flatten(startAxis: 0, endAxis: 1).shape, [6, 4])
        XCTAssertEqual(x.flatten(startAxis: 0).shape, [24])
        XCTAssertEqual(x.flatten().shape, [2, 12])
        XCTAssertEqual(x.flatten(startAxis: 1).data, x.data)
    }

    func testPermuteAndTransposeValues() {
        let x = iota([2, 3, 4])
        let p = x.permute([2, 0, 1])
        XCTAssertEqual(p.shape, [4, 2, 3])
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { XCTAssertEqual(p[k, i, j], x[i, j, k]) } } }
        let t = x.transpose(-1, 0)
        XCTAssertEqual(t.shape, [4, 3, 2])
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { XCTAssertEqual(t[k, j, i], x[i, j, k]) } } }
        XCTAssertEqual(Tensor([[1, 2, 3], [4, 5, 6]]).transposed().data, [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(x.permute([0, 1, 2]).data, x.data)
    }

    func testSliceNarrowSelectValues() {
        let v = Tensor.arange(0, 10)
        XCTAssertEqual(v.slice(axis: 0, start: 1, end: -1, step: 3).data, [1, 4, 7])
        XCTAssertEqual(v.slice(axis: 0, start: -3).data, [7, 8, 9])
        XCTAssertEqual(v.slice(axis: 0, start: 8, end: 100).data, [8, 9], "end clamps like Python")
        XCTAssertEqual(v.slice(axis: 0, start: 5, end: 2).shape, [0], "an empty range is empty")
        XCTAssertEqual(v.slice(axis: 0, step: 4).data, [0, 4, 8])
        let m = Tensor([[1, 2, 3], [4, 5, 6]])
        XCTAssertEqual(m.narrow(axis: 1, start: 1, length: 2).data, [2, 3, 5, 6])
        XCTAssertEqual(m.narrow(axis: 0, start: -1, length: 1).data, [4, 5, 6])
        XCTAssertEqual(m.select(axis: 1, index: -1).data, [3, 6])
        XCTAssertEqual(m.select(axis: 1, index: -1).shape, [2])
        XCTAssertEqual(m.select(axis: 0, index: 0).data, [1, 2, 3])
        let x = iota([2, 3, 4])
        let s = x.slice(axis: 2, start: 1, end: 4, step: 2)
        XCTAssertEqual(s.shape, [2, 3, 2])
        XCTAssertEqual(s[1, 2, 1], x[1, 2, 3])
    }

    func testConcatStackSplitChunkValues() {
        let a = Tensor([[1], [2]]), b = Tensor([[3, 4], [5, 6]])
        XCTAssertEqual(Tensor.concat([a, b], axis: 1).data, [1, 3, 4, 2, 5, 6])
        XCTAssertEqual(Tensor.concat([b, b], axis: 0).data, [3, 4, 5, 6, 3, 4, 5, 6])
        XCTAssertEqual(Tensor.concat([a, b], axis: -1).shape, [2, 3])
        let x = iota([2, 3, 4])
        XCTAssertEqual(Tensor.concat(x.split(sizes: [1, 2], axis: 1), axis: 1).data, x.data)
        XCTAssertEqual(Tensor.stack([Tensor([1, 2]), Tensor([3, 4])], axis: 1).data, [1, 3, 2, 4])
        XCTAssertEqual(Tensor.stack([Tensor([1, 2]), Tensor([3, 4])]).data, [1, 2, 3, 4])
        XCTAssertEqual(Tensor.stack([x, x, x], axis: -1).shape, [2, 3, 4, 3])
        let parts = Tensor.zeros([2, 7]).split(sizes: [3, 4], axis: 1)
        XCTAssertEqual(parts.map(\.shape), [[2, 3], [2, 4]])
        XCTAssertEqual(Tensor.arange(0, 10).chunk(3, axis: 0).map(\.data), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
        XCTAssertEqual(Tensor.arange(0, 2).chunk(3, axis: 0).count, 2, "fewer chunks when the axis is short, like torch")
        XCTAssertEqual(x.chunk(2, axis: 2).map(\.shape), [[2, 3, 2], [2, 3, 2]])
    }

    func testPadValues() {
        XCTAssertEqual(Tensor([1, 2, 3]).pad([(1, 2)]).data, [0, 1, 2, 3, 0, 0])
        XCTAssertEqual(Tensor([1, 2, 3]).pad([(2, 1)], mode: .reflect).data, [3, 2, 1, 2, 3, 2])
        XCTAssertEqual(Tensor([1, 2, 3]).pad([(0, 1)], mode: .constant(-1)).data, [1, 2, 3, -1])
        // torch order: pads[0] is the last dimension, pads[1] the one before.
        let m = Tensor([[1, 2], [3, 4]])
        let p = m.pad([(1, 0), (0, 1)])
        XCTAssertEqual(p.shape, [3, 3])
        XCTAssertEqual(p.data, [0, 1, 2, 0, 3, 4, 0, 0, 0])
        let r = m.pad([(1, 1), (1, 0)], mode: .reflect)
        // Columns (1, 1): [a, b] → [b, a, b, a]; rows (1, 0): [r0, r1] → [r1, r0, r1].
        XCTAssertEqual(r.shape, [3, 4])
        XCTAssertEqual(r.data, [4, 3, 4, 3, 2, 1, 2, 1, 4, 3, 4, 3])
        XCTAssertEqual(iota([2, 3, 4, 5]).pad([(1, 2), (3, 4)]).shape, [2, 3, 11, 8])
    }

    func testExpandValues() {
        XCTAssertEqual(Tensor([1, 2, 3]).expand([2, -1]).data, [1, 2, 3, 1, 2, 3])
        XCTAssertEqual(Tensor(shape: [2, 1], data: [1, 2]).broadcast(to: [2, 3]).data, [1, 1, 1, 2, 2, 2])
        XCTAssertEqual(Tensor(shape: [3, 1], data: [1, 2, 3]).expand([2, 3, 2]).data, [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3])
        XCTAssertEqual(Tensor(5).expand([2, 2]).data, [5, 5, 5, 5])
    }

    /// Batched matmul equals one 2-D matmul per batch entry (broadcast leading dims repeat).
    func testBatchedMatmulMatchesPerSliceProducts() {
        let a = smooth([2, 3, 4, 5], seed: 1), b = smooth([3, 5, 6], seed: 2)
        let c = a.matmul(b)
        XCTAssertEqual(c.shape, [2, 3, 4, 6])
        for i in 0..<2 {
            for j in 0..<3 {
                let expected = a.select(axis: 0, index: i).select(axis: 0, index: j).matmul(b.select(axis: 0, index: j))
                assertClose(c.select(axis: 0, index: i).select(axis: 0, index: j).data, expected.data, "batch \(i), \(j)")
            }
        }
        // [..., m, k] · [k, n] folds the leading dims into rows.
        let w = smooth([5, 6], seed: 3)
        let folded = a.matmul(w)
        XCTAssertEqual(folded.shape, [2, 3, 4, 6])
        assertClose(folded.data, a.reshape([24, 5]).matmul(w).data)
        // [m, k] · [B, k, n]: the matrix is reused for every batch entry.
        let left = smooth([4, 3], seed: 4), right = smooth([2, 3, 5], seed: 5)
        let mixed = left.matmul(right)
        XCTAssertEqual(mixed.shape, [2, 4, 5])
        assertClose(mixed.select(axis: 0, index: 1).data, left.matmul(right.select(axis: 0, index: 1)).data)
        XCTAssertEqual(Tensor([[1, 2], [3, 4]]).matmul(Tensor([[1], [1]])).data, [3, 7])
    }

    func testLinearOnAnyRank() {
        let w = smooth([4, 3], seed: 6), b = smooth([4], seed: 7)
        let x = smooth([2, 5, 3], seed: 8)
        let y = linear(x, weight: w, bias: b)
        XCTAssertEqual(y.shape, [2, 5, 4])
        assertClose(y.data, linear(x.reshape([10, 3]), weight: w, bias: b).data)
        let v = smooth([3], seed: 9)
        let yv = linear(v, weight: w, bias: nil)
        XCTAssertEqual(yv.shape, [4])
        assertClose(yv.data, w.matmul(v.reshape([3, 1])).data)
    }

    func testIndexSelectAndEmbeddingValues() {
        let m = Tensor([[1, 2, 3], [4, 5, 6]])
        XCTAssertEqual(m.indexSelect(axis: 1, indices: Tensor([2, 0])).data, [3, 1, 6, 4])
        XCTAssertEqual(m.indexSelect(axis: 0, indices: [1, 1]).data, [4, 5, 6, 4, 5, 6])
        XCTAssertEqual(m.indexSelect(axis: -1, indices: Tensor(shape: [2, 2], data: [0, 1, 2, 2])).shape, [2, 2, 2])
        XCTAssertEqual(m.gatherRows([1, 0]).data, [4, 5, 6, 1, 2, 3])
        let table = Tensor([[0, 0], [1, 10], [2, 20]])
        let e = embedding(weight: table, indices: Tensor(shape: [2, 2], data: [2, 1, 0, 2]))
        XCTAssertEqual(e.shape, [2, 2, 2])
        XCTAssertEqual(e.data, [2, 20, 1, 10, 0, 0, 2, 20])
        // Repeated ids accumulate their gradients in the table.
        table.requiresGrad = true
        embedding(weight: table, indices: Tensor([2, 2, 1])).sum().backward()
        XCTAssertEqual(table.grad!.data, [0, 0, 1, 1, 2, 2])
    }

    func testWhereAndMaskedFillValues() {
        XCTAssertEqual(Tensor.where(Tensor([1, 0, 1]), Tensor([1, 2, 3]), Tensor(0)).data, [1, 0, 3])
        let cond = Tensor(shape: [2, 1], data: [0, 1])
        XCTAssertEqual(Tensor.where(cond, Tensor([1, 2]), Tensor([[7, 8], [9, 10]])).data, [7, 8, 1, 2])
        let scores = Tensor([[1, 2], [3, 4]])
        XCTAssertEqual(scores.maskedFill(Tensor([[0, 1], [0, 0]]), value: -9).data, [1, -9, 3, 4])
        XCTAssertEqual(scores.maskedFill(Tensor([1, 0]), value: 0).data, [0, 2, 0, 4])
        let x = Tensor([1, 2, 3], requiresGrad: true)
        x.maskedFill(Tensor([0, 1, 0]), value: 5).sum().backward()
        XCTAssertEqual(x.grad!.data, [1, 0, 1])
    }

    func testMinMaxWithIndices() {
        let m = Tensor([[1, 5, 3], [4, 2, 6]])
        XCTAssertEqual(m.min(axis: 1).data, [1, 2])
        XCTAssertEqual(m.min(axis: 0, keepDims: true).shape, [1, 3])
        XCTAssertEqual(m.min(axis: 0).data, [1, 2, 3])
        XCTAssertEqual(m.argmin(axis: 1), [0, 1])
        XCTAssertEqual(m.argmin(axis: 0), [0, 1, 0])
        let (values, indices) = m.maxWithIndices(axis: 1)
        XCTAssertEqual(values.data, [5, 6])
        XCTAssertEqual(indices, [1, 2])
        let (mins, where_) = m.minWithIndices(axis: 0, keepDims: true)
        XCTAssertEqual(mins.data, [1, 2, 3])
        XCTAssertEqual(where_, [0, 1, 0])
        XCTAssertEqual(Tensor([2, 1, 1, 2]).argmin(), [1], "first one on ties")
    }

    /// A user-written op through the public API: swish(x) = x · σ(x).
    func swish(_ x: Tensor) -> Tensor {
        let s = x.data.map { 1 / (1 + Foundation.exp(-$0)) }
        return Tensor.custom("swish", inputs: [x], shape: x.shape, data: zip(x.data, s).map { $0 * $1 }) { g in
            [(0..<g.count).map { i in g[i] * (s[i] + x.data[i] * s[i] * (1 - s[i])) }]
        }
    }

    func testCustomOp() {
        let x = smooth([3, 4], seed: 10)
        assertClose(swish(x).data, (x * x.sigmoid()).data, atol: 1e-6)
        assertGradientsMatch("custom swish", inputs: [x]) { self.swish($0[0]) }
        // Two inputs, one without a gradient: a · b with only a differentiated.
        let a = smooth([5], seed: 11), b = smooth([5], seed: 12)
        assertGradientsMatch("custom product (nil gradient for b)", inputs: [a]) { t in
            Tensor.custom("scaled", inputs: [t[0], b], shape: [5], data: zip(t[0].data, b.data).map { $0 * $1 }) { g in
                [zip(g, b.data).map { $0 * $1 }, nil]
            }
        }
        let traced = Tracer()
        traced.recording { _ = Tensor.custom("user_op", inputs: [x], shape: [1], data: [0], attributes: ["k": .int(3)]) { _ in [nil] } }
        XCTAssertEqual(traced.nodes.map(\.op), ["user_op"])
        XCTAssertEqual(traced.nodes[0].attributes, ["k": .int(3)])
    }

    // MARK: Gradients

    func testShapeOpGradients() {
        let x = smooth([2, 3, 4], seed: 20)
        assertGradientsMatch("unsqueeze", inputs: [x]) { $0[0].unsqueeze(1) }
        assertGradientsMatch("squeeze", inputs: [smooth([2, 1, 3], seed: 21)]) { $0[0].squeeze(1) }
        assertGradientsMatch("flatten middle", inputs: [x]) { $0[0].flatten(startAxis: 1, endAxis: 2) }
        assertGradientsMatch("permute", inputs: [x]) { $0[0].permute([2, 0, 1]) }
        assertGradientsMatch("transpose", inputs: [x]) { $0[0].transpose(0, 2) }
        assertGradientsMatch("expand", inputs: [smooth([3, 1], seed: 22)]) { $0[0].expand([2, 3, 4]) }
        assertGradientsMatch("broadcast scalar", inputs: [smooth([], seed: 23)]) { $0[0].broadcast(to: [2, 2]) }
    }

    func testSlicingGradients() {
        let x = smooth([3, 4, 5], seed: 30)
        assertGradientsMatch("slice with step", inputs: [x]) { $0[0].slice(axis: 2, start: -4, end: 5, step: 2) }
        assertGradientsMatch("narrow", inputs: [x]) { $0[0].narrow(axis: 1, start: 1, length: 2) }
        assertGradientsMatch("select", inputs: [x]) { $0[0].select(axis: 0, index: 1) }
        assertGradientsMatch("permute then slice", inputs: [x]) {
            $0[0].permute([2, 0, 1]).slice(axis: 1, start: 1, step: 2).select(axis: -1, index: 3)
        }
        assertGradientsMatch("split and recombine", inputs: [x]) { t in
            let parts = t[0].split(sizes: [1, 3], axis: 1)
            return parts[0] * parts[1].sum(axis: 1, keepDims: true)
        }
        assertGradientsMatch("chunk", inputs: [x]) { t in
            let c = t[0].chunk(2, axis: 2)
            return c[0] + c[1].narrow(axis: 2, start: 0, length: 2).pad([(0, 1)])
        }
    }

    func testJoiningGradients() {
        let a = smooth([2, 3, 4], seed: 40), b = smooth([2, 1, 4], seed: 41), c = smooth([2, 2, 4], seed: 42)
        assertGradientsMatch("concat middle axis", inputs: [a, b, c]) { Tensor.concat($0, axis: 1) }
        assertGradientsMatch("concat last axis", inputs: [a, a.detach()]) { Tensor.concat([$0[0], $0[1]], axis: -1) }
        assertGradientsMatch("concat of a permuted view", inputs: [a]) {
            Tensor.concat([$0[0].transpose(0, 1), $0[0].transpose(0, 1)], axis: 2)
        }
        assertGradientsMatch("stack middle axis", inputs: [a, smooth([2, 3, 4], seed: 43)]) { Tensor.stack($0, axis: 1) }
    }

    func testPadGradients() {
        let x = smooth([2, 3, 4], seed: 50)
        assertGradientsMatch("constant pad", inputs: [x]) { $0[0].pad([(1, 2), (0, 1)], mode: .constant(0.5)) }
        assertGradientsMatch("reflect pad", inputs: [x]) { $0[0].pad([(3, 2), (2, 1)], mode: .reflect) }
        assertGradientsMatch("reflect pad of a permuted tensor", inputs: [x]) { $0[0].permute([0, 2, 1]).pad([(2, 2)], mode: .reflect) }
    }

    func testMatmulAndLinearGradients() {
        let a = smooth([2, 3, 4, 5], seed: 60, scale: 0.5), b = smooth([3, 5, 6], seed: 61, scale: 0.5)
        assertGradientsMatch("batched matmul with broadcast", inputs: [a, b]) { $0[0].matmul($0[1]) }
        assertGradientsMatch("batched matmul, matrix on the right", inputs: [a, smooth([5, 2], seed: 62)]) { $0[0].matmul($0[1]) }
        assertGradientsMatch("batched matmul, matrix on the left", inputs: [smooth([4, 3], seed: 63), smooth([2, 3, 5], seed: 64)]) {
            $0[0].matmul($0[1])
        }
        assertGradientsMatch("attention-style q·kᵀ", inputs: [smooth([2, 3, 4], seed: 65)]) { $0[0].matmul($0[0].transpose(-1, -2)) }
        let x = smooth([2, 3, 5], seed: 66), w = smooth([4, 5], seed: 67, scale: 0.5), bias = smooth([4], seed: 68)
        assertGradientsMatch("linear rank 3", inputs: [x, w, bias]) { linear($0[0], weight: $0[1], bias: $0[2]) }
        assertGradientsMatch("linear rank 1", inputs: [smooth([5], seed: 69), w]) { linear($0[0], weight: $0[1], bias: nil) }
    }

    func testIndexingGradients() {
        let x = smooth([3, 4, 2], seed: 70)
        assertGradientsMatch("indexSelect with repeats", inputs: [x]) { $0[0].indexSelect(axis: 1, indices: [3, 0, 3]) }
        assertGradientsMatch("indexSelect with 2-D index tensor", inputs: [x]) {
            $0[0].indexSelect(axis: 0, indices: Tensor(shape: [2, 2], data: [2, 0, 2, 1]))
        }
        let table = smooth([5, 3], seed: 71)
        assertGradientsMatch("embedding", inputs: [table]) { embedding(weight: $0[0], indices: Tensor(shape: [2, 3], data: [4, 0, 4, 1, 1, 2])) }
        let a = smooth([2, 3], seed: 72), b = smooth([3], seed: 73)
        let cond = Tensor(shape: [2, 3], data: [1, 0, 0, 1, 1, 0])
        assertGradientsMatch("where with broadcasting", inputs: [a, b]) { Tensor.where(cond, $0[0], $0[1]) }
        assertGradientsMatch("maskedFill", inputs: [a]) { $0[0].maskedFill(Tensor(shape: [2, 1], data: [0, 1]), value: 2) }
    }

    func testMinMaxGradients() {
        let x = smooth([2, 3, 4], seed: 80)
        for axis in [0, 1, -1] {
            assertGradientsMatch("min axis \(axis)", inputs: [x]) { $0[0].min(axis: axis) }
            assertGradientsMatch("maxWithIndices axis \(axis) keepDims", inputs: [x]) { $0[0].maxWithIndices(axis: axis, keepDims: true).values }
        }
    }

    // MARK: Tracing

    func testTracedOpNamesAndAttributes() {
        let x = smooth([2, 3, 4], seed: 90), w = smooth([5, 4], seed: 91)
        let tracer = Tracer()
        tracer.recording {
            let p = x.transpose(1, 2)                                  // permute [0, 2, 1]
            let s = p.slice(axis: -1, start: -2)                       // slice axis 2, 1..<3
            let c = Tensor.concat([s, s], axis: -2)                    // concat axis 1
            let padded = c.pad([(1, 0)], mode: .reflect)               // pad last dim
            let e = padded.unsqueeze(0).expand([3, 2, 8, 3])           // reshape + expand
            _ = e.max(axis: -1, keepDims: true)                        // max_axis
            _ = linear(x, weight: w, bias: nil).softmax(axis: -1)      // linear + softmax
            _ = x.select(axis: 1, index: -1) * 2                       // slice + reshape + mul_scalar
            _ = x.indexSelect(axis: -1, indices: [1, 0]).maskedFill(Tensor(0), value: 3)
            _ = Tensor.where(Tensor(1), x, x.leakyRelu(slope: 0.2))
        }
        let ops = tracer.nodes.map(\.op)
        XCTAssertEqual(ops, ["permute", "slice", "concat", "pad", "reshape", "expand", "max_axis", "linear", "softmax",
                             "slice", "reshape", "mul_scalar", "index_select", "masked_fill", "leaky_relu", "where"])
        let attributes = tracer.nodes.map(\.attributes)
        XCTAssertEqual(attributes[0], ["perm": .ints([0, 2, 1])])
        XCTAssertEqual(attributes[1], ["axis": .int(2), "start": .int(1), "end": .int(3), "step": .int(1)])
        XCTAssertEqual(attributes[2], ["axis": .int(1)])
        XCTAssertEqual(attributes[3], ["pads": .ints([0, 0, 0, 0, 1, 0]), "mode": .int(1), "value": .float(0)])
        XCTAssertEqual(attributes[4], ["shape": .ints([1, 2, 8, 3])])
        XCTAssertEqual(attributes[5], ["shape": .ints([3, 2, 8, 3])])
        XCTAssertEqual(attributes[6], ["axis": .int(3), "keepdims": .int(1)])
        XCTAssertEqual(attributes[7], [:])
        XCTAssertEqual(tracer.nodes[7].inputs.count, 2, "linear without bias records [x, weight]")
        XCTAssertEqual(attributes[8], ["axis": .int(2)])
        XCTAssertEqual(attributes[9], ["axis": .int(1), "start": .int(2), "end": .int(3), "step": .int(1)])
        XCTAssertEqual(attributes[10], ["shape": .ints([2, 4])])
        XCTAssertEqual(attributes[11], ["value": .float(2)])
        XCTAssertEqual(attributes[12], ["axis": .int(2)])
        XCTAssertEqual(tracer.nodes[12].inputs[1].data, [1, 0], "the indices are the second input")
        XCTAssertEqual(attributes[13], ["value": .float(3)])
        XCTAssertEqual(attributes[14], ["slope": .float(Double(Float(0.2)))])
        XCTAssertEqual(tracer.nodes[15].inputs.count, 3)
    }

    func testTracedAttributesOfParameterisedElementwiseOps() {
        let x = Tensor([1, 2])
        let tracer = Tracer()
        tracer.recording {
            _ = x + 1; _ = 3 - x; _ = 2 / x; _ = x.pow(3); _ = x.clamp(min: 0); _ = x.elu(alpha: 2)
            _ = x.logSoftmax(axis: 0); _ = x.sum(axis: 0); _ = x.min(axis: -1)
            _ = embedding(weight: Tensor([[1], [2]]), indices: Tensor([1]))
        }
        XCTAssertEqual(tracer.nodes.map(\.op), ["add_scalar", "rsub_scalar", "rdiv_scalar", "pow", "clamp", "elu",
                                                "log_softmax", "sum_axis", "min_axis", "embedding"])
        XCTAssertEqual(tracer.nodes.map(\.attributes), [
            ["value": .float(1)], ["value": .float(3)], ["value": .float(2)], ["exponent": .float(3)],
            ["min": .float(0), "max": .float(.infinity)], ["alpha": .float(2)], ["axis": .int(0)],
            ["axis": .int(0), "keepdims": .int(0)], ["axis": .int(0), "keepdims": .int(0)], [:],
        ])
        XCTAssertEqual(tracer.nodes[9].inputs[0].shape, [2, 1], "embedding records [weight, indices]")
    }
}
