#!/bin/sh
# Character language model twins, one thread, side by side (issue 12):
#   bench/seq-train/run.sh [EPOCHS] [TRAIN_WINDOWS] [lstm|transformer ...]
#   MYELIN_ARGS=--no-fold bench/seq-train/run.sh 3 8000 lstm    # char-LSTM without the embedding fold
# Builds SeqTrainBench (release), then for each model runs PyTorch and Myelin one after the
# other on the same split and prints every epoch's RESULT line; summarise with the medians of
# the per-epoch times (the first epoch included) and the last epoch's validation bits/char.
set -e
cd "$(dirname "$0")/../.."
EPOCHS=${1:-3}; WINDOWS=${2:-4000}; shift 2 2>/dev/null || true
MODELS=${*:-lstm transformer}
PYTHON=${PYTHON:-/tmp/anchors/bin/python}
swift build -c release --product SeqTrainBench >/dev/null
for m in $MODELS; do
    "$PYTHON" bench/seq-train/torch_char_lm.py "$m" "$EPOCHS" "$WINDOWS" 1
    .build/release/SeqTrainBench "$m" "$EPOCHS" "$WINDOWS" 1 ${MYELIN_ARGS:-}
done | tee /tmp/seq-train-bench.log
python3 - <<'PY'
import statistics, collections
rows = collections.defaultdict(list)
for line in open("/tmp/seq-train-bench.log"):
    if line.startswith("RESULT"):
        f = line.split(); kv = dict(zip(f[5::2], f[6::2]))
        rows[(f[1], f[2])].append(kv)
print(f"{'side':8} {'model':18} {'epochs':>6} {'median wall s':>14} {'median cpu s':>13} {'last val bits/char':>19}")
for (side, model), r in sorted(rows.items(), key=lambda x: (x[0][1], x[0][0])):
    print(f"{side:8} {model:18} {len(r):6d} {statistics.median(float(x['wall_s']) for x in r):14.2f} "
          f"{statistics.median(float(x['cpu_s']) for x in r):13.2f} {float(r[-1]['val_bits']):19.4f}")
PY
