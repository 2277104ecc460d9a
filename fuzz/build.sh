#!/usr/bin/env bash
# Builds the libFuzzer harnesses into .build-fuzz (or $MYELIN_FUZZ_BUILD):
#   bundle_fuzzer      the Embedded-Swift runtime compiled with `swiftc -sanitize=fuzzer,address`
#                      (the Swift code itself instrumented) + fuzz/bundle_fuzzer.c
#   bundle-fast_fuzzer the same without AddressSanitizer (coverage only, no heap bound check):
#                      for throughput in long runs (fuzz/long-run.sh ... bundle-fast)
#   checkpoint_fuzzer  StateDictFile.decode (checkpoints, .mst state files) and
#   idx_fuzzer         IDX.parse / gunzip of the training library, built by SwiftPM with
#                      -sanitize=fuzzer,address into its own scratch path
#   bundle_sweep       every truncation and byte flip of a bundle, and the time/memory bound
#                      check, against the release build of the runtime (no sanitizer)
# Only what is older than its sources is rebuilt. Needs clang with libFuzzer (the Swift
# toolchain's, /opt/swift/usr/bin/clang) and zlib.
#
#   bash fuzz/build.sh [bundle|swift|all|fast]  (default all; bundle builds the sweep too; fast
#                                                builds only bundle-fast_fuzzer, not part of all)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${MYELIN_FUZZ_BUILD:-$PWD/.build-fuzz}
what=${1:-all}
mkdir -p "$out"
swiftc=$(command -v swiftc)
clang="$(dirname "$swiftc")/clang"
[ -x "$clang" ] || clang=$(command -v clang)
cpu=${MYELIN_TARGET_CPU:-native}

newer() {   # newer TARGET SOURCES...: true if TARGET is missing or older than a source
    local target=$1; shift
    [ -e "$target" ] || return 0
    [ -n "$(find "$@" -newer "$target" -print -quit 2>/dev/null)" ]
}

if [ "$what" = fast ]; then   # the throughput build only (coverage, no ASan), for long runs
    cmake -S . -B "$out/cmake" -DCMAKE_BUILD_TYPE=Release -DMYELIN_FUZZ=ON -DCMAKE_C_COMPILER="$clang" \
        -DMYELIN_BUILD_EXAMPLES=OFF -DMYELIN_BUILD_TESTS=OFF -DMYELIN_TARGET_CPU="$cpu" > "$out/cmake-configure.log"
    cmake --build "$out/cmake" --target bundle_fuzzer_fast -j "${MYELIN_JOBS:-2}" | grep -v "^\[" || true
    test -x "$out/cmake/bundle_fuzzer_fast"
    ln -sf cmake/bundle_fuzzer_fast "$out/bundle-fast_fuzzer"
fi

if [ "$what" = all ] || [ "$what" = bundle ]; then
    # CMake's MYELIN_FUZZ target (CMakeLists.txt): the runtime compiled with
    # -sanitize=fuzzer,address + fuzz/bundle_fuzzer.c, in its own build folder.
    cmake -S . -B "$out/cmake" -DCMAKE_BUILD_TYPE=Release -DMYELIN_FUZZ=ON -DCMAKE_C_COMPILER="$clang" \
        -DMYELIN_BUILD_EXAMPLES=OFF -DMYELIN_BUILD_TESTS=OFF -DMYELIN_TARGET_CPU="$cpu" > "$out/cmake-configure.log"
    cmake --build "$out/cmake" --target bundle_fuzzer -j "${MYELIN_JOBS:-2}" | grep -v "^\[" || true
    test -x "$out/cmake/bundle_fuzzer"
    ln -sf cmake/bundle_fuzzer "$out/bundle_fuzzer"
    # The sweep against the release static library of scripts/runtime-build.sh (built here if missing).
    lib=.build-cmake/libmyelin.a
    if [ ! -f "$lib" ]; then
        cmake -S . -B .build-cmake -DCMAKE_BUILD_TYPE=Release > /dev/null
        cmake --build .build-cmake --target myelin_static -j "${MYELIN_JOBS:-2}" | grep -v "^\[" || true
    fi
    if newer "$out/bundle_sweep" "$lib" fuzz/bundle_sweep.c fuzz/bundle_format.h include/myelin.h; then
        rm -f "$out/bundle_sweep"
        "$clang" -O2 -g -std=c11 -Wall -Wextra -Werror -Iinclude fuzz/bundle_sweep.c "$lib" -lz -lm -o "$out/bundle_sweep"
    fi
fi

if [ "$what" = all ] || [ "$what" = swift ]; then
    # The training library with coverage and ASan (its own scratch path, debug: all checks on),
    # then one small executable per reader; libFuzzer supplies main.
    scratch="$out/swiftpm"
    mapfile -t lib_sources < <(find Sources/Myelin Sources/MyelinShared -name '*.swift' | sort)
    stamp="$scratch/.myelin-built"
    if newer "$stamp" "${lib_sources[@]}" Package.swift; then
        echo "fuzz: building the Myelin library with -sanitize=fuzzer,address (SwiftPM, $scratch)"
        swift build --scratch-path "$scratch" --target Myelin -Xswiftc -sanitize=fuzzer,address \
            -Xcc -fsanitize=fuzzer-no-link,address
        touch "$stamp"
    fi
    bin="$scratch/debug"
    for reader in checkpoint idx; do
        if newer "$out/${reader}_fuzzer" fuzz/ReaderFuzzer.swift "$stamp"; then
            echo "fuzz: linking ${reader}_fuzzer"
            objs=$(find "$bin/Myelin.build" "$bin/MyelinShared.build" -name '*.o' | sort)
            "$swiftc" -parse-as-library -sanitize=fuzzer,address -D "FUZZ_$(echo $reader | tr a-z A-Z)" \
                -I "$bin/Modules" -I Sources/CZlib -module-name "${reader}_fuzzer" fuzz/ReaderFuzzer.swift \
                $objs -lz -o "$out/${reader}_fuzzer"
        fi
    done
fi
