"""The pool's dispatcher thread: the pipes and processes of the workers.

It waits on every worker's pipe and process sentinel at once (`multiprocessing.connection.
wait`), so a step's record reaches its Job as soon as it is sent and a dead worker is noticed
at once; the watchdog's checks run at least every TICK_S. What a message or a death means for
the runs is the `PoolCore`'s business (`on_message`, `on_death`, `watch`); this thread reads
the pipes, kills the workers the watchdog names and starts fresh ones.
"""

from __future__ import annotations

import logging
import threading
import time
from multiprocessing.connection import wait as wait_any
from typing import Any

from bertviz_lite.record.runs import RunRecord
from bertviz_lite.serve.core import PoolCore
from bertviz_lite.serve.messages import Done
from bertviz_lite.serve.worker_handles import WorkerHandle

log = logging.getLogger("bertviz_lite.serve.pool")  # one log for the whole pool

TICK_S = 0.25  # housekeeping interval (events themselves are routed at once)
RETRY_SPAWN_S = 10.0  # a worker that could not be started is tried again after this long


class Dispatcher:
    """The thread that moves everything a worker says into the pool's state."""

    def __init__(self, core: PoolCore) -> None:
        self._core = core
        self._thread = threading.Thread(target=self._loop, name="bertviz-jobs-dispatcher",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _loop(self) -> None:
        while (workers := self._core.live_workers()) is not None:
            ready = self._wait(workers)
            try:
                for w in ready:
                    self._drain(w)
                for w in workers:
                    if not w.process.is_alive():
                        self._drain(w)
                        self._gone(w)
                self._housekeeping()
            except Exception:  # the dispatcher must never die
                log.exception("job pool dispatcher error (continuing)")

    @staticmethod
    def _wait(workers: list[WorkerHandle]) -> list[WorkerHandle]:
        """The workers whose pipe has messages, waiting up to TICK_S (also woken by a death)."""
        waitables: dict[Any, WorkerHandle] = {}
        for w in workers:
            if not w.eof:
                waitables[w.conn] = w
            waitables[w.process.sentinel] = w
        if not waitables:
            time.sleep(TICK_S)
            return []
        try:
            ready = wait_any(list(waitables), timeout=TICK_S)
        except (OSError, ValueError):  # a handle closed under us (shutdown)
            return []
        return [waitables[obj] for obj in ready if obj is waitables[obj].conn]

    def _drain(self, w: WorkerHandle) -> None:
        """Route every message this worker has sent so far."""
        for msg in w.receive():
            try:
                record = None
                if isinstance(msg, Done):  # rebuild and store it before anyone sees it finished
                    record = RunRecord.from_dict(msg.record)
                    self._core.store(record)
                self._core.on_message(w, msg, record)
            except Exception:
                log.exception("could not handle a message from worker %d", w.slot)

    def _gone(self, w: WorkerHandle) -> None:
        """A worker process is gone: the core ends its run; its channels are closed."""
        if not self._core.on_death(w):
            return
        try:
            w.process.join(0.1)
        except (OSError, ValueError):
            pass
        w.close_channels()

    def _housekeeping(self) -> None:
        """The watchdog's checks; kill the workers it names, start the ones due."""
        kill, respawn = self._core.watch(time.monotonic())
        for w in kill:
            w.process.kill()
        for slot in respawn:
            try:
                self._core.spawn_into(slot)
            except Exception:
                log.exception("could not start worker %d; retrying in %.0f s", slot,
                              RETRY_SPAWN_S)
                self._core.retry_spawn(slot, RETRY_SPAWN_S)
