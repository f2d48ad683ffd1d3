"""A pool of warm training worker processes for the app (and anything else that serves many users).

Training never runs in the app's threads (a step would stall every page): each worker is a
`spawn`ed process that loads the pretrained backbone(s) once, then takes one job at a time, runs
the one engine (`training.Trainer`) and streams its events back. The main process only keeps
handles:

    pool = JobPool(max_workers=2, cache=RunCache(folder)).start()  # returns at once
    job = pool.submit(config, owner=session_id)     # milliseconds; may raise QueueFull
    snap = job.snapshot(since_step=n)                # poll from the page (also keeps it alive)
    job.stop()                                       # the Stop button

How it fits together:
- The main process keeps the queue (a deque of runs) and hands a run to a worker only when that
  worker is idle, so never more than `max_workers` runs train at once and queue positions are
  exact. Jobs travel to a worker through that worker's own job queue (non-blocking for the
  caller), with uploaded data pickled along, per job.
- Events come back as plain dicts over one pipe per worker; a dispatcher thread in the main
  process waits on all pipes and all process sentinels at once (`multiprocessing.connection.
  wait`), so a step's record reaches its Job as soon as it is sent, and a dead worker is noticed
  at once. The dispatcher also runs the watchdog (stop runs nobody polls), the stop timeout,
  respawning, and hands queued runs to idle workers.
- Stop: every worker owns an `mp.Event` (made at spawn) plus a lock-free shared "stop token"
  holding the sequence number of the run to stop, so a late stop of a finished run can never
  stop the next one. The worker clears its event before each new job (and sets it again when
  that very job's stop arrived before it began). train() polls both between steps.
- One training run can serve several handles: identical submissions (same content key) while
  the first is queued or running follow it, and finished runs come from the `RunCache`.

Nothing here imports streamlit; the worker imports torch and transformers, the main side does
not need to.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import itertools
import logging
import multiprocessing as mp
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import types
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as _wait_any
from pathlib import Path
from typing import Any

from bertviz_lite.data.examples import DataError, TaskData
from bertviz_lite.data.text import DEFAULT_LIMITS, Limits
from bertviz_lite.engine.config import ConfigError, RunConfig, config_hash
from bertviz_lite.record.runcache import RunCache
from bertviz_lite.record.runs import EvalRecord, Progress, RunRecord, StepRecord
from bertviz_lite.serve.job import ACTIVE, FINISHED, STATES, Job, JobSnapshot, QueueFull, _Run
from bertviz_lite.serve.worker import worker_main

log = logging.getLogger(__name__)

__all__ = ["ACTIVE", "FINISHED", "STATES", "Job", "JobPool", "JobSnapshot", "QueueFull"]

TICK_S = 0.25  # dispatcher housekeeping interval (events themselves are routed at once)
MAX_SAVED = 200  # completed runs with a saved model remembered for identical save_model submits
MAX_REQUEUES = 2  # a run whose worker died before starting it goes back to the queue this often
EMA_ALPHA = 0.3  # weight of the newest duration in the running average
UNEXPECTED = "Training failed unexpectedly ({}); the error was logged for the instructor"
DIED = "The training process stopped unexpectedly (exit code {})"
OOM_HINT = (". It was killed, most often because the machine ran out of memory: try a smaller "
            "batch size, max_length or model")


@dataclass(eq=False)
class _Worker:
    """Main-side view of one worker process."""

    slot: int
    process: Any  # multiprocessing SpawnProcess
    jobs: Any  # multiprocessing Queue: main -> worker
    conn: Connection  # worker -> main
    stop_event: Any  # multiprocessing Event
    stop_token: Any  # multiprocessing Value("q"): seq of the run to stop
    spawned: float
    pid: int | None = None
    warm: bool = False
    models: list[str] = field(default_factory=list)
    run: _Run | None = None
    eof: bool = False
    dead: bool = False



# ---------------------------------------------------------------------------------------------
# The pool
# ---------------------------------------------------------------------------------------------
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
    limits: data limits for loading in the main process (fingerprinting) and in the workers.
    stop_timeout_s: a worker that has not confirmed a stop after this long is killed and
    replaced (one step of a big model must never hold a slot hostage).

    `max_queue`, `abandon_after_s`, `cache` and `stop_timeout_s` may be changed while running.
    """

    def __init__(self, max_workers: int = 1, *, warm_models: Iterable[str] = ("bundled",),
                 threads_per_job: int | None = None, max_queue: int = 50,
                 abandon_after_s: float = 90.0, cache: RunCache | None = None,
                 checkpoint_dir: Path | None = None, limits: Limits = DEFAULT_LIMITS,
                 stop_timeout_s: float = 60.0) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1; got {max_workers}")
        if max_queue < 0:
            raise ValueError(f"max_queue must be 0 or more; got {max_queue}")
        self.max_workers = int(max_workers)
        self.warm_models = tuple(warm_models)
        cores = os.cpu_count() or 1
        self.threads_per_job = int(threads_per_job or max(1, (cores - 1) // max_workers))
        self.max_queue = max_queue
        self.abandon_after_s = abandon_after_s
        self.cache = cache
        self.limits = limits
        self.stop_timeout_s = stop_timeout_s
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self._tmp_checkpoints: Path | None = None
        self._ctx = mp.get_context("spawn")
        self._lock = threading.RLock()
        self._queue: collections.deque[_Run] = collections.deque()
        self._workers: list[_Worker | None] = [None] * self.max_workers
        self._respawn_at = [0.0] * self.max_workers
        self._early_deaths = [0] * self.max_workers
        self._inflight: dict[str, _Run] = {}
        self._saved: dict[str, tuple[RunRecord, Path]] = {}  # key -> completed run with a model
        self._seq = itertools.count(1)
        self._avg: dict[str, float] = {}  # running averages of run durations
        self._counts: collections.Counter[str] = collections.Counter()
        self._latency: collections.deque[float] = collections.deque(maxlen=500)
        self._started = False
        self._closing = False
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> JobPool:
        """Start the workers and the dispatcher; returns at once (workers warm up meanwhile)."""
        with self._lock:
            if self._closing:
                raise RuntimeError("this job pool has been shut down; make a new one")
            if self._started:
                return self
            self._started = True
        for slot in range(self.max_workers):
            self._install(self._spawn(slot))
        self._thread = threading.Thread(target=self._loop, name="bertviz-jobs-dispatcher",
                                        daemon=True)
        self._thread.start()
        log.info("job pool started: %d worker(s), %d thread(s) each, warm models %s",
                 self.max_workers, self.threads_per_job, list(self.warm_models))
        return self

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every job, end the workers (killing any that do not exit in `timeout`)."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            for run in list(self._queue):
                self._queue.remove(run)
                self._finish(run, "stopped", error="")
            workers = [w for w in self._workers if w is not None]
            for w in workers:
                if w.run is not None:
                    self._signal_stop(w, w.run)
        for w in workers:
            try:
                w.jobs.put(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + timeout
        for w in workers:
            _join(w.process, deadline - time.monotonic())
        for w in workers:
            if w.process.is_alive():
                log.warning("worker %d did not exit in time; terminating it", w.slot)
                w.process.terminate()
                if not _join(w.process, 2.0):
                    w.process.kill()
                    _join(w.process, 2.0)
        # the dispatcher routes the last messages (stopped records) and notices the exits
        end = time.monotonic() + 3.0
        while self._thread is not None and self._thread.is_alive() and time.monotonic() < end:
            with self._lock:
                if all(w.dead for w in workers):
                    break
            time.sleep(0.02)
        with self._lock:
            self._closed = True
            for w in workers:
                if w.run is not None and w.run.state in ACTIVE:
                    self._finish(w.run, "stopped",
                                 error="The server shut down before the run finished.")
                    w.run = None
        if self._thread is not None:
            self._thread.join(5.0)
        for w in workers:
            self._close_channels(w)
        with self._lock:
            self._workers = [None] * self.max_workers
        if self._tmp_checkpoints is not None:
            shutil.rmtree(self._tmp_checkpoints, ignore_errors=True)
        log.info("job pool shut down")

    def __enter__(self) -> JobPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- public API -----------------------------------------------------------------------
    def submit(self, config: RunConfig, *, data: TaskData | None = None, owner: str = "",
               save_model: bool = False) -> Job:
        """Queue a training run and return its handle at once.

        With a cache: an identical finished run returns a "cached" job; an identical run that
        is queued or running is followed instead of trained twice. Raises QueueFull when
        `max_queue` runs are already waiting.
        """
        if not isinstance(config, RunConfig):
            raise TypeError(f"submit() needs a RunConfig, not {type(config).__name__}")
        with self._lock:
            if self._closing:
                raise RuntimeError("this job pool has been shut down")
            started = self._started
        if not started:
            self.start()
        cache = self.cache
        key: str | None = None
        if data is not None:
            key = config_hash(config, data.fingerprint())
        elif cache is not None and not (config.train_file is None and config.data.startswith("hub:")):
            # fingerprint the data here (milliseconds for bundled and local files); Hub data
            # would need the network in the page's thread, so it is only cached after training
            try:
                data = self._load_data(config)
            except (DataError, ConfigError) as err:
                return self._failed_job(config, owner, str(err))
            except Exception as err:
                log.error("loading data for %s failed:\n%s", config.task, traceback.format_exc())
                return self._failed_job(config, owner, UNEXPECTED.format(type(err).__name__))
            key = config_hash(config, data.fingerprint())
        if key is not None and cache is not None:
            hit = cache.get(key)
            saved = self._saved_checkpoint(key) if save_model else None
            if hit is not None and hit.status == "completed" and (saved or not save_model):
                with self._lock:
                    self._counts["cache_hits"] += 1
                return Job(self, config, owner, state="cached", record=hit, checkpoint=saved)
        with self._lock:
            if self._closing:
                raise RuntimeError("this job pool has been shut down")
            if key is not None and save_model and key in self._saved:
                rec, path = self._saved[key]
                if path.is_dir():
                    self._counts["cache_hits"] += 1
                    return Job(self, config, owner, state="cached", record=rec, checkpoint=path)
            leader = self._inflight.get(key) if key is not None else None
            if (leader is not None and leader.state in ACTIVE and leader.stop_requested is None
                    and (leader.save_to is not None or not save_model)):
                job = Job(self, config, owner, leader)
                leader.handles.append(job)
                self._counts["shared"] += 1
                return job
            waiting = len(self._queue)
            idle = sum(1 for w in self._workers if w is not None and not w.dead and w.run is None)
            if waiting >= self.max_queue and idle <= waiting:
                raise QueueFull(f"The class server is busy: {waiting} jobs are waiting. "
                                "Try again in a minute.")
            sent = config
            if config.threads and config.threads > self.threads_per_job:
                sent = config.replace(threads=self.threads_per_job)
            run = _Run(next(self._seq), key, sent, data, None, time.time())
            job = Job(self, config, owner, run)
            run.handles.append(job)
            if save_model:  # content-addressed when possible: a restart finds it again
                run.save_to = self._checkpoint_root() / (key or job.id)
            if key is not None:
                self._inflight[key] = run
            self._queue.append(run)
            self._counts["runs"] += 1
            self._dispatch()
            return job

    def stats(self) -> dict[str, Any]:
        """Workers, runs and counters for an instructor's status panel."""
        with self._lock:
            workers = []
            for slot, w in enumerate(self._workers):
                if w is None:
                    workers.append({"slot": slot, "pid": None, "alive": False, "warm": False,
                                    "job": None, "models": []})
                    continue
                workers.append({
                    "slot": slot, "pid": w.pid or w.process.pid,
                    "alive": not w.dead, "warm": w.warm,  # deaths: noticed by the dispatcher
                    "job": w.run.handles[0].id if w.run is not None and w.run.handles else None,
                    "models": list(w.models)})
            lat = list(self._latency)
            return {
                "max_workers": self.max_workers,
                "workers_alive": sum(1 for w in workers if w["alive"]),
                "running": sum(1 for w in self._workers if w is not None and w.run is not None),
                "queued": len(self._queue),
                "warm": [w["warm"] for w in workers],
                "workers": workers,
                "threads_per_job": self.threads_per_job,
                "training_runs": self._counts["runs"],  # queued to train: not hits or followers
                "cache_hits": self._counts["cache_hits"],
                "shared": self._counts["shared"],
                "completed": self._counts["completed"],
                "stopped": self._counts["stopped"],
                "diverged": self._counts["diverged"],
                "failed": self._counts["failed"],
                "abandoned": self._counts["abandoned"],
                "worker_restarts": self._counts["restarts"],
                "peak_running": self._counts["peak_running"],  # most runs training at once
                "event_latency_max_s": max(lat) if lat else None,
                "event_latency_mean_s": sum(lat) / len(lat) if lat else None,
                "dispatcher_alive": self._thread is not None and self._thread.is_alive(),
            }

    # -- helpers called with the lock held ------------------------------------------------
    def _position(self, job: Job) -> int | None:
        run = job._run
        if job._own_state is not None or run is None or run.state != "queued":
            return None
        try:
            return self._queue.index(run) + 1
        except ValueError:
            return None

    def _eta(self, job: Job) -> float | None:
        """Simulate the queue with average durations: when does a worker free up for it?"""
        pos = self._position(job)
        if pos is None or not self._avg:
            return None
        now = time.time()
        free = []
        for w in self._workers:
            run = w.run if w is not None else None
            if run is None:
                free.append(0.0)
            else:
                expect = self._expected(run.config)
                free.append(max(0.0, expect - (now - run.started)) if run.started else expect)
        heapq.heapify(free)
        for ahead in list(self._queue)[: pos - 1]:
            heapq.heappush(free, heapq.heappop(free) + self._expected(ahead.config))
        return round(free[0], 1)

    def _expected(self, config: RunConfig) -> float:
        kind = "frozen" if config.trainable_top == 0 else "trains-encoder"
        return self._avg.get(kind, self._avg.get("all", 0.0))

    def _learn_duration(self, run: _Run) -> None:
        if run.started is None or run.finished is None:
            return
        secs = run.finished - run.started
        kind = "frozen" if run.config.trainable_top == 0 else "trains-encoder"
        for k in (kind, "all"):
            old = self._avg.get(k)
            self._avg[k] = secs if old is None else (1 - EMA_ALPHA) * old + EMA_ALPHA * secs

    def _stop_job(self, job: Job) -> None:
        run = job._run
        if job._own_state is not None or run is None or run.state in FINISHED:
            return
        job._stop_requested = True
        watching = [h for h in run.handles if h._own_state is None and not h._stop_requested]
        if watching:  # others follow this run: only this handle stops
            job._own_state = "stopped"
            job._own_finished = time.time()
            job._frozen = (len(run.steps), len(run.evals))
            job._done.set()
            return
        self._stop_run(run, "stopped by the user")

    def _stop_run(self, run: _Run, why: str) -> None:
        if run.state in FINISHED:
            return
        if self._inflight.get(run.key or "") is run:
            del self._inflight[run.key or ""]
        if run.state == "queued":
            try:
                self._queue.remove(run)
            except ValueError:
                pass
            self._finish(run, "stopped")
            log.info("run %d (%s) %s while queued", run.seq, _owners(run), why)
            return
        if run.stop_requested is None:
            run.stop_requested = time.monotonic()
            log.info("run %d (%s) %s", run.seq, _owners(run), why)
        if run.worker is not None:
            self._signal_stop(run.worker, run)

    @staticmethod
    def _signal_stop(w: _Worker, run: _Run) -> None:
        if w.dead:
            return
        w.stop_token.value = run.seq  # first the token (lock-free), then the event
        w.stop_event.set()

    def _finish(self, run: _Run, state: str, *, record: RunRecord | None = None, error: str = "",
                checkpoint: Path | None = None) -> None:
        run.state = state
        run.record = record
        run.error = error
        run.checkpoint = checkpoint
        run.finished = time.time()
        run.data = None
        if run.key is not None and self._inflight.get(run.key) is run:
            del self._inflight[run.key]
        if state == "completed":
            self._learn_duration(run)
        self._counts[state] += 1
        for h in run.handles:
            h._done.set()

    def _dispatch(self) -> None:
        """Hand queued runs to idle workers (warm ones first)."""
        if self._closing:
            return
        while self._queue:
            idle = [w for w in self._workers if w is not None and not w.dead and w.run is None]
            if not idle:
                return
            w = max(idle, key=lambda x: x.warm)
            run = self._queue.popleft()
            payload = {"seq": run.seq, "config": run.config, "data": run.data,
                       "limits": self.limits,
                       "save_to": str(run.save_to) if run.save_to is not None else None}
            try:
                w.jobs.put(payload)
            except (OSError, ValueError) as err:  # the queue is closed: the worker is going
                log.warning("could not hand run %d to worker %d: %s", run.seq, w.slot, err)
                self._queue.appendleft(run)
                return
            run.worker, w.run = w, run
            run.state = "starting"
            busy = sum(1 for x in self._workers if x is not None and x.run is not None)
            self._counts["peak_running"] = max(self._counts["peak_running"], busy)
            if run.stop_requested is not None:
                self._signal_stop(w, run)

    def _saved_checkpoint(self, key: str) -> Path | None:
        """The trained model of a finished run with this key, kept on disk (shared storage
        survives restarts); None when there is none."""
        if self.checkpoint_dir is None:
            return None
        folder = self.checkpoint_dir / key
        return folder if (folder / "task.json").is_file() else None

    def _checkpoint_root(self) -> Path:
        if self.checkpoint_dir is not None:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            return self.checkpoint_dir
        if self._tmp_checkpoints is None:
            self._tmp_checkpoints = Path(tempfile.mkdtemp(prefix="bertviz-lite-models-"))
            weakref.finalize(self, shutil.rmtree, str(self._tmp_checkpoints), True)
        return self._tmp_checkpoints

    def _failed_job(self, config: RunConfig, owner: str, message: str) -> Job:
        with self._lock:
            self._counts["failed"] += 1
        return Job(self, config, owner, state="failed", error=message)

    def _load_data(self, config: RunConfig) -> TaskData:
        from bertviz_lite.data.load import load_task_data

        return load_task_data(config.task, config.data, config.train_file, config.eval_file,
                              max_train=config.max_train, max_eval=config.max_eval,
                              seed=config.seed, limits=self.limits)

    # -- workers --------------------------------------------------------------------------
    def _spawn(self, slot: int) -> _Worker:
        """Start one worker process (a few milliseconds here; it warms up on its own)."""
        ctx = self._ctx
        recv_end, send_end = ctx.Pipe(duplex=False)
        jobs = ctx.Queue()
        event = ctx.Event()
        token = ctx.Value("q", 0, lock=False)  # lock-free: a killed worker can hold no lock
        proc = ctx.Process(target=worker_main, name=f"bertviz-worker-{slot}", daemon=True,
                           args=(slot, jobs, send_end, event, token, self.warm_models,
                                 self.threads_per_job))
        with _bare_main():
            proc.start()
        send_end.close()  # only the worker writes: EOF here once it is gone
        return _Worker(slot, proc, jobs, recv_end, event, token, time.monotonic(), pid=proc.pid)

    def _install(self, w: _Worker) -> None:
        with self._lock:
            if self._closing:
                stale = True
            else:
                stale = False
                self._workers[w.slot] = w
                self._dispatch()
        if stale:
            w.process.kill()
            _join(w.process, 2.0)
            self._close_channels(w)

    @staticmethod
    def _close_channels(w: _Worker) -> None:
        try:
            w.jobs.cancel_join_thread()
            w.jobs.close()
        except (OSError, ValueError, AttributeError):
            pass
        try:
            w.conn.close()
        except OSError:
            pass

    def _loop(self) -> None:
        """Dispatcher thread: route events, notice dead workers, watchdog, respawn, dispatch."""
        while True:
            with self._lock:
                if self._closed:
                    return
                workers = [w for w in self._workers if w is not None and not w.dead]
            waitables: dict[Any, _Worker] = {}
            for w in workers:
                if not w.eof:
                    waitables[w.conn] = w
                waitables[w.process.sentinel] = w
            try:
                ready = _wait_any(list(waitables), timeout=TICK_S) if waitables else []
                if not waitables:
                    time.sleep(TICK_S)
            except (OSError, ValueError):  # a handle closed under us (shutdown)
                ready = []
            try:
                for obj in ready:
                    w = waitables[obj]
                    if obj is w.conn:
                        self._drain(w)
                for w in workers:
                    if not w.process.is_alive():
                        self._drain(w)
                        self._on_death(w)
                self._housekeeping()
            except Exception:  # the dispatcher must never die
                log.exception("job pool dispatcher error (continuing)")

    def _drain(self, w: _Worker) -> None:
        """Route every message this worker has sent so far."""
        while not w.eof:
            try:
                if not w.conn.poll():
                    return
                msg = w.conn.recv()
            except Exception:  # EOF, closed, or a half message from a killed process
                w.eof = True
                return
            try:
                record = None
                if msg[0] == "done":  # rebuild and store it before anyone can see it finished
                    record = RunRecord.from_dict(msg[2])  # (a submit meanwhile follows the run)
                    if record.status == "completed":
                        self._store(record)
                with self._lock:
                    self._handle(w, msg, record)
            except Exception:
                log.exception("could not handle a message from worker %d", w.slot)

    def _store(self, record: RunRecord) -> None:
        cache = self.cache
        if cache is None or not record.key:
            return
        try:
            cache.put(record)
        except (OSError, ValueError) as err:
            log.warning("could not store run %s in the cache: %s", record.key, err)

    def _handle(self, w: _Worker, msg: tuple, record: RunRecord | None = None) -> None:
        """Apply one worker message (lock held); `record`: the RunRecord of a "done" message."""
        kind = msg[0]
        run = w.run
        if kind == "ev":
            _, seq, what, payload, sent = msg
            if run is None or run.seq != seq or run.state in FINISHED:
                return
            self._latency.append(max(0.0, time.time() - sent))
            if what == "step":
                run.steps.append(StepRecord(**payload))
                run.state = "running"
            elif what == "eval":
                run.evals.append(EvalRecord(**payload))
            elif what == "progress":
                run.progress = Progress(**payload)
                if run.progress.phase == "ready":
                    run.ready = dict(run.progress.info)
                if run.progress.phase == "train":
                    run.state = "running"
                    run.total_steps = run.progress.total
            return
        if kind == "begin":
            if run is not None and run.seq == msg[1] and run.started is None:
                run.started = time.time()
            return
        if kind in ("done", "error"):
            seq = msg[1]
            if run is None or run.seq != seq:
                return
            w.run = None
            if run.state in ACTIVE:
                if kind == "done":
                    _, _, rec_dict, ckpt, note = msg
                    record = record or RunRecord.from_dict(rec_dict)
                    checkpoint = Path(ckpt) if ckpt else None
                    self._finish(run, record.status, record=record, error=note,
                                 checkpoint=checkpoint)
                    if record.status == "completed":
                        if checkpoint is not None and run.key is not None:
                            self._saved[run.key] = (record, checkpoint)
                            while len(self._saved) > MAX_SAVED:
                                self._saved.pop(next(iter(self._saved)))
                        if checkpoint is not None and self.checkpoint_dir is not None:
                            _prune_checkpoints(self.checkpoint_dir, MAX_CHECKPOINTS)
                else:
                    _, _, message, exc_type, tb = msg
                    if not message:
                        log.error("run %d (%s) failed in worker %d:\n%s", run.seq, _owners(run),
                                  w.slot, tb)
                        message = UNEXPECTED.format(exc_type)
                    self._finish(run, "failed", error=message)
            self._dispatch()
            return
        if kind == "hello":
            w.pid = msg[1]
        elif kind == "warm":
            log.info("worker %d loaded %s in %.1f s", w.slot, msg[1], msg[2])
        elif kind == "warm_error":
            log.warning("worker %d could not load warm model %s: %s", w.slot, msg[1], msg[2])
        elif kind == "models":
            w.models = list(msg[1])
        elif kind == "ready":
            w.warm = True
            self._early_deaths[w.slot] = 0
            self._dispatch()

    def _on_death(self, w: _Worker) -> None:
        """A worker process is gone: end (or requeue) its run, plan a fresh worker."""
        with self._lock:
            if w.dead:
                return
            w.dead = True
            code = w.process.exitcode
            run, w.run = w.run, None
            if self._workers[w.slot] is w:
                self._workers[w.slot] = None
            if self._closing:
                if run is not None and run.state in ACTIVE:
                    self._finish(run, "stopped", error="The server shut down before the run finished.")
            else:
                self._counts["restarts"] += 1
                if not w.warm:  # died while starting up: back off before trying again
                    self._early_deaths[w.slot] += 1
                    delay = min(60.0, 2.0 ** self._early_deaths[w.slot])
                else:
                    delay = 0.0
                self._respawn_at[w.slot] = time.monotonic() + delay
                log.warning("worker %d (pid %s) exited with code %s%s; %s", w.slot, w.pid, code,
                            f" while running run {run.seq}" if run else "",
                            f"restarting it in {delay:.0f} s" if delay else "restarting it")
                if run is not None and run.state in ACTIVE:
                    if run.stop_requested is not None:
                        self._finish(run, "stopped")
                    elif run.started is None and run.requeues < MAX_REQUEUES:
                        run.requeues += 1  # it never began: give it to the next worker
                        run.worker, run.state = None, "queued"
                        self._queue.appendleft(run)
                    else:
                        msg = DIED.format(code) + (OOM_HINT if code == -signal.SIGKILL else "")
                        self._finish(run, "failed", error=msg)
        try:
            w.process.join(0.1)
        except (OSError, ValueError):
            pass
        self._close_channels(w)

    def _housekeeping(self) -> None:
        """Watchdog, stop timeouts, respawns, dispatch (dispatcher thread)."""
        now = time.monotonic()
        kill: list[_Worker] = []
        respawn: list[int] = []
        with self._lock:
            if self._closing:
                return
            runs = list(self._queue) + [w.run for w in self._workers
                                        if w is not None and w.run is not None]
            for run in runs:
                if run.stop_requested is not None:
                    w = run.worker
                    if (w is not None and w.run is run and not w.dead
                            and now - run.stop_requested > self.stop_timeout_s):
                        log.warning("run %d did not stop within %.0f s; killing worker %d",
                                    run.seq, self.stop_timeout_s, w.slot)
                        kill.append(w)
                    continue
                watching = [h for h in run.handles if h._own_state is None]
                if watching and all(now - h._last_touch > self.abandon_after_s for h in watching):
                    self._counts["abandoned"] += 1
                    log.warning("run %d (%s, %s) was not polled for %.0f s: stopping it (the "
                                "browser tab is gone)", run.seq, _owners(run),
                                run.config.task + "/" + run.config.mode, self.abandon_after_s)
                    self._stop_run(run, "abandoned")
            for slot, w in enumerate(self._workers):
                if w is None and now >= self._respawn_at[slot]:
                    respawn.append(slot)
                    self._respawn_at[slot] = float("inf")  # until this spawn is installed
            self._dispatch()
        for w in kill:
            w.process.kill()
        for slot in respawn:
            try:
                self._install(self._spawn(slot))
            except Exception:
                log.exception("could not start worker %d; retrying in 10 s", slot)
                with self._lock:
                    self._respawn_at[slot] = time.monotonic() + 10.0


MAX_CHECKPOINTS = 32  # trained models kept on disk (fine-tuned ones are ~90 MB each)


def _prune_checkpoints(root: Path, keep: int) -> None:
    """Delete the oldest saved models beyond `keep` (a page that still needs one offers to
    train it again; nothing else depends on them)."""
    try:
        folders = sorted((p for p in root.iterdir() if p.is_dir()),
                         key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in folders[keep:]:
        shutil.rmtree(old, ignore_errors=True)


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _bare_main() -> Iterator[None]:
    """Start processes with an empty `__main__`.

    A spawned child re-imports its parent's `__main__` file. Inside a Streamlit script run
    that is the page script itself, so every worker would run the whole app first (seconds,
    and a second pool). The worker's target lives in this module, so it needs nothing from
    `__main__`.
    """
    with _MAIN_LOCK:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


def _join(proc: Any, timeout: float) -> bool:
    """Wait up to `timeout` s for a process to be gone (its sentinel fires a moment before it
    can be reaped, so poll briefly after it); True if it is."""
    end = time.monotonic() + max(0.0, timeout)
    while True:
        proc.join(max(0.0, min(0.05, end - time.monotonic())))
        if not proc.is_alive():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.005)


def _owners(run: _Run) -> str:
    names = sorted({h.owner for h in run.handles if h.owner})
    return "owner " + ", ".join(names) if names else "no owner"
