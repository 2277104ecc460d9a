#!/bin/sh
# bench/cnn-export: every zoo preset trained briefly, exported in f32/f16/int8 and run by
# libmyelin over the whole Fashion-MNIST test set (the README's export table), then the speed
# of ResNet-mini and MobileNet-mini (f32 and int8, batch 1 and 256, one thread, medians)
# against their PyTorch twins (same weights) run by ONNX Runtime's C API, rounds interleaved.
#
#   sh bench/cnn-export/run.sh [STEPS] [ROUNDS]        (defaults 300 and 3)
#   MIN_AGREEMENT=P: int8 layers kept in f32 until P% calibration agreement (default 99.5; 0: off)
#   REUSE=1: keep the bundles and ONNX twins already in $OUT (speed rounds only, after a
#            runtime change)
set -eu
cd "$(dirname "$0")/../.."
STEPS=${1:-300}
ROUNDS=${2:-3}
OUT=${OUT:-/tmp/cnn-export}
PY=${PY:-/tmp/anchors/bin/python}
ANCHORS=$(cd ../shared/anchors && pwd)
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
cmake -S . -B .build-cmake -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build .build-cmake --target myelin myelin_bench -j 2 >/dev/null
if [ "${REUSE:-0}" != 1 ]; then
  swift build --product CNNExportBench >/dev/null
  CNN_TWIN_DIR="$OUT" .build/debug/CNNExportBench "$STEPS" .build-cmake/libmyelin.so | tee "$OUT/table.md"
  "$PY" bench/cnn-export/twins.py "$OUT"
fi
sh "$ANCHORS/ort_c/run.sh" build
for r in $(seq "$ROUNDS"); do
  for m in resnet mobilenet; do
    flops=$(cat "$OUT/$m.flops")
    for p in f32 int8; do
      .build-cmake/myelin_bench "$OUT/$m-$p.myelin" | awk -v f="$flops" -v p=$p -v m=$m '/^RESULT/ {
        for (i = 1; i <= NF; i++) { if ($i == "lat_b1_us") l = $(i+1); if ($i == "thr_b256_per_s") t = $(i+1); if ($i == "acc") a = $(i+1) }
        printf "%-9s myelin %-4s b1 %8.1f us (%5.1f GFLOP/s)  b256 %7.0f img/s (%5.1f GFLOP/s)  acc %s\n", m, p, l, f / l / 1e3, t, t * f / 1e9, a }'
    done
    for b in 1 256; do
      reps=$([ $b = 1 ] && echo 1000 || echo 20)
      /tmp/ort_c_bench "$OUT/$m.onnx" $b $reps 2>/dev/null | awk -v f="$flops" -v b=$b -v m=$m '/^RESULT/ {
        for (i = 1; i <= NF; i++) { if ($i == "median_us") x = $(i+1); if ($i == "throughput_per_s") t = $(i+1) }
        if (b == 1) printf "%-9s ort    f32  b1 %8.1f us (%5.1f GFLOP/s)\n", m, x, f / x / 1e3
        else printf "%-9s ort    f32  b256 %7.0f img/s (%5.1f GFLOP/s)\n", m, t, t * f / 1e9 }'
    done
  done
done
