#!/usr/bin/env bash
# The main job: installs what is missing, builds in release mode, runs the worked examples,
# trains the Fashion-MNIST MLP with the CLI and evaluates it on the test set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release
BIN=.build/release
OUT=${MYELIN_DEMO_OUT:-run/fashion-mlp}

echo "== 1. Worked examples =="
for example in LogicGates ThreeLayerForward NeuronRegression GaussianBlobs; do
    echo "--- $example"
    "$BIN/$example" | tail -n 6
done

echo
echo "== 2. Fashion-MNIST MLP (mlp preset, 10 epochs) =="
"$BIN/myelin" train --model mlp --dataset fashion-mnist --epochs 10 --out "$OUT"

echo
echo "== 3. Evaluate the checkpoint again =="
"$BIN/myelin" eval "$OUT/checkpoint.ckpt" | tail -n 1
