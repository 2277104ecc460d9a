#!/usr/bin/env bash
# Runs the whole test suite: installs missing system packages, builds, builds and tests the
# C runtime with CMake/ctest (scripts/runtime-build.sh), then runs the Swift tests (XCTest),
# which load the built libmyelin.so for the Swift-vs-C parity tests. Ends with one line
# "N passed, N failed" over both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
bash scripts/runtime-build.sh 2>&1 | tee -a "$log" || status=$?
MYELIN_LIBRARY="$PWD/.build-cmake/libmyelin.so" \
    swift test --skip-build --disable-swift-testing 2>&1 | tee -a "$log" || status=$?
# ctest: "100% tests passed, 0 tests failed out of 11"; XCTest's last "Executed N tests, with F failures" covers all suites.
ctest_line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -n 1 || true)
xctest_line=$(grep -E "Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -n 1 || true)
if [ -z "$ctest_line" ] || [ -z "$xctest_line" ]; then echo "test results missing"; exit 1; fi
c_failed=$(echo "$ctest_line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/')
c_total=$(echo "$ctest_line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/')
s_total=$(echo "$xctest_line" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
s_failed=$(echo "$xctest_line" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')
failed=$((c_failed + s_failed))
echo "total: $((c_total + s_total - failed)) passed, $failed failed"
exit $status
