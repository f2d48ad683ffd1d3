"""The pool's shared state and the few operations every part of it needs: hand queued runs to
idle workers, stop a run or one handle, finish a run.

`JobPool` (the public face), the `Dispatcher` thread and every `Job` handle share one
`PoolCore`; all its fields are read and written with `lock` held. It is also the `PoolSide`
a Job talks to.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from pathlib import Path
from typing import Any

from bertviz_lite.data.text import Limits
from bertviz_lite.record.runcache import RunCache
from bertviz_lite.record.runs import RunRecord
from bertviz_lite.serve.backend import LocalBackend, WorkerBackend
from bertviz_lite.serve.following import RunIndex
from bertviz_lite.serve.job import FINISHED, Job, Run
from bertviz_lite.serve.messages import JobRequest
from bertviz_lite.serve.scheduler import RunQueue
from bertviz_lite.serve.worker import WorkerOptions
from bertviz_lite.serve.workers import WorkerHandle, WorkerSlots, join_process

log = logging.getLogger("bertviz_lite.serve.pool")  # one log for the whole pool


class PoolCore:
    """State shared by the pool, its dispatcher thread and its job handles.

    The knobs `max_queue`, `abandon_after_s`, `cache` and `stop_timeout_s` may be changed
    while running (JobPool exposes them).
    """

    def __init__(self, max_workers: int, options: WorkerOptions, *, max_queue: int,
                 abandon_after_s: float, cache: RunCache | None, checkpoint_dir: Path | None,
                 limits: Limits, stop_timeout_s: float,
                 backend: WorkerBackend | None = None) -> None:
        self.lock = threading.RLock()
        self.backend: WorkerBackend = backend or LocalBackend()
        self.options = options
        self.limits = limits
        self.max_queue = max_queue
        self.abandon_after_s = abandon_after_s
        self.cache = cache
        self.stop_timeout_s = stop_timeout_s
        self.queue = RunQueue()
        self.slots = WorkerSlots(max_workers)
        self.index = RunIndex(checkpoint_dir)
        self.counts: collections.Counter[str] = collections.Counter()
        self.latency: collections.deque[float] = collections.deque(maxlen=500)
        self.started = False
        self.closing = False
        self.closed = False
        self._seq = itertools.count(1)

    def next_seq(self) -> int:
        return next(self._seq)

    # -- the PoolSide a Job talks to ------------------------------------------------------
    def position(self, run: Run) -> int | None:
        return self.queue.position(run)

    def eta(self, run: Run) -> float | None:
        return self.queue.eta(run, [w.run if w is not None else None for w in self.slots.handles])

    def stop_job(self, job: Job) -> None:
        """Stop one handle: alone when others still follow its run, else the run."""
        run = job.run
        if not job.attached or run is None or run.state in FINISHED:
            return
        job.request_stop()
        if any(h.attached and not h.stop_requested for h in run.handles):
            job.detach()  # others follow this run: only this handle stops
            return
        self.stop_run(run, "stopped by the user")

    # -- runs -----------------------------------------------------------------------------
    def stop_run(self, run: Run, why: str) -> None:
        """Stop a run: at once while queued, else ask its worker (confirmed within a step)."""
        if run.state in FINISHED:
            return
        self.index.forget(run)
        if run.state == "queued":
            self.queue.remove(run)
            self.finish(run, "stopped")
            log.info("run %d (%s) %s while queued", run.seq, run.owners(), why)
            return
        if run.stop_requested is None:
            run.stop_requested = time.monotonic()
            log.info("run %d (%s) %s", run.seq, run.owners(), why)
        self.signal_stop(run)

    def signal_stop(self, run: Run) -> None:
        """Tell the worker training `run` (if any) to stop it."""
        w = self.slots.at(run.slot)
        if w is not None and w.run is run:
            w.signal_stop(run.seq)

    def finish(self, run: Run, state: str, *, record: RunRecord | None = None, error: str = "",
               checkpoint: Path | None = None, result: dict[str, Any] | None = None) -> None:
        """Give a run its final state; every handle following it is done."""
        run.state = state
        run.record = record
        run.result = result
        run.error = error
        run.checkpoint = checkpoint
        run.finished = time.time()
        run.data = None
        self.index.forget(run)
        if state == "completed":
            self.queue.durations.learn(run)
        self.counts[state] += 1
        for h in run.handles:
            h.mark_done()

    def dispatch(self) -> None:
        """Hand queued runs to idle workers (warm ones first)."""
        if self.closing:
            return
        while len(self.queue):
            idle = self.slots.idle()
            if not idle:
                return
            w = max(idle, key=lambda x: x.warm)
            run = self.queue.pop()
            request = JobRequest(run.seq, run.config, run.data, self.limits,
                                 str(run.save_to) if run.save_to is not None else None,
                                 run.analysis)
            if not w.hand(request):
                self.queue.push_front(run)
                return
            run.slot, w.run = w.slot, run
            run.state = "starting"
            self.counts["peak_running"] = max(self.counts["peak_running"], self.slots.busy())
            if run.stop_requested is not None:
                self.signal_stop(run)

    # -- workers --------------------------------------------------------------------------
    def spawn_into(self, slot: int) -> None:
        """Start a worker for `slot` and install it (killed again when the pool is closing)."""
        w = self.backend.spawn(slot, self.options)
        with self.lock:
            stale = self.closing
            if not stale:
                self.slots.install(w)
                self.dispatch()
        if stale:
            w.process.kill()
            join_process(w.process, 2.0)
            w.close_channels()

    def worker_rows(self) -> list[dict[str, Any]]:
        """One row per slot for the instructor's status panel."""
        rows = []
        for slot, w in enumerate(self.slots.handles):
            if w is None:
                rows.append({"slot": slot, "pid": None, "alive": False, "warm": False,
                             "job": None, "models": []})
                continue
            rows.append({
                "slot": slot, "pid": w.pid or w.process.pid,
                "alive": not w.dead, "warm": w.warm,  # deaths: noticed by the dispatcher
                "job": w.run.handles[0].id if w.run is not None and w.run.handles else None,
                "models": list(w.models)})
        return rows

    def stats(self, *, dispatcher_alive: bool) -> dict[str, Any]:
        """Workers, runs and counters for an instructor's status panel (JobPool.stats)."""
        with self.lock:
            workers = self.worker_rows()
            lat = list(self.latency)
            counts = self.counts
            return {
                "max_workers": self.slots.size,
                "workers_alive": sum(1 for w in workers if w["alive"]),
                "running": self.slots.busy(),
                "queued": len(self.queue),
                "warm": [w["warm"] for w in workers],
                "workers": workers,
                "threads_per_job": self.options.threads,
                "worker_nice": self.options.nice,
                "backend": self.backend.name,
                "training_runs": counts["runs"],  # queued to train: not hits or followers
                "analyses": counts["analyses"],  # "what changed inside BERT?" jobs queued
                "cache_hits": counts["cache_hits"],
                "shared": counts["shared"],
                "completed": counts["completed"],
                "stopped": counts["stopped"],
                "diverged": counts["diverged"],
                "failed": counts["failed"],
                "abandoned": counts["abandoned"],
                "worker_restarts": counts["restarts"],
                "peak_running": counts["peak_running"],  # most runs training at once
                "event_latency_max_s": max(lat) if lat else None,
                "event_latency_mean_s": sum(lat) / len(lat) if lat else None,
                "dispatcher_alive": dispatcher_alive,
            }

    def workers(self) -> list[WorkerHandle]:
        """The installed worker handles, dead or alive."""
        return [w for w in self.slots.handles if w is not None]
