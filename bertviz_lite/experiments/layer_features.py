"""Hidden states of every layer group, pooled the way the task reads them, as numpy arrays.

For each example and each of the N = L + 1 hidden states (the embeddings, then layer.0 ...
layer.{L-1}): a sentence (or jointly encoded pair) gives one vector (mean of its word pieces, or
[CLS] when the run pools that way); a separately encoded pair gives two; an NER sentence gives
one vector per kept word (its first word piece). The same function runs the pretrained and the
tuned encoder on the same inputs, in eval mode and without gradients, so a layer that did not
change computes bit-identical numbers. Under `precision="bf16"` the matrix multiplies run in
bf16 autocast (weights stay fp32; the hidden states come out of LayerNorm in fp32), as the
run's own forward passes do on hardware with native bf16 (`engine.precision`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bertviz_lite.engine.encoding import Encoded, bucket_batches, collate
from bertviz_lite.engine.heads import _gather_words, _pool, encoder_inputs
from bertviz_lite.engine.precision import autocast

BATCH = 64  # sequences per forward pass


@dataclass
class LayerFeatures:
    """Per-example features of every hidden state.

    per_example[i]: (N, H) for a sentence or joint pair, (2, N, H) for a separate pair,
    (W_i, N, H) for an NER sentence with W_i kept words. float32.
    """

    per_example: list[np.ndarray]
    kind: str  # "sentence" | "pair" (separately encoded) | "words"

    @property
    def n_states(self) -> int:
        """N = L + 1 hidden states."""
        return int(self.per_example[0].shape[-2])

    def rows(self, state: int) -> np.ndarray:
        """(rows, H) of one hidden state for CKA: an example, each sentence of a pair, or each
        word is one row."""
        if self.kind == "sentence":
            return np.stack([f[state] for f in self.per_example])
        return np.concatenate([f[:, state] for f in self.per_example])

    def probe_inputs(self, state: int) -> np.ndarray:
        """(rows, D) probe features: the vector, [u, v, |u - v|, u * v] for a separate pair
        (how the task head reads it, D = 4H), or one row per word."""
        if self.kind != "pair":
            return self.rows(state)
        u = np.stack([f[0, state] for f in self.per_example])  # (B, H)
        v = np.stack([f[1, state] for f in self.per_example])
        return np.concatenate([u, v, np.abs(u - v), u * v], axis=1)  # (B, 4H)


def _batch_features(encoder: nn.Module, items: Sequence[Encoded], idx: list[int], pad_id: int,
                    ner: bool, pooling: str, device: torch.device) -> list[np.ndarray]:
    """Run one padded batch; returns one array per example (shapes as in LayerFeatures)."""
    batch = collate(items, idx, pad_id, ner, regression=True).to(device)
    out = encoder(**encoder_inputs(encoder, batch), output_hidden_states=True)
    states = torch.stack(out.hidden_states, dim=1)  # (S, N, T, H)
    if ner:
        words = _gather_words(states, batch.word_pos).float().cpu()  # (B, W, N, H)
        return [words[i, : len(it.word_pos)].numpy() for i, it in enumerate(items)]
    pooled = _pool(states, batch.attention_mask, "cls" if pooling == "cls" else "mean")
    pooled = pooled.float().cpu()  # (S, N, H)
    b = len(items)
    if len(items[0].seqs) == 2:
        return [torch.stack([pooled[i], pooled[b + i]]).numpy() for i in range(b)]  # (2, N, H)
    return [pooled[i].numpy() for i in range(b)]


@torch.inference_mode()
def layer_features(encoder: nn.Module, encoded: Sequence[Encoded], pad_id: int, *, ner: bool,
                   pooling: str = "mean", device: torch.device | None = None,
                   precision: str = "fp32",
                   on_batch: Callable[[int, int], None] | None = None) -> LayerFeatures:
    """Hidden-state features of every layer for every encoded example (in their order).

    precision: "fp32" or "bf16" (autocast). on_batch(done, total): called after each batch
    with examples done so far (it may raise to stop).
    """
    if not encoded:
        raise ValueError("no examples to compute features for")
    device = device or next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    out: list[np.ndarray | None] = [None] * len(encoded)
    try:
        lengths = [e.length for e in encoded]
        done = 0
        for idx in bucket_batches(lengths, BATCH, None):
            items = [encoded[i] for i in idx]
            with autocast(precision, device):
                feats = _batch_features(encoder, items, idx, pad_id, ner, pooling, device)
            for i, f in zip(idx, feats):
                out[i] = f
            done += len(idx)
            if on_batch is not None:
                on_batch(done, len(encoded))
    finally:
        encoder.train(was_training)
    kind = "words" if ner else "pair" if len(encoded[0].seqs) == 2 else "sentence"
    return LayerFeatures([f for f in out if f is not None], kind)
