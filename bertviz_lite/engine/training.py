"""The one training loop: `train(config)` yields a record per step, evaluations and, last,
the RunRecord. The CLI, the app's workers, the benchmark and the tests all run it.

Frozen and fine-tuned differ only in the freeze policy. When every encoder group is frozen
the encoder runs once per example under `torch.no_grad()` and its outputs (the features) are
reused by every epoch; only the head runs in a training step.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import torch

from bertviz_lite.data.examples import TaskData
from bertviz_lite.data.load import load_task_data, subsample
from bertviz_lite.data.text import DEFAULT_LIMITS, Limits
from bertviz_lite.engine.checkpoints import build_task_model
from bertviz_lite.engine.config import RunConfig, config_hash
from bertviz_lite.engine.cost import PeakRSS, Stopwatch, matmul_params, train_flops
from bertviz_lite.engine.encoding import Batch, Encoded, bucket_batches, collate, encode_examples
from bertviz_lite.engine.feature_disk import ENGINE_VERSION, model_fingerprint
from bertviz_lite.engine.features import FeatureStore
from bertviz_lite.engine.gradflow import GradFlow, SignalProbe
from bertviz_lite.engine.groups import apply_freeze, trainable_group_names
from bertviz_lite.engine.heads import SCORE_SCALE
from bertviz_lite.engine.models import Backbone, load_backbone, pick_device
from bertviz_lite.engine.optim import build_optimizer, linear_schedule
from bertviz_lite.engine.precision import autocast, feature_dtype, resolve_precision
from bertviz_lite.engine.tasks import TASK_SPECS, baseline, evaluate
from bertviz_lite.record.runs import EvalRecord, Progress, RunRecord, StepRecord

log = logging.getLogger(__name__)

Event = Progress | StepRecord | EvalRecord | RunRecord
EVAL_BATCH = 64  # examples per evaluation / feature-caching batch
RATIO_EVERY_STEP_MAX = 4_000_000  # trainable weights up to which update ratios come every step
RATIO_STRIDE = 50


@dataclass
class _HeadBatch:
    """What a training step feeds the head: features, the padded batch (labels), and the word
    pieces the encoder computed for it (0 when the features came from the cache)."""

    features: torch.Tensor
    batch: Batch
    tokens: int


def _stack(feats: list[torch.Tensor], tokens: bool) -> torch.Tensor:
    """Cached per-example features -> one batch tensor; NER pads the word axis with zeros.

    (B, ...) for sentences and pairs; (B, W, [N,] H) for NER.
    """
    if not tokens:
        return torch.stack(feats)
    w = max(1, max(f.shape[0] for f in feats))
    out = feats[0].new_zeros((len(feats), w) + tuple(feats[0].shape[1:]))
    for row, f in enumerate(feats):
        out[row, : f.shape[0]] = f
    return out


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
    data: TaskData | None = None,
    stop: StopSignal | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[Event]:
    """Run one training job; yields Progress, StepRecord and EvalRecord events, then the
    RunRecord (status completed, stopped or diverged).

    backbone: a loaded pretrained model to copy (a warm worker passes its own; never modified).
    data: already loaded examples (the app's uploads); default: load from `config`.
    stop: checked between steps and between feature-caching batches.
    """
    return Trainer(config, backbone=backbone, data=data, stop=stop, limits=limits).events()


def run_to_record(config: RunConfig, **kwargs: object) -> RunRecord:
    """Consume `train()` and return only the RunRecord."""
    record = None
    for event in train(config, **kwargs):  # type: ignore[arg-type]
        if isinstance(event, RunRecord):
            record = event
    assert record is not None
    return record


class Trainer:
    """One run. `events()` is `train()`; afterwards `model`, `opt` and `record` stay available
    (the app keeps the fine-tuned model; tests inspect weights and optimizer state).

    after_backward: called after each backward pass with the trainer and the step's gradient
    norms, before the optimizer step (tests compare the norms with torch's own).
    features: a store of frozen features shared between runs (a warm worker keeps one).
    """

    def __init__(
        self,
        config: RunConfig,
        *,
        backbone: Backbone | None = None,
        data: TaskData | None = None,
        stop: StopSignal | None = None,
        limits: Limits = DEFAULT_LIMITS,
        after_backward: Callable[[Trainer, dict[str, float]], None] | None = None,
        features: FeatureStore | None = None,
    ) -> None:
        self.c = config
        self.stop = stop or _NeverStop()
        self.limits = limits
        self.after_backward = after_backward
        self.features = features
        self._backbone_in, self._data_in = backbone, data
        self.spec = TASK_SPECS[config.task]
        self.watch = Stopwatch()
        self.t0 = time.perf_counter()
        self.step = 0
        self.flops = 0.0
        self.cache: dict[str, list[torch.Tensor | None]] = {}
        self.reused = 0  # examples whose frozen features came from an earlier run
        self.status, self.reason = "running", ""

    def events(self) -> Iterator[Event]:
        """The whole run as events; the last one is the RunRecord."""
        self.t0 = time.perf_counter()
        with PeakRSS() as rss:
            yield from self.prepare(self._backbone_in, self._data_in)
            if not self.stopped():
                yield from self.loop()
            yield self.finish(rss)

    def stopped(self) -> bool:
        """True once the user asked to stop (the reason is set once)."""
        if self.status == "running" and self.stop.is_set():
            self.status = "stopped"
            self.reason = (f"Stopped by the user after step {self.step}." if self.step else
                           "Stopped by the user before the first step.")
        return self.status == "stopped"

    # -- preparation ---------------------------------------------------------------------
    def prepare(self, backbone: Backbone | None, data: TaskData | None) -> Iterator[Event]:
        """Load model and data, build the task model, tokenise, cache frozen features."""
        c = self.c
        if c.threads:
            torch.set_num_threads(c.threads)
        self.device = pick_device(c.device)
        self.precision = resolve_precision(c.precision, self.device)  # fp32 | bf16 autocast
        if backbone is None:
            yield Progress("load", 0, 1, f"loading model {c.model}")
            with self.watch.time("model_load"):
                backbone = load_backbone(c.model)
        self.backbone = backbone
        if data is None:
            yield Progress("data", 0, 1, "reading data")
            data = load_task_data(c.task, c.data, c.train_file, c.eval_file, max_train=c.max_train,
                                  max_eval=c.max_eval, seed=c.seed, limits=self.limits)
        self.data = data
        self._build_model()
        yield Progress("tokenize", 0, 1, "tokenising")
        with self.watch.time("tokenize"):
            self._encode()
        self.record = self._new_record()
        self._attach_feature_store()
        r = self.record
        yield Progress("ready", 0, 0, "model ready", {
            "groups": r.groups, "frozen_groups": r.frozen_groups,
            "trainable_params": r.trainable_params, "total_params": r.total_params,
            "group_params": r.group_params, "device": r.device, "steps_total": self._plan()[1],
            "baseline": r.baseline, "data": r.data, "model": r.model, "notes": list(r.notes)})

    def _build_model(self) -> None:
        """Copy the encoder, attach the head, apply the freeze policy, move to the device."""
        c = self.c
        torch.manual_seed(c.seed)
        # A backbone this run loaded itself is used as it is; a shared one (a warm worker's,
        # the app's) is copied so it is never modified.
        self.model = build_task_model(self.backbone, c, self.data.label_names,
                                      copy_encoder=self._backbone_in is not None)
        self.trainable = trainable_group_names(self.model.groups, c.trainable_top)
        apply_freeze(self.model.groups, self.trainable)
        self.model.frozen_modules = [m for g in self.model.groups if g.name not in self.trainable
                                     for m in g.modules]
        self.model.to(self.device)
        encoder_groups = [g.name for g in self.model.groups if g.name != "head"]
        self.encoder_frozen = not any(n in self.trainable for n in encoder_groups)
        self.use_cache = self.encoder_frozen and c.cache_features
        self.flow = GradFlow(self.model.groups)
        emb = self.model.encoder.get_input_embeddings()
        self.word_embeddings = emb.weight if emb is not None and emb.weight.requires_grad \
            and emb.weight.is_leaf else None
        n_trainable = sum(p.numel() for p in self.flow.params)
        # Update ratios need a copy of the weights: every step for small trainable sets, every
        # RATIO_STRIDE-th step (from the first) when it would cost more than ~1% of a step.
        self.ratio_every = 1 if n_trainable <= RATIO_EVERY_STEP_MAX else RATIO_STRIDE
        layer_params = sum(g.numel() for g in self.model.groups if g.name.startswith("layer."))
        self.fwd_params = layer_params + matmul_params(self.model.head)
        self.bwd_params = sum(matmul_params(m) for g in self.model.groups
                              if g.name in self.trainable for m in g.modules)

    def _encode(self) -> None:
        """Tokenise train, validation and the fixed train-eval subset once."""
        c, sep = self.c, self.c.separate_pairs
        tok = self.backbone.tokenizer
        self.enc_train, cut_t = encode_examples(self.data.train, tok, c.max_length, sep)
        self.enc_val, cut_v = encode_examples(self.data.val, tok, c.max_length, sep)
        n_sub = min(c.train_eval_size, len(self.data.train))
        chosen = {id(ex) for ex in subsample(self.data.train, n_sub, 0)}
        self.train_eval_idx = [i for i, ex in enumerate(self.data.train) if id(ex) in chosen]
        if cut_t + cut_v:
            self.data.notes.append(
                f"{cut_t + cut_v} examples were longer than {c.max_length} word pieces and were "
                "truncated (raise max_length to keep them whole)")
        self.pad_id = int(self.backbone.tokenizer.pad_token_id or 0)

    def _feature_key(self) -> tuple:
        """Everything that determines frozen features: model (name and weights), data,
        tokenising, pooling, mixed layers, precision, engine and torch versions."""
        c = self.c
        return (self.backbone.name, model_fingerprint(self.backbone.encoder),
                self.data.fingerprint(), c.task, c.max_length, c.pooling, c.head == "scalar-mix",
                c.separate_pairs, str(self.device), self.precision, ENGINE_VERSION,
                torch.__version__)

    def _attach_feature_store(self) -> None:
        """Reuse features an earlier frozen run computed for the same data and model."""
        if not (self.use_cache and self.features is not None):
            return
        cached = self.features.get(self._feature_key())
        if cached is not None:
            self.cache = cached
            self.reused = sum(t is not None for feats in cached.values() for t in feats)
        self.features.put(self._feature_key(), self.cache)  # filled in place as the run goes

    def _cached_features(self, split: str, enc: Sequence[Encoded], idx: list[int]
                         ) -> torch.Tensor:
        """Frozen encoder: features of examples `idx`, each computed once under no_grad the
        first time it is needed (epoch 1, first evaluation) and reused ever after.

        Lazy, so the first step needs one batch of features, not the whole dataset.
        """
        store = self.cache.setdefault(split, [None] * len(enc))  # type: ignore[list-item]
        missing = [i for i in idx if store[i] is None]
        if missing:
            with self.watch.time("feature_cache"):
                was_training = self.model.training
                self.model.eval()
                with torch.no_grad(), autocast(self.precision, self.device):
                    out = self.model.features(batch := self._collate(enc, missing))
                out = out.to(feature_dtype(self.precision))  # kept as computed (and on disk)
                self.model.train(was_training)
                self.flops += 2.0 * self.fwd_params * batch.padded_tokens()
                for row, i in enumerate(missing):
                    n = len(enc[i].word_pos) if self.spec.tokens else None
                    store[i] = out[row, :n] if n is not None else out[row]
        return _stack([store[i] for i in idx], self.spec.tokens).to(self.device)

    def _collate(self, enc: Sequence[Encoded], idx: list[int]) -> Batch:
        items = [enc[i] for i in idx]
        batch = collate(items, idx, self.pad_id, self.spec.tokens, self.spec.regression)
        return batch.to(self.device)

    def _new_record(self) -> RunRecord:
        groups = self.model.groups
        trainable_params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        data = self.data
        return RunRecord(
            config=self.c.to_dict(),
            groups=[g.name for g in groups],
            frozen_groups=[g.name for g in groups if g.name not in self.trainable],
            trainable_params=trainable_params,
            total_params=sum(p.numel() for p in self.model.parameters()),
            device=str(self.device),
            group_params={g.name: g.numel() for g in groups},
            data={"source": data.source, "train": len(data.train), "val": len(data.val),
                  "labels": data.label_names, "fingerprint": data.fingerprint()},
            model={"name": self.backbone.name, "type": type(self.backbone.encoder).__name__,
                   "layers": self.backbone.num_layers, "hidden": self.backbone.hidden_size,
                   "pair_encoding": (("separate" if self.c.separate_pairs else "joint")
                                     if self.spec.pair else None)},
            baseline=baseline(self.c.task, data.train, data.val, data.label_names),
            notes=data.notes,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            key=config_hash(self.c, data.fingerprint()),
            precision=self.precision,
        )

    # -- training ------------------------------------------------------------------------
    def _plan(self) -> tuple[int, int]:
        """(steps per epoch, total steps)."""
        spe = max(1, math.ceil(len(self.enc_train) / self.c.batch_size))
        total = self.c.steps or spe * self.c.epochs
        return spe, total

    def loop(self) -> Iterator[Event]:
        """Epochs of steps, with evaluations at intervals; stops early on request or NaN."""
        c = self.c
        spe, total = self._plan()
        self.total_steps = total
        self.sweep_steps = {0, total - 1}  # the backward sweep of the first and last step
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = build_optimizer(self.model, c.lr, c.head_lr, c.weight_decay)
        sched = linear_schedule(self.opt, total, c.warmup)
        every = max(1, spe // c.evals_per_epoch) if c.evals_per_epoch else total
        rng = random.Random(c.seed)
        lengths = [e.length for e in self.enc_train]
        yield Progress("train", 0, total, f"{total} steps of {c.batch_size} examples")
        epoch = 0
        while self.step < total and not self.stopped():
            for idx in bucket_batches(lengths, c.batch_size, rng):
                if self.step >= total or self.stopped():
                    break
                rec = self._train_step(idx, epoch, params)
                if rec is None:  # stop arrived during the forward pass: step discarded
                    break
                sched.step()
                yield rec
                if self.status == "diverged":
                    return
                if self.step % every == 0 or self.step == total:
                    yield from self._evaluate(self.step / spe)
            epoch += 1

    def _train_step(self, idx: list[int], epoch: int, params: list[torch.nn.Parameter]
                    ) -> StepRecord | None:
        """Forward, backward, read gradient norms, update; returns the step's record, or None
        when a stop arrived during the forward pass (the step is dropped, nothing changes)."""
        t0 = time.perf_counter()
        self.model.train()
        probe = (SignalProbe(self.model.groups)
                 if self.c.grad_flow and self.step in self.sweep_steps else None)
        with probe or contextlib.nullcontext():
            with autocast(self.precision, self.device):  # forward only; grads stay fp32
                batch = self._train_batch(idx)
                loss = self.model.loss(self.model.predict(batch.features), batch.batch)
            if self.stopped():
                return None
            loss.backward()
        if probe is not None:
            self.record.sweeps.append({"step": self.step + 1, "signal": probe.signal})
        norms = self.flow.grad_norms(self._touched_rows(batch)) if self.c.grad_flow else {}
        if self.after_backward is not None:
            self.after_backward(self, norms)
        value = float(loss.detach())
        ratios: dict[str, float] = {}
        if self._diverged(value, norms):
            self.opt.zero_grad(set_to_none=True)  # never apply a non-finite update
        else:
            last = self.step == self.total_steps - 1
            measure = self.c.grad_flow and (self.step % self.ratio_every == 0 or last)
            if measure:
                self.flow.snapshot()
            self.opt.step()
            if measure:
                ratios = self.flow.update_ratios()
        self.opt.zero_grad(set_to_none=True)
        self.step += 1
        tokens = batch.tokens
        real = batch.batch.real_tokens() if tokens else 0
        self.flops += train_flops(0 if self.use_cache else self.fwd_params, self.bwd_params, tokens)
        rec = StepRecord(self.step, epoch, value, self.opt.param_groups[-1]["lr"], norms, ratios,
                         time.perf_counter() - t0, len(idx), tokens, real)
        self.record.steps.append(rec)
        return rec

    def _touched_rows(self, batch: _HeadBatch) -> dict[int, torch.Tensor]:
        """The word-embedding rows this batch can have a gradient in: its token ids."""
        if self.use_cache or self.word_embeddings is None:
            return {}
        return {id(self.word_embeddings): torch.unique(batch.batch.input_ids)}

    def _train_batch(self, idx: list[int]) -> _HeadBatch:
        """Head inputs for a step: cached features, or the encoder run with gradients."""
        enc = self.enc_train
        items = [enc[i] for i in idx]
        batch = collate(items, idx, self.pad_id, self.spec.tokens, self.spec.regression)
        batch = batch.to(self.device)
        if self.use_cache:
            return _HeadBatch(self._cached_features("train", enc, idx), batch, 0)
        return _HeadBatch(self.model.features(batch), batch, batch.padded_tokens())

    def _diverged(self, loss: float, norms: dict[str, float]) -> bool:
        """Stop the run, with a reason a student can act on, when numbers stop being finite."""
        bad_norm = any(not math.isfinite(v) for v in norms.values())
        if math.isfinite(loss) and not bad_norm:
            return False
        what = f"the loss became {loss}" if not math.isfinite(loss) else "the gradients overflowed"
        head_only = self.encoder_frozen
        lr = self.c.head_lr if head_only else self.c.lr
        default = RunConfig().head_lr if head_only else RunConfig().lr
        suggest = default if lr > 10 * default else lr / 10
        which = "head" if head_only else "BERT layers"
        self.status = "diverged"
        self.reason = (
            f"Training stopped at step {self.step + 1}: {what}. The learning rate of the "
            f"{which} ({lr:g}) is too large: each update overshoots, the weights grow and the "
            f"numbers overflow. Try a smaller one, {suggest:g}; nothing was updated with the "
            "bad step.")
        return True

    # -- evaluation ----------------------------------------------------------------------
    def _evaluate(self, epoch: float) -> Iterator[Event]:
        """Score the validation split and the fixed training subset."""
        with self.watch.time("eval"):
            for split, enc, idx in (("val", self.enc_val, list(range(len(self.enc_val)))),
                                    ("train", self.enc_train, self.train_eval_idx)):
                if not idx or self.stopped():
                    return
                rec = self._score(split, enc, idx, epoch)
                if rec is None:
                    return
                self.record.evals.append(rec)
                yield rec

    def _score(self, split: str, enc: list[Encoded], idx: list[int], epoch: float
               ) -> EvalRecord | None:
        """Predict a split in length-sorted batches; metrics from tasks.evaluate. None when a
        stop arrives midway (half an evaluation would be a misleading number)."""
        self.model.eval()
        preds: dict[int, object] = {}
        loss_sum, n = 0.0, 0
        sub = [enc[i] for i in idx]
        with torch.no_grad(), autocast(self.precision, self.device):
            for pos in bucket_batches([e.length for e in sub], EVAL_BATCH, None):
                if self.stopped():
                    return None
                ids = [idx[p] for p in pos]
                batch = self._collate(enc, ids)
                if self.use_cache:
                    feats = self._cached_features(split, enc, ids)
                else:
                    feats = self.model.features(batch)
                out = self.model.predict(feats).float()
                loss_sum += float(self.model.loss(out, batch)) * len(ids)
                n += len(ids)
                preds.update(zip(ids, self._decode(out, batch, enc)))
        examples = self.data.val if split == "val" else self.data.train
        scores = evaluate(self.c.task, [preds[i] for i in idx], [examples[i] for i in idx],
                          self.data.label_names)
        metric = self.spec.metric
        return EvalRecord(self.step, round(epoch, 4), split, metric, scores[metric],
                          loss_sum / max(1, n), scores)

    def _decode(self, out: torch.Tensor, batch: Batch, enc: Sequence[Encoded]) -> list[object]:
        """Model outputs -> class ids, scores on the 0-5 scale, or tag ids per word."""
        if self.spec.regression:
            return (out * SCORE_SCALE).tolist()
        if not self.spec.tokens:
            return out.argmax(-1).tolist()
        tags = out.argmax(-1).tolist()  # (B, W)
        result = []
        for row, i in enumerate(batch.index):
            kept = len(enc[i].word_pos)
            result.append(tags[row][:kept] + [0] * (enc[i].n_words - kept))  # truncated: O
        return result

    # -- the end -------------------------------------------------------------------------
    def finish(self, rss: PeakRSS) -> RunRecord:
        """Final evaluation (unless stopped or diverged), final metric and costs."""
        if self.status == "running":
            self.status = "completed"
            last = self.record.evals[-1] if self.record.evals else None
            if last is None or last.step != self.step:
                for _ in self._evaluate(self.step / max(1, self._plan()[0])):
                    pass
        if self.use_cache and self.features is not None:
            self.features.put(self._feature_key(), self.cache)  # account its final size
        rec = self.record
        vals = rec.eval_curve("val")
        metric = self.spec.metric
        rec.final = {"metric": metric, "value": vals[-1].value if vals else float("nan"),
                     "step": vals[-1].step if vals else 0,
                     "metrics": vals[-1].metrics if vals else {}}
        rec.status, rec.reason = self.status, self.reason
        rss.sample()
        secs = self.watch.seconds
        train_s = sum(s.seconds for s in rec.steps)
        epochs_done = self.step / max(1, self._plan()[0])
        rec.cost = {
            "wall_seconds": time.perf_counter() - self.t0 - secs.get("model_load", 0.0),
            "train_seconds": train_s,
            "feature_cache_seconds": secs.get("feature_cache", 0.0),
            "eval_seconds": secs.get("eval", 0.0),
            "tokenize_seconds": secs.get("tokenize", 0.0),
            "model_load_seconds": secs.get("model_load", 0.0),
            "seconds_per_epoch": train_s / epochs_done if epochs_done else 0.0,
            "epochs": epochs_done,
            "peak_rss_mb": rss.peak_mb,
            "features_reused": float(self.reused),
            "flops_estimate": self.flops,
        }
        return rec
