#!/usr/bin/env bash
# One command: set everything up (Chromium included), then run the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The tests exercise the Ray backend on a local cluster too: install that extra.
export BERTVIZ_EXTRAS="${BERTVIZ_EXTRAS:-test,ray}"
# shellcheck source=setup.sh
. "$ROOT/scripts/setup.sh"
# System programs the tests drive: Chromium (browser tests) and nginx (two app processes
# behind a proxy). Installed with apt when missing and we are root; otherwise those tests skip.
missing=()
if [ -z "${BERTVIZ_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then missing+=(chromium); fi
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then missing+=(nginx); fi
if [ "${#missing[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "[test] installing ${missing[*]} for the browser and proxy tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "[test] not installed: ${missing[*]}: the tests that need them will be skipped" >&2
  fi
fi
cd "$ROOT"
ruff check bertviz_lite tests app.py
# Two workers (pytest-xdist): the browser, server and notebook tests spend much of their time
# waiting on pages and processes, so two of them share two cores well; each worker trains on
# one torch thread (tests/conftest.py) and the Ray tests stay in one worker. BERTVIZ_TEST_WORKERS=0
# runs everything in this one process (for a debugger, or `-x`).
workers="${BERTVIZ_TEST_WORKERS:-2}"
xdist=()
if [ "$workers" != 0 ]; then xdist=(-n "$workers" --dist loadgroup); fi
# --durations: the slowest tests and their times, at the end of every run (CI's log too)
exec python -m pytest "${xdist[@]}" --durations=15 "$@"
