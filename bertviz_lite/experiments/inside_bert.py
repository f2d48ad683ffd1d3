"""What changed inside BERT: the pretrained and the tuned model compared layer by layer.

For one run (its record, and the weights `train --save-model DIR` saved):
  - representation change: linear CKA of each hidden state, pretrained vs tuned, on the run's
    validation inputs, and the full layer x layer CKA matrix (Kornblith et al. 2019);
  - weight change: ||W_tuned - W_pre|| / ||W_pre|| per group, and the run's per-step update
    ratios summed over the steps;
  - where the task information lives: a linear probe per layer (scikit-learn) trained on the
    run's training features and scored on validation, for both models (Merchant et al. 2020);
  - what it forgot: zero-shot similarity (cosine of mean-pooled sentence vectors vs gold).
Features of each model are computed once per split. The pretrained side (features, probe
scores, zero-shot similarity) does not depend on the run: it is kept in memory and on disk
(`change_cache`), so the three modes of a task, and every later analysis, share it; a frozen
run's encoder is the pretrained one, so its side is not computed twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from torch import nn

from bertviz_lite.data.examples import TaskData
from bertviz_lite.data.load import load_task_data, subsample
from bertviz_lite.engine.checkpoints import build_task_model, load_task_model
from bertviz_lite.engine.config import ConfigError, RunConfig
from bertviz_lite.engine.cost import Stopwatch
from bertviz_lite.engine.encoding import Encoded, encode_examples
from bertviz_lite.engine.feature_disk import model_fingerprint
from bertviz_lite.engine.features import Cache
from bertviz_lite.engine.models import Backbone, load_backbone
from bertviz_lite.engine.modes import mode_of
from bertviz_lite.engine.precision import resolve_precision
from bertviz_lite.experiments.cka import cka_matrix
from bertviz_lite.experiments.forgetting import MAX_LENGTH as FORGET_MAX_LENGTH
from bertviz_lite.experiments.forgetting import (
    SimilaritySet,
    similarity_sets,
    zero_shot_similarity,
)
from bertviz_lite.experiments.inside_bert_cache import (
    library_versions,
    side_cache,
    side_features,
    side_store,
    zero_shot_cache,
    zero_shot_scores,
)
from bertviz_lite.experiments.inside_bert_result import ChangesResult, GroupChange, engine_name
from bertviz_lite.experiments.layer_features import LayerFeatures, layer_features
from bertviz_lite.experiments.probes import ProbeData, probe_score
from bertviz_lite.experiments.probes import setup_text as probe_setup
from bertviz_lite.experiments.weights import accumulated_update_ratios, weight_changes
from bertviz_lite.record.runs import RunRecord

log = logging.getLogger(__name__)

OnProgress = Callable[[str, int, int], None]  # (what is being done, done, total); may raise
_BACKBONES: dict[str, Backbone] = {}
CKA_MAX_ROWS = 2000  # rows (words, for NER) CKA compares at most: a fixed, seeded subset
IDENTICAL = "the pretrained model's: the encoder's weights are unchanged, so are its features"


class AnalysisStopped(Exception):
    """Raised by an on_progress callback to stop an analysis between two steps."""


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
    if mode_of(config.mode).cache_features:  # the encoder never trained: it is the pretrained one
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
              precision: str, label: str, progress: OnProgress) -> dict[str, LayerFeatures]:
    """Features of both splits for one model."""
    out = {}
    for split, items in enc.items():
        def tick(done: int, total: int, split: str = split) -> None:
            progress(f"{label} model, {split} features", done, total)

        out[split] = layer_features(encoder, items, pad, ner=config.task == "ner",
                                    pooling=config.pooling, precision=precision, on_batch=tick)
    return out


def _probe(config: RunConfig, feats: dict[str, LayerFeatures], enc: dict[str, list[Encoded]],
           data: TaskData, state: int) -> float:
    """The probe score of one hidden state of one model."""
    lengths = [len(e.word_pos) for e in enc["val"]] if config.task == "ner" else None
    d = ProbeData(feats["train"].probe_inputs(state), _labels(config.task, enc["train"]),
                  feats["val"].probe_inputs(state), _labels(config.task, enc["val"]), lengths)
    return probe_score(config.task, d, data.val, data.label_names)


def _probes(config: RunConfig, feats: dict[str, LayerFeatures], enc: dict[str, list[Encoded]],
            data: TaskData, label: str, progress: OnProgress) -> list[float]:
    """Probe scores of every hidden state of one model, input to output."""
    n = feats["val"].n_states
    out = []
    for i in range(n):
        progress(f"{label} model, probes per layer", i, n)
        out.append(_probe(config, feats, enc, data, i))
    return out


def one_blas_thread() -> threadpool_limits:
    """numpy/scipy BLAS on one thread (the probes' and CKA's matrices are small: on this 2-core
    machine, under load, one thread fitted a probe 18x and the CKA matrix 5x faster than two,
    which spend their time waiting for each other). torch's own threads are not touched."""
    return threadpool_limits(limits=1, user_api="blas")


def inputs_fingerprint(enc: dict[str, list[Encoded]]) -> str:
    """sha256 of the encoded inputs (word-piece ids, token types, word positions): two runs
    whose features are read from the same inputs share it (max_length, pairs encoded jointly
    or apart, the tokenizer are all in it)."""
    h = hashlib.sha256()
    for split in sorted(enc):
        h.update(split.encode())
        for e in enc[split]:
            h.update(repr((e.seqs, e.types, e.word_pos)).encode())
    return h.hexdigest()[:16]


def _pretrained(backbone: Backbone, config: RunConfig, data: TaskData,
                enc: dict[str, list[Encoded]], pad: int, precision: str, device: str,
                progress: OnProgress) -> tuple[dict[str, LayerFeatures], list[float], str]:
    """The pretrained model's features and probe scores on this data, from the store when
    an earlier analysis computed them (see change_cache). Returns (features, probes, source)."""
    def make() -> Cache:
        feats = _features(backbone.encoder, enc, pad, config, precision, "pretrained", progress)
        return side_cache(feats, _probes(config, feats, enc, data, "pretrained", progress))

    key = (model_fingerprint(backbone.encoder), data.fingerprint(), inputs_fingerprint(enc),
           config.task, config.pooling, precision, device, probe_setup(config.task),
           library_versions())
    with one_blas_thread():
        cache, source = side_store().fetch("features", key, make)
    feats, probes = side_features(cache)
    return feats, probes, source


def _zero_shot(encoder: nn.Module, backbone: Backbone, s: SimilaritySet, precision: str,
               device: str) -> tuple[dict[str, float], str]:
    """Zero-shot similarity of the pretrained model on one set (kept in the store)."""
    def make() -> Cache:
        scores = zero_shot_similarity(encoder, backbone.tokenizer, s, precision)
        return zero_shot_cache({k: float(scores[k]) for k in ("pearson", "spearman")})

    key = (model_fingerprint(encoder), s.fingerprint(), FORGET_MAX_LENGTH, precision, device,
           library_versions())
    cache, source = side_store().fetch("zero-shot", key, make)
    return zero_shot_scores(cache), source


def _forgetting(backbone: Backbone, tuned: nn.Module | None, sets: list[SimilaritySet],
                precision: str, device: str, progress: OnProgress) -> list[dict[str, Any]]:
    """Zero-shot similarity of both models on each similarity set (tuned None: the encoder
    is the pretrained one, weights unchanged)."""
    out = []
    for s in sets:
        progress("zero-shot similarity", 0, 1)
        pre, _ = _zero_shot(backbone.encoder, backbone, s, precision, device)
        post = pre if tuned is None else zero_shot_similarity(tuned, backbone.tokenizer, s,
                                                              precision)
        out.append({"set": s.name, "pairs": len(s.pairs), "available": s.available,
                    "pretrained": dict(pre),
                    "tuned": {k: float(post[k]) for k in ("pearson", "spearman")}})
    return out


def _cka_rows(x: np.ndarray, cap: int = CKA_MAX_ROWS) -> np.ndarray:
    """Indices (sorted) of the rows CKA compares: all, or a fixed seeded subset of `cap`."""
    if len(x) <= cap:
        return np.arange(len(x))
    return np.sort(np.random.default_rng(0).choice(len(x), size=cap, replace=False))


def analyse_changes(record: RunRecord, checkpoint: str | Path | None = None, *,
                    max_examples: int | None = None, stsb_dir: str | None = None,
                    backbone: Backbone | None = None, on_progress: OnProgress | None = None,
                    reuse_identical: bool = True) -> ChangesResult:
    """Compare the run's tuned model with the pretrained one, layer by layer (module doc).

    The pretrained side (features, probes, zero-shot similarity) comes from the store when an
    earlier analysis of the same model and data computed it. reuse_identical: when the tuned
    encoder's weights equal the pretrained ones exactly (a frozen run), its features are the
    pretrained features (bit-identical by construction) and are not computed a second time.
    on_progress(what, done, total) may raise AnalysisStopped to stop.
    """
    watch, t0, cpu0 = Stopwatch(), time.perf_counter(), time.process_time()
    progress = on_progress or (lambda what, done, total: None)
    config = RunConfig.from_dict(record.config)
    progress("loading the models", 0, 1)
    with watch.time("models"):
        backbone = backbone or shared_backbone(config.model)
        tuned = tuned_encoder(record, config, backbone, checkpoint)
    with watch.time("data"):
        data, fingerprint = run_data(config, max_examples)
        tok, sep = backbone.tokenizer, config.separate_pairs
        enc = {"train": encode_examples(data.train, tok, config.max_length, sep)[0],
               "val": encode_examples(data.val, tok, config.max_length, sep)[0]}
        sets = similarity_sets(stsb_dir)
    notes: list[str] = []
    if record.data.get("fingerprint") not in (None, fingerprint):
        notes = ["the data read now differs from the data the run was trained on (its "
                 "fingerprint changed): the probes and CKA use the data read now"]
    pad = int(tok.pad_token_id or 0)
    device = next(tuned.parameters()).device
    precision = resolve_precision(config.precision, device)
    with watch.time("weight change"):
        weights = weight_changes(backbone.encoder, tuned)
    identical = reuse_identical and all(v == 0.0 for v in weights.values())
    with watch.time("pretrained side"):
        pre, probes_pre, source = _pretrained(backbone, config, data, enc, pad, precision,
                                              device.type, progress)
    with watch.time("tuned side"), one_blas_thread():
        if identical:
            post, probes_post = pre, probes_pre
        else:
            post = _features(tuned, enc, pad, config, precision, "tuned", progress)
            probes_post = _probes(config, post, enc, data, "tuned", progress)
    with watch.time("cka"), one_blas_thread():
        progress("CKA", 0, 1)
        groups, matrix = _assemble(record, pre, post, weights, probes_pre, probes_post)
    with watch.time("forgetting"):
        forgetting = _forgetting(backbone, None if identical else tuned, sets, precision,
                                 device.type, progress)
    setup = _setup(record, config, backbone, data, pre, precision, device)
    setup["pretrained_side"] = source
    setup["tuned_side"] = IDENTICAL if identical else "computed"
    seconds = {k: round(v, 2) for k, v in watch.seconds.items()}
    seconds.update(total=round(time.perf_counter() - t0, 2),
                   cpu=round(time.process_time() - cpu0, 2))  # all threads together
    progress("done", 1, 1)
    return ChangesResult(setup=setup, groups=groups, cka_matrix=matrix.tolist(),
                         run_final=dict(record.final), baseline=dict(record.baseline),
                         update_ratios=accumulated_update_ratios(record),
                         forgetting=forgetting, seconds=seconds, notes=notes)


def _assemble(record: RunRecord, pre: dict[str, LayerFeatures], post: dict[str, LayerFeatures],
              weights: dict[str, float], probes_pre: list[float], probes_post: list[float]
              ) -> tuple[list[GroupChange], np.ndarray]:
    """Per-group CKA, weight change and probes, and the layer x layer CKA matrix."""
    n = pre["val"].n_states
    names = ["embeddings", *[f"layer.{i}" for i in range(n - 1)]]
    ratios = accumulated_update_ratios(record)
    rows = _cka_rows(pre["val"].rows(0))
    xs = [pre["val"].rows(i)[rows] for i in range(n)]
    ys = [post["val"].rows(i)[rows] for i in range(n)]
    matrix = cka_matrix(xs, ys)  # its diagonal: each hidden state against its own
    groups = [GroupChange(
        group=name, cka=float(matrix[i, i]), weight_change=weights.get(name),
        probe_pretrained=probes_pre[i], probe_tuned=probes_post[i],
        update_ratio_sum=ratios[name][-1][1] if ratios.get(name) else None,
        trainable=name not in record.frozen_groups) for i, name in enumerate(names)]
    return groups, matrix


def _setup(record: RunRecord, config: RunConfig, backbone: Backbone, data: TaskData,
           pre: dict[str, LayerFeatures], precision: str, device: Any) -> dict[str, Any]:
    """What the analysis measured on, and how."""
    n, rows = pre["val"].n_states, int(pre["val"].rows(0).shape[0])
    return {"task": config.task, "mode": config.mode, "model": backbone.name,
            "layers": n - 1, "hidden": int(pre["val"].rows(0).shape[1]),
            "data": data.source, "fingerprint": data.fingerprint(),
            "examples": {"train": len(data.train), "val": len(data.val),
                         "cka_rows": min(rows, CKA_MAX_ROWS), "unit": pre["val"].kind},
            "cka": (f"linear CKA on the validation {pre['val'].kind} rows"
                    + (f", a fixed subset of {CKA_MAX_ROWS} of {rows}" if rows > CKA_MAX_ROWS
                       else "")),
            "probe": probe_setup(config.task), "precision": precision,
            "run_key": record.key, "engine": engine_name(), "device": str(device)}
