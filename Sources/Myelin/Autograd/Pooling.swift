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

/// The shared kernels' description of a pooling window over `input` [N, C, H, W]
/// (symmetric padding).
func poolGeometry(_ input: [Int], kernel: Size2d, stride: Size2d, padding: Size2d, dilation: Size2d) -> ConvGeometry {
    ConvGeometry(batch: input[0], inChannels: input[1], height: input[2], width: input[3], outChannels: input[1],
                 kernelH: kernel.height, kernelW: kernel.width, strideH: stride.height, strideW: stride.width,
                 padTop: padding.height, padLeft: padding.width, padBottom: padding.height, padRight: padding.width,
                 dilationH: dilation.height, dilationW: dilation.width, groups: input[1])
}

/// Max pooling: values and, per output element, the flat index (h·W + w) of the chosen
/// input element in its plane. Ties go to the first maximum in window order, as in PyTorch.
func maxPool2dCore(_ x: Tensor, kernel: Size2d, stride: Size2d, padding: Size2d, dilation: Size2d) -> (Tensor, [Int32]) {
    let out = poolOutputSize(op: "max_pool2d", input: x.shape, kernel: kernel, stride: stride, padding: padding, dilation: dilation)
    let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3], oh = out.height, ow = out.width
    var values = [Float](repeating: 0, count: planes * oh * ow)
    var argmax = [Int32](repeating: -1, count: planes * oh * ow)
    let g = poolGeometry(x.shape, kernel: kernel, stride: stride, padding: padding, dilation: dilation)
    x.data.withUnsafeBufferPointer { xp in
        values.withUnsafeMutableBufferPointer { vp in
            argmax.withUnsafeMutableBufferPointer { ap in
                maxPool2dForward(g, planes: planes, x: xp.baseAddress!, values: vp.baseAddress!, indices: ap.baseAddress!)
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
    let stride = stride ?? kernelSize
    let (values, argmax) = maxPool2dCore(x, kernel: kernelSize, stride: stride, padding: padding, dilation: dilation)
    // Recorded as its own op (same input and window as the values), so a traced model that
    // unpools exports: the bundle's max_pool2d then writes both. Not differentiable.
    let indices = Tensor.result("max_pool2d_indices", shape: values.shape, data: argmax.map { Float($0) }, inputs: [x],
                                attributes: ["kernel": .ints(kernelSize.list), "stride": .ints(stride.list),
                                             "padding": .ints([padding.height, padding.width, padding.height, padding.width]),
                                             "dilation": .ints(dilation.list)]) { _ in }
    return (values, indices)
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
    let at = indices.data.map { Int32($0) }
    x.data.withUnsafeBufferPointer { xp in
        out.withUnsafeMutableBufferPointer { op in
            maxUnpool2dForward(planes: planes, planeIn: planeIn, planeOut: planeOut, x: xp.baseAddress!, indices: at, y: op.baseAddress!)
        }
    }
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
    let g = poolGeometry(x.shape, kernel: kernelSize, stride: stride, padding: padding, dilation: 1)
    // Each output element's clipped window [y0, y1) × [x0, x1) and 1 / divisor (for the gradient).
    var windows = [(y0: Int, y1: Int, x0: Int, x1: Int, scale: Float)]()
    windows.reserveCapacity(oh * ow)
    for oy in 0..<oh { for ox in 0..<ow { windows.append(avgPoolWindow(g, oy, ox, countIncludePad: countIncludePad)) } }
    var values = [Float](repeating: 0, count: planes * oh * ow)
    x.data.withUnsafeBufferPointer { xp in
        values.withUnsafeMutableBufferPointer { vp in
            avgPool2dForward(g, planes: planes, countIncludePad: countIncludePad, x: xp.baseAddress!, y: vp.baseAddress!)
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
    func span(_ i: Int, _ n: Int, _ size: Int) -> Range<Int> { let s = adaptivePoolSpan(i, n, size); return s.lo..<s.hi }
    x.data.withUnsafeBufferPointer { xp in
        values.withUnsafeMutableBufferPointer { vp in
            adaptiveAvgPool2dForward(planes: planes, height: h, width: w, outHeight: oh, outWidth: ow, x: xp.baseAddress!, y: vp.baseAddress!)
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
            upsampleNearest2dForward(planes: planes, height: h, width: w, scaleH: scale.height, scaleW: scale.width,
                                     x: xp.baseAddress!, y: vp.baseAddress!)
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
            channelShuffleForward(batch: n, channels: c, groups: groups, inner: inner, x: xp.baseAddress!, y: vp.baseAddress!)
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
