"""Frozen features on disk, shared by every process of this user (or class server).

One safetensors file per feature key in the cache folder (`paths.feature_cache_dir()`):
the file name is a hash of the key, the header's metadata holds the key itself, the engine
version, the number of bytes of tensor data and their sha256, so a file that is truncated,
flipped or written for another key is detected, deleted and recomputed, never used. Writes
go to a temporary file in the same folder and are renamed into place (atomic: a reader sees
the old file or the new one, never half of one). The folder is bounded: least recently used
files (by modification time, touched on every read) go first beyond `max_bytes`.

Features are stored in the dtype they were computed in (fp32 runs: 4 bytes a value; bf16
runs: 2 bytes), so features read back are bit-identical to the ones a run would compute: a
warm run gives exactly the numbers of a cold one. A sentence feature of the bundled model is
384 values (1.5 KB fp32, 0.75 KB bf16); the scalar-mix head keeps all 7 layers (7x that).
The task-model head keeps every token (NER: every word) of all 7 layers in float16: 5.25 KB a
token, on average 75 KB a CoNLL-2003 sentence, so 5,000 CoNLL training sentences take 368 MiB
(measured: 71,795 words), SST-2 342 MiB, all 3,668 MRPC pairs 1,020 MiB. The in-memory
FeatureStore (512 MB) logs a warning for a cache it cannot keep; this folder keeps it if it fits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from bertviz_lite.engine.features import Cache

log = logging.getLogger(__name__)

FEATURES_VERSION = 1  # bump when the feature computation changes (pooling, gathering, dtypes)
SUFFIX = ".features.safetensors"
DEFAULT_MAX_BYTES = 2 * 2**30
_FINGERPRINTS: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()


def model_fingerprint(module: nn.Module) -> str:
    """sha256 of a module's weights (names, shapes, dtypes, bytes); cached per module object.

    About 0.1 s for the bundled model's 23 M weights; a frozen encoder never changes, so the
    hash identifies what computed the features whatever the model was called.
    """
    cached = _FINGERPRINTS.get(module)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(_raw_bytes(t))
    digest = h.hexdigest()[:32]
    _FINGERPRINTS[module] = digest
    return digest


def _raw_bytes(t: torch.Tensor) -> memoryview:
    """The bytes of a tensor (any dtype, including bf16), on the CPU."""
    flat = t.detach().to("cpu").contiguous().reshape(-1)
    return memoryview(flat.view(torch.uint8).numpy())


def _checksum(tensors: dict[str, torch.Tensor]) -> tuple[str, int]:
    """(sha256, bytes) of the tensors' data, in name order."""
    h, n = hashlib.sha256(), 0
    for name in sorted(tensors):
        raw = _raw_bytes(tensors[name])
        h.update(name.encode())
        h.update(raw)
        n += raw.nbytes
    return h.hexdigest(), n


def computed(cache: Cache) -> int:
    """How many examples of a cache have their features computed."""
    return sum(t is not None for feats in cache.values() for t in feats)


def pack(cache: Cache) -> dict[str, torch.Tensor]:
    """split -> per-example features (some None) as flat tensors for one file.

    `<split>.data` (sum of rows, ...): the computed features concatenated on axis 0 (one row
    for sentence features, one per word for NER); `<split>.rows`: which example each block is;
    `<split>.lengths`: rows per block (-1: a sentence feature without a word axis);
    `<split>.size`: examples in the split.
    """
    out: dict[str, torch.Tensor] = {}
    for split, feats in cache.items():
        rows = [i for i, t in enumerate(feats) if t is not None]
        out[f"{split}.size"] = torch.tensor([len(feats)], dtype=torch.int64)
        out[f"{split}.rows"] = torch.tensor(rows, dtype=torch.int64)
        if not rows:
            continue
        blocks = [feats[i] for i in rows]  # type: ignore[misc]
        tokens = blocks[0].dim() >= 2 and any(b.shape[0] != blocks[0].shape[0] for b in blocks)
        out[f"{split}.tokens"] = torch.tensor([int(tokens)])
        parts = blocks if tokens else [b.unsqueeze(0) for b in blocks]
        out[f"{split}.lengths"] = torch.tensor([p.shape[0] for p in parts], dtype=torch.int64)
        out[f"{split}.data"] = torch.cat([p.detach().to("cpu") for p in parts]).contiguous()
    return out


def unpack(tensors: dict[str, torch.Tensor]) -> Cache:
    """Inverse of `pack`."""
    cache: Cache = {}
    for name in tensors:
        if not name.endswith(".size"):
            continue
        split = name[: -len(".size")]
        feats: list[torch.Tensor | None] = [None] * int(tensors[name][0])
        rows = tensors[f"{split}.rows"].tolist()
        if rows:
            tokens = bool(tensors[f"{split}.tokens"][0])
            lengths = tensors[f"{split}.lengths"].tolist()
            blocks = torch.split(tensors[f"{split}.data"], lengths)
            for i, block in zip(rows, blocks, strict=True):
                feats[i] = block if tokens else block[0]
        cache[split] = feats
    return cache


def key_text(key: tuple) -> str:
    """A feature key as canonical JSON (what the file name hashes and the header holds)."""
    return json.dumps([FEATURES_VERSION, *key], default=str)


class FeatureDisk:
    """A folder of feature files, at most `max_bytes` in total, least recently used out first."""

    def __init__(self, folder: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.written: dict[str, int] = {}  # key text -> examples in the file we last wrote/read

    def path(self, key: tuple) -> Path:
        """The file of a key: a hash of its canonical text."""
        digest = hashlib.sha256(key_text(key).encode()).hexdigest()[:32]
        return self.folder / f"{digest}{SUFFIX}"

    def load(self, key: tuple) -> Cache | None:
        """The features stored for `key`, or None (absent; corrupt or partial: deleted)."""
        path = self.path(key)
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        try:
            cache = self._decode(raw, key)
        except Exception as err:  # noqa: BLE001 - any damage means: recompute, never use
            log.warning("feature file %s is damaged (%s): deleted, the features are computed "
                        "again", path.name, err)
            path.unlink(missing_ok=True)
            return None
        with_touch(path)
        self.written[key_text(key)] = computed(cache)
        return cache

    def _decode(self, raw: bytes, key: tuple) -> Cache:
        """File bytes -> cache; raises ValueError on any mismatch with the header."""
        if len(raw) < 8:
            raise ValueError(f"{len(raw)} bytes, shorter than a header")
        header_len = int.from_bytes(raw[:8], "little")
        if header_len > len(raw) - 8:
            raise ValueError("truncated header")
        meta = json.loads(raw[8 : 8 + header_len]).get("__metadata__") or {}
        if meta.get("key") != key_text(key):
            raise ValueError("the file holds features of another key")
        if int(meta.get("file_bytes", -1)) != len(raw):
            raise ValueError(f"{len(raw)} bytes, the header says {meta.get('file_bytes')}")
        tensors = st_load(raw)
        digest, n = _checksum(tensors)
        if digest != meta.get("sha256") or n != int(meta.get("data_bytes", -1)):
            raise ValueError("checksum mismatch")
        return unpack(tensors)

    def save(self, key: tuple, cache: Cache) -> Path | None:
        """Write the cache if it holds more computed features than the file (atomic), then
        evict beyond the size limit. None when nothing was written."""
        n = computed(cache)
        if n == 0 or n <= self.written.get(key_text(key), 0):
            return None
        tensors = pack(cache)
        digest, data_bytes = _checksum(tensors)
        meta = {"key": key_text(key), "sha256": digest, "data_bytes": str(data_bytes),
                "engine_version": str(FEATURES_VERSION), "examples": str(n)}
        body = _with_length(tensors, meta)
        if len(body) > self.max_bytes:
            log.info("features of %d examples (%d bytes) exceed the disk cache limit: not kept",
                     n, len(body))
            return None
        path = self.path(key)
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=SUFFIX)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.written[key_text(key)] = n
        self.evict(keep=path)
        return path

    def files(self) -> list[Path]:
        """Feature files, least recently used first."""
        found = []
        for p in self.folder.glob(f"*{SUFFIX}"):
            if p.name.startswith(".tmp-"):
                continue
            try:
                found.append((p.stat().st_mtime_ns, p))
            except OSError:
                continue
        return [p for _, p in sorted(found)]

    def total_bytes(self) -> int:
        """Bytes of all feature files."""
        return sum(_size(p) for p in self.files())

    def evict(self, keep: Path | None = None) -> list[Path]:
        """Delete least recently used files until the folder fits `max_bytes`; also stale
        temporaries (a writer that died). Returns the deleted files."""
        for tmp in self.folder.glob(f".tmp-*{SUFFIX}"):
            if time.time() - tmp.stat().st_mtime > 3600:
                tmp.unlink(missing_ok=True)
        files = self.files()
        total = sum(_size(p) for p in files)
        gone = []
        for p in files:
            if total <= self.max_bytes:
                break
            if p == keep:
                continue
            total -= _size(p)
            p.unlink(missing_ok=True)
            gone.append(p)
        return gone


def _with_length(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> bytes:
    """safetensors bytes whose metadata also states the total file length.

    The length goes in as a fixed-width number, so writing it does not change it."""
    meta = {**meta, "file_bytes": "0" * 16}
    size = len(st_save(tensors, metadata=meta))
    meta["file_bytes"] = f"{size:016d}"
    body = st_save(tensors, metadata=meta)
    assert len(body) == size
    return body


def with_touch(path: Path) -> None:
    """Mark a file as just used (LRU order is by modification time)."""
    try:
        os.utime(path)
    except OSError:
        pass


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def default_feature_disk(max_bytes: int | None = None) -> FeatureDisk:
    """The per-user feature folder (`paths.feature_cache_dir()`); limit from
    `BERTVIZ_FEATURE_CACHE_MB` or 2 GiB."""
    from bertviz_lite.paths import feature_cache_dir

    if max_bytes is None:
        mb = os.environ.get("BERTVIZ_FEATURE_CACHE_MB")
        max_bytes = int(float(mb) * 2**20) if mb else DEFAULT_MAX_BYTES
    return FeatureDisk(feature_cache_dir(), max_bytes)


def describe(disk: FeatureDisk) -> dict[str, Any]:
    """Files and bytes in the folder (for the bench and the instructor page)."""
    files = disk.files()
    return {"folder": str(disk.folder), "files": len(files),
            "bytes": sum(_size(p) for p in files), "max_bytes": disk.max_bytes}
