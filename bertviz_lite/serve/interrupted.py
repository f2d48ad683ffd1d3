"""Runs a server shutdown or restart cut short, kept for the students who started them.

When the pool shuts down (a restart, a deploy) every run still training is stopped; its steps
so far (the worker's stopped record, or the steps it had streamed) are written here, one JSON
file per owner and run, named by a hash of the owner (never the owner itself). The page the
student opens after the restart takes them back once (`take`) and says what happened.
Owners that survive a restart: a signed-in user, or a browser (its cookie); a plain session
id does not, and its file is swept after `KEEP_S`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from bertviz_lite.record.runs import RunRecord, record_problem

log = logging.getLogger(__name__)

KEEP_S = 7 * 24 * 3600.0  # a file nobody came back for is removed after a week
REASON = ("The server restarted (or was shut down) while this run was training, after step "
          "{step}: the steps it made are kept here. Press Train to run it again in full.")


def _owner_hash(owner: str) -> str:
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:16]


def keep(folder: Path, owners: list[str], record: RunRecord) -> list[Path]:
    """Write a cut-short run's record for each owner (errors are logged, never raised: this
    runs while the server shuts down)."""
    step = record.steps[-1].step if record.steps else 0
    record.status, record.reason = "stopped", REASON.format(step=step)
    written = []
    for owner in sorted(set(o for o in owners if o)):
        path = folder / f"{_owner_hash(owner)}-{time.time_ns()}.json"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            record.save(path)
            written.append(path)
        except (OSError, ValueError) as err:
            log.warning("could not keep the interrupted run of %s: %s", owner, err)
    return written


def take(folder: Path, owner: str) -> list[RunRecord]:
    """The owner's cut-short runs, oldest first; their files are removed (shown once)."""
    out = []
    for path in sorted(folder.glob(f"{_owner_hash(owner)}-*.json")):
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            if record_problem(d) is None:
                out.append(RunRecord.from_dict(d))
            path.unlink()
        except (OSError, ValueError, TypeError) as err:
            log.warning("skipping interrupted run %s: %s", path, err)
    _sweep(folder)
    return out


def _sweep(folder: Path) -> None:
    """Remove files older than KEEP_S (their owners never came back)."""
    cutoff = time.time() - KEEP_S
    for path in folder.glob("*.json"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass
