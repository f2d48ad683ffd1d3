"""The main process's handles on the worker processes: spawn, hand a job, read messages, stop,
kill, and the fixed set of slots with their respawn back-off.

Stop: every worker owns an `mp.Event` (made at spawn) plus a lock-free shared "stop token"
holding the sequence number of the run to stop, so a late stop of a finished run can never
stop the next one (the worker side is `worker._JobStop`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from bertviz_lite.serve.job import Run
from bertviz_lite.serve.messages import JobRequest, WorkerMessage
from bertviz_lite.serve.worker_process import WorkerOptions, worker_main

log = logging.getLogger("bertviz_lite.serve.pool")  # one log for the whole pool


@dataclass(eq=False)
class WorkerHandle:
    """Main-side view of one worker process (fields changed only with the pool lock held)."""

    slot: int
    process: Any  # multiprocessing SpawnProcess
    jobs: Any  # multiprocessing Queue: main -> worker
    conn: Connection  # worker -> main
    stop_event: Any  # multiprocessing Event
    stop_token: Any  # multiprocessing Value("q"): seq of the run to stop
    spawned: float
    pid: int | None = None
    warm: bool = False
    warm_at: float | None = None  # time.monotonic() when it finished warming up
    kill_sent: bool = False  # the watchdog killed it; its death is on the way
    models: list[str] = field(default_factory=list)
    run: Run | None = None
    eof: bool = False
    dead: bool = False

    @property
    def idle(self) -> bool:
        """Alive and not training."""
        return not self.dead and self.run is None

    def hand(self, request: JobRequest) -> bool:
        """Put a job on this worker's queue (never blocks); False when the queue is closed."""
        try:
            self.jobs.put(request)
        except (OSError, ValueError) as err:  # the worker is going
            log.warning("could not hand run %d to worker %d: %s", request.seq, self.slot, err)
            return False
        return True

    def signal_stop(self, seq: int) -> None:
        """Ask the worker to stop run `seq` (between steps)."""
        if self.dead:
            return
        self.stop_token.value = seq  # first the token (lock-free), then the event
        self.stop_event.set()

    def receive(self) -> Iterator[WorkerMessage]:
        """Every message this worker has sent so far (sets `eof` once the pipe is gone)."""
        while not self.eof:
            try:
                if not self.conn.poll():
                    return
                msg = self.conn.recv()
            except Exception:  # EOF, closed, or a half message from a killed process
                self.eof = True
                return
            yield msg

    def ask_exit(self) -> None:
        """Tell the worker to exit after its current job."""
        try:
            self.jobs.put(None)
        except (OSError, ValueError):
            pass

    def close_channels(self) -> None:
        """Close the job queue and the pipe (the process is gone or going)."""
        try:
            self.jobs.cancel_join_thread()
            self.jobs.close()
        except (OSError, ValueError, AttributeError):
            pass
        try:
            self.conn.close()
        except OSError:
            pass

    def end(self, timeout: float) -> None:
        """Terminate, then kill, a worker that did not exit by itself."""
        if not self.process.is_alive():
            return
        log.warning("worker %d did not exit in time; terminating it", self.slot)
        self.process.terminate()
        if not join_process(self.process, timeout):
            self.process.kill()
            join_process(self.process, timeout)


def spawn_worker(ctx: Any, slot: int, options: WorkerOptions) -> WorkerHandle:
    """Start one worker process (a few milliseconds here; it warms up on its own)."""
    recv_end, send_end = ctx.Pipe(duplex=False)
    jobs = ctx.Queue()
    event = ctx.Event()
    token = ctx.Value("q", 0, lock=False)  # lock-free: a killed worker can hold no lock
    proc = ctx.Process(target=worker_main, name=f"bertviz-worker-{slot}", daemon=True,
                       args=(slot, jobs, send_end, event, token, options))
    with bare_main():
        proc.start()
    send_end.close()  # only the worker writes: EOF here once it is gone
    return WorkerHandle(slot, proc, jobs, recv_end, event, token, time.monotonic(), pid=proc.pid)


class WorkerSlots:
    """`size` slots, each empty or holding a WorkerHandle, and when to refill an empty one.

    A worker that dies while warming up is retried with exponential back-off (2, 4, ... 60 s);
    one that dies later is replaced at once.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.handles: list[WorkerHandle | None] = [None] * size
        self._respawn_at = [0.0] * size
        self._early_deaths = [0] * size

    def live(self) -> list[WorkerHandle]:
        """Handles of workers not known to be dead."""
        return [w for w in self.handles if w is not None and not w.dead]

    def idle(self) -> list[WorkerHandle]:
        """Live workers without a run."""
        return [w for w in self.handles if w is not None and w.idle]

    def busy(self) -> int:
        """Workers training a run now."""
        return sum(1 for w in self.handles if w is not None and w.run is not None)

    def at(self, slot: int | None) -> WorkerHandle | None:
        """The worker in `slot` (None for an empty slot or no slot)."""
        return None if slot is None else self.handles[slot]

    def install(self, w: WorkerHandle) -> None:
        self.handles[w.slot] = w

    def warmed(self, w: WorkerHandle) -> None:
        """The worker finished warming up: a later death is not an early one."""
        w.warm, w.warm_at = True, time.monotonic()
        self._early_deaths[w.slot] = 0

    def vacate(self, w: WorkerHandle) -> float:
        """Empty the slot of a dead worker; returns the seconds until it is refilled."""
        if self.handles[w.slot] is w:
            self.handles[w.slot] = None
        delay = 0.0
        if not w.warm:  # died while starting up: back off before trying again
            self._early_deaths[w.slot] += 1
            delay = min(60.0, 2.0 ** self._early_deaths[w.slot])
        self._respawn_at[w.slot] = time.monotonic() + delay
        return delay

    def due(self, now: float) -> list[int]:
        """Empty slots whose refill time has come (each returned once until `retry`)."""
        slots = [s for s, w in enumerate(self.handles) if w is None and now >= self._respawn_at[s]]
        for s in slots:
            self._respawn_at[s] = float("inf")  # until this spawn is installed
        return slots

    def retry(self, slot: int, after_s: float) -> None:
        """A spawn failed: try again in `after_s` seconds."""
        self._respawn_at[slot] = time.monotonic() + after_s

    def clear(self) -> None:
        self.handles = [None] * self.size


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def bare_main() -> Iterator[None]:
    """Start processes with an empty `__main__`.

    A spawned child re-imports its parent's `__main__` file. Inside a Streamlit script run
    that is the page script itself, so every worker would run the whole app first (seconds,
    and a second pool). The worker's target lives in a module of its own, so it needs nothing
    from `__main__`.
    """
    with _MAIN_LOCK:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


def join_process(proc: Any, timeout: float) -> bool:
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
