"""Analyses ("what changed inside BERT?") in a worker process, never in the app's threads.

A small, separate pool: one `spawn`ed process (concurrent.futures) that keeps the pretrained
model and its features warm between analyses, and one multiprocessing queue that carries
progress back. The training pool (`serve.pool`) is left alone: an analysis is short, reads a
saved checkpoint, and needs none of the training pool's queueing or stop machinery.

    runner = AnalysisRunner()
    handle = runner.submit(record, checkpoint_dir)   # returns at once
    handle.progress()  # ("tuned model, val features", 64, 120), or None before it starts
    handle.result()    # ChangesResult when done, None while running; raises AnalysisError
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import os
import queue
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bertviz_lite.experiments.changes_result import ChangesResult
from bertviz_lite.record.runs import RunRecord
from bertviz_lite.serve.workers import bare_main

log = logging.getLogger(__name__)

_PROGRESS: Any = None  # the worker's end of the progress queue (set by _init)


class AnalysisError(RuntimeError):
    """An analysis that could not run; the message says why, in words for a student."""


def _init(progress: Any, threads: int) -> None:
    """Worker start-up: keep the progress queue, limit torch's threads."""
    global _PROGRESS
    _PROGRESS = progress
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(threads)


def _analyse(job_id: int, record: dict[str, Any], checkpoint: str | None,
             max_examples: int | None) -> dict[str, Any]:
    """Run in the worker: one analysis; returns the result's dict or {"error": message}."""
    from bertviz_lite.data.examples import DataError
    from bertviz_lite.engine.config import ConfigError
    from bertviz_lite.engine.models import ModelError
    from bertviz_lite.experiments.changes import analyse_changes

    def progress(what: str, done: int, total: int) -> None:
        _PROGRESS.put((job_id, what, done, total))

    try:
        result = analyse_changes(RunRecord.from_dict(record), checkpoint,
                                 max_examples=max_examples, on_progress=progress)
    except (ConfigError, DataError, ModelError, OSError) as err:
        return {"error": str(err)}
    return result.to_dict()


class AnalysisHandle:
    """One submitted analysis: its progress and, when finished, its result."""

    def __init__(self, runner: AnalysisRunner, job_id: int, future: Future) -> None:
        self.runner, self.id, self.future = runner, job_id, future

    def progress(self) -> tuple[str, int, int] | None:
        """The newest (what, done, total) the worker reported, or None."""
        return self.runner.latest(self.id)

    def done(self) -> bool:
        """True once the analysis finished (or failed)."""
        return self.future.done()

    def result(self) -> ChangesResult | None:
        """The analysis when done (None while running); AnalysisError when it failed."""
        if not self.future.done():
            return None
        try:
            out = self.future.result()
        except Exception as err:  # the process died, or an unexpected error
            log.warning("analysis failed", exc_info=err)
            raise AnalysisError(f"the analysis failed unexpectedly ({type(err).__name__}); it "
                                "was logged for the instructor") from None
        if "error" in out:
            raise AnalysisError(out["error"])
        return ChangesResult.from_dict(out)


class AnalysisRunner:
    """One warm worker process for analyses, started on the first submit."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = int(threads or max(1, (os.cpu_count() or 1) - 1))
        ctx = mp.get_context("spawn")
        self._queue = ctx.Queue()
        self._executor = ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_init,
                                             initargs=(self._queue, self.threads))
        self._ids = itertools.count(1)
        self._latest: dict[int, tuple[str, int, int]] = {}
        self._lock = threading.Lock()

    def submit(self, record: RunRecord, checkpoint: str | Path | None,
               max_examples: int | None = None) -> AnalysisHandle:
        """Queue one analysis of a run (its record and the folder of its saved model)."""
        job_id = next(self._ids)
        with bare_main():  # the executor starts its process on the first submit
            future = self._executor.submit(_analyse, job_id, record.to_dict(),
                                           str(checkpoint) if checkpoint else None,
                                           max_examples)
        return AnalysisHandle(self, job_id, future)

    def latest(self, job_id: int) -> tuple[str, int, int] | None:
        """Drain the progress queue; the newest report of one analysis."""
        with self._lock:
            while True:
                try:
                    jid, what, done, total = self._queue.get_nowait()
                except (queue.Empty, OSError, EOFError):
                    break
                self._latest[jid] = (what, done, total)
            return self._latest.get(job_id)

    def shutdown(self) -> None:
        """Stop the worker process."""
        self._executor.shutdown(wait=False, cancel_futures=True)
