#!/usr/bin/env bash
# One command: set everything up, then start the app at http://localhost:${PORT:-8501}
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup.sh
. "$ROOT/scripts/setup.sh"
cd "$ROOT"
python -m bertviz_lite.serve.settings  # a settings file that cannot be used stops here
# streamlit run, with the libraries every page needs imported before the first visit
exec python -m bertviz_lite.app.run app.py --server.port "${PORT:-8501}" "$@"
