"""Frozen-encoder features kept between runs.

A frozen encoder computes the same features for the same example every time, so a worker can
keep them: a second frozen run on the same data (another learning rate, another seed) skips
the encoder entirely. Keyed by everything that determines the features, bounded in memory.
With a `FeatureDisk` (engine/feature_disk.py) behind it, features also outlive the process:
a later process (another `bertviz-lite train --mode frozen`) reads them instead of computing.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import torch

log = logging.getLogger(__name__)

Cache = dict[str, list[torch.Tensor | None]]  # split -> per-example features (None: not yet)


class DiskBacking(Protocol):
    """What a store needs from a folder of features (engine/feature_disk.FeatureDisk)."""

    folder: Path

    def load(self, key: tuple) -> Cache | None: ...

    def save(self, key: tuple, cache: Cache) -> None: ...


def cache_bytes(cache: Cache) -> int:
    """Memory held by the computed features of a cache."""
    return sum(t.numel() * t.element_size() for feats in cache.values() for t in feats
               if t is not None)


class FeatureStore:
    """LRU of feature caches, at most `max_bytes` in total (a single bigger cache is not kept),
    optionally backed by a folder on disk (read on a memory miss, written on `put`)."""

    def __init__(self, max_bytes: int = 512 * 2**20, disk: DiskBacking | None = None) -> None:
        self.max_bytes = max_bytes
        self.disk = disk
        self._caches: OrderedDict[tuple, Cache] = OrderedDict()
        self._lock = threading.Lock()
        self._too_big: set[tuple] = set()  # keys already logged as over the budget

    def get(self, key: tuple) -> Cache | None:
        """The cache for `key` (marked most recently used), else the disk's copy, or None."""
        with self._lock:
            cache = self._caches.get(key)
            if cache is not None:
                self._caches.move_to_end(key)
                return cache
        cache = self.disk.load(key) if self.disk is not None else None
        if cache is not None:
            self._keep(key, cache)
        return cache

    def put(self, key: tuple, cache: Cache) -> None:
        """Keep a cache, evicting the least recently used ones beyond the byte budget; with a
        disk, also write it there when it holds features the file does not have yet."""
        self._keep(key, cache)
        if self.disk is not None:
            try:
                self.disk.save(key, cache)
            except OSError as err:  # a full or read-only disk costs speed, never the run
                log.warning("could not write frozen features to %s: %s", self.disk.folder, err)

    def _keep(self, key: tuple, cache: Cache) -> None:
        with self._lock:
            size = cache_bytes(cache)
            if size > self.max_bytes:
                self._caches.pop(key, None)
                if key not in self._too_big:
                    self._too_big.add(key)
                    log.warning("frozen features of %d MB exceed the in-memory feature store "
                                "(%d MB): this run keeps them, later runs read them from the disk "
                                "cache if it holds them, or compute them again", size // 2**20,
                                self.max_bytes // 2**20)
                return
            self._caches[key] = cache
            self._caches.move_to_end(key)
            while sum(cache_bytes(c) for c in self._caches.values()) > self.max_bytes:
                self._caches.popitem(last=False)

    def __len__(self) -> int:
        return len(self._caches)
