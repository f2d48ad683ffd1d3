"""One training run for identical submissions: runs in flight by content key, finished ones
from the `RunCache`, and the trained models kept on disk for save_model submissions.

A submission whose key matches a queued or running run follows that run instead of training
it twice; one whose key matches a completed run in the cache gets that record at once. Not
thread-safe by itself: the pool calls it with its lock held (except `store`).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import weakref
from pathlib import Path

from bertviz_lite.record.runcache import RunCache
from bertviz_lite.record.runs import RunRecord
from bertviz_lite.serve.job import ACTIVE, Run

log = logging.getLogger("bertviz_lite.serve.pool")  # one log for the whole pool

MAX_SAVED = 200  # completed runs with a saved model remembered for identical save_model submits
MAX_CHECKPOINTS = 32  # trained models kept on disk (fine-tuned ones are ~90 MB each)


class RunIndex:
    """Runs by content key: in flight (to follow) and completed with a saved model.

    checkpoint_dir: where trained models go (None: a temporary folder removed at shutdown).
    """

    def __init__(self, checkpoint_dir: Path | None) -> None:
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self._inflight: dict[str, Run] = {}
        self._saved: dict[str, tuple[RunRecord, Path]] = {}  # key -> completed run with a model
        self._tmp: Path | None = None

    # -- runs in flight -------------------------------------------------------------------
    def leader(self, key: str | None, save_model: bool) -> Run | None:
        """A queued or running run with this key that a new submission can follow."""
        run = self._inflight.get(key) if key is not None else None
        if (run is not None and run.state in ACTIVE and run.stop_requested is None
                and (run.save_to is not None or not save_model)):
            return run
        return None

    def started(self, run: Run) -> None:
        """A new run was queued: identical submissions follow it from now on."""
        if run.key is not None:
            self._inflight[run.key] = run

    def forget(self, run: Run) -> None:
        """The run ended or is stopping: new submissions train afresh."""
        if run.key is not None and self._inflight.get(run.key) is run:
            del self._inflight[run.key]

    # -- finished runs --------------------------------------------------------------------
    def cached(self, cache: RunCache | None, key: str, save_model: bool
               ) -> tuple[RunRecord, Path | None] | None:
        """A completed run with this key in the cache (with its saved model on disk when
        save_model), or None. Reads files: call it without the pool lock."""
        if cache is None:
            return None
        hit = cache.get(key)
        saved = self._saved_on_disk(key) if save_model else None
        if hit is not None and hit.status == "completed" and (saved or not save_model):
            return hit, saved
        return None

    def saved(self, key: str) -> tuple[RunRecord, Path] | None:
        """A completed run of this pool with this key whose trained model is still on disk."""
        if key in self._saved:
            record, path = self._saved[key]
            if path.is_dir():
                return record, path
        return None

    def completed(self, run: Run, record: RunRecord, checkpoint: Path | None) -> None:
        """Remember a completed run's saved model; prune old models on disk."""
        if checkpoint is None:
            return
        if run.key is not None:
            self._saved[run.key] = (record, checkpoint)
            while len(self._saved) > MAX_SAVED:
                self._saved.pop(next(iter(self._saved)))
        if self.checkpoint_dir is not None:
            prune_checkpoints(self.checkpoint_dir, MAX_CHECKPOINTS)

    @staticmethod
    def store(cache: RunCache | None, record: RunRecord) -> None:
        """Put a completed run into the cache (a failure is logged, never raised)."""
        if cache is None or not record.key:
            return
        try:
            cache.put(record)
        except (OSError, ValueError) as err:
            log.warning("could not store run %s in the cache: %s", record.key, err)

    # -- trained models on disk -----------------------------------------------------------
    def _saved_on_disk(self, key: str) -> Path | None:
        """The trained model of a finished run with this key, kept on disk (shared storage
        survives restarts); None when there is none."""
        if self.checkpoint_dir is None:
            return None
        folder = self.checkpoint_dir / key
        return folder if (folder / "task.json").is_file() else None

    def checkpoint_root(self) -> Path:
        """The folder new trained models go into (made on first use)."""
        if self.checkpoint_dir is not None:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            return self.checkpoint_dir
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="bertviz-lite-models-"))
            weakref.finalize(self, shutil.rmtree, str(self._tmp), True)
        return self._tmp

    def remove_temporary(self) -> None:
        """Delete the temporary model folder (shutdown)."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


def prune_checkpoints(root: Path, keep: int) -> None:
    """Delete the oldest saved models beyond `keep` (a page that still needs one offers to
    train it again; nothing else depends on them)."""
    try:
        folders = sorted((p for p in root.iterdir() if p.is_dir()),
                         key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in folders[keep:]:
        shutil.rmtree(old, ignore_errors=True)
