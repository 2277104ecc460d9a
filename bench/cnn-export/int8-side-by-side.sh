#!/bin/sh
# int8 (or f32) CNN speed side by side: two builds of libmyelin (BASE, e.g. main's, and this tree's)
# and ONNX Runtime f32 (../shared/anchors/ort_c), rounds alternating, one thread each, on the
# anchor CNN, ResNet-mini and MobileNet-mini; per round and model: batch-1 latency (median of
# 3000 calls) and batch-256 throughput (median of 50 calls), GFLOP/s, and the ratios the issue
# sets against ONNX Runtime f32 (latency ratio ≤ 0.4, throughput ratio ≥ 3). Then the medians
# over the rounds.
#
#   BASE=/path/to/other/.build-cmake sh bench/cnn-export/int8-side-by-side.sh [ROUNDS]   (default 3)
#   PRECISION=f32 sh bench/cnn-export/int8-side-by-side.sh [ROUNDS]   the f32 bundles instead (the issue's
#   f32 targets: latency ratio ≤ 1.0, throughput ratio ≥ 1.2)
#
# Needs the bundles and ONNX twins of the two benchmarks: RUNTIME_CNN (default /tmp/runtime-cnn;
# cnn-int8.myelin, anchor_cnn.onnx, from bench/runtime-cnn/run.sh) and CNN_EXPORT (default
# /tmp/cnn-export; {resnet,mobilenet}-int8.myelin, .onnx and .flops, from bench/cnn-export/run.sh),
# and .build-cmake/myelin_bench in both trees (cmake --build .build-cmake --target myelin_bench).
# Without BASE only this tree's build runs. The machine is shared: quote `uptime` with the figures.
set -eu
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
RUNTIME_CNN=${RUNTIME_CNN:-/tmp/runtime-cnn}
CNN_EXPORT=${CNN_EXPORT:-/tmp/cnn-export}
BASE=${BASE:-}
PRECISION=${PRECISION:-int8}
case $PRECISION in int8|f32) ;; *) echo "PRECISION must be int8 or f32, not $PRECISION" >&2; exit 2 ;; esac
ORT=${ORT:-/tmp/ort_c_bench}
export OMP_NUM_THREADS=1
[ -x "$ORT" ] || sh ../shared/anchors/ort_c/run.sh build
builds="this:.build-cmake"
[ -n "$BASE" ] && builds="base:$BASE $builds"
log=$(mktemp)
uptime
for r in $(seq "$ROUNDS"); do
  for m in anchor resnet mobilenet; do
    if [ $m = anchor ]; then
      bundle=$RUNTIME_CNN/cnn-$PRECISION.myelin onnx=$RUNTIME_CNN/anchor_cnn.onnx flops=5262080
    else
      bundle=$CNN_EXPORT/$m-$PRECISION.myelin onnx=$CNN_EXPORT/$m.onnx flops=$(cat "$CNN_EXPORT/$m.flops")
    fi
    ort1=$("$ORT" "$onnx" 1 3000 2>/dev/null | awk '/^RESULT/ { for (i = 1; i <= NF; i++) if ($i == "median_us") print $(i+1) }')
    ort256=$("$ORT" "$onnx" 256 50 2>/dev/null | awk '/^RESULT/ { for (i = 1; i <= NF; i++) if ($i == "throughput_per_s") print $(i+1) }')
    echo "ort $m b1 $ort1 $(awk -v f=$flops -v x="$ort1" 'BEGIN { printf "%.1f", f / x / 1e3 }') 1" >>"$log"
    echo "ort $m b256 $ort256 $(awk -v f=$flops -v t="$ort256" 'BEGIN { printf "%.1f", t * f / 1e9 }') 1" >>"$log"
    for b in $builds; do
      "${b#*:}/myelin_bench" "$bundle" | awk -v n="${b%%:*}" -v m=$m -v f=$flops -v o1="$ort1" -v o="$ort256" '/^RESULT/ {
        for (i = 1; i <= NF; i++) { if ($i == "lat_b1_us") l = $(i+1); if ($i == "thr_b256_per_s") t = $(i+1) }
        printf "%s %s b1 %.2f %.1f %.3f\n%s %s b256 %.0f %.1f %.3f\n", n, m, l, f / l / 1e3, l / o1, n, m, t, t * f / 1e9, t / o }' >>"$log"
    done
  done
  echo "round $r done: $(uptime)"
done
echo "$PRECISION, median over $ROUNDS rounds (b1: latency us; b256: images/s; GFLOP/s; ratio to ONNX Runtime f32 of the same round):"
for key in $(awk '{ print $1 ":" $2 ":" $3 }' "$log" | sort -u); do
  rows=$(grep "^$(echo "$key" | tr ':' ' ') " "$log")
  median() { echo "$rows" | awk -v c="$1" '{ print $c }' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
  echo "$key $(median 4) $(median 5) $(median 6)" | awk -F'[: ]' '{ printf "%-5s %-9s %-4s %9s  %6s GFLOP/s  ratio %s\n", $1, $2, $3, $4, $5, $6 }'
done
rm -f "$log"
