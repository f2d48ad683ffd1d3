"""What fine-tuning forgot: the bundled model's pretraining skill, zero-shot sentence similarity.

The bundled MiniLM was trained so that the cosine of two mean-pooled sentence vectors tracks how
similar the sentences are. Measured with no training at all: encode each sentence alone, mean
pool the last hidden state over its word pieces, take the cosine of the two vectors of a pair,
and correlate it with the gold scores (Pearson and Spearman). After tuning on another task the
same measurement shows how much of that skill is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from bertviz_lite.data.examples import PairExample
from bertviz_lite.engine import metrics
from bertviz_lite.engine.encoding import encode_examples
from bertviz_lite.experiments.layer_features import layer_features

MAX_LENGTH = 128  # word pieces per sentence
MAX_PAIRS = 500  # pairs measured at most (a larger set: a fixed subset keeping score buckets)


@dataclass
class SimilaritySet:
    """Sentence pairs with gold similarity scores (0-5), and where they came from."""

    name: str  # "bundled similarity dev" or "STS-B dev (GLUE)"
    pairs: list[PairExample]
    available: int = 0  # pairs in the file (more than `pairs` when capped at MAX_PAIRS)

    def fingerprint(self) -> str:
        """Content hash of the pairs measured (a cache key)."""
        import hashlib

        h = hashlib.sha256(self.name.encode())
        for p in self.pairs:
            h.update(repr(p).encode("utf-8"))
        return h.hexdigest()[:16]


def capped(name: str, pairs: Sequence[PairExample], cap: int = MAX_PAIRS) -> SimilaritySet:
    """A similarity set of at most `cap` pairs (a seeded subset keeping the score buckets)."""
    from bertviz_lite.data.load import subsample

    kept = subsample(list(pairs), min(cap, len(pairs)), 0) if len(pairs) > cap else list(pairs)
    return SimilaritySet(name, kept, len(pairs))  # type: ignore[arg-type]


def cosine_rows(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise cosine of (n, H) and (n, H) -> (n,), in float64 (0 for a zero vector)."""
    u, v = u.astype(np.float64), v.astype(np.float64)
    den = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
    return np.where(den > 0, np.sum(u * v, axis=1) / np.where(den > 0, den, 1.0), 0.0)


def zero_shot_similarity(encoder: nn.Module, tokenizer: object, data: SimilaritySet,
                         precision: str = "fp32") -> dict[str, float | int | str]:
    """Cosine of mean-pooled last-layer sentence vectors against the gold scores.

    Returns {"pearson", "spearman", "pairs", "set"}.
    """
    enc, _ = encode_examples(data.pairs, tokenizer, MAX_LENGTH, separate_pairs=True)
    pad = int(getattr(tokenizer, "pad_token_id", 0) or 0)
    feats = layer_features(encoder, enc, pad, ner=False, pooling="mean", precision=precision)
    last = feats.n_states - 1
    u = np.stack([f[0, last] for f in feats.per_example])  # (n, H)
    v = np.stack([f[1, last] for f in feats.per_example])
    cos = cosine_rows(u, v).tolist()
    gold = [float(p.label) for p in data.pairs]
    return {"pearson": metrics.pearson(cos, gold), "spearman": metrics.spearman(cos, gold),
            "pairs": len(gold), "set": data.name}


def similarity_sets(stsb_dir: str | None = None) -> list[SimilaritySet]:
    """The bundled similarity dev set, plus STS-B dev when a folder with it is given."""
    from bertviz_lite.data.load import find_split_files, load_file, load_task_data

    sets = [capped("bundled similarity dev",
                   list(load_task_data("similarity", "bundled").val))]  # type: ignore[arg-type]
    if stsb_dir:
        from pathlib import Path

        folder = Path(stsb_dir)
        folder = folder / "stsb" if (folder / "stsb").is_dir() else folder
        _, dev = find_split_files(folder, "similarity")
        if dev is not None:
            pairs, _ = load_file(dev, "similarity")
            sets.append(capped("STS-B dev (GLUE)", list(pairs)))  # type: ignore[arg-type]
    return sets
