#!/usr/bin/env bash
# Myelin vs PyTorch on the generative twins, alternating sides, 1 thread each. Run from the
# repo root after `swift build -c release --product GenerativeBench --product myelin` and
# `sh ../shared/anchors/setup.sh`. Usage: bench/generative/run.sh [ROUNDS] [OUT]
# The FID feature extractor is Myelin's own CNN (`myelin train --model cnn`), trained once into OUT/cnn.
set -euo pipefail
ROUNDS=${1:-1}
OUT=${2:-/tmp/genbench}
PY=${PYTHON:-/tmp/anchors/bin/python}
mkdir -p "$OUT"
[ -f "$OUT/cnn/checkpoint.ckpt" ] || .build/release/myelin train --model cnn --epochs 3 --threads 1 --out "$OUT/cnn" --force
for r in $(seq 1 "$ROUNDS"); do
    .build/release/GenerativeBench train conv-autoencoder 1 10000
    "$PY" bench/generative/torch_generative.py conv-autoencoder 1 10000
    .build/release/GenerativeBench train vae 2 20000
    "$PY" bench/generative/torch_generative.py vae 2 20000
    .build/release/GenerativeBench train dcgan 2 10000 "$OUT/myelin_dcgan.idx"
    "$PY" bench/generative/torch_generative.py dcgan 2 10000 "$OUT/torch_dcgan.idx"
    .build/release/GenerativeBench fid "$OUT/cnn/checkpoint.ckpt" "$OUT/myelin_dcgan.idx" "$OUT/torch_dcgan.idx"
done
