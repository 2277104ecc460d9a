#!/usr/bin/env bash
# Installs the system packages Myelin needs when they are missing (Debian/Ubuntu):
# zlib1g-dev (datasets and bundles), cmake (C runtime build), dataset-fashion-mnist and
# fortunes (data: images, and text for the character models).
set -euo pipefail
missing=()
for pkg in zlib1g-dev cmake dataset-fashion-mnist fortunes; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
command -v swift >/dev/null || { echo "swift not found: put the Swift 6.3 toolchain on PATH (e.g. export PATH=/opt/swift/usr/bin:\$PATH)"; exit 1; }
