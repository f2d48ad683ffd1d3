"""Which engine made a run, and where: the `engine` field of every RunRecord.

`engine_version()` goes into the run-cache key (`engine.config.config_hash`), so a changed
engine never replays an old run as new. Bump ENGINE_VERSION whenever a change to training,
measuring or recording changes what a run record holds for the same configuration.
No torch import at module level: the figures and the app's first page read this.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bertviz_lite.version import __version__

RECORD_VERSION = 2  # the run record's format; 2: the engine field
ENGINE_VERSION = 3  # 2: update-ratio stride, timing changes, engine field, log-odds attribution;
#   3: gradient clipping (max_grad_norm), the fine-tuning recipe's defaults, task-model heads


def package_version() -> str:
    """bertviz-lite's version."""
    return str(__version__)


def engine_version() -> str:
    """"<package version>+engine<ENGINE_VERSION>", e.g. "0.1.0+engine2": part of every run key."""
    return f"{package_version()}+engine{ENGINE_VERSION}"


@functools.cache
def git_commit() -> str | None:
    """The commit of the checkout this package runs from, or None (no git, not a checkout)."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def torch_version() -> str | None:
    """The torch version in use (from the loaded module, else the installed distribution)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return str(torch.__version__)
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def engine_info() -> dict[str, Any]:
    """What a run record keeps about the engine and the machine that made it."""
    return {
        "package": package_version(), "engine": ENGINE_VERSION, "version": engine_version(),
        "record_format": RECORD_VERSION, "git_commit": git_commit(), "torch": torch_version(),
        "python": platform.python_version(), "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "system": platform.system(),
    }


def provenance_line(created: str, device: str, engine: dict[str, Any] | None,
                    threads: object = None) -> str:
    """One line for a page: "recorded 2026-12-01 18:40 UTC on cpu (x86_64, 2 cores, 2
    threads), engine 0.1.0+engine2 (commit 3120cd8), torch 2.13.0+cpu"; older records
    without an engine field say so."""
    when = created.replace("T", " ")[:16] + " UTC" if created else "at an unknown time"
    if not engine:
        return f"recorded {when} on {device or 'an unknown device'} by an older engine " \
               "(no engine field: re-record it with scripts/record-runs.sh)"
    where = [str(engine.get("machine") or "?")]
    if engine.get("cpu_count"):
        where.append(f"{engine['cpu_count']} cores")
    if threads:
        where.append(f"{threads} threads")
    commit = engine.get("git_commit")
    made = f"engine {engine.get('version', '?')}" + (f" (commit {commit[:7]})" if commit else "")
    return (f"recorded {when} on {device or '?'} ({', '.join(where)}), {made}, "
            f"torch {engine.get('torch') or '?'}")
