import Foundation

/// Base of all optimizers: holds the parameters, the learning rate, the weight-decay
/// coefficient, a step counter and per-parameter state tensors ("slots", e.g. momentum
/// buffers). Subclasses implement one update rule in `update(_:)`; the rules themselves
/// live in Optimizers.swift in order of increasing complexity.
///
/// ```swift
/// let opt = Adam(model.parameters(), lr: 1e-3)
/// opt.zeroGrad(); loss.backward(); opt.step()
/// ```
open class Optimizer {
    /// The tensors being optimised (their identity is fixed at creation).
    public let parameters: [Tensor]
    /// Current learning rate; schedulers change it between epochs.
    public var learningRate: Float
    /// L2 penalty coefficient (coupled: added to the gradient, except AdamW which decays weights directly).
    public var weightDecay: Float
    /// Number of `step()` calls so far.
    public internal(set) var stepCount = 0
    /// Per-parameter state tensors by slot name; each slot has one tensor per parameter.
    var slots: [String: [Tensor]] = [:]
    var slotOrder: [String] = []

    public init(_ parameters: [Tensor], lr: Float, weightDecay: Float = 0) {
        check(lr >= 0, "\(type(of: self)): learning rate must be non-negative, got \(lr)")
        check(weightDecay >= 0, "\(type(of: self)): weight decay must be non-negative, got \(weightDecay)")
        self.parameters = parameters
        self.learningRate = lr
        self.weightDecay = weightDecay
    }

    /// State tensor `name` of parameter `index` (zeros on first use).
    func slot(_ name: String, _ index: Int) -> Tensor {
        if slots[name] == nil {
            slots[name] = parameters.map { Tensor.zeros($0.shape) }
            slotOrder.append(name)
        }
        return slots[name]![index]
    }

    /// One update of a single parameter. `param` and `grad` have `count` elements; the
    /// implementation adds weight decay itself (so each rule shows where it enters).
    open func update(index: Int, param: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>, count: Int) {
        fatalError("\(type(of: self)) must override Optimizer.update")
    }

    /// Applies one update to every parameter that has a gradient.
    public func step() {
        stepCount += 1
        for (i, p) in parameters.enumerated() {
            guard let g = p.gradStorage else { continue }
            g.withUnsafeBufferPointer { gp in
                p.data.withUnsafeMutableBufferPointer { pp in
                    update(index: i, param: pp.baseAddress!, grad: gp.baseAddress!, count: pp.count)
                }
            }
        }
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }

    /// The optimizer's state (step count, learning rate and slots) for checkpoints.
    public func stateDict() -> StateDict {
        var entries: [(String, Tensor)] = [("step", Tensor(Float(stepCount))), ("lr", Tensor(learningRate))]
        for name in slotOrder {
            for (i, t) in slots[name]!.enumerated() { entries.append(("\(name).\(i)", t)) }
        }
        return StateDict(entries)
    }

    /// Restores state saved by `stateDict()` from an optimizer of the same type over
    /// parameters of the same shapes.
    public func loadStateDict(_ state: StateDict) throws {
        guard let step = state["step"], let lr = state["lr"] else {
            throw MyelinError.stateDict("optimizer state lacks \"step\" or \"lr\"")
        }
        stepCount = Int(step.item)
        learningRate = lr.item
        slots = [:]
        slotOrder = []
        for (key, tensor) in state.entries where key != "step" && key != "lr" {
            guard let dot = key.lastIndex(of: "."), let index = Int(key[key.index(after: dot)...]),
                  index >= 0, index < parameters.count else {
                throw MyelinError.stateDict("unexpected optimizer key \"\(key)\"")
            }
            let name = String(key[..<dot])
            let target = slot(name, index)
            guard target.shape == tensor.shape else {
                throw MyelinError.stateDict("optimizer slot \"\(key)\" has shape \(tensor.shape), parameter has \(target.shape)")
            }
            target.data = tensor.data
        }
    }
}
