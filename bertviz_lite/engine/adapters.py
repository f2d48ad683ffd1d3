"""Bottleneck adapters (Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP").

Each transformer layer gets two small bottlenecks: one after the attention block's output
projection, one after the feed-forward block's, each before that block's residual sum and
LayerNorm: h -> h + W_up · GELU(W_down · h). W_up starts at zero, so before the first step the
encoder computes exactly what the pretrained one does. With the layer norms and the head they
are all that trains.

Written here rather than taken from the `adapters` library: its releases (1.3.0 the latest)
pin transformers ~=4.57, and this project runs transformers 5; peft has no bottleneck
adapters. The blocks are found by shape, not by class name: a module with a `dense` linear
projection and a `LayerNorm` (BERT's BertSelfOutput and BertOutput, and the models that copy
them). The adapter hangs below its projection (`...output.dense.adapter.down.weight`), so every
pretrained parameter keeps its name and a forward hook on the projection applies it.
"""

from __future__ import annotations

import torch
from torch import nn

from bertviz_lite.engine.errors import ConfigError

ADAPTER = "adapter"  # the attribute, and the name part every adapter parameter has


class Bottleneck(nn.Module):
    """h -> h + up(GELU(down(h))) over the last dimension (width -> size -> width).

    down: (size, width) weights, normal(0, 0.01) as Houlsby et al.; up: (width, size), zeros:
    the adapter starts as the identity.
    """

    def __init__(self, width: int, size: int) -> None:
        super().__init__()
        self.down = nn.Linear(width, size)
        self.up = nn.Linear(size, width)
        self.act = nn.GELU()
        nn.init.normal_(self.down.weight, std=0.01)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h: (..., width) -> (..., width)."""
        return h + self.up(self.act(self.down(h)))


def _through_adapter(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
    """Forward hook of a projection: its output passed through the adapter it carries."""
    return getattr(module, ADAPTER)(output)


def output_projections(encoder: nn.Module) -> list[tuple[str, nn.Linear]]:
    """(name, projection) of every block output an adapter follows: the `dense` of each module
    that has a linear `dense` and a `LayerNorm` (BERT: two per layer)."""
    return [(f"{name}.dense", m.dense) for name, m in encoder.named_modules()
            if isinstance(getattr(m, "dense", None), nn.Linear)
            and isinstance(getattr(m, "LayerNorm", None), nn.LayerNorm)]


def add_adapters(encoder: nn.Module, size: int) -> int:
    """Put a Bottleneck of `size` after every block output projection of `encoder`; returns
    how many. ConfigError for a model without BERT-style output blocks."""
    found = output_projections(encoder)
    if not found:
        raise ConfigError("adapters sit after BERT's attention and feed-forward output "
                          "projections (a `dense` beside a `LayerNorm`); this model has none: "
                          "use LoRA or BitFit for it")
    for _, dense in found:
        if hasattr(dense, ADAPTER):
            continue  # added already (a checkpoint that loads onto this encoder)
        ref = dense.weight
        adapter = Bottleneck(dense.out_features, size).to(device=ref.device, dtype=ref.dtype)
        dense.add_module(ADAPTER, adapter)
        dense.register_forward_hook(_through_adapter)
    return len(found)


def is_adapter_param(name: str) -> bool:
    """Whether a parameter name (relative to any module) belongs to an adapter."""
    return f".{ADAPTER}." in f".{name}"
