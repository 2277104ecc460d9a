#!/bin/sh
# One core's f32 FMA peak on this machine (see peak.c): sh bench/fma-peak/run.sh [TRIALS]
set -eu
cd "$(dirname "$0")"
gcc -O2 -march=native -o /tmp/fma-peak peak.c
/tmp/fma-peak "${1:-11}"
