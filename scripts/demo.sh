#!/usr/bin/env bash
# The main job: installs what is missing, builds in release mode, runs the worked examples,
# trains the Fashion-MNIST MLP with the CLI, exports it as f32 and int8 bundles, and
# classifies the test set from C with the Embedded-Swift runtime (libmyelin); then trains a
# residual MLP and a two-input model, exports them by tracing and runs them from C.
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
echo "== 2. Train the Fashion-MNIST MLP (mlp preset, 10 epochs) =="
"$BIN/myelin" train --model mlp --dataset fashion-mnist --epochs 10 --out "$OUT" --force   # --force: a rerun replaces the run

echo
echo "== 3. Export f32 and int8 bundles =="
"$BIN/myelin" export "$OUT/checkpoint.ckpt" --precision f32 --out "$OUT/model-f32.myelin"
"$BIN/myelin" export "$OUT/checkpoint.ckpt" --precision int8 --out "$OUT/model-int8.myelin"
"$BIN/myelin" inspect "$OUT/model-int8.myelin"

echo
echo "== 4. Build the C runtime and classify the test set from C =="
cmake -S . -B .build-cmake -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build .build-cmake -j 2 --target classify two_inputs > /dev/null
for precision in f32 int8; do
    echo "--- classify (C) $OUT/model-$precision.myelin"
    .build-cmake/classify "$OUT/model-$precision.myelin"
done
ls -l .build-cmake/libmyelin.so* | head -n 1

echo
echo "== 5. Graphs: a residual MLP and a two-input model, exported by tracing, run from C =="
"$BIN/GraphModels" "$OUT/graphs" 3
for precision in f32 int8; do
    echo "--- classify (C) residual MLP, $precision"
    .build-cmake/classify "$OUT/graphs/residual-$precision.myelin" | grep -E "self-test|test accuracy|latency"
    echo "--- two_inputs (C) image + side vector, $precision"
    .build-cmake/two_inputs "$OUT/graphs/two-inputs-$precision.myelin"
done
