"""Linear probes: how well one layer's features predict the task's labels, with scikit-learn.

A probe is a linear model trained on frozen features of one layer (logistic regression for
classes and NER tags, ridge regression for similarity scores), fitted on the training split and
scored on validation in the task's own metric (accuracy, Pearson r, entity span F1), so it
reads on the same scale as the run's result and the no-learning baseline. Features are
standardised first; fits are deterministic (lbfgs, no random state involved). A probe trains on
at most MAX_TRAIN_ROWS rows: beyond that a fixed, seeded subset that keeps every label's share
(NER has one row per word, about 14 per sentence; the cap keeps its probes to about a second).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from bertviz_lite.engine.tasks import TASK_SPECS, evaluate

PROBE_C = 0.1  # inverse L2 strength of the logistic probe (on standardised features)
RIDGE_ALPHA = 10.0  # L2 strength of the ridge probe on standardised features
MAX_ITER = 300  # lbfgs iterations at most
TOL = 1e-3  # lbfgs stopping tolerance (a probe needs the score, not the last digit)
MAX_TRAIN_ROWS = 2000  # training rows a probe fits on at most (a stratified, seeded subset)
SUBSET_SEED = 0


def setup_text(task: str) -> str:
    """The probe as one line for a result's setup (what a reader needs to reproduce it)."""
    if TASK_SPECS[task].regression:
        model = f"ridge (alpha {RIDGE_ALPHA})"
    else:
        model = f"logistic regression (lbfgs, C {PROBE_C}, tol {TOL}, max_iter {MAX_ITER})"
    return (f"standardised features, {model}, trained on at most {MAX_TRAIN_ROWS} training rows "
            f"(a stratified subset, seed {SUBSET_SEED})")


def train_subset(y: np.ndarray, cap: int = MAX_TRAIN_ROWS, seed: int = SUBSET_SEED,
                 stratify: bool = True) -> np.ndarray:
    """Indices (sorted) of at most `cap` rows: all of them when there are fewer; else each label
    keeps its share (rounded, at least one row per label), drawn with a fixed seed."""
    n = len(y)
    if n <= cap:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if not stratify:
        return np.sort(rng.choice(n, size=cap, replace=False))
    labels, counts = np.unique(y, return_counts=True)
    quota = np.maximum(1, np.floor(counts * cap / n).astype(int))
    for i in np.argsort(-(counts * cap / n - quota))[: max(0, cap - int(quota.sum()))]:
        quota[i] += 1  # largest remainders first, until the subset has `cap` rows
    picked = [rng.choice(np.flatnonzero(y == lab), size=min(int(q), int(c)), replace=False)
              for lab, q, c in zip(labels, quota, counts)]
    return np.sort(np.concatenate(picked))


@dataclass
class ProbeData:
    """Features of one layer for a probe, and the labels they should predict.

    x_train (n, d), y_train (n,); x_val (m, d), y_val (m,). For NER one row per word and
    `val_lengths` the kept words of each validation sentence (to rebuild sentences for span F1).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    val_lengths: list[int] | None = None


def make_probe(task: str) -> Pipeline:
    """Standardise, then ridge (similarity) or multinomial logistic regression (the rest)."""
    if TASK_SPECS[task].regression:
        return make_pipeline(StandardScaler(), Ridge(alpha=RIDGE_ALPHA))
    return make_pipeline(StandardScaler(), LogisticRegression(C=PROBE_C, max_iter=MAX_ITER, tol=TOL))


def _sentences(flat: Sequence[int], lengths: Sequence[int]) -> list[list[int]]:
    """Split per-word predictions back into sentences."""
    out, start = [], 0
    for n in lengths:
        out.append([int(v) for v in flat[start:start + n]])
        start += n
    return out


def probe_score(task: str, d: ProbeData, val_examples: Sequence[object],
                label_names: Sequence[str]) -> float:
    """Fit a probe on the training rows, score it on validation in the task's metric.

    val_examples: the validation examples (NER: words beyond the kept ones count as `O`).
    """
    if len(np.unique(d.y_train)) < 2:
        return float("nan")  # one class only: nothing to separate
    rows = train_subset(d.y_train, stratify=not TASK_SPECS[task].regression)
    probe = make_probe(task).fit(d.x_train[rows], d.y_train[rows])
    pred = probe.predict(d.x_val)
    spec = TASK_SPECS[task]
    if task == "ner":
        assert d.val_lengths is not None
        sents = _sentences(pred, d.val_lengths)
        full = [s + [0] * (len(ex.tags) - len(s))  # type: ignore[attr-defined]
                for s, ex in zip(sents, val_examples)]
        return evaluate(task, full, val_examples, label_names)[spec.metric]  # type: ignore[arg-type]
    if spec.regression:
        preds: list[object] = [float(v) for v in pred]
    else:
        preds = [int(v) for v in pred]
    return evaluate(task, preds, val_examples, label_names)[spec.metric]  # type: ignore[arg-type]
