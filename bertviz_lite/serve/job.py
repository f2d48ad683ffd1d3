"""A job handle: what one submission to the `JobPool` looks like from a page.

`Job` is the live handle: thread-safe, every call returns in milliseconds. While it follows
a `Run` (the training run in a worker; several identical submissions can follow one run) it
reads that run; once it ended on its own (a cache hit, a failure before it ran, or a stop
while others keep following the run) it holds a `JobResult`, a plain value. `JobSnapshot` is
what a page draws, copied at one moment. The pool that owns them is `bertviz_lite.serve.pool`;
a job reaches it only through the small `PoolSide` interface (lock, queue position, ETA,
stop), and the pool reaches a job only through its public methods (`attached`, `detach`, ...).
"""

from __future__ import annotations

import dataclasses
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
class JobResult:
    """How a job ended on its own, as a value: "cached" (with the record), "failed" before it
    could run (with the error), or "stopped" while others kept following its run.

    seen: for a job that left a run, how many of the run's steps and evaluations it had
    (its snapshot stays as it was); None otherwise.
    """

    state: str
    record: RunRecord | None = None
    error: str = ""
    checkpoint: Path | None = None
    finished: float | None = None
    seen: tuple[int, int] | None = None
    result: dict[str, Any] | None = None  # an analysis's result: never on a job of its own


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
    stop_reason: str = ""  # why the server stopped it (a time limit), for the student
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
    Made by the pool: following a run (`run`), or ended at once (`ended`: cached, failed).
    """

    def __init__(self, pool: PoolSide, config: RunConfig, owner: str, run: Run | None = None,
                 ended: JobResult | None = None) -> None:
        source = run if run is not None else ended
        if source is None or (run is not None and ended is not None):
            raise ValueError("a Job follows a run or has ended, exactly one of the two")
        self.id = secrets.token_hex(6)
        self.config = config
        self.owner = owner
        self.submitted = time.time()
        self._pool = pool
        self._lock = pool.lock
        self._run = run
        if isinstance(source, JobResult) and source.finished is None:
            source = dataclasses.replace(source, finished=self.submitted)
        self._source: Run | JobResult = source  # the run it follows, or how it ended
        self._stop_requested = False
        self._last_touch = time.monotonic()
        self._done = threading.Event()
        if ended is not None:
            self._done.set()

    # -- what the pool reads and does (pool lock held) -------------------------------------
    @property
    def run(self) -> Run | None:
        """The training run this handle follows (None: cached, or failed before it ran)."""
        return self._run

    @property
    def attached(self) -> bool:
        """True while this handle follows its run (not cached, failed early or detached)."""
        return isinstance(self._source, Run)

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
        seen = (len(run.steps), len(run.evals)) if run is not None else (0, 0)
        self._source = JobResult("stopped", finished=time.time(), seen=seen)
        self._done.set()

    def mark_done(self) -> None:
        """The run this handle follows reached a final state."""
        self._done.set()

    # -- state ----------------------------------------------------------------------------
    @property
    def state(self) -> str:
        with self._lock:
            return self._source.state

    @property
    def record(self) -> RunRecord | None:
        """The RunRecord once the run finished (None while it runs, when it failed, or when
        this job was stopped while others kept following the run)."""
        with self._lock:
            return self._source.record

    @property
    def error(self) -> str:
        """Why a job failed, in words for a student (never a traceback); else ''."""
        with self._lock:
            return self._source.error

    @property
    def checkpoint(self) -> Path | None:
        """Folder of the saved trained model (save_model=True and the run completed)."""
        with self._lock:
            return self._source.checkpoint

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
            return self._source.result

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
            src, run = self._source, self._run
            live = src if isinstance(src, Run) else None  # following its run
            if run is not None:
                steps, evals = run.steps, run.evals
                n_steps, n_evals = src.seen if isinstance(src, JobResult) and src.seen \
                    else (len(steps), len(evals))
            else:  # ended at once: cached (the record's steps) or failed (nothing)
                rec = src.record
                steps, evals = (rec.steps, rec.evals) if rec is not None else ([], [])
                n_steps, n_evals = len(steps), len(evals)
            return JobSnapshot(
                id=self.id, state=src.state,
                progress=run.progress if run is not None else None,
                steps=_steps_after(steps, n_steps, since_step), evals=list(evals[:n_evals]),
                record=src.record, error=src.error,
                queue_position=self._pool.position(live) if live is not None else None,
                eta_seconds=self._pool.eta(live) if live is not None else None,
                submitted=self.submitted, started=run.started if run is not None else None,
                finished=src.finished, checkpoint=src.checkpoint,
                total_steps=run.total_steps if run is not None else
                (n_steps if src.record is not None else None),
                last_step=steps[n_steps - 1].step if n_steps else 0,
                stopping=(live is not None and live.stop_requested is not None
                          and live.state in ACTIVE),
                shared=run is not None and bool(run.handles) and run.handles[0] is not self,
                ready=run.ready if run is not None else {}, result=src.result)

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


def _steps_after(steps: list[StepRecord], n: int, since_step: int) -> list[StepRecord]:
    """The first `n` steps' records with step > since_step (steps are numbered 1, 2, ... in
    order, so the start is found at once; searched when they are not contiguous)."""
    start = max(0, min(since_step, n))
    if start and steps[start - 1].step != since_step:
        start = next((i for i, s in enumerate(steps[:n]) if s.step > since_step), n)
    return steps[start:n]
