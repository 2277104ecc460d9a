#!/bin/sh
# The runtime CNN benchmark: libmyelin against ONNX Runtime's C API on the anchor CNN
# (../shared/anchors/torch_train.py cnn), same trained weights, one thread, medians, both
# measured in one run (rounds interleaved: this machine is shared and noisy).
#
#   sh bench/runtime-cnn/run.sh [ROUNDS]
#
# Steps: train the anchor if /tmp/anchor_cnn.pt is missing (1 epoch, 1 thread); twin.py
# writes its ONNX export and raw weights; RuntimeCNNModel loads those weights into Myelin's
# SimpleCNN (checking PyTorch's logits) and exports cnn-f32/f16/int8.myelin; then myelin_bench
# (bench/runtime/bench.c) and /tmp/ort_c_bench take turns. GFLOP/s use the anchor CNN's
# 5.262 MFLOP per image (2 × the multiply-adds of its two convolutions and two linear layers).
# Then CPU time per image (batch 1 and 256), which a loaded machine does not distort: Myelin's
# from loop.c, ONNX Runtime's as the CPU-time difference of two runs with different counts.
# Last, one core's measured f32 FMA peak (bench/fma-peak) to set the GFLOP/s against.
set -eu
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
OUT=${OUT:-/tmp/runtime-cnn}
PY=${PY:-/tmp/anchors/bin/python}
ANCHORS=$(cd ../shared/anchors && pwd)
export OMP_NUM_THREADS=1
[ -f /tmp/anchor_cnn.pt ] || (cd "$ANCHORS" && "$PY" torch_train.py cnn 1 1)
"$PY" bench/runtime-cnn/twin.py "$OUT"
swift build -c release --product RuntimeCNNModel >/dev/null
.build/release/RuntimeCNNModel "$OUT"
cmake -S . -B .build-cmake -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build .build-cmake --target myelin_bench -j 2 >/dev/null
sh "$ANCHORS/ort_c/run.sh" build
gcc -O2 -std=c11 -Iinclude -o /tmp/runtime-cnn-loop bench/runtime-cnn/loop.c -L.build-cmake -lmyelin -Wl,-rpath,"$PWD/.build-cmake"
flops=5262080
for r in $(seq "$ROUNDS"); do
  for p in f32 f16 int8; do
    .build-cmake/myelin_bench "$OUT/cnn-$p.myelin" | awk -v f=$flops -v p=$p '/^RESULT/ {
      for (i = 1; i <= NF; i++) { if ($i == "lat_b1_us") l = $(i+1); if ($i == "thr_b256_per_s") t = $(i+1); if ($i == "acc") a = $(i+1) }
      printf "myelin %s  b1 %7.1f us (%5.1f GFLOP/s)  b256 %7.0f img/s (%5.1f GFLOP/s)  acc %s\n", p, l, f / l / 1e3, t, t * f / 1e9, a }'
  done
  for b in 1 256; do
    reps=$([ $b = 1 ] && echo 1000 || echo 30)
    /tmp/ort_c_bench "$OUT/anchor_cnn.onnx" $b $reps | awk -v f=$flops -v b=$b '/^RESULT/ {
      for (i = 1; i <= NF; i++) { if ($i == "median_us") m = $(i+1); if ($i == "throughput_per_s") t = $(i+1) }
      if (b == 1) printf "ort    f32  b1 %7.1f us (%5.1f GFLOP/s)\n", m, f / m / 1e3
      else printf "ort    f32  b256 %7.0f img/s (%5.1f GFLOP/s)\n", t, t * f / 1e9 }'
  done
done
cpu() { /usr/bin/time -f "%U %S" "$@" 2>&1 >/dev/null | tail -1 | awk '{ print $1 + $2 }'; }
for r in $(seq "$ROUNDS"); do
  for b in 1 256; do
    reps=$([ $b = 1 ] && echo 12000 || echo 60)
    /tmp/runtime-cnn-loop "$OUT/cnn-f32.myelin" $b $reps | awk -v f=$flops -v b=$b '/^RESULT/ {
      printf "myelin f32  batch %3d  CPU %6.1f us/image (%5.1f GFLOP/s, %6.0f img/CPU-s)\n", b, $6, f / $6 / 1e3, $8 }'
    few=$(cpu /tmp/ort_c_bench "$OUT/anchor_cnn.onnx" $b $((reps / 3))); many=$(cpu /tmp/ort_c_bench "$OUT/anchor_cnn.onnx" $b $reps)
    awk -v a="$few" -v z="$many" -v n=$((reps - reps / 3)) -v b=$b -v f=$flops 'BEGIN {
      us = (z - a) / (n * b) * 1e6; printf "ort    f32  batch %3d  CPU %6.1f us/image (%5.1f GFLOP/s, %6.0f img/CPU-s)\n", b, us, f / us / 1e3, 1e6 / us }'
  done
done
sh bench/fma-peak/run.sh 5
