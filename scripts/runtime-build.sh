#!/usr/bin/env bash
# Builds and tests the C runtime: configures and builds libmyelin (.so and .a), the C/C++
# examples, the benchmark and the C tests with CMake in .build-cmake; exports the
# Fashion-MNIST bundles the example tests classify (MyelinRuntimeModels, one epoch); then
# runs ctest (C API, malformed bundles, threads, exports/ldd, outside consumer project,
# examples).
#
# The Swift tests of the runtime (Tests/MyelinTests/Runtime*Tests.swift) then run against the
# built library:
#   MYELIN_LIBRARY="$PWD/.build-cmake/libmyelin.so" swift test
# (a plain `swift test` builds the library into .build-cmake itself, see RuntimeParityTests.swift).
#
# Environment: MYELIN_JOBS (default 2), MYELIN_TARGET_CPU (default native),
# MYELIN_SWIFT_SCRATCH (SwiftPM scratch path, default .build).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${MYELIN_JOBS:-2}
build=.build-cmake
bundles="$PWD/$build/bundles"
scratch=${MYELIN_SWIFT_SCRATCH:-.build}

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMYELIN_TEST_BUNDLE_DIR="$bundles"
cmake --build "$build" -j "$jobs"

if [ ! -f "$bundles/mlp-int8.myelin" ] || [ ! -f "$bundles/cnn-f32.myelin" ] \
    || [ "$bundles/mlp-int8.myelin" -ot Sources/Myelin/Export/BundleExporter.swift ]; then
    swift build --scratch-path "$scratch" --product MyelinRuntimeModels
    "$scratch/debug/MyelinRuntimeModels" "$bundles" 1
fi
if [ ! -f "$bundles/two-inputs-int8.myelin" ] || [ "$bundles/two-inputs-int8.myelin" -ot Sources/Myelin/Export/BundleExporter.swift ]; then
    # The graph models of examples/graph-models, one epoch on 3000 images.
    swift build --scratch-path "$scratch" --product GraphModels
    "$scratch/debug/GraphModels" "$bundles" 1 3000 > /dev/null
fi
ctest --test-dir "$build" --output-on-failure
