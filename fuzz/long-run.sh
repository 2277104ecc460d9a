#!/usr/bin/env bash
# The longer fuzz run (README, "Reliability"): each harness for SECONDS at nice 19 on its
# own working corpus (.build-fuzz/work/NAME, seeded from the committed corpus), findings
# (crash-*, leak-*, oom-*, timeout-*) in .build-fuzz/findings/NAME, log in
# .build-fuzz/NAME.log; then one summary line per harness: executions, rate, coverage
# (edges), corpus size, findings.
#
#   bash fuzz/build.sh && bash fuzz/long-run.sh 3600 bundle checkpoint idx
#
# `bundle-fast` (built by `bash fuzz/build.sh fast`) is the bundle harness without
# AddressSanitizer (coverage only, about 3x the executions per second; the heap bound is then
# left to the ASan harness and the sweep).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${MYELIN_FUZZ_BUILD:-$PWD/.build-fuzz}
seconds=${1:?seconds per harness}; shift
harnesses=("${@:-bundle checkpoint idx}")
[ $# -gt 0 ] || harnesses=(bundle checkpoint idx)
summary() {   # NAME: one line from the log's final stats
    local name=$1 log="$out/$1.log"
    local execs rate cov corp findings
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || echo 0)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || echo 0)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || echo 0)
    corp=$(find "$out/work/$name" -type f | wc -l)
    findings=$(find "$out/findings/$name" -type f | wc -l)
    echo "fuzz $name: $execs executions ($rate/s), coverage $cov edges, corpus $corp, findings $findings"
}
for name in "${harnesses[@]}"; do
    mkdir -p "$out/work/$name" "$out/findings/$name"
    seeds=("fuzz/corpus/${name%-fast}")
    extra=()
    case $name in
        bundle|bundle-fast) seeds+=(Tests/MyelinTests/Fixtures/bundles); extra=(-dict=fuzz/bundle.dict) ;;
    esac
    nice -n 19 "$out/${name}_fuzzer" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2560 \
        -malloc_limit_mb=1536 -timeout=10 "${extra[@]}" -artifact_prefix="$out/findings/$name/" \
        "$out/work/$name" "${seeds[@]}" > "$out/$name.log" 2>&1 || true
    summary "$name"
done
