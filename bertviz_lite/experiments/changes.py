"""What changed inside BERT: the pretrained and the tuned model compared layer by layer.

For one run (its record, and the weights `train --save-model DIR` saved):
  - representation change: linear CKA of each hidden state, pretrained vs tuned, on the run's
    validation inputs, and the full layer x layer CKA matrix (Kornblith et al. 2019);
  - weight change: ||W_tuned - W_pre|| / ||W_pre|| per group, and the run's per-step update
    ratios summed over the steps;
  - where the task information lives: a linear probe per layer (scikit-learn) trained on the
    run's training features and scored on validation, for both models (Merchant et al. 2020);
  - what it forgot: zero-shot similarity (cosine of mean-pooled sentence vectors vs gold).
Features of each model are computed once per split; the pretrained ones are kept between
analyses of the same data (three modes of a task share them).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from bertviz_lite.data.examples import TaskData
from bertviz_lite.data.load import load_task_data, subsample
from bertviz_lite.engine.checkpoints import build_task_model, load_task_model
from bertviz_lite.engine.config import ConfigError, RunConfig
from bertviz_lite.engine.encoding import Encoded, encode_examples
from bertviz_lite.engine.models import Backbone, load_backbone
from bertviz_lite.experiments.changes_result import ChangesResult, GroupChange, engine_name
from bertviz_lite.experiments.cka import cka_matrix, same_or_cka
from bertviz_lite.experiments.forgetting import SimilaritySet, similarity_sets, zero_shot_similarity
from bertviz_lite.experiments.layer_features import LayerFeatures, layer_features
from bertviz_lite.experiments.probes import ProbeData, probe_score
from bertviz_lite.experiments.weights import accumulated_update_ratios, weight_changes
from bertviz_lite.record.runs import RunRecord

log = logging.getLogger(__name__)

OnProgress = Callable[[str, int, int], None]  # (what is being done, done, total)
_CACHE: OrderedDict[tuple, Any] = OrderedDict()  # pretrained features and zero-shot scores
_CACHE_MAX = 12
_BACKBONES: dict[str, Backbone] = {}


def _cached(key: tuple, make: Callable[[], Any]) -> Any:
    """A pretrained-model result kept between analyses (least recently used dropped)."""
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = _CACHE[key] = make()
    while len(_CACHE) > _CACHE_MAX:
        _CACHE.popitem(last=False)
    return value


def shared_backbone(name: str) -> Backbone:
    """The pretrained model, loaded once per process (never modified: tuned copies are made)."""
    if name not in _BACKBONES:
        _BACKBONES[name] = load_backbone(name)
    return _BACKBONES[name]


def tuned_encoder(record: RunRecord, config: RunConfig, backbone: Backbone,
                  checkpoint: str | Path | None) -> nn.Module:
    """The run's tuned encoder: from its checkpoint; a frozen run without one has the
    pretrained encoder by construction (a copy is made, as loading its checkpoint would)."""
    if checkpoint is not None:
        trained = load_task_model(checkpoint, backbone)
        if (trained.config.task, trained.config.mode) != (config.task, config.mode):
            raise ConfigError(
                f"checkpoint {checkpoint} is a {trained.config.task} {trained.config.mode} model, "
                f"but the run is {config.task} {config.mode}: pass the folder that "
                "`train --save-model` wrote for this run")
        return trained.model.encoder
    if config.trainable_top == 0:
        labels = list(record.data.get("labels") or [])
        return build_task_model(backbone, config, labels).encoder
    raise ConfigError(f"a {config.mode} run changed the encoder: pass --checkpoint DIR, the "
                      "folder written by `bertviz-lite train --save-model DIR`")


def run_data(config: RunConfig, max_examples: int | None) -> tuple[TaskData, str]:
    """The run's own train and validation examples, each capped at `max_examples`, and the
    fingerprint of the data before the cap (to compare with the run record's)."""
    data = load_task_data(config.task, config.data, config.train_file, config.eval_file,
                          max_train=config.max_train, max_eval=config.max_eval, seed=config.seed)
    fingerprint = data.fingerprint()
    if max_examples is not None:
        if max_examples < 10:
            raise ConfigError(f"--max-examples must be at least 10; got {max_examples}")
        data.train = subsample(data.train, min(max_examples, len(data.train)), config.seed)
        data.val = subsample(data.val, min(max_examples, len(data.val)), 0)
    return data, fingerprint


def _labels(task: str, enc: list[Encoded]) -> np.ndarray:
    """Probe targets: one per example, or one tag per kept word (NER)."""
    if task == "ner":
        return np.array([t for e in enc for t in e.label], dtype=np.int64)  # type: ignore[union-attr]
    dtype = np.float64 if task == "similarity" else np.int64
    return np.array([e.label for e in enc], dtype=dtype)


def _features(encoder: nn.Module, enc: dict[str, list[Encoded]], pad: int, config: RunConfig,
              label: str, progress: OnProgress) -> dict[str, LayerFeatures]:
    """Features of both splits for one model."""
    out = {}
    for split, items in enc.items():
        def tick(done: int, total: int, split: str = split) -> None:
            progress(f"{label} model, {split} features", done, total)

        out[split] = layer_features(encoder, items, pad, ner=config.task == "ner",
                                    pooling=config.pooling, on_batch=tick)
    return out


def _probes(config: RunConfig, feats: dict[str, LayerFeatures], enc: dict[str, list[Encoded]],
            data: TaskData, state: int) -> float:
    """The probe score of one hidden state of one model."""
    lengths = [len(e.word_pos) for e in enc["val"]] if config.task == "ner" else None
    d = ProbeData(feats["train"].probe_inputs(state), _labels(config.task, enc["train"]),
                  feats["val"].probe_inputs(state), _labels(config.task, enc["val"]), lengths)
    return probe_score(config.task, d, data.val, data.label_names)


def _forgetting(backbone: Backbone, tuned: nn.Module, sets: list[SimilaritySet]
                ) -> list[dict[str, Any]]:
    """Zero-shot similarity of both models on each similarity set."""
    out = []
    for s in sets:
        pre = _cached(("zero-shot", backbone.path, s.name, len(s.pairs)),
                      lambda s=s: zero_shot_similarity(backbone.encoder, backbone.tokenizer, s))
        post = zero_shot_similarity(tuned, backbone.tokenizer, s)
        out.append({"set": s.name, "pairs": len(s.pairs),
                    "pretrained": {k: pre[k] for k in ("pearson", "spearman")},
                    "tuned": {k: post[k] for k in ("pearson", "spearman")}})
    return out


def analyse_changes(record: RunRecord, checkpoint: str | Path | None = None, *,
                    max_examples: int | None = None, stsb_dir: str | None = None,
                    backbone: Backbone | None = None,
                    on_progress: OnProgress | None = None) -> ChangesResult:
    """Compare the run's tuned model with the pretrained one, layer by layer (module doc)."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    progress = on_progress or (lambda what, done, total: None)
    config = RunConfig.from_dict(record.config)
    progress("loading the models", 0, 1)
    backbone = backbone or shared_backbone(config.model)
    tuned = tuned_encoder(record, config, backbone, checkpoint)
    t_load = time.perf_counter()
    data, fingerprint = run_data(config, max_examples)
    notes: list[str] = []
    if record.data.get("fingerprint") not in (None, fingerprint):
        notes = ["the data read now differs from the data the run was trained on (its "
                 "fingerprint changed): the probes and CKA use the data read now"]
    tok, sep = backbone.tokenizer, config.separate_pairs
    enc = {"train": encode_examples(data.train, tok, config.max_length, sep)[0],
           "val": encode_examples(data.val, tok, config.max_length, sep)[0]}
    pad = int(tok.pad_token_id or 0)
    key = ("features", backbone.path, data.fingerprint(), config.task, config.max_length,
           config.pooling, sep, max_examples)
    pre = _cached(key, lambda: _features(backbone.encoder, enc, pad, config, "pretrained",
                                         progress))
    post = _features(tuned, enc, pad, config, "tuned", progress)
    t_feat = time.perf_counter()
    result = _assemble(record, config, backbone, tuned, data, enc, pre, post, progress)
    result.forgetting = _forgetting(backbone, tuned, similarity_sets(stsb_dir))
    result.notes = notes
    result.seconds = {"models": round(t_load - t0, 2), "features": round(t_feat - t_load, 2),
                      "total": round(time.perf_counter() - t0, 2),
                      "cpu": round(time.process_time() - cpu0, 2)}  # all threads together
    progress("done", 1, 1)
    return result


def _assemble(record: RunRecord, config: RunConfig, backbone: Backbone, tuned: nn.Module,
              data: TaskData, enc: dict[str, list[Encoded]], pre: dict[str, LayerFeatures],
              post: dict[str, LayerFeatures], progress: OnProgress) -> ChangesResult:
    """Per-group CKA, weight change and probes, plus the CKA matrix and the setup."""
    n = pre["val"].n_states
    names = ["embeddings", *[f"layer.{i}" for i in range(n - 1)]]
    weights = weight_changes(backbone.encoder, tuned)
    ratios = accumulated_update_ratios(record)
    groups = []
    for i, name in enumerate(names):
        progress("probes per layer", i, n)
        groups.append(GroupChange(
            group=name, cka=same_or_cka(pre["val"].rows(i), post["val"].rows(i)),
            weight_change=weights.get(name), probe_pretrained=_probes(config, pre, enc, data, i),
            probe_tuned=_probes(config, post, enc, data, i),
            update_ratio_sum=ratios[name][-1][1] if ratios.get(name) else None,
            trainable=name not in record.frozen_groups))
    matrix = cka_matrix([pre["val"].rows(i) for i in range(n)],
                        [post["val"].rows(i) for i in range(n)])
    setup = {"task": config.task, "mode": config.mode, "model": backbone.name,
             "layers": n - 1, "hidden": int(pre["val"].rows(0).shape[1]),
             "data": data.source, "fingerprint": data.fingerprint(),
             "examples": {"train": len(data.train), "val": len(data.val),
                          "cka_rows": int(pre["val"].rows(0).shape[0]),
                          "unit": pre["val"].kind},
             "run_key": record.key, "engine": engine_name(),
             "device": str(next(tuned.parameters()).device)}
    return ChangesResult(setup=setup, groups=groups, cka_matrix=matrix.tolist(),
                         run_final=dict(record.final), baseline=dict(record.baseline),
                         update_ratios=ratios)
