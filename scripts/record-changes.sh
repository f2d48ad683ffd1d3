#!/usr/bin/env bash
# Regenerate the recorded "What changed inside BERT?" analyses in assets/changes: train the
# twelve bundled runs (four tasks x frozen, top-2, finetune; default hyperparameters, seed 0)
# with --save-model into a temporary folder, then analyse each against the pretrained model.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -n "${BERTVIZ_NO_SETUP:-}" ] || . "$ROOT/scripts/setup.sh"
cd "$ROOT"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
for task in sentiment paraphrase similarity ner; do
  for mode in frozen top-2 finetune; do
    python -m bertviz_lite.cli.main train --task "$task" --mode "$mode" --quiet --out "$TMP/runs/$task-$mode.json" \
      --save-model "$TMP/models/$task-$mode"
  done
done
python -m bertviz_lite.experiments.record_changes "$TMP" assets/changes
python -c "from bertviz_lite.experiments.changes_readme import update_readme; update_readme()"
