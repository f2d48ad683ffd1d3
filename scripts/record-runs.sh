#!/usr/bin/env bash
# Regenerate the recorded lecture runs in assets/runs, and the frozen heads and LoRA-tuned
# models in assets/models, with the CLI from the current engine (bundled model and data,
# default hyperparameters, seed 0), at low CPU priority. About 5-7 minutes on 2 cores. Each
# run record names the engine and machine that made it (its `engine` field); the app shows
# that line.
# BERTVIZ_NO_SETUP=1 uses the active Python environment instead of scripts/setup.sh.
# assets/runs/reproduce.json is not touched (bertviz-lite reproduce --max-train 5000, ~25
# minutes; see docs/results.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${BERTVIZ_NO_SETUP:-}" ]; then
  # shellcheck disable=SC1091
  . "$ROOT/scripts/setup.sh"
fi
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
NEW="$(mktemp -d -t bertviz-record-runs.XXXXXX)"
trap 'rm -rf "$NEW"' EXIT
mkdir -p "$NEW/runs" "$NEW/models"
# an empty feature cache: every frozen run computes its features, so the recorded frozen times
# (and the cost ratios the lesson asks about) are a first run's, not a cache hit's
export BERTVIZ_FEATURE_CACHE="$NEW/features"
train() { nice -n "${BERTVIZ_NICE:-10}" python -m bertviz_lite.cli.main train --quiet "$@"; }
start=$(date +%s)
for task in sentiment paraphrase similarity ner; do
  train --task "$task" --mode frozen --out "$NEW/runs/$task-frozen.json" \
    --save-model "$NEW/models/$task-frozen"
  train --task "$task" --mode frozen --head scalar-mix --out "$NEW/runs/$task-frozen-scalar-mix.json"
  train --task "$task" --mode frozen --head task-model --out "$NEW/runs/$task-frozen-task-model.json"
  train --task "$task" --mode top-2 --out "$NEW/runs/$task-top-2.json"
  train --task "$task" --mode finetune --out "$NEW/runs/$task-finetune.json"
  # the LoRA-tuned model Attention and Attribution show at once (the modes table's learning
  # rate); its run record is the lesson's for sentiment, and only kept there
  train --task "$task" --mode lora --lr 5e-4 --out "$NEW/lora-$task.json" \
    --save-model "$NEW/models/$task-lora"
done
mv "$NEW/lora-sentiment.json" "$NEW/runs/sentiment-lora.json"
# Every run finished: replace the old files (a failed run above leaves them as they were).
mkdir -p assets/runs assets/models
for f in "$NEW"/runs/*.json; do mv -f "$f" assets/runs/; done
for d in "$NEW"/models/*; do rm -rf "assets/models/$(basename "$d")"; mv "$d" assets/models/; done
echo "recorded runs regenerated in $(( $(date +%s) - start )) s"
