#!/usr/bin/env bash
# Valgrind memcheck over the C tests (issue 9). Valgrind 3.19 cannot decode AVX-512, so this
# builds the portable runtime (MYELIN_TARGET_CPU=haswell: AVX2 + FMA; VNNI off) in
# .build-valgrind and runs api, malformed, files, hostile and threads under memcheck
# (leaks, invalid reads/writes, uninitialised values; any error fails). Installs valgrind
# with apt-get if it is missing. Not part of scripts/test.sh (a few minutes).
#
#   bash scripts/runtime-valgrind.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind > /dev/null; then
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y valgrind; else sudo apt-get install -y valgrind; fi
fi
build=.build-valgrind
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMYELIN_TARGET_CPU=haswell -DMYELIN_VNNI=OFF \
    -DMYELIN_BUILD_EXAMPLES=OFF > "$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "${MYELIN_JOBS:-2}" --target test_api test_malformed test_files test_hostile test_threads
fixtures="$PWD/Tests/MyelinTests/Fixtures/bundles"
passed=0 failed=0
for t in api malformed files hostile threads; do
    log="$build/valgrind-$t.log"
    # hostile measures CPU time against limits meant for native speed: memcheck runs it
    # with the limits scaled (MYELIN_TEST_TIME_SCALE).
    if MYELIN_TEST_TIME_SCALE=100 valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --track-origins=yes "$build/test_$t" "$fixtures" > "$log" 2>&1; then
        echo "valgrind $t: passed ($(grep -E 'ERROR SUMMARY' "$log" | tail -n 1 | sed 's/^==[0-9]*== //'))"
        passed=$((passed + 1))
    else
        echo "valgrind $t: FAILED (log $log)"
        grep -E "ERROR SUMMARY|Invalid|uninitialised|definitely lost|FAIL" "$log" | head -n 20
        failed=$((failed + 1))
    fi
done
echo "valgrind: $passed passed, $failed failed"
[ $failed -eq 0 ]
