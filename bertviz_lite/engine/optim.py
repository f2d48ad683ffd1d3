"""Optimizer and learning-rate schedule: AdamW over trainable parameters only, so frozen
parameters get no optimizer state at all."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from bertviz_lite.engine.heads import TaskModel


def _no_decay(name: str, p: nn.Parameter) -> bool:
    """Biases, LayerNorm weights and scalar-mix weights are not decayed (as in BERT)."""
    return p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name or ".mix." in name


def build_optimizer(model: TaskModel, lr: float, head_lr: float, weight_decay: float
                    ) -> torch.optim.Optimizer:
    """AdamW with up to four parameter groups: encoder/head x decay/no decay.

    The head starts from random weights and gets its own, larger learning rate.
    """
    head_ids = {id(p) for p in model.head.parameters()}
    buckets: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        key = (id(p) in head_ids, _no_decay(name, p))
        buckets.setdefault(key, []).append(p)
    groups = [
        {"params": params, "lr": head_lr if is_head else lr,
         "weight_decay": 0.0 if no_decay else weight_decay}
        for (is_head, no_decay), params in sorted(buckets.items())
    ]
    try:  # the fused kernel is several times faster on CPU and CUDA
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except (RuntimeError, ValueError):  # e.g. MPS on older torch
        return torch.optim.AdamW(groups, lr=lr, foreach=True)


def linear_schedule(opt: torch.optim.Optimizer, total_steps: int, warmup: float) -> LambdaLR:
    """Linear warm-up over `warmup` of the steps, then linear decay to zero."""
    warm = int(total_steps * warmup)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    return LambdaLR(opt, factor)
