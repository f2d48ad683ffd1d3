"""The pool's dispatcher thread: route worker messages to runs, notice dead workers, and keep
house (the watchdog, stop timeouts, respawns, handing queued runs to idle workers).

It waits on every worker's pipe and process sentinel at once (`multiprocessing.connection.
wait`), so a step's record reaches its Job as soon as it is sent and a dead worker is noticed
at once; housekeeping runs at least every TICK_S.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from multiprocessing.connection import wait as wait_any
from pathlib import Path
from typing import Any

from bertviz_lite.record.runs import RunRecord
from bertviz_lite.serve.core import PoolCore
from bertviz_lite.serve.following import RunIndex
from bertviz_lite.serve.job import ACTIVE, FINISHED, Run
from bertviz_lite.serve.messages import (
    Analysed,
    Begin,
    Done,
    Failed,
    Hello,
    Models,
    Ready,
    TrainingEvent,
    Warm,
    WarmError,
    WorkerMessage,
    event_of,
)
from bertviz_lite.serve.workers import WorkerHandle

log = logging.getLogger("bertviz_lite.serve.pool")  # one log for the whole pool

TICK_S = 0.25  # housekeeping interval (events themselves are routed at once)
MAX_REQUEUES = 2  # a run whose worker died before starting it goes back to the queue this often
UNEXPECTED = "Training failed unexpectedly ({}); the error was logged for the instructor"
DIED = "The training process stopped unexpectedly (exit code {})"
OOM_HINT = (". It was killed, most often because the machine ran out of memory: try a smaller "
            "batch size, max_length or model")
SHUTDOWN = "The server shut down before the run finished."


class Dispatcher:
    """The thread that moves everything a worker says into the pool's state."""

    def __init__(self, core: PoolCore) -> None:
        self.core = core
        self.thread = threading.Thread(target=self._loop, name="bertviz-jobs-dispatcher",
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()

    def alive(self) -> bool:
        return self.thread.is_alive()

    def _loop(self) -> None:
        core = self.core
        while True:
            with core.lock:
                if core.closed:
                    return
                workers = core.slots.live()
            waitables: dict[Any, WorkerHandle] = {}
            for w in workers:
                if not w.eof:
                    waitables[w.conn] = w
                waitables[w.process.sentinel] = w
            try:
                ready = wait_any(list(waitables), timeout=TICK_S) if waitables else []
                if not waitables:
                    time.sleep(TICK_S)
            except (OSError, ValueError):  # a handle closed under us (shutdown)
                ready = []
            try:
                for obj in ready:
                    if obj is waitables[obj].conn:
                        self.drain(waitables[obj])
                for w in workers:
                    if not w.process.is_alive():
                        self.drain(w)
                        self.on_death(w)
                self.housekeeping()
            except Exception:  # the dispatcher must never die
                log.exception("job pool dispatcher error (continuing)")

    # -- messages -------------------------------------------------------------------------
    def drain(self, w: WorkerHandle) -> None:
        """Route every message this worker has sent so far."""
        for msg in w.receive():
            try:
                record = None
                if isinstance(msg, Done):  # rebuild and store it before anyone sees it finished
                    record = RunRecord.from_dict(msg.record)  # (a submit meanwhile follows it)
                    if record.status == "completed":
                        RunIndex.store(self.core.cache, record)
                with self.core.lock:
                    self.apply(w, msg, record)
            except Exception:
                log.exception("could not handle a message from worker %d", w.slot)

    def apply(self, w: WorkerHandle, msg: WorkerMessage, record: RunRecord | None) -> None:
        """Apply one worker message (lock held); `record`: the RunRecord of a Done."""
        run = w.run
        if isinstance(msg, (Done, Analysed, Failed)):
            if run is not None and run.seq == msg.seq:
                w.run = None
                if run.state in ACTIVE:
                    self._ended(w, run, msg, record)
                self.core.dispatch()
        elif isinstance(msg, Begin):
            if run is not None and run.seq == msg.seq and run.started is None:
                run.started = time.time()
        elif isinstance(msg, Hello):
            w.pid = msg.pid
        elif isinstance(msg, Warm):
            log.info("worker %d loaded %s in %.1f s", w.slot, msg.model, msg.seconds)
        elif isinstance(msg, WarmError):
            log.warning("worker %d could not load warm model %s: %s", w.slot, msg.model,
                        msg.error)
        elif isinstance(msg, Models):
            w.models = list(msg.names)
        elif isinstance(msg, Ready):
            self.core.slots.warmed(w)
            self.core.dispatch()
        else:
            self._event(run, msg)

    def _event(self, run: Run | None, msg: TrainingEvent) -> None:
        if run is None or run.seq != msg.seq or run.state in FINISHED:
            return
        self.core.latency.append(max(0.0, time.time() - msg.sent))
        run.add_event(event_of(msg))

    def _ended(self, w: WorkerHandle, run: Run, msg: Done | Analysed | Failed,
               record: RunRecord | None) -> None:
        core = self.core
        if isinstance(msg, Analysed):
            core.finish(run, msg.status, result=msg.result)
            return
        if isinstance(msg, Done):
            record = record or RunRecord.from_dict(msg.record)
            checkpoint = Path(msg.checkpoint) if msg.checkpoint else None
            core.finish(run, record.status, record=record, error=msg.note, checkpoint=checkpoint)
            if record.status == "completed":
                core.index.completed(run, record, checkpoint)
            return
        message = msg.message
        if not message:
            log.error("run %d (%s) failed in worker %d:\n%s", run.seq, run.owners(), w.slot,
                      msg.traceback)
            message = UNEXPECTED.format(msg.exc_type)
        core.finish(run, "failed", error=message)

    # -- deaths and housekeeping ----------------------------------------------------------
    def on_death(self, w: WorkerHandle) -> None:
        """A worker process is gone: end (or requeue) its run, plan a fresh worker."""
        core = self.core
        with core.lock:
            if w.dead:
                return
            w.dead = True
            code = w.process.exitcode
            run, w.run = w.run, None
            delay = core.slots.vacate(w)
            if core.closing:
                if run is not None and run.state in ACTIVE:
                    core.finish(run, "stopped", error=SHUTDOWN)
            else:
                core.counts["restarts"] += 1
                log.warning("worker %d (pid %s) exited with code %s%s; %s", w.slot, w.pid, code,
                            f" while running run {run.seq}" if run else "",
                            f"restarting it in {delay:.0f} s" if delay else "restarting it")
                if run is not None and run.state in ACTIVE:
                    self._orphaned(run, code)
        try:
            w.process.join(0.1)
        except (OSError, ValueError):
            pass
        w.close_channels()

    def _orphaned(self, run: Run, code: int | None) -> None:
        """The worker of an active run died: stopped, back to the queue, or failed."""
        core = self.core
        if run.stop_requested is not None:
            core.finish(run, "stopped")
        elif run.started is None and run.requeues < MAX_REQUEUES:
            run.requeues += 1  # it never began: give it to the next worker
            run.slot, run.state = None, "queued"
            core.queue.push_front(run)
        else:
            msg = DIED.format(code) + (OOM_HINT if code == -signal.SIGKILL else "")
            core.finish(run, "failed", error=msg)

    def housekeeping(self) -> None:
        """Watchdog, stop timeouts, respawns, dispatch."""
        core = self.core
        now = time.monotonic()
        with core.lock:
            if core.closing:
                return
            runs = list(core.queue) + [w.run for w in core.workers() if w.run is not None]
            kill = [w for run in runs if (w := self._stuck(run, now)) is not None]
            for run in runs:
                if run.stop_requested is None and self._abandoned(run, now):
                    core.counts["abandoned"] += 1
                    log.warning("run %d (%s, %s) was not polled for %.0f s: stopping it (the "
                                "browser tab is gone)", run.seq, run.owners(),
                                run.config.task + "/" + run.config.mode, core.abandon_after_s)
                    core.stop_run(run, "abandoned")
            respawn = core.slots.due(now)
            core.dispatch()
        for w in kill:
            w.process.kill()
        for slot in respawn:
            try:
                core.spawn_into(slot)
            except Exception:
                log.exception("could not start worker %d; retrying in 10 s", slot)
                with core.lock:
                    core.slots.retry(slot, 10.0)

    def _stuck(self, run: Run, now: float) -> WorkerHandle | None:
        """The worker to kill when `run` has not confirmed its stop within stop_timeout_s."""
        if run.stop_requested is None:
            return None
        w = self.core.slots.at(run.slot)
        if (w is not None and w.run is run and not w.dead
                and now - run.stop_requested > self.core.stop_timeout_s):
            log.warning("run %d did not stop within %.0f s; killing worker %d",
                        run.seq, self.core.stop_timeout_s, w.slot)
            return w
        return None

    def _abandoned(self, run: Run, now: float) -> bool:
        """Every handle still following the run has not been polled for abandon_after_s."""
        watching = [h for h in run.handles if h.attached]
        limit = self.core.abandon_after_s
        return bool(watching) and all(now - h.last_touch > limit for h in watching)
