"""A dataset's fingerprint for a run's key, known without parsing it.

Parsing a large file takes seconds; a page must never wait for it. So the key of a run names
its data by the bytes it will be read from (a streamed SHA-256 of each file, remembered per
file version: the bundled sets are hashed once per process), and the rows a run takes are
named by the config fields that select them (`max_train`, `max_eval`, `seed`: part of the
config's own hash). An upload travels as its bytes (`Upload`) and is parsed where the run
trains. Identical bytes give the same key, whatever the file is called; different bytes never do.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from bertviz_lite.data.examples import TaskData
from bertviz_lite.data.load import parse_upload, resolve_files
from bertviz_lite.data.text import DEFAULT_LIMITS, Limits, checked_size

CHUNK_BYTES = 1 << 20  # read and hashed one MiB at a time
FINGERPRINT_VERSION = "files-v1"  # names this way of fingerprinting inside every key


@dataclass(frozen=True)
class Upload:
    """An uploaded training file as its bytes; `load()` parses it (where the run trains).

    name: the file's name (only its suffix, which chooses the format, is part of the
    fingerprint); limits: what the parser accepts.
    """

    task: str
    name: str
    raw: bytes = field(repr=False)
    limits: Limits = DEFAULT_LIMITS

    def fingerprint(self) -> str:
        """SHA-256 of the bytes, the task and the format's suffix (16 hex digits)."""
        h = hashlib.sha256(f"{FINGERPRINT_VERSION}|upload|{self.task}|"
                           f"{Path(self.name).suffix.lower()}|".encode())
        view = memoryview(self.raw)
        for start in range(0, len(view), CHUNK_BYTES):
            h.update(view[start:start + CHUNK_BYTES])
        return h.hexdigest()[:16]

    def load(self) -> TaskData:
        """The parsed examples, with a held-out validation part (`data.load.parse_upload`)."""
        return parse_upload(self.task, self.name, self.raw, self.limits)


def file_digest(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> str:
    """SHA-256 of a local file's bytes, streamed; computed once per version of the file (its
    path, size and modification time). DataError when it is missing or over the limits."""
    p = Path(path).resolve()
    size = checked_size(p, limits)
    return _digest(str(p), size, p.stat().st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def files_fingerprint(task: str, data: str = "bundled", train_file: str | None = None,
                      eval_file: str | None = None, limits: Limits = DEFAULT_LIMITS
                      ) -> str | None:
    """The data part of a run's key for data read from files (bundled, a folder, a file),
    from the bytes of the files `load_task_data` will read, never parsed (16 hex digits).
    None for Hub data (known only once downloaded). DataError when a file is missing."""
    if train_file is None and data.startswith("hub:"):
        return None
    train, val, _ = resolve_files(task, data, train_file, eval_file)
    parts = [FINGERPRINT_VERSION, "files", task, file_digest(train, limits),
             file_digest(val, limits) if val is not None else "held-out"]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def data_fingerprint(task: str, data: str, train_file: str | None, eval_file: str | None,
                     given: TaskData | Upload | None, limits: Limits = DEFAULT_LIMITS
                     ) -> str | None:
    """The data part of a run's key without parsing anything: an upload's bytes, examples
    already in memory (their content hash), or the files the settings name. None when it
    cannot be known before the data is read (the Hub)."""
    if given is not None:
        return given.fingerprint()
    return files_fingerprint(task, data, train_file, eval_file, limits)
