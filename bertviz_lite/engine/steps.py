"""One optimizer step with its instruments: forward, backward, gradient norms per group, the
backward sweep on chosen steps, update ratios, and the divergence guard.

`forward_loss` is the one place a training step's forward pass runs.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable

import torch

from bertviz_lite.engine.batches import HeadBatch, RunInputs, Tally
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.cost import train_flops
from bertviz_lite.engine.events import StepResult
from bertviz_lite.engine.gradflow import GradFlow, SignalProbe
from bertviz_lite.engine.heads import TaskModel
from bertviz_lite.engine.precision import autocast
from bertviz_lite.engine.prepare import PreparedRun
from bertviz_lite.record.runs import StepRecord

RATIO_EVERY_STEP_MAX = 4_000_000  # trainable weights up to which update ratios come every step
RATIO_STRIDE = 50


def forward_loss(model: TaskModel, inputs: RunInputs, idx: list[int]
                 ) -> tuple[HeadBatch, torch.Tensor]:
    """A training step's whole forward pass: the head's inputs for examples `idx` (the
    encoder run with gradients, or cached frozen features) and the loss (a scalar tensor)."""
    run = inputs.run
    with autocast(run.precision, run.device):  # forward only; gradients stay fp32
        hb = inputs.train_batch(idx)
        loss = model.loss(model.predict(hb.features), hb.batch)
    return hb, loss


class Instruments:
    """Gradient norms, update ratios and backward sweeps of one run's model.

    Update ratios need a copy of the weights: every step for small trainable sets, every
    RATIO_STRIDE-th step (from the first, and the last) when it would cost more than ~1% of a
    step. Sweeps are taken on `sweep_steps` (0-based; the first and the last by default).
    """

    def __init__(self, run: PreparedRun, total_steps: int) -> None:
        model = run.model
        self.enabled = run.config.grad_flow
        self.use_cache = run.use_cache
        self.flow = GradFlow(model.groups)
        self.groups = model.groups
        emb = model.encoder.get_input_embeddings()
        self.word_embeddings = emb.weight if emb is not None and emb.weight.requires_grad \
            and emb.weight.is_leaf else None
        n_trainable = sum(p.numel() for p in self.flow.params)
        self.ratio_every = 1 if n_trainable <= RATIO_EVERY_STEP_MAX else RATIO_STRIDE
        self.total_steps = total_steps
        self.sweep_steps = {0, total_steps - 1}

    def probe(self, step: int) -> SignalProbe | None:
        """A backward-sweep probe when this (0-based) step records one."""
        return SignalProbe(self.groups) if self.enabled and step in self.sweep_steps else None

    def norms(self, hb: HeadBatch) -> dict[str, float]:
        """Gradient norm per group after backward ({} when instruments are off)."""
        if not self.enabled:
            return {}
        rows = {}
        if not self.use_cache and self.word_embeddings is not None:
            # the word-embedding rows this batch can have a gradient in: its token ids
            rows = {id(self.word_embeddings): torch.unique(hb.batch.input_ids)}
        return self.flow.grad_norms(rows)

    def measures_ratios(self, step: int) -> bool:
        """True when this (0-based) step measures update ratios."""
        last = step == self.total_steps - 1
        return self.enabled and (step % self.ratio_every == 0 or last)


def divergence_reason(config: RunConfig, encoder_frozen: bool, step: int, loss: float,
                      norms: dict[str, float]) -> str:
    """Why the run must stop, in words a student can act on; "" while numbers are finite."""
    bad_norm = any(not math.isfinite(v) for v in norms.values())
    if math.isfinite(loss) and not bad_norm:
        return ""
    what = f"the loss became {loss}" if not math.isfinite(loss) else "the gradients overflowed"
    lr = config.head_lr if encoder_frozen else config.lr
    default = RunConfig().head_lr if encoder_frozen else RunConfig().lr
    suggest = default if lr > 10 * default else lr / 10
    which = "head" if encoder_frozen else "BERT layers"
    return (f"Training stopped at step {step + 1}: {what}. The learning rate of the "
            f"{which} ({lr:g}) is too large: each update overshoots, the weights grow and the "
            f"numbers overflow. Try a smaller one, {suggest:g}; nothing was updated with the "
            "bad step.")


def clip_gradients(opt: torch.optim.Optimizer, max_norm: float | None) -> float | None:
    """Scale the gradients of every parameter `opt` updates so that their global L2 norm is
    at most `max_norm` (BERT's recipe clips at 1.0); returns the norm before clipping, or None
    when clipping is off. Runs after the gradient norms were recorded, before the update."""
    if max_norm is None:
        return None
    params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
    if not params:
        return None
    return float(torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True))


class StepRunner:
    """Runs training steps of one run; each returns its StepResult (the trainer writes it into
    the run record through `engine.events`).

    stopped: polled between the forward and the backward pass. after_backward: called with the
    step's gradient norms before the optimizer step. `diverged` holds the reason once a step
    produced non-finite numbers (that step is not applied).
    """

    def __init__(self, run: PreparedRun, inputs: RunInputs, instruments: Instruments,
                 opt: torch.optim.Optimizer, tally: Tally, stopped: Callable[[], bool],
                 after_backward: Callable[[dict[str, float]], None] | None) -> None:
        self.run = run
        self.inputs = inputs
        self.inst = instruments
        self.opt = opt
        self.tally = tally
        self.stopped = stopped
        self.after_backward = after_backward
        self.diverged = ""

    def step(self, step: int, idx: list[int], epoch: int) -> StepResult | None:
        """Forward, backward, read gradient norms, update; the step's record (and its backward
        sweep), or None when a stop arrived during the forward pass (the step is dropped,
        nothing changes)."""
        t0 = time.perf_counter()
        model = self.run.model
        plan = self.run.mode_plan
        if plan.enter(step):  # a new phase (LP-FT's switch, one more layer unfrozen)
            model.frozen_modules = plan.frozen_modules(plan.current)
        model.train()
        probe = self.inst.probe(step)
        with probe or contextlib.nullcontext():
            hb, loss = forward_loss(model, self.inputs, idx)
            if self.stopped():
                return None
            loss.backward()
        sweep = {"step": step + 1, "signal": probe.signal} if probe is not None else None
        norms = self.inst.norms(hb)
        if self.after_backward is not None:
            self.after_backward(norms)
        value = float(loss.detach())
        ratios = self._update(step, value, norms)
        self.opt.zero_grad(set_to_none=True)
        tokens = hb.tokens
        real = hb.batch.real_tokens() if tokens else 0
        run = self.run
        self.tally.flops += train_flops(0 if run.use_cache else run.fwd_params, run.bwd_params,
                                        tokens)
        rec = StepRecord(step + 1, epoch, value, self.opt.param_groups[-1]["lr"], norms, ratios,
                         time.perf_counter() - t0, len(idx), tokens, real,
                         plan.trainable_groups(plan.current) if len(plan.phases) > 1 else None)
        return StepResult(rec, sweep)

    def _update(self, step: int, loss: float, norms: dict[str, float]) -> dict[str, float]:
        """The optimizer step (never with non-finite numbers); update ratios when measured."""
        self.diverged = divergence_reason(self.run.config, self.run.encoder_frozen, step, loss,
                                          norms)
        if self.diverged:
            self.opt.zero_grad(set_to_none=True)  # never apply a non-finite update
            return {}
        measure = self.inst.measures_ratios(step)
        if measure:
            self.inst.flow.snapshot()
        clip_gradients(self.opt, self.run.config.max_grad_norm)
        self.opt.step()
        return self.inst.flow.update_ratios() if measure else {}
