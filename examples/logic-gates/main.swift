// Logic gates with perceptrons, and why XOR needs a hidden layer.
//
// A perceptron computes step(w·x + b): 1 if the weighted sum is ≥ 0, else 0. In Myelin that
// is a `Linear(2, 1)` layer followed by `Step()`. This program
//   1. sets the weights by hand to get AND, OR and NAND,
//   2. learns the same gates from their truth tables with the perceptron learning rule,
//   3. shows that the rule cannot learn XOR (no straight line separates its classes),
//   4. builds XOR = AND(NAND(x), OR(x)) from two layers of hand-set perceptrons,
//   5. trains a small multilayer network with backpropagation to learn XOR by itself.
//
// Run: swift run LogicGates

import Foundation
import Myelin

// The four possible inputs, one per row: shape [4, 2]. Truth tables list outputs in this order.
let inputs = Tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
let truth: [String: [Float]] = ["AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "NAND": [1, 1, 1, 0], "XOR": [0, 1, 1, 0]]

/// Prints one row of the truth-table display: a label and one value per input.
func printRow(_ label: String, _ values: [Float], format: String = "%.0f") {
    let cells = values.map { v -> String in
        let s = String(format: format, v)
        return String(repeating: " ", count: max(0, 6 - s.count)) + s   // right-align in 6 columns
    }
    print(label.padding(toLength: 18, withPad: " ", startingAt: 0) + cells.joined())
}

/// A perceptron with fixed weights: Linear(2 → 1) then Step.
func perceptron(_ w: [Float], _ b: Float) -> Sequential {
    let fc = Linear(2, 1, weightInit: .zeros, biasInit: .zeros)
    fc.weight.data = w           // weight has shape [1, 2] (one output, two inputs)
    fc.bias!.data = [b]
    return Sequential(fc, Step())
}

// MARK: 1. Hand-set weights

print("== 1. Perceptrons with hand-set weights ==")
print("inputs (x1 x2):     (0,0) (0,1) (1,0) (1,1)")
let andGate = perceptron([0.5, 0.5], -0.7)
let orGate = perceptron([0.6, 0.6], -0.5)
let nandGate = perceptron([-0.5, -0.5], 0.7)
for (name, gate) in [("AND", andGate), ("OR", orGate), ("NAND", nandGate)] {
    printRow("hand-set \(name):", gate(inputs).data)
}

// MARK: 2. The perceptron learning rule

/// Trains a perceptron on `targets` with w += lr·(y−ŷ)·x, b += lr·(y−ŷ), one sample at a
/// time, starting from zero weights. Stops after the first epoch with every output right.
/// Returns the layer, the best accuracy seen after any epoch, and the epochs used.
/// (lr = 0.25 is exact in binary, so sums landing on exactly 0 — where step gives 1 — stay exact.)
func trainPerceptron(_ targets: [Float], maxEpochs: Int, lr: Float = 0.25) -> (Linear, Float, Int) {
    let fc = Linear(2, 1, weightInit: .zeros, biasInit: .zeros)
    var best: Float = 0
    for epoch in 1...maxEpochs {
        for i in 0..<4 {
            let x = inputs.rows(i..<(i + 1))                 // one sample, shape [1, 2]
            let yHat = noGrad { fc(x).step() }.item          // the perceptron's answer: 0 or 1
            let error = targets[i] - yHat                    // y − ŷ is −1, 0 or +1
            // No gradients here: the rule edits the parameters' values directly.
            fc.weight.data[0] += lr * error * x.data[0]
            fc.weight.data[1] += lr * error * x.data[1]
            fc.bias!.data[0] += lr * error
        }
        let outputs = noGrad { fc(inputs).step() }.data
        let accuracy = Float(zip(outputs, targets).filter { $0 == $1 }.count) / 4
        best = max(best, accuracy)
        if accuracy == 1 { return (fc, best, epoch) }
    }
    return (fc, best, maxEpochs)
}

print("\n== 2. Learning gates with the perceptron rule (lr 0.25, from w = 0, b = 0) ==")
print("inputs (x1 x2):     (0,0) (0,1) (1,0) (1,1)")
for name in ["AND", "OR", "NAND"] {
    let (fc, _, epochs) = trainPerceptron(truth[name]!, maxEpochs: 100)
    printRow("learned \(name):", noGrad { fc(inputs).step() }.data)
    print(String(format: "    after %d epochs: w = (%.2f, %.2f), b = %.2f",
                 epochs, fc.weight.data[0], fc.weight.data[1], fc.bias!.data[0]))
}

// MARK: 3. XOR defeats a single perceptron

print("\n== 3. The perceptron rule on XOR ==")
let (_, bestXOR, xorEpochs) = trainPerceptron(truth["XOR"]!, maxEpochs: 1000)
print("XOR perceptron best accuracy: \(String(format: "%.1f", bestXOR * 100))% (in \(xorEpochs) epochs)")
print("No line separates {(0,1), (1,0)} from {(0,0), (1,1)}, so at most 3 of 4 can be right.")

// MARK: 4. XOR from two layers of hand-set perceptrons

// Hidden layer: two perceptrons side by side (row 0 is NAND, row 1 is OR) in one Linear(2, 2).
// Output layer: AND of the two hidden outputs.
print("\n== 4. XOR = AND(NAND(x), OR(x)) ==")
let hidden = Linear(2, 2, weightInit: .zeros, biasInit: .zeros)
hidden.weight.data = [-0.5, -0.5,   // NAND
                      0.6, 0.6]     // OR
hidden.bias!.data = [0.7, -0.5]
let xorNet = Sequential(hidden, Step(), perceptron([0.5, 0.5], -0.7))
print("inputs (x1 x2):     (0,0) (0,1) (1,0) (1,1)")
printRow("composed XOR:", xorNet(inputs).data)

// MARK: 5. A multilayer network trained by backpropagation

// Step has no useful gradient, so a trainable network uses smooth activations instead.
print("\n== 5. A 2-4-1 network learns XOR by backpropagation ==")
let generator = Generator(seed: 7)
let mlp = Sequential(Linear(2, 4, generator: generator), Tanh(), Linear(4, 1, generator: generator), Sigmoid())
let targets = Tensor(shape: [4, 1], data: truth["XOR"]!)
let optimizer = Adam(mlp.parameters(), lr: 0.05)
for epoch in 1...500 {
    optimizer.zeroGrad()
    let loss = binaryCrossEntropy(mlp(inputs), targets)   // forward pass and loss
    loss.backward()                                       // gradients of every parameter
    optimizer.step()                                      // update
    if epoch % 100 == 0 { print(String(format: "epoch %3d  loss %.4f", epoch, loss.item)) }
}
let probabilities = noGrad { mlp(inputs) }
print("inputs (x1 x2):     (0,0) (0,1) (1,0) (1,1)")
printRow("MLP P(1):", probabilities.data, format: "%.3f")
printRow("MLP XOR:", probabilities.data.map { $0 >= 0.5 ? 1 : 0 })
