// Pooling and resampling of NCHW feature maps, forward and backward side by side:
// maxPool2d (+ indices), maxUnpool2d, avgPool2d, adaptiveAvgPool2d, upsampleNearest2d,
// channelShuffle. Every op works plane by plane ([N·C] planes of H×W).

/// Checks a pooling window and returns the output size
/// ⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1 per dimension.
func poolOutputSize(op: String, input: [Int], kernel: Size2d, stride: Size2d, padding: Size2d, dilation: Size2d) -> Size2d {
    check(input.count == 4, "\(op): input \(input) is not [batch, channels, height, width]")
    check(kernel.height >= 1 && kernel.width >= 1, "\(op): kernel size \(kernel) must be positive")
    check(stride.height >= 1 && stride.width >= 1, "\(op): stride \(stride) must be positive")
    check(dilation.height >= 1 && dilation.width >= 1, "\(op): dilation \(dilation) must be positive")
    check(padding.height >= 0 && padding.width >= 0 && 2 * padding.height <= kernel.height && 2 * padding.width <= kernel.width,
          "\(op): padding \(padding) must be between 0 and half the kernel size \(kernel)")
    let oh = (input[2] + 2 * padding.height - dilation.height * (kernel.height - 1) - 1) / stride.height + 1
    let ow = (input[3] + 2 * padding.width - dilation.width * (kernel.width - 1) - 1) / stride.width + 1
    check(input[2] + 2 * padding.height >= dilation.height * (kernel.height - 1) + 1
            && input[3] + 2 * padding.width >= dilation.width * (kernel.width - 1) + 1,
          "\(op): input \(input) with padding \(padding) is smaller than the kernel \(kernel) dilated by \(dilation)")
    return Size2d(oh, ow)
}

/// Max pooling: values and, per output element, the flat index (h·W + w) of the chosen
/// input element in its plane. Ties go to the first maximum in window order, as in PyTorch.
func maxPool2dCore(_ x: Tensor, kernel: Size2d, stride: Size2d, padding: Size2d, dilation: Size2d) -> (Tensor, [Int32]) {
    let out = poolOutputSize(op: "max_pool2d", input: x.shape, kernel: kernel, stride: stride, padding: padding, dilation: dilation)
    let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3], oh = out.height, ow = out.width
    // Taps inside the input for each output row and column: window start + tap·dilation in range.
    func taps(_ o: Int, _ stride: Int, _ pad: Int, _ dilation: Int, _ k: Int, _ size: Int) -> (start: Int, taps: Range<Int>) {
        let start = o * stride - pad
        let lo = start >= 0 ? 0 : (-start + dilation - 1) / dilation
        let hi = Swift.min(k, start > size - 1 ? 0 : (size - 1 - start) / dilation + 1)
        return (start, lo..<Swift.max(lo, hi))
    }
    let rows = (0..<oh).map { taps($0, stride.height, padding.height, dilation.height, kernel.height, h) }
    let cols = (0..<ow).map { taps($0, stride.width, padding.width, dilation.width, kernel.width, w) }
    var values = [Float](repeating: 0, count: planes * oh * ow)
    var argmax = [Int32](repeating: -1, count: planes * oh * ow)
    // The usual 2×2 window with stride 2 runs 8 outputs at a time.
    let fastPair = kernel == 2 && stride == 2 && padding == 0 && dilation == 1
    x.data.withUnsafeBufferPointer { xp in
        values.withUnsafeMutableBufferPointer { vp in
            argmax.withUnsafeMutableBufferPointer { ap in
                for plane in 0..<planes {
                    let src = xp.baseAddress! + plane * h * w
                    for (oy, r) in rows.enumerated() {
                        let first = fastPair ? maxPool2x2Row(src + 2 * oy * w, width: w, outputs: ow, rowIndex: 2 * oy * w,
                                                             values: vp.baseAddress! + (plane * oh + oy) * ow,
                                                             indices: ap.baseAddress! + (plane * oh + oy) * ow) : 0
                        for ox in first..<ow {
                            let c = cols[ox]
                            // As PyTorch: start from −∞ at the first tap inside; a larger value or a
                            // NaN takes over, and a NaN stays. Written so that the data-dependent
                            // comparison feeds selects, not a branch (the winner is random).
                            var best = -Float.infinity
                            var at = (r.start + r.taps.lowerBound * dilation.height) * w + c.start + c.taps.lowerBound * dilation.width
                            for i in r.taps {
                                let rowStart = (r.start + i * dilation.height) * w + c.start
                                for j in c.taps {
                                    let index = rowStart + j * dilation.width
                                    let v = src[index]
                                    let take = !best.isNaN && !(v <= best)
                                    best = take ? v : best
                                    at = take ? index : at
                                }
                            }
                            let o = (plane * oh + oy) * ow + ox
                            vp[o] = best
                            ap[o] = r.taps.isEmpty || c.taps.isEmpty ? -1 : Int32(truncatingIfNeeded: at)
                        }
                    }
                }
            }
        }
    }
    let planeIn = h * w, planeOut = oh * ow
    let result = Tensor.result("max_pool2d", shape: [x.shape[0], x.shape[1], oh, ow], data: values, inputs: [x],
                               attributes: ["kernel": .ints(kernel.list), "stride": .ints(stride.list),
                                            "padding": .ints([padding.height, padding.width, padding.height, padding.width]),
                                            "dilation": .ints(dilation.list)]) { g in
        x.accumulateGrad(count: x.count) { gx in
            for plane in 0..<planes {
                for p in 0..<planeOut {
                    let at = Int(argmax[plane * planeOut + p])
                    if at >= 0 { gx[plane * planeIn + at] += g[plane * planeOut + p] }
                }
            }
        }
    }
    return (result, argmax)
}

/// One output row of 2×2, stride-2 max pooling, 8 outputs at a time from two input rows
/// (`top` and the row below, `width` apart): values and in-plane indices (`rowIndex` is the
/// index of `top[0]`), with `maxPool2dCore`'s order and NaN rule. Returns how many leading
/// outputs it wrote (a multiple of 8, so the anchor CNN's 13-wide rows use it too); the
/// caller does the rest.
@inline(__always)
func maxPool2x2Row(_ top: UnsafePointer<Float>, width: Int, outputs: Int, rowIndex: Int,
                   values: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>) -> Int {
    typealias V = SIMD8<Float>
    typealias I = SIMD8<Int32>
    let lanes = I(0, 2, 4, 6, 8, 10, 12, 14)
    var ox = 0
    while ox + 8 <= outputs {
        let a = UnsafeRawPointer(top + 2 * ox).loadUnaligned(as: SIMD16<Float>.self)
        let b = UnsafeRawPointer(top + width + 2 * ox).loadUnaligned(as: SIMD16<Float>.self)
        let base = I(repeating: Int32(truncatingIfNeeded: rowIndex + 2 * ox)) &+ lanes
        var best = a.evenHalf, at = base
        @inline(__always) func visit(_ v: V, _ offset: Int) {
            let take = .!(v .<= best) .& (best .== best)
            best.replace(with: v, where: take)
            at.replace(with: base &+ Int32(truncatingIfNeeded: offset), where: take)
        }
        visit(a.oddHalf, 1)
        visit(b.evenHalf, width)
        visit(b.oddHalf, width + 1)
        UnsafeMutableRawPointer(values + ox).storeBytes(of: best, as: V.self)
        UnsafeMutableRawPointer(indices + ox).storeBytes(of: at, as: I.self)
        ox += 8
    }
    return ox
}

/// 2-D max pooling (PyTorch's `F.max_pool2d`): the largest element of each window; padding
/// positions never win.
///
/// - Shape: `[N, C, H, W]` → `[N, C, Hout, Wout]`, Hout = ⌊(H + 2·padding − dilation·(k − 1) − 1) / stride⌋ + 1.
/// - Parameters: stride defaults to the kernel size; padding is at most half the kernel.
///
/// ```swift
/// let pooled = maxPool2d(Tensor.randn([64, 32, 26, 26]), kernelSize: 2)   // [64, 32, 13, 13]
/// ```
public func maxPool2d(_ x: Tensor, kernelSize: Size2d, stride: Size2d? = nil, padding: Size2d = 0, dilation: Size2d = 1) -> Tensor {
    maxPool2dCore(x, kernel: kernelSize, stride: stride ?? kernelSize, padding: padding, dilation: dilation).0
}

/// `maxPool2d` that also returns, for each output element, the flat index h·W + w of the
/// maximum in its input plane (as floats), for `maxUnpool2d`.
///
/// ```swift
/// let (pooled, indices) = maxPool2dWithIndices(x, kernelSize: 2)
/// let restored = maxUnpool2d(pooled, indices: indices, outputSize: [x.shape[2], x.shape[3]])
/// ```
public func maxPool2dWithIndices(_ x: Tensor, kernelSize: Size2d, stride: Size2d? = nil, padding: Size2d = 0,
                                 dilation: Size2d = 1) -> (values: Tensor, indices: Tensor) {
    let (values, argmax) = maxPool2dCore(x, kernel: kernelSize, stride: stride ?? kernelSize, padding: padding, dilation: dilation)
    return (values, Tensor(shape: values.shape, data: argmax.map { Float($0) }))
}

/// The partial inverse of max pooling (PyTorch's `F.max_unpool2d`): each element goes to
/// position `indices` of its plane in a zero map of `outputSize`.
///
/// - Shape: x and indices `[N, C, H, W]` → `[N, C, outputSize.height, outputSize.width]`.
/// - Parameters: outputSize is the spatial size; for a pool of kernel k, stride s and
///   padding p the usual one is (H − 1)·s − 2p + k (see `MaxUnpool2d`).
///
/// ```swift
/// let (pooled, indices) = maxPool2dWithIndices(x, kernelSize: 2)                 // [1, 1, 4, 4] → [1, 1, 2, 2]
/// let sparse = maxUnpool2d(pooled, indices: indices, outputSize: [4, 4])         // maxima in place, zeros elsewhere
/// ```
public func maxUnpool2d(_ x: Tensor, indices: Tensor, outputSize: Size2d) -> Tensor {
    check(x.rank == 4, "max_unpool2d: input \(x.shape) is not [batch, channels, height, width]")
    check(indices.shape == x.shape, "max_unpool2d: indices \(indices.shape) do not match input \(x.shape)")
    check(outputSize.height >= 1 && outputSize.width >= 1, "max_unpool2d: output size \(outputSize) must be positive")
    let planes = x.shape[0] * x.shape[1], planeIn = x.shape[2] * x.shape[3]
    let planeOut = outputSize.height * outputSize.width
    var targets = [Int](repeating: 0, count: x.count)
    for i in 0..<x.count {
        let v = indices.data[i]
        check(v >= 0 && v < Float(planeOut) && v == v.rounded(),
              "max_unpool2d: index \(v) is not a position in an output plane of \(outputSize) (input \(x.shape))")
        targets[i] = (i / planeIn) * planeOut + Int(v)
    }
    var out = [Float](repeating: 0, count: planes * planeOut)
    for i in 0..<x.count { out[targets[i]] = x.data[i] }
    return Tensor.result("max_unpool2d", shape: [x.shape[0], x.shape[1], outputSize.height, outputSize.width], data: out,
                         inputs: [x, indices], attributes: ["output_size": .ints(outputSize.list)]) { g in
        x.accumulateGrad(count: x.count) { gx in for i in 0..<targets.count { gx[i] += g[targets[i]] } }
    }
}

/// 2-D average pooling (PyTorch's `F.avg_pool2d`).
///
/// - Shape: `[N, C, H, W]` → `[N, C, Hout, Wout]`, Hout = ⌊(H + 2·padding − k) / stride⌋ + 1.
/// - Parameters: stride defaults to the kernel size; with `countIncludePad` (the default)
///   padding zeros count in the divisor, otherwise only the input elements in the window do.
///
/// ```swift
/// let smaller = avgPool2d(Tensor.randn([8, 16, 32, 32]), kernelSize: 3, stride: 2, padding: 1)   // [8, 16, 16, 16]
/// ```
public func avgPool2d(_ x: Tensor, kernelSize: Size2d, stride: Size2d? = nil, padding: Size2d = 0,
                      countIncludePad: Bool = true) -> Tensor {
    let stride = stride ?? kernelSize
    let out = poolOutputSize(op: "avg_pool2d", input: x.shape, kernel: kernelSize, stride: stride, padding: padding, dilation: 1)
    let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3], oh = out.height, ow = out.width
    // Each output element's clipped window [y0, y1) × [x0, x1) and 1 / divisor.
    var windows = [(y0: Int, y1: Int, x0: Int, x1: Int, scale: Float)]()
    windows.reserveCapacity(oh * ow)
    for oy in 0..<oh {
        for ox in 0..<ow {
            let ys = oy * stride.height - padding.height, xs = ox * stride.width - padding.width
            let ye = Swift.min(ys + kernelSize.height, h + padding.height), xe = Swift.min(xs + kernelSize.width, w + padding.width)
            let padded = (ye - ys) * (xe - xs)
            let y0 = Swift.max(ys, 0), y1 = Swift.min(ye, h), x0 = Swift.max(xs, 0), x1 = Swift.min(xe, w)
            let divisor = countIncludePad ? padded : (y1 - y0) * (x1 - x0)
            windows.append((y0, y1, x0, x1, 1 / Float(divisor)))
        }
    }
    var values = [Float](repeating: 0, count: planes * oh * ow)
    x.data.withUnsafeBufferPointer { xp in
        for plane in 0..<planes {
            let src = xp.baseAddress! + plane * h * w
            for (p, win) in windows.enumerated() {
                var s: Float = 0
                for iy in win.y0..<win.y1 { for ix in win.x0..<win.x1 { s += src[iy * w + ix] } }
                values[plane * oh * ow + p] = s * win.scale
            }
        }
    }
    return Tensor.result("avg_pool2d", shape: [x.shape[0], x.shape[1], oh, ow], data: values, inputs: [x],
                         attributes: ["kernel": .ints(kernelSize.list), "stride": .ints(stride.list),
                                      "padding": .ints([padding.height, padding.width, padding.height, padding.width]),
                                      "dilation": .ints([1, 1]), "count_include_pad": .int(countIncludePad ? 1 : 0)]) { g in
        x.accumulateGrad(count: x.count) { gx in
            for plane in 0..<planes {
                let dst = gx.baseAddress! + plane * h * w
                for (p, win) in windows.enumerated() {
                    let v = g[plane * oh * ow + p] * win.scale
                    for iy in win.y0..<win.y1 { for ix in win.x0..<win.x1 { dst[iy * w + ix] += v } }
                }
            }
        }
    }
}

/// Average pooling to a fixed output size (PyTorch's `F.adaptive_avg_pool2d`): output cell
/// i of n covers input rows ⌊i·H/n⌋ ..< ⌈(i+1)·H/n⌉ (likewise columns), so windows may overlap.
///
/// - Shape: `[N, C, H, W]` → `[N, C, outputSize.height, outputSize.width]`.
///
/// ```swift
/// let pooled = adaptiveAvgPool2d(features, outputSize: 1)   // global average pooling: [N, C, 1, 1]
/// ```
public func adaptiveAvgPool2d(_ x: Tensor, outputSize: Size2d) -> Tensor {
    check(x.rank == 4, "adaptive_avg_pool2d: input \(x.shape) is not [batch, channels, height, width]")
    check(outputSize.height >= 1 && outputSize.width >= 1, "adaptive_avg_pool2d: output size \(outputSize) must be positive")
    let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3], oh = outputSize.height, ow = outputSize.width
    check(h >= 1 && w >= 1, "adaptive_avg_pool2d: input \(x.shape) has an empty plane")
    var values = [Float](repeating: 0, count: planes * oh * ow)
    func span(_ i: Int, _ n: Int, _ size: Int) -> Range<Int> { (i * size / n)..<(((i + 1) * size + n - 1) / n) }
    x.data.withUnsafeBufferPointer { xp in
        for plane in 0..<planes {
            let src = xp.baseAddress! + plane * h * w
            for oy in 0..<oh {
                let rows = span(oy, oh, h)
                for ox in 0..<ow {
                    let cols = span(ox, ow, w)
                    var s: Float = 0
                    for iy in rows { for ix in cols { s += src[iy * w + ix] } }
                    values[(plane * oh + oy) * ow + ox] = s / Float(rows.count * cols.count)
                }
            }
        }
    }
    return Tensor.result("adaptive_avg_pool2d", shape: [x.shape[0], x.shape[1], oh, ow], data: values, inputs: [x],
                         attributes: ["output_size": .ints(outputSize.list)]) { g in
        x.accumulateGrad(count: x.count) { gx in
            for plane in 0..<planes {
                let dst = gx.baseAddress! + plane * h * w
                for oy in 0..<oh {
                    let rows = span(oy, oh, h)
                    for ox in 0..<ow {
                        let cols = span(ox, ow, w)
                        let v = g[(plane * oh + oy) * ow + ox] / Float(rows.count * cols.count)
                        for iy in rows { for ix in cols { dst[iy * w + ix] += v } }
                    }
                }
            }
        }
    }
}

/// Nearest-neighbour upsampling by integer factors (PyTorch's `F.interpolate(mode="nearest")`
/// with integer `scale_factor`): every input element becomes a scale.height × scale.width block.
///
/// - Shape: `[N, C, H, W]` → `[N, C, H·scale.height, W·scale.width]`.
///
/// ```swift
/// let bigger = upsampleNearest2d(Tensor.randn([1, 3, 4, 4]), scale: 2)   // [1, 3, 8, 8]
/// ```
public func upsampleNearest2d(_ x: Tensor, scale: Size2d) -> Tensor {
    check(x.rank == 4, "upsample_nearest2d: input \(x.shape) is not [batch, channels, height, width]")
    check(scale.height >= 1 && scale.width >= 1, "upsample_nearest2d: scale \(scale) must be positive integers")
    let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
    let oh = h * scale.height, ow = w * scale.width
    var values = [Float](repeating: 0, count: planes * oh * ow)
    x.data.withUnsafeBufferPointer { xp in
        values.withUnsafeMutableBufferPointer { vp in
            for plane in 0..<planes {
                for oy in 0..<oh {
                    let src = xp.baseAddress! + (plane * h + oy / scale.height) * w
                    let dst = vp.baseAddress! + (plane * oh + oy) * ow
                    for ox in 0..<ow { dst[ox] = src[ox / scale.width] }
                }
            }
        }
    }
    return Tensor.result("upsample_nearest2d", shape: [x.shape[0], x.shape[1], oh, ow], data: values, inputs: [x],
                         attributes: ["scale": .ints(scale.list)]) { g in
        x.accumulateGrad(count: x.count) { gx in
            for plane in 0..<planes {
                for oy in 0..<oh {
                    let dst = gx.baseAddress! + (plane * h + oy / scale.height) * w
                    let base = (plane * oh + oy) * ow
                    for ox in 0..<ow { dst[ox / scale.width] += g[base + ox] }
                }
            }
        }
    }
}

/// Channel shuffle (ShuffleNet; PyTorch's `F.channel_shuffle`): view the C channels as
/// [groups, C / groups], transpose to [C / groups, groups], flatten — output channel
/// i·groups + j is input channel j·(C / groups) + i.
///
/// - Shape: `[N, C, …]` → the same shape; C divisible by groups.
///
/// ```swift
/// let mixed = channelShuffle(Tensor.randn([2, 6, 4, 4]), groups: 3)   // channels 0,2,4,1,3,5
/// ```
public func channelShuffle(_ x: Tensor, groups: Int) -> Tensor {
    check(x.rank >= 2, "channel_shuffle: input \(x.shape) has no channel dimension")
    check(groups >= 1 && x.shape[1] % groups == 0, "channel_shuffle: \(x.shape[1]) channels of input \(x.shape) do not split into \(groups) groups")
    let n = x.shape[0], c = x.shape[1], inner = x.shape.dropFirst(2).reduce(1, *), perGroup = c / groups
    // Output channel o reads input channel source[o].
    let source = (0..<c).map { o in (o % groups) * perGroup + o / groups }
    var values = [Float](repeating: 0, count: x.count)
    x.data.withUnsafeBufferPointer { xp in
        values.withUnsafeMutableBufferPointer { vp in
            for b in 0..<n {
                for o in 0..<c {
                    let src = xp.baseAddress! + (b * c + source[o]) * inner, dst = vp.baseAddress! + (b * c + o) * inner
                    dst.update(from: src, count: inner)
                }
            }
        }
    }
    return Tensor.result("channel_shuffle", shape: x.shape, data: values, inputs: [x], attributes: ["groups": .int(groups)]) { g in
        x.accumulateGrad(count: x.count) { gx in
            for b in 0..<n {
                for o in 0..<c {
                    let src = (b * c + o) * inner, dst = (b * c + source[o]) * inner
                    for i in 0..<inner { gx[dst + i] += g[src + i] }
                }
            }
        }
    }
}
