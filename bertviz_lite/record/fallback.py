"""A safe place for a finished record (or model) when its own path fails at the end: the
work is never lost, and the one-line problem says where it went."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bertviz_lite.paths import home_dir

log = logging.getLogger(__name__)


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".bertviz-probe-")
        os.close(fd)
        os.unlink(tmp)
        return True
    except OSError:
        return False


def fallback_dir() -> Path:
    """Where a record goes when its own path fails: `<home>/unsaved/`, else the temp folder."""
    for folder in (home_dir() / "unsaved", Path(tempfile.gettempdir()) / "bertviz-lite-unsaved"):
        if _writable(folder):
            return folder
    return Path(tempfile.mkdtemp(prefix="bertviz-lite-unsaved-"))


def save_with_fallback(save: Callable[[Path], object], path: str | Path, stem: str,
                       what: str = "run record") -> tuple[Path, str | None]:
    """Call `save(path)`; if that fails, `save(fallback)`: (where it is, the one-line problem
    or None). Nothing finished is lost.

    stem: the fallback's name without a suffix, e.g. `sentiment-frozen`; the suffix of `path`
    is kept (none for a model folder, `.json` for a record).
    """
    target = Path(path)
    try:
        save(target)
        return target, None
    except OSError as err:
        first = err
    spare = _unused(fallback_dir(), f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}", target.suffix)
    save(spare)
    log.debug("could not write %s", target, exc_info=first)
    return spare, (f"could not write the {what} to {target} ({type(first).__name__}: "
                   f"{first.strerror or first}); nothing is lost: it was saved to {spare}")


def _unused(folder: Path, stem: str, suffix: str) -> Path:
    """`folder/stem+suffix`, or `stem-2`, `stem-3` ... when an earlier save took that name."""
    path, n = folder / f"{stem}{suffix}", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}{suffix}"
    return path


def write_text(path: Path, text: str) -> None:
    """Write a text file (UTF-8), making its folder first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def save_text_with_fallback(text: str, path: str | Path, stem: str, what: str) -> str | None:
    """Write `text` to `path`, or to the fallback folder when that fails (`save_with_fallback`);
    the one-line problem, or None when it went where it was asked."""
    return save_with_fallback(lambda p: write_text(p, text), path, stem, what)[1]
