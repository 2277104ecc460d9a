/// A building block of a network, as in PyTorch's `nn.Module`: it owns named parameters
/// (trained) and buffers (state that is saved but not trained, e.g. BatchNorm's running
/// statistics), may contain child modules, and has a train/eval mode. It computes with a
/// `forward` method of any signature: `forward(x, h) -> (y, h')` is as good as `forward(x)`.
///
/// Parameters, buffers and children are found by reflection over the stored properties, so a
/// custom module needs no registration code:
/// - a `Tensor` (or `Tensor?`) that requires gradients is a parameter, any other stored
///   `Tensor` is a buffer (saved in the state dict, like PyTorch's `register_buffer`);
/// - a stored module, optional module, or array of modules is a child (array elements are
///   named `name.0`, `name.1`, …).
/// Properties are named after the Swift property. A module may still list them itself by
/// implementing `localParameters`, `localBuffers` and `children` (Sequential names its layers
/// "0", "1", … that way).
///
/// A module that maps one tensor to one tensor is a `Layer`: it can go into `Sequential`
/// and be trained with `fit`.
///
/// ```swift
/// final class Residual: Layer {
///     let fc1 = Linear(64, 64), fc2 = Linear(64, 64)
///     var isTraining = true
///     func forward(_ x: Tensor) -> Tensor { (x + fc2(fc1(x).relu())).relu() }
///     var description: String { "Residual(64)" }
/// }
///
/// final class TwoInputs: Module {                     // several inputs and outputs
///     let image = Linear(784, 32), side = Linear(4, 32), head = Linear(64, 10)
///     var isTraining = true
///     func forward(_ x: Tensor, _ v: Tensor) -> Tensor {
///         head(Tensor.concat([image(x).relu(), side(v).relu()], axis: 1))
///     }
///     var description: String { "TwoInputs" }
/// }
/// ```
public protocol Module: AnyObject, CustomStringConvertible {
    /// Trainable tensors owned directly by this module, with their local names.
    var localParameters: [(String, Tensor)] { get }
    /// Non-trainable state owned directly by this module (saved in the state dict).
    var localBuffers: [(String, Tensor)] { get }
    /// Sub-modules with their names.
    var children: [(String, any Module)] { get }
    /// `true` in training mode (Dropout drops, BatchNorm uses batch statistics).
    var isTraining: Bool { get set }
}

/// A module that maps one tensor to one tensor (`Linear`, `ReLU`, `Sequential`, …).
public protocol Layer: Module {
    /// Applies the layer to a batch.
    func forward(_ input: Tensor) -> Tensor
}

extension Layer {
    /// Same as `forward(_:)`; while tracing for export, records which module ran each op.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        Tracer.enter(self)
        defer { Tracer.leave() }
        return forward(input)
    }
}

/// What reflection finds in a module's stored properties.
struct ModuleContents {
    var parameters: [(String, Tensor)] = []
    var buffers: [(String, Tensor)] = []
    var children: [(String, any Module)] = []

    init(_ module: AnyObject) {
        var mirror: Mirror? = Mirror(reflecting: module)
        while let m = mirror {
            for case (let label?, let value) in m.children where !label.hasPrefix("$") {
                add(label, value)
            }
            mirror = m.superclassMirror
        }
    }

    mutating func add(_ name: String, _ value: Any) {
        switch value {
        case let t as Tensor:
            if t.requiresGrad { parameters.append((name, t)) } else { buffers.append((name, t)) }
        case let m as any Module:
            children.append((name, m))
        case let list as [any Module]:
            for (i, m) in list.enumerated() { children.append(("\(name).\(i)", m)) }
        case let list as [Tensor]:
            for (i, t) in list.enumerated() { add("\(name).\(i)", t) }
        default:
            // Optionals: look inside a non-nil one.
            let inner = Mirror(reflecting: value)
            if inner.displayStyle == .optional, let wrapped = inner.children.first?.value { add(name, wrapped) }
        }
    }
}

extension Module {
    public var localParameters: [(String, Tensor)] { ModuleContents(self).parameters }
    public var localBuffers: [(String, Tensor)] { ModuleContents(self).buffers }
    public var children: [(String, any Module)] { ModuleContents(self).children }

    /// All trainable tensors, depth first, in a stable order.
    public func parameters() -> [Tensor] { namedParameters().map { $0.1 } }

    /// All trainable tensors with dotted names (`"0.weight"`, `"2.bias"`, …). A tensor
    /// reachable by two paths (a shared layer) is listed once, under its first name.
    public func namedParameters() -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        var result: [(String, Tensor)] = []
        func visit(_ m: any Module, prefix: String) {
            for (n, t) in m.localParameters where seen.insert(ObjectIdentifier(t)).inserted { result.append((prefix + n, t)) }
            for (n, c) in m.children { visit(c, prefix: prefix + n + ".") }
        }
        visit(self, prefix: "")
        return result
    }

    /// Every module in the tree with its dotted path ("" for this one), depth first.
    public func namedModules() -> [(String, any Module)] {
        var result: [(String, any Module)] = [("", self)]
        for (n, c) in children {
            result += c.namedModules().map { ($0.0.isEmpty ? n : n + "." + $0.0, $0.1) }
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
        var seen = Set<ObjectIdentifier>()
        func visit(_ m: any Module, prefix: String) {
            for (n, t) in m.localParameters where seen.insert(ObjectIdentifier(t)).inserted { entries.append((prefix + n, t)) }
            for (n, t) in m.localBuffers where seen.insert(ObjectIdentifier(t)).inserted { entries.append((prefix + n, t)) }
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
