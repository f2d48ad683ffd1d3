"""The backward sweep: how much gradient signal reaches each layer group's output.

For one batch, the loss is back-propagated and, on its way down, the gradient of the loss with
respect to each group's OUTPUT activations is measured: the head's logits first, then the top
layer's hidden states, ... down to the embeddings. That is the signal a group passes on to the
groups below; the animation shows it travelling down from the loss and stopping at the frozen
boundary.

This is not the per-parameter gradient norm of gradflow.py (what the optimizer uses): it is the
gradient of activations, and it is measured without touching any parameter's .grad.

How it is measured: a forward hook on each group's last module puts a tensor hook on the
module's output; autograd calls it with dLoss/d(output), summed over every path the output
takes. Module full-backward hooks are not used: they wrap the output in a new tensor after
the forward hooks have run, and transformers 5 collects `hidden_states` with forward hooks of
its own, so the copy a scalar-mix head reads bypasses the wrapper and that path's gradient is
missed (measured: half the true value at layer.0 of the tiny model with a scalar-mix head).

Why the signal stops: autograd only computes gradients along paths that lead to a tensor that
requires them. The word-piece ids are integers and frozen weights do not require gradients, so
everything below the lowest trainable group is outside the graph: its outputs receive nothing
(exactly 0.0). With a frozen encoder the features are constants to the head and the signal
ends at the head's logits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch
from torch import nn

from bertviz_lite.data.examples import Example
from bertviz_lite.engine.encoding import Batch, collate, encode_examples
from bertviz_lite.engine.groups import apply_freeze
from bertviz_lite.engine.heads import TaskModel
from bertviz_lite.inspect._common import device_of, eval_mode, kept_grad_flags, locked

ForwardHook = Callable[[nn.Module, tuple, object], None]


def output_modules(model: TaskModel) -> list[tuple[str, nn.Module]]:
    """(group name, the module whose output is the group's output), input to output order.

    The last module of each group: ELECTRA's embeddings group ends with its projection.
    """
    return [(g.name, g.modules[-1]) for g in model.groups]


def _watch_output(name: str, sq_norms: dict[str, float]) -> ForwardHook:
    """A forward hook that adds ||dLoss/d output||^2 of this call into sq_norms[name] once the
    gradient arrives (outputs that need no gradient are outside the graph: nothing arrives)."""
    def record(grad: torch.Tensor) -> None:  # (B, T, H) hidden states, (B, C) logits, ...
        sq_norms[name] += float(torch.linalg.vector_norm(grad.detach().float())) ** 2

    def hook(module: nn.Module, args: tuple, output: object) -> None:
        out = output[0] if isinstance(output, tuple) else output
        if isinstance(out, torch.Tensor) and out.requires_grad:
            out.register_hook(record)

    return hook


def backward_signal(model: TaskModel, batch: Batch, *,
                    trainable: list[str] | None = None) -> dict[str, float]:
    """||dLoss / d(group output)||_2 for every layer group, for one batch.

    model: a TaskModel with its freeze policy set through requires_grad (or pass `trainable`,
      group names to apply temporarily, as groups.trainable_group_names gives them). Run in
      eval mode (no dropout: the same picture every time); modes and requires_grad flags are
      restored, no parameter's .grad is written (torch.autograd.grad, not backward()).
    batch: a collated Batch with labels (encoding.collate), on any device; moved to the model's.
    Returns {group: norm} in group order (embeddings, layer.0, ..., head). The head's value is
    the gradient w.r.t. the logits (B, C) (or scores (B, 1)); a layer's, w.r.t. its hidden
    states (S, T, H). Groups the signal does not reach are exactly 0.0.
    """
    batch = batch.to(device_of(model))
    sq_norms = {name: 0.0 for name, _ in output_modules(model)}
    handles: list[torch.utils.hooks.RemovableHandle] = []
    with eval_mode(model), kept_grad_flags(model), torch.enable_grad():
        if trainable is not None:
            apply_freeze(model.groups, trainable)
        try:
            for name, module in output_modules(model):
                handles.append(module.register_forward_hook(_watch_output(name, sq_norms)))
            loss = model.loss(model.predict(model.features(batch)), batch)
            params = [p for p in model.parameters() if p.requires_grad]
            if params and loss.requires_grad:
                torch.autograd.grad(loss, params, allow_unused=True)  # fires the hooks only
        finally:
            for h in handles:
                h.remove()
    return {name: sq ** 0.5 for name, sq in sq_norms.items()}


def backward_signal_for_text(model: TaskModel, tokenizer: object, example: Example, *,
                             trainable: list[str] | None = None, max_length: int = 128,
                             lock: threading.Lock | None = None) -> dict[str, float]:
    """backward_signal for one labelled example (SentenceExample, PairExample or
    TokenExample with one tag per word), encoded the way training encodes it.

    lock: held while tokenising (fast tokenizers are not thread-safe).
    """
    with locked(lock):
        enc, _ = encode_examples([example], tokenizer, max_length, model.pair_separate)
        pad_id = int(getattr(tokenizer, "pad_token_id", None) or 0)
    batch = collate(enc, [0], pad_id, model.task == "ner", model.task == "similarity")
    return backward_signal(model, batch, trainable=trainable)
