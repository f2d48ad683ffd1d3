"""What runs on the Ray cluster: a warm training actor per pool slot, and the cluster-wide slot
limiter that every app replica asks before a job starts.

The actor is the Ray twin of a local worker process (`bertviz_lite.serve.worker_process`): it loads
the pretrained backbone(s) once, then runs one job at a time with the same `_run_job`, and
streams the same typed messages back, as a generator method (Ray's streaming generators: each
message reaches the app as soon as it is yielded). Only this module and `ray_backend` import ray.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import ray

from bertviz_lite.serve.messages import Analysed, Done, Failed, Hello, JobRequest, WorkerMessage
from bertviz_lite.serve.worker_process import WorkerOptions, _run_job, _warm_up, lower_priority

log = logging.getLogger(__name__)

LIMITER_NAME = "bertviz-job-slots"


class _Token:
    """The stop token `_run_job` reads: the seq of the run to stop (a plain attribute here)."""

    def __init__(self) -> None:
        self.value = 0


@ray.remote
class TrainingActor:
    """One warm worker on the cluster (threaded: `stop` runs while `run` streams)."""

    def __init__(self, options: WorkerOptions) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        lower_priority(options.nice)
        self.options = options
        self._warm: list[WorkerMessage] = []
        self._backbones = _warm_up(options, self._warm.append)
        self._stop = threading.Event()
        self._token = _Token()
        self._busy = threading.Lock()

    def hello(self) -> list[WorkerMessage]:
        """Hello (this actor's pid), then what warm-up reported (Warm..., Models, Ready)."""
        return [Hello(os.getpid()), *self._warm]

    def ping(self) -> int:
        """Alive: the actor's process id."""
        return os.getpid()

    def run(self, job: JobRequest, data: Any = None) -> Iterator[WorkerMessage]:
        """Train `job` (its uploaded data passed separately, from the object store), yielding
        Begin, every step/eval/progress message, then Done or Failed; an analysis job
        (`job.analysis`) yields Begin, its progress, then Analysed or Failed."""
        if data is not None:
            job = dataclasses.replace(job, data=data)
        with self._busy:
            messages: queue.Queue[WorkerMessage] = queue.Queue()
            thread = threading.Thread(
                target=_run_job, name=f"bertviz-job-{job.seq}", daemon=True,
                args=(job, messages.put, self._backbones, self._stop, self._token,
                      self.options.threads, self.options.feature_cache_mb))
            thread.start()
            try:
                while True:
                    msg = messages.get()
                    yield msg
                    if isinstance(msg, Done | Analysed | Failed):
                        return
            finally:  # cancelled or the consumer went away: stop the training thread too
                if thread.is_alive():
                    self.stop(job.seq)
                    thread.join(60.0)

    def stop(self, seq: int) -> None:
        """Stop run `seq` between steps (a late stop of a finished run stops nothing)."""
        self._token.value = seq
        self._stop.set()


@ray.remote(num_cpus=0)
class SlotLimiter:
    """At most `capacity` training jobs at once on the cluster, whichever replica asks.

    A lease expires unless renewed within `ttl_s`, so a replica that dies frees its slots.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, int(capacity))
        self.leases: dict[str, tuple[str, float]] = {}  # lease -> (holder, expiry)
        self.peak = 0

    def _expire(self) -> None:
        now = time.monotonic()
        self.leases = {k: v for k, v in self.leases.items() if v[1] > now}

    def acquire(self, holder: str, ttl_s: float) -> str | None:
        """A lease id, or None when every slot is taken."""
        self._expire()
        if len(self.leases) >= self.capacity:
            return None
        lease = uuid.uuid4().hex
        self.leases[lease] = (holder, time.monotonic() + ttl_s)
        self.peak = max(self.peak, len(self.leases))
        return lease

    def renew(self, lease: str, ttl_s: float) -> bool:
        """Keep `lease` alive for another `ttl_s`; False if it had expired."""
        self._expire()
        if lease not in self.leases:
            return False
        self.leases[lease] = (self.leases[lease][0], time.monotonic() + ttl_s)
        return True

    def release(self, lease: str) -> None:
        self.leases.pop(lease, None)

    def stats(self) -> dict[str, int]:
        """Held now, the most ever held at once, and the capacity."""
        self._expire()
        return {"held": len(self.leases), "peak": self.peak, "capacity": self.capacity}
