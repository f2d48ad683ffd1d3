"""Frozen-encoder features kept between runs.

A frozen encoder computes the same features for the same example every time, so a worker can
keep them: a second frozen run on the same data (another learning rate, another seed) skips
the encoder entirely. Keyed by everything that determines the features, bounded in memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import torch

Cache = dict[str, list[torch.Tensor | None]]  # split -> per-example features (None: not yet)


def cache_bytes(cache: Cache) -> int:
    """Memory held by the computed features of a cache."""
    return sum(t.numel() * t.element_size() for feats in cache.values() for t in feats
               if t is not None)


class FeatureStore:
    """LRU of feature caches, at most `max_bytes` in total (a single bigger cache is not kept)."""

    def __init__(self, max_bytes: int = 512 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._caches: OrderedDict[tuple, Cache] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Cache | None:
        """The cache for `key` (marked most recently used), or None."""
        with self._lock:
            cache = self._caches.get(key)
            if cache is not None:
                self._caches.move_to_end(key)
            return cache

    def put(self, key: tuple, cache: Cache) -> None:
        """Keep a cache, evicting the least recently used ones beyond the byte budget."""
        with self._lock:
            if cache_bytes(cache) > self.max_bytes:
                self._caches.pop(key, None)
                return
            self._caches[key] = cache
            self._caches.move_to_end(key)
            while sum(cache_bytes(c) for c in self._caches.values()) > self.max_bytes:
                self._caches.popitem(last=False)

    def __len__(self) -> int:
        return len(self._caches)
