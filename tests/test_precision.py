"""bf16 autocast: the choice of precision, and what it must not change (fp32 weights and
gradients, so recorded norms are still the norms of p.grad; frozen weights untouched)."""

from __future__ import annotations

import pytest
import torch

from bertviz_lite.engine.config import ConfigError, RunConfig
from bertviz_lite.engine.precision import (
    Capabilities,
    PrecisionError,
    autocast,
    choose_precision,
    cpu_flags,
    detect_capabilities,
    resolve_precision,
)
from bertviz_lite.engine.training import Trainer
from tests.test_training import run_trainer

NO_BF16 = Capabilities()  # a laptop CPU / an older GPU
AVX512_BF16 = Capabilities(cpu_avx512_bf16=True)
AMX = Capabilities(cpu_amx=True)
GPU_BF16 = Capabilities(cuda_bf16=True)


def tiny_config(tiny_model_dir, **kw) -> RunConfig:
    base = dict(model=str(tiny_model_dir), max_train=48, max_eval=24, batch_size=8, epochs=1,
                train_eval_size=16, seed=3, device="cpu")
    base.update(kw)
    return RunConfig(**base)


def direct_norms(trainer: Trainer) -> dict[str, float]:
    """Norm of each group straight from p.grad: sqrt of the sum of squared entries."""
    out = {}
    for g in trainer.model.groups:
        grads = [p.grad.flatten() for p in g.parameters() if p.grad is not None]
        out[g.name] = float(torch.linalg.vector_norm(torch.cat(grads))) if grads else 0.0
    return out


# -- the choice: a pure function of (requested, device type, capabilities) -------------------
def test_auto_picks_fp32_on_a_cpu_without_bf16():
    assert choose_precision("auto", "cpu", NO_BF16) == "fp32"


@pytest.mark.parametrize("device_type,caps,expected", [
    ("cpu", AVX512_BF16, "bf16"),
    ("cpu", AMX, "bf16"),
    ("cpu", GPU_BF16, "fp32"),  # a bf16 GPU says nothing about the CPU
    ("cuda", GPU_BF16, "bf16"),
    ("cuda", NO_BF16, "fp32"),
    ("cuda", AVX512_BF16, "fp32"),  # nor a bf16 CPU about the GPU
    ("mps", Capabilities(True, True, True), "fp32"),
])
def test_auto_follows_the_capabilities_of_the_device(device_type, caps, expected):
    assert choose_precision("auto", device_type, caps) == expected


def test_explicit_choices_are_kept_or_refused_with_a_fix():
    assert choose_precision("fp32", "cuda", GPU_BF16) == "fp32"
    assert choose_precision("bf16", "cpu", NO_BF16) == "bf16"  # emulated, but it runs
    with pytest.raises(PrecisionError, match="precision fp32 or auto"):
        choose_precision("bf16", "cuda", NO_BF16)
    with pytest.raises(ConfigError, match="precision must be one of"):
        RunConfig(precision="fp16")


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n")
    assert {"avx512_bf16", "amx_tile", "fpu"} <= cpu_flags(info)
    assert cpu_flags(tmp_path / "absent") == set()


def test_detection_agrees_with_torch_on_this_machine(monkeypatch):
    monkeypatch.delenv("BERTVIZ_CPU_BF16", raising=False)  # the suite turns auto's bf16 off
    detect_capabilities.cache_clear()
    caps = detect_capabilities("cpu")
    assert caps.cpu_amx == torch.cpu._is_amx_tile_supported()
    assert caps.cpu_avx512_bf16 == torch.cpu._is_avx512_bf16_supported()
    expected = "bf16" if caps.cpu_bf16 else "fp32"
    assert resolve_precision("auto", torch.device("cpu")) == expected
    cuda = detect_capabilities("cuda")
    assert cuda.cuda_bf16 == (torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    detect_capabilities.cache_clear()


def test_bf16_can_be_turned_off_for_auto(monkeypatch):
    """BERTVIZ_CPU_BF16=0: `auto` runs fp32 on any CPU, and the bench says why it leaves bf16
    out; an explicit bf16 still runs."""
    from bertviz_lite.bench.precision import bf16_not_measured

    monkeypatch.setenv("BERTVIZ_CPU_BF16", "0")
    detect_capabilities.cache_clear()
    try:
        assert detect_capabilities("cpu") == Capabilities()
        assert resolve_precision("auto", torch.device("cpu")) == "fp32"
        assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
        assert bf16_not_measured("cpu").startswith("BERTVIZ_CPU_BF16=0 turns native bf16 off")
    finally:
        detect_capabilities.cache_clear()


def test_autocast_context_runs_matmuls_in_bf16_only_when_asked():
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with autocast("bf16", torch.device("cpu")):
        assert (a @ b).dtype == torch.bfloat16
    with autocast("fp32", torch.device("cpu")):
        assert (a @ b).dtype == torch.float32


# -- what bf16 must not change ---------------------------------------------------------------
@pytest.mark.parametrize("task", ["sentiment", "paraphrase", "similarity", "ner"])
@pytest.mark.parametrize("mode", ["finetune", "top-1", "frozen"])
def test_bf16_recorded_norms_equal_norms_of_p_grad(task, mode, tiny_model_dir, tiny_backbone):
    seen: list[tuple[dict, dict]] = []
    trainer = run_trainer(
        tiny_config(tiny_model_dir, task=task, mode=mode, precision="bf16"), tiny_backbone,
        after_backward=lambda t, norms: seen.append((dict(norms), direct_norms(t))))
    assert trainer.record.precision == "bf16"
    assert len(seen) == len(trainer.record.steps) > 0
    for recorded, direct in seen:
        for name in recorded:
            assert recorded[name] == pytest.approx(direct[name], rel=1e-5, abs=1e-12), name
    for p in trainer.model.parameters():  # autocast only: weights and grads stay fp32
        assert p.dtype == torch.float32
    for state in trainer.opt.state.values():
        assert all(v.dtype == torch.float32 for v in state.values() if v.dim() > 0)


def test_bf16_forward_differs_from_fp32_so_autocast_really_ran(tiny_model_dir, tiny_backbone):
    runs = {p: run_trainer(tiny_config(tiny_model_dir, mode="finetune", precision=p, steps=2),
                           tiny_backbone) for p in ("fp32", "bf16")}
    assert runs["fp32"].record.precision == "fp32"
    assert runs["bf16"].record.config["precision"] == "bf16"
    losses = {p: [s.loss for s in r.record.steps] for p, r in runs.items()}
    assert losses["fp32"] != losses["bf16"]
    assert losses["fp32"] == pytest.approx(losses["bf16"], rel=0.05)


@pytest.mark.parametrize("mode", ["frozen", "top-1"])
def test_frozen_weights_bit_identical_under_bf16(mode, tiny_model_dir, tiny_backbone):
    before = {n: p.detach().clone() for n, p in tiny_backbone.encoder.named_parameters()}
    trainer = run_trainer(tiny_config(tiny_model_dir, mode=mode, precision="bf16"),
                          tiny_backbone)
    frozen = set(trainer.record.frozen_groups)
    checked = 0
    for g in trainer.model.groups:
        if g.name not in frozen:
            continue
        for p in g.parameters():
            name = next(n for n, q in trainer.model.encoder.named_parameters() if q is p)
            assert p.dtype == torch.float32 and p.grad is None
            assert torch.equal(p.detach(), before[name]), name
            checked += 1
    assert checked > 0
    for n, p in tiny_backbone.encoder.named_parameters():  # the shared backbone: untouched
        assert torch.equal(p.detach(), before[n])


def test_frozen_features_are_computed_under_the_run_precision(tiny_model_dir, tiny_backbone):
    for precision, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        trainer = run_trainer(tiny_config(tiny_model_dir, precision=precision), tiny_backbone)
        feats = [t for t in trainer.inputs.cache["train"] if t is not None]
        assert feats and all(t.dtype == dtype for t in feats)
