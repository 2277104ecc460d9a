// Three-layer forward pass with fixed weights.
//
// A tiny 2 → 3 → 2 → 2 network whose every number can be checked by hand:
//
//   A1 = X·W1 + B1,  Z1 = sigmoid(A1)     (hidden layer 1)
//   A2 = Z1·W2 + B2, Z2 = sigmoid(A2)     (hidden layer 2)
//   Y  = Z2·W3 + B3                       (output layer, identity activation)
//
// Part 1 writes it with raw tensor ops. Here a weight matrix is laid out [in, out], so a
// layer is `x.matmul(W) + B` (B broadcasts over the batch rows).
// Part 2 builds the same network from `Linear` layers, which store their weight
// PyTorch-style as [out, in]; we load the transposed matrices with `loadStateDict`.
//
// Run: swift run ThreeLayerForward

import Foundation
import Myelin

/// Formats a tensor's elements with 8 decimals: "[0.30000001, 0.69999999, …]".
func show(_ t: Tensor) -> String {
    "[" + t.data.map { String(format: "%.8f", $0) }.joined(separator: ", ") + "]"
}

// One input sample, as a batch of one row: shape [1, 2].
let X = Tensor([[1.0, 0.5]])

// Layer 1: 2 inputs → 3 units.
let W1 = Tensor([[0.1, 0.3, 0.5],
                 [0.2, 0.4, 0.6]])           // [2, 3]
let B1 = Tensor([0.1, 0.2, 0.3])             // [3]
// Layer 2: 3 inputs → 2 units.
let W2 = Tensor([[0.1, 0.4],
                 [0.2, 0.5],
                 [0.3, 0.6]])                // [3, 2]
let B2 = Tensor([0.1, 0.2])                  // [2]
// Layer 3 (output): 2 inputs → 2 outputs.
let W3 = Tensor([[0.1, 0.3],
                 [0.2, 0.4]])                // [2, 2]
let B3 = Tensor([0.1, 0.2])                  // [2]

// MARK: Part 1 — by hand with tensor ops

print("== Forward pass with tensor ops (W is [in, out]) ==")
let A1 = X.matmul(W1) + B1      // weighted sums of layer 1
let Z1 = A1.sigmoid()           // activations of layer 1
let A2 = Z1.matmul(W2) + B2
let Z2 = A2.sigmoid()
let Y = Z2.matmul(W3) + B3      // identity output: no activation
print("A1: \(show(A1))")
print("Z1: \(show(Z1))")
print("A2: \(show(A2))")
print("Z2: \(show(Z2))")
print("Y:  \(show(Y))")

// MARK: Part 2 — the same network as a Sequential of Linear layers

print("")
print("== Same network with Linear layers ==")
// The layers start with random weights (from a seeded generator); we overwrite them below.
let generator = Generator(seed: 0)
let model = Sequential(
    Linear(2, 3, generator: generator), Sigmoid(),     // layers 0 and 1
    Linear(3, 2, generator: generator), Sigmoid(),     // layers 2 and 3
    Linear(2, 2, generator: generator)                 // layer 4 (identity output)
)
print(model)

// The state dict names parameters "<layer index>.weight" / "<layer index>.bias".
// Linear keeps weight as [out, in], so we pass the transposes of our [in, out] matrices.
let weights = StateDict([
    ("0.weight", W1.transposed()), ("0.bias", B1),
    ("2.weight", W2.transposed()), ("2.bias", B2),
    ("4.weight", W3.transposed()), ("4.bias", B3),
])
do {
    try model.loadStateDict(weights)
} catch {
    print("could not load weights: \(error)")
    exit(1)
}

// Inference only: noGrad skips recording the autograd graph.
let yLinear = noGrad { model(X) }
print("Y (Linear): \(show(yLinear))")

let maxDiff = zip(Y.data, yLinear.data).map { abs($0 - $1) }.max()!
print("max |Y - Y (Linear)|: \(String(format: "%.2e", maxDiff))")
