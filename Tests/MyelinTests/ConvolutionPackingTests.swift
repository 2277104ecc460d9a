import XCTest
@testable import Myelin
@testable import MyelinShared

/// The runtime's convolution on packed weights (`convForwardPacked`): within rounding of the
/// naive reference (and of the training forward, which sums in another order), over odd
/// shapes, strides, padding, dilation, groups, partial tiles and more than one depth block.
final class ConvolutionPackingTests: XCTestCase {
    /// `oddConvGeometries` plus shapes aimed at the packed path's edges: patches deeper than
    /// one depth block (one exactly a block plus one row), output channels that leave a
    /// partial 8-row panel, a plane that is a whole number of 32-column panels (pointwise rows
    /// read in place) and one that is not, a stem (one input channel), stride 2 with dilation.
    static let geometries: [ConvGeometry] = oddConvGeometries + [
        ConvGeometry(batch: 2, inChannels: 40, height: 7, width: 6, outChannels: 13, kernelH: 3, kernelW: 3,
                     padTop: 1, padLeft: 0, padBottom: 1, padRight: 1),
        ConvGeometry(batch: 1, inChannels: 257, height: 3, width: 3, outChannels: 8, kernelH: 1, kernelW: 1),
        ConvGeometry(batch: 2, inChannels: 10, height: 8, width: 8, outChannels: 20, kernelH: 1, kernelW: 1, groups: 2),
        ConvGeometry(batch: 2, inChannels: 6, height: 5, width: 7, outChannels: 9, kernelH: 1, kernelW: 1),
        ConvGeometry(batch: 3, inChannels: 1, height: 28, width: 28, outChannels: 32, kernelH: 3, kernelW: 3),
        ConvGeometry(batch: 2, inChannels: 8, height: 17, width: 19, outChannels: 24, kernelH: 3, kernelW: 5,
                     strideH: 2, strideW: 2, padTop: 2, padLeft: 1, padBottom: 0, padRight: 2, dilationH: 2, dilationW: 1),
        ConvGeometry(batch: 2, inChannels: 32, height: 13, width: 13, outChannels: 64, kernelH: 3, kernelW: 3),
        // A patch one row deeper than a depth block may be (321 rows: blocks of 161 and 160).
        ConvGeometry(batch: 1, inChannels: 107, height: 3, width: 5, outChannels: 8, kernelH: 1, kernelW: 3),
    ]

    func randomArray(_ count: Int, seed: UInt64) -> [Float] {
        let g = Generator(seed: seed)
        return (0..<count).map { _ in g.nextUniform() - 0.5 }
    }

    /// Runs `convForwardPacked` image by image on weights packed from `w`.
    func packedForward(_ g: ConvGeometry, x: [Float], w: [Float], bias: [Float]?, relu: Bool) -> [Float] {
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: convPackedWeightsCount(g))
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: convPackedScratchCount(g))
        defer { packed.deallocate(); scratch.deallocate() }
        w.withUnsafeBytes { convPackWeights(g, weights: $0.baseAddress!, f16: false, into: packed) }
        let perIn = g.inChannels * g.height * g.width, perOut = g.outChannels * g.outHeight * g.outWidth
        // NaN-filled output: every element must be written.
        var y = [Float](repeating: .nan, count: g.batch * perOut)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                for n in 0..<g.batch {
                    if let b = bias {
                        b.withUnsafeBufferPointer { bp in
                            convForwardPacked(g, x: xp.baseAddress! + n * perIn, packed: packed, bias: bp.baseAddress!, relu: relu,
                                              y: yp.baseAddress! + n * perOut, scratch: scratch)
                        }
                    } else {
                        convForwardPacked(g, x: xp.baseAddress! + n * perIn, packed: packed, bias: nil, relu: relu,
                                          y: yp.baseAddress! + n * perOut, scratch: scratch)
                    }
                }
            }
        }
        return y
    }

    func testPackedForwardMatchesReferenceAndTrainingForward() {
        var packedCount = 0
        for (k, g) in Self.geometries.enumerated() where convPacksWeights(g) {
            packedCount += 1
            let x = randomArray(g.batch * g.inChannels * g.height * g.width, seed: UInt64(500 + k))
            let w = randomArray(g.outChannels * g.patch, seed: UInt64(600 + k))
            let b = randomArray(g.outChannels, seed: UInt64(700 + k))
            let count = g.batch * g.outChannels * g.outHeight * g.outWidth
            for bias in [b, nil] {
                var expected = [Float](repeating: 0, count: count)
                conv2dReference(g, x: x, weight: w, bias: bias, y: &expected)
                var training = [Float](repeating: 0, count: count)
                convForwardBatch(g, x: x, weight: w, bias: bias, y: &training, accumulate: false)
                for relu in [false, true] {
                    let y = packedForward(g, x: x, w: w, bias: bias, relu: relu)
                    let what = "geometry \(k) bias \(bias != nil) relu \(relu)"
                    let reference = relu ? expected.map { Swift.max($0, 0) } : expected
                    for i in 0..<count where !(Swift.abs(y[i] - reference[i]) <= 2e-5 * Swift.max(1, Swift.abs(reference[i]))) {
                        XCTFail("\(what): element \(i) is \(y[i]), reference \(reference[i])")
                        break
                    }
                    let trained = relu ? training.map { Swift.max($0, 0) } : training
                    for i in 0..<count where !(Swift.abs(y[i] - trained[i]) <= 2e-5 * Swift.max(1, Swift.abs(trained[i]))) {
                        XCTFail("\(what): element \(i) is \(y[i]), training forward \(trained[i])")
                        break
                    }
                }
            }
        }
        XCTAssertEqual(packedCount, Self.geometries.count - 6, "geometries run on packed weights")
    }

    /// Small planes run several images side by side in one column matrix (conv2d at batch > 1):
    /// each output is summed in the same order, so the result equals, exactly, one image at a time.
    func testImagesSideBySideEqualOneImageAtATime() {
        XCTAssertEqual(convPackedImages(ConvGeometry(batch: 1, inChannels: 8, height: 7, width: 7, outChannels: 8, kernelH: 3, kernelW: 3,
                                                     padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)), 3)
        XCTAssertEqual(convPackedImages(ConvGeometry(batch: 1, inChannels: 8, height: 4, width: 4, outChannels: 8, kernelH: 1, kernelW: 1)), 2)
        XCTAssertEqual(convPackedImages(ConvGeometry(batch: 1, inChannels: 8, height: 14, width: 14, outChannels: 8, kernelH: 1, kernelW: 1)), 1)
        let geometries = Self.geometries.filter { convPacksWeights($0) && $0.batch >= 2 } + [
            ConvGeometry(batch: 5, inChannels: 16, height: 7, width: 7, outChannels: 24, kernelH: 3, kernelW: 3,
                         padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
            ConvGeometry(batch: 3, inChannels: 12, height: 8, width: 8, outChannels: 16, kernelH: 3, kernelW: 3,
                         strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 2),
        ]
        for (k, g) in geometries.enumerated() {
            let x = randomArray(g.batch * g.inChannels * g.height * g.width, seed: UInt64(800 + k))
            let w = randomArray(g.outChannels * g.patch, seed: UInt64(900 + k))
            let b = randomArray(g.outChannels, seed: UInt64(1000 + k))
            let one = packedForward(g, x: x, w: w, bias: b, relu: true)
            let plane = g.outHeight * g.outWidth, perOut = g.outChannels * plane
            let packed = UnsafeMutablePointer<Float>.allocate(capacity: convPackedWeightsCount(g))
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: convPackedScratchCount(g, images: g.batch))
            defer { packed.deallocate(); scratch.deallocate() }
            w.withUnsafeBytes { convPackWeights(g, weights: $0.baseAddress!, f16: false, into: packed) }
            for images in 2...g.batch {
                // [outChannels, images, plane], NaN-filled: every element must be written.
                var staged = [Float](repeating: .nan, count: images * perOut)
                x.withUnsafeBufferPointer { xp in
                    b.withUnsafeBufferPointer { bp in
                        staged.withUnsafeMutableBufferPointer { sp in
                            convForwardPacked(g, images: images, x: xp.baseAddress!, packed: packed, bias: bp.baseAddress!, relu: true,
                                              y: sp.baseAddress!, scratch: scratch)
                        }
                    }
                }
                var sideBySide = [Float]()
                for n in 0..<images {
                    for o in 0..<g.outChannels { sideBySide += staged[((o * images + n) * plane)..<((o * images + n + 1) * plane)] }
                }
                XCTAssertEqual(sideBySide, Array(one[..<(images * perOut)]), "geometry \(k), \(images) images")
            }
        }
    }

    func testWhichConvolutionsPackTheirWeights() {
        // Depthwise convolutions keep their direct loops; a group of 3 output channels would
        // pad to 8 rows (more than double): weights as stored.
        XCTAssertFalse(convPacksWeights(ConvGeometry(batch: 1, inChannels: 6, height: 5, width: 5, outChannels: 6, kernelH: 3, kernelW: 3, groups: 6)))
        XCTAssertFalse(convPacksWeights(ConvGeometry(batch: 1, inChannels: 4, height: 5, width: 5, outChannels: 3, kernelH: 3, kernelW: 3)))
        XCTAssertTrue(convPacksWeights(ConvGeometry(batch: 1, inChannels: 4, height: 5, width: 5, outChannels: 4, kernelH: 3, kernelW: 3)))
        let g = ConvGeometry(batch: 1, inChannels: 6, height: 5, width: 5, outChannels: 10, kernelH: 3, kernelW: 3, groups: 2)
        XCTAssertEqual(convPackedWeightsCount(g), 2 * 8 * 27)
    }

    /// The patch is cut into the fewest depth blocks of at most `convMaxBlockDepth` rows, of
    /// equal depth: a 3×3 convolution over 32 channels (288 rows) runs in one block, not in a
    /// full block and a thin one that passes over the output tile again.
    func testDepthBlocksAreEvenAndFew() {
        XCTAssertEqual(convDepthStep(9), 9)
        XCTAssertEqual(convDepthStep(288), 288)
        XCTAssertEqual(convDepthStep(convMaxBlockDepth), convMaxBlockDepth)
        XCTAssertEqual(convDepthStep(convMaxBlockDepth + 1), (convMaxBlockDepth + 2) / 2)
        XCTAssertEqual(convDepthStep(576), 288)
        XCTAssertEqual(convDepthStep(1152), 288)
        XCTAssertEqual(convBlockDepth(320, 321), 160, "last block of 321 rows")
    }

    /// `convStoreTile` for every width of a column panel (1 … 32 columns, ragged ones as two
    /// overlapping vectors): each valid element exactly as the element-by-element rule says
    /// (bias on the first block, accumulate on later ones, then ReLU); nothing outside the
    /// valid rows and columns is written.
    func testStoreTileEveryWidthExact() {
        let ldc = 40
        let edge = randomArray(convTileRows * gemmTileCols, seed: 31).map { $0 * 4 }
        let bias = randomArray(convTileRows, seed: 32)
        let before = randomArray(convTileRows * ldc, seed: 33)
        for cols in 1...gemmTileCols {
            for rows in [convTileRows, 3] {
                for (start, withBias) in [(true, true), (true, false), (false, false)] {
                    for relu in [false, true] {
                        var c = before
                        for r in 0..<convTileRows { for j in cols..<ldc { c[r * ldc + j] = .nan } }
                        edge.withUnsafeBufferPointer { e in
                            bias.withUnsafeBufferPointer { b in
                                c.withUnsafeMutableBufferPointer { cp in
                                    convStoreTile(e.baseAddress!, rows: rows, cols: cols, c: cp.baseAddress!, ldc: ldc,
                                                  bias: withBias ? b.baseAddress! : nil, start: start, relu: relu)
                                }
                            }
                        }
                        for r in 0..<convTileRows {
                            for j in 0..<ldc {
                                var expected = r >= rows || j >= cols ? (j >= cols ? Float.nan : before[r * ldc + j]) : edge[r * gemmTileCols + j]
                                if r < rows && j < cols {
                                    if !start { expected = before[r * ldc + j] + expected } else if withBias { expected = expected + bias[r] }
                                    if relu && expected < 0 { expected = 0 }
                                }
                                let got = c[r * ldc + j]
                                if !(got.bitPattern == expected.bitPattern || (got.isNaN && expected.isNaN)) {
                                    XCTFail("cols \(cols) rows \(rows) start \(start) bias \(withBias) relu \(relu): C[\(r), \(j)] = \(got), expected \(expected)")
                                    return
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `convIm2colPadding` zeroes exactly the outputs whose tap falls in the padding (rows
    /// outside `rows`, columns outside `columns`) and leaves the rest, including when no tap
    /// falls in the padding.
    func testIm2colPaddingZeroesExactlyThePadding() {
        let oh = 5, ow = 7
        for (rows, columns) in [(0..<5, 0..<7), (1..<5, 0..<7), (0..<5, 0..<6), (1..<4, 2..<5), (2..<2, 0..<7), (0..<5, 3..<3)] {
            var row = [Float](repeating: .nan, count: oh * ow)
            row.withUnsafeMutableBufferPointer { convIm2colPadding($0.baseAddress!, rows: rows, columns: columns, outHeight: oh, outWidth: ow) }
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let inside = rows.contains(oy) && columns.contains(ox), v = row[oy * ow + ox]
                    XCTAssertTrue(inside ? v.isNaN : v == 0, "rows \(rows) columns \(columns): (\(oy), \(ox)) is \(v)")
                }
            }
        }
    }

    /// One image through `convForwardPacked` (its own path, or `viaIm2col`) with NaN-filled
    /// scratch and output: every element must be written, and no junk read may reach it.
    func packedForwardOne(_ g: ConvGeometry, x: [Float], w: [Float], bias: [Float]?, relu: Bool, viaIm2col: Bool) -> [Float] {
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: convPackedWeightsCount(g))
        let count = convPackedScratchCount(g)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: count)
        scratch.initialize(repeating: .nan, count: count)
        defer { packed.deallocate(); scratch.deallocate() }
        w.withUnsafeBytes { convPackWeights(g, weights: $0.baseAddress!, f16: false, into: packed) }
        var y = [Float](repeating: .nan, count: g.outChannels * g.outHeight * g.outWidth)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                let b = bias.map { UnsafeMutablePointer<Float>.allocate(capacity: $0.count) }
                defer { b?.deallocate() }
                if let b, let bias { b.initialize(from: bias, count: bias.count) }
                convForwardPacked(g, x: xp.baseAddress!, packed: packed, bias: b.map { UnsafePointer($0) }, relu: relu,
                                  y: yp.baseAddress!, scratch: scratch, viaIm2col: viaIm2col)
            }
        }
        return y
    }

    /// Checks `convForwardPacked`'s own path against im2col (bit for bit) and the naive
    /// reference (within rounding) on `geometries` (batch 1), with and without bias and ReLU.
    func checkPathEqualsIm2col(_ geometries: [ConvGeometry], seed: UInt64) {
        for (k, g) in geometries.enumerated() {
            let x = randomArray(g.inChannels * g.height * g.width, seed: seed + UInt64(3 * k))
            let w = randomArray(g.outChannels * g.patch, seed: seed + UInt64(3 * k + 1))
            let b = randomArray(g.outChannels, seed: seed + UInt64(3 * k + 2))
            var expected = [Float](repeating: 0, count: g.outChannels * g.outHeight * g.outWidth)
            for bias in [b, nil] {
                conv2dReference(g, x: x, weight: w, bias: bias, y: &expected)
                for relu in [false, true] {
                    let fast = packedForwardOne(g, x: x, w: w, bias: bias, relu: relu, viaIm2col: false)
                    let im2col = packedForwardOne(g, x: x, w: w, bias: bias, relu: relu, viaIm2col: true)
                    let what = "geometry \(k) bias \(bias != nil) relu \(relu)"
                    XCTAssertEqual(fast.map(\.bitPattern), im2col.map(\.bitPattern), what)
                    for i in 0..<expected.count {
                        let reference = relu ? Swift.max(expected[i], 0) : expected[i]
                        if !(Swift.abs(fast[i] - reference) <= 2e-5 * Swift.max(1, Swift.abs(reference))) {
                            XCTFail("\(what): element \(i) is \(fast[i]), reference \(reference)")
                            break
                        }
                    }
                }
            }
        }
    }

    /// Stride-1 convolutions read their columns in place from zero-padded planes (the output on
    /// the wide plane, junk lanes past each row and past the last plane): the same values as
    /// im2col, bit for bit. Odd shapes: asymmetric padding, a 1 × 1 kernel on a plane that is not
    /// whole panels, a wide kernel, groups, a partial 8-channel panel, two depth blocks, one
    /// output column, a last panel of 16 or fewer columns.
    func testColumnsInPlaceEqualIm2col() {
        let geometries = [
            ConvGeometry(batch: 1, inChannels: 32, height: 13, width: 13, outChannels: 64, kernelH: 3, kernelW: 3),
            ConvGeometry(batch: 1, inChannels: 5, height: 9, width: 11, outChannels: 13, kernelH: 3, kernelW: 3,
                         padTop: 1, padLeft: 0, padBottom: 2, padRight: 1),
            ConvGeometry(batch: 1, inChannels: 16, height: 7, width: 7, outChannels: 24, kernelH: 1, kernelW: 1),
            ConvGeometry(batch: 1, inChannels: 6, height: 8, width: 12, outChannels: 16, kernelH: 3, kernelW: 5,
                         padTop: 1, padLeft: 2, padBottom: 1, padRight: 2, groups: 2),
            ConvGeometry(batch: 1, inChannels: 37, height: 6, width: 5, outChannels: 9, kernelH: 3, kernelW: 3,
                         padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
            ConvGeometry(batch: 1, inChannels: 3, height: 10, width: 3, outChannels: 8, kernelH: 2, kernelW: 3),
            ConvGeometry(batch: 1, inChannels: 8, height: 5, width: 4, outChannels: 8, kernelH: 5, kernelW: 4, padTop: 2, padBottom: 2),
        ]
        XCTAssertTrue(geometries.allSatisfy { convReadsColumnsInPlace($0) && !convRunsAsStem($0) && convPacksWeights($0) })
        XCTAssertFalse(convReadsColumnsInPlace(ConvGeometry(batch: 1, inChannels: 8, height: 9, width: 9, outChannels: 8,
                                                            kernelH: 3, kernelW: 3, strideH: 2, strideW: 2)))
        checkPathEqualsIm2col(geometries, seed: 1200)
    }

    /// Small planes whose wide plane would cost over a third more lanes read their columns from
    /// shifted planes (kernelW copies of each zero-padded plane, over the output plane itself):
    /// ResNet-mini's 4 × 4 convolutions padded by 1 (16 lanes, a half tile, instead of 32),
    /// asymmetric padding, a wide kernel with groups, one output column, two depth blocks; bit
    /// for bit im2col on NaN-filled scratch. A 14 × 14 plane stays on the wide plane.
    func testShiftedPlanesEqualIm2col() {
        let geometries = [
            ConvGeometry(batch: 1, inChannels: 24, height: 4, width: 4, outChannels: 16, kernelH: 3, kernelW: 3,
                         padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
            ConvGeometry(batch: 1, inChannels: 5, height: 5, width: 3, outChannels: 12, kernelH: 3, kernelW: 3,
                         padTop: 0, padLeft: 2, padBottom: 1, padRight: 1),
            ConvGeometry(batch: 1, inChannels: 6, height: 4, width: 6, outChannels: 16, kernelH: 3, kernelW: 5,
                         padTop: 1, padLeft: 2, padBottom: 1, padRight: 2, groups: 2),
            ConvGeometry(batch: 1, inChannels: 3, height: 10, width: 3, outChannels: 8, kernelH: 2, kernelW: 3),
            ConvGeometry(batch: 1, inChannels: 40, height: 4, width: 4, outChannels: 8, kernelH: 3, kernelW: 3,
                         padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
        ]
        XCTAssertTrue(geometries.allSatisfy { convReadsColumnsInPlace($0) && convShiftsPlanes($0) && !convRunsAsStem($0) })
        XCTAssertFalse(convShiftsPlanes(ConvGeometry(batch: 1, inChannels: 32, height: 14, width: 14, outChannels: 32, kernelH: 3,
                                                     kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)))
        checkPathEqualsIm2col(geometries, seed: 1300)
    }

    /// One-channel stride-1 convolutions run as stems straight from the image (padded or not,
    /// rows of 16, 26 and 40 columns, a partial 8-channel panel): the same values as im2col,
    /// bit for bit. Narrower rows stay on the other paths.
    func testStemEqualsIm2col() {
        let geometries = [
            ConvGeometry(batch: 1, inChannels: 1, height: 28, width: 28, outChannels: 32, kernelH: 3, kernelW: 3),
            ConvGeometry(batch: 1, inChannels: 1, height: 28, width: 28, outChannels: 16, kernelH: 3, kernelW: 3,
                         padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
            ConvGeometry(batch: 1, inChannels: 1, height: 9, width: 18, outChannels: 13, kernelH: 5, kernelW: 3,
                         padTop: 2, padLeft: 0, padBottom: 1, padRight: 0),
            ConvGeometry(batch: 1, inChannels: 1, height: 6, width: 44, outChannels: 8, kernelH: 2, kernelW: 5,
                         padTop: 0, padLeft: 1, padBottom: 1, padRight: 0),
        ]
        XCTAssertTrue(geometries.allSatisfy { convRunsAsStem($0) && convPacksWeights($0) })
        XCTAssertFalse(convRunsAsStem(ConvGeometry(batch: 1, inChannels: 1, height: 17, width: 17, outChannels: 8, kernelH: 3, kernelW: 3)))
        XCTAssertFalse(convRunsAsStem(ConvGeometry(batch: 1, inChannels: 1, height: 28, width: 28, outChannels: 8, kernelH: 3, kernelW: 3,
                                                   strideH: 2, strideW: 2)))
        checkPathEqualsIm2col(geometries, seed: 1300)
    }

    /// im2col's rows at a horizontal stride of 2 (4 or 8 outputs at a time from 5 outputs on,
    /// the last block ending at the row's last output) equal the element-by-element copy, for
    /// every row length up to 20, column ranges not starting at 0, and leave the other columns.
    func testStridedIm2colRowsEveryWidth() {
        for n in 1...20 {
            for first in [0, 3] {
                let ow = first + n + 2, width = 2 * ow, rows = 3
                let g = ConvGeometry(batch: 1, inChannels: 1, height: 2 * rows, width: width, outChannels: 8, kernelH: 1, kernelW: 1,
                                     strideH: 2, strideW: 2)
                let src = randomArray(g.height * width, seed: UInt64(40 + n))
                var dst = [Float](repeating: .nan, count: rows * ow)
                src.withUnsafeBufferPointer { sp in
                    dst.withUnsafeMutableBufferPointer { convIm2colStridedRows(g, $0.baseAddress!, sp.baseAddress!, rows: rows, columns: first..<(first + n)) }
                }
                for r in 0..<rows {
                    for ox in 0..<ow {
                        let got = dst[r * ow + ox]
                        if ox >= first && ox < first + n {
                            XCTAssertEqual(got, src[2 * r * width + 2 * ox], "n \(n) first \(first) row \(r) column \(ox)")
                        } else {
                            XCTAssertTrue(got.isNaN, "n \(n) first \(first) row \(r) column \(ox) written")
                        }
                    }
                }
            }
        }
    }

    func testNaNStaysNaNThroughTheFusedReLU() {
        let g = ConvGeometry(batch: 1, inChannels: 2, height: 4, width: 4, outChannels: 8, kernelH: 3, kernelW: 3)
        var x = randomArray(32, seed: 9)
        x[0] = .nan   // read by output (0, 0) only, for every channel
        let y = packedForward(g, x: x, w: randomArray(8 * 18, seed: 10), bias: nil, relu: true)
        for o in 0..<8 {
            XCTAssertTrue(y[o * 4].isNaN, "channel \(o) output (0, 0)")
            XCTAssertFalse(y[o * 4 + 1].isNaN || y[o * 4 + 1] < 0, "channel \(o) output (0, 1)")
        }
    }
}

/// The arena of a context is planned for one chunk of samples (`InferenceContext.plannedBatch`),
/// not for `maxBatch`: it stops growing past the chunk, and a chunked batch still equals the
/// unchunked one.
final class ArenaChunkPlanningTests: XCTestCase {
    func testArenaIsPlannedForOneChunk() throws {
        let model = ModelZoo.make("cnn", generator: Generator(seed: 72))
        model.eval()
        var options = BundleExporter.Options()
        options.inputShape = [1, 28, 28]
        let bytes = try BundleExporter.export(model, options: options).encode()
        var loaded = try bytes.withUnsafeBytes { (raw) throws(BundleStatus) in try LoadedBundle.load(raw.baseAddress!, count: raw.count) }
        defer { loaded.release() }
        let g = loaded.model.graph
        let chunk = try InferenceContext.plannedBatch(g, maxBatch: 256)
        XCTAssertGreaterThan(chunk, 1)
        XCTAssertLessThan(chunk, 256)
        XCTAssertEqual(try InferenceContext.plannedBatch(g, maxBatch: 256, reuse: false), 256)
        XCTAssertEqual(try InferenceContext.plannedBatch(g, maxBatch: 1), 1)
        let atChunk = try InferenceContext.arenaBytes(loaded.model, maxBatch: chunk)
        XCTAssertEqual(try InferenceContext.arenaBytes(loaded.model, maxBatch: 256), atChunk)
        XCTAssertEqual(try InferenceContext.arenaBytes(loaded.model, maxBatch: 4096), atChunk)
        XCTAssertLessThan(try InferenceContext.arenaBytes(loaded.model, maxBatch: 1), atChunk)
        // Values of one chunk in about 1 MiB; planned for 256 samples they take far more (a plan
        // for maxBatch would make the two equal). Since conv1 + pool run fused, the anchor's
        // values are ~28 KB a sample, so 256 samples take ~6× the chunk's arena, scratch included.
        var full = try MemoryPlan.make(g, maxBatch: 256)
        defer { full.release() }
        XCTAssertLessThan(atChunk, full.arenaBytes / 4)
        var context = try InferenceContext.create(loaded.model, maxBatch: 256)
        defer { context.release() }
        XCTAssertEqual(context.chunk, chunk)
        XCTAssertEqual(context.plan.arenaBytes, atChunk)
        // 256 samples through the chunk-sized arena = the same samples through an unchunked context.
        var unchunked = try InferenceContext.create(loaded.model, maxBatch: 256, reuse: false)
        defer { unchunked.release() }
        let x = Tensor.uniform([256, 784], generator: Generator(seed: 73)).data
        func run(_ c: inout InferenceContext) -> [Float] {
            var y = [Float](repeating: .nan, count: 256 * 10)
            x.withUnsafeBytes { xp in
                y.withUnsafeMutableBytes { yp in
                    let ins: [UnsafeRawPointer?] = [xp.baseAddress!]
                    let outs: [UnsafeMutableRawPointer?] = [yp.baseAddress!]
                    c.run(loaded.model, batch: 256, inputs: ins, outputs: outs)
                }
            }
            return y
        }
        XCTAssertEqual(run(&context).map(\.bitPattern), run(&unchunked).map(\.bitPattern))
    }
}
