// Linear regression with a single neuron.
//
// One neuron with two inputs and no activation, ŷ = w1·x1 + w2·x2 + b, is a `Linear(2, 1)`.
// We fit it to four points by gradient descent on the mean squared error — the basic
// training loop every other model uses too:
//
//   zeroGrad → forward → loss → backward → step
//
// Run: swift run NeuronRegression

import Foundation
import Myelin

// Training data: four samples with two features each, and their targets.
let X = Tensor([[1.0, 2.0],
                [2.0, 1.0],
                [1.5, 1.5],
                [0.5, 0.5]])                        // [4, 2]
let y = Tensor(shape: [4, 1], data: [1.0, 1.0, 1.5, 0.5])   // [4, 1], same shape as the output

// The model: starting weights are drawn from a seeded generator, so every run is identical.
let generator = Generator(seed: 42)
let neuron = Linear(2, 1, generator: generator)
let optimizer = SGD(neuron.parameters(), lr: 0.01)

print(String(format: "initial: w = (%.6f, %.6f), b = %.6f",
             neuron.weight.data[0], neuron.weight.data[1], neuron.bias!.data[0]))

/// One step of gradient descent on the whole data set; returns the loss before the update.
func trainStep() -> Float {
    optimizer.zeroGrad()                 // gradients accumulate, so clear last step's
    let prediction = neuron(X)           // forward: [4, 2] → [4, 1]
    let loss = mseLoss(prediction, y)    // mean of (ŷ − y)², a scalar tensor
    loss.backward()                      // d loss / d w and d loss / d b
    optimizer.step()                     // w ← w − lr · grad
    return loss.item
}

/// The neuron's output for a single point.
func predict(_ x1: Float, _ x2: Float) -> Float {
    noGrad { neuron(Tensor([[x1, x2]])) }.item
}

// MARK: 1000 epochs, reporting the loss every 100

for epoch in 1...1000 {
    let loss = trainStep()
    if epoch % 100 == 0 { print(String(format: "epoch %4d  loss %.6f", epoch, loss)) }
}
print(String(format: "after 1000 epochs: w = (%.6f, %.6f), b = %.6f",
             neuron.weight.data[0], neuron.weight.data[1], neuron.bias!.data[0]))
print(String(format: "prediction for [1, 1] after 1000 epochs: %.6f", predict(1, 1)))

// MARK: Training on until convergence

// Every sample has x1 + x2 = 3 except the last (x1 + x2 = 1), so the data vary little along
// some directions of (w1, w2, b) and gradient descent creeps along them. We keep going,
// checking every 1000 epochs, until the parameters stop moving.
var epochs = 1000
var loss: Float = 0
while epochs < 100_000 {
    let before = neuron.parameters().flatMap { $0.data }
    for _ in 0..<1000 { loss = trainStep() }
    epochs += 1000
    let after = neuron.parameters().flatMap { $0.data }
    let moved = zip(before, after).map { abs($0 - $1) }.max()!
    if moved < 1e-6 { break }
}
print("")
print(String(format: "converged after %d epochs, loss %.6f", epochs, loss))
print(String(format: "converged: w = (%.6f, %.6f), b = %.6f",
             neuron.weight.data[0], neuron.weight.data[1], neuron.bias!.data[0]))
print(String(format: "converged prediction for [1, 1]: %.6f", predict(1, 1)))

// The exact least-squares answer, for comparison. Samples 1 and 2 swap x1 and x2 but share
// the target, so w1 = w2 = w and ŷ = w·(x1 + x2) + b. The best fit has to pass through the
// mean target at x1 + x2 = 3 (7/6) and at x1 + x2 = 1 (1/2): 3w + b = 7/6, w + b = 1/2,
// so w = 1/3, b = 1/6, and the prediction for [1, 1] is 2/3 + 1/6 = 5/6. Minimum MSE: 1/24.
print(String(format: "least squares: w = (%.6f, %.6f), b = %.6f, prediction for [1, 1] %.6f, loss %.6f",
             1.0 / 3, 1.0 / 3, 1.0 / 6, 5.0 / 6, 1.0 / 24))
let exact: [Float] = [1.0 / 3, 1.0 / 3, 1.0 / 6]
let learned = neuron.weight.data + neuron.bias!.data
let gap = zip(learned, exact).map { abs($0 - $1) }.max()!
print(String(format: "largest parameter difference from least squares: %.1e", gap))
