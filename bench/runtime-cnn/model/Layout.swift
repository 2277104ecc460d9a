// `RuntimeCNNModel layout`: the measurement behind the runtime's NCHW layout. Times the
// anchor CNN's two convolutions (1→32 on 28×28, 32→64 on 13×13, 3×3) per image, one thread,
// medians, both ways the shared kernels allow:
//   NCHW  im2col [C·9, pixels] + GEMM weights [O, C·9] · columns → y [O, pixels] (what runs:
//         `convForwardPacked`, weights packed once);
//   NHWC  per-pixel patches [pixels, 9·C] (C contiguous, copied 3·C floats per kernel row)
//         + the prepacked-weight GEMM of `linear` → y [pixels, O], no output transpose
//         (an NHWC pipeline would need none), weights packed once.
import Foundation
import Myelin

func medianMicroseconds(_ reps: Int, _ body: () -> Void) -> Double {
    var times: [Double] = []
    for _ in 0..<reps {
        let t = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e3)
    }
    return times.sorted()[times.count / 2]
}

func measureLayouts() {
    let g = Generator(seed: 1)
    for (c, h, o) in [(1, 28, 32), (32, 13, 64)] {
        let k = 3, oh = h - 2, pixels = oh * oh, patch = c * k * k
        let x = Tensor.uniform([c * h * h], generator: g).data, w = Tensor.randn([o * patch], generator: g).data
        let bias = [Float](repeating: 0.1, count: o)
        let geometry = ConvGeometry(batch: 1, inChannels: c, height: h, width: h, outChannels: o, kernelH: k, kernelW: k)
        var y = [Float](repeating: 0, count: o * pixels)
        // The runtime's conv2d: weights packed once (at load), im2col straight into the GEMM's panels.
        var packedWeights = [Float](repeating: 0, count: convPackedWeightsCount(geometry))
        w.withUnsafeBytes { convPackWeights(geometry, weights: $0.baseAddress!, f16: false, into: &packedWeights) }
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: convPackedScratchCount(geometry))
        let nchw = medianMicroseconds(2000) {
            convForwardPacked(geometry, x: x, packed: packedWeights, bias: bias, relu: false, y: &y, scratch: scratch)
        }
        // NHWC: x as [h, w, c], weights reordered to [o, i, j, c] and packed once.
        var xNHWC = [Float](repeating: 0, count: c * h * h)
        for ch in 0..<c { for p in 0..<(h * h) { xNHWC[p * c + ch] = x[ch * h * h + p] } }
        var wOIJC = [Float](repeating: 0, count: o * patch)
        for oo in 0..<o { for ch in 0..<c { for t in 0..<(k * k) { wOIJC[oo * patch + t * c + ch] = w[oo * patch + ch * k * k + t] } } }
        var packed = [Float](repeating: 0, count: linearPackedCount(outputs: o, inputs: patch))
        linearPackWeights(outputs: o, inputs: patch, weights: wOIJC, into: &packed)
        let patches = UnsafeMutablePointer<Float>.allocate(capacity: pixels * patch)
        let linearWorkspace = UnsafeMutablePointer<Float>.allocate(capacity: linearPackedWorkspaceCount)
        var yNHWC = [Float](repeating: 0, count: pixels * o)
        let nhwc = medianMicroseconds(2000) {
            xNHWC.withUnsafeBufferPointer { xp in
                for oy in 0..<oh {
                    for ox in 0..<oh {
                        let row = patches + (oy * oh + ox) * patch
                        for i in 0..<k { (row + i * k * c).update(from: xp.baseAddress! + ((oy + i) * h + ox) * c, count: k * c) }
                    }
                }
            }
            linearPacked(m: pixels, n: o, k: patch, x: patches, ldx: patch, packed: packed, bias: bias, y: &yNHWC, ldy: o,
                         relu: false, workspace: linearWorkspace)
        }
        var worst: Float = 0
        for oo in 0..<o { for p in 0..<pixels { worst = max(worst, abs(y[oo * pixels + p] - yNHWC[p * o + oo])) } }
        let flops = Double(2 * o * pixels * patch)
        print(String(format: "conv %d→%d on %d×%d: NCHW %.2f µs (%.1f GFLOP/s), NHWC %.2f µs (%.1f GFLOP/s), max |difference| %.1e",
                     c, o, h, h, nchw, flops / nchw / 1e3, nhwc, flops / nhwc / 1e3, worst))
    }
}
