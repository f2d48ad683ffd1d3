"""The Ray backend of the job pool: each pool slot is a warm `TrainingActor` on a Ray cluster.

To the pool a Ray slot looks like a local worker process: a `RayWorkerHandle` is a
`WorkerHandle` whose pipe is fed by a forwarding thread that reads the actor's streaming
generator, and whose "process" (`ActorProcess`) has a sentinel that fires when the actor is
gone for good. So the dispatcher, the queue, the watchdog, Stop and the run cache are the
same code on both backends.

- Limits: before a job starts, its handle takes a lease from the cluster's named
  `SlotLimiter` (capacity `max_jobs`), so several app replicas never run more than `max_jobs`
  jobs at once in all; a lease lapses unless renewed, so a dead replica frees its slots.
- Stop: the actor's `stop()` (between steps, keeping the steps done, as on the local
  backend); when the pool kills a slot (a stop that did not arrive in time), `ray.cancel` on the
  job's generator, then `ray.kill` of the actor.
- An actor that dies (killed node, out of memory) is restarted by Ray (`max_restarts`); its job
  is reported as failed with a plain message, and the next job waits for the restarted actor.
- Uploaded data travels with the job through Ray's object store (one `ray.put` per content),
  never as a path on the app server. Checkpoints and the run cache must be on storage every
  replica and node reaches (see docs/department.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import pickle
import threading
import time
from collections import OrderedDict
from typing import Any

# A thread that calls Ray after the pool left the cluster must fail, not start a new local
# Ray instance in this process (Ray's auto-connect); read when ray is first imported.
os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")

import ray
from ray.exceptions import (
    ActorDiedError,
    ActorUnavailableError,
    GetTimeoutError,
    RayActorError,
    RayError,
    TaskCancelledError,
)

from bertviz_lite.record.runs import Progress
from bertviz_lite.serve.backend import BackendError, RayOptions
from bertviz_lite.serve.messages import (
    Failed,
    JobRequest,
    ProgressEvent,
    WorkerMessage,
)
from bertviz_lite.serve.ray_actor import LIMITER_NAME, SlotLimiter, TrainingActor
from bertviz_lite.serve.worker_handles import WorkerHandle
from bertviz_lite.serve.worker_process import WorkerOptions

log = logging.getLogger("bertviz_lite.serve.pool")

LEASE_TTL_S = 30.0  # a lease not renewed for this long is free again
RESTART_WAIT_S = 600.0  # how long a job waits for a restarting actor (it warms up again)
ACTOR_DIED = ("The training worker on the cluster stopped unexpectedly ({}). Ray restarts it; "
              "train again in a moment.")
WAITING = "waiting for a free training slot on the cluster"


def connect(options: RayOptions) -> None:
    """Join the Ray cluster at `options.address` (once per process)."""
    if ray.is_initialized():
        return
    try:
        ray.init(address=options.address, namespace=options.namespace, log_to_driver=False,
                 ignore_reinit_error=True)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise BackendError(f"cannot reach the Ray cluster at {options.address!r}: {err}. "
                           "Start one with `ray start --head`, or set ray_address.") from None


def gpus_per_job(options: RayOptions) -> float:
    """GPUs each actor asks for: the setting, or 1 where the cluster has a GPU."""
    if options.num_gpus is not None:
        return float(options.num_gpus)
    return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


class RayBackend:
    """Makes `RayWorkerHandle`s on the cluster at `options.address`."""

    name = "ray"

    def __init__(self, options: RayOptions) -> None:
        self.options = options
        connect(options)
        self.limiter = SlotLimiter.options(
            name=LIMITER_NAME, namespace=options.namespace, lifetime="detached",
            get_if_exists=True).remote(options.max_jobs)
        self.data = _DataStore()
        self.holder = f"{os.uname().nodename}:{os.getpid()}"

    def spawn(self, slot: int, options: WorkerOptions) -> WorkerHandle:
        actor = TrainingActor.options(
            num_cpus=self.options.num_cpus, num_gpus=gpus_per_job(self.options),
            max_restarts=3, max_task_retries=0, max_concurrency=2,
            name=f"bertviz-{self.holder}-slot{slot}-{time.monotonic_ns()}",
            namespace=self.options.namespace).remote(options)
        return RayWorkerHandle.start(slot, actor, self)

    def close(self) -> None:
        self.data.clear()

    def limiter_stats(self) -> dict[str, int]:
        """Leases held now and at most, across every replica."""
        return ray.get(self.limiter.stats.remote(), timeout=10)


class _DataStore:
    """Uploaded datasets in the object store, one ref per content (a few most recent)."""

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self.refs: OrderedDict[str, Any] = OrderedDict()
        self.lock = threading.Lock()

    def ref(self, data: Any) -> Any:
        key = hashlib.sha256(pickle.dumps(data, protocol=5)).hexdigest()
        with self.lock:
            if key not in self.refs:
                self.refs[key] = ray.put(data)
                while len(self.refs) > self.keep:
                    self.refs.popitem(last=False)
            self.refs.move_to_end(key)
            return self.refs[key]

    def clear(self) -> None:
        with self.lock:
            self.refs.clear()


class ActorProcess:
    """The pool's view of an actor as a process: a sentinel fd that fires once it is gone."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor
        self._read, self._write = os.pipe()
        self.sentinel = self._read
        self.exitcode: int | None = None
        self.pid: int | None = None
        self.generator: Any = None  # the job being streamed, for ray.cancel
        self._lock = threading.Lock()

    def is_alive(self) -> bool:
        return self.exitcode is None

    def gone(self, code: int) -> None:
        """Mark the actor gone: the sentinel becomes readable (EOF)."""
        with self._lock:
            if self.exitcode is None:
                self.exitcode = code
                os.close(self._write)

    def join(self, timeout: float | None = None) -> None:
        end = time.monotonic() + (timeout or 0.0)
        while self.is_alive() and time.monotonic() < end:
            time.sleep(0.01)

    def kill(self) -> None:
        """Cancel the running job's generator, then end the actor for good."""
        gen = self.generator
        if gen is not None:
            with contextlib.suppress(RayError, TypeError, ValueError):
                ray.cancel(gen)
        with contextlib.suppress(RayError, ValueError):
            ray.kill(self.actor, no_restart=True)
        self.gone(-9)

    terminate = kill

    def close(self) -> None:
        self.gone(-9)
        with contextlib.suppress(OSError):
            os.close(self._read)


class _Lease:
    """A slot of the cluster-wide limiter, renewed in the background while held."""

    def __init__(self, limiter: Any, lease: str) -> None:
        self.limiter, self.lease = limiter, lease
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True, name="bertviz-lease")
        self._thread.start()

    def _renew(self) -> None:
        while not self._done.wait(LEASE_TTL_S / 3):
            with contextlib.suppress(RayError):
                self.limiter.renew.remote(self.lease, LEASE_TTL_S)

    def release(self) -> None:
        self._done.set()
        with contextlib.suppress(RayError):
            self.limiter.release.remote(self.lease)


class RayWorkerHandle(WorkerHandle):
    """A pool slot backed by a `TrainingActor` (see the module docstring)."""

    backend: Any = None
    _sender: Any = None

    @classmethod
    def start(cls, slot: int, actor: Any, backend: RayBackend) -> RayWorkerHandle:
        import multiprocessing as mp

        recv_end, send_end = mp.Pipe(duplex=False)
        h = cls(slot, ActorProcess(actor), None, recv_end, None, None, time.monotonic())
        h.backend, h._sender = backend, send_end
        h._send_lock = threading.Lock()
        h._exit = False
        h._stop_seq = 0
        h._warming = threading.Thread(target=h._warm_up, daemon=True, name=f"bertviz-ray-{slot}")
        h._warming.start()
        return h

    # -- what the pool calls ---------------------------------------------------------------
    def hand(self, request: JobRequest) -> bool:
        if not self.process.is_alive():
            return False
        threading.Thread(target=self._forward, args=(request,), daemon=True,
                         name=f"bertviz-ray-job-{request.seq}").start()
        return True

    def signal_stop(self, seq: int) -> None:
        self._stop_seq = seq
        if self.process.is_alive():
            with contextlib.suppress(RayError):
                self.process.actor.stop.remote(seq)

    def ask_exit(self) -> None:
        self._exit = True
        if self.process.generator is None:
            self.process.kill()

    def close_channels(self) -> None:
        for conn in (self.conn, self._sender):
            with contextlib.suppress(OSError):
                conn.close()
        self.process.close()

    def end(self, timeout: float) -> None:
        if self.process.is_alive():
            self.process.kill()

    # -- threads ---------------------------------------------------------------------------
    def _send(self, msg: WorkerMessage) -> None:
        with self._send_lock, contextlib.suppress(OSError, ValueError):
            self._sender.send(msg)

    def _warm_up(self) -> None:
        try:
            messages = ray.get(self.process.actor.hello.remote(), timeout=900)
        except (RayError, GetTimeoutError) as err:
            log.warning("Ray worker %d did not start: %s", self.slot, err)
            self.process.gone(1)
            return
        for msg in messages:
            if hasattr(msg, "pid"):
                self.process.pid = msg.pid
            self._send(msg)

    def _forward(self, request: JobRequest) -> None:
        """Take a cluster slot, run the job on the actor, pass every message on."""
        self._warming.join()
        seq = request.seq
        lease = self._lease(seq)
        try:
            self._stream(request)
        finally:
            if lease is not None:
                lease.release()
            self.process.generator = None
            if self._exit:
                self.process.kill()

    def _lease(self, seq: int) -> _Lease | None:
        """Wait for a free slot on the cluster (None: the run was stopped while waiting)."""
        told = False
        while self.process.is_alive():
            lease = ray.get(self.backend.limiter.acquire.remote(self.backend.holder,
                                                                LEASE_TTL_S), timeout=30)
            if lease is not None:
                return _Lease(self.backend.limiter, lease)
            if self._stop_seq == seq:
                return None  # it ends at its first step check; no slot needed
            if not told:
                self._send(ProgressEvent(seq, Progress("queue", 0, 1, WAITING), time.time()))
                told = True
            time.sleep(0.25)
        return None

    def _await_actor(self) -> None:
        """Return once the actor answers (Ray may be restarting it after a crash)."""
        end = time.monotonic() + RESTART_WAIT_S
        while True:
            try:
                ray.get(self.process.actor.ping.remote(), timeout=30)
                return
            except ActorDiedError:  # restarts used up: this slot gets a fresh actor
                self.process.gone(1)
                raise
            except (ActorUnavailableError, GetTimeoutError):
                if time.monotonic() > end:
                    raise
                time.sleep(0.5)

    def _stream(self, request: JobRequest) -> None:
        seq, data_ref = request.seq, None
        if request.data is not None:
            data_ref = self.backend.data.ref(request.data)
            request = dataclasses.replace(request, data=None)
        try:
            self._await_actor()
            gen = self.process.actor.run.remote(request, data_ref)
            self.process.generator = gen
            for ref in gen:
                self._send(ray.get(ref))
        except RayActorError as err:
            log.warning("Ray worker %d died during run %d: %s", self.slot, seq, err)
            self._send(Failed(seq, ACTOR_DIED.format(type(err).__name__), type(err).__name__, ""))
        except TaskCancelledError:
            self._send(Failed(seq, "The job was cancelled on the cluster.", "TaskCancelledError",
                              ""))
        except (RayError, GetTimeoutError) as err:
            log.warning("Ray run %d failed: %s", seq, err)
            self._send(Failed(seq, f"The cluster could not run this job ({type(err).__name__}).",
                              type(err).__name__, ""))
