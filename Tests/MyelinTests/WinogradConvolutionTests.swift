import XCTest
@testable import Myelin
@testable import MyelinShared

/// Winograd F(2×2, 3×3) (ConvolutionWinograd.swift): the fast kernel against the naive
/// Winograd reference, and both against the direct convolution (`conv2dReference`), within
/// bounds derived before looking at any output.
///
/// The bound. For the output at (oy, ox) of output channel o, let d_c be the 4×4 input tile of
/// channel c that the output's 2×2 tile reads (zero outside the image), and
///   WD = Σ_c (Σ_{i,j} |g_oc[i, j]|) · (Σ_{r,s} |d_c[r, s]|).
/// Every rounded quantity of the Winograd computation is bounded by the same computation on
/// absolute values, |A|ᵀ [ (|G| |g| |G|ᵀ) ⊙ (|B|ᵀ |d| |B|) ] |A| summed over c, whose coefficient of
/// |g[i, j]|·|d[r, s]| is c(p, i, r)·c(q, j, s) with c(p, i, r) = Σ_k |A[k, p]| |G[k, i]| |B[r, k]|
/// ≤ 3 (at most 3 nonzero |A| entries per column, every |G|, |B| ≤ 1): so it is at most
/// κ²·WD, κ² = 9. Along any output the computation rounds at most 2 times in V = Bᵀ d B, 4 in
/// U = G g Gᵀ (the halvings are exact), once in each product, C times in the sum over channels,
/// 4 times in Aᵀ M A and once adding the bias: fewer than C + 16 roundings, so
///   |Winograd − exact| ≤ (C + 16)·u·9·WD + 2u·|bias|            (u = 2⁻²⁴)
/// and the direct sum (9C products and adds, each |w||x| term inside WD) has
///   |direct − exact| ≤ (9C + 1)·u·WD + u·|bias|.
/// The fast kernel and the naive reference differ only in rounding (fused multiply-adds,
/// the order of the two transform passes), so they are compared within the sum of two
/// Winograd bounds, and each is compared with the direct convolution within the sum of the
/// Winograd and direct bounds (ReLU is 1-Lipschitz and keeps both). A wrong coefficient,
/// tile offset or edge clip errs by a whole |g||d| product, about WD/144 for these random
/// operands, against a bound of about 27C·u·WD (4·10⁻⁴·WD at C = 128).
final class WinogradConvolutionTests: XCTestCase {
    /// Odd geometries: planes 1×1 … 15×15 and non-square, padding 0 or 1 per side (asymmetric
    /// too), channel counts off multiples of 8 and 16, batches > 1, a block of tiles that cuts
    /// an image's tile rows (40 → 40 channels: 32-tile blocks over 49-tile images), more than
    /// 16 tile columns (a 37-wide plane), two depth blocks (330 input channels).
    static let geometries: [ConvGeometry] = [
        ConvGeometry(batch: 1, inChannels: 8, height: 1, width: 1, outChannels: 8, kernelH: 3, kernelW: 3,
                     padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
        ConvGeometry(batch: 2, inChannels: 9, height: 2, width: 3, outChannels: 13, kernelH: 3, kernelW: 3,
                     padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
        ConvGeometry(batch: 1, inChannels: 12, height: 5, width: 5, outChannels: 20, kernelH: 3, kernelW: 3),
        ConvGeometry(batch: 2, inChannels: 16, height: 7, width: 7, outChannels: 8, kernelH: 3, kernelW: 3,
                     padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
        ConvGeometry(batch: 2, inChannels: 40, height: 13, width: 13, outChannels: 40, kernelH: 3, kernelW: 3,
                     padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
        ConvGeometry(batch: 1, inChannels: 10, height: 15, width: 15, outChannels: 17, kernelH: 3, kernelW: 3,
                     padTop: 1, padLeft: 0, padBottom: 0, padRight: 1),
        ConvGeometry(batch: 3, inChannels: 24, height: 4, width: 9, outChannels: 9, kernelH: 3, kernelW: 3,
                     padTop: 0, padLeft: 1, padBottom: 1, padRight: 0),
        ConvGeometry(batch: 2, inChannels: 32, height: 14, width: 14, outChannels: 32, kernelH: 3, kernelW: 3,
                     padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
        ConvGeometry(batch: 1, inChannels: 20, height: 6, width: 11, outChannels: 36, kernelH: 3, kernelW: 3,
                     padTop: 1, padLeft: 1, padBottom: 0, padRight: 1),
        ConvGeometry(batch: 1, inChannels: 8, height: 3, width: 37, outChannels: 8, kernelH: 3, kernelW: 3,
                     padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
        ConvGeometry(batch: 1, inChannels: 330, height: 3, width: 3, outChannels: 8, kernelH: 3, kernelW: 3,
                     padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
    ]

    static func random(_ count: Int, seed: UInt64) -> [Float] {
        let g = Generator(seed: seed)
        return (0..<count).map { _ in 2 * g.nextUniform() - 1 }
    }

    /// `convWinogradForward` on weights packed by `winogradPackWeights` (output NaN-filled first:
    /// every element must be written).
    static func fast(_ g: ConvGeometry, x: [Float], w: [Float], bias: [Float]?, relu: Bool) -> [Float] {
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: winogradWeightsCount(g))
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: winogradScratchCount(g))
        defer { packed.deallocate(); scratch.deallocate() }
        w.withUnsafeBytes { winogradPackWeights(g, weights: $0.baseAddress!, f16: false, into: packed) }
        var y = [Float](repeating: .nan, count: g.batch * g.outChannels * g.outHeight * g.outWidth)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                if let bias {
                    bias.withUnsafeBufferPointer { convWinogradForward(g, images: g.batch, x: xp.baseAddress!, packed: packed,
                                                                       bias: $0.baseAddress!, relu: relu, y: yp.baseAddress!, scratch: scratch) }
                } else {
                    convWinogradForward(g, images: g.batch, x: xp.baseAddress!, packed: packed, bias: nil, relu: relu,
                                        y: yp.baseAddress!, scratch: scratch)
                }
            }
        }
        return y
    }

    static func naive(_ g: ConvGeometry, x: [Float], w: [Float], bias: [Float]?, relu: Bool) -> [Float] {
        var y = [Float](repeating: .nan, count: g.batch * g.outChannels * g.outHeight * g.outWidth)
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    if let bias {
                        bias.withUnsafeBufferPointer {
                            conv2dWinogradReference(g, x: xp.baseAddress!, weight: wp.baseAddress!, bias: $0.baseAddress!, relu: relu,
                                                    y: yp.baseAddress!)
                        }
                    } else {
                        conv2dWinogradReference(g, x: xp.baseAddress!, weight: wp.baseAddress!, bias: nil, relu: relu, y: yp.baseAddress!)
                    }
                }
            }
        }
        return y
    }

    static func direct(_ g: ConvGeometry, x: [Float], w: [Float], bias: [Float]?, relu: Bool) -> [Float] {
        var y = [Float](repeating: .nan, count: g.batch * g.outChannels * g.outHeight * g.outWidth)
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    if let bias {
                        bias.withUnsafeBufferPointer { conv2dReference(g, x: xp.baseAddress!, weight: wp.baseAddress!, bias: $0.baseAddress!, y: yp.baseAddress!) }
                    } else {
                        conv2dReference(g, x: xp.baseAddress!, weight: wp.baseAddress!, bias: nil, y: yp.baseAddress!)
                    }
                }
            }
        }
        return relu ? y.map { Swift.max($0, 0) } : y
    }

    /// WD (see the class comment) for every output, as y's layout.
    static func tileMagnitudes(_ g: ConvGeometry, x: [Float], w: [Float]) -> [Float] {
        let c = g.inChannels, oh = g.outHeight, ow = g.outWidth
        var weightSums = [Float](repeating: 0, count: g.outChannels * c)
        for i in 0..<(g.outChannels * c) { weightSums[i] = (0..<9).reduce(0) { $0 + abs(w[i * 9 + $1]) } }
        var y = [Float](repeating: 0, count: g.batch * g.outChannels * oh * ow)
        for n in 0..<g.batch {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var tile = [Float](repeating: 0, count: c)
                    for ch in 0..<c {
                        for r in 0..<4 {
                            for s in 0..<4 {
                                let iy = oy / 2 * 2 - g.padTop + r, ix = ox / 2 * 2 - g.padLeft + s
                                if iy >= 0 && iy < g.height && ix >= 0 && ix < g.width {
                                    tile[ch] += abs(x[((n * c + ch) * g.height + iy) * g.width + ix])
                                }
                            }
                        }
                    }
                    for o in 0..<g.outChannels {
                        y[((n * g.outChannels + o) * oh + oy) * ow + ox] = (0..<c).reduce(0) { $0 + weightSums[o * c + $1] * tile[$1] }
                    }
                }
            }
        }
        return y
    }

    /// Runs `check(geometry, bias, relu, fast, naive, direct, WD)` over the geometries, with and
    /// without bias and ReLU alternating.
    func forEachCase(_ check: (ConvGeometry, [Float]?, [Float], [Float], [Float], [Float]) -> Void) {
        for (index, g) in Self.geometries.enumerated() {
            XCTAssertTrue(convRunsWinograd(g), "\(g)")
            let x = Self.random(g.batch * g.inChannels * g.height * g.width, seed: UInt64(10 + index))
            let w = Self.random(g.outChannels * g.inChannels * 9, seed: UInt64(100 + index))
            let bias: [Float]? = index % 2 == 0 ? Self.random(g.outChannels, seed: UInt64(200 + index)) : nil
            let relu = index % 3 != 1
            let fast = Self.fast(g, x: x, w: w, bias: bias, relu: relu)
            let naive = Self.naive(g, x: x, w: w, bias: bias, relu: relu)
            let direct = Self.direct(g, x: x, w: w, bias: bias, relu: relu)
            check(g, bias, fast, naive, direct, Self.tileMagnitudes(g, x: x, w: w))
        }
    }

    static let u = Float.ulpOfOne / 2

    /// Winograd's bound and the direct sum's (see the class comment) for one output.
    static func bounds(_ g: ConvGeometry, magnitude: Float, bias: Float) -> (winograd: Float, direct: Float) {
        let c = Float(g.inChannels)
        return ((c + 16) * u * 9 * magnitude + 2 * u * abs(bias), (9 * c + 1) * u * magnitude + u * abs(bias))
    }

    func testFastKernelMatchesNaiveWinogradReference() {
        forEachCase { g, bias, fast, naive, _, magnitudes in
            let plane = g.outHeight * g.outWidth
            var worst: Float = 0
            for i in fast.indices {
                let b = bias?[i / plane % g.outChannels] ?? 0
                let tolerance = 2 * Self.bounds(g, magnitude: magnitudes[i], bias: b).winograd
                worst = Swift.max(worst, abs(fast[i] - naive[i]) / tolerance)
                XCTAssertLessThanOrEqual(abs(fast[i] - naive[i]), tolerance, "\(g) output \(i): \(fast[i]) vs \(naive[i])")
                if abs(fast[i] - naive[i]) > tolerance { return }
            }
            // What fraction of the bound the worst output used (printed for the report).
            print("Winograd fast vs naive, C=\(g.inChannels) O=\(g.outChannels) \(g.height)x\(g.width): worst |diff| / bound \(worst)")
        }
    }

    func testBothMatchDirectConvolutionWithinTheAPrioriBound() {
        forEachCase { g, bias, fast, naive, direct, magnitudes in
            let plane = g.outHeight * g.outWidth
            var worst: Float = 0
            for i in fast.indices {
                let b = bias?[i / plane % g.outChannels] ?? 0
                let (winograd, directBound) = Self.bounds(g, magnitude: magnitudes[i], bias: b)
                let tolerance = winograd + directBound
                worst = Swift.max(worst, abs(fast[i] - direct[i]) / tolerance, abs(naive[i] - direct[i]) / tolerance)
                XCTAssertLessThanOrEqual(abs(fast[i] - direct[i]), tolerance, "\(g) fast output \(i): \(fast[i]) vs \(direct[i])")
                XCTAssertLessThanOrEqual(abs(naive[i] - direct[i]), tolerance, "\(g) naive output \(i): \(naive[i]) vs \(direct[i])")
                if abs(fast[i] - direct[i]) > tolerance || abs(naive[i] - direct[i]) > tolerance { return }
            }
            print("Winograd vs direct, C=\(g.inChannels) O=\(g.outChannels) \(g.height)x\(g.width): worst |diff| / bound \(worst)")
        }
    }

    /// f16 weights are widened before the transform: the packed block equals the one packed
    /// from the widened f32 weights.
    func testHalfWeightsPackAsTheirWidenedValues() {
        let g = Self.geometries[2]
        let w = Self.random(g.outChannels * g.inChannels * 9, seed: 7)
        let bits = w.map { Float16($0).bitPattern }
        let widened = bits.map { Float(Float16(bitPattern: $0)) }
        var fromHalf = [Float](repeating: .nan, count: winogradWeightsCount(g)), fromWide = fromHalf
        bits.withUnsafeBytes { b in fromHalf.withUnsafeMutableBufferPointer { winogradPackWeights(g, weights: b.baseAddress!, f16: true, into: $0.baseAddress!) } }
        widened.withUnsafeBytes { b in fromWide.withUnsafeMutableBufferPointer { winogradPackWeights(g, weights: b.baseAddress!, f16: false, into: $0.baseAddress!) } }
        XCTAssertEqual(fromHalf, fromWide)
    }

    /// Which convolutions conv2d may run by Winograd.
    func testGeometriesWinogradRuns() {
        let base = ConvGeometry(batch: 1, inChannels: 32, height: 14, width: 14, outChannels: 32, kernelH: 3, kernelW: 3,
                                padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        XCTAssertTrue(convRunsWinograd(base))
        var g = base; g.strideH = 2; g.strideW = 2
        XCTAssertFalse(convRunsWinograd(g), "stride 2")
        g = base; g.dilationW = 2
        XCTAssertFalse(convRunsWinograd(g), "dilation")
        g = base; g.groups = 2
        XCTAssertFalse(convRunsWinograd(g), "groups")
        g = base; g.kernelW = 5
        XCTAssertFalse(convRunsWinograd(g), "5 wide")
        g = base; g.padLeft = 2
        XCTAssertFalse(convRunsWinograd(g), "padding 2")
        g = base; g.inChannels = 1
        XCTAssertFalse(convRunsWinograd(g), "stem")
    }
}
