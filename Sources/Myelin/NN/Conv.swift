// Convolution layers: thin modules over conv2d, conv1d and convTranspose2d
// (Autograd/Convolution.swift) that own their weight and bias.

/// A convolution's weight and bias drawn as PyTorch's `reset_parameters` does: weight
/// `kaimingUniform(a: √5)` = U(±1/√fanIn), bias U(±1/√fanIn), fanIn = weight.shape[1]·taps.
func makeConvParameters(_ shape: [Int], fanIn: Int, fanOut: Int, bias: Int?, weightInit: Init, biasInit: Init?,
                        generator: Generator) -> (Tensor, Tensor?) {
    let weight = weightInit.make(shape, fanIn: fanIn, fanOut: fanOut, generator: generator)
    weight.requiresGrad = true
    guard let count = bias else { return (weight, nil) }
    let bound = 1 / Float(fanIn).squareRoot()
    let b = (biasInit ?? .uniform(low: -bound, high: bound)).make([count], fanIn: fanIn, fanOut: fanOut, generator: generator)
    b.requiresGrad = true
    return (weight, b)
}

/// 2-D convolution layer over NCHW feature maps (PyTorch's `nn.Conv2d`).
///
/// - Shape: input `[N, inChannels, H, W]` → output `[N, outChannels, Hout, Wout]`,
///   Hout = ⌊(H + padTop + padBottom − dilation·(k − 1) − 1) / stride⌋ + 1 (see `conv2d`).
/// - Parameters: `weight` `[outChannels, inChannels / groups, kH, kW]`, `bias` `[outChannels]`.
/// - Initialisation: as PyTorch — weight `kaimingUniform(a: √5)`, bias U(±1/√fanIn), with
///   fanIn = (inChannels / groups)·kH·kW. Pass `weightInit`/`biasInit` to change it.
///
/// ```swift
/// let conv = Conv2d(1, 32, kernelSize: 3)
/// let y = conv(x)                                                    // [64, 1, 28, 28] → [64, 32, 26, 26]
/// let depthwise = Conv2d(32, 32, kernelSize: 3, padding: "same", groups: 32)
/// ```
public final class Conv2d: Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Size2d
    public let stride: Size2d
    public let padding: Padding
    public let dilation: Size2d
    public let groups: Int
    public let weight: Tensor
    public let bias: Tensor?
    public var isTraining = true

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Size2d, stride: Size2d = 1, padding: Padding = 0,
                dilation: Size2d = 1, groups: Int = 1, bias: Bool = true,
                weightInit: Init = .pytorchLinearDefault, biasInit: Init? = nil, generator: Generator = .default) {
        check(inChannels > 0 && outChannels > 0, "Conv2d: channel counts must be positive, got \(inChannels)→\(outChannels)")
        check(groups >= 1 && inChannels % groups == 0 && outChannels % groups == 0,
              "Conv2d: \(inChannels) input and \(outChannels) output channels do not split into \(groups) groups")
        check(kernelSize.height >= 1 && kernelSize.width >= 1, "Conv2d: kernel size \(kernelSize) must be positive")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        let taps = kernelSize.height * kernelSize.width
        (weight, self.bias) = makeConvParameters([outChannels, inChannels / groups, kernelSize.height, kernelSize.width],
                                                 fanIn: inChannels / groups * taps, fanOut: outChannels / groups * taps,
                                                 bias: bias ? outChannels : nil, weightInit: weightInit, biasInit: biasInit,
                                                 generator: generator)
    }

    public func forward(_ input: Tensor) -> Tensor {
        check(input.rank == 4 && input.shape[1] == inChannels,
              "Conv2d(\(inChannels)→\(outChannels)): expected input [batch, \(inChannels), height, width], got \(input.shape)")
        return conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    /// `forward` then ReLU (`rectifierSlope` 0) or LeakyReLU (slope > 0) as one op
    /// (`conv2d(_:…, rectifierSlope:)`): what `Sequential` runs while training for a Conv2d
    /// followed by either. Same values and gradients, bit for bit, as the two layers.
    func forward(_ input: Tensor, rectifierSlope: Float) -> Tensor {
        check(input.rank == 4 && input.shape[1] == inChannels,
              "Conv2d(\(inChannels)→\(outChannels)): expected input [batch, \(inChannels), height, width], got \(input.shape)")
        return conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups,
                      rectifierSlope: rectifierSlope)
    }

    public var localParameters: [(String, Tensor)] {
        bias.map { [("weight", weight), ("bias", $0)] } ?? [("weight", weight)]
    }

    public var description: String {
        var s = "Conv2d(\(inChannels), \(outChannels), kernelSize: \(kernelSize), stride: \(stride)"
        if padding != 0 { s += ", padding: \(padding)" }
        if dilation != 1 { s += ", dilation: \(dilation)" }
        if groups != 1 { s += ", groups: \(groups)" }
        if bias == nil { s += ", bias: false" }
        return s + ")"
    }
}

/// 1-D convolution layer over `[N, C, L]` sequences (PyTorch's `nn.Conv1d`).
///
/// - Shape: input `[N, inChannels, L]` → output `[N, outChannels, Lout]` (see `conv1d`).
/// - Parameters: `weight` `[outChannels, inChannels / groups, kernelSize]`, `bias` `[outChannels]`.
/// - Initialisation: as `Conv2d`, fanIn = (inChannels / groups)·kernelSize.
///
/// ```swift
/// let conv = Conv1d(2, 8, kernelSize: 5, padding: "same")
/// let y = conv(signal)   // [4, 2, 100] → [4, 8, 100]
/// ```
public final class Conv1d: Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Padding
    public let dilation: Int
    public let groups: Int
    public let weight: Tensor
    public let bias: Tensor?
    public var isTraining = true

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Padding = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true,
                weightInit: Init = .pytorchLinearDefault, biasInit: Init? = nil, generator: Generator = .default) {
        check(inChannels > 0 && outChannels > 0, "Conv1d: channel counts must be positive, got \(inChannels)→\(outChannels)")
        check(groups >= 1 && inChannels % groups == 0 && outChannels % groups == 0,
              "Conv1d: \(inChannels) input and \(outChannels) output channels do not split into \(groups) groups")
        check(kernelSize >= 1, "Conv1d: kernel size \(kernelSize) must be positive")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        (weight, self.bias) = makeConvParameters([outChannels, inChannels / groups, kernelSize],
                                                 fanIn: inChannels / groups * kernelSize, fanOut: outChannels / groups * kernelSize,
                                                 bias: bias ? outChannels : nil, weightInit: weightInit, biasInit: biasInit,
                                                 generator: generator)
    }

    public func forward(_ input: Tensor) -> Tensor {
        check(input.rank == 3 && input.shape[1] == inChannels,
              "Conv1d(\(inChannels)→\(outChannels)): expected input [batch, \(inChannels), length], got \(input.shape)")
        return conv1d(input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    public var localParameters: [(String, Tensor)] {
        bias.map { [("weight", weight), ("bias", $0)] } ?? [("weight", weight)]
    }

    public var description: String {
        var s = "Conv1d(\(inChannels), \(outChannels), kernelSize: \(kernelSize), stride: \(stride)"
        if padding != 0 { s += ", padding: \(padding)" }
        if dilation != 1 { s += ", dilation: \(dilation)" }
        if groups != 1 { s += ", groups: \(groups)" }
        if bias == nil { s += ", bias: false" }
        return s + ")"
    }
}

/// Transposed 2-D convolution layer (PyTorch's `nn.ConvTranspose2d`), the usual learned
/// upsampling of decoders and segmentation heads.
///
/// - Shape: input `[N, inChannels, H, W]` → output `[N, outChannels, Hout, Wout]`,
///   Hout = (H − 1)·stride − 2·padding + dilation·(kH − 1) + outputPadding + 1.
/// - Parameters: `weight` `[inChannels, outChannels / groups, kH, kW]` (PyTorch layout), `bias` `[outChannels]`.
/// - Initialisation: as PyTorch — `kaimingUniform(a: √5)` and bias U(±1/√fanIn) with
///   fanIn = (outChannels / groups)·kH·kW (PyTorch reads it from the weight's second dimension).
///
/// ```swift
/// let up = ConvTranspose2d(64, 32, kernelSize: 2, stride: 2)
/// let y = up(features)   // [8, 64, 7, 7] → [8, 32, 14, 14]
/// ```
public final class ConvTranspose2d: Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Size2d
    public let stride: Size2d
    public let padding: Size2d
    public let outputPadding: Size2d
    public let groups: Int
    public let dilation: Size2d
    public let weight: Tensor
    public let bias: Tensor?
    public var isTraining = true

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Size2d, stride: Size2d = 1, padding: Size2d = 0,
                outputPadding: Size2d = 0, groups: Int = 1, bias: Bool = true, dilation: Size2d = 1,
                weightInit: Init = .pytorchLinearDefault, biasInit: Init? = nil, generator: Generator = .default) {
        check(inChannels > 0 && outChannels > 0, "ConvTranspose2d: channel counts must be positive, got \(inChannels)→\(outChannels)")
        check(groups >= 1 && inChannels % groups == 0 && outChannels % groups == 0,
              "ConvTranspose2d: \(inChannels) input and \(outChannels) output channels do not split into \(groups) groups")
        check(kernelSize.height >= 1 && kernelSize.width >= 1, "ConvTranspose2d: kernel size \(kernelSize) must be positive")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        self.groups = groups
        self.dilation = dilation
        let taps = kernelSize.height * kernelSize.width
        (weight, self.bias) = makeConvParameters([inChannels, outChannels / groups, kernelSize.height, kernelSize.width],
                                                 fanIn: outChannels / groups * taps, fanOut: inChannels * taps,
                                                 bias: bias ? outChannels : nil, weightInit: weightInit, biasInit: biasInit,
                                                 generator: generator)
    }

    public func forward(_ input: Tensor) -> Tensor {
        check(input.rank == 4 && input.shape[1] == inChannels,
              "ConvTranspose2d(\(inChannels)→\(outChannels)): expected input [batch, \(inChannels), height, width], got \(input.shape)")
        return convTranspose2d(input, weight: weight, bias: bias, stride: stride, padding: padding,
                               outputPadding: outputPadding, groups: groups, dilation: dilation)
    }

    public var localParameters: [(String, Tensor)] {
        bias.map { [("weight", weight), ("bias", $0)] } ?? [("weight", weight)]
    }

    public var description: String {
        var s = "ConvTranspose2d(\(inChannels), \(outChannels), kernelSize: \(kernelSize), stride: \(stride)"
        if padding != 0 { s += ", padding: \(padding)" }
        if outputPadding != 0 { s += ", outputPadding: \(outputPadding)" }
        if dilation != 1 { s += ", dilation: \(dilation)" }
        if groups != 1 { s += ", groups: \(groups)" }
        if bias == nil { s += ", bias: false" }
        return s + ")"
    }
}
