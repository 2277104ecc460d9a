import XCTest
@testable import Myelin
@testable import MyelinShared

/// The block convolution kernels (ConvolutionBlocks.swift, training's) against the naive
/// references, for every odd geometry and for blocks of one image, two images (so the last
/// block of an odd batch is short) and the whole batch.
final class ConvolutionBlockTests: XCTestCase {
    func randomArray(_ count: Int, seed: UInt64) -> [Float] {
        let g = Generator(seed: seed)
        return (0..<count).map { _ in g.nextUniform() - 0.5 }
    }

    func assertNear(_ a: [Float], _ b: [Float], _ what: String, tolerance: Float = 2e-5) {
        XCTAssertEqual(a.count, b.count, what)
        for i in 0..<a.count where Swift.abs(a[i] - b[i]) > tolerance * Swift.max(1, Swift.abs(b[i])) {
            XCTFail("\(what): element \(i) is \(a[i]), reference \(b[i])")
            return
        }
    }

    /// The odd geometries plus the DCGAN's 4×4 stride-2 layers (batch 5, so blocks of 2 leave one).
    let geometries = oddConvGeometries + [
        ConvGeometry(batch: 5, inChannels: 8, height: 14, width: 14, outChannels: 6, kernelH: 4, kernelW: 4,
                     strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
        ConvGeometry(batch: 5, inChannels: 1, height: 28, width: 28, outChannels: 7, kernelH: 4, kernelW: 4,
                     strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
        // Stride 2 on rows of 40 (16-float chunks) and 13 (8-float chunks) with even and odd left padding.
        ConvGeometry(batch: 2, inChannels: 3, height: 5, width: 40, outChannels: 4, kernelH: 3, kernelW: 3,
                     strideH: 2, strideW: 2, padTop: 0, padLeft: 0, padBottom: 1, padRight: 1),
        ConvGeometry(batch: 2, inChannels: 2, height: 6, width: 13, outChannels: 3, kernelH: 2, kernelW: 5,
                     strideH: 1, strideW: 2, padTop: 1, padLeft: 3, padBottom: 0, padRight: 2, dilationW: 2),
        // col2im summed in registers (stride 2 both ways): left padding 0 with an odd width and a 5-wide
        // kernel (taps moved up by 2 lanes), a plane smaller than one 16-float row store, and 16-lane
        // phases with rows of 17–32 floats (a transposed convolution's output padding: negative right padding).
        ConvGeometry(batch: 3, inChannels: 2, height: 9, width: 11, outChannels: 3, kernelH: 5, kernelW: 5,
                     strideH: 2, strideW: 2, padTop: 2, padLeft: 0, padBottom: 1, padRight: 2),
        ConvGeometry(batch: 3, inChannels: 2, height: 2, width: 3, outChannels: 2, kernelH: 2, kernelW: 2,
                     strideH: 2, strideW: 2, padTop: 0, padLeft: 1, padBottom: 0, padRight: 0),
        ConvGeometry(batch: 2, inChannels: 3, height: 7, width: 21, outChannels: 2, kernelH: 3, kernelW: 4,
                     strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 0, padRight: -1),
        // A transposed convolution's adjoint with output padding 1 and stride 3 (negative bottom/right padding).
        ConvGeometry(batch: 3, inChannels: 4, height: 11, width: 12, outChannels: 5, kernelH: 4, kernelW: 3,
                     strideH: 3, strideW: 3, padTop: 1, padLeft: 2, padBottom: 0, padRight: -1, groups: 1),
    ]

    func testBlockKernelsMatchReferences() {
        for (k, g) in geometries.enumerated() {
            let x = randomArray(g.batch * g.inChannels * g.height * g.width, seed: UInt64(k))
            let w = randomArray(g.outChannels * g.patch, seed: UInt64(100 + k))
            let b = randomArray(g.outChannels, seed: UInt64(200 + k))
            let dy = randomArray(g.batch * g.outChannels * g.outHeight * g.outWidth, seed: UInt64(300 + k))
            var expectedY = [Float](repeating: 0, count: dy.count), expectedDX = [Float](repeating: 0, count: x.count)
            var expectedDW = [Float](repeating: 0, count: w.count)
            conv2dReference(g, x: x, weight: w, bias: b, y: &expectedY)
            convTranspose2dReference(g, t: dy, weight: w, bias: nil, z: &expectedDX)
            conv2dWeightGradientReference(g, x: x, gradY: dy, gradW: &expectedDW)
            for perBlock in Set([1, 2, g.batch]) {
                let what = "geometry \(k), \(perBlock) images per block"
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: convBlockScratchCount(g, imagesPerBlock: perBlock))
                let workspace = UnsafeMutablePointer<Float>.allocate(capacity: gemmWorkspaceCount)
                defer { scratch.deallocate(); workspace.deallocate() }
                // Junk in the scratch must not leak into any result.
                scratch.initialize(repeating: .nan, count: convBlockScratchCount(g, imagesPerBlock: perBlock))
                let start = randomArray(dy.count, seed: 7)
                var y = start, accumulated = start
                convForwardBlocks(g, images: 0..<g.batch, imagesPerBlock: perBlock, x: x, weight: w, bias: b, y: &y,
                                  accumulate: false, scratch: scratch, workspace: workspace)
                assertNear(y, expectedY, "\(what) forward")
                convForwardBlocks(g, images: 0..<g.batch, imagesPerBlock: perBlock, x: x, weight: w, bias: b, y: &accumulated,
                                  accumulate: true, scratch: scratch, workspace: workspace)
                assertNear(accumulated, zip(start, expectedY).map { $0 + $1 }, "\(what) accumulated forward")
                var dx = [Float](repeating: 0.5, count: x.count)   // accumulates onto 0.5
                convBackwardDataBlocks(g, images: 0..<g.batch, imagesPerBlock: perBlock, gradY: dy, weight: w, gradX: &dx,
                                       accumulate: true, scratch: scratch, workspace: workspace)
                assertNear(dx, expectedDX.map { $0 + 0.5 }, "\(what) backward data")
                // Overwriting: junk (NaN) in gradX must not survive anywhere.
                var overwrittenDX = [Float](repeating: .nan, count: x.count)
                convBackwardDataBlocks(g, images: 0..<g.batch, imagesPerBlock: perBlock, gradY: dy, weight: w, gradX: &overwrittenDX,
                                       accumulate: false, scratch: scratch, workspace: workspace)
                assertNear(overwrittenDX, expectedDX, "\(what) overwritten backward data")
                var dw = [Float](repeating: 1, count: w.count)     // accumulates onto 1
                convBackwardWeightBlocks(g, images: 0..<g.batch, imagesPerBlock: perBlock, x: x, gradY: dy, gradW: &dw,
                                         scratch: scratch, workspace: workspace)
                assertNear(dw, expectedDW.map { $0 + 1 }, "\(what) backward weight", tolerance: 1e-4)
                // The fused pair (a transposed convolution's backward): y += conv(x, w), dW += Σ dy · columnsᵀ.
                var fusedY = start, fusedDW = [Float](repeating: -1, count: w.count)
                convForwardAndWeightGradientBlocks(g, images: 0..<g.batch, imagesPerBlock: perBlock, x: x, weight: w, y: &fusedY,
                                                   accumulate: true, gradY: dy, gradW: &fusedDW, scratch: scratch, workspace: workspace)
                assertNear(fusedY, zip(start, unbiased(expectedY, b, g)).map { $0 + $1 },
                           "\(what) fused forward")
                assertNear(fusedDW, expectedDW.map { $0 - 1 }, "\(what) fused weight gradient", tolerance: 1e-4)
                var overwrittenY = [Float](repeating: .nan, count: dy.count), secondDW = [Float](repeating: 0, count: w.count)
                convForwardAndWeightGradientBlocks(g, images: 0..<g.batch, imagesPerBlock: perBlock, x: x, weight: w, y: &overwrittenY,
                                                   accumulate: false, gradY: dy, gradW: &secondDW, scratch: scratch, workspace: workspace)
                assertNear(overwrittenY, unbiased(expectedY, b, g), "\(what) fused forward, overwritten")
                assertNear(secondDW, expectedDW, "\(what) fused weight gradient from zero", tolerance: 1e-4)
                // Only some images: the others are untouched.
                var part = [Float](repeating: 0, count: x.count)
                convBackwardDataBlocks(g, images: 1..<g.batch, imagesPerBlock: perBlock, gradY: dy, weight: w, gradX: &part,
                                       accumulate: true, scratch: scratch, workspace: workspace)
                let plane = g.inChannels * g.height * g.width
                XCTAssertTrue(part[0..<plane].allSatisfy { $0 == 0 }, "\(what): image 0 written")
                assertNear(Array(part[plane...]), Array(expectedDX[plane...]), "\(what) backward data, images 1…")
                var overwrittenPart = [Float](repeating: .nan, count: x.count)
                convBackwardDataBlocks(g, images: 1..<g.batch, imagesPerBlock: perBlock, gradY: dy, weight: w, gradX: &overwrittenPart,
                                       accumulate: false, scratch: scratch, workspace: workspace)
                XCTAssertTrue(overwrittenPart[0..<plane].allSatisfy { $0.isNaN }, "\(what): image 0 overwritten")
                assertNear(Array(overwrittenPart[plane...]), Array(expectedDX[plane...]), "\(what) overwritten backward data, images 1…")
            }
        }
    }

    /// One tap's row copy (im2col) and row add (col2im) for every row width around the vector
    /// paths (4–16 floats), against plain loops; the floats around the rows are sentinels that
    /// must come out unchanged (NaN in the gaps between strided rows stays NaN).
    func testTapRowsMatchPlainLoops() {
        for width in 1...20 {
            for rows in [1, 2, 7] {
                for stride in [width, width + 1, 2 * width + 3] {
                    let count = (rows - 1) * stride + width + 32
                    let strided = randomArray(count, seed: UInt64(width * 100 + stride)).map { $0 == 0 ? 1 : $0 }
                    let packed = randomArray(rows * width, seed: UInt64(width * 100 + rows))
                    // im2col: packed rows ← strided rows; 16 sentinels each side.
                    var copied = [Float](repeating: -7, count: rows * width + 32)
                    copied.withUnsafeMutableBufferPointer { dst in
                        strided.withUnsafeBufferPointer { src in
                            convCopyTapRows(dst.baseAddress! + 16, src.baseAddress! + 16, rows: rows, width: width, sourceStride: stride)
                        }
                    }
                    var expectedCopy = [Float](repeating: -7, count: rows * width + 32)
                    for r in 0..<rows { for x in 0..<width { expectedCopy[16 + r * width + x] = strided[16 + r * stride + x] } }
                    XCTAssertEqual(copied, expectedCopy, "copy: width \(width), rows \(rows), stride \(stride)")
                    // col2im: strided rows += packed rows; the gaps hold NaN.
                    var target = strided
                    for i in 0..<count where i < 16 || i >= 16 + (rows - 1) * stride + width || (i - 16) % stride >= width { target[i] = .nan }
                    var expectedAdd = target
                    for r in 0..<rows { for x in 0..<width { expectedAdd[16 + r * stride + x] += packed[r * width + x] } }
                    target.withUnsafeMutableBufferPointer { dst in
                        packed.withUnsafeBufferPointer { src in
                            convAddTapRows(dst.baseAddress! + 16, src.baseAddress!, rows: rows, width: width, destinationStride: stride)
                        }
                    }
                    XCTAssertEqual(target.map(\.bitPattern), expectedAdd.map(\.bitPattern), "add: width \(width), rows \(rows), stride \(stride)")
                }
            }
        }
    }

    /// y − bias (the reference's forward includes the bias; the fused routine has none).
    func unbiased(_ y: [Float], _ bias: [Float], _ g: ConvGeometry) -> [Float] {
        let plane = g.outHeight * g.outWidth
        return y.indices.map { y[$0] - bias[($0 / plane) % g.outChannels] }
    }

    func testImagesPerBlockKeepsBlocksWithinTheirBudget() {
        let dcgan = ConvGeometry(batch: 64, inChannels: 32, height: 14, width: 14, outChannels: 64, kernelH: 4, kernelW: 4,
                                 strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        XCTAssertEqual(dcgan.imagesPerBlock, 10)   // 10 × 49 = 490 columns of 512 floats: ≤ 262 144 floats
        let encoder = ConvGeometry(batch: 64, inChannels: 1, height: 28, width: 28, outChannels: 16, kernelH: 3, kernelW: 3,
                                   strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        XCTAssertEqual(encoder.imagesPerBlock, 5)  // 5 × 196 = 980 ≤ 1024 columns
        var small = dcgan
        small.batch = 3
        XCTAssertEqual(small.imagesPerBlock, 3)
        let wide = ConvGeometry(batch: 4, inChannels: 1, height: 40, width: 40, outChannels: 2, kernelH: 1, kernelW: 1)
        XCTAssertEqual(wide.imagesPerBlock, 1)     // 1600 positions: one image per block
    }

    /// col2im sums each element's taps in plain tap order (i, j), bit for bit (a faster walk
    /// over the taps must keep each element's order): against a naive col2im over the plain
    /// column matrix, with NaN in the scratch and in the planes it must not touch.
    func testCol2imSumsInTapOrderBitForBit() {
        for (index, g) in geometries.enumerated() where !g.isDepthwise {
            let planeOut = g.outHeight * g.outWidth, inGroup = g.inChannels / g.groups
            for perBlock in Set([1, 2, g.batch]) {
                let count = convBlockScratchCount(g, imagesPerBlock: perBlock)
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: count)
                defer { scratch.deallocate() }
                scratch.initialize(repeating: .nan, count: count)
                let s = ConvBlockScratch(g, imagesPerBlock: perBlock, scratch: scratch)
                convForEachBlock(0..<g.batch, imagesPerBlock: perBlock) { block in
                    let span = block.count * planeOut
                    let columns = randomArray(g.patch * span, seed: UInt64(index * 10 + block.lowerBound))
                    for gi in 0..<g.groups {
                        var got = [Float](repeating: .nan, count: g.batch * g.inChannels * g.height * g.width)
                        var expected = got
                        columns.withUnsafeBufferPointer { src in
                            convCol2imBlock(g, columns: src.baseAddress!, images: block, group: gi, gradX: &got, accumulate: false,
                                            phases: s.phases)
                        }
                        for (b, n) in block.enumerated() {
                            for c in 0..<inGroup {
                                let plane = (n * g.inChannels + gi * inGroup + c) * g.height * g.width
                                for e in 0..<(g.height * g.width) { expected[plane + e] = 0 }
                                for i in 0..<g.kernelH { for j in 0..<g.kernelW {
                                    for oy in 0..<g.outHeight { for ox in 0..<g.outWidth {
                                        let y = oy * g.strideH - g.padTop + i * g.dilationH, x = ox * g.strideW - g.padLeft + j * g.dilationW
                                        if y < 0 || y >= g.height || x < 0 || x >= g.width { continue }
                                        expected[plane + y * g.width + x] += columns[((c * g.kernelH + i) * g.kernelW + j) * span + b * planeOut + oy * g.outWidth + ox]
                                    } }
                                } }
                            }
                        }
                        for e in 0..<got.count where !(got[e] == expected[e] || (got[e].isNaN && expected[e].isNaN)) {
                            XCTFail("geometry \(index), block \(block), group \(gi): element \(e) is \(got[e]), tap order gives \(expected[e])")
                            return
                        }
                        // Accumulating: each element is its old value + the tap-order sum, bit for bit.
                        let start = randomArray(got.count, seed: UInt64(1000 + index))
                        var added = start
                        columns.withUnsafeBufferPointer { src in
                            convCol2imBlock(g, columns: src.baseAddress!, images: block, group: gi, gradX: &added, accumulate: true,
                                            phases: s.phases)
                        }
                        for e in 0..<got.count {
                            let want = expected[e].isNaN ? start[e] : start[e] + expected[e]
                            if added[e].bitPattern != want.bitPattern {
                                XCTFail("geometry \(index), block \(block), group \(gi): accumulated element \(e) is \(added[e]), expected \(want)")
                                return
                            }
                        }
                    }
                }
            }
        }
    }
}
