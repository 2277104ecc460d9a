import Foundation

// Convolutions (conv2d, conv1d, convTranspose2d), forward and backward side by side.
// Layout NCHW. The kernels are MyelinShared/Convolution.swift's im2col + GEMM routines; this
// file validates shapes, splits the batch across threads, and records the ops.

/// A height and a width: kernel size, stride, dilation, pooling window, scale. An integer
/// literal sets both (`stride: 2`), a two-element array literal each (`stride: [2, 1]`).
///
/// ```swift
/// let pool = MaxPool2d(kernelSize: [2, 3], stride: 1)
/// let s = Size2d(k)                                   // from a variable: Size2d(k) or Size2d(kh, kw)
/// ```
public struct Size2d: Equatable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, CustomStringConvertible {
    public var height: Int
    public var width: Int

    public init(_ height: Int, _ width: Int) {
        self.height = height
        self.width = width
    }

    /// The same value for height and width.
    public init(_ both: Int) { self.init(both, both) }

    public init(integerLiteral value: Int) { self.init(value) }

    public init(arrayLiteral elements: Int...) {
        check(elements.count == 2, "Size2d: expected [height, width], got \(elements)")
        self.init(elements[0], elements[1])
    }

    /// `[height, width]`, as the tracer records it.
    public var list: [Int] { [height, width] }
    public var description: String { "[\(height), \(width)]" }
}

/// Zero padding of a convolution's input, as in PyTorch's `padding` argument.
///
/// - an integer literal pads every side: `padding: 1`;
/// - an array literal gives explicit amounts: in 2-D `[h, w]` (top and bottom h, left and
///   right w) or `[top, left, bottom, right]`; in 1-D `[p]` or `[left, right]`;
/// - `"same"` (stride 1 only) keeps the input's size: d·(k − 1) in total per dimension,
///   the odd one on the bottom/right side, like PyTorch; `"valid"` is no padding.
///
/// ```swift
/// conv2d(x, weight: w, padding: 1)              // one row/column of zeros on every side
/// conv2d(x, weight: w, padding: [0, 1, 2, 1])   // top 0, left 1, bottom 2, right 1
/// conv2d(x, weight: w, padding: "same")         // output as large as the input
/// conv2d(x, weight: w, padding: .explicit([p])) // from a variable
/// ```
public enum Padding: Equatable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, ExpressibleByStringLiteral,
    CustomStringConvertible {
    /// Explicit amounts (1, 2 or 4 numbers, read as described above).
    case explicit([Int])
    /// Output as large as the input (stride 1).
    case same

    /// No padding.
    public static let valid = Padding.explicit([0])

    public init(integerLiteral value: Int) { self = .explicit([value]) }
    public init(arrayLiteral elements: Int...) { self = .explicit(elements) }
    public init(stringLiteral value: String) {
        switch value {
        case "same": self = .same
        case "valid": self = .valid
        default:
            check(false, "Padding: unknown mode \"\(value)\" (expected \"same\" or \"valid\")")
            self = .valid
        }
    }

    public var description: String {
        switch self {
        case .same: return "\"same\""
        case .explicit(let v): return v.count == 1 ? "\(v[0])" : "\(v)"
        }
    }

    /// [top, left, bottom, right] for a 2-D kernel of `kernel` taps dilated by `dilation`.
    func sides2d(op: String, kernel: Size2d, stride: Size2d, dilation: Size2d) -> [Int] {
        let sides: [Int]
        switch self {
        case .same:
            check(stride == 1, "\(op): padding \"same\" needs stride 1, got \(stride)")
            let th = dilation.height * (kernel.height - 1), tw = dilation.width * (kernel.width - 1)
            sides = [th / 2, tw / 2, th - th / 2, tw - tw / 2]
        case .explicit(let v):
            switch v.count {
            case 1: sides = [v[0], v[0], v[0], v[0]]
            case 2: sides = [v[0], v[1], v[0], v[1]]
            case 4: sides = v
            default: check(false, "\(op): padding \(v) must have 1, 2 ([h, w]) or 4 ([top, left, bottom, right]) numbers"); sides = []
            }
        }
        check(sides.allSatisfy { $0 >= 0 }, "\(op): padding \(sides) must not be negative")
        return sides
    }

    /// [left, right] for a 1-D kernel.
    func sides1d(op: String, kernel: Int, stride: Int, dilation: Int) -> [Int] {
        let sides: [Int]
        switch self {
        case .same:
            check(stride == 1, "\(op): padding \"same\" needs stride 1, got \(stride)")
            let total = dilation * (kernel - 1)
            sides = [total / 2, total - total / 2]
        case .explicit(let v):
            switch v.count {
            case 1: sides = [v[0], v[0]]
            case 2: sides = v
            default: check(false, "\(op): padding \(v) must have 1 or 2 ([left, right]) numbers"); sides = []
            }
        }
        check(sides.allSatisfy { $0 >= 0 }, "\(op): padding \(sides) must not be negative")
        return sides
    }
}

/// Column matrices for im2col, reused across calls so a training step allocates only its
/// output tensors (taking one is a locked pop; a buffer too small is replaced).
final class ConvScratchPool: @unchecked Sendable {
    static let shared = ConvScratchPool()
    private var free: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []
    private let lock = NSLock()

    func take(_ count: Int) -> (pointer: UnsafeMutablePointer<Float>, capacity: Int) {
        lock.lock(); defer { lock.unlock() }
        if let i = free.lastIndex(where: { $0.capacity >= count }) { return free.remove(at: i) }
        if let small = free.popLast() { small.pointer.deallocate() }
        let capacity = Swift.max(count, 1)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: capacity * 4, alignment: 64)
        return (raw.bindMemory(to: Float.self, capacity: capacity), capacity)
    }

    func give(_ buffer: (pointer: UnsafeMutablePointer<Float>, capacity: Int)) {
        lock.lock(); defer { lock.unlock() }
        free.append(buffer)
    }
}

/// How many contiguous parts of the batch run in parallel (one when splitting costs more
/// than it saves).
func convPartCount(_ g: ConvGeometry) -> Int {
    if g.multiplyAdds < Threading.parallelThreshold { return 1 }
    return Swift.max(1, Swift.min(Threading.threadCount, WorkerPool.shared.capacity, g.batch))
}

/// Runs `body(part, images, scratch, workspace)` for each of `parts` contiguous slices of the
/// batch, on its own thread with its own block scratch (`convBlockScratchCount`) and GEMM workspace.
func convForEachPart(_ g: ConvGeometry, parts: Int,
                     _ body: (_ part: Int, _ images: Range<Int>, _ scratch: UnsafeMutablePointer<Float>,
                              _ workspace: UnsafeMutablePointer<Float>) -> Void) {
    let perPart = (g.batch + parts - 1) / parts
    func run(_ part: Int) {
        let lo = part * perPart, hi = Swift.min(g.batch, lo + perPart)
        if lo >= hi { return }
        let scratch = ConvScratchPool.shared.take(convBlockScratchCount(g, imagesPerBlock: g.imagesPerBlock))
        let workspace = GEMMWorkspacePool.shared.take()
        body(part, lo..<hi, scratch.pointer, workspace)
        GEMMWorkspacePool.shared.give(workspace)
        ConvScratchPool.shared.give(scratch)
    }
    if parts == 1 { run(0) } else { WorkerPool.shared.parallelFor(parts, run) }
}

/// y (+)= bias + conv(x, weight) over the whole batch, rectified when `rectifierSlope` is given
/// (see `convForwardBlocks`).
func convForwardBatch(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                      y: UnsafeMutablePointer<Float>, accumulate: Bool, rectifierSlope: Float? = nil) {
    convForEachPart(g, parts: convPartCount(g)) { _, images, scratch, workspace in
        convForwardBlocks(g, images: images, imagesPerBlock: g.imagesPerBlock, x: x, weight: weight, bias: bias, y: y,
                          accumulate: accumulate, rectifierSlope: rectifierSlope, scratch: scratch, workspace: workspace)
    }
}

/// gradX (+)= ∂conv/∂x applied to gradY, over the whole batch: added when `accumulate`, else
/// every element overwritten (see `convBackwardDataBlocks`).
func convBackwardDataBatch(_ g: ConvGeometry, gradY: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                           gradX: UnsafeMutablePointer<Float>, accumulate: Bool) {
    convForEachPart(g, parts: convPartCount(g)) { _, images, scratch, workspace in
        convBackwardDataBlocks(g, images: images, imagesPerBlock: g.imagesPerBlock, gradY: gradY, weight: weight, gradX: gradX,
                               accumulate: accumulate, scratch: scratch, workspace: workspace)
    }
}

/// Runs `body(images, scratch, workspace, gradW)` over the parts of the batch as
/// `convForEachPart`, where part 0 adds into `gradW` and each extra part into its own zeroed
/// copy, added in at the end.
func convForEachPartAddingWeightGradient(_ g: ConvGeometry, gradW: UnsafeMutablePointer<Float>,
                                         _ body: (_ images: Range<Int>, _ scratch: UnsafeMutablePointer<Float>,
                                                  _ workspace: UnsafeMutablePointer<Float>, _ gradW: UnsafeMutablePointer<Float>) -> Void) {
    let parts = convPartCount(g), count = g.outChannels * g.patch
    let partials = (1..<Swift.max(parts, 1)).map { _ -> (pointer: UnsafeMutablePointer<Float>, capacity: Int) in
        let p = ConvScratchPool.shared.take(count)
        p.pointer.update(repeating: 0, count: count)
        return p
    }
    convForEachPart(g, parts: parts) { part, images, scratch, workspace in
        body(images, scratch, workspace, part == 0 ? gradW : partials[part - 1].pointer)
    }
    for p in partials {
        for i in 0..<count { gradW[i] += p.pointer[i] }
        ConvScratchPool.shared.give(p)
    }
}

/// gradW += Σ over the batch (see `convBackwardWeightBlocks`).
func convBackwardWeightBatch(_ g: ConvGeometry, x: UnsafePointer<Float>, gradY: UnsafePointer<Float>,
                             gradW: UnsafeMutablePointer<Float>) {
    convForEachPartAddingWeightGradient(g, gradW: gradW) { images, scratch, workspace, partW in
        convBackwardWeightBlocks(g, images: images, imagesPerBlock: g.imagesPerBlock, x: x, gradY: gradY, gradW: partW,
                                 scratch: scratch, workspace: workspace)
    }
}

/// y (+)= conv(x, weight) (added when `accumulate`, else overwritten) and gradW += Σ over the
/// batch, one im2col for both (see `convForwardAndWeightGradientBlocks`).
func convForwardAndWeightGradientBatch(_ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                       y: UnsafeMutablePointer<Float>, accumulate: Bool,
                                       gradY: UnsafePointer<Float>, gradW: UnsafeMutablePointer<Float>) {
    convForEachPartAddingWeightGradient(g, gradW: gradW) { images, scratch, workspace, partW in
        convForwardAndWeightGradientBlocks(g, images: images, imagesPerBlock: g.imagesPerBlock, x: x, weight: weight, y: y,
                                           accumulate: accumulate, gradY: gradY, gradW: partW, scratch: scratch, workspace: workspace)
    }
}

/// Adds Σ over batch and positions of `grad` [batch, channels, plane] into `bias`'s gradient.
func accumulateChannelSums(_ grad: UnsafePointer<Float>, batch: Int, channels: Int, plane: Int, into bias: Tensor) {
    let planes = ChannelPlanes(count: batch, length: plane, stride: channels * plane)
    bias.accumulateGrad(count: channels) { gb in
        for c in 0..<channels { gb[c] += Float(channelSum(grad + c * plane, planes)) }
    }
}

/// Checks a convolution's shapes and returns its geometry. `input`/`kernel` are the 2-D views;
/// `shownInput`/`shownWeight` the shapes the caller passed (for messages).
func makeConvGeometry(op: String, input: [Int], outChannels: Int, weightInChannels: Int, kernel: Size2d,
                      stride: Size2d, pads: [Int], dilation: Size2d, groups: Int,
                      shownInput: [Int], shownWeight: [Int]) -> ConvGeometry {
    check(groups >= 1, "\(op): groups must be at least 1, got \(groups)")
    check(stride.height >= 1 && stride.width >= 1, "\(op): stride must be positive, got \(stride)")
    check(dilation.height >= 1 && dilation.width >= 1, "\(op): dilation must be positive, got \(dilation)")
    check(kernel.height >= 1 && kernel.width >= 1 && outChannels >= 1 && weightInChannels >= 1,
          "\(op): weight \(shownWeight) has an empty dimension")
    check(outChannels % groups == 0,
          "\(op): weight \(shownWeight) has \(outChannels) output channels, not divisible by groups \(groups)")
    check(input[1] == weightInChannels * groups,
          "\(op): input \(shownInput) has \(input[1]) channels, weight \(shownWeight) with groups \(groups) expects \(weightInChannels * groups)")
    let g = ConvGeometry(batch: input[0], inChannels: input[1], height: input[2], width: input[3], outChannels: outChannels,
                         kernelH: kernel.height, kernelW: kernel.width, strideH: stride.height, strideW: stride.width,
                         padTop: pads[0], padLeft: pads[1], padBottom: pads[2], padRight: pads[3],
                         dilationH: dilation.height, dilationW: dilation.width, groups: groups)
    check(input[2] + pads[0] + pads[2] >= dilation.height * (kernel.height - 1) + 1
            && input[3] + pads[1] + pads[3] >= dilation.width * (kernel.width - 1) + 1,
          "\(op): input \(shownInput) with padding \(pads) is smaller than the kernel of weight \(shownWeight) dilated by \(dilation)")
    return g
}

/// Forward values and the gradient closure of a convolution with geometry `g`
/// (x as g's input, y as g's output, bias over g's output channels). With `rectifierSlope`
/// (≥ 0), y is rectified in the output pass (y > 0 ? y : slope·y; ReLU for 0), and backward
/// first turns the rectified output's gradient into the convolution's (`leakyReluBackward`
/// masked by the rectified output: its sign is the convolution's for a slope ≥ 0).
func convolution(_ g: ConvGeometry, x: Tensor, weight: Tensor, bias: Tensor?,
                 rectifierSlope: Float? = nil) -> (data: [Float], backward: ([Float]) -> Void) {
    // The kernel writes every element (bias or the first product), so no zero fill first.
    let count = g.batch * g.outChannels * g.outHeight * g.outWidth
    let out = [Float](unsafeUninitializedCapacity: count) { yp, initialized in
        if count == 0 { return }
        x.data.withUnsafeBufferPointer { xp in
            weight.data.withUnsafeBufferPointer { wp in
                if let b = bias {
                    b.data.withUnsafeBufferPointer { bp in
                        convForwardBatch(g, x: xp.baseAddress!, weight: wp.baseAddress!, bias: bp.baseAddress!,
                                         y: yp.baseAddress!, accumulate: false, rectifierSlope: rectifierSlope)
                    }
                } else {
                    convForwardBatch(g, x: xp.baseAddress!, weight: wp.baseAddress!, bias: nil, y: yp.baseAddress!, accumulate: false,
                                     rectifierSlope: rectifierSlope)
                }
            }
        }
        initialized = count
    }
    let backward = { (outputGrad: [Float]) in
        if count == 0 {
            // Nothing flowed back: the gradients are zeros.
            for t in [x, weight] + (bias.map { [$0] } ?? []) { t.withGradBuffer { _, _ in } }
            return
        }
        let grad = rectifierSlope.map { slope in
            [Float](unsafeUninitializedCapacity: count) { dz, initialized in
                out.withUnsafeBufferPointer { yp in
                    outputGrad.withUnsafeBufferPointer { dy in
                        leakyReluBackward(yp.baseAddress!, dy.baseAddress!, dz.baseAddress!, count: count, slope: slope, accumulate: false)
                    }
                }
                initialized = count
            }
        } ?? outputGrad
        grad.withUnsafeBufferPointer { gp in
            let gy = gp.baseAddress!
            // col2im writes every element of a new gradient buffer, so it needs no zero fill.
            x.writeGrad(count: x.count) { gx, accumulate in
                weight.data.withUnsafeBufferPointer { wp in
                    convBackwardDataBatch(g, gradY: gy, weight: wp.baseAddress!, gradX: gx.baseAddress!, accumulate: accumulate)
                }
            }
            weight.withGradBuffer { gw, _ in
                x.data.withUnsafeBufferPointer { xp in convBackwardWeightBatch(g, x: xp.baseAddress!, gradY: gy, gradW: gw) }
            }
            if let b = bias {
                accumulateChannelSums(gy, batch: g.batch, channels: g.outChannels, plane: g.outHeight * g.outWidth, into: b)
            }
        }
    }
    return (out, backward)
}

/// Forward values and gradient closure of the transposed convolution whose adjoint
/// convolution has geometry `g`: input t is g's output side, the result g's input side.
func transposedConvolution(_ g: ConvGeometry, t: Tensor, weight: Tensor, bias: Tensor?) -> (data: [Float], backward: ([Float]) -> Void) {
    let plane = g.height * g.width, count = g.batch * g.inChannels * plane
    if count == 0 { return ([], { _ in }) }
    // The output starts at the bias (each plane filled with its channel's), and col2im adds
    // into it; without a bias col2im overwrites it. Either way no zero fill first.
    let out = [Float](unsafeUninitializedCapacity: count) { zb, initialized in
        let zp = zb.baseAddress!
        if let b = bias {
            for n in 0..<g.batch {
                for c in 0..<g.inChannels { (zp + (n * g.inChannels + c) * plane).initialize(repeating: b.data[c], count: plane) }
            }
        }
        t.data.withUnsafeBufferPointer { tp in
            weight.data.withUnsafeBufferPointer { wp in
                convBackwardDataBatch(g, gradY: tp.baseAddress!, weight: wp.baseAddress!, gradX: zp, accumulate: bias != nil)
            }
        }
        initialized = count
    }
    let backward = { (grad: [Float]) in
        grad.withUnsafeBufferPointer { gp in
            let gz = gp.baseAddress!
            // The adjoint of the adjoint: dt = conv(dz), dW from the roles of x and y swapped;
            // both read dz's columns, built once when both are wanted.
            // dt's new buffer is overwritten by the product (no zero fill).
            if t.requiresGrad && weight.requiresGrad {
                t.writeGrad(count: t.count) { gt, accumulate in
                    weight.withGradBuffer { gw, _ in
                        weight.data.withUnsafeBufferPointer { wp in
                            t.data.withUnsafeBufferPointer { tp in
                                convForwardAndWeightGradientBatch(g, x: gz, weight: wp.baseAddress!, y: gt.baseAddress!,
                                                                  accumulate: accumulate, gradY: tp.baseAddress!, gradW: gw)
                            }
                        }
                    }
                }
            } else {
                t.writeGrad(count: t.count) { gt, accumulate in
                    weight.data.withUnsafeBufferPointer { wp in
                        convForwardBatch(g, x: gz, weight: wp.baseAddress!, bias: nil, y: gt.baseAddress!, accumulate: accumulate)
                    }
                }
                weight.withGradBuffer { gw, _ in
                    t.data.withUnsafeBufferPointer { tp in convBackwardWeightBatch(g, x: gz, gradY: tp.baseAddress!, gradW: gw) }
                }
            }
            if let b = bias { accumulateChannelSums(gz, batch: g.batch, channels: g.inChannels, plane: plane, into: b) }
        }
    }
    return (out, backward)
}

/// 2-D convolution (cross-correlation, as in PyTorch's `F.conv2d`):
/// `y[n, o] = bias[o] + Σ_c weight[o, c] ⋆ x[n, group(o)·C/groups + c]`.
///
/// - Shape: x `[N, C, H, W]`, weight `[O, C / groups, kH, kW]`, bias `[O]` →
///   y `[N, O, Hout, Wout]` with Hout = ⌊(H + padTop + padBottom − dilation·(kH − 1) − 1) / stride⌋ + 1
///   (likewise Wout).
/// - Parameters:
///   - stride, dilation: per dimension (`2` or `[2, 1]`).
///   - padding: zeros around the input: a number, `[h, w]`, `[top, left, bottom, right]`,
///     or `"same"` (stride 1).
///   - groups: input and output channels split into `groups` independent convolutions;
///     `groups == C` with `O == k·C` is a depthwise convolution.
///
/// ```swift
/// let x = Tensor.randn([8, 3, 32, 32])
/// let w = Tensor.randn([16, 3, 3, 3], requiresGrad: true)
/// let y = conv2d(x, weight: w, padding: 1)          // [8, 16, 32, 32]
/// let z = conv2d(y, weight: Tensor.randn([16, 1, 3, 3]), stride: 2, groups: 16)  // depthwise, [8, 16, 15, 15]
/// ```
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Size2d = 1, padding: Padding = 0,
                   dilation: Size2d = 1, groups: Int = 1) -> Tensor {
    conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups, rectifierSlope: nil)
}

/// `conv2d`, then with `rectifierSlope` (≥ 0) ReLU (0) or LeakyReLU in the same op,
/// "conv2d_leaky_relu" (`Conv2d.forward(_:rectifierSlope:)`): values and gradients bit for bit
/// those of the two ops.
func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Size2d, padding: Padding, dilation: Size2d, groups: Int,
            rectifierSlope: Float?) -> Tensor {
    check(x.rank == 4, "conv2d: input \(x.shape) is not [batch, channels, height, width]")
    check(weight.rank == 4, "conv2d: weight \(weight.shape) is not [outChannels, inChannels / groups, kernelH, kernelW]")
    let kernel = Size2d(weight.shape[2], weight.shape[3])
    let pads = padding.sides2d(op: "conv2d", kernel: kernel, stride: stride, dilation: dilation)
    let g = makeConvGeometry(op: "conv2d", input: x.shape, outChannels: weight.shape[0], weightInChannels: weight.shape[1],
                             kernel: kernel, stride: stride, pads: pads, dilation: dilation, groups: groups,
                             shownInput: x.shape, shownWeight: weight.shape)
    if let b = bias { check(b.shape == [g.outChannels], "conv2d: bias \(b.shape) does not match weight \(weight.shape) (expected [\(g.outChannels)])") }
    if let slope = rectifierSlope { check(slope >= 0, "conv2d: fused rectifier slope \(slope) must be ≥ 0") }
    let (data, backward) = convolution(g, x: x, weight: weight, bias: bias, rectifierSlope: rectifierSlope)
    var attributes: OpAttributes = ["stride": .ints(stride.list), "padding": .ints(pads), "dilation": .ints(dilation.list),
                                    "groups": .int(groups)]
    if let slope = rectifierSlope { attributes["slope"] = .float(Double(slope)) }
    return Tensor.result(rectifierSlope == nil ? "conv2d" : "conv2d_leaky_relu", shape: [g.batch, g.outChannels, g.outHeight, g.outWidth],
                         data: data, inputs: bias.map { [x, weight, $0] } ?? [x, weight], attributes: attributes,
                         backward: backward)
}

/// 1-D convolution over the last dimension (PyTorch's `F.conv1d`).
///
/// - Shape: x `[N, C, L]`, weight `[O, C / groups, k]`, bias `[O]` → y `[N, O, Lout]` with
///   Lout = ⌊(L + left + right − dilation·(k − 1) − 1) / stride⌋ + 1.
/// - Parameters: padding is a number, `[left, right]` or `"same"` (stride 1); the rest as `conv2d`.
///
/// ```swift
/// let signal = Tensor.randn([4, 2, 100])
/// let y = conv1d(signal, weight: Tensor.randn([8, 2, 5]), padding: "same")   // [4, 8, 100]
/// ```
public func conv1d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Padding = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    check(x.rank == 3, "conv1d: input \(x.shape) is not [batch, channels, length]")
    check(weight.rank == 3, "conv1d: weight \(weight.shape) is not [outChannels, inChannels / groups, kernel]")
    let pads = padding.sides1d(op: "conv1d", kernel: weight.shape[2], stride: stride, dilation: dilation)
    let g = makeConvGeometry(op: "conv1d", input: [x.shape[0], x.shape[1], 1, x.shape[2]], outChannels: weight.shape[0],
                             weightInChannels: weight.shape[1], kernel: Size2d(1, weight.shape[2]), stride: Size2d(1, stride),
                             pads: [0, pads[0], 0, pads[1]], dilation: Size2d(1, dilation), groups: groups,
                             shownInput: x.shape, shownWeight: weight.shape)
    if let b = bias { check(b.shape == [g.outChannels], "conv1d: bias \(b.shape) does not match weight \(weight.shape) (expected [\(g.outChannels)])") }
    let (data, backward) = convolution(g, x: x, weight: weight, bias: bias)
    return Tensor.result("conv1d", shape: [g.batch, g.outChannels, g.outWidth], data: data,
                         inputs: bias.map { [x, weight, $0] } ?? [x, weight],
                         attributes: ["stride": .ints([stride]), "padding": .ints(pads), "dilation": .ints([dilation]),
                                      "groups": .int(groups)],
                         backward: backward)
}

/// Transposed 2-D convolution (PyTorch's `F.conv_transpose2d`), the gradient of `conv2d`
/// with respect to its input: each input pixel scatters a weighted copy of the kernel.
///
/// - Shape: x `[N, Cin, H, W]`, weight `[Cin, Cout / groups, kH, kW]` (PyTorch layout),
///   bias `[Cout]` → y `[N, Cout, Hout, Wout]` with
///   Hout = (H − 1)·stride − 2·padding + dilation·(kH − 1) + outputPadding + 1 (likewise Wout).
/// - Parameters: padding removes rows/columns from both sides of the full output;
///   outputPadding (less than stride or dilation) adds them back on the bottom/right,
///   which picks one of the input sizes a strided `conv2d` maps to the same output size.
///
/// ```swift
/// let up = convTranspose2d(Tensor.randn([1, 16, 7, 7]), weight: Tensor.randn([16, 8, 3, 3]),
///                          stride: 2, padding: 1, outputPadding: 1)   // [1, 8, 14, 14]
/// ```
public func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Size2d = 1, padding: Size2d = 0,
                            outputPadding: Size2d = 0, groups: Int = 1, dilation: Size2d = 1) -> Tensor {
    let op = "conv_transpose2d"
    check(x.rank == 4, "\(op): input \(x.shape) is not [batch, channels, height, width]")
    check(weight.rank == 4, "\(op): weight \(weight.shape) is not [inChannels, outChannels / groups, kernelH, kernelW]")
    check(groups >= 1, "\(op): groups must be at least 1, got \(groups)")
    check(weight.shape.allSatisfy { $0 >= 1 }, "\(op): weight \(weight.shape) has an empty dimension")
    check(x.shape[1] == weight.shape[0] && weight.shape[0] % groups == 0,
          "\(op): input \(x.shape) has \(x.shape[1]) channels, weight \(weight.shape) with groups \(groups) expects \(weight.shape[0]) (divisible by \(groups))")
    check(padding.height >= 0 && padding.width >= 0, "\(op): padding \(padding) must not be negative")
    check(stride.height >= 1 && stride.width >= 1 && dilation.height >= 1 && dilation.width >= 1,
          "\(op): stride \(stride) and dilation \(dilation) must be positive")
    check(outputPadding.height >= 0 && outputPadding.width >= 0
            && outputPadding.height < Swift.max(stride.height, dilation.height)
            && outputPadding.width < Swift.max(stride.width, dilation.width),
          "\(op): outputPadding \(outputPadding) must be smaller than stride \(stride) or dilation \(dilation)")
    let kernel = Size2d(weight.shape[2], weight.shape[3])
    let outH = (x.shape[2] - 1) * stride.height - 2 * padding.height + dilation.height * (kernel.height - 1) + outputPadding.height + 1
    let outW = (x.shape[3] - 1) * stride.width - 2 * padding.width + dilation.width * (kernel.width - 1) + outputPadding.width + 1
    check(outH >= 1 && outW >= 1, "\(op): input \(x.shape) with weight \(weight.shape), stride \(stride) and padding \(padding) gives an empty output [\(outH), \(outW)]")
    let outChannels = weight.shape[1] * groups
    // The convolution this one is the adjoint of; padding on the bottom/right less the
    // output padding makes its output size exactly x's.
    let g = ConvGeometry(batch: x.shape[0], inChannels: outChannels, height: outH, width: outW, outChannels: x.shape[1],
                         kernelH: kernel.height, kernelW: kernel.width, strideH: stride.height, strideW: stride.width,
                         padTop: padding.height, padLeft: padding.width,
                         padBottom: padding.height - outputPadding.height, padRight: padding.width - outputPadding.width,
                         dilationH: dilation.height, dilationW: dilation.width, groups: groups)
    if let b = bias { check(b.shape == [outChannels], "\(op): bias \(b.shape) does not match weight \(weight.shape) (expected [\(outChannels)])") }
    let (data, backward) = transposedConvolution(g, t: x, weight: weight, bias: bias)
    return Tensor.result(op, shape: [g.batch, outChannels, outH, outW], data: data,
                         inputs: bias.map { [x, weight, $0] } ?? [x, weight],
                         attributes: ["stride": .ints(stride.list),
                                      "padding": .ints([padding.height, padding.width, padding.height, padding.width]),
                                      "output_padding": .ints(outputPadding.list), "dilation": .ints(dilation.list),
                                      "groups": .int(groups)],
                         backward: backward)
}
