"""The one training loop: `train(config)` yields a record per step, evaluations and, last,
the RunRecord. The CLI, the app's workers, the benchmark and the tests all run it.

Frozen and fine-tuned differ only in the freeze policy. When every encoder group is frozen
the encoder runs once per example under `torch.no_grad()` and its outputs (the features) are
reused by every epoch; only the head runs in a training step.

The parts: `prepare` (model, data, tokens, the record started), `batches` (the head's inputs
and the frozen feature pass), `steps` (one optimizer step and its instruments), `evaluation`
(scoring), `events` (writing events into the record, and draining them). `Trainer` strings
them together.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch

from bertviz_lite.data.examples import TaskData
from bertviz_lite.data.source import Upload
from bertviz_lite.data.text import DEFAULT_LIMITS, Limits
from bertviz_lite.engine.batches import RunInputs, Tally
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.cost import PeakRSS, Stopwatch
from bertviz_lite.engine.encoding import bucket_batches
from bertviz_lite.engine.evaluation import EVAL_BATCH, Evaluator
from bertviz_lite.engine.events import Event, add_eval, add_step, drain, finish_record
from bertviz_lite.engine.features import FeatureStore
from bertviz_lite.engine.heads import TaskModel
from bertviz_lite.engine.models import Backbone
from bertviz_lite.engine.optim import build_optimizer, linear_schedule
from bertviz_lite.engine.prepare import PreparedRun, prepare_run
from bertviz_lite.engine.steps import RATIO_EVERY_STEP_MAX, RATIO_STRIDE, Instruments, StepRunner
from bertviz_lite.record.runs import EvalRecord, Progress, RunRecord

__all__ = ["EVAL_BATCH", "RATIO_EVERY_STEP_MAX", "RATIO_STRIDE", "Event", "StopSignal",
           "Trainer", "run_to_record", "train"]


class StopSignal(Protocol):
    """Anything with is_set(): threading.Event, multiprocessing.Event."""

    def is_set(self) -> bool: ...


class _NeverStop:
    def is_set(self) -> bool:
        return False


def train(
    config: RunConfig,
    *,
    backbone: Backbone | None = None,
    data: TaskData | Upload | None = None,
    stop: StopSignal | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[Event]:
    """Run one training job; yields Progress, StepRecord and EvalRecord events, then the
    RunRecord (status completed, stopped or diverged).

    backbone: a loaded pretrained model to copy (a warm worker passes its own; never modified).
    data: already loaded examples, or an `Upload` (its bytes, parsed here); default: load
      from `config`.
    stop: checked between steps and between feature-caching batches.
    """
    return Trainer(config, backbone=backbone, data=data, stop=stop, limits=limits).events()


def run_to_record(config: RunConfig, **kwargs: Any) -> RunRecord:
    """Consume `train()` and return only the RunRecord (kwargs: those of `train`)."""
    return drain(train(config, **kwargs))


class _Session:
    """A prepared run with everything its training loop uses, made in one go once
    `prepare_run` has finished: the head's inputs, the evaluator, the optimizer and its
    schedule, and the step runner."""

    def __init__(self, trainer: Trainer, run: PreparedRun) -> None:
        config = run.config
        self.run = run
        self.spe, self.total = run.plan()  # steps per epoch, steps in all
        self.inputs = RunInputs(run, trainer.watch, trainer.tally, trainer.features)
        self.inputs.attach_store()
        self.evaluator = Evaluator(run, self.inputs, trainer.watch, trainer.stopped)
        self.opt = build_optimizer(run.model, config.lr, config.head_lr, config.weight_decay,
                                   config.layer_lr_decay)
        self.sched = linear_schedule(self.opt, self.total, config.warmup)
        run.mode_plan.schedule(self.total)  # the mode's phases placed on this run's steps
        run.record.phases = run.mode_plan.record_phases()
        self.steps = StepRunner(run, self.inputs, Instruments(run, self.total), self.opt,
                                trainer.tally, trainer.stopped, trainer.after_backward_hook())


class Trainer:
    """One run. `events()` is `train()`; afterwards `model`, `opt` and `record` stay available
    (the app keeps the fine-tuned model; tests inspect weights and optimizer state).

    after_backward: called after each backward pass with the trainer and the step's gradient
    norms, before the optimizer step (tests compare the norms with torch's own).
    features: a store of frozen features shared between runs (a warm worker keeps one).
    `run`, `model`, `data`, `record`, `opt`, `inputs` and `evaluator` exist once the run is
    prepared (before: AttributeError).
    """

    def __init__(
        self,
        config: RunConfig,
        *,
        backbone: Backbone | None = None,
        data: TaskData | Upload | None = None,
        stop: StopSignal | None = None,
        limits: Limits = DEFAULT_LIMITS,
        after_backward: Callable[[Trainer, dict[str, float]], None] | None = None,
        features: FeatureStore | None = None,
    ) -> None:
        self.config = config
        self.stop = stop or _NeverStop()
        self.limits = limits
        self.after_backward = after_backward
        self.features = features
        self._backbone_in, self._data_in = backbone, data
        self.watch = Stopwatch()
        self.tally = Tally()
        self.t0 = time.perf_counter()
        self.cpu0 = time.process_time()
        self.step = 0
        self.status, self.reason = "running", ""
        self._session: _Session | None = None

    # -- what callers read once the run is prepared ---------------------------------------
    def _prepared(self) -> _Session:
        if self._session is None:
            raise AttributeError("the run is not prepared yet (iterate events() first)")
        return self._session

    @property
    def run(self) -> PreparedRun:
        """The prepared run (model, data, tokenised splits, record)."""
        return self._prepared().run

    @property
    def evaluator(self) -> Evaluator:
        """The run's evaluator (scores a split with the model as it is now)."""
        return self._prepared().evaluator

    @property
    def model(self) -> TaskModel:
        """The task model being trained."""
        return self._prepared().run.model

    @property
    def data(self) -> TaskData:
        """The run's examples."""
        return self._prepared().run.data

    @property
    def record(self) -> RunRecord:
        """The run record (complete once events() has ended)."""
        return self._prepared().run.record

    @property
    def opt(self) -> torch.optim.Optimizer:
        """The optimizer (AdamW over the trainable parameter groups)."""
        return self._prepared().opt

    @property
    def inputs(self) -> RunInputs:
        """The head's inputs of the run (frozen features cached there)."""
        return self._prepared().inputs

    # -- the run --------------------------------------------------------------------------
    def events(self) -> Iterator[Event]:
        """The whole run as events, the final evaluation's included; the last one is the
        RunRecord."""
        self.t0 = time.perf_counter()
        self.cpu0 = time.process_time()
        with PeakRSS() as rss:
            run = yield from prepare_run(self.config, self._backbone_in, self._data_in, self.limits,
                                         self.watch)
            session = self._session = _Session(self, run)
            yield Progress("ready", 0, 0, "model ready", run.ready_info())
            if not self.stopped():
                yield from self._loop(session)
            yield from self._finish(session, rss)

    def stopped(self) -> bool:
        """True once the user asked to stop (the reason is set once)."""
        if self.status == "running" and self.stop.is_set():
            self.status = "stopped"
            self.reason = (f"Stopped by the user after step {self.step}." if self.step else
                           "Stopped by the user before the first step.")
        return self.status == "stopped"

    def _loop(self, s: _Session) -> Iterator[Event]:
        """Epochs of steps, with evaluations at intervals; stops early on request or NaN."""
        config, record = self.config, s.run.record
        every = max(1, s.spe // config.evals_per_epoch) if config.evals_per_epoch else s.total
        rng = random.Random(config.seed)
        lengths = [e.length for e in s.run.enc_train]
        yield Progress("train", 0, s.total, f"{s.total} steps of {config.batch_size} examples")
        epoch = 0
        while self.step < s.total and not self.stopped():
            for idx in bucket_batches(lengths, config.batch_size, rng):
                if self.step >= s.total or self.stopped():
                    break
                result = s.steps.step(self.step, idx, epoch)
                if result is None:  # stop arrived during the forward pass: step discarded
                    break
                self.step += 1
                if s.steps.diverged:
                    self.status, self.reason = "diverged", s.steps.diverged
                s.sched.step()
                yield add_step(record, result)
                if self.status == "diverged":
                    return
                if self.step % every == 0 or self.step == s.total:
                    yield from self._evaluate(s)
            epoch += 1

    def after_backward_hook(self) -> Callable[[dict[str, float]], None] | None:
        """`after_backward` bound to this trainer, for the step runner (None without one)."""
        hook = self.after_backward
        return None if hook is None else (lambda norms: hook(self, norms))

    def _evaluate(self, s: _Session) -> Iterator[EvalRecord]:
        """Score the run now; each evaluation is written into the record as it is yielded."""
        for evaluation in s.evaluator.evaluate(self.step, self.step / s.spe):
            yield add_eval(s.run.record, evaluation)

    def _finish(self, s: _Session, rss: PeakRSS) -> Iterator[Event]:
        """The final evaluation's events (unless stopped, diverged or just evaluated), then
        the RunRecord with the final metric and costs."""
        if self.status == "running":
            self.status = "completed"
            last = s.run.record.evals[-1] if s.run.record.evals else None
            if last is None or last.step != self.step:
                yield from self._evaluate(s)
        s.inputs.account_store()
        rss.sample()
        cost = self._costs(s.run.record, self.step / s.spe, rss.peak_mb)
        yield finish_record(s.run.record, s.run.spec.metric, self.status, self.reason, cost)

    def finish(self, rss: PeakRSS) -> RunRecord:
        """End the run where it is and return its record (for a caller that stopped reading
        `events()`, e.g. interrupted: set `status` first; a "running" run is evaluated)."""
        return drain(self._finish(self._prepared(), rss))

    def _costs(self, rec: RunRecord, epochs_done: float, peak_mb: float) -> dict[str, float]:
        """Wall and phase times, memory, reuse and FLOPs of the finished run."""
        secs = self.watch.seconds
        train_s = sum(s.seconds for s in rec.steps)
        return {
            "wall_seconds": time.perf_counter() - self.t0 - secs.get("model_load", 0.0),
            # CPU time of the whole process (every thread) while the run ran, model load
            # included: on a machine shared with other work, the cost wall time cannot show
            "cpu_seconds": time.process_time() - self.cpu0,
            "train_seconds": train_s,
            "feature_cache_seconds": secs.get("feature_cache", 0.0),
            "eval_seconds": secs.get("eval", 0.0),
            "tokenize_seconds": secs.get("tokenize", 0.0),
            "model_load_seconds": secs.get("model_load", 0.0),
            "seconds_per_epoch": train_s / epochs_done if epochs_done else 0.0,
            "epochs": epochs_done,
            "peak_rss_mb": peak_mb,
            "features_reused": float(self.tally.reused),
            "flops_estimate": self.tally.flops,
        }
