"""The worker process of the job pool (`bertviz_lite.serve.pool`): load the pretrained backbone(s)
once, then take one job at a time from this worker's queue, run the one engine
(`training.Trainer`) and stream its events back over this worker's pipe as the typed messages
of `bertviz_lite.serve.messages`. A job may instead be an analysis of a finished run
(`experiments.changes.analyse_changes`, "what changed inside BERT?"): it runs on the same warm
backbone, reports its progress as ProgressEvents and ends with Analysed; the pretrained side
it computes stays in this process for the next analysis.

Workers run at a lower CPU priority than the app (`WorkerOptions.nice`, from the `worker_nice`
setting): on a small machine the web server then draws pages first and training takes what
is left.

This is the only code that runs in the child processes; it imports torch and transformers,
never streamlit.
"""

from __future__ import annotations

import collections
import gc
import logging
import multiprocessing as mp
import os
import queue
import signal
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from bertviz_lite.data.examples import DataError
from bertviz_lite.engine.config import ConfigError
from bertviz_lite.record.runs import Progress, RunRecord
from bertviz_lite.serve.messages import (
    Analysed,
    Begin,
    Done,
    Failed,
    Hello,
    JobRequest,
    Models,
    ProgressEvent,
    Ready,
    Warm,
    WarmError,
    WorkerMessage,
    training_event,
)

log = logging.getLogger(__name__)

MAX_EXTRA_MODELS = 2  # non-warm backbones a worker keeps besides its warm ones
Send = Callable[[WorkerMessage], None]


@dataclass(frozen=True)
class WorkerOptions:
    """How every worker of a pool runs.

    warm_models: backbones loaded at start. threads: torch CPU threads. nice: added to the
    worker's CPU niceness at start (0: same priority as the app; 10: the app's requests win).
    feature_cache_mb: frozen features kept on disk across processes (least recently used out).
    """

    warm_models: tuple[str, ...]
    threads: int
    nice: int = 0
    feature_cache_mb: float = 2048.0


class _JobStop:
    """The StopSignal train() polls: this worker's Event, meant for this job; also stops when
    the app process is gone."""

    def __init__(self, event: Any, token: Any, seq: int) -> None:
        self.event, self.token, self.seq = event, token, seq
        self.parent = mp.parent_process()
        self._checked = time.monotonic()

    def is_set(self) -> bool:
        if self.token.value == self.seq and self.event.is_set():
            return True
        now = time.monotonic()
        if self.parent is not None and now - self._checked > 1.0:
            self._checked = now
            if not self.parent.is_alive():
                return True
        return False


class _Backbones:
    """Loaded backbones of one worker: warm ones kept for good, a few others least-recently-used."""

    def __init__(self, pinned: Iterable[str], load: Callable[[str], Any]) -> None:
        self.pinned = set(pinned)
        self.load_fn = load
        self.loaded: collections.OrderedDict[str, Any] = collections.OrderedDict()

    def get(self, name: str) -> Any | None:
        if name in self.loaded:
            self.loaded.move_to_end(name)
            return self.loaded[name]
        return None

    def load(self, name: str) -> Any:
        backbone = self.load_fn(name)
        self.loaded[name] = backbone
        extra = [n for n in self.loaded if n not in self.pinned]
        while len(extra) > MAX_EXTRA_MODELS:
            del self.loaded[extra.pop(0)]
            gc.collect()
        return backbone


def worker_main(slot: int, jobs: Any, conn: Connection, stop_event: Any, stop_token: Any,
                options: WorkerOptions) -> None:
    """Entry point of a worker process: warm up, then run jobs until told to exit."""
    _serve(slot, jobs, conn, stop_event, stop_token, options)
    logging.shutdown()
    os._exit(0)  # skip tearing down torch's modules (about a second); nothing is left to flush


def lower_priority(nice: int) -> int:
    """Add `nice` to this process's CPU niceness; returns the niceness now (unchanged when
    the system refuses)."""
    if nice <= 0 or not hasattr(os, "nice"):
        return os.nice(0) if hasattr(os, "nice") else 0
    try:
        return os.nice(nice)
    except OSError as err:
        log.warning("could not lower the worker's CPU priority: %s", err)
        return os.nice(0)


def _serve(slot: int, jobs: Any, conn: Connection, stop_event: Any, stop_token: Any,
           options: WorkerOptions) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the app; it ends us
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING,
                            format=f"%(levelname)s worker {slot} %(name)s: %(message)s")
    lower_priority(options.nice)  # before torch starts its threads: they inherit it

    def send(msg: WorkerMessage) -> None:
        try:
            conn.send(msg)
        except (OSError, EOFError, ValueError):  # the app process is gone
            os._exit(0)

    send(Hello(os.getpid()))
    backbones = _warm_up(options, send)
    parent = mp.parent_process()
    while True:
        try:
            job = jobs.get(timeout=1.0)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return
            continue
        except (EOFError, OSError):
            return
        if job is None:
            return
        _run_job(job, send, backbones, stop_event, stop_token, options.threads,
                 options.feature_cache_mb)
        del job  # the job's data (an upload) is not kept while waiting for the next


def _warm_up(options: WorkerOptions, send: Send) -> _Backbones:
    """Set torch's threads and load the warm backbones; reports each, then Ready."""
    import torch

    from bertviz_lite.engine.models import load_backbone

    torch.set_num_threads(options.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    backbones = _Backbones(options.warm_models, load_backbone)
    for name in options.warm_models:
        t0 = time.perf_counter()
        try:
            backbones.load(name)
            send(Warm(name, time.perf_counter() - t0))
        except Exception as err:  # a job for this model will try again and report why
            send(WarmError(name, f"{type(err).__name__}: {err}"))
    send(Models(tuple(backbones.loaded)))
    send(Ready())
    return backbones


_FEATURES: Any = None  # the worker's FeatureStore: a second frozen run on the same data skips
# the encoder entirely (created in the worker, so the app process never imports torch here)


def _run_job(job: JobRequest, send: Send, backbones: _Backbones, stop_event: Any,
             stop_token: Any, threads: int, feature_cache_mb: float = 2048.0) -> None:
    """Run one job in the worker and report every event; never raises."""
    import torch

    from bertviz_lite.engine.groups import ModelStructureError
    from bertviz_lite.engine.models import ModelError

    seq = job.seq
    stop_event.clear()  # a stale stop of the previous job must not stop this one...
    if stop_token.value == seq:  # ...but a stop meant for this very job may already be here
        stop_event.set()
    send(Begin(seq, time.time()))
    torch.set_num_threads(threads)
    stop = _JobStop(stop_event, stop_token, seq)
    try:
        if job.analysis is not None:
            send(_analyse(job, send, backbones, stop))
        else:
            send(_train(job, send, backbones, stop, feature_cache_mb))
    except (ConfigError, DataError, ModelError, ModelStructureError) as err:
        send(Failed(seq, str(err), type(err).__name__, ""))
    except OSError as err:  # an analysis whose saved model is gone or unreadable
        if job.analysis is None:
            send(Failed(seq, "", type(err).__name__, traceback.format_exc()))
        else:
            send(Failed(seq, f"the saved model could not be read ({err}); train the run "
                        "again", type(err).__name__, ""))
    except Exception as err:
        send(Failed(seq, "", type(err).__name__, traceback.format_exc()))
    finally:
        gc.collect()


def _backbone(job: JobRequest, send: Send, backbones: _Backbones) -> Any:
    """The job's pretrained backbone: a warm one, or loaded now (reported)."""
    name = job.config.model
    backbone = backbones.get(name)
    if backbone is None:
        load = Progress("load", 0, 1, f"loading model {name}")
        send(ProgressEvent(job.seq, load, time.time()))
        backbone = backbones.load(name)
        send(Models(tuple(backbones.loaded)))
    return backbone


def _analyse(job: JobRequest, send: Send, backbones: _Backbones, stop: Any) -> Analysed:
    """Analyse one finished run, streaming progress; stops between two steps when asked."""
    from bertviz_lite.experiments.inside_bert import AnalysisStopped, analyse_changes

    spec = job.analysis
    assert spec is not None
    backbone = _backbone(job, send, backbones)

    def progress(what: str, done: int, total: int) -> None:
        if stop.is_set():
            raise AnalysisStopped(what)
        send(ProgressEvent(job.seq, Progress("analyse", done, total, what), time.time()))

    try:
        result = analyse_changes(RunRecord.from_dict(spec.record), spec.checkpoint,
                                 max_examples=spec.max_examples, backbone=backbone,
                                 on_progress=progress)
    except AnalysisStopped:
        return Analysed(job.seq, "stopped", None)
    return Analysed(job.seq, "completed", result.to_dict())


def _train(job: JobRequest, send: Send, backbones: _Backbones, stop: _JobStop,
           mb: float = 2048.0) -> Done:
    """Train one job, streaming its events; the Done message with its record."""
    from bertviz_lite.engine.checkpoints import save_task_model
    from bertviz_lite.engine.events import Event, drain
    from bertviz_lite.engine.training import Trainer

    config = job.config
    backbone = _backbone(job, send, backbones)
    global _FEATURES
    if _FEATURES is None:
        from bertviz_lite.engine.feature_disk import FeatureDisk
        from bertviz_lite.engine.features import FeatureStore
        from bertviz_lite.paths import feature_cache_dir

        # features also outlive the worker, on disk
        _FEATURES = FeatureStore(disk=FeatureDisk(feature_cache_dir(), int(mb * 2**20)))
    trainer = Trainer(config, backbone=backbone, data=job.data, stop=stop, limits=job.limits,
                      features=_FEATURES)

    def stream(event: Event) -> None:
        if not isinstance(event, RunRecord):
            send(training_event(job.seq, event, time.time()))

    record = drain(trainer.events(), stream)
    checkpoint, note = None, ""
    if job.save_to and record.status == "completed":
        try:
            save_task_model(trainer.model, config, trainer.data.label_names, job.save_to)
            checkpoint = job.save_to
        except Exception as err:
            note = f"The trained model could not be saved ({type(err).__name__}: {err})."
            log.warning("%s", note)
    return Done(job.seq, record.to_dict(), checkpoint, note)
