"""The pool's state and every change to it, under one lock: runs entering (queued, followed or
answered from the cache), handed to idle workers, stopped and finished, and what workers say
and do (messages, deaths, the watchdog's checks).

`JobPool` (the public face), the `Dispatcher` thread (the pipes and processes) and every `Job`
handle share one `PoolCore` and only call its methods; its fields are private. It is also the
`PoolSide` a Job talks to.
"""

from __future__ import annotations

import collections
import itertools
import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertviz_lite.data.examples import TaskData
from bertviz_lite.data.source import Upload
from bertviz_lite.data.text import Limits
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.record.runcache import RunCache
from bertviz_lite.record.runs import RunRecord
from bertviz_lite.serve.backend import LocalBackend, WorkerBackend
from bertviz_lite.serve.following import RunIndex
from bertviz_lite.serve.job import ACTIVE, FINISHED, Job, JobResult, QueueFull, Run
from bertviz_lite.serve.messages import (
    Analysed,
    AnalysisSpec,
    Begin,
    Done,
    Failed,
    Hello,
    JobRequest,
    Models,
    Ready,
    Warm,
    WarmError,
    WorkerMessage,
    event_of,
)
from bertviz_lite.serve.scheduler import RunQueue
from bertviz_lite.serve.worker_handles import WorkerHandle, WorkerSlots, join_process
from bertviz_lite.serve.worker_process import WorkerOptions

log = logging.getLogger("bertviz_lite.serve.pool")  # one log for the whole pool

WARM_UP_GRACE_S = 600.0  # a stop sent while the worker warms up: extra time before it is killed
MAX_REQUEUES = 2  # a run whose worker died before starting it goes back to the queue this often
UNEXPECTED = "Training failed unexpectedly ({}); the error was logged for the instructor"
DIED = "The training process stopped unexpectedly (exit code {})"
OOM_HINT = (". It was killed, most often because the machine ran out of memory: try a smaller "
            "batch size, max_length or model")
SHUTDOWN = "The server shut down before the run finished."
TIME_LIMIT = ("Stopped after {minutes}: this server lets one run train for at most {minutes} "
              "(job_time_limit_s), so that everyone gets a turn. The steps so far are kept; "
              "fewer epochs or examples finish in time.")


class OwnerLimit(QueueFull):
    """One student already has as many runs queued or training as the server allows."""


def minutes_text(seconds: float) -> str:
    """90 -> "1.5 min", 600 -> "10 min", 45 -> "45 s"."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f}".rstrip("0").rstrip(".") + " min"


@dataclass
class PoolSettings:
    """The pool's settings that may be changed while it runs (JobPool exposes them).

    max_queue: queued runs at most; abandon_after_s: a run nobody polled for this long is
    stopped; cache: finished runs by content key (None: no cache); stop_timeout_s: a worker
    that has not confirmed a stop after this long is killed; max_per_owner: runs one owner
    (a student's browser or sign-in) may have queued or training; time_limit_s: the longest
    a run may train (wall clock from its start; its steps so far are kept).
    """

    max_queue: int
    abandon_after_s: float
    cache: RunCache | None
    stop_timeout_s: float
    max_per_owner: int | None = None  # runs one owner may have queued or training (None: any)
    time_limit_s: float | None = None  # a run that has trained this long is stopped


class PoolCore:
    """State shared by the pool, its dispatcher thread and its job handles (see the module)."""

    def __init__(self, max_workers: int, options: WorkerOptions, settings: PoolSettings, *,
                 checkpoint_dir: Path | None, limits: Limits,
                 backend: WorkerBackend | None = None,
                 interrupted_dir: Path | None = None) -> None:
        self.lock = threading.RLock()
        self._interrupted_dir = interrupted_dir  # runs a shutdown cut short are kept here
        self.settings = settings
        self._backend: WorkerBackend = backend or LocalBackend()
        self._options = options
        self._limits = limits
        self._queue = RunQueue()
        self._slots = WorkerSlots(max_workers)
        self._index = RunIndex(checkpoint_dir)
        self._counts: collections.Counter[str] = collections.Counter()
        self._latency: collections.deque[float] = collections.deque(maxlen=500)
        self._started = self._closing = self._closed = False
        self._seq = itertools.count(1)

    @property
    def checkpoint_dir(self) -> Path | None:
        """Where trained models are kept (None: a temporary folder)."""
        return self._index.checkpoint_dir

    # -- the PoolSide a Job talks to (lock held) ------------------------------------------
    def position(self, run: Run) -> int | None:
        return self._queue.position(run)

    def eta(self, run: Run) -> float | None:
        return self._queue.eta(run, [w.run if w is not None else None
                                     for w in self._slots.handles], self.settings.time_limit_s)

    def stop_job(self, job: Job) -> None:
        """Stop one handle: alone when others still follow its run, else the run."""
        run = job.run
        if not job.attached or run is None or run.state in FINISHED:
            return
        job.request_stop()
        if any(h.attached and not h.stop_requested for h in run.handles):
            job.detach()  # others follow this run: only this handle stops
            return
        self._stop_run(run, "stopped by the user")

    # -- lifecycle (JobPool) --------------------------------------------------------------
    def open(self) -> bool:
        """Mark the pool started; True the first time (then start the workers)."""
        with self.lock:
            if self._closing:
                raise RuntimeError("this job pool has been shut down; make a new one")
            first, self._started = not self._started, True
            return first

    def check_open(self) -> None:
        """Raise RuntimeError once the pool is shutting down."""
        with self.lock:
            if self._closing:
                raise RuntimeError("this job pool has been shut down")

    def close(self) -> list[WorkerHandle] | None:
        """Begin shutting down: queued runs stop, running ones are asked to stop. Returns
        the workers to end (None when the pool was already closing)."""
        with self.lock:
            if self._closing:
                return None
            self._closing = True
            for run in list(self._queue):
                self._queue.remove(run)
                self._finish(run, "stopped", error="")
            workers = self._workers()
            for w in workers:
                if w.run is not None:
                    self._signal_stop(w.run)
            return workers

    def all_dead(self, workers: list[WorkerHandle]) -> bool:
        """True once the dispatcher has noticed that every one of `workers` is gone."""
        with self.lock:
            return all(w.dead for w in workers)

    def mark_closed(self, workers: list[WorkerHandle]) -> None:
        """The dispatcher may end; runs still active end "stopped" (shutdown)."""
        with self.lock:
            self._closed = True
            for w in workers:
                if w.run is not None and w.run.state in ACTIVE:
                    self._finish(w.run, "stopped", error=SHUTDOWN)
                    w.run = None

    def release(self, workers: list[WorkerHandle]) -> None:
        """Close every channel, empty the slots, remove temporary models, close the backend."""
        for w in workers:
            w.close_channels()
        with self.lock:
            self._slots.clear()
        self._index.remove_temporary()
        self._backend.close()

    def spawn_all(self) -> None:
        """Start a worker in every slot."""
        for slot in range(self._slots.size):
            self.spawn_into(slot)

    # -- runs entering (JobPool) ----------------------------------------------------------
    def cached(self, config: RunConfig, owner: str, key: str | None, save_model: bool
               ) -> Job | None:
        """A "cached" job when the run cache holds a completed run with this key (with its
        saved model when save_model). Reads files: call it without the lock."""
        hit = self._index.cached(self.settings.cache, key, save_model) if key else None
        if hit is None:
            return None
        return self.ended(config, owner, JobResult("cached", record=hit[0], checkpoint=hit[1]))

    def saved_model(self, key: str) -> tuple[RunRecord, Path] | None:
        """A completed run with this key whose trained model is on disk: one of this pool's,
        or one in the shared cache with its model in the checkpoint folder. Reads files."""
        with self.lock:
            saved = self._index.saved(key)
        if saved is not None:
            return saved
        hit = self._index.cached(self.settings.cache, key, True)
        return (hit[0], hit[1]) if hit is not None and hit[1] is not None else None

    def ended(self, config: RunConfig, owner: str, result: JobResult) -> Job:
        """A job that ended at once ("cached" or "failed"), counted."""
        with self.lock:
            self._counts["cache_hits" if result.state == "cached" else result.state] += 1
        return Job(self, config, owner, ended=result)

    def enter(self, config: RunConfig, owner: str, key: str | None,
              data: TaskData | Upload | None, save_model: bool,
              analysis: AnalysisSpec | None = None) -> Job:
        """A new submission: a saved model of this key, a run with this key to follow, or a
        new run at the end of the queue. Raises QueueFull, or RuntimeError when closing."""
        with self.lock:
            if self._closing:
                raise RuntimeError("this job pool has been shut down")
            saved = self._index.saved(key) if key is not None and save_model else None
            if saved is not None:
                self._counts["cache_hits"] += 1
                return Job(self, config, owner, ended=JobResult(
                    "cached", record=saved[0], checkpoint=saved[1]))
            leader = self._index.leader(key, save_model)
            if leader is not None:
                job = Job(self, config, owner, leader)
                leader.handles.append(job)
                self._counts["shared"] += 1
                return job
            return self._queue_run(config, owner, key, data, save_model, analysis)

    def _queue_run(self, config: RunConfig, owner: str, key: str | None,
                   data: TaskData | Upload | None, save_model: bool,
                   analysis: AnalysisSpec | None) -> Job:
        """A new run (or analysis) at the end of the queue (lock held); raises QueueFull, or
        OwnerLimit when this owner already has `max_per_owner` runs queued or training."""
        limit = self.settings.max_per_owner
        if owner and limit is not None:
            mine = self.owned(owner)
            if mine >= limit:
                raise OwnerLimit(
                    f"You already have {mine} run{'s' if mine != 1 else ''} queued or training, "
                    f"the most this server allows one student at once ({limit}): wait for one "
                    "to finish, or stop one, then try again.")
        if self._queue.full(self.settings.max_queue, len(self._slots.idle())):
            raise QueueFull(f"The class server is busy: {len(self._queue)} jobs are waiting. "
                            "Try again in a minute.")
        threads = self._options.threads
        sent = config.replace(threads=threads) if config.threads and config.threads > threads \
            else config
        run = Run(next(self._seq), key, sent, data, None, time.time(), analysis=analysis)
        job = Job(self, config, owner, run)
        run.handles.append(job)
        if save_model:  # content-addressed when possible: a restart finds it again
            run.save_to = self._index.checkpoint_root() / (key or job.id)
        self._index.started(run)
        self._queue.push(run)
        self._counts["runs" if analysis is None else "analyses"] += 1
        self._dispatch()
        return job

    def owned(self, owner: str) -> int:
        """Runs queued or training that `owner` started (following another's run is free)."""
        runs = list(self._queue) + [w.run for w in self._workers() if w.run is not None]
        return sum(1 for r in runs if r.state in ACTIVE and r.handles
                   and r.handles[0].owner == owner and r.stop_requested is None)

    # -- what workers say and do (Dispatcher) ---------------------------------------------
    def live_workers(self) -> list[WorkerHandle] | None:
        """Workers not known to be dead; None once the pool is closed (the dispatcher ends)."""
        with self.lock:
            return None if self._closed else self._slots.live()

    def store(self, record: RunRecord) -> None:
        """Put a completed run into the run cache before anyone sees it finished (no lock:
        writes a file; a submit meanwhile follows the run)."""
        if record.status == "completed":
            RunIndex.store(self.settings.cache, record)

    def on_message(self, w: WorkerHandle, msg: WorkerMessage, record: RunRecord | None) -> None:
        """Apply one worker message; `record`: the RunRecord of a Done."""
        with self.lock:
            run = w.run
            if isinstance(msg, (Done, Analysed, Failed)):
                if run is not None and run.seq == msg.seq:
                    w.run = None
                    if run.state in ACTIVE:
                        self._ended(w, run, msg, record)
                    self._dispatch()
            elif isinstance(msg, Begin):
                if run is not None and run.seq == msg.seq and run.started is None:
                    run.started = time.time()
            elif isinstance(msg, (Hello, Warm, WarmError, Models, Ready)):
                self._warm_up(w, msg)
            elif run is not None and run.seq == msg.seq and run.state not in FINISHED:
                self._latency.append(max(0.0, time.time() - msg.sent))
                run.add_event(event_of(msg))

    def _warm_up(self, w: WorkerHandle, msg: Hello | Warm | WarmError | Models | Ready) -> None:
        if isinstance(msg, Hello):
            w.pid = msg.pid
        elif isinstance(msg, Warm):
            log.info("worker %d loaded %s in %.1f s", w.slot, msg.model, msg.seconds)
        elif isinstance(msg, WarmError):
            log.warning("worker %d could not load warm model %s: %s", w.slot, msg.model,
                        msg.error)
        elif isinstance(msg, Models):
            w.models = list(msg.names)
        else:
            self._slots.warmed(w)
            self._dispatch()

    def _ended(self, w: WorkerHandle, run: Run, msg: Done | Analysed | Failed,
               record: RunRecord | None) -> None:
        if isinstance(msg, Analysed):
            self._finish(run, msg.status, result=msg.result)
            return
        if isinstance(msg, Done):
            record = record or RunRecord.from_dict(msg.record)
            checkpoint = Path(msg.checkpoint) if msg.checkpoint else None
            if record.status == "stopped" and run.stop_reason:
                record.reason = run.stop_reason  # the server stopped it, not the student
            self._finish(run, record.status, record=record, error=msg.note,
                         checkpoint=checkpoint)
            if record.status == "completed":
                self._index.completed(run, record, checkpoint)
            return
        message = msg.message
        if not message:
            log.error("run %d (%s) failed in worker %d:\n%s", run.seq, run.owners(), w.slot,
                      msg.traceback)
            message = UNEXPECTED.format(msg.exc_type)
        self._finish(run, "failed", error=message)

    def on_death(self, w: WorkerHandle) -> bool:
        """A worker process is gone: end (or requeue) its run, plan a fresh worker. False
        when this death was handled before."""
        with self.lock:
            if w.dead:
                return False
            w.dead = True
            code = w.process.exitcode
            run, w.run = w.run, None
            delay = self._slots.vacate(w)
            if self._closing:
                if run is not None and run.state in ACTIVE:
                    self._finish(run, "stopped", error=SHUTDOWN)
                return True
            self._counts["restarts"] += 1
            log.warning("worker %d (pid %s) exited with code %s%s; %s", w.slot, w.pid, code,
                        f" while running run {run.seq}" if run else "",
                        f"restarting it in {delay:.0f} s" if delay else "restarting it")
            if run is not None and run.state in ACTIVE:
                self._orphaned(run, code)
            return True

    def _orphaned(self, run: Run, code: int | None) -> None:
        """The worker of an active run died: stopped, back to the queue, or failed."""
        if run.stop_requested is not None:  # killed for not confirming: keep its steps
            self._finish(run, "stopped", error=run.stop_reason, record=self._stopped_record(run))
        elif run.started is None and run.requeues < MAX_REQUEUES:
            run.requeues += 1  # it never began: give it to the next worker
            run.slot, run.state = None, "queued"
            self._queue.push_front(run)
        else:
            msg = DIED.format(code) + (OOM_HINT if code == -signal.SIGKILL else "")
            self._finish(run, "failed", error=msg)

    @staticmethod
    def _stopped_record(run: Run) -> RunRecord | None:
        """The record of a training run stopped without its worker's Done: its steps so far
        (None for an analysis or a run that never reached a step)."""
        if run.analysis is not None or not run.steps:
            return None
        record = RunRecord.partial(run.config.to_dict(), run.ready, run.steps, run.evals)
        last = run.steps[-1].step
        record.status = "stopped"
        record.reason = run.stop_reason or (f"Stopped by the user after step {last}; its "
                                            "training process did not answer and was ended.")
        return record

    def watch(self, now: float) -> tuple[list[WorkerHandle], list[int]]:
        """The watchdog: stop runs nobody polls, dispatch; returns the workers to kill (a
        stop not confirmed in time) and the empty slots due a fresh worker."""
        with self.lock:
            if self._closing:
                return [], []
            runs = list(self._queue) + [w.run for w in self._workers() if w.run is not None]
            kill = [w for run in runs if (w := self._stuck(run, now)) is not None]
            self._time_limit(runs, time.time())
            for run in runs:
                if run.stop_requested is None and self._abandoned(run, now):
                    self._counts["abandoned"] += 1
                    log.warning("run %d (%s, %s) was not polled for %.0f s: stopping it (the "
                                "browser tab is gone)", run.seq, run.owners(),
                                run.config.task + "/" + run.config.mode,
                                self.settings.abandon_after_s)
                    self._stop_run(run, "abandoned")
            respawn = self._slots.due(now)
            self._dispatch()
            return kill, respawn

    def _time_limit(self, runs: list[Run], now: float) -> None:
        """Stop the runs that have trained for `time_limit_s` (wall clock from their start)."""
        limit = self.settings.time_limit_s
        if not limit:
            return
        for run in runs:
            if run.started is not None and run.stop_requested is None \
                    and run.state in ACTIVE and now - run.started > limit:
                self._counts["time_limited"] += 1
                run.stop_reason = TIME_LIMIT.format(minutes=minutes_text(limit))
                self._stop_run(run, f"reached the time limit of {limit:.0f} s")

    def _stuck(self, run: Run, now: float) -> WorkerHandle | None:
        """The worker to kill when `run` has not confirmed its stop within stop_timeout_s."""
        if run.stop_requested is None:
            return None
        w = self._slots.at(run.slot)
        if w is None or w.run is not run or w.dead or w.kill_sent:
            return None
        limit = self.settings.stop_timeout_s
        if w.warm_at is None:  # still loading torch and the model: it reads the stop after
            limit += WARM_UP_GRACE_S
            since = run.stop_requested
        else:  # the clock runs from when the worker could first read the stop
            since = max(run.stop_requested, w.warm_at)
        if now - since <= limit:
            return None
        log.warning("run %d did not stop within %.0f s; killing worker %d", run.seq, limit,
                    w.slot)
        w.kill_sent = True
        return w

    def _abandoned(self, run: Run, now: float) -> bool:
        """Every handle still following the run has not been polled for abandon_after_s."""
        watching = [h for h in run.handles if h.attached]
        limit = self.settings.abandon_after_s
        return bool(watching) and all(now - h.last_touch > limit for h in watching)

    def spawn_into(self, slot: int) -> None:
        """Start a worker for `slot` and install it (killed again when the pool is closing)."""
        w = self._backend.spawn(slot, self._options)
        with self.lock:
            stale = self._closing
            if not stale:
                self._slots.install(w)
                self._dispatch()
        if stale:
            w.process.kill()
            join_process(w.process, 2.0)
            w.close_channels()

    def retry_spawn(self, slot: int, after_s: float) -> None:
        """Starting a worker for `slot` failed: try again in `after_s` seconds."""
        with self.lock:
            self._slots.retry(slot, after_s)

    # -- runs (lock held) -----------------------------------------------------------------
    def _stop_run(self, run: Run, why: str) -> None:
        """Stop a run: at once while queued, else ask its worker (confirmed within a step)."""
        if run.state in FINISHED:
            return
        self._index.forget(run)
        if run.state == "queued":
            self._queue.remove(run)
            self._finish(run, "stopped", error=run.stop_reason)
            log.info("run %d (%s) %s while queued", run.seq, run.owners(), why)
            return
        if run.stop_requested is None:
            run.stop_requested = time.monotonic()
            log.info("run %d (%s) %s", run.seq, run.owners(), why)
        self._signal_stop(run)

    def _signal_stop(self, run: Run) -> None:
        """Tell the worker training `run` (if any) to stop it."""
        w = self._slots.at(run.slot)
        if w is not None and w.run is run:
            w.signal_stop(run.seq)

    def _finish(self, run: Run, state: str, *, record: RunRecord | None = None,
                error: str = "", checkpoint: Path | None = None,
                result: dict[str, Any] | None = None) -> None:
        """Give a run its final state; every handle following it is done."""
        run.state = state
        run.record = record
        run.result = result
        run.error = error
        run.checkpoint = checkpoint
        run.finished = time.time()
        run.data = None
        if self._closing and state == "stopped" and run.analysis is None:
            self._keep_interrupted(run)
        self._index.forget(run)
        if state == "completed":
            self._queue.durations.learn(run)
        self._counts[state] += 1
        for h in run.handles:
            h.mark_done()

    def _keep_interrupted(self, run: Run) -> None:
        """A shutdown stopped this run: keep its steps so far for the students who started
        or followed it (their page says so after the restart)."""
        if self._interrupted_dir is None or not run.steps:
            return
        record = run.record or RunRecord.partial(run.config.to_dict(), run.ready, run.steps,
                                                 run.evals)
        from bertviz_lite.serve.interrupted import keep

        keep(self._interrupted_dir, [h.owner for h in run.handles if h.attached], record)

    def _dispatch(self) -> None:
        """Hand queued runs to idle workers (warm ones first)."""
        if self._closing:
            return
        while len(self._queue):
            idle = self._slots.idle()
            if not idle:
                return
            w = max(idle, key=lambda x: x.warm)
            run = self._queue.pop()
            request = JobRequest(run.seq, run.config, run.data, self._limits,
                                 str(run.save_to) if run.save_to is not None else None,
                                 run.analysis)
            if not w.hand(request):
                self._queue.push_front(run)
                return
            run.slot, w.run = w.slot, run
            run.state = "starting"
            self._counts["peak_running"] = max(self._counts["peak_running"], self._slots.busy())
            if run.stop_requested is not None:
                self._signal_stop(run)

    def _workers(self) -> list[WorkerHandle]:
        """The installed worker handles, dead or alive."""
        return [w for w in self._slots.handles if w is not None]

    # -- the instructor's status panel ----------------------------------------------------
    def stats(self, *, dispatcher_alive: bool) -> dict[str, Any]:
        """Workers, runs and counters for an instructor's status panel (JobPool.stats)."""
        with self.lock:
            return status_panel(self._slots, len(self._queue), self._counts,
                                list(self._latency), self._options, self._backend.name,
                                dispatcher_alive)


def worker_rows(slots: WorkerSlots) -> list[dict[str, Any]]:
    """One row per slot: its worker's pid, whether it is alive and warm, its job, its models."""
    rows = []
    for slot, w in enumerate(slots.handles):
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


def status_panel(slots: WorkerSlots, queued: int, counts: collections.Counter[str],
                 latency: list[float], options: WorkerOptions, backend: str,
                 dispatcher_alive: bool) -> dict[str, Any]:
    """Workers, runs and counters for an instructor's status panel (pool lock held)."""
    workers = worker_rows(slots)
    return {
        "max_workers": slots.size,
        "workers_alive": sum(1 for w in workers if w["alive"]),
        "running": slots.busy(),
        "queued": queued,
        "warm": [w["warm"] for w in workers],
        "workers": workers,
        "threads_per_job": options.threads,
        "worker_nice": options.nice,
        "backend": backend,
        "training_runs": counts["runs"],  # queued to train: not hits or followers
        "analyses": counts["analyses"],  # "what changed inside BERT?" jobs queued
        "cache_hits": counts["cache_hits"],
        "shared": counts["shared"],
        "completed": counts["completed"],
        "stopped": counts["stopped"],
        "diverged": counts["diverged"],
        "failed": counts["failed"],
        "abandoned": counts["abandoned"],
        "time_limited": counts["time_limited"],  # stopped at job_time_limit_s
        "worker_restarts": counts["restarts"],
        "peak_running": counts["peak_running"],  # most runs training at once
        "event_latency_max_s": max(latency) if latency else None,
        "event_latency_mean_s": sum(latency) / len(latency) if latency else None,
        "dispatcher_alive": dispatcher_alive,
    }
