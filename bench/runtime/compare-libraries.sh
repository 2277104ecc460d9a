#!/usr/bin/env bash
# A/B speed of two libmyelin builds on the same bundles: myelin_bench (bench.c, one thread)
# linked against each library in turn, rounds alternating (the machine is shared and noisy),
# medians per library and bundle. Used to check that build-flag changes (size work, issue 11)
# leave the kernels' speed unchanged.
#
#   bench/runtime/compare-libraries.sh ROUNDS OLD_LIB.so NEW_LIB.so BUNDLE.myelin...
#
# e.g. (old = the build before a change, kept aside):
#   cp .build-cmake/libmyelin.so.0 /tmp/old.so   # ... change, rebuild ...
#   bench/runtime/compare-libraries.sh 3 /tmp/old.so .build-cmake/libmyelin.so.0 \
#       .build-cmake/bundles/{mlp-f32,mlp-int8,cnn-f32,cnn-f16}.myelin
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=$1 old=$2 new=$3
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for side in old new; do
    mkdir -p "$work/$side"
    cp "${!side}" "$work/$side/libmyelin.so.0"
    ln -s libmyelin.so.0 "$work/$side/libmyelin.so"
done
cc -O2 -std=c99 -Iinclude bench/runtime/bench.c -o "$work/bench" -L"$work/old" -lmyelin -lz
for r in $(seq "$rounds"); do
    for side in old new; do
        for b in "$@"; do
            LD_LIBRARY_PATH="$work/$side" "$work/bench" "$b" | awk -v s=$side -v b="$(basename "$b")" '/^RESULT/ { print s, b, $0 }'
        done
    done
done | awk '
    function median(list,   n, a, i, j, t) { n = split(list, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((n + 1) / 2)] }
    function field(name,   i) { for (i = 1; i < NF; i++) if ($i == name) return $(i + 1) }
    { k = $2 " " $1; keys[k] = 1; load[k] = load[k] " " field("load_us"); lat[k] = lat[k] " " field("lat_b1_us"); thr[k] = thr[k] " " field("thr_b256_per_s") }
    END { printf "%-22s %-4s %10s %10s %12s\n", "bundle", "lib", "load us", "b1 us", "b256 /s"
          for (k in keys) { split(k, p, " "); printf "%-22s %-4s %10.1f %10.2f %12.0f\n", p[1], p[2], median(load[k]), median(lat[k]), median(thr[k]) } }' | sort
