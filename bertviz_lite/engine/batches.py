"""What the head of a training or evaluation step reads: the encoder's features, run with
gradients, or (frozen encoder) computed once under no_grad by the feature pass and reused.

`feature_pass` is the one place the frozen encoder runs; `RunInputs` keeps its results
(per example, lazily: the first step needs one batch of features, not the whole dataset) and
can share them with later runs through a `FeatureStore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bertviz_lite.engine.cost import Stopwatch
from bertviz_lite.engine.encoding import Batch, Encoded
from bertviz_lite.engine.feature_disk import FEATURES_VERSION, model_fingerprint
from bertviz_lite.engine.features import FeatureStore
from bertviz_lite.engine.heads import TaskModel
from bertviz_lite.engine.precision import autocast, feature_dtype
from bertviz_lite.engine.prepare import PreparedRun


def feature_layout(head: str) -> bool | str:
    """What of the encoder a head's features hold, for the cache key: False (last layer),
    True (all layers: scalar-mix; the values keys had before the task model) or "tokens-fp16"
    (every token of every layer in float16: task-model)."""
    return {"linear": False, "scalar-mix": True}.get(head, "tokens-fp16")


@dataclass
class HeadBatch:
    """What a training step feeds the head: features, the padded batch (labels), and the word
    pieces the encoder computed for it (0 when the features came from the cache)."""

    features: torch.Tensor
    batch: Batch
    tokens: int


@dataclass
class Tally:
    """Counters of a run: estimated FLOPs so far, and examples whose frozen features came
    from an earlier run."""

    flops: float = 0.0
    reused: int = 0


def feature_pass(model: TaskModel, batch: Batch, precision: str = "fp32",
                 device: torch.device | None = None) -> torch.Tensor:
    """The frozen encoder's features of a batch, in eval mode under no_grad (the model's
    train/eval mode is restored), under `precision` (bf16: autocast; kept in the dtype they
    were computed in, on disk too; the task model's token features: float16). (B, ...) as
    TaskModel.features gives them."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), autocast(precision, device or batch.input_ids.device):
        out = model.features(batch)
    model.train(was_training)
    return out.to(model.store_dtype or feature_dtype(precision))


def stack_features(feats: list[torch.Tensor], tokens: bool) -> torch.Tensor:
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


def example_features(out: torch.Tensor, enc: Encoded, task_tokens: bool, token_features: bool
                     ) -> torch.Tensor:
    """One example's row of a feature batch, without padding (what the cache keeps).

    NER: (W_i, ...) for the example's W_i kept words. Task-model token features of a sentence:
    (T_i, N, H); of a pair: both sentences one after the other, (T_a + T_b, N, H), split again
    by `stack_token_features` (the lengths are those of the example's word-piece sequences).
    Otherwise the row as it is."""
    if task_tokens:
        return out[: len(enc.word_pos)]
    if not token_features:
        return out
    if len(enc.seqs) == 2:
        with torch.autocast(out.device.type, enabled=False):  # autocast's cat rejects fp16
            return torch.cat([out[0, : len(enc.seqs[0])], out[1, : len(enc.seqs[1])]])
    return out[: len(enc.seqs[0])]


def stack_token_features(feats: list[torch.Tensor], items: Sequence[Encoded]) -> torch.Tensor:
    """Cached task-model features of sentences or pairs -> one zero-padded batch tensor.

    (T_i, N, H) each -> (B, T, N, H); pairs (T_a + T_b, N, H) each -> (B, 2, T, N, H), with T
    the longest sentence of the batch (padding: exact zeros, see engine/task_models)."""
    parts = []
    for f, it in zip(feats, items, strict=True):
        lens = [len(s) for s in it.seqs]
        parts.append(list(torch.split(f, lens)) if len(lens) == 2 else [f])
    t = max(p.shape[0] for ps in parts for p in ps)
    n_seq = len(parts[0])
    out = feats[0].new_zeros((len(feats), n_seq, t) + tuple(feats[0].shape[1:]))
    for row, ps in enumerate(parts):
        for k, p in enumerate(ps):
            out[row, k, : p.shape[0]] = p
    return out if n_seq == 2 else out[:, 0]


class RunInputs:
    """Head inputs of one run: batches collated, features from the encoder or the cache."""

    def __init__(self, run: PreparedRun, watch: Stopwatch, tally: Tally,
                 store: FeatureStore | None) -> None:
        self.run = run
        self.watch = watch
        self.tally = tally
        self.store = store
        self.cache: dict[str, list[torch.Tensor | None]] = {}

    def _key(self) -> tuple:
        """Everything that determines frozen features: model (name and weights), data,
        tokenising, pooling, mixed layers, precision, feature and torch versions."""
        r, c = self.run, self.run.config
        return (r.backbone.name, model_fingerprint(r.backbone.encoder), r.data.fingerprint(),
                c.task, c.max_length, c.pooling, feature_layout(c.head), c.separate_pairs,
                str(r.device), r.precision, FEATURES_VERSION, torch.__version__)

    def attach_store(self) -> None:
        """Reuse features an earlier frozen run computed for the same data and model."""
        if not (self.run.use_cache and self.store is not None):
            return
        cached = self.store.get(self._key())
        if cached is not None:
            self.cache = cached
            self.tally.reused = sum(t is not None for feats in cached.values() for t in feats)
        self.store.put(self._key(), self.cache)  # filled in place as the run goes

    def account_store(self) -> None:
        """Tell the store the final size of this run's features."""
        if self.run.use_cache and self.store is not None:
            self.store.put(self._key(), self.cache)

    def cached(self, split: str, enc: Sequence[Encoded], idx: list[int]) -> torch.Tensor:
        """Frozen encoder: features of examples `idx`, each computed once the first time it is
        needed (epoch 1, first evaluation) and reused ever after."""
        run = self.run
        store = self.cache.setdefault(split, [None] * len(enc))  # type: ignore[list-item]
        missing = [i for i in idx if store[i] is None]
        if missing:
            with self.watch.time("feature_cache"):
                batch = run.collate(enc, missing)
                out = feature_pass(run.model, batch, run.precision, run.device)
                self.tally.flops += 2.0 * run.fwd_params * batch.padded_tokens()
                for row, i in enumerate(missing):
                    store[i] = example_features(out[row], enc[i], run.spec.tokens,
                                                run.model.token_features)
        kept = [store[i] for i in idx]
        if run.model.token_features and not run.spec.tokens:
            feats = stack_token_features(kept, [enc[i] for i in idx])  # type: ignore[arg-type]
        else:
            feats = stack_features(kept, run.spec.tokens)  # type: ignore[arg-type]
        return feats.to(run.device)

    def train_batch(self, idx: list[int]) -> HeadBatch:
        """Head inputs for a step: cached features, or the encoder run with gradients."""
        run = self.run
        batch = run.collate(run.enc_train, idx)
        if run.use_cache:
            return HeadBatch(self.cached("train", run.enc_train, idx), batch, 0)
        return HeadBatch(run.model.features(batch), batch, batch.padded_tokens())

    def eval_features(self, split: str, enc: Sequence[Encoded], ids: list[int],
                      batch: Batch) -> torch.Tensor:
        """Features of an evaluation batch (no_grad is the caller's)."""
        if self.run.use_cache:
            return self.cached(split, enc, ids)
        return self.run.model.features(batch)
