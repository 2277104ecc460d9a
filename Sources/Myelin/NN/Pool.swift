// Pooling and resampling layers: thin modules over Autograd/Pooling.swift. None has
// parameters or buffers.

/// 2-D max pooling (PyTorch's `nn.MaxPool2d`).
///
/// - Shape: `[N, C, H, W]` → `[N, C, Hout, Wout]`, Hout = ⌊(H + 2·padding − dilation·(k − 1) − 1) / stride⌋ + 1.
/// - Parameters: stride defaults to the kernel size; padding at most half the kernel.
///
/// ```swift
/// let pool = MaxPool2d(kernelSize: 2)
/// let y = pool(x)                                   // [64, 32, 26, 26] → [64, 32, 13, 13]
/// let (values, indices) = pool.forwardWithIndices(x)  // for MaxUnpool2d
/// ```
public final class MaxPool2d: Layer {
    public let kernelSize: Size2d
    public let stride: Size2d
    public let padding: Size2d
    public let dilation: Size2d
    public var isTraining = true

    public init(kernelSize: Size2d, stride: Size2d? = nil, padding: Size2d = 0, dilation: Size2d = 1) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.dilation = dilation
    }

    public func forward(_ input: Tensor) -> Tensor {
        maxPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation)
    }

    /// The pooled values and the flat in-plane index of each maximum (see `maxPool2dWithIndices`).
    public func forwardWithIndices(_ input: Tensor) -> (values: Tensor, indices: Tensor) {
        Tracer.enter(self)
        defer { Tracer.leave() }
        return maxPool2dWithIndices(input, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation)
    }

    public var description: String {
        var s = "MaxPool2d(kernelSize: \(kernelSize), stride: \(stride)"
        if padding != 0 { s += ", padding: \(padding)" }
        if dilation != 1 { s += ", dilation: \(dilation)" }
        return s + ")"
    }
}

/// The partial inverse of `MaxPool2d` (PyTorch's `nn.MaxUnpool2d`): puts each value back at
/// the position its pooling recorded, zeros elsewhere. It takes two inputs, so it is a
/// `Module` called as `unpool(x, indices: i)`, not a `Layer`.
///
/// - Shape: x and indices `[N, C, H, W]` → `[N, C, Hout, Wout]` with
///   Hout = (H − 1)·stride − 2·padding + kernelSize unless `outputSize` is given.
///
/// ```swift
/// let pool = MaxPool2d(kernelSize: 2), unpool = MaxUnpool2d(kernelSize: 2)
/// let (y, indices) = pool.forwardWithIndices(x)     // [1, 3, 8, 8] → [1, 3, 4, 4]
/// let restored = unpool(y, indices: indices)        // [1, 3, 8, 8]
/// ```
public final class MaxUnpool2d: Module {
    public let kernelSize: Size2d
    public let stride: Size2d
    public let padding: Size2d
    public var isTraining = true

    public init(kernelSize: Size2d, stride: Size2d? = nil, padding: Size2d = 0) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
    }

    /// Unpools `input` to `outputSize` (spatial), or to the default size above.
    public func forward(_ input: Tensor, indices: Tensor, outputSize: Size2d? = nil) -> Tensor {
        check(input.rank == 4, "MaxUnpool2d: expected input [batch, channels, height, width], got \(input.shape)")
        let size = outputSize ?? Size2d((input.shape[2] - 1) * stride.height - 2 * padding.height + kernelSize.height,
                                        (input.shape[3] - 1) * stride.width - 2 * padding.width + kernelSize.width)
        return maxUnpool2d(input, indices: indices, outputSize: size)
    }

    /// Same as `forward(_:indices:outputSize:)`.
    public func callAsFunction(_ input: Tensor, indices: Tensor, outputSize: Size2d? = nil) -> Tensor {
        Tracer.enter(self)
        defer { Tracer.leave() }
        return forward(input, indices: indices, outputSize: outputSize)
    }

    public var description: String {
        "MaxUnpool2d(kernelSize: \(kernelSize), stride: \(stride)\(padding != 0 ? ", padding: \(padding)" : ""))"
    }
}

/// 2-D average pooling (PyTorch's `nn.AvgPool2d`).
///
/// - Shape: `[N, C, H, W]` → `[N, C, Hout, Wout]`, Hout = ⌊(H + 2·padding − k) / stride⌋ + 1.
/// - Parameters: stride defaults to the kernel size; `countIncludePad` counts padding zeros
///   in the divisor (PyTorch's default).
///
/// ```swift
/// let pool = AvgPool2d(kernelSize: 2)
/// let y = pool(x)   // [8, 16, 32, 32] → [8, 16, 16, 16]
/// ```
public final class AvgPool2d: Layer {
    public let kernelSize: Size2d
    public let stride: Size2d
    public let padding: Size2d
    public let countIncludePad: Bool
    public var isTraining = true

    public init(kernelSize: Size2d, stride: Size2d? = nil, padding: Size2d = 0, countIncludePad: Bool = true) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.countIncludePad = countIncludePad
    }

    public func forward(_ input: Tensor) -> Tensor {
        avgPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding, countIncludePad: countIncludePad)
    }

    public var description: String {
        var s = "AvgPool2d(kernelSize: \(kernelSize), stride: \(stride)"
        if padding != 0 { s += ", padding: \(padding)" }
        if !countIncludePad { s += ", countIncludePad: false" }
        return s + ")"
    }
}

/// Average pooling to a fixed output size (PyTorch's `nn.AdaptiveAvgPool2d`); output size 1
/// is global average pooling.
///
/// - Shape: `[N, C, H, W]` → `[N, C, outputSize.height, outputSize.width]`.
///
/// ```swift
/// let head = Sequential(AdaptiveAvgPool2d(1), Flatten(), Linear(512, 10))   // [N, 512, 7, 7] → [N, 10]
/// ```
public final class AdaptiveAvgPool2d: Layer {
    public let outputSize: Size2d
    public var isTraining = true

    public init(_ outputSize: Size2d) { self.outputSize = outputSize }

    public func forward(_ input: Tensor) -> Tensor { adaptiveAvgPool2d(input, outputSize: outputSize) }

    public var description: String { "AdaptiveAvgPool2d(outputSize: \(outputSize))" }
}

/// Upsampling of NCHW feature maps by integer factors (PyTorch's `nn.Upsample` with
/// `scale_factor`; only the `nearest` mode).
///
/// - Shape: `[N, C, H, W]` → `[N, C, H·scaleFactor.height, W·scaleFactor.width]`.
///
/// ```swift
/// let up = Upsample(scaleFactor: 2)
/// let y = up(x)   // [1, 8, 7, 7] → [1, 8, 14, 14]
/// ```
public final class Upsample: Layer {
    /// How output pixels are computed from input pixels.
    public enum Mode: String {
        /// Each output pixel copies the input pixel it falls in.
        case nearest
    }

    public let scaleFactor: Size2d
    public let mode: Mode
    public var isTraining = true

    public init(scaleFactor: Size2d, mode: Mode = .nearest) {
        check(scaleFactor.height >= 1 && scaleFactor.width >= 1, "Upsample: scale factor \(scaleFactor) must be positive integers")
        self.scaleFactor = scaleFactor
        self.mode = mode
    }

    public func forward(_ input: Tensor) -> Tensor {
        switch mode {
        case .nearest: return upsampleNearest2d(input, scale: scaleFactor)
        }
    }

    public var description: String { "Upsample(scaleFactor: \(scaleFactor), mode: \(mode.rawValue))" }
}

/// Channel shuffle between grouped convolutions (ShuffleNet; PyTorch's `nn.ChannelShuffle`).
///
/// - Shape: `[N, C, H, W]` → the same; C divisible by `groups` (see `channelShuffle`).
///
/// ```swift
/// let block = Sequential(Conv2d(64, 64, kernelSize: 1, groups: 4), ChannelShuffle(4))
/// ```
public final class ChannelShuffle: Layer {
    public let groups: Int
    public var isTraining = true

    public init(_ groups: Int) {
        check(groups >= 1, "ChannelShuffle: groups must be at least 1, got \(groups)")
        self.groups = groups
    }

    public func forward(_ input: Tensor) -> Tensor { channelShuffle(input, groups: groups) }

    public var description: String { "ChannelShuffle(groups: \(groups))" }
}
