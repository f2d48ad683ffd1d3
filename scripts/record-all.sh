#!/usr/bin/env bash
# Regenerate every recorded artefact the app and docs/results.md show, from the current engine,
# in one go: the lecture runs and frozen heads (record-runs.sh), the inside-BERT analyses
# (record-changes.sh), the learning-curve sweeps (record-sweeps.sh; `bundled` by default, `all`
# adds SST-2 and MRPC from ../shared/data), then every results table from the committed JSON.
# Each artefact names the engine, precision and machine that made it.
#   scripts/record-all.sh            runs + analyses + bundled sweeps (about 15 min on 2 cores)
#   scripts/record-all.sh all        ... and the real-data sweeps too
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
export BERTVIZ_NO_SETUP=1
bash scripts/record-runs.sh
bash scripts/record-changes.sh
bash scripts/record-sweeps.sh "${1:-bundled}"
bash scripts/readme-tables.sh
