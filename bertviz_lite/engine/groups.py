"""Layer groups found from the module tree, and the freeze policy applied to them.

Groups, from input to output: `embeddings`, `layer.0` ... `layer.{L-1}`, `pooler` (only when
the sentence vector uses it), `head`. One policy covers frozen, fine-tuned and everything in
between: `trainable_top` = 0 (frozen), K (top-K) or None (fine-tune every group). Which
parameters train in each mode is the mode registry's answer (engine/modes.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn


class ModelStructureError(ValueError):
    """A model whose layers cannot be found (not a BERT-family encoder)."""


@dataclass
class LayerGroup:
    """A named block of the network whose parameters are measured together."""

    name: str
    modules: list[nn.Module]

    def named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Every parameter in the group (deduplicated, in module order)."""
        seen: set[int] = set()
        out: list[tuple[str, nn.Parameter]] = []
        for m in self.modules:
            for n, p in m.named_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append((n, p))
        return out

    def parameters(self) -> list[nn.Parameter]:
        """The group's parameters."""
        return [p for _, p in self.named_parameters()]

    def numel(self) -> int:
        """Number of scalar weights in the group."""
        return sum(p.numel() for p in self.parameters())


def encoder_layers(encoder: nn.Module) -> nn.ModuleList:
    """The transformer layers of BERT/RoBERTa/ELECTRA (`encoder.layer`) or DistilBERT
    (`transformer.layer`)."""
    base = getattr(encoder, "base_model", encoder)
    for attr in ("encoder", "transformer"):
        block = getattr(base, attr, None)
        layers = getattr(block, "layer", None)
        if isinstance(layers, nn.ModuleList):
            return layers
    raise ModelStructureError(
        f"cannot find the transformer layers of {type(encoder).__name__}: expected "
        "encoder.layer (BERT, RoBERTa, ELECTRA) or transformer.layer (DistilBERT)"
    )


def embedding_modules(encoder: nn.Module) -> list[nn.Module]:
    """Token/position embeddings, plus ELECTRA's projection when it has one."""
    base = getattr(encoder, "base_model", encoder)
    mods = [getattr(base, "embeddings", None), getattr(base, "embeddings_project", None)]
    found = [m for m in mods if isinstance(m, nn.Module)]
    if not found:
        raise ModelStructureError(f"cannot find the embeddings of {type(encoder).__name__}")
    return found


def build_groups(encoder: nn.Module, head: nn.Module, use_pooler: bool) -> list[LayerGroup]:
    """Groups in input-to-output order; every parameter of encoder and head is in exactly one."""
    groups = [LayerGroup("embeddings", embedding_modules(encoder))]
    groups += [LayerGroup(f"layer.{i}", [layer]) for i, layer in enumerate(encoder_layers(encoder))]
    pooler = getattr(getattr(encoder, "base_model", encoder), "pooler", None)
    if use_pooler:
        if not isinstance(pooler, nn.Module):
            raise ModelStructureError(
                f"{type(encoder).__name__} has no pooler; use mean or [CLS] pooling instead"
            )
        groups.append(LayerGroup("pooler", [pooler]))
    groups.append(LayerGroup("head", [head]))
    return groups


def trainable_group_names(groups: list[LayerGroup], trainable_top: int | None) -> list[str]:
    """Names of the groups that learn when the top `trainable_top` layers train (None: every
    group; 0: the head only; K: the top K layers, the pooler above them and the head)."""
    learning = top_k_groups([g.name for g in groups], trainable_top)
    return [g.name for g in groups if g.name in learning]


def top_k_groups(groups: Sequence[str], k: int | None) -> set[str]:
    """Groups that learn when the top `k` layers train: None every group; 0 the head only;
    K the top K transformer layers, the pooler (it sits above them) and the head."""
    if k is None:
        return set(groups)
    layers = [g for g in groups if g.startswith("layer.")]
    if k > len(layers):
        raise ModelStructureError(
            f"top-{k} asks for more layers than the model has ({len(layers)}); use top-1 ... "
            f"top-{len(layers)}, or finetune to train everything")
    learning = set(layers[len(layers) - k:]) if k else set()
    if k:
        learning.add("pooler")  # it sits above every layer, so it trains whenever one does
    learning.add("head")
    return learning


def apply_freeze(groups: list[LayerGroup], trainable: list[str]) -> None:
    """Set `requires_grad` so only the trainable groups receive gradients."""
    for g in groups:
        flag = g.name in trainable
        for p in g.parameters():
            p.requires_grad_(flag)
