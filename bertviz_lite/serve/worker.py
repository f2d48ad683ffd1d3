"""The worker process of the job pool (`bertviz_lite.serve.pool`): load the pretrained backbone(s)
once, then take one job at a time from this worker's queue, run the one engine
(`training.Trainer`) and stream its events back over this worker's pipe as plain dicts.

This is the only code that runs in the child processes; it imports torch and transformers,
never streamlit.
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import logging
import multiprocessing as mp
import os
import queue
import signal
import time
import traceback
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from typing import Any

from bertviz_lite.data.examples import DataError
from bertviz_lite.engine.config import ConfigError, RunConfig
from bertviz_lite.record.runs import EvalRecord, Progress, RunRecord, StepRecord

log = logging.getLogger(__name__)

MAX_EXTRA_MODELS = 2  # non-warm backbones a worker keeps besides its warm ones

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
                 warm_models: tuple[str, ...], threads: int) -> None:
    """Entry point of a worker process: warm up, then run jobs until told to exit."""
    _serve(slot, jobs, conn, stop_event, stop_token, warm_models, threads)
    logging.shutdown()
    os._exit(0)  # skip tearing down torch's modules (about a second); nothing is left to flush


def _serve(slot: int, jobs: Any, conn: Connection, stop_event: Any, stop_token: Any,
           warm_models: tuple[str, ...], threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the app; it ends us
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING,
                            format=f"%(levelname)s worker {slot} %(name)s: %(message)s")

    def send(msg: tuple) -> None:
        try:
            conn.send(msg)
        except (OSError, EOFError, ValueError):  # the app process is gone
            os._exit(0)

    send(("hello", os.getpid()))
    import torch

    from bertviz_lite.engine.models import load_backbone

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    backbones = _Backbones(warm_models, load_backbone)
    for name in warm_models:
        t0 = time.perf_counter()
        try:
            backbones.load(name)
            send(("warm", name, time.perf_counter() - t0))
        except Exception as err:  # a job for this model will try again and report why
            send(("warm_error", name, f"{type(err).__name__}: {err}"))
    send(("models", list(backbones.loaded)))
    send(("ready",))
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
        _run_job(job, send, backbones, stop_event, stop_token, threads)


_FEATURES: Any = None  # the worker's FeatureStore: a second frozen run on the same data skips
# the encoder entirely (created in the worker, so the app process never imports torch here)


def _run_job(job: dict[str, Any], send: Callable[[tuple], None], backbones: _Backbones,
             stop_event: Any, stop_token: Any, threads: int) -> None:
    """Run one job in the worker and report every event; never raises."""
    import torch

    from bertviz_lite.engine.checkpoints import save_task_model
    from bertviz_lite.engine.groups import ModelStructureError
    from bertviz_lite.engine.models import ModelError
    from bertviz_lite.engine.training import Trainer

    seq = job["seq"]
    stop_event.clear()  # a stale stop of the previous job must not stop this one...
    if stop_token.value == seq:  # ...but a stop meant for this very job may already be here
        stop_event.set()
    send(("begin", seq, time.time()))
    torch.set_num_threads(threads)
    trainer = None
    try:
        config: RunConfig = job["config"]
        backbone = backbones.get(config.model)
        if backbone is None:
            send(("ev", seq, "progress",
                  dataclasses.asdict(Progress("load", 0, 1, f"loading model {config.model}")),
                  time.time()))
            backbone = backbones.load(config.model)
            send(("models", list(backbones.loaded)))
        global _FEATURES
        if _FEATURES is None:
            from bertviz_lite.engine.feature_disk import FeatureDisk
            from bertviz_lite.engine.features import FeatureStore
            from bertviz_lite.paths import feature_cache_dir
            from bertviz_lite.serve.settings import load_settings

            mb = load_settings().feature_cache_mb  # features also outlive the worker, on disk
            _FEATURES = FeatureStore(disk=FeatureDisk(feature_cache_dir(), int(mb * 2**20)))
        trainer = Trainer(config, backbone=backbone, data=job["data"],
                          stop=_JobStop(stop_event, stop_token, seq), limits=job["limits"],
                          features=_FEATURES)
        record: RunRecord | None = None
        for event in trainer.events():
            if isinstance(event, RunRecord):
                record = event
                continue
            what = ("step" if isinstance(event, StepRecord) else
                    "eval" if isinstance(event, EvalRecord) else "progress")
            send(("ev", seq, what, dataclasses.asdict(event), time.time()))
        assert record is not None
        checkpoint, note = None, ""
        if job["save_to"] and record.status == "completed":
            try:
                save_task_model(trainer.model, config, trainer.data.label_names, job["save_to"])
                checkpoint = job["save_to"]
            except Exception as err:
                note = f"The trained model could not be saved ({type(err).__name__}: {err})."
                logging.getLogger(__name__).warning("%s", note)
        send(("done", seq, record.to_dict(), checkpoint, note))
    except (ConfigError, DataError, ModelError, ModelStructureError) as err:
        send(("error", seq, str(err), type(err).__name__, ""))
    except Exception as err:
        send(("error", seq, "", type(err).__name__, traceback.format_exc()))
    finally:
        del trainer
        job.clear()
        gc.collect()
