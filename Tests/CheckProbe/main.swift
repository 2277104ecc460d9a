// Runs one misuse of the public API named on the command line, so that a test can check
// (in a subprocess, since the process stops) that Myelin stops with a message naming the op
// and the shapes, in the build configuration under test. Prints "no error" if it survives.
import Foundation
import Myelin

let cases: [String: () -> Void] = [
    "linear-shape": { _ = Linear(784, 10)(Tensor.zeros([5, 3])) },
    "add-broadcast": { _ = Tensor.zeros([4, 3]) + Tensor.zeros([5, 3]) },
    "cross-entropy-label": { _ = crossEntropy(Tensor.zeros([2, 10]), [3, 42]) },
    "matmul-shape": { _ = Tensor.zeros([2, 3]).matmul(Tensor.zeros([4, 5])) },
    "reshape-count": { _ = Tensor.zeros([2, 3]).reshape([4, 2]) },
]
guard CommandLine.arguments.count == 2, let run = cases[CommandLine.arguments[1]] else {
    print("usage: CheckProbe <\(cases.keys.sorted().joined(separator: "|"))>")
    exit(2)
}
run()
print("no error")
