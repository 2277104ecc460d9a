#!/usr/bin/env bash
# Runs the whole test suite: installs missing system packages, builds, then runs the Swift
# tests (XCTest) and prints one closing line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
log=$(mktemp)
status=0
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log" || status=$?
# XCTest's last "Executed N tests, with F failures" line covers all suites.
summary=$(grep -E "Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -n 1 || true)
rm -f "$log"
total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
failed=$(echo "$summary" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')
if [ -z "$summary" ]; then echo "no test results found"; exit 1; fi
echo "swift: $((total - failed)) passed, $failed failed"
exit $status
