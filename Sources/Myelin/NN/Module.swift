/// A building block of a network, as in PyTorch's `nn.Module`: it maps an input tensor to
/// an output tensor, owns named parameters (trained) and buffers (state that is saved but
/// not trained, e.g. BatchNorm's running statistics), may contain child modules, and has a
/// train/eval mode.
///
/// Conforming types implement `forward(_:)`, and list their own `localParameters`,
/// `localBuffers` and `children`; the protocol extension provides `parameters()`,
/// `stateDict()`, `loadStateDict(_:)`, `train()`/`eval()` and call syntax.
///
/// ```swift
/// let model = Sequential(Linear(784, 256), ReLU(), Linear(256, 10))
/// let logits = model(x)              // x: [batch, 784] → [batch, 10]
/// print(model)                       // one line per layer
/// ```
public protocol Module: AnyObject, CustomStringConvertible {
    /// Applies the module to a batch.
    func forward(_ input: Tensor) -> Tensor
    /// Trainable tensors owned directly by this module, with their local names.
    var localParameters: [(String, Tensor)] { get }
    /// Non-trainable state owned directly by this module (saved in the state dict).
    var localBuffers: [(String, Tensor)] { get }
    /// Sub-modules with their names.
    var children: [(String, any Module)] { get }
    /// `true` in training mode (Dropout drops, BatchNorm uses batch statistics).
    var isTraining: Bool { get set }
}

extension Module {
    public var localParameters: [(String, Tensor)] { [] }
    public var localBuffers: [(String, Tensor)] { [] }
    public var children: [(String, any Module)] { [] }

    /// Same as `forward(_:)`.
    public func callAsFunction(_ input: Tensor) -> Tensor { forward(input) }

    /// All trainable tensors, depth first, in a stable order.
    public func parameters() -> [Tensor] { namedParameters().map { $0.1 } }

    /// All trainable tensors with dotted names (`"0.weight"`, `"2.bias"`, …).
    public func namedParameters() -> [(String, Tensor)] {
        var result = localParameters
        for (name, child) in children {
            result += child.namedParameters().map { ("\(name).\($0.0)", $0.1) }
        }
        return result
    }

    /// All buffers with dotted names.
    public func namedBuffers() -> [(String, Tensor)] {
        var result = localBuffers
        for (name, child) in children {
            result += child.namedBuffers().map { ("\(name).\($0.0)", $0.1) }
        }
        return result
    }

    /// Number of trainable scalars.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    /// Parameters and buffers by dotted name; the tensors are the module's own (not copies).
    public func stateDict() -> StateDict {
        var entries: [(String, Tensor)] = []
        func visit(_ m: any Module, prefix: String) {
            for (n, t) in m.localParameters { entries.append((prefix + n, t)) }
            for (n, t) in m.localBuffers { entries.append((prefix + n, t)) }
            for (n, c) in m.children { visit(c, prefix: prefix + n + ".") }
        }
        visit(self, prefix: "")
        return StateDict(entries)
    }

    /// Copies values from `state` into this module's tensors (which keep their identity, so
    /// optimizers holding them stay valid). Every key must be present with the right shape,
    /// and no extra key may be given.
    public func loadStateDict(_ state: StateDict) throws {
        let own = stateDict()
        let ownNames = Set(own.names)
        if let extra = state.names.first(where: { !ownNames.contains($0) }) {
            throw MyelinError.stateDict("unexpected key \"\(extra)\" (model has: \(own.names.joined(separator: ", ")))")
        }
        for (name, tensor) in own.entries {
            guard let source = state[name] else { throw MyelinError.stateDict("missing key \"\(name)\"") }
            guard source.shape == tensor.shape else {
                throw MyelinError.stateDict("shape mismatch for \"\(name)\": file has \(source.shape), model has \(tensor.shape)")
            }
            tensor.data = source.data
        }
    }

    /// Switches this module and all children to training (`true`) or evaluation mode.
    public func train(_ on: Bool = true) {
        isTraining = on
        for (_, child) in children { child.train(on) }
    }

    /// Switches to evaluation mode (same as `train(false)`).
    public func eval() { train(false) }

    /// Clears the gradients of all parameters.
    public func zeroGrad() { for p in parameters() { p.zeroGrad() } }
}

/// Errors raised by Myelin's fallible APIs (files, state dicts).
public enum MyelinError: Error, CustomStringConvertible, Equatable {
    /// A state dict does not fit the model.
    case stateDict(String)
    /// A file could not be read, written or parsed; carries the path and the problem.
    case file(path: String, problem: String)

    public var description: String {
        switch self {
        case .stateDict(let m): return "state dict: \(m)"
        case .file(let path, let problem): return "\(path): \(problem)"
        }
    }
}
