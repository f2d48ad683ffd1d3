"""A job handle: what one submission to the `JobPool` looks like from a page.

`Job` is thread-safe and every call returns in milliseconds; `JobSnapshot` is what a page
draws, copied at one moment. `Run` is the training run a job follows (several identical
submissions can follow one run). The pool that owns them is `bertviz_lite.serve.pool`; a job
reaches it only through the small `PoolSide` interface (lock, queue position, ETA, stop), and
the pool reaches a job only through its public methods (`attached`, `detach`, ...).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bertviz_lite.data.examples import TaskData
from bertviz_lite.data.source import Upload
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.record.runs import EvalRecord, Progress, RunRecord, StepRecord

STATES = ("queued", "starting", "running", "completed", "stopped", "diverged", "failed", "cached")
ACTIVE = frozenset({"queued", "starting", "running"})
FINISHED = frozenset(STATES) - ACTIVE


class QueueFull(RuntimeError):
    """Too many jobs are waiting; the message is meant for the student."""


@dataclass(frozen=True)
class JobSnapshot:
    """What a page needs to draw a job, copied at one moment (safe to read without locks).

    steps: StepRecords with step > since_step, in order. evals: every EvalRecord so far.
    started/finished: wall-clock times (time.time()) of the run this job follows.
    eta_seconds: rough seconds until a queued job starts.
    """

    id: str
    state: str
    progress: Progress | None
    steps: list[StepRecord]
    evals: list[EvalRecord]
    record: RunRecord | None
    error: str
    queue_position: int | None
    eta_seconds: float | None
    submitted: float
    started: float | None
    finished: float | None
    checkpoint: Path | None = None
    total_steps: int | None = None  # known once training starts
    last_step: int = 0  # the newest step recorded so far (pass it as the next since_step)
    stopping: bool = False  # stop was asked for; the worker has not confirmed yet
    shared: bool = False  # this job follows a run that another submission started
    ready: dict[str, Any] = field(default_factory=dict)  # the run's "ready" info: groups...
    result: dict[str, Any] | None = None  # an analysis job's ChangesResult.to_dict()

    @property
    def done(self) -> bool:
        """True once the state is final."""
        return self.state in FINISHED


@dataclass(eq=False)
class Run:
    """One actual training run (in a worker), followed by one or more Job handles."""

    seq: int
    key: str | None
    config: RunConfig  # as sent to the worker (threads clamped)
    data: TaskData | Upload | None
    save_to: Path | None
    submitted: float
    state: str = "queued"
    progress: Progress | None = None
    steps: list[StepRecord] = field(default_factory=list)
    evals: list[EvalRecord] = field(default_factory=list)
    record: RunRecord | None = None
    error: str = ""
    checkpoint: Path | None = None
    started: float | None = None  # wall clock, when the worker began it
    finished: float | None = None
    total_steps: int | None = None
    ready: dict[str, Any] = field(default_factory=dict)
    slot: int | None = None  # the worker slot training it (None while queued)
    handles: list[Job] = field(default_factory=list)
    stop_requested: float | None = None  # monotonic time of the stop request
    requeues: int = 0
    analysis: Any = None  # messages.AnalysisSpec: an analysis of a finished run, not training
    result: dict[str, Any] | None = None  # the analysis's ChangesResult.to_dict()

    def add_event(self, event: StepRecord | EvalRecord | Progress) -> None:
        """Apply one streamed training event (the dispatcher calls it, pool lock held)."""
        if isinstance(event, StepRecord):
            self.steps.append(event)
            self.state = "running"
        elif isinstance(event, EvalRecord):
            self.evals.append(event)
        else:
            self.progress = event
            if event.phase == "ready":
                self.ready = dict(event.info)
            if event.phase == "train":
                self.state = "running"
                self.total_steps = event.total
            if event.phase == "analyse":
                self.state = "running"

    def owners(self) -> str:
        """Who follows this run, for the log."""
        names = sorted({h.owner for h in self.handles if h.owner})
        return "owner " + ", ".join(names) if names else "no owner"


class PoolSide(Protocol):
    """What a Job needs from the pool that owns it (all called with `lock` held)."""

    lock: threading.RLock

    def position(self, run: Run) -> int | None:
        """1-based queue position of a queued run, else None."""

    def eta(self, run: Run) -> float | None:
        """Rough seconds until a queued run starts, else None."""

    def stop_job(self, job: Job) -> None:
        """Stop this handle (and its run when nobody else follows it)."""


class Job:
    """Main-process handle of one submission (thread-safe; every call returns in milliseconds).

    state: queued | starting (a worker is loading, tokenising or caching features) | running
    (the training loop has begun) | completed | stopped | diverged | failed | cached.
    An analysis job (`JobPool.submit_analysis`) has `kind` "analysis": no steps or record,
    its progress in `snapshot().progress` (phase "analyse") and its result in `result`.
    """

    def __init__(self, pool: PoolSide, config: RunConfig, owner: str, run: Run | None = None, *,
                 state: str | None = None, record: RunRecord | None = None, error: str = "",
                 checkpoint: Path | None = None) -> None:
        self.id = secrets.token_hex(6)
        self.config = config
        self.owner = owner
        self.submitted = time.time()
        self._pool = pool
        self._lock = pool.lock
        self._run = run
        self._own_state = state  # a final state of this handle alone (cached, failed, detached)
        self._own_record = record
        self._own_error = error
        self._own_checkpoint = checkpoint
        self._own_finished = self.submitted if state else None
        self._frozen: tuple[int, int] | None = None  # steps/evals seen when it was detached
        self._stop_requested = False
        self._last_touch = time.monotonic()
        self._done = threading.Event()
        if state is not None:
            self._done.set()

    # -- what the pool reads and does (pool lock held) -------------------------------------
    @property
    def run(self) -> Run | None:
        """The training run this handle follows (None: cached, or failed before it ran)."""
        return self._run

    @property
    def attached(self) -> bool:
        """True while this handle follows its run (not cached, failed early or detached)."""
        return self._own_state is None and self._run is not None

    @property
    def stop_requested(self) -> bool:
        """True once stop() was called on this handle."""
        return self._stop_requested

    @property
    def last_touch(self) -> float:
        """time.monotonic() of the last poll (for the watchdog)."""
        return self._last_touch

    def request_stop(self) -> None:
        """Mark this handle as asked to stop."""
        self._stop_requested = True

    def detach(self) -> None:
        """Stop following the run alone (others still follow it): the steps and evaluations
        seen so far stay, the state is "stopped"."""
        run = self._run
        self._own_state = "stopped"
        self._own_finished = time.time()
        self._frozen = (len(run.steps), len(run.evals)) if run is not None else (0, 0)
        self._done.set()

    def mark_done(self) -> None:
        """The run this handle follows reached a final state."""
        self._done.set()

    # -- state ----------------------------------------------------------------------------
    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._own_state is not None or self._run is None:
            return self._own_state or "failed"
        return self._run.state

    @property
    def record(self) -> RunRecord | None:
        """The RunRecord once the run finished (None while it runs, when it failed, or when
        this job was stopped while others kept following the run)."""
        with self._lock:
            if self._own_state is not None or self._run is None:
                return self._own_record
            return self._run.record

    @property
    def error(self) -> str:
        """Why a job failed, in words for a student (never a traceback); else ''."""
        with self._lock:
            if self._own_state is not None or self._run is None:
                return self._own_error
            return self._run.error

    @property
    def checkpoint(self) -> Path | None:
        """Folder of the saved trained model (save_model=True and the run completed)."""
        with self._lock:
            if self._own_state is not None or self._run is None:
                return self._own_checkpoint
            return self._run.checkpoint

    @property
    def done(self) -> bool:
        """True once the state is final."""
        return self.state in FINISHED

    @property
    def kind(self) -> str:
        """"analysis" for an analysis of a finished run, else "training"."""
        return "analysis" if self._run is not None and self._run.analysis is not None \
            else "training"

    @property
    def result(self) -> dict[str, Any] | None:
        """An analysis job's result (ChangesResult.to_dict()) once completed, else None."""
        with self._lock:
            if self._own_state is not None or self._run is None:
                return None
            return self._run.result

    @property
    def shared(self) -> bool:
        """True when this job follows a run that another (identical) submission started."""
        with self._lock:
            return self._run is not None and bool(self._run.handles) and \
                self._run.handles[0] is not self

    def queue_position(self) -> int | None:
        """1-based place in the queue while queued, else None."""
        with self._lock:
            run = self._run
            return self._pool.position(run) if run is not None and self.attached else None

    def eta_seconds(self) -> float | None:
        """Rough seconds until a queued job starts (None when not queued or nothing has
        finished yet to estimate from)."""
        with self._lock:
            run = self._run
            return self._pool.eta(run) if run is not None and self.attached else None

    def touch(self) -> None:
        """Tell the watchdog someone is still watching (the page calls it on every poll)."""
        self._last_touch = time.monotonic()

    def snapshot(self, since_step: int = 0) -> JobSnapshot:
        """Everything to draw, with only the steps after `since_step` (also touches)."""
        self.touch()
        with self._lock:
            run = self._run
            state = self._state()
            if run is None:  # cached, or failed before it could run
                rec = self._own_record
                steps = list(rec.steps) if rec else []
                evals = list(rec.evals) if rec else []
                return JobSnapshot(
                    id=self.id, state=state, progress=None,
                    steps=[s for s in steps if s.step > since_step], evals=evals, record=rec,
                    error=self._own_error, queue_position=None, eta_seconds=None,
                    submitted=self.submitted, started=None, finished=self._own_finished,
                    checkpoint=self._own_checkpoint, total_steps=len(steps) if rec else None,
                    last_step=steps[-1].step if steps else 0)
            n_steps, n_evals = self._frozen or (len(run.steps), len(run.evals))
            start = max(0, min(since_step, n_steps))
            if start and run.steps[start - 1].step != since_step:  # not contiguous: search
                start = next((i for i, s in enumerate(run.steps[:n_steps]) if s.step > since_step),
                             n_steps)
            detached = self._own_state is not None
            return JobSnapshot(
                id=self.id, state=state, progress=run.progress,
                steps=run.steps[start:n_steps], evals=run.evals[:n_evals],
                record=self._own_record if detached else run.record,
                error=self._own_error if detached else run.error,
                queue_position=None if detached else self._pool.position(run),
                eta_seconds=None if detached else self._pool.eta(run),
                submitted=self.submitted, started=run.started,
                finished=self._own_finished if detached else run.finished,
                checkpoint=self._own_checkpoint if detached else run.checkpoint,
                total_steps=run.total_steps, last_step=run.steps[n_steps - 1].step if n_steps else 0,
                stopping=(not detached and run.stop_requested is not None
                          and run.state in ACTIVE),
                shared=bool(run.handles) and run.handles[0] is not self, ready=run.ready,
                result=None if detached else run.result)

    # -- control --------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop this job. A queued job ends "stopped" at once; a running one when its worker
        confirms (within a step). When other identical submissions follow the same run, only
        this handle stops and the run goes on for them."""
        with self._lock:
            self._pool.stop_job(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job is final (does not touch); True if it is."""
        return self._done.wait(timeout)

    def __repr__(self) -> str:
        return f"Job({self.id}, {self.state}, {self.config.task}/{self.config.mode}, owner={self.owner!r})"
