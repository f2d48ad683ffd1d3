#!/usr/bin/env bash
# One command: set everything up (Chromium included), then run the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The tests exercise the Ray backend on a local cluster too: install that extra.
export BERTVIZ_EXTRAS="${BERTVIZ_EXTRAS:-test,ray}"
# shellcheck source=setup.sh
. "$ROOT/scripts/setup.sh"
if [ -z "${BERTVIZ_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "[test] installing Chromium for the browser tests"
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "[test] no Chromium at /usr/bin/chromium: browser tests will be skipped" >&2
  fi
fi
cd "$ROOT"
ruff check bertviz_lite tests app.py pages
exec python -m pytest "$@"
