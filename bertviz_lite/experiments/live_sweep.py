"""A learning-curve sweep run point by point through a job pool (the app's live sweep).

Each point is an ordinary training job (`JobPool.submit(config, data=...)`): it waits in the
queue like any other, a finished identical run comes from the run cache, and Stop stops it.
Only one point is in the pool at a time, so a sweep never holds more than one place in a
shared class queue. Nothing here imports streamlit; the page calls `advance()` when it polls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bertviz_lite.data.examples import TaskData
from bertviz_lite.data.load import stratified_order
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.experiments.learning_curves import (
    SWEEP_VERSION,
    Point,
    SweepSpec,
    plan,
    point_config,
    point_data,
    point_summary,
)

Submit = Callable[[RunConfig, TaskData], Any]  # returns a Job (snapshot(), stop())


@dataclass
class LiveSweep:
    """The state of a sweep in progress: points done, the one in the pool, those left."""

    spec: SweepSpec
    pool: TaskData
    todo: list[Point]
    orders: dict[int, list[int]]
    points: list[dict[str, Any]] = field(default_factory=list)
    current: Point | None = None
    job: Any = None
    stopped: bool = False
    problem: str = ""
    started: float = field(default_factory=time.time)

    @classmethod
    def create(cls, spec: SweepSpec, pool: TaskData) -> LiveSweep:
        """A sweep of `spec` on `pool` (the whole training split and the validation split)."""
        orders = {seed: stratified_order(pool.train, seed) for seed in spec.seeds}
        return cls(spec, pool, plan(spec, len(pool.train)), orders)

    @property
    def total(self) -> int:
        """Points planned in all."""
        return len(self.points) + len(self.todo) + (self.current is not None)

    @property
    def done(self) -> bool:
        """True when every point finished, or the sweep was stopped or failed."""
        return self.current is None and (self.stopped or bool(self.problem) or not self.todo)

    def advance(self, submit: Submit) -> bool:
        """Collect the current point if its job finished, then submit the next one.

        Returns True when a point was added (the figure has something new).
        """
        added = self._collect()
        if self.current is None and self.todo and not (self.stopped or self.problem):
            mode, size, seed = self.todo.pop(0)
            data = point_data(self.pool, self.orders[seed], size, seed)
            job = submit(point_config(self.spec, mode, size, seed), data)
            if job is None:  # the pool refused (queue full): the page showed why
                self.todo.insert(0, (mode, size, seed))
                self.problem = "the job queue is full; try again in a minute"
                return added
            self.current, self.job = (mode, size, seed), job
        return added

    def _collect(self) -> bool:
        if self.job is None or self.current is None:
            return False
        snap = self.job.snapshot()
        if not snap.done:
            return False
        mode, size, seed = self.current
        self.current, self.job = None, None
        if snap.record is not None and snap.state in ("completed", "cached"):
            self.points.append(point_summary(snap.record, mode, size, seed,
                                             snap.state == "cached"))
            return True
        if snap.state == "stopped":
            self.stopped = True
        else:
            self.problem = snap.error or (snap.record.reason if snap.record else snap.state)
        return False

    def stop(self) -> None:
        """Stop the point in the pool and submit no more."""
        self.stopped = True
        if self.job is not None:
            self.job.stop()

    def result(self) -> dict[str, Any]:
        """The points so far in the sweep JSON's shape (the figure draws it)."""
        return {"version": SWEEP_VERSION, "kind": "learning-curves",
                "setup": self.spec.setup(self.pool), "points": list(self.points),
                "elapsed_seconds": time.time() - self.started,
                "complete": not self.todo and self.current is None and not self.stopped}
