#!/bin/sh
# The DCGAN's epoch time against PyTorch's, ROUNDS alternating rounds (default 10), one thread
# each side: per round Myelin's and PyTorch's CPU seconds per epoch (each side's median over 2
# epochs of 10,000 images) and their ratio; then the medians, the range and how many rounds
# meet the issue's target (ratio ≤ 0.70). Run from the repository root after
# `swift build -c release --product GenerativeBench` and `sh ../shared/anchors/setup.sh`.
#
#   sh bench/generative/dcgan-rounds.sh [ROUNDS]       GB=… another GenerativeBench binary
set -eu
ROUNDS=${1:-10}
GB=${GB:-.build/release/GenerativeBench}
PY=${PYTHON:-/tmp/anchors/bin/python}
log=$(mktemp)
for r in $(seq "$ROUNDS"); do
  l0=$(cut -d' ' -f1 /proc/loadavg)
  m=$("$GB" train dcgan 2 10000 /tmp/dcgan-rounds-myelin.idx | awk '/^RESULT/ { for (i = 1; i <= NF; i++) if ($i == "median_cpu_s") print $(i+1) }')
  t=$("$PY" bench/generative/torch_generative.py dcgan 2 10000 /tmp/dcgan-rounds-torch.idx | awk '/^RESULT/ { for (i = 1; i <= NF; i++) if ($i == "median_cpu_s") print $(i+1) }')
  l1=$(cut -d' ' -f1 /proc/loadavg)
  ratio=$(awk -v a="$m" -v b="$t" 'BEGIN { printf "%.3f", a / b }')
  echo "round $r  load $l0-$l1  myelin ${m} s  pytorch ${t} s  ratio $ratio"
  echo "$m $t $ratio" >>"$log"
done
median() { awk -v c="$1" '{ print $c }' "$log" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { awk -v c="$1" '{ print $c }' "$log" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "–" hi }'; }
echo "medians over $ROUNDS rounds: myelin $(median 1) s ($(range 1)), pytorch $(median 2) s ($(range 2)), ratio $(median 3) ($(range 3)); rounds with ratio <= 0.70: $(awk '$3 <= 0.70' "$log" | wc -l) of $ROUNDS"
rm -f "$log"
