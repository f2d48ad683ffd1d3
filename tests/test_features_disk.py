"""Frozen features on disk: reused by later Trainers and processes (no encoder forward pass),
damaged files recomputed and never used, the folder bounded with least-recently-used out.
(A second `bertviz-lite train` process reading every feature from disk is checked by the
smoke bench in tests/test_bench.py, which measures exactly that.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.feature_disk import FeatureDisk, computed, pack, unpack
from bertviz_lite.engine.features import FeatureStore
from bertviz_lite.engine.training import Trainer

REPO = Path(__file__).resolve().parents[1]


def tiny_config(tiny_model_dir, **kw) -> RunConfig:
    base = dict(model=str(tiny_model_dir), max_train=48, max_eval=24, batch_size=8, epochs=2,
                train_eval_size=16, seed=3, device="cpu", mode="frozen")
    base.update(kw)
    return RunConfig(**base)


class EncoderCalls:
    """Counts forward passes of the encoder class (a global module hook: the trainer runs a
    copy of the backbone's encoder, so a hook on the backbone itself would never fire)."""

    def __init__(self, encoder_type: type) -> None:
        self.type, self.calls = encoder_type, 0

    def __enter__(self) -> EncoderCalls:
        def hook(module, args, output):
            if type(module) is self.type:
                self.calls += 1
        self.handle = torch.nn.modules.module.register_module_forward_hook(hook)
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()


def run(config, backbone, folder: Path, max_bytes: int = 2**30) -> tuple[Trainer, int]:
    """A fresh Trainer with a fresh in-memory store over `folder` (what a new process has)."""
    store = FeatureStore(disk=FeatureDisk(folder, max_bytes))
    with EncoderCalls(type(backbone.encoder)) as calls:
        trainer = Trainer(config, backbone=backbone, features=store)
        for _ in trainer.events():
            pass
    return trainer, calls.calls


@pytest.mark.parametrize("task,precision", [("sentiment", "fp32"), ("paraphrase", "bf16"),
                                            ("ner", "bf16"), ("similarity", "fp32")])
def test_second_frozen_run_reads_features_and_runs_no_encoder(task, precision, tmp_path,
                                                              tiny_model_dir, tiny_backbone):
    config = tiny_config(tiny_model_dir, task=task, precision=precision)
    cold, cold_calls = run(config, tiny_backbone, tmp_path)
    assert cold_calls > 0 and len(list(tmp_path.glob("*.safetensors"))) == 1
    warm, warm_calls = run(config.replace(head_lr=1e-2), tiny_backbone, tmp_path)  # new run
    assert warm_calls == 0
    n = len(warm.data.train) + len(warm.data.val)
    assert warm.record.cost["features_reused"] == n
    assert warm.record.cost["feature_cache_seconds"] == 0.0
    same, _ = run(config, tiny_backbone, tmp_path)  # same seed: bit-identical to the cold run
    assert [s.loss for s in same.record.steps] == [s.loss for s in cold.record.steps]
    assert same.record.final["value"] == cold.record.final["value"]


def test_key_separates_precision_pooling_and_length(tmp_path, tiny_model_dir, tiny_backbone):
    config = tiny_config(tiny_model_dir, epochs=1, precision="fp32")
    run(config, tiny_backbone, tmp_path)
    for change in ({"precision": "bf16"}, {"pooling": "cls"}, {"max_length": 16},
                   {"head": "scalar-mix"}):
        _, calls = run(config.replace(**change), tiny_backbone, tmp_path)
        assert calls > 0, change
    assert len(list(tmp_path.glob("*.safetensors"))) == 5


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage"])
def test_damaged_file_is_recomputed_never_used(damage, tmp_path, tiny_model_dir, tiny_backbone,
                                               caplog):
    config = tiny_config(tiny_model_dir, epochs=1)
    cold, _ = run(config, tiny_backbone, tmp_path)
    (path,) = tmp_path.glob("*.safetensors")
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[-5] ^= 0x01  # one bit of one feature value
    elif damage == "truncate":
        raw = raw[: len(raw) // 2]  # a writer that died halfway (without the rename)
    elif damage == "empty":
        raw = bytearray()
    else:
        raw = bytearray(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}" + bytes(64))
    path.write_bytes(bytes(raw))
    again, calls = run(config, tiny_backbone, tmp_path)
    assert calls > 0 and again.record.cost["features_reused"] == 0
    assert "damaged" in caplog.text
    assert [s.loss for s in again.record.steps] == [s.loss for s in cold.record.steps]
    _, calls = run(config, tiny_backbone, tmp_path)  # the recomputed file is whole again
    assert calls == 0


def test_pack_roundtrip_keeps_dtype_bits_and_gaps():
    g = torch.Generator().manual_seed(0)
    cache = {"train": [torch.randn(3, 8, generator=g).bfloat16(), None,
                       torch.randn(5, 8, generator=g).bfloat16()],
             "val": [torch.randn(8, generator=g), torch.randn(8, generator=g)]}
    back = unpack(pack(cache))
    assert computed(back) == 4 and back["train"][1] is None
    for split, feats in cache.items():
        for a, b in zip(feats, back[split], strict=True):
            if a is not None:
                assert b.dtype == a.dtype and torch.equal(a, b)


def _cache(n: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"train": [torch.randn(256, generator=g) for _ in range(n)]}


def test_eviction_by_size_least_recently_used_first(tmp_path):
    one = FeatureDisk(tmp_path / "probe").save(("k",), _cache(10, 0))
    size = one.stat().st_size
    disk = FeatureDisk(tmp_path / "f", max_bytes=int(2.5 * size))
    p1 = disk.save(("a",), _cache(10, 1))
    os.utime(p1, (1000, 1000))
    p2 = disk.save(("b",), _cache(10, 2))
    os.utime(p2, (2000, 2000))
    assert disk.load(("a",)) is not None  # a read makes "a" the most recently used
    p3 = disk.save(("c",), _cache(10, 3))
    assert p1.exists() and p3.exists() and not p2.exists()
    assert disk.total_bytes() <= disk.max_bytes
    assert disk.load(("b",)) is None
    assert disk.save(("big",), _cache(40, 4)) is None  # bigger than the whole limit: not kept
    assert {p.name for p in disk.files()} == {p1.name, p3.name}


def test_file_of_another_key_is_not_used(tmp_path):
    disk = FeatureDisk(tmp_path)
    src = disk.save(("a",), _cache(3, 0))
    os.replace(src, disk.path(("b",)))  # a name clash or a copied file
    assert disk.load(("b",)) is None and not disk.path(("b",)).exists()
