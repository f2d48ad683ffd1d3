"""The fine-tuning recipe is what docs/results.md says: warm-up then linear decay, weight decay on
weight matrices only, the gradient clipped at 1.0 (after its norm was recorded)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from bertviz_lite.cli.args import clip_arg
from bertviz_lite.engine.config import ConfigError, RunConfig
from bertviz_lite.engine.optim import build_optimizer, linear_schedule
from bertviz_lite.engine.steps import clip_gradients
from bertviz_lite.engine.training import Trainer

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results.md"  # the recipe's paragraph


def tiny(tiny_model_dir, **kw) -> RunConfig:
    base = dict(model=str(tiny_model_dir), max_train=48, max_eval=16, batch_size=8, epochs=2,
                train_eval_size=8, seed=1, mode="finetune", task="sentiment")
    base.update(kw)
    return RunConfig(**base)


def test_defaults_are_berts_recipe() -> None:
    c = RunConfig()
    assert (c.warmup, c.weight_decay, c.max_grad_norm) == (0.1, 0.01, 1.0)
    assert c.lr in (5e-5, 3e-5, 2e-5) and c.batch_size in (16, 32) and 2 <= c.epochs <= 4


def test_schedule_warms_up_then_decays_to_zero() -> None:
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.AdamW([p], lr=1.0)
    sched = linear_schedule(opt, total_steps=100, warmup=0.1)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(1 / 11)  # the first step is already a small one
    assert lrs[:11] == sorted(lrs[:11]) and lrs[10] == pytest.approx(1.0)  # rises for 10%
    assert lrs[10:] == sorted(lrs[10:], reverse=True)  # then only falls
    assert lrs[55] == pytest.approx(0.5)  # linearly, half-way through the decay
    assert lrs[-1] == pytest.approx(1 / 90) and opt.param_groups[0]["lr"] == 0.0


def test_weight_decay_spares_biases_and_layernorm(tiny_model_dir, tiny_backbone) -> None:
    trainer = Trainer(tiny(tiny_model_dir), backbone=tiny_backbone)
    events = trainer.events()
    next(e for e in events if getattr(e, "phase", "") == "ready")
    model = trainer.model
    opt = build_optimizer(model, 5e-5, 3e-3, 0.01)
    decay_of = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    names = dict(model.named_parameters())
    for name, p in names.items():
        expected = 0.0 if (p.ndim < 2 or "LayerNorm" in name) else 0.01
        assert decay_of[id(p)] == expected, name
    assert any(v == 0.01 for v in decay_of.values()) and any(v == 0 for v in decay_of.values())
    events.close()


def test_clipping_scales_the_update_not_the_recorded_norm(tiny_model_dir, tiny_backbone) -> None:
    seen: list[float] = []

    def after(t: Trainer, norms: dict[str, float]) -> None:
        grads = [p.grad for p in t.model.parameters() if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack(
            [torch.linalg.vector_norm(g) for g in grads]))))

    # a small limit, so that clipping acts on (nearly) every step
    trainer = Trainer(tiny(tiny_model_dir, max_grad_norm=0.05), backbone=tiny_backbone,
                      after_backward=after)
    for _ in trainer.events():
        pass
    rec = trainer.record
    assert rec.status == "completed" and seen
    for step, total in zip(rec.steps, seen):
        recorded = sum(v * v for v in step.grad_norm.values()) ** 0.5
        assert recorded == pytest.approx(total, rel=1e-4)  # norms as backward made them
    assert max(seen) > 0.05  # so clipping had something to do


def test_clip_gradients_reaches_the_limit_exactly() -> None:
    a, b = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(4))
    a.grad, b.grad = torch.full((3,), 3.0), torch.full((4,), 4.0)
    opt = torch.optim.AdamW([a, b], lr=0.1)
    before = clip_gradients(opt, 1.0)
    after = float(torch.sqrt(a.grad.square().sum() + b.grad.square().sum()))
    assert before == pytest.approx((27 + 64) ** 0.5) and after == pytest.approx(1.0, rel=1e-5)
    assert clip_gradients(opt, None) is None  # off: nothing touched
    small = torch.nn.Parameter(torch.zeros(1))
    small.grad = torch.tensor([0.5])
    clip_gradients(torch.optim.AdamW([small]), 1.0)
    assert float(small.grad) == 0.5  # below the limit: unchanged


@pytest.mark.parametrize("value,words", [(0.0, "max_grad_norm"), (-1.0, "max_grad_norm"),
                                         (float("inf"), "max_grad_norm"), (True, "max_grad_norm")])
def test_bad_clip_values(value, words) -> None:
    with pytest.raises(ConfigError, match=words):
        RunConfig(max_grad_norm=value)


def test_bad_weight_decay() -> None:
    with pytest.raises(ConfigError, match="weight_decay"):
        RunConfig(weight_decay=-0.1)


def test_clip_arg() -> None:
    assert clip_arg("none") is None and clip_arg("off") is None and clip_arg("1.0") == 1.0
    with pytest.raises(Exception, match="positive number or 'none'"):
        clip_arg("lots")


def test_results_page_states_the_recipe_in_use() -> None:
    text = RESULTS.read_text(encoding="utf-8")
    section = text[text.index("## The fine-tuning recipe"):]
    section = section[:section.index("\n## ", 5)]
    c = RunConfig()
    assert f"{c.warmup:.0%}" in section and f"weight decay {c.weight_decay:g}" in section
    assert f"clipped at {c.max_grad_norm:g}" in section
    assert re.search(rf"learning rate {c.lr:g}\b", section)
    assert f"batch size {c.batch_size}" in section and f"{c.epochs} epochs" in section
    assert "biases and LayerNorm" in section
