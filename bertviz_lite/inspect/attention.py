"""Attention maps of every layer and head, for the pretrained or the fine-tuned encoder.

Shapes: L layers, A heads per layer, T word pieces (no padding: one sequence).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bertviz_lite.engine.heads import encoder_inputs
from bertviz_lite.inspect._common import (
    device_of,
    encode_one,
    eval_mode,
    flat_tokens,
    segments_of,
)


class AttentionUnavailableError(RuntimeError):
    """The encoder returned no attention weights (it was not loaded with eager attention)."""


@dataclass
class AttentionMaps:
    """Attention weights of one example, read by name.

    tokens: the T word pieces, [CLS] ... [SEP] (a pair: [CLS] A [SEP] B [SEP]).
    segments: 0 (sentence A) or 1 (sentence B) per token.
    attn: (L, A, T, T); attn[l, h, q, k] is how much query token q attends to key token k in
      head h of layer l. Every row (fixed l, h, q) sums to 1.
    """

    tokens: list[str]
    segments: list[int]
    attn: np.ndarray

    @property
    def num_layers(self) -> int:
        """L."""
        return int(self.attn.shape[0])

    @property
    def num_heads(self) -> int:
        """A: heads per layer."""
        return int(self.attn.shape[1])

    @property
    def sentence_b_start(self) -> int | None:
        """Index of sentence B's first token, or None for one sentence."""
        return self.segments.index(1) if 1 in self.segments else None

    def block(self, query_segment: int, key_segment: int) -> np.ndarray:
        """The attention of sentence `query_segment`'s tokens to sentence `key_segment`'s:
        (L, A, T_q, T_k). block(0, 1) is "A attends to B"; the four blocks of a pair tile attn.
        """
        seg = np.asarray(self.segments)
        q, k = np.flatnonzero(seg == query_segment), np.flatnonzero(seg == key_segment)
        return self.attn[:, :, q[:, None], k[None, :]]


def _encoder_of(model: nn.Module) -> nn.Module:
    """A TaskModel's encoder, or the module itself when it already is an encoder."""
    inner = getattr(model, "encoder", None)
    return inner if hasattr(model, "groups") and isinstance(inner, nn.Module) else model


def _no_attention_error(encoder: nn.Module) -> AttentionUnavailableError:
    impl = getattr(encoder.config, "_attn_implementation", None)
    return AttentionUnavailableError(
        f"the encoder returned no attention weights (its attention implementation is {impl!r}). "
        "Load it with eager attention: AutoModel.from_pretrained(..., attn_implementation="
        "'eager'); bertviz_lite.engine.models.load_backbone does this.")


def attention_maps(encoder: nn.Module, tokenizer: object, text: str, text_b: str | None = None,
                   *, max_length: int = 128, lock: threading.Lock | None = None) -> AttentionMaps:
    """Every layer's and head's attention weights for one sentence or pair.

    encoder: a pretrained BERT-family encoder (a Backbone's), or a TaskModel (its encoder is
      used): the page compares the two. Not modified; run in eval mode, modes restored.
    text_b: a second sentence, always encoded jointly with the first here
      ([CLS] A [SEP] B [SEP]) so attention between the sentences is visible, whatever the task
      model does with pairs.
    lock: held while tokenising (fast tokenizers are not thread-safe).
    Returns attn (L, A, T, T), from outputs.attentions: L tensors of (1, A, T, T).
    Raises AttentionUnavailableError when the encoder was not loaded with eager attention.
    """
    encoder = _encoder_of(encoder)
    task = "sentiment" if text_b is None else "paraphrase"
    inp = encode_one(tokenizer, task, text, text_b, max_length=max_length, separate_pairs=False,
                     device=device_of(encoder), lock=lock)
    with eval_mode(encoder), torch.no_grad():
        out = encoder(**encoder_inputs(encoder, inp.batch), output_attentions=True)
    layers = getattr(out, "attentions", None)
    if not layers or any(a is None for a in layers):
        raise _no_attention_error(encoder)
    attn = torch.cat(layers, dim=0)  # (L, A, T, T): one sequence, so the batch axis merges
    return AttentionMaps(flat_tokens(inp),
                         segments_of(inp, getattr(tokenizer, "sep_token_id", None)),
                         attn.float().cpu().numpy())


def head_change(before: AttentionMaps, after: AttentionMaps) -> np.ndarray:
    """How much each head's attention moved between two models on the same text: (L, A).

    The total variation distance between the two attention rows, 0.5 * sum_k |a - b| (0: the
    same distribution, 1: no overlap), averaged over the query tokens. Fine-tuning usually
    moves the top layers' heads most.
    """
    if before.tokens != after.tokens or before.attn.shape != after.attn.shape:
        raise ValueError("compare attention maps of the same text and model size: the tokens "
                         "or the shapes differ")
    tv = 0.5 * np.abs(before.attn - after.attn).sum(axis=-1)  # (L, A, T)
    return tv.mean(axis=-1)
