"""A folder of finished run records, keyed by content (`config_hash(config, data fingerprint)`).

Several app processes may share one folder: a record is written to a temporary file in the
same folder and renamed into place (`RunRecord.save`), so a reader sees either no file or a
whole one. A file that cannot be read back (edited by hand, a disk error) is ignored and
logged, never raised to the page that asked.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path

from bertviz_lite.record.runs import RunRecord

log = logging.getLogger(__name__)

_KEY = re.compile(r"^[0-9a-f]{8,64}$")  # config_hash gives 16 hex digits
_TMP_PREFIX = ".run-"  # RunRecord.save writes .run-XXXX.json, then renames it
_TMP_MAX_AGE_S = 3600.0  # a writer that crashed before its rename left this behind


class RunCache:
    """Finished RunRecords in `folder`, one `<key>.json` each."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._warned: set[tuple[str, int]] = set()  # (key, mtime_ns) already logged as corrupt
        self._sweep_temporaries()

    def path(self, key: str) -> Path:
        """Where the record of `key` lives (the key is checked: no path tricks)."""
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValueError(f"not a run key (16 hex digits from config_hash): {key!r}")
        return self.folder / f"{key}.json"

    def get(self, key: str) -> RunRecord | None:
        """The stored record of `key`, or None (absent, unreadable or not a valid key)."""
        try:
            path = self.path(key)
        except ValueError:
            return None
        try:
            record = RunRecord.load(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
            self._warn_corrupt(key, path, f"{type(err).__name__}: {err}")
            return None
        if record.key != key:
            self._warn_corrupt(key, path, f"it holds the record of key {record.key!r}")
            return None
        return record

    def put(self, record: RunRecord) -> Path:
        """Store a record under `record.key` (atomic; the last writer of a key wins)."""
        if not record.key:
            raise ValueError("a record without a key cannot be cached (train() sets record.key)")
        return record.save(self.path(record.key))

    def keys(self) -> list[str]:
        """Keys of the stored records, sorted."""
        try:
            names = [p.name for p in self.folder.iterdir()]
        except FileNotFoundError:
            return []
        return sorted(n[:-5] for n in names if n.endswith(".json") and _KEY.match(n[:-5]))

    def __contains__(self, key: object) -> bool:
        try:
            return isinstance(key, str) and self.path(key).is_file()
        except ValueError:
            return False

    def __len__(self) -> int:
        return len(self.keys())

    def __repr__(self) -> str:
        return f"RunCache({str(self.folder)!r})"

    def _warn_corrupt(self, key: str, path: Path, why: str) -> None:
        """Log an unreadable record once per version of the file."""
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            stamp = 0
        with self._lock:
            if (key, stamp) in self._warned:
                return
            self._warned.add((key, stamp))
        log.warning("ignoring the unreadable cached run %s (%s); it will be trained again", path,
                    why)

    def _sweep_temporaries(self) -> None:
        """Remove temporary files that a crashed writer left (older than an hour)."""
        now = time.time()
        try:
            entries = list(self.folder.glob(f"{_TMP_PREFIX}*.json"))
        except OSError:
            return
        for p in entries:
            try:
                if now - p.stat().st_mtime > _TMP_MAX_AGE_S:
                    os.unlink(p)
            except OSError:
                pass
