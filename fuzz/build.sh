#!/usr/bin/env bash
# Builds the libFuzzer harnesses into .build-fuzz (or $MYELIN_FUZZ_BUILD):
#   bundle_fuzzer      the Embedded-Swift runtime compiled with `swiftc -sanitize=fuzzer,address`
#                      (the Swift code itself instrumented) + fuzz/bundle_fuzzer.c
#   checkpoint_fuzzer  StateDictFile.decode (checkpoints, .mst state files) and
#   idx_fuzzer         IDX.parse / gunzip of the training library, built by SwiftPM with
#                      -sanitize=fuzzer,address into its own scratch path
#   bundle_sweep       every truncation and byte flip of a bundle, and the time/memory bound
#                      check, against the release build of the runtime (no sanitizer)
# Only what is older than its sources is rebuilt. Needs clang with libFuzzer (the Swift
# toolchain's, /opt/swift/usr/bin/clang) and zlib.
#
#   bash fuzz/build.sh [bundle|swift|sweep|all]      (default all)
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

runtime_sources=(Sources/MyelinRuntime/*.swift)
mapfile -t shared_sources < <(find Sources/MyelinShared -name '*.swift' | sort)

if [ "$what" = all ] || [ "$what" = bundle ]; then
    obj="$out/runtime-fuzz.o"
    if newer "$obj" "${runtime_sources[@]}" "${shared_sources[@]}" Sources/CZlibRuntime; then
        echo "fuzz: compiling the Embedded-Swift runtime with -sanitize=fuzzer,address"
        "$swiftc" -enable-experimental-feature Embedded -D MYELIN_RUNTIME -wmo -parse-as-library -Ounchecked \
            -target-cpu "$cpu" -sanitize=fuzzer,address -module-name MyelinRuntime -I Sources/CZlibRuntime \
            -emit-object -o "$obj" "${runtime_sources[@]}" "${shared_sources[@]}"
    fi
    if newer "$out/bundle_fuzzer" "$obj" fuzz/bundle_fuzzer.c fuzz/bundle_format.h include/myelin.h; then
        "$clang" -O1 -g -fuse-ld=lld -fsanitize=fuzzer,address -Iinclude fuzz/bundle_fuzzer.c "$obj" -lz -lm -o "$out/bundle_fuzzer"
    fi
fi

if [ "$what" = all ] || [ "$what" = sweep ]; then
    # The release runtime object of CMake's build (scripts/runtime-build.sh), or its own.
    lib=.build-cmake/libmyelin.a
    if [ ! -f "$lib" ]; then
        cmake -S . -B .build-cmake -DCMAKE_BUILD_TYPE=Release >/dev/null
        cmake --build .build-cmake --target myelin_static -j "${MYELIN_JOBS:-2}"
    fi
    if newer "$out/bundle_sweep" "$lib" fuzz/bundle_sweep.c fuzz/bundle_format.h include/myelin.h; then
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
            objs=$(find "$bin/Myelin.build" "$bin/MyelinShared.build" -name '*.o' | sort)
            "$swiftc" -parse-as-library -sanitize=fuzzer,address -D "FUZZ_$(echo $reader | tr a-z A-Z)" \
                -I "$bin/Modules" -I Sources/CZlib -module-name "${reader}_fuzzer" fuzz/ReaderFuzzer.swift \
                $objs -lz -o "$out/${reader}_fuzzer"
        fi
    done
fi
