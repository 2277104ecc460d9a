/// A value of an op attribute recorded by the tracer (and written to bundles).
public enum OpAttribute: Equatable, CustomStringConvertible {
    case int(Int)
    case float(Double)
    case ints([Int])
    case floats([Double])

    public var description: String {
        switch self {
        case .int(let v): return "\(v)"
        case .float(let v): return "\(v)"
        case .ints(let v): return "\(v)"
        case .floats(let v): return "\(v)"
        }
    }
}

/// Named attributes of one recorded op, e.g. `["axis": .int(1)]`.
public typealias OpAttributes = [String: OpAttribute]

/// Records the ops a forward pass computes (export by tracing): every tensor produced by
/// `Tensor.result` while the tracer is active becomes a node with its op name, inputs,
/// attributes and the path of the module that was running.
///
/// ```swift
/// let graph = try Tracer.trace(model, inputs: [x])   // model.forward(x) once, recorded
/// ```
public final class Tracer {
    /// One recorded op application.
    public struct Node {
        public let op: String
        public let inputs: [Tensor]
        public let output: Tensor
        public let attributes: OpAttributes
        /// Dotted path of the innermost module running when the op was recorded ("" at top level).
        public let modulePath: String
        /// The output's batch axis when the recording op knows it (a recurrent state
        /// `[layers·directions, B, H]` has it at 1); nil: inferred from the inputs (`TracedGraph`).
        public let batchAxis: Int?
    }

    nonisolated(unsafe) static var current: Tracer?

    public private(set) var nodes: [Node] = []
    /// Module object → dotted path, computed before tracing.
    var paths: [ObjectIdentifier: String] = [:]
    var moduleStack: [String] = []

    public init() {}

    func record(_ op: String, inputs: [Tensor], output: Tensor, attributes: OpAttributes, batchAxis: Int? = nil) {
        nodes.append(Node(op: op, inputs: inputs, output: output, attributes: attributes, modulePath: moduleStack.last ?? "",
                          batchAxis: batchAxis))
    }

    /// Runs `body` with this tracer recording (tracers do not nest).
    public func recording<T>(_ body: () throws -> T) rethrows -> T {
        check(Tracer.current == nil, "Tracer: already tracing (tracers do not nest)")
        Tracer.current = self
        defer { Tracer.current = nil }
        return try body()
    }

    /// Called by `Module.callAsFunction` so recorded nodes know their module.
    static func enter(_ module: AnyObject) {
        guard let t = current else { return }
        t.moduleStack.append(t.paths[ObjectIdentifier(module)] ?? t.moduleStack.last ?? "")
    }

    static func leave() {
        guard let t = current else { return }
        _ = t.moduleStack.popLast()
    }
}
