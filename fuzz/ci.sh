#!/usr/bin/env bash
# What CI runs of the fuzzing (scripts/test.sh): builds the harnesses (fuzz/build.sh), runs
# each for a short bounded time on the committed corpus (bundle 30 s, checkpoint 15 s,
# idx 15 s; MYELIN_FUZZ_SECONDS scales them), then the sweeps: every truncation and every
# single-bit flip of each committed bundle (bundle_sweep flips --quick), and the time and
# memory bound over the corpus, the malformed fixtures and what the bundle fuzzer found.
# Ends with "fuzz: N passed, M failed" (one check per harness and sweep); exits 1 on a failure.
#
# The longer run is one command: bash fuzz/build.sh && bash fuzz/long-run.sh 3600
set -uo pipefail
cd "$(dirname "$0")/.."
out=${MYELIN_FUZZ_BUILD:-$PWD/.build-fuzz}
scale=${MYELIN_FUZZ_SECONDS:-1}
passed=0 failed=0
pass() { echo "fuzz check passed: $1"; passed=$((passed + 1)); }
fail() { echo "fuzz check FAILED: $1"; failed=$((failed + 1)); }

if ! bash fuzz/build.sh; then
    fail "building the harnesses"
    echo "fuzz: $passed passed, $failed failed"
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bundles=(fuzz/corpus/bundle/*.myelin Tests/MyelinTests/Fixtures/bundles/*.myelin)
for spec in bundle:30 checkpoint:15 idx:15; do
    name=${spec%%:*}
    seconds=$(( ${spec##*:} * scale ))
    mkdir -p "$work/$name" "$work/findings-$name"
    seeds=("fuzz/corpus/$name")
    extra=()
    [ "$name" = bundle ] && seeds+=(Tests/MyelinTests/Fixtures/bundles) && extra=(-dict=fuzz/bundle.dict)
    log="$work/$name.log"
    "$out/${name}_fuzzer" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2560 -malloc_limit_mb=1536 \
        -timeout=10 "${extra[@]}" -artifact_prefix="$work/findings-$name/" "$work/$name" "${seeds[@]}" > "$log" 2>&1
    code=$?
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$')
    findings=$(find "$work/findings-$name" -type f | wc -l)
    summary="$name harness: ${execs:-0} executions in ${seconds} s, coverage ${cov:-0} edges, findings $findings"
    if [ $code -eq 0 ] && [ "$findings" -eq 0 ]; then pass "$summary"; else
        fail "$summary (exit $code)"
        grep -E "ERROR|SUMMARY|panic|Fatal|exceeds" "$log" | head -n 20
        ls "$work/findings-$name"
        mkdir -p "$out/findings/ci-$name" && cp "$work/findings-$name"/* "$out/findings/ci-$name/" 2>/dev/null
    fi
done
if "$out/bundle_sweep" flips --quick "${bundles[@]}" > "$work/flips.log"; then pass "$(tail -n 1 "$work/flips.log")"; else
    grep FAIL "$work/flips.log" | head -n 20; fail "$(tail -n 1 "$work/flips.log")"; fi
if "$out/bundle_sweep" bound fuzz/corpus/bundle Tests/MyelinTests/Fixtures/bundles "$work/bundle" > "$work/bound.log"; then
    pass "$(tail -n 1 "$work/bound.log")"; else grep FAIL "$work/bound.log" | head -n 20; fail "$(tail -n 1 "$work/bound.log")"; fi
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
