"""Measuring what a run costs: peak memory while it runs, and an estimate of its FLOPs."""

from __future__ import annotations

import threading
import time

import psutil
from torch import nn


class PeakRSS:
    """Samples this process's resident memory in a background thread; `peak_mb` is the maximum.

    Used as a context manager around one run, so a long-lived worker reports each job's own
    peak rather than the process's lifetime maximum.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc = psutil.Process()

    def sample(self) -> None:
        """Take one reading now."""
        self.peak_bytes = max(self.peak_bytes, self._proc.memory_info().rss)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> PeakRSS:
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="peak-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self.sample()

    @property
    def peak_mb(self) -> float:
        """Peak resident set size in MiB."""
        return self.peak_bytes / 2**20


def matmul_params(module: nn.Module) -> int:
    """Weights that take part in matrix multiplies (everything but embedding tables)."""
    skip = {id(p) for m in module.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    return sum(p.numel() for p in module.parameters() if id(p) not in skip)


def train_flops(forward_params: int, backward_params: int, tokens: int) -> float:
    """About 2 FLOPs per weight per token forward, 4 backward (Kaplan et al., 2020)."""
    return 2.0 * forward_params * tokens + 4.0 * backward_params * tokens


class Stopwatch:
    """Seconds per named phase, exclusive: while a nested phase runs (features computed
    inside an evaluation), the outer phase's clock is paused, so phases add up to the total."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stack: list[tuple[str, float]] = []

    def add(self, phase: str, seconds: float) -> None:
        """Add time to a phase."""
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds

    def time(self, phase: str) -> _Lap:
        """`with watch.time("eval"): ...` adds the block's own wall time to a phase."""
        return _Lap(self, phase)

    def _push(self, phase: str) -> None:
        now = time.perf_counter()
        if self._stack:
            outer, since = self._stack[-1]
            self.add(outer, now - since)
        self._stack.append((phase, now))

    def _pop(self) -> None:
        now = time.perf_counter()
        phase, since = self._stack.pop()
        self.add(phase, now - since)
        if self._stack:
            outer, _ = self._stack[-1]
            self._stack[-1] = (outer, now)


class _Lap:
    def __init__(self, watch: Stopwatch, phase: str) -> None:
        self.watch, self.phase = watch, phase

    def __enter__(self) -> None:
        self.watch._push(self.phase)

    def __exit__(self, *exc: object) -> None:
        self.watch._pop()
