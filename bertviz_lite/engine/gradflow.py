"""Per-group gradient norms and update-to-weight ratios, read after backward().

A group's gradient norm is the L2 norm over all of its parameters' gradients,
sqrt(sum_p ||grad_p||^2). A group with no gradient (frozen) is exactly 0.0 and is still
reported. Norms of every parameter come from one `torch._foreach_norm` call; the per-group
sums are one `index_add_`; one `.tolist()` per step moves them to Python.
"""

from __future__ import annotations

import torch
from torch import nn

from bertviz_lite.engine.groups import LayerGroup

Handle = torch.utils.hooks.RemovableHandle


def foreach_norm(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """L2 norm of each tensor, batched when torch offers it (the API is private)."""
    if not tensors:
        return []
    try:
        return list(torch._foreach_norm(tensors))
    except (AttributeError, RuntimeError):  # pragma: no cover - fallback for other builds
        return [torch.linalg.vector_norm(t) for t in tensors]


class GradFlow:
    """Reads gradient norms and update ratios of layer groups for one model.

    Only trainable parameters are watched; frozen groups report 0.0.
    """

    def __init__(self, groups: list[LayerGroup]) -> None:
        self.names = [g.name for g in groups]
        self.params: list[nn.Parameter] = []
        owner: list[int] = []
        for gi, g in enumerate(groups):
            for p in g.parameters():
                if p.requires_grad:
                    self.params.append(p)
                    owner.append(gi)
        device = self.params[0].device if self.params else torch.device("cpu")
        self.owner = torch.tensor(owner, dtype=torch.long, device=device)
        self._before: list[torch.Tensor] | None = None

    def _group_sums(self, per_param: list[torch.Tensor], index: torch.Tensor) -> torch.Tensor:
        """Squared per-parameter norms summed into their groups: (G,)."""
        sums = torch.zeros(len(self.names), dtype=torch.float32, device=index.device)
        if per_param:
            sq = torch.stack(per_param).float().pow(2)  # (P,)
            sums.index_add_(0, index, sq)
        return sums

    def grad_norms(self, rows: dict[int, torch.Tensor] | None = None) -> dict[str, float]:
        """{group: ||grad||_2} for every group, 0.0 where no gradient arrived.

        rows: {id(param): row indices} for embedding tables whose gradient is zero outside
        those rows (the token ids of the batch): only those rows are read, which gives the
        same norm without scanning a 30522 x H matrix of zeros every step.
        """
        rows = rows or {}
        with torch.no_grad():
            have = [(i, p.grad) for i, p in enumerate(self.params) if p.grad is not None]
            if not have:
                return dict.fromkeys(self.names, 0.0)
            idx = self.owner[[i for i, _ in have]] if len(have) < len(self.params) else self.owner
            grads = [g if id(self.params[i]) not in rows
                     else g.index_select(0, rows[id(self.params[i])]) for i, g in have]
            norms = foreach_norm(grads)  # type: ignore[arg-type]
            values = self._group_sums(norms, idx).sqrt().tolist()
        return dict(zip(self.names, values))

    def snapshot(self) -> None:
        """Remember the trainable weights before optimizer.step() (for update ratios).

        The copy lives only until `update_ratios` (measured every step for small trainable
        sets, on a stride for large ones), so it does not add a model's worth of memory to the
        whole run.
        """
        with torch.no_grad():
            self._before = [p.detach().clone() for p in self.params]

    def update_ratios(self) -> dict[str, float]:
        """{group: ||w_after - w_before|| / ||w_after||} since the last snapshot; 0.0 if frozen."""
        if self._before is None or not self.params:
            return dict.fromkeys(self.names, 0.0)
        with torch.no_grad():
            weights = [p.detach() for p in self.params]
            torch._foreach_sub_(self._before, weights)  # in place: before - after = -delta
            d = self._group_sums(foreach_norm(self._before), self.owner).sqrt()
            w = self._group_sums(foreach_norm(weights), self.owner).sqrt()
            ratio = torch.where(w > 0, d / w.clamp(min=1e-30), torch.zeros_like(w)).tolist()
        self._before = None
        return dict(zip(self.names, ratio))


class SignalProbe:
    """During one forward/backward pass, the norm of the gradient that reaches each group's
    OUTPUT (the backward signal travelling down the network), 0.0 where it never arrives.

    Use as a context manager around forward and backward. A forward hook on each group's last
    module registers a tensor hook on its output; autograd calls it with dLoss/d(output),
    summed over every path the output takes. A module that runs more than once in the pass
    adds up: the value is the norm over all its outputs' gradients. Groups whose output does
    not require grad stay exactly 0.0: the word-piece ids are integers and frozen weights are
    constants, so everything below the lowest trainable group (or every encoder group, when
    the features come from the cache) is outside the graph. For the head the value is the
    gradient of the loss with respect to the logits.

    This is the gradient of activations, not the per-parameter gradient norm of `GradFlow`
    (what the optimizer uses).
    """

    def __init__(self, groups: list[LayerGroup]) -> None:
        self.groups = groups
        self._sq: dict[str, float] = {g.name: 0.0 for g in groups}
        self._handles: list[Handle] = []

    @property
    def signal(self) -> dict[str, float]:
        """{group: ||dLoss/d output||_2} in group order (input to output)."""
        return {name: sq ** 0.5 for name, sq in self._sq.items()}

    def _capture(self, name: str) -> object:
        def hook(module: nn.Module, args: object, output: object) -> None:
            out = output[0] if isinstance(output, (tuple, list)) else output
            out = getattr(out, "last_hidden_state", out)
            if isinstance(out, torch.Tensor) and out.requires_grad:
                out.register_hook(lambda g: self._store(name, g))
        return hook

    def _store(self, name: str, grad: torch.Tensor) -> None:
        self._sq[name] += float(torch.linalg.vector_norm(grad.detach().float())) ** 2

    def __enter__(self) -> SignalProbe:
        for g in self.groups:
            self._handles.append(g.modules[-1].register_forward_hook(self._capture(g.name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
