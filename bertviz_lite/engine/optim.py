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


def layer_depths(model: TaskModel) -> dict[int, int]:
    """id(parameter) -> how many layers it sits below the top one: 0 for the top layer (and
    any encoder part that is no layer), L - 1 - i for layer.i, L for the embeddings."""
    names = [g.name for g in model.groups]
    layers = [n for n in names if n.startswith("layer.")]
    depth_of = {name: len(layers) - 1 - i for i, name in enumerate(layers)}
    depth_of["embeddings"] = len(layers)
    return {id(p): depth_of.get(g.name, 0) for g in model.groups for p in g.parameters()}


def build_optimizer(model: TaskModel, lr: float, head_lr: float, weight_decay: float,
                    layer_lr_decay: float = 1.0) -> torch.optim.Optimizer:
    """AdamW with parameter groups: encoder/head x decay/no decay (x depth, with a layer-wise
    decay).

    The head starts from random weights and gets its own, larger learning rate.
    layer_lr_decay: discriminative learning rates (Howard & Ruder 2018; layer-wise decay as
    in Clark et al. 2020): a weight `d` layers below the top one learns at lr * decay**d,
    the embeddings at lr * decay**L; 1.0 (the default) gives every encoder weight `lr`.
    """
    head_ids = {id(p) for p in model.head.parameters()}
    depths = layer_depths(model) if layer_lr_decay != 1.0 else {}
    buckets: dict[tuple[bool, bool, int], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        head = id(p) in head_ids
        key = (head, _no_decay(name, p), 0 if head else depths.get(id(p), 0))
        buckets.setdefault(key, []).append(p)
    groups = [
        {"params": params, "lr": head_lr if is_head else lr * layer_lr_decay ** depth,
         "weight_decay": 0.0 if no_decay else weight_decay}
        for (is_head, no_decay, depth), params in sorted(buckets.items())
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
