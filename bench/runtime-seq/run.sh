#!/bin/sh
# The sequence benchmark, one thread, Myelin's C runtime and ONNX Runtime's C API side by side
# on the same models (README.md here has the figures):
#   1. twins.py: PyTorch LSTM(256) and a character Transformer → ONNX files and .mst weights
#   2. RuntimeSeqModels: the same weights → Myelin bundles (checked against PyTorch's outputs)
#   3. LSTM one step at batch 1: Myelin keeps h and c in the context (myelin_step); ORT gets
#      them in and out of every call. Transformer: 127 greedy tokens; Myelin steps with its
#      key/value cache, ORT re-feeds the whole context every token.
#   4. read_floor: the time to only read the LSTM step's weights (f32 2 MiB, f16, int8) — the
#      memory floor under any batch-1 step.
# Usage: sh bench/runtime-seq/run.sh [OUT_DIR]   (default /tmp/myelin-seq-bench)
# Needs the anchors' venv (/tmp/anchors, ../shared/anchors/setup.sh) and .build-cmake
# (bash scripts/runtime-build.sh, or cmake --build .build-cmake --target myelin_seq_bench).
set -eu
cd "$(dirname "$0")/../.."
OUT=${1:-/tmp/myelin-seq-bench}
VENV=${VENV:-/tmp/anchors}
ORT_LIB=${ORT_LIB:-$(ls "$VENV"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n 1)}
export ORT_LIB OMP_NUM_THREADS=1
mkdir -p "$OUT"
"$VENV/bin/python" bench/runtime-seq/twins.py "$OUT"
swift build --product RuntimeSeqModels
.build/debug/RuntimeSeqModels "$OUT"
cmake --build .build-cmake --target myelin_seq_bench
gcc -O2 -std=c11 -Wall -Wextra -o "$OUT/ort_seq" bench/runtime-seq/ort_seq.c -ldl -lm
gcc -O3 -march=native -o "$OUT/read_floor" bench/runtime-seq/read_floor.c
for round in 1 2 3; do
  echo "-- round $round"
  .build-cmake/myelin_seq_bench lstm "$OUT/lstm.myelin" 5000
  .build-cmake/myelin_seq_bench lstm "$OUT/lstm-f16.myelin" 5000
  .build-cmake/myelin_seq_bench lstm "$OUT/lstm-int8.myelin" 5000
  "$OUT/ort_seq" lstm "$OUT/lstm.onnx" 5000
  "$OUT/read_floor"
  .build-cmake/myelin_seq_bench generate "$OUT/transformer.myelin" 127 5
  "$OUT/ort_seq" generate "$OUT/transformer.onnx" 127 5 96
done
