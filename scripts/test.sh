#!/usr/bin/env bash
# Runs the whole test suite: installs missing system packages, builds, builds and tests the
# C runtime with CMake/ctest (scripts/runtime-build.sh), the C tests again under sanitizers
# (scripts/runtime-sanitize.sh), the fuzzers for a bounded time (fuzz/ci.sh), then the Swift
# tests (XCTest), which load the built libmyelin.so for the Swift-vs-C parity tests. Ends
# with one line "total: N passed, M failed" over all of them, after a "stage NAME: N s" line
# per stage.
set -euo pipefail
cd "$(dirname "$0")/.."
# "stage NAME: N s" after each stage: where the suite's time goes.
began=$(date +%s)
stage() { local now; now=$(date +%s); echo "stage $1: $((now - began)) s"; began=$now; }
bash scripts/setup.sh
stage setup
swift build --build-tests
stage swift-build
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
status=0
bash scripts/runtime-build.sh 2>&1 | tee "$logs/runtime" || status=$?
stage runtime
# Issue 9: the C tests under ASan+UBSan and the threads test under TSan; the fuzz harnesses
# for a bounded time on the committed corpus, and the truncation/bit-flip and bound sweeps.
# MYELIN_SKIP_SANITIZERS=1 / MYELIN_SKIP_FUZZ=1 leave them out of a local run (CI runs both).
[ "${MYELIN_SKIP_SANITIZERS:-0}" = 1 ] || { bash scripts/runtime-sanitize.sh 2>&1 | tee "$logs/sanitize" || status=$?; stage sanitizers; }
[ "${MYELIN_SKIP_FUZZ:-0}" = 1 ] || { bash fuzz/ci.sh 2>&1 | tee "$logs/fuzz" || status=$?; stage fuzz; }
# SwiftPMConsumerTests builds Myelin once more, as another package's dependency (about two
# minutes of both cores): it runs in a second process beside the rest of the XCTest suite,
# which is mostly single-threaded, and its log follows the suite's. That process is the test
# bundle itself: `swift test` holds the build folder's lock while it runs.
MYELIN_LIBRARY="$PWD/.build-cmake/libmyelin.so" \
    "$(swift build --show-bin-path)/MyelinPackageTests.xctest" MyelinTests.SwiftPMConsumerTests > "$logs/consumer" 2>&1 &
consumer=$!
MYELIN_LIBRARY="$PWD/.build-cmake/libmyelin.so" \
    swift test --skip-build --disable-swift-testing --skip SwiftPMConsumerTests 2>&1 | tee "$logs/swift" || status=$?
wait "$consumer" || status=$?
cat "$logs/consumer"
stage xctest
# ctest: "100% tests passed, 0 tests failed out of 11" (one line per ctest run, all counted);
# fuzz/ci.sh: "fuzz: N passed, M failed"; each XCTest process's last "Executed N tests, with F failures" covers its suites.
c_total=0 c_failed=0
for stage in runtime sanitize; do
    [ -f "$logs/$stage" ] || continue
    lines=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$logs/$stage" || true)
    if [ -z "$lines" ]; then echo "test results missing ($stage)"; exit 1; fi
    while read -r line; do
        c_failed=$((c_failed + $(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')))
        c_total=$((c_total + $(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/')))
    done <<< "$lines"
done
if [ -f "$logs/fuzz" ]; then
    fuzz_line=$(grep -E "^fuzz: [0-9]+ passed, [0-9]+ failed" "$logs/fuzz" | tail -n 1 || true)
    if [ -z "$fuzz_line" ]; then echo "test results missing (fuzz)"; exit 1; fi
    c_total=$((c_total + $(echo "$fuzz_line" | sed -E 's/fuzz: ([0-9]+) passed, ([0-9]+) failed/\1 + \2/')))
    c_failed=$((c_failed + $(echo "$fuzz_line" | sed -E 's/fuzz: ([0-9]+) passed, ([0-9]+) failed/\2/')))
fi
s_total=0 s_failed=0
for part in swift consumer; do
    xctest_line=$(grep -E "Executed [0-9]+ tests?, with [0-9]+ failures?" "$logs/$part" | tail -n 1 || true)
    if [ -z "$xctest_line" ]; then echo "test results missing ($part)"; exit 1; fi
    s_total=$((s_total + $(echo "$xctest_line" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')))
    s_failed=$((s_failed + $(echo "$xctest_line" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')))
done
failed=$((c_failed + s_failed))
echo "total: $((c_total + s_total - failed)) passed, $failed failed"
exit $status
