#!/usr/bin/env bash
# Regenerate the recorded "What changed inside BERT?" analyses in assets/changes: train the
# twelve bundled runs (four tasks x frozen, top-2, finetune; default hyperparameters, seed 0)
# with --save-model into a temporary folder, then analyse each against the pretrained model.
# TASKS="sentiment" OUT=/tmp/changes scripts/record-changes.sh: one task, elsewhere (the results
# table is only rewritten when OUT is assets/changes).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -n "${BERTVIZ_NO_SETUP:-}" ] || . "$ROOT/scripts/setup.sh"
cd "$ROOT"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
TASKS="${TASKS:-sentiment paraphrase similarity ner}"
OUT="${OUT:-assets/changes}"
for task in $TASKS; do
  for mode in frozen top-2 finetune; do
    python -m bertviz_lite.cli.main train --task "$task" --mode "$mode" --quiet --out "$TMP/runs/$task-$mode.json" \
      --save-model "$TMP/models/$task-$mode"
  done
done
# shellcheck disable=SC2086  # TASKS is a list of words
python -m bertviz_lite.experiments.record_inside_bert "$TMP" "$OUT" --tasks $TASKS
if [ "$OUT" = assets/changes ]; then
  python -c "from bertviz_lite.experiments.inside_bert_readme import update_readme; update_readme()"
fi
