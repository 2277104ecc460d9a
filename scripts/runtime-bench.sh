#!/usr/bin/env bash
# Runtime benchmark, side by side with ONNX Runtime (../shared/anchors), one thread each:
# MLP 784-256-10 on Fashion-MNIST — batch-1 latency, batch-256 throughput (f32 and int8),
# bundle load time, stripped library size. Runs each side three times, alternating, and
# prints the medians and the ratios the issue sets targets for.
#
#   scripts/runtime-bench.sh [ANCHOR_VENV]    (default /tmp/anchors; made by anchors/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-/tmp/anchors}
anchors=$(cd .. && pwd)/shared/anchors
build=.build-cmake
scratch=${MYELIN_SWIFT_SCRATCH:-.build}
out="$build/bench"
mkdir -p "$out"

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$build" -j "${MYELIN_JOBS:-2}" --target myelin myelin_bench > /dev/null
swift build -c release --scratch-path "$scratch" --product MyelinRuntimeModels > /dev/null
# Three epochs, as the anchor's `torch_train.py mlp 3 1`.
[ -f "$out/mlp-int8.myelin" ] || "$scratch/release/MyelinRuntimeModels" "$out" 3
[ -f /tmp/anchor_mlp.pt ] || (cd "$anchors" && "$venv/bin/python" torch_train.py mlp 3 1 | tail -1)

[ -f /tmp/anchor_mlp.onnx ] || (cd "$anchors" && "$venv/bin/python" ort_infer.py mlp > /dev/null)
# ONNX Runtime through its C API (../shared/anchors/ort_c), no Python in the timed path.
[ -x /tmp/ort_c_bench ] || sh "$anchors/ort_c/run.sh" build
gcc -O3 -march=native -o "$out/l2_read" bench/runtime/l2_read.c

for round in 1 2 3; do
    /tmp/ort_c_bench /tmp/anchor_mlp.onnx 1 3000 | grep '^RESULT' | sed 's/^RESULT ort_c [^ ]* batch 1 median_us/RESULT ort_c_b1 lat_b1_us/'
    /tmp/ort_c_bench /tmp/anchor_mlp.onnx 256 200 | grep '^RESULT' | sed 's/^RESULT ort_c [^ ]* batch 256 .*throughput_per_s/RESULT ort_c_b256 thr_b256_per_s/'
    for p in f32 int8; do "$build/myelin_bench" "$out/mlp-$p.myelin"; done
    "$out/l2_read" | awk '{ print "RESULT l2_read us", $6 }'
done | tee "$out/results.txt"
strip -o "$out/libmyelin.stripped.so" "$build/libmyelin.so"
size=$(stat -c %s "$out/libmyelin.stripped.so")

awk -v so="$size" '
    function median(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((n + 1) / 2)] }
    function field(name,   i) { for (i = 1; i < NF; i++) if ($i == name) return $(i + 1) }
    $2 == "ort_c_b1"    { ol[++on] = field("lat_b1_us") }
    $2 == "ort_c_b256"  { ot[++tn] = field("thr_b256_per_s") }
    $2 == "l2_read"     { l2[++ln] = field("us") }
    $2 == "myelin_f32"  { fl[++fn] = field("lat_b1_us"); ft[fn] = field("thr_b256_per_s"); fload[fn] = field("load_us") }
    $2 == "myelin_int8" { il[++in_] = field("lat_b1_us"); it[in_] = field("thr_b256_per_s"); iload[in_] = field("load_us") }
    END {
        ortl = median(ol, on); ortt = median(ot, tn)
        f32l = median(fl, fn); f32t = median(ft, fn); i8l = median(il, in_); i8t = median(it, in_)
        printf "\n%-34s %12s %12s %10s\n", "median of 3", "myelin", "ORT C fp32", "ratio"
        printf "%-34s %12.2f %12.2f %10.2f   (target <= 0.5)\n", "f32 batch-1 latency (us)", f32l, ortl, f32l / ortl
        printf "%-34s %12.0f %12.0f %10.2f   (target >= 1.2)\n", "f32 batch-256 throughput (/s)", f32t, ortt, f32t / ortt
        printf "%-34s %12.0f %12.0f %10.2f   (target >= 2)\n", "int8 batch-256 throughput (/s)", i8t, ortt, i8t / ortt
        printf "%-34s %12.2f\n", "int8 batch-1 latency (us)", i8l
        printf "%-34s %12.2f %12s   (reading the 800 KB of weights once, nothing else)\n", "f32 memory floor (us)", median(l2, ln), ""
        printf "%-34s %12.0f %12s   (target <= 1000)\n", "f32 bundle load (us)", median(fload, fn), ""
        printf "%-34s %12.0f %12s   (target <= 1000)\n", "int8 bundle load (us)", median(iload, in_), ""
        printf "%-34s %12d %12s   (target <= 204800)\n", "stripped libmyelin.so (bytes)", so, ""
    }' "$out/results.txt"
