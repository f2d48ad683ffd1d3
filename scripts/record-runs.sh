#!/usr/bin/env bash
# Regenerate the recorded lecture runs in assets/runs and the frozen heads in assets/models
# with the CLI (bundled model and data, default hyperparameters, seed 0). About 3 minutes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
mkdir -p assets/runs assets/models
for task in sentiment paraphrase similarity ner; do
  bertviz-lite train --task "$task" --mode frozen --quiet --out "assets/runs/$task-frozen.json" \
    --save-model "assets/models/$task-frozen"
  bertviz-lite train --task "$task" --mode frozen --head scalar-mix --quiet \
    --out "assets/runs/$task-frozen-scalar-mix.json"
  bertviz-lite train --task "$task" --mode top-2 --quiet --out "assets/runs/$task-top-2.json"
  bertviz-lite train --task "$task" --mode finetune --quiet --out "assets/runs/$task-finetune.json"
done
