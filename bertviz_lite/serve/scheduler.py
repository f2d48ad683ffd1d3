"""The queue of runs waiting for a worker: order, positions and a rough time-to-start.

The main process keeps the queue and hands a run to a worker only when that worker is idle,
so never more than `max_workers` runs train at once and queue positions are exact. Estimates
come from running averages of finished runs' durations (frozen runs and runs that train the
encoder apart). Not thread-safe by itself: the pool calls it with its lock held.
"""

from __future__ import annotations

import collections
import heapq
import time
from collections.abc import Iterator, Sequence

from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.modes import mode_of
from bertviz_lite.serve.job import Run

EMA_ALPHA = 0.3  # weight of the newest duration in the running average


class Durations:
    """Running averages of run durations by kind ("frozen", "trains-encoder", "all")."""

    def __init__(self) -> None:
        self.avg: dict[str, float] = {}

    @staticmethod
    def kind(config: RunConfig, analysis: bool = False) -> str:
        if analysis:
            return "analysis"
        return "frozen" if mode_of(config.mode).cache_features else "trains-encoder"

    def expected(self, config: RunConfig, analysis: bool = False) -> float:
        """Seconds a run of this config (or an analysis of one) is expected to take (0.0
        before any finished)."""
        return self.avg.get(self.kind(config, analysis), self.avg.get("all", 0.0))

    def learn(self, run: Run) -> None:
        """Fold a finished run's duration into the averages."""
        if run.started is None or run.finished is None:
            return
        secs = run.finished - run.started
        analysis = run.analysis is not None  # an analysis's seconds say nothing about training
        for k in (self.kind(run.config, analysis),) + (() if analysis else ("all",)):
            old = self.avg.get(k)
            self.avg[k] = secs if old is None else (1 - EMA_ALPHA) * old + EMA_ALPHA * secs


class RunQueue:
    """Runs waiting for a worker, first in first out (a run whose worker died before it began
    goes back to the front)."""

    def __init__(self) -> None:
        self._runs: collections.deque[Run] = collections.deque()
        self.durations = Durations()

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[Run]:
        return iter(list(self._runs))

    def push(self, run: Run) -> None:
        self._runs.append(run)

    def push_front(self, run: Run) -> None:
        self._runs.appendleft(run)

    def pop(self) -> Run:
        return self._runs.popleft()

    def remove(self, run: Run) -> None:
        """Take a run out of the queue (no-op when it is not there)."""
        try:
            self._runs.remove(run)
        except ValueError:
            pass

    def full(self, max_queue: int, idle_workers: int) -> bool:
        """True when `max_queue` runs wait and no idle worker is about to take one."""
        waiting = len(self._runs)
        return waiting >= max_queue and idle_workers <= waiting

    def position(self, run: Run) -> int | None:
        """1-based place of a queued run, else None."""
        if run.state != "queued":
            return None
        try:
            return self._runs.index(run) + 1
        except ValueError:
            return None

    def eta(self, run: Run, training: Sequence[Run | None], time_limit_s: float | None = None
            ) -> float | None:
        """Simulate the queue: when does a worker free up for `run`?

        training: per worker slot, the run it trains (None: idle or empty). A running run's
        remaining time comes from its own pace (seconds per step so far x steps left), else
        from the average duration of finished runs of its kind; runs ahead in the queue take
        that average. Every run ends by `time_limit_s` (the server's limit per run). None when
        nothing tells how long a run ahead will take.
        """
        pos = self.position(run)
        if pos is None:
            return None
        now = time.time()
        free = []
        for busy in training:
            left = 0.0 if busy is None else self.remaining(busy, now, time_limit_s)
            if left is None:
                return None
            free.append(left)
        heapq.heapify(free)
        for ahead in list(self._runs)[: pos - 1]:
            expect = self.durations.expected(ahead.config, ahead.analysis is not None) or None
            if time_limit_s:
                expect = min(expect or time_limit_s, time_limit_s)
            if expect is None:
                return None
            heapq.heappush(free, heapq.heappop(free) + expect)
        return round(free[0], 1)

    def remaining(self, run: Run, now: float, time_limit_s: float | None = None
                  ) -> float | None:
        """Seconds until a running run ends: its pace so far times the steps it has left
        (a long fine-tune behind which a queue must wait is seen as long), else the average
        of its kind minus the time it has run; at most what the time limit leaves it."""
        elapsed = now - run.started if run.started is not None else 0.0
        done = run.steps[-1].step if run.steps else 0
        left: float | None = None
        if run.started is not None and run.total_steps and done:
            left = elapsed / done * max(0, run.total_steps - done)
        else:
            expect = self.durations.expected(run.config, run.analysis is not None)
            if expect:
                left = max(0.0, expect - elapsed)
        if time_limit_s:
            cap = max(0.0, time_limit_s - elapsed)
            left = cap if left is None else min(left, cap)
        return left
