#!/usr/bin/env bash
# Set up (or update) the virtual environment in .venv: CPU torch first, then bertviz-lite.
# Idempotent: a second run only checks. Sourced by app.sh and test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BERTVIZ_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
# torch pinned to the CPU build of 2.13.0 (a plain "torch" can pull a multi-GB CUDA build).
TORCH_SPEC="${BERTVIZ_TORCH_SPEC:-torch==2.13.0}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PY" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# --no-compile: Python compiles each module when it is first imported instead of pip compiling
# all of torch's and ray's files up front (most are never imported here).
if ! python -c "import torch" 2>/dev/null; then
  echo "[setup] installing $TORCH_SPEC"
  python -m pip install -q --no-compile "$TORCH_SPEC"
fi
EXTRAS="${BERTVIZ_EXTRAS:-test}"
stamp="$VENV/.bertviz-installed-${EXTRAS//,/-}"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  echo "[setup] installing bertviz-lite and its dependencies"
  python -m pip install -q --no-compile -e "$ROOT[$EXTRAS]"
  # the Jupyter kernel of this venv (examples/*.ipynb and tests/test_notebook.py run in it)
  if python -c "import ipykernel" 2>/dev/null; then
    python -m ipykernel install --sys-prefix >/dev/null
  fi
  touch "$stamp"
fi
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export TOKENIZERS_PARALLELISM=false
