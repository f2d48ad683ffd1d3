"""How far the weights moved: relative change per layer group (the net change over the run),
and the per-step update ratios the run measured.

weight change of a group = ||W_tuned - W_pretrained|| / ||W_pretrained||, the L2 norm taken
over all of the group's parameters together (float64). Groups are the engine's
(`engine.groups`): embeddings, layer.0 ... layer.{L-1}, and the pooler when the run used it.
The head has no pretrained weights (it starts random), so it has no relative change.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bertviz_lite.engine.groups import embedding_modules, encoder_layers
from bertviz_lite.record.runs import RunRecord


def encoder_groups(encoder: nn.Module, use_pooler: bool = False) -> dict[str, list[nn.Module]]:
    """Group name -> modules of a bare encoder, input to output (as `build_groups` names them)."""
    groups = {"embeddings": embedding_modules(encoder)}
    groups.update({f"layer.{i}": [m] for i, m in enumerate(encoder_layers(encoder))})
    pooler = getattr(getattr(encoder, "base_model", encoder), "pooler", None)
    if use_pooler and isinstance(pooler, nn.Module):
        groups["pooler"] = [pooler]
    return groups


def _named(modules: list[nn.Module]) -> dict[str, torch.Tensor]:
    """Parameters of a group by (module index, name)."""
    return {f"{k}.{n}": p for k, m in enumerate(modules) for n, p in m.named_parameters()}


@torch.no_grad()
def group_change(pre: list[nn.Module], tuned: list[nn.Module]) -> float:
    """||W_t - W_p|| / ||W_p|| over all parameters of one group (exactly 0.0 if unchanged)."""
    a, b = _named(pre), _named(tuned)
    if a.keys() != b.keys():
        raise ValueError("the two models' groups have different parameters; were they trained "
                         "from the same pretrained model?")
    diff = base = 0.0
    for name, p in a.items():
        p64, t64 = p.detach().double().cpu(), b[name].detach().double().cpu()
        diff += float(torch.sum((t64 - p64) ** 2))
        base += float(torch.sum(p64 ** 2))
    return math.sqrt(diff) / math.sqrt(base) if base > 0 else 0.0


def weight_changes(pretrained: nn.Module, tuned: nn.Module, use_pooler: bool = False
                   ) -> dict[str, float]:
    """Relative weight change of every encoder group, input to output."""
    pre = encoder_groups(pretrained, use_pooler)
    post = encoder_groups(tuned, use_pooler)
    return {name: group_change(mods, post[name]) for name, mods in pre.items() if name in post}


def accumulated_update_ratios(record: RunRecord) -> dict[str, list[list[float]]]:
    """Per group, the running sum of the update ratios ||dW|| / ||W|| at the steps where the
    run measured them.

    Returns {group: [[step, sum so far], ...]}. With more than 4M trainable weights only every
    50th step and the last are measured (see StepRecord.update_ratio), so the sum covers a few
    steps and says nothing about the net change over the run: that is `weight_changes`.
    """
    out: dict[str, list[list[float]]] = {}
    totals: dict[str, float] = {}
    for s in record.steps:
        for group, ratio in (s.update_ratio or {}).items():
            if ratio is None or not math.isfinite(ratio):
                continue
            totals[group] = totals.get(group, 0.0) + float(ratio)
            out.setdefault(group, []).append([float(s.step), totals[group]])
    return {g: out[g] for g in record.groups if g in out}
