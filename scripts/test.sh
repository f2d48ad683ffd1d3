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
echo "[test] CPU: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | xargs)," \
  "$(nproc) cores; native bf16: $(grep -m1 -ow -e amx_bf16 -e avx512_bf16 /proc/cpuinfo || echo none)"
# Two workers (pytest-xdist, `--dist loadscope`): the browser, server and notebook tests spend
# much of their time waiting on pages and processes, so two of them share two cores well; each
# worker trains on one torch thread (tests/conftest.py). `loadscope` keeps each module on one
# worker, so a module's server, browser and model fixtures start once (with `load` a module's
# tests were spread over both workers, and each started its own); the longest modules go first.
# (A worker that dies makes xdist 3.8's loadscope wait: the limit below ends that pytest.)
# The Ray tests run after them in a pytest of their own (`ray start` and `ray stop` act on the
# whole machine, so only one process may hold a cluster; beside the two workers, a third
# stream of work held the load near 30 and timed tests out).
# BERTVIZ_TEST_WORKERS=0 runs everything in this one process (for a debugger, or `-x`).
# Whatever happens, each pytest ends within BERTVIZ_TEST_LIMIT_S (default 45 minutes) with
# its summary: SIGINT, then SIGKILL two minutes later.
workers="${BERTVIZ_TEST_WORKERS:-2}"
limit="${BERTVIZ_TEST_LIMIT_S:-2700}"
run_pytest() {
  local rc=0
  timeout --signal=INT --kill-after=120 "$limit" python -m pytest "$@" || rc=$?
  if [ "$rc" = 124 ]; then echo "[test] pytest ran past ${limit} s and was stopped" >&2; fi
  return "$rc"
}
# --durations: the slowest tests and their times, at the end of every run (CI's log too)
if [ "$workers" = 0 ]; then
  run_pytest --durations=15 "$@"
  exit
fi
logs="$(mktemp -d "${TMPDIR:-/tmp}/bertviz-tests.XXXXXX")"
rest=0; ray=0
run_pytest -n "$workers" --dist loadscope --ray-tests=skip --durations=50 "$@" 2>&1 \
  | tee "$logs/rest.log" || rest=${PIPESTATUS[0]}
echo "[test] ===== the Ray tests, in a pytest of their own (one worker: a crash names its test) ====="
# what still runs when they start (a process the first part left behind would slow them)
echo "[test] load average $(cut -d' ' -f1-3 /proc/loadavg); the busiest processes now:"
ps -eo pcpu=,etime=,args= --sort=-pcpu 2>/dev/null | head -5 | cut -c1-150 || true
run_pytest -n 1 --dist load --ray-tests=only -v --durations=5 "$@" || ray=$?
echo "[test] ===== the other tests, their summary again ====="
sed -n '/short test summary info/,$p' "$logs/rest.log" | tail -40
tail -1 "$logs/rest.log"
echo "[test] exit codes: the others $rest, the Ray tests $ray"
# 5 is pytest's "no tests ran": fine for one part (a selection with no Ray test), not for both
if [ "$rest" = 5 ] && [ "$ray" = 5 ]; then exit 5; fi
for rc in "$rest" "$ray"; do
  if [ "$rc" != 0 ] && [ "$rc" != 5 ]; then exit "$rc"; fi
done
exit 0
