import Foundation

// Sequence models (issue 12): recurrent layers here; Embedding, LayerNorm/GELU, attention and
// Transformer layers, sampling and the text dataset in their own files.
//
// ## Ops added for sequence models
//
// Recorded like the ops in Autograd/Autograd.swift (inputs in this order, attributes hold
// everything else that determines the output):
//
// | Op | File | Inputs | Attributes |
// |---|---|---|---|
// | `lstm_cell_state` | Autograd/RecurrentCells.swift | gates `[B, 4H]` (i, f, g, o), c `[B, H]` | — |
// | `lstm_cell_output` | Autograd/RecurrentCells.swift | gates `[B, 4H]`, c' `[B, H]` | — |
// | `gru_cell` | Autograd/RecurrentCells.swift | x `[B, 3H]` (r, z, n), hg `[B, 3H]`, h `[B, H]` | — |
// | `recurrent_sequence` | Autograd/RecurrentLayer.swift | projected `[T, B, G·H]`, W_hh, [b_hh], h0 `[B, H]`, [c0] | `cell` int, `reverse` int, `bias` int (training only; output `[T(+1), B, H]`) |
// | `masked_softmax` | Autograd/MaskedSoftmax.swift | scores `[…, L, S]`, masks… | `scale` float (attention weights, training only) |
// | `matmul_transposed` | Autograd/MatmulTransposed.swift | a `[…, m, k]`, b `[…, n, k]` | — (a · bᵀ, training only) |
// | `dropout` | Autograd/FusedDropout.swift | x | `p` float (training only; a tracer sees `mul` by the mask) |
// | `sequence_batch_first` | Autograd/RecurrentLayer.swift | x `[S, B, F]` | — (first T rows as `[B, T, F]`, training only) |
// | `attention_heads`, `attention_merge_heads` | NN/Attention.swift | x | — (heads cut from / merged into projections, training only) |
// | `sequence_cross_entropy` | Autograd/RecurrentCells.swift | logits `[…, C]`, targets `[…]` | `ignore_index` int, `reduction` int (0 mean, 1 sum) |
// | `layer_norm` | Autograd/NormalizationOps.swift | x `[…, D…]`, [weight, bias] `[D…]` | `eps` float, `axes` int (how many trailing dims are normalised) |
// | `gelu` | Autograd/NormalizationOps.swift | x | `approximate` int (0 exact erf, 1 tanh) |
//
// Everything else (RNN steps, attention, positional encodings, Transformer layers) is composed
// of the ops in the main table: `linear`, `add`, `tanh`, `relu`, `slice`, `reshape`, `concat`,
// `permute`, `matmul`, `softmax`, `masked_fill`, `mul`, `embedding`.

/// The cell a recurrent layer runs at every step.
enum RecurrentCell {
    case tanh, relu, lstm, gru

    /// Gate blocks per hidden unit (PyTorch stacks them in the weight rows).
    var gates: Int {
        switch self {
        case .tanh, .relu: return 1
        case .lstm: return 4
        case .gru: return 3
        }
    }
}

/// The stacked, optionally bidirectional recurrence shared by `RNN`, `LSTM` and `GRU`.
/// Parameters are kept in PyTorch's order and names: for each layer l and direction
/// (suffix `_reverse`): `weight_ih_l{l}` `[G·H, in]`, `weight_hh_l{l}` `[G·H, H]`,
/// `bias_ih_l{l}` `[G·H]`, `bias_hh_l{l}` `[G·H]` (G gate blocks, `in` = input size for
/// layer 0, H·directions above).
final class RecurrentStack {
    let cell: RecurrentCell
    let inputSize: Int, hiddenSize: Int, numLayers: Int
    let bidirectional: Bool, batchFirst: Bool, bias: Bool
    let dropout: Float
    let generator: Generator
    var named: [(String, Tensor)] = []
    /// Whether untraced runs use the fused whole-sequence node (`Tensor.recurrentSequence`);
    /// tests turn it off to compare with the recorded steps.
    var fused = true

    var directions: Int { bidirectional ? 2 : 1 }

    init(cell: RecurrentCell, inputSize: Int, hiddenSize: Int, numLayers: Int, bias: Bool, batchFirst: Bool,
         dropout: Float, bidirectional: Bool, generator: Generator, name: String) {
        check(inputSize > 0 && hiddenSize > 0 && numLayers > 0,
              "\(name): inputSize, hiddenSize and numLayers must be positive, got \(inputSize), \(hiddenSize), \(numLayers)")
        check(dropout >= 0 && dropout < 1, "\(name): dropout must be in [0, 1), got \(dropout)")
        self.cell = cell
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.numLayers = numLayers
        self.bias = bias
        self.batchFirst = batchFirst
        self.dropout = dropout
        self.bidirectional = bidirectional
        self.generator = generator
        // PyTorch's reset_parameters: every weight and bias U(±1/√hidden).
        let bound = 1 / Float(hiddenSize).squareRoot()
        let rows = cell.gates * hiddenSize
        for layer in 0..<numLayers {
            let inSize = layer == 0 ? inputSize : hiddenSize * directions
            for d in 0..<directions {
                let suffix = "_l\(layer)" + (d == 1 ? "_reverse" : "")
                var shapes = [("weight_ih", [rows, inSize]), ("weight_hh", [rows, hiddenSize])]
                if bias { shapes += [("bias_ih", [rows]), ("bias_hh", [rows])] }
                for (base, shape) in shapes {
                    named.append((base + suffix, Tensor.uniform(shape, low: -bound, high: bound, generator: generator, requiresGrad: true)))
                }
            }
        }
    }

    /// The four parameters of layer `layer`, direction `d` (biases nil without bias).
    func weights(_ layer: Int, _ d: Int) -> (ih: Tensor, hh: Tensor, bih: Tensor?, bhh: Tensor?) {
        let per = bias ? 4 : 2, base = (layer * directions + d) * per
        return (named[base].1, named[base + 1].1, bias ? named[base + 2].1 : nil, bias ? named[base + 3].1 : nil)
    }

    /// Runs the whole stack. x `[T, B, in]` (`[B, T, in]` when batchFirst); h0, c0
    /// `[layers·directions, B, H]` (zeros when nil; c only for LSTM).
    /// Returns output `[T, B, directions·H]` (or batch first) and the final h and c stacks.
    func run(_ x: Tensor, h0: Tensor?, c0: Tensor?, training: Bool, name: String) -> (Tensor, Tensor, Tensor?) {
        checkInitialState(h0, c0, input: x, name: name)
        if Tracer.current != nil { return traced(x, h0: h0, c0: c0, name: name) }
        var layers: [Tensor] = []
        return unrolled(x, h0: h0, c0: c0, training: training, name: name, layerOutputs: &layers)
    }

    /// Runs the stack on token ids with the embedding folded into layer 0's input projection:
    /// per direction the table `embedding · W_ihᵀ + b_ih` `[V, G·H]` is one small recorded
    /// `linear`, and the projected input of every step is a row of it — read in place by the
    /// fused node (`recurrentSequence(projected:tokens:…)`), an `embedding` lookup on the
    /// recorded steps. The same values as `linear(embedding(ids), W_ih, b_ih)` without the
    /// per-token GEMM (2·G·H·in FLOPs per token); gradients reach the embedding, W_ih and b_ih
    /// through the table. ids `[B, T]` (`[T, B]` unless batchFirst), embedding `[V, inputSize]`.
    func runFolded(ids: Tensor, embedding table: Tensor, h0: Tensor?, c0: Tensor?, training: Bool, name: String) -> (Tensor, Tensor, Tensor?) {
        check(ids.rank == 2 && ids.shape[0] > 0 && ids.shape[1] > 0 && table.rank == 2 && table.shape[1] == inputSize,
              "\(name): expected ids \(batchFirst ? "[batch, time]" : "[time, batch]") and an embedding [vocabulary, \(inputSize)], got \(ids.shape), \(table.shape)")
        let timeMajor = batchFirst ? ids.transpose(0, 1) : ids
        let tables = (0..<directions).map { d in
            let w = weights(0, d)
            return linear(table, weight: w.ih, bias: w.bih)   // [V, G·H]
        }
        var layers: [Tensor] = []
        return unrolled(timeMajor, h0: h0, c0: c0, training: training, name: name, layerOutputs: &layers, firstTables: tables)
    }

    /// Stops unless h0 and c0 are `[layers·directions, B, H]`. The message names the layout,
    /// which is batch second also for a batch-first layer (as PyTorch's), and says to transpose
    /// a state given batch first (a model input always is: its first dimension is the batch).
    func checkInitialState(_ h0: Tensor?, _ c0: Tensor?, input x: Tensor, name: String) {
        guard x.rank == 3 else { return }   // `unrolled` reports the input's shape
        let expected = [numLayers * directions, x.shape[batchFirst ? 0 : 1], hiddenSize]
        for (state, what) in [(h0, "hidden"), (c0, "cell")] {
            guard let shape = state?.shape else { continue }
            let batchFirstState = shape == [expected[1], expected[0], expected[2]]
            check(shape == expected, "\(name): initial \(what) state must be \(expected) ([layers·directions, batch, hidden], "
                  + "also when batchFirst), got \(shape)" + (batchFirstState ? "; transpose a batch-first state with .transpose(0, 1)" : ""))
        }
    }

    /// Under a tracer (export), the stack is recorded as one `recurrent` node per layer, so that
    /// export lowers it to one runtime op per layer (rnn, lstm, gru) that can keep its state
    /// between calls. Inputs: the layer's input (`[B, T, in]`, or `[T, B, in]` time-major), its
    /// parameters (W_ih, W_hh[, b_ih, b_hh] per direction) and, when the stack has an initial
    /// state, the layer's h (and c) `[D, B, H]`, a recorded slice of h0 (c0); attributes `cell`
    /// (0 tanh, 1 relu, 2 lstm, 3 gru), `directions`, `bias`. Each layer's final h (c) is a
    /// `recurrent_state` node of its output (`state` 0 h, 1 c; `[D, B, H]`, batch axis 1), the
    /// op's h_n (c_n) output once lowered; the layers' are joined by a recorded `concat` into the
    /// stack's `[layers·D, B, H]`. Export drops the state nodes no output reads.
    func traced(_ x: Tensor, h0: Tensor?, c0: Tensor?, name: String) -> (Tensor, Tensor, Tensor?) {
        check(cell != .lstm || (h0 == nil) == (c0 == nil), "\(name): export needs both h0 and c0, or neither")
        let tracer = Tracer.current!
        Tracer.current = nil
        var layers: [Tensor] = []
        let (_, h, c) = unrolled(x, h0: h0, c0: c0, training: false, name: name, layerOutputs: &layers, keepLayerOutputs: true)
        let recordedLayers = batchFirst ? layers.map { $0.transpose(0, 1) } : layers   // time-major: [T, B, …] as traced
        let d = directions
        func perLayer(_ state: Tensor) -> [Tensor] { (0..<numLayers).map { state.narrow(axis: 0, start: $0 * d, length: d) } }
        let finalH = perLayer(h), finalC = c.map(perLayer)
        Tracer.current = tracer
        let code: Int = [.tanh: 0, .relu: 1, .lstm: 2, .gru: 3][cell]!
        var input = x
        for (layer, output) in recordedLayers.enumerated() {
            var operands = [input]
            for direction in 0..<d {
                let w = weights(layer, direction)
                operands += [w.ih, w.hh] + (bias ? [w.bih!, w.bhh!] : [])
            }
            for state in [h0, c0].compactMap({ $0 }) {
                operands.append(numLayers == 1 ? state : state.narrow(axis: 0, start: layer * d, length: d))
            }
            tracer.record("recurrent", inputs: operands, output: output,
                          attributes: ["cell": .int(code), "directions": .int(d), "bias": .int(bias ? 1 : 0)])
            tracer.record("recurrent_state", inputs: [output], output: finalH[layer], attributes: ["state": .int(0)], batchAxis: 1)
            if let finalC {
                tracer.record("recurrent_state", inputs: [output], output: finalC[layer], attributes: ["state": .int(1)], batchAxis: 1)
            }
            input = output
        }
        func stacked(_ states: [Tensor]) -> Tensor { states.count == 1 ? states[0] : Tensor.concat(states, axis: 0) }
        return (input, stacked(finalH), finalC.map(stacked))
    }

    /// The top layer's final state from the stack's `output` and final `hN` (`lastLayer`);
    /// under a tracer recorded as `recurrent_last_step` of the batch-first output, attribute
    /// `reverse` (the trailing columns that come from the first step: the reverse direction).
    func lastStep(output: Tensor, hN: Tensor) -> Tensor {
        guard let tracer = Tracer.current else { return lastLayer(hN) }
        Tracer.current = nil
        let result = lastLayer(hN)
        Tracer.current = tracer
        tracer.record("recurrent_last_step", inputs: [output], output: result,
                      attributes: ["reverse": .int(bidirectional ? hiddenSize : 0)])
        return result
    }

    /// The unrolled stack (every step recorded); `layerOutputs` receives each layer's output `[T, B, D·H]`.
    /// With `firstTables` (`runFolded`: layer 0's projected input per token id and direction,
    /// `[V, G·H]`), x is the time-major ids `[T, B]` and layer 0 reads the tables' rows instead
    /// of running its input GEMM. Without `keepLayerOutputs` the top layer of a fused
    /// batch-first stack goes straight to batch first and skips its time-major output.
    func unrolled(_ x: Tensor, h0: Tensor?, c0: Tensor?, training: Bool, name: String,
                  layerOutputs: inout [Tensor], firstTables: [Tensor]? = nil, keepLayerOutputs: Bool = false) -> (Tensor, Tensor, Tensor?) {
        if firstTables == nil {
            check(x.rank == 3 && x.shape[2] == inputSize && x.shape[0] > 0 && x.shape[1] > 0,
                  "\(name): expected input \(batchFirst ? "[batch, time, \(inputSize)]" : "[time, batch, \(inputSize)]"), got \(x.shape)")
        }
        let seq = batchFirst && firstTables == nil ? x.transpose(0, 1) : x
        let steps = seq.shape[0], batch = seq.shape[1], h = hiddenSize
        let stateShape = [numLayers * directions, batch, h]
        if let h0 { check(h0.shape == stateShape, "\(name): initial hidden state must be \(stateShape), got \(h0.shape)") }
        if let c0 { check(c0.shape == stateShape, "\(name): initial cell state must be \(stateShape), got \(c0.shape)") }
        var layerInput = seq
        var finalH: [Tensor] = [], finalC: [Tensor] = []
        for layer in 0..<numLayers {
            var outputs: [Tensor] = []
            for d in 0..<directions {
                let k = layer * directions + d
                let w = weights(layer, d)
                // One GEMM projects every step's input: [T, B, G·H] (or layer 0 reads a token table).
                let table = layer == 0 ? firstTables?[d] : nil
                let fusedRun = Tracer.current == nil && fused
                var hidden = h0?.select(axis: 0, index: k) ?? Tensor.zeros([batch, h])
                var cellState = cell == .lstm ? (c0?.select(axis: 0, index: k) ?? Tensor.zeros([batch, h])) : nil
                if fusedRun {
                    // Training and plain inference: the whole direction as one fused node
                    // (Autograd/RecurrentLayer.swift); under a tracer the steps below are recorded.
                    let fused = Tensor.recurrentSequence(cell: cell, projected: table ?? linear(layerInput, weight: w.ih, bias: w.bih),
                                                         tokens: table == nil ? nil : seq, weightHH: w.hh, biasHH: w.bhh,
                                                         h0: hidden, c0: cellState, reverse: d == 1)
                    finalH.append(fused.select(axis: 0, index: d == 0 ? steps - 1 : 0))
                    if cell == .lstm { finalC.append(fused.select(axis: 0, index: steps)) }
                    if batchFirst && directions == 1 && layer == numLayers - 1 && !keepLayerOutputs {
                        // The top layer straight to batch first: one copy instead of narrow + transpose.
                        return (fused.batchFirstSteps(steps), Tensor.stack(finalH, axis: 0), finalC.isEmpty ? nil : Tensor.stack(finalC, axis: 0))
                    }
                    outputs.append(cell == .lstm ? fused.narrow(axis: 0, start: 0, length: steps) : fused)
                    continue
                }
                let projected = table.map { embedding(weight: $0, indices: seq) } ?? linear(layerInput, weight: w.ih, bias: w.bih)
                var perStep = [Tensor](repeating: hidden, count: steps)
                for s in 0..<steps {
                    let t = d == 0 ? s : steps - 1 - s
                    let xt = projected.select(axis: 0, index: t)
                    let hg = linear(hidden, weight: w.hh, bias: w.bhh)
                    switch cell {
                    case .tanh: hidden = (xt + hg).tanh()
                    case .relu: hidden = (xt + hg).relu()
                    case .lstm:
                        let gates = xt + hg
                        let c = Tensor.lstmCellState(gates: gates, c: cellState!)
                        cellState = c
                        hidden = Tensor.lstmCellOutput(gates: gates, c: c)
                    case .gru: hidden = Tensor.gruCell(x: xt, hg: hg, h: hidden)
                    }
                    perStep[t] = hidden
                }
                outputs.append(Tensor.stack(perStep, axis: 0))
                finalH.append(hidden)
                if let c = cellState { finalC.append(c) }
            }
            layerInput = directions == 1 ? outputs[0] : Tensor.concat(outputs, axis: 2)
            layerOutputs.append(layerInput)
            if training && dropout > 0 && layer < numLayers - 1 {
                layerInput = layerInput.dropout(p: dropout, generator: generator)
            }
        }
        let output = batchFirst ? layerInput.transpose(0, 1) : layerInput
        return (output, Tensor.stack(finalH, axis: 0), finalC.isEmpty ? nil : Tensor.stack(finalC, axis: 0))
    }

    /// The final hidden state of the top layer, both directions concatenated: `[B, directions·H]`.
    func lastLayer(_ hN: Tensor) -> Tensor {
        let top = (numLayers - 1) * directions
        return directions == 1 ? hN.select(axis: 0, index: top)
            : Tensor.concat([hN.select(axis: 0, index: top), hN.select(axis: 0, index: top + 1)], axis: 1)
    }

    func describe(_ name: String, extra: String = "") -> String {
        var s = "\(name)(\(inputSize), \(hiddenSize)" + extra
        if numLayers > 1 { s += ", numLayers: \(numLayers)" }
        if !bias { s += ", bias: false" }
        if batchFirst { s += ", batchFirst: true" }
        if dropout > 0 { s += ", dropout: \(dropout)" }
        if bidirectional { s += ", bidirectional: true" }
        return s + ")"
    }
}

/// A recurrent module that can summarise a sequence by its final hidden state, for
/// classifiers (`LastStep`).
public protocol SequenceEncoder: Module {
    /// The top layer's final hidden state for input `x` (zero initial state), both directions
    /// concatenated: `[batch, directions · hiddenSize]`.
    func lastStep(_ x: Tensor) -> Tensor
    /// Whether inputs are `[batch, time, features]` (else `[time, batch, features]`).
    var batchFirst: Bool { get }
}

/// Elman RNN, as PyTorch's `nn.RNN`: `h_t = act(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)` with
/// act = tanh (default) or ReLU, stacked `numLayers` deep, optionally bidirectional.
///
/// - Shape: x `[T, B, inputSize]` (`[B, T, inputSize]` when `batchFirst`); state
///   `[numLayers·directions, B, hiddenSize]` (zeros when nil) → output
///   `[T, B, directions·hiddenSize]` (batch first likewise) and the final state, same shape as
///   the initial one. The state is always `[layers·directions, B, H]`, also when `batchFirst`.
/// - Parameters: `weight_ih_l{k}` `[H, in]`, `weight_hh_l{k}` `[H, H]`, `bias_ih_l{k}`,
///   `bias_hh_l{k}` `[H]`, and `…_reverse` for the backward direction (PyTorch's names, so
///   a PyTorch state dict loads as is).
/// - Initialisation: every weight and bias U(±1/√hiddenSize), as PyTorch.
/// - `dropout` applies to the outputs of every layer but the last, in training mode.
///
/// ```swift
/// let rnn = RNN(10, 20, numLayers: 2)
/// let (output, hN) = rnn(Tensor.randn([5, 3, 10]), Tensor.zeros([2, 3, 20]))   // [5, 3, 20], [2, 3, 20]
/// ```
public final class RNN: SequenceEncoder {
    let stack: RecurrentStack
    public var isTraining = true
    /// `tanh` (default) or `relu`.
    public let nonlinearity: String

    public init(_ inputSize: Int, _ hiddenSize: Int, numLayers: Int = 1, nonlinearity: String = "tanh", bias: Bool = true,
                batchFirst: Bool = false, dropout: Float = 0, bidirectional: Bool = false, generator: Generator = .default) {
        check(nonlinearity == "tanh" || nonlinearity == "relu", "RNN: nonlinearity must be \"tanh\" or \"relu\", got \"\(nonlinearity)\"")
        self.nonlinearity = nonlinearity
        stack = RecurrentStack(cell: nonlinearity == "tanh" ? .tanh : .relu, inputSize: inputSize, hiddenSize: hiddenSize,
                               numLayers: numLayers, bias: bias, batchFirst: batchFirst, dropout: dropout,
                               bidirectional: bidirectional, generator: generator, name: "RNN")
    }

    /// Runs the sequence from `state` (zeros when nil); returns every step's top-layer output
    /// and the final hidden state of every layer and direction.
    public func forward(_ x: Tensor, _ state: Tensor? = nil) -> (output: Tensor, state: Tensor) {
        let (y, h, _) = stack.run(x, h0: state, c0: nil, training: isTraining, name: "RNN")
        return (y, h)
    }

    public func callAsFunction(_ x: Tensor, _ state: Tensor? = nil) -> (output: Tensor, state: Tensor) {
        Tracer.enter(self)
        defer { Tracer.leave() }
        return forward(x, state)
    }

    public func lastStep(_ x: Tensor) -> Tensor {
        let r = self(x)
        return stack.lastStep(output: r.output, hN: r.state)
    }

    public var localParameters: [(String, Tensor)] { stack.named }
    public var localBuffers: [(String, Tensor)] { [] }
    public var children: [(String, any Module)] { [] }
    public var inputSize: Int { stack.inputSize }
    public var hiddenSize: Int { stack.hiddenSize }
    public var numLayers: Int { stack.numLayers }
    public var bidirectional: Bool { stack.bidirectional }
    public var batchFirst: Bool { stack.batchFirst }
    public var description: String {
        stack.describe("RNN", extra: nonlinearity == "relu" ? ", nonlinearity: relu" : "")
    }
}

/// Long short-term memory, as PyTorch's `nn.LSTM`. With gates in PyTorch's row order
/// (i, f, g, o) of `W_ih x_t + b_ih + W_hh h_{t−1} + b_hh`:
/// `c_t = σ(f) ⊙ c_{t−1} + σ(i) ⊙ tanh(g)`, `h_t = σ(o) ⊙ tanh(c_t)`.
///
/// - Shape: x `[T, B, inputSize]` (`[B, T, inputSize]` when `batchFirst`); state `(h, c)`,
///   each `[numLayers·directions, B, hiddenSize]` (zeros when nil) → output
///   `[T, B, directions·hiddenSize]` and the final `(h, c)`.
/// - Parameters: `weight_ih_l{k}` `[4H, in]`, `weight_hh_l{k}` `[4H, H]`, `bias_ih_l{k}`,
///   `bias_hh_l{k}` `[4H]`, `…_reverse` (PyTorch's names and layout).
/// - Initialisation: U(±1/√hiddenSize) everywhere, as PyTorch.
///
/// Truncated backpropagation through time: run a long stream in chunks and carry the state
/// across them detached, so each backward pass stops at the chunk boundary:
///
/// ```swift
/// let lstm = LSTM(32, 64, batchFirst: true)
/// var state: LSTM.State? = nil
/// for chunk in chunks {                                 // each [B, 35, 32]
///     let (output, next) = lstm(chunk, state)           // output [B, 35, 64]
///     let loss = sequenceCrossEntropy(head(output), targets(chunk))
///     optimizer.zeroGrad(); loss.backward(); optimizer.step()
///     state = (h: next.h.detach(), c: next.c.detach())  // keep the values, drop the history
/// }
/// ```
///
/// Export: a model that takes the initial state or returns the final one exports with them as
/// named inputs and outputs, batch first at the model's boundary like every model input (the C
/// runtime reads h0, c0 at a stream's first step and keeps the state in its context):
///
/// ```swift
/// let bundle = try BundleExporter.export(lstm, inputs: [("x", [35, 32]), ("h0", [1, 64]), ("c0", [1, 64])],
///                                        outputNames: ["y", "h_n", "c_n"]) { t in
///     let (y, s) = lstm(t[0], (t[1].transpose(0, 1), t[2].transpose(0, 1)))   // states [B, 1, 64] → [1, B, 64]
///     return [y, s.h.transpose(0, 1), s.c.transpose(0, 1)]
/// }
/// ```
public final class LSTM: SequenceEncoder {
    /// Hidden and cell states, each `[numLayers·directions, B, hiddenSize]`.
    public typealias State = (h: Tensor, c: Tensor)
    let stack: RecurrentStack
    public var isTraining = true

    public init(_ inputSize: Int, _ hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Float = 0, bidirectional: Bool = false, generator: Generator = .default) {
        stack = RecurrentStack(cell: .lstm, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
                               batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, generator: generator, name: "LSTM")
    }

    /// Runs the sequence from `state` (zeros when nil); returns every step's top-layer output
    /// and the final `(h, c)` of every layer and direction.
    public func forward(_ x: Tensor, _ state: State? = nil) -> (output: Tensor, state: State) {
        let (y, h, c) = stack.run(x, h0: state?.h, c0: state?.c, training: isTraining, name: "LSTM")
        return (y, (h, c!))
    }

    public func callAsFunction(_ x: Tensor, _ state: State? = nil) -> (output: Tensor, state: State) {
        Tracer.enter(self)
        defer { Tracer.leave() }
        return forward(x, state)
    }

    /// `forward(embedding(weight: table, indices: ids), state)` with the embedding folded into
    /// layer 0's input projection (see `RecurrentStack.runFolded`): ids `[B, T]` (`[T, B]` unless
    /// batchFirst), table `[V, inputSize]`. Not for tracing: export records the unfolded layers.
    func forward(tokens ids: Tensor, embedding table: Tensor, _ state: State? = nil) -> (output: Tensor, state: State) {
        let (y, h, c) = stack.runFolded(ids: ids, embedding: table, h0: state?.h, c0: state?.c, training: isTraining, name: "LSTM")
        return (y, (h, c!))
    }

    public func lastStep(_ x: Tensor) -> Tensor {
        let r = self(x)
        return stack.lastStep(output: r.output, hN: r.state.h)
    }

    public var localParameters: [(String, Tensor)] { stack.named }
    public var localBuffers: [(String, Tensor)] { [] }
    public var children: [(String, any Module)] { [] }
    public var inputSize: Int { stack.inputSize }
    public var hiddenSize: Int { stack.hiddenSize }
    public var numLayers: Int { stack.numLayers }
    public var bidirectional: Bool { stack.bidirectional }
    public var batchFirst: Bool { stack.batchFirst }
    public var description: String { stack.describe("LSTM") }
}

/// Gated recurrent unit, as PyTorch's `nn.GRU`. With gates in PyTorch's row order (r, z, n):
/// `r = σ(W_ir x + b_ir + W_hr h + b_hr)`, `z = σ(W_iz x + b_iz + W_hz h + b_hz)`,
/// `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`, `h' = (1 − z) ⊙ n + z ⊙ h`.
///
/// - Shape: x `[T, B, inputSize]` (`[B, T, inputSize]` when `batchFirst`); state
///   `[numLayers·directions, B, hiddenSize]` (zeros when nil) → output
///   `[T, B, directions·hiddenSize]` and the final state.
/// - Parameters: `weight_ih_l{k}` `[3H, in]`, `weight_hh_l{k}` `[3H, H]`, `bias_ih_l{k}`,
///   `bias_hh_l{k}` `[3H]`, `…_reverse` (PyTorch's names and layout).
/// - Initialisation: U(±1/√hiddenSize) everywhere, as PyTorch.
///
/// ```swift
/// let gru = GRU(28, 128, batchFirst: true)
/// let (output, hN) = gru(images.reshape([-1, 28, 28]))   // [B, 28, 128], [1, B, 128]
/// ```
public final class GRU: SequenceEncoder {
    let stack: RecurrentStack
    public var isTraining = true

    public init(_ inputSize: Int, _ hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Float = 0, bidirectional: Bool = false, generator: Generator = .default) {
        stack = RecurrentStack(cell: .gru, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
                               batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, generator: generator, name: "GRU")
    }

    /// Runs the sequence from `state` (zeros when nil); returns every step's top-layer output
    /// and the final hidden state of every layer and direction.
    public func forward(_ x: Tensor, _ state: Tensor? = nil) -> (output: Tensor, state: Tensor) {
        let (y, h, _) = stack.run(x, h0: state, c0: nil, training: isTraining, name: "GRU")
        return (y, h)
    }

    public func callAsFunction(_ x: Tensor, _ state: Tensor? = nil) -> (output: Tensor, state: Tensor) {
        Tracer.enter(self)
        defer { Tracer.leave() }
        return forward(x, state)
    }

    public func lastStep(_ x: Tensor) -> Tensor {
        let r = self(x)
        return stack.lastStep(output: r.output, hN: r.state)
    }

    public var localParameters: [(String, Tensor)] { stack.named }
    public var localBuffers: [(String, Tensor)] { [] }
    public var children: [(String, any Module)] { [] }
    public var inputSize: Int { stack.inputSize }
    public var hiddenSize: Int { stack.hiddenSize }
    public var numLayers: Int { stack.numLayers }
    public var bidirectional: Bool { stack.bidirectional }
    public var batchFirst: Bool { stack.batchFirst }
    public var description: String { stack.describe("GRU") }
}

/// A recurrent encoder as a `Layer` for classifiers: reshapes each example to
/// `[batch] + sequenceShape` (e.g. a flat 784-pixel image to 28 rows of 28) and returns the
/// top layer's final hidden state `[batch, directions·hiddenSize]`, to feed a `Linear` head.
/// The encoder must be batch-first. Its parameters keep their names under `encoder.`.
///
/// ```swift
/// let model = Sequential(LastStep(GRU(28, 128, batchFirst: true), sequenceShape: [28, 28]), Linear(128, 10))
/// model(images)   // [B, 784] → [B, 10]
/// ```
public final class LastStep: Layer {
    public let encoder: any SequenceEncoder
    /// Each example's `[time, features]`, or nil when inputs already are `[B, T, features]`.
    public let sequenceShape: [Int]?
    public var isTraining = true

    public init(_ encoder: any SequenceEncoder, sequenceShape: [Int]? = nil) {
        self.encoder = encoder
        self.sequenceShape = sequenceShape
    }

    public func forward(_ input: Tensor) -> Tensor {
        check(encoder.batchFirst, "LastStep: the encoder must be batch-first (batchFirst: true), got \(encoder)")
        return encoder.lastStep(sequenceShape.map { input.reshape([input.shape[0]] + $0) } ?? input)
    }

    public var children: [(String, any Module)] { [("encoder", encoder)] }
    public var description: String { "LastStep(\(encoder)\(sequenceShape.map { ", sequenceShape: \($0)" } ?? ""))" }
}
