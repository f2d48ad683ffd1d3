"""The pretrained model's side of an analysis, computed once and kept.

Nothing the pretrained model computes depends on the run: its features of the run's inputs,
its probe scores per layer and its zero-shot similarity are the same for the frozen, top-k and
fine-tuned runs of a task (and for every later analysis of the same data). They are kept in
memory (a warm worker analyses the next run without the pretrained passes) and on disk (a new
process reads them): one checksummed safetensors file per key in `feature_cache_dir()/changes`
(`engine.feature_disk.FeatureDisk`: a damaged or foreign file is deleted and recomputed, never
used). A key names everything that determines the numbers: the weights (their sha256), the
data (its fingerprint), how features are read (task, max_length, pooling, pairs), the
precision and device type, the probe setup and the library versions.

Values are `Cache`s (split -> list of tensors), the format FeatureStore and FeatureDisk keep:
    features: "train", "val" -> one (N, H) / (2, N, H) / (W, N, H) float32 tensor per example;
    "probes" -> [(N,) float64 scores]; "kind" -> [(1,) int64 code of LayerFeatures.kind];
    zero-shot: "zero_shot" -> [(2,) float64 Pearson, Spearman].
"""

from __future__ import annotations

import collections
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bertviz_lite.engine.feature_disk import FeatureDisk
from bertviz_lite.engine.features import Cache, FeatureStore
from bertviz_lite.experiments.layer_features import LayerFeatures

log = logging.getLogger(__name__)

VERSION = 1  # bump when what the pretrained side computes changes
KINDS = ("sentence", "pair", "words")
MEMORY_BYTES = 512 * 2**20  # pretrained sides kept in a process (an NER side is ~90 MB)
DISK_BYTES = 1024 * 2**20  # and on disk
COUNTS: collections.Counter[str] = collections.Counter()  # "<what> <source>": how often


def library_versions() -> str:
    """torch and scikit-learn versions (features and probes may differ between them)."""
    import sklearn

    return f"torch {torch.__version__}, scikit-learn {sklearn.__version__}"


class SideStore:
    """Pretrained sides in memory (least recently used out) and, optionally, on disk."""

    def __init__(self, disk: FeatureDisk | None, memory_bytes: int = MEMORY_BYTES) -> None:
        self.disk = disk
        self.memory = FeatureStore(memory_bytes)  # no disk behind it: we say which one hit

    def fetch(self, what: str, key: tuple, make: Callable[[], Cache]) -> tuple[Cache, str]:
        """The value of `key`: from memory, from disk, or made now (then kept in both).

        Returns (value, source) with source "memory" | "disk" | "computed"; counts it in
        COUNTS[f"{what} {source}"].
        """
        full = ("changes", VERSION, what, *key)
        value, source = self.memory.get(full), "memory"
        if value is None and self.disk is not None:
            value, source = self.disk.load(full), "disk"
        if value is None:
            value, source = make(), "computed"
            if self.disk is not None:
                try:
                    self.disk.save(full, value)
                except OSError as err:  # a full or read-only disk costs speed, never the result
                    log.warning("could not keep the pretrained side in %s: %s",
                                self.disk.folder, err)
        if source != "memory":
            self.memory.put(full, value)
        COUNTS[f"{what} {source}"] += 1
        return value, source


_STORES: dict[str, SideStore] = {}


def side_store() -> SideStore:
    """This process's store, on disk under `feature_cache_dir()/changes` (off when
    BERTVIZ_FEATURE_CACHE_MB is 0)."""
    from bertviz_lite.paths import feature_cache_dir

    folder = Path(feature_cache_dir()) / "changes"
    if str(folder) not in _STORES:
        mb = os.environ.get("BERTVIZ_FEATURE_CACHE_MB")
        disk = None if mb is not None and float(mb) <= 0 else FeatureDisk(folder, DISK_BYTES)
        _STORES[str(folder)] = SideStore(disk)
    return _STORES[str(folder)]


def reset() -> None:
    """Forget every store and count (tests; the files on disk stay)."""
    _STORES.clear()
    COUNTS.clear()


# -- conversions --------------------------------------------------------------------------
def side_cache(features: dict[str, LayerFeatures], probes: list[float]) -> Cache:
    """Features of both splits and the probe scores as one Cache."""
    kind = features["val"].kind
    out: Cache = {split: [torch.from_numpy(np.ascontiguousarray(a)) for a in f.per_example]
                  for split, f in features.items()}
    out["probes"] = [torch.tensor(probes, dtype=torch.float64)]
    out["kind"] = [torch.tensor([KINDS.index(kind)], dtype=torch.int64)]
    return out


def side_features(cache: Cache) -> tuple[dict[str, LayerFeatures], list[float]]:
    """Inverse of side_cache: (features by split, probe scores per hidden state)."""
    kind = KINDS[int(cache["kind"][0][0])]  # type: ignore[index]
    feats = {split: LayerFeatures([t.numpy() for t in cache[split]], kind)  # type: ignore[union-attr]
             for split in ("train", "val")}
    return feats, [float(v) for v in cache["probes"][0]]  # type: ignore[union-attr]


def zero_shot_cache(scores: dict[str, float]) -> Cache:
    """Pearson and Spearman as a Cache."""
    return {"zero_shot": [torch.tensor([scores["pearson"], scores["spearman"]],
                                       dtype=torch.float64)]}


def zero_shot_scores(cache: Cache) -> dict[str, float]:
    """Inverse of zero_shot_cache."""
    pearson, spearman = (float(v) for v in cache["zero_shot"][0])  # type: ignore[union-attr]
    return {"pearson": pearson, "spearman": spearman}
