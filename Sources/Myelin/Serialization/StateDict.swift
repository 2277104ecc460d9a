import Foundation

/// Named tensors in a fixed order — a model's or optimizer's state, as PyTorch's
/// `state_dict()`. Saved to and loaded from `.mst` files (see `StateDictFile`).
public struct StateDict {
    /// Entries in order.
    public var entries: [(String, Tensor)]

    public init(_ entries: [(String, Tensor)]) { self.entries = entries }

    /// Names in order.
    public var names: [String] { entries.map { $0.0 } }

    /// The tensor named `name`, if any.
    public subscript(name: String) -> Tensor? { entries.first { $0.0 == name }?.1 }

    /// Writes the state to `path` atomically (see `StateDictFile.write`).
    public func save(to path: String) throws { try StateDictFile.write(self, to: path) }

    /// Reads a state saved with `save(to:)`.
    public static func load(from path: String) throws -> StateDict { try StateDictFile.read(from: path) }
}
