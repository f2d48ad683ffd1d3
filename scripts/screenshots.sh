#!/usr/bin/env bash
# Take every screenshot the README and docs/ show from the current app (streamlit run +
# Chromium) into docs/screenshots/, and record the commit, app version and viewport of each in
# docs/screenshots/manifest.json. Arguments go to python -m bertviz_lite.bench.screenshots,
# e.g. `--only home,compare` or `--out /tmp/shots`. About 2 minutes on 2 cores.
# BERTVIZ_NO_SETUP=1 uses the active Python environment instead of scripts/setup.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${BERTVIZ_NO_SETUP:-}" ]; then
  # shellcheck disable=SC1091
  . "$ROOT/scripts/setup.sh"
fi
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec python -m bertviz_lite.bench.screenshots "$@"
