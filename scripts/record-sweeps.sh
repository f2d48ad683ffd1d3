#!/usr/bin/env bash
# Regenerate the recorded learning-curve sweeps in assets/sweeps with `bertviz-lite sweep`
# (bundled model; frozen and fine-tuned; seeds 0, 1, 2; one torch thread per run, so the costs
# do not depend on how many cores are free). Each sweep resumes when its JSON is
# there and complete points are skipped: delete assets/sweeps/*.json to record from scratch.
#   scripts/record-sweeps.sh            the bundled data of all four tasks, then SST-2 and MRPC
#   scripts/record-sweeps.sh bundled    only the bundled sweeps
#   scripts/record-sweeps.sh real       only SST-2 and MRPC (needs ../shared/data or DATA_DIR)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -n "${BERTVIZ_NO_SETUP:-}" ] || . "$ROOT/scripts/setup.sh"
cd "$ROOT"
DATA_DIR="${DATA_DIR:-../shared/data}"  # relative: the JSON names its data by this path
WHICH="${1:-all}"
OUT=assets/sweeps
CACHE="$(mktemp -d)"  # a fresh run cache: every point is trained and timed here
trap 'rm -rf "$CACHE"' EXIT
export BERTVIZ_FEATURE_CACHE="$CACHE/features"  # and no frozen features from earlier runs
mkdir -p "$OUT"
sweep() { nice -n 10 python -m bertviz_lite.cli.main sweep --seeds 0,1,2 --modes frozen,finetune --threads 1 \
  --cache-dir "$CACHE" "$@"; }
if [[ "$WHICH" == all || "$WHICH" == bundled ]]; then
  for task in sentiment paraphrase similarity ner; do
    sweep --task "$task" --sizes 25,50,100 --epochs 3 --out "$OUT/$task-bundled.json"
  done
fi
if [[ "$WHICH" == all || "$WHICH" == real ]]; then
  sweep --task sentiment --data "$DATA_DIR/sst2" --sizes 50,200,500,2000 --epochs 2 \
    --max-eval 400 --out "$OUT/sentiment-sst2.json"
  sweep --task paraphrase --data "$DATA_DIR/mrpc" --sizes 50,200,500,2000 --epochs 2 \
    --max-eval 400 --out "$OUT/paraphrase-mrpc.json"
fi
python -m bertviz_lite.experiments.learning_summary docs/results.md assets/sweeps  # the results table
