import Foundation

/// Weight initialisation schemes. `fanIn`/`fanOut` are the number of inputs and outputs of
/// each unit (for a Linear weight `[out, in]`: fanIn = in, fanOut = out).
///
/// | scheme | distribution |
/// |---|---|
/// | `xavierUniform(gain)` | U(±gain·√(6/(fanIn+fanOut))) — Glorot & Bengio 2010 |
/// | `xavierNormal(gain)` | N(0, gain·√(2/(fanIn+fanOut))) |
/// | `kaimingUniform(a)` | U(±√(6/((1+a²)·fanIn))) — He et al. 2015; a = negative slope of the following leaky ReLU |
/// | `kaimingNormal(a)` | N(0, √(2/((1+a²)·fanIn))) |
/// | `uniform(low, high)`, `normal(mean, std)`, `constant(v)`, `zeros` | as named |
///
/// `kaimingUniform(a: √5)` is PyTorch's default for `nn.Linear` weights (U(±1/√fanIn)).
public enum Init: Equatable, CustomStringConvertible {
    case xavierUniform(gain: Float = 1)
    case xavierNormal(gain: Float = 1)
    case kaimingUniform(a: Float = 0)
    case kaimingNormal(a: Float = 0)
    case uniform(low: Float, high: Float)
    case normal(mean: Float, std: Float)
    case constant(Float)
    case zeros

    /// PyTorch's default for Linear weights: U(±1/√fanIn).
    public static let pytorchLinearDefault = Init.kaimingUniform(a: Float(5).squareRoot())

    /// A new tensor of `shape` drawn from this scheme.
    public func make(_ shape: [Int], fanIn: Int, fanOut: Int, generator: Generator = .default) -> Tensor {
        let fi = Float(Swift.max(fanIn, 1)), fo = Float(Swift.max(fanOut, 1))
        switch self {
        case .xavierUniform(let gain):
            let bound = gain * (6 / (fi + fo)).squareRoot()
            return .uniform(shape, low: -bound, high: bound, generator: generator)
        case .xavierNormal(let gain):
            return .randn(shape, std: gain * (2 / (fi + fo)).squareRoot(), generator: generator)
        case .kaimingUniform(let a):
            let bound = (6 / ((1 + a * a) * fi)).squareRoot()
            return .uniform(shape, low: -bound, high: bound, generator: generator)
        case .kaimingNormal(let a):
            return .randn(shape, std: (2 / ((1 + a * a) * fi)).squareRoot(), generator: generator)
        case .uniform(let low, let high):
            return .uniform(shape, low: low, high: high, generator: generator)
        case .normal(let mean, let std):
            return .randn(shape, mean: mean, std: std, generator: generator)
        case .constant(let v):
            return .full(shape, v)
        case .zeros:
            return .zeros(shape)
        }
    }

    public var description: String {
        switch self {
        case .xavierUniform(let g): return "xavierUniform(gain: \(g))"
        case .xavierNormal(let g): return "xavierNormal(gain: \(g))"
        case .kaimingUniform(let a): return "kaimingUniform(a: \(a))"
        case .kaimingNormal(let a): return "kaimingNormal(a: \(a))"
        case .uniform(let l, let h): return "uniform(\(l), \(h))"
        case .normal(let m, let s): return "normal(\(m), \(s))"
        case .constant(let v): return "constant(\(v))"
        case .zeros: return "zeros"
        }
    }
}
