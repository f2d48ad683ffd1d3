"""Output locations of the CLI: checked before the first training step, and a safe place for
the record when saving still fails at the end, so no finished run is ever lost."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from bertviz_lite.record.fallback import fallback_dir, save_with_fallback

log = logging.getLogger(__name__)

SPECIAL_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))


__all__ = ["OutputError", "check_output_dir", "check_output_file", "fallback_dir",
           "save_with_fallback"]


class OutputError(OSError):
    """An output location that cannot be written; the message says what to use instead."""


def _special(path: Path) -> bool:
    resolved = path.resolve()
    return any(resolved == r or r in resolved.parents for r in SPECIAL_ROOTS)


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe(folder: Path, what: str, given: Path) -> None:
    """Create and remove a file in `folder`: the only reliable test of writability."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".bertviz-probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise OutputError(f"{what} {given}: cannot write in {folder} ({err.strerror or err}); "
                          "choose a folder you can write to") from None


def _check_ancestors(path: Path, what: str) -> None:
    """The folders above `path` exist as folders or can be made; the nearest existing one is
    writable."""
    if _special(path):
        raise OutputError(f"{what} {path}: {path.resolve().parts[1]!r} is a system folder, not a "
                          "place for files; choose another path")
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise OutputError(f"{what} {path}: {base} is a file, so nothing can be written under it; "
                          "choose another path")
    _probe(base, what, path)


def check_output_file(path: str | Path, what: str = "output file") -> Path:
    """Refuse, before any work, a file path that saving would fail on."""
    p = Path(path).expanduser()
    if str(path).strip() == "" or p.name in ("", ".", ".."):
        raise OutputError(f"{what} {str(path)!r} names no file; give a path like runs/run.json")
    if p.is_dir():
        raise OutputError(f"{what} {p} is a folder; give a file path such as {p / 'run.json'}")
    if p.exists() and not p.is_file():
        raise OutputError(f"{what} {p} exists and is not a regular file; choose another path")
    _check_ancestors(p, what)
    return p


def check_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """Refuse, before any work, a folder path that saving would fail on."""
    p = Path(path).expanduser()
    if str(path).strip() == "":
        raise OutputError(f"{what} is empty; give a folder path")
    if p.exists() and not p.is_dir():
        raise OutputError(f"{what} {p} is a file, not a folder; choose another path")
    if p.is_dir():
        if _special(p):
            raise OutputError(f"{what} {p} is a system folder, not a place for files")
        _probe(p, what, p)
    else:
        _check_ancestors(p / "x", what)
    return p
