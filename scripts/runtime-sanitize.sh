#!/usr/bin/env bash
# The C tests under sanitizers (issue 9), each in its own build folder with clang from the
# Swift toolchain (its sanitizer runtimes match the instrumented Swift object):
#   .build-asan  runtime with swiftc -sanitize=address, C tests with -fsanitize=address,undefined:
#                api, api_static, header_cpp, malformed, files, hostile, threads
#                (not noalloc: it replaces malloc; not exports/consumer: they inspect the
#                release artefacts)
#   .build-tsan  runtime and test_threads with thread sanitizer (8 threads sharing a model)
# Prints ctest's summary line for each.
#
# Environment: MYELIN_JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${MYELIN_JOBS:-2}
clang="$(dirname "$(command -v swiftc)")/clang"
[ -x "$clang" ] || { echo "sanitizers: no clang beside swiftc"; exit 1; }
status=0
run() {   # run DIR SANITIZERS TEST_REGEX TARGETS...
    local dir=$1 sanitizers=$2 tests=$3; shift 3
    mkdir -p "$dir"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$clang" -DCMAKE_CXX_COMPILER="$clang++" \
        -DMYELIN_SANITIZE="$sanitizers" -DMYELIN_BUILD_EXAMPLES=OFF > "$dir/configure.log" 2>&1 \
        || { cat "$dir/configure.log"; return 1; }
    cmake --build "$dir" -j "$jobs" --target "$@" 2>&1 | grep -E "error|Error" || true
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    TSAN_OPTIONS=halt_on_error=1 ctest --test-dir "$dir" --output-on-failure -R "$tests"
}
run .build-asan address,undefined '^(api|api_static|header_cpp|malformed|files|hostile|threads)$' \
    test_api test_api_static test_header_cpp test_malformed test_files test_hostile test_threads || status=1
run .build-tsan thread '^threads$' test_threads || status=1
exit $status
