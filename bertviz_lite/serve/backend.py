"""Where training jobs run: the job backend interface of the pool.

The pool (queue, limits, Stop, watchdog, run cache) talks to its workers through
`WorkerHandle`s only: hand a `JobRequest`, read the typed messages of
`bertviz_lite.serve.messages`, ask a stop, end. A backend makes those handles:

- `local` (the default): one spawned worker process per slot on this machine
  (`bertviz_lite.serve.worker_handles`);
- `ray`: one Ray actor per slot on a Ray cluster (`bertviz_lite.serve.ray_backend`), for a
  class or a department that outgrows one machine. Needs `pip install 'bertviz-lite[ray]'`;
  nothing imports `ray` unless this backend is chosen.

Pages, queue, limits, Stop, the run cache and the class poll do not know which one runs.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass
from typing import Protocol

from bertviz_lite.serve.worker_handles import WorkerHandle, spawn_worker
from bertviz_lite.serve.worker_process import WorkerOptions

BACKENDS = ("local", "ray")


class BackendError(RuntimeError):
    """A backend that cannot start (Ray missing, cluster unreachable); says what to do."""


class WorkerBackend(Protocol):
    """Makes the pool's worker handles."""

    name: str

    def spawn(self, slot: int, options: WorkerOptions) -> WorkerHandle:
        """Start the worker for `slot`; returns at once (it warms up on its own)."""
        ...

    def close(self) -> None:
        """Release what the backend holds (after every handle has ended)."""
        ...


class LocalBackend:
    """Worker processes on this machine (`multiprocessing`, spawn start method)."""

    name = "local"

    def __init__(self) -> None:
        self._ctx = mp.get_context("spawn")

    def spawn(self, slot: int, options: WorkerOptions) -> WorkerHandle:
        return spawn_worker(self._ctx, slot, options)

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class RayOptions:
    """How jobs run on a Ray cluster.

    address: `auto` (the cluster this machine belongs to), `HOST:PORT` (a cluster's GCS) or
    `ray://HOST:10001` (Ray Client). num_cpus: CPUs each training actor asks for. num_gpus:
    GPUs each actor asks for; None = 1 where the cluster has GPUs, else 0. max_jobs: training
    jobs running at once across every app replica that uses this cluster (a named slot
    limiter on the cluster enforces it). namespace: Ray namespace shared by the replicas.
    """

    address: str = "auto"
    num_cpus: float = 1.0
    num_gpus: float | None = None
    max_jobs: int = 1
    namespace: str = "bertviz-lite"
