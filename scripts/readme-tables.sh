#!/usr/bin/env bash
# Write every generated result table of docs/results.md from the committed JSON (the tests
# check they agree): lecture runs, reproduction and recipe (assets/runs), bench
# (assets/bench), inside BERT (assets/changes), learning curves (assets/sweeps).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
python -m bertviz_lite.record.readme
python -m bertviz_lite.bench.readme
python -c "from bertviz_lite.experiments.inside_bert_readme import update_readme; update_readme()"
python -m bertviz_lite.experiments.learning_summary docs/results.md assets/sweeps
python -m bertviz_lite.app.readme
