#!/usr/bin/env bash
# Runs the whole test suite: installs missing system packages, then the Swift tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
swift test --skip-build
