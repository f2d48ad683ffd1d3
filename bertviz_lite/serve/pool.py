"""A pool of warm training worker processes for the app (and anything else that serves many users).

Training never runs in the app's threads (a step would stall every page): each worker is a
`spawn`ed process that loads the pretrained backbone(s) once, then takes one job at a time, runs
the one engine (`training.Trainer`) and streams its events back. The main process only keeps
handles:

    pool = JobPool(max_workers=2, cache=RunCache(folder)).start()  # returns at once
    job = pool.submit(config, owner=session_id)     # milliseconds; may raise QueueFull
    snap = job.snapshot(since_step=n)                # poll from the page (also keeps it alive)
    job.stop()                                       # the Stop button

How it fits together (one idea per module):
- `scheduler`: the queue of runs; a run goes to a worker only when that worker is idle, so
  never more than `max_workers` runs train at once and queue positions are exact.
- `workers`: the handles on the worker processes (spawn, hand a job, stop token, respawn
  back-off); `worker`: the code that runs inside them; `messages`: what they say, typed.
- `dispatcher`: one thread that waits on all pipes and process sentinels at once, hands each
  message to the core at once, notices dead workers, runs the watchdog's checks (stop runs
  nobody polls, the stop timeout) and respawns workers.
- `following`: identical submissions (same content key) follow the run already queued or
  running, and finished runs come from the `RunCache`.
- `core`: the state these share and every change to it, under one lock (the others only call
  its methods); `job`: the handle a page holds, and `JobResult`, how a job ended on its own.

Nothing here imports streamlit; the worker imports torch and transformers, the main side does
not need to.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bertviz_lite.data.examples import DataError, TaskData
from bertviz_lite.data.source import Upload
from bertviz_lite.data.text import DEFAULT_LIMITS, Limits
from bertviz_lite.engine.config import ConfigError, RunConfig, run_key
from bertviz_lite.record.runcache import RunCache
from bertviz_lite.record.runs import RunRecord
from bertviz_lite.serve.backend import WorkerBackend
from bertviz_lite.serve.core import UNEXPECTED, OwnerLimit, PoolCore, PoolSettings
from bertviz_lite.serve.dispatcher import Dispatcher
from bertviz_lite.serve.job import ACTIVE, FINISHED, STATES, Job, JobResult, JobSnapshot, QueueFull
from bertviz_lite.serve.messages import AnalysisSpec
from bertviz_lite.serve.settings import DEFAULT_WORKER_NICE
from bertviz_lite.serve.worker_handles import join_process
from bertviz_lite.serve.worker_process import WorkerOptions

log = logging.getLogger(__name__)

__all__ = ["ACTIVE", "FINISHED", "STATES", "Job", "JobPool", "JobResult", "JobSnapshot",
           "OwnerLimit", "QueueFull"]


def _knob(name: str) -> property:
    """A setting of the running pool, kept in its core's settings (may change while running)."""
    def get(self: JobPool) -> Any:
        return getattr(self._core.settings, name)

    def put(self: JobPool, value: Any) -> None:
        setattr(self._core.settings, name, value)

    return property(get, put, doc=f"The pool's {name} (may be changed while running).")


class JobPool:
    """Warm worker processes that train one job each; see the module docstring.

    max_workers: runs that may train at once (one process each).
    warm_models: backbones each worker loads at start ("bundled", a folder or a Hub id).
    threads_per_job: torch CPU threads per worker (default: (cores - 1) // max_workers, at
      least 1: one core stays free for the app server and the browser, which otherwise slow
      every step down; measured 0.52 s vs 0.36 s a step on 2 cores with a browser watching).
    max_queue: queued runs at most; beyond that `submit` raises QueueFull.
    abandon_after_s: a job nobody touched for this long is stopped (the tab is gone).
    cache: finished runs by content key (hits return at once; completed runs are stored).
    checkpoint_dir: where save_model=True puts trained models (default: a temporary folder
    removed at shutdown).
    limits: data limits for reading data in the workers (and the size check of the files a
    run's key fingerprints here).
    stop_timeout_s: a worker that has not confirmed a stop after this long is killed and
    replaced (one step of a big model must never hold a slot hostage).
    worker_nice: added to each worker's CPU niceness, so the web server drawing pages runs
    first (0: same priority as the app).
    backend: where the workers run (`serve.backend`: local processes by default, or Ray
    actors on a cluster); the rest of the pool is the same code for both.
    max_per_owner: runs one owner (submit's `owner`) may have queued or training at once;
    beyond that `submit` raises OwnerLimit, a QueueFull (None: no limit).
    time_limit_s: a run that has trained this long is stopped, its steps kept, its record's
    reason saying so (None: no limit).
    interrupted_dir: where a shutdown keeps the steps of the runs it stopped, for their
    owners (`serve.interrupted`; None: not kept).

    `max_queue`, `max_per_owner`, `time_limit_s`, `abandon_after_s`, `cache` and
    `stop_timeout_s` may be changed while running.
    """

    max_queue = _knob("max_queue")
    max_per_owner = _knob("max_per_owner")
    time_limit_s = _knob("time_limit_s")
    abandon_after_s = _knob("abandon_after_s")
    cache = _knob("cache")
    stop_timeout_s = _knob("stop_timeout_s")

    def __init__(self, max_workers: int = 1, *, warm_models: Iterable[str] = ("bundled",),
                 threads_per_job: int | None = None, max_queue: int = 50,
                 abandon_after_s: float = 90.0, cache: RunCache | None = None,
                 checkpoint_dir: Path | None = None, limits: Limits = DEFAULT_LIMITS,
                 stop_timeout_s: float = 60.0, worker_nice: int = DEFAULT_WORKER_NICE,
                 backend: WorkerBackend | None = None,
                 feature_cache_mb: float = 2048.0, max_per_owner: int | None = None,
                 time_limit_s: float | None = None,
                 interrupted_dir: Path | None = None) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1; got {max_workers}")
        if max_queue < 0:
            raise ValueError(f"max_queue must be 0 or more; got {max_queue}")
        self.max_workers = int(max_workers)
        self.warm_models = tuple(warm_models)
        cores = os.cpu_count() or 1
        self.threads_per_job = int(threads_per_job or max(1, (cores - 1) // max_workers))
        self.limits = limits
        options = WorkerOptions(self.warm_models, self.threads_per_job, int(worker_nice),
                                float(feature_cache_mb))
        settings = PoolSettings(max_queue, abandon_after_s, cache, stop_timeout_s,
                                max_per_owner, time_limit_s)
        self._core = PoolCore(self.max_workers, options, settings,
                              checkpoint_dir=checkpoint_dir, limits=limits, backend=backend,
                              interrupted_dir=interrupted_dir)
        self._dispatcher = Dispatcher(self._core)

    @property
    def checkpoint_dir(self) -> Path | None:
        """Where trained models are kept (None: a temporary folder)."""
        return self._core.checkpoint_dir

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> JobPool:
        """Start the workers and the dispatcher; returns at once (workers warm up meanwhile)."""
        if not self._core.open():
            return self
        self._core.spawn_all()
        self._dispatcher.start()
        log.info("job pool started: %d worker(s), %d thread(s) each, warm models %s",
                 self.max_workers, self.threads_per_job, list(self.warm_models))
        return self

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every job, end the workers (killing any that do not exit in `timeout`)."""
        workers = self._core.close()
        if workers is None:
            return
        for w in workers:
            w.ask_exit()
        deadline = time.monotonic() + timeout
        for w in workers:
            join_process(w.process, deadline - time.monotonic())
        for w in workers:
            w.end(2.0)
        # the dispatcher routes the last messages (stopped records) and notices the exits
        end = time.monotonic() + 3.0
        while self._dispatcher.alive() and time.monotonic() < end:
            if self._core.all_dead(workers):
                break
            time.sleep(0.02)
        self._core.mark_closed(workers)
        self._dispatcher.join(5.0)
        self._core.release(workers)
        log.info("job pool shut down")

    def __enter__(self) -> JobPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- public API -----------------------------------------------------------------------
    def submit(self, config: RunConfig, *, data: TaskData | Upload | None = None,
               owner: str = "", save_model: bool = False, fresh: bool = False) -> Job:
        """Queue a training run and return its handle at once (milliseconds: the data is never
        parsed here; an `Upload` travels as its bytes and the worker parses it).

        With a cache: an identical finished run returns a "cached" job; an identical run that
        is queued or running is followed instead of trained twice. fresh=True trains again
        even when the cache holds the run ("Train anyway" on the stage: a rehearsal must not
        spoil the live demo). Raises QueueFull when `max_queue` runs are already waiting.
        """
        if not isinstance(config, RunConfig):
            raise TypeError(f"submit() needs a RunConfig, not {type(config).__name__}")
        self._core.check_open()
        self.start()
        try:
            key = self._content_key(config, data)
        except (DataError, ConfigError) as err:
            return self._core.ended(config, owner, JobResult("failed", error=str(err)))
        except Exception as err:
            log.error("fingerprinting data for %s failed:\n%s", config.task,
                      traceback.format_exc())
            return self._core.ended(config, owner, JobResult(
                "failed", error=UNEXPECTED.format(type(err).__name__)))
        hit = None if fresh else self._core.cached(config, owner, key, save_model)
        if hit is not None:
            return hit
        return self._core.enter(config, owner, key, data, save_model)

    def saved_model(self, config: RunConfig) -> tuple[RunRecord, Path] | None:
        """The trained model of a finished run of exactly this configuration (bundled or named
        data), if any session trained one with save_model: shared by every session, so a page
        that needs "the fine-tuned model of this task" reuses it instead of training its own.
        None when there is none (nothing is started). Milliseconds: reads no data."""
        try:
            key = self._content_key(config, None)
        except (DataError, ConfigError):
            return None
        return self._core.saved_model(key) if key is not None else None

    def submit_analysis(self, record: RunRecord, checkpoint: str | Path | None = None, *,
                        owner: str = "", max_examples: int | None = None) -> Job:
        """Queue a "what changed inside BERT?" analysis of a finished run and return its
        handle at once (`experiments.changes.analyse_changes` in a worker, on its warm model).

        It waits in the same queue as training runs, counts against `max_workers` and
        `max_queue`, reports progress (snapshot().progress, phase "analyse"), stops on
        `job.stop()`, and ends with `job.result` (ChangesResult.to_dict()). checkpoint: the
        folder of the run's saved model (None for a frozen run). Raises QueueFull.
        """
        if not isinstance(record, RunRecord):
            raise TypeError(f"submit_analysis() needs a RunRecord, not {type(record).__name__}")
        try:
            config = RunConfig.from_dict(record.config)
        except (ConfigError, TypeError, ValueError) as err:
            return self._core.ended(RunConfig(), owner, JobResult(
                "failed", error=f"not a run record this version can analyse: {err}"))
        spec = AnalysisSpec(record.to_dict(), str(checkpoint) if checkpoint else None,
                            max_examples)
        self._core.check_open()
        self.start()
        return self._core.enter(config, owner, None, None, False, analysis=spec)

    def _content_key(self, config: RunConfig, data: TaskData | Upload | None) -> str | None:
        """The run's content key (None when it cannot be known before training), from the
        bytes of an upload or of the files the config names, never parsed (`config.run_key`;
        the bundled sets are hashed once). Without a cache, data the config names is not
        fingerprinted. Hub data would need the network in the page's thread, so it is only
        cached after training.
        """
        if data is None and self._core.settings.cache is None:
            return None
        return run_key(config, data, self.limits)

    def stats(self) -> dict[str, Any]:
        """Workers, runs and counters for an instructor's status panel."""
        return self._core.stats(dispatcher_alive=self._dispatcher.alive())
