"""Task heads and the model that joins an encoder to one.

The encoder turns a Batch into *features*, the head turns features into predictions. The split
is what makes frozen training cheap: frozen features are computed once per example, cached,
and only the head runs in each step.

Feature shapes (N = L + 1 hidden states when the head mixes all layers, H = hidden size):
  sentence, pair encoded jointly: (B, H), or (B, N, H) for scalar-mix
  pair encoded separately:        (B, 2, H), or (B, 2, N, H)
  NER (first word piece per word): (B, W, H), or (B, W, N, H)
The task-model head (engine/task_models.py) reads every token of every hidden state instead,
float16, exact zeros at padding: sentence (B, T, N, H), pair (B, 2, T, N, H), NER (B, W, N, H).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bertviz_lite.engine.encoding import IGNORE, Batch
from bertviz_lite.engine.groups import LayerGroup, build_groups
from bertviz_lite.engine.task_models import STORE_DTYPE, ScalarMix, build_task_head

__all__ = ["SCORE_SCALE", "ScalarMix", "TaskHead", "TaskModel", "encoder_inputs"]

SCORE_SCALE = 5.0  # similarity: the head predicts score / 5 and the loss compares with label / 5


class TaskHead(nn.Module):
    """Optional scalar mix, optional pair combination, dropout, one linear layer."""

    def __init__(self, hidden: int, n_out: int, n_layers: int | None, pair: bool,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.mix = ScalarMix(n_layers) if n_layers else None
        self.pair = pair
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(4 * hidden if pair else hidden, n_out)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Features (see module docstring) -> logits (B, n_out) or (B, W, n_out)."""
        x = self.mix(features) if self.mix is not None else features
        if self.pair:
            u, v = x[:, 0], x[:, 1]  # (B, H) each
            x = torch.cat([u, v, (u - v).abs(), u * v], dim=-1)  # (B, 4H)
        return self.linear(self.dropout(x))


class TaskModel(nn.Module):
    """Encoder + head for one task, with its layer groups and freeze policy.

    `frozen_modules` stay in eval mode (no dropout) even while the model trains, so a frozen
    layer computes exactly what the cached features hold.
    """

    def __init__(self, encoder: nn.Module, task: str, n_out: int, *, head: str = "linear",
                 pooling: str = "mean", separate_pairs: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.task = task
        self.pooling = pooling
        self.token_features = head == "task-model"  # every token of every layer, fp16
        self.all_layers = head in ("scalar-mix", "task-model")
        self.pair_separate = task in ("paraphrase", "similarity") and separate_pairs
        cfg = encoder.config
        hidden = int(getattr(cfg, "hidden_size", getattr(cfg, "dim", 0)))
        n_hidden_states = int(cfg.num_hidden_layers) + 1
        self.head: nn.Module
        if self.token_features:  # pooling does not apply: the task model reads every token
            self.pooling = "tokens"
            self.head = build_task_head(task, hidden, n_hidden_states, n_out)
        else:
            self.head = TaskHead(hidden, n_out, n_hidden_states if self.all_layers else None,
                                 self.pair_separate)
        if self.pooling != "pooler" and hasattr(encoder, "pooler"):
            encoder.pooler = None  # unused: keep it out of the groups and the parameter count
        self.groups: list[LayerGroup] = build_groups(encoder, self.head,
                                                     self.pooling == "pooler")
        self.frozen_modules: list[nn.Module] = []

    def train(self, mode: bool = True) -> TaskModel:
        """Like nn.Module.train, but frozen groups always stay in eval mode."""
        super().train(mode)
        for m in self.frozen_modules:
            m.eval()
        return self

    def features(self, batch: Batch) -> torch.Tensor:
        """Run the encoder: Batch -> head input (shapes in the module docstring)."""
        out = self.encoder(**encoder_inputs(self.encoder, batch),
                           output_hidden_states=self.all_layers)
        if self.all_layers:
            states = torch.stack(out.hidden_states, dim=1)  # (S, N, T, H)
        else:
            states = out.last_hidden_state.unsqueeze(1)  # (S, 1, T, H)
        if self.token_features:
            return self._token_features(states, batch)
        if self.task == "ner":
            feats = _gather_words(states, batch.word_pos)  # (B, W, N', H)
        elif self.pooling == "pooler":
            feats = out.pooler_output.unsqueeze(1)  # (S, 1, H)
        else:
            feats = _pool(states, batch.attention_mask, self.pooling)  # (S, N', H)
        if not self.all_layers:
            feats = feats.squeeze(-2)  # drop the single-layer axis
        if self.pair_separate:
            b = batch.size
            feats = torch.stack([feats[:b], feats[b:]], dim=1)  # (B, 2, ...)
        return feats

    def _token_features(self, states: torch.Tensor, batch: Batch) -> torch.Tensor:
        """(S, N, T, H) hidden states -> the task model's features (module docstring), with
        exact zeros at padding and rounded to float16 as the cache stores them, so a cached
        and an uncached run compute the same."""
        if self.task == "ner":
            feats = _gather_words(states, batch.word_pos)  # (B, W, N, H)
            feats = feats * _word_mask(batch, feats.shape[:2])[:, :, None, None].to(feats.dtype)
        else:
            feats = states.transpose(1, 2)  # (S, T, N, H)
            feats = feats * batch.attention_mask[:, :, None, None].to(feats.dtype)
            if self.pair_separate:
                b = batch.size
                feats = torch.stack([feats[:b], feats[b:]], dim=1)  # (B, 2, T, N, H)
        return feats.to(STORE_DTYPE)

    @property
    def store_dtype(self) -> torch.dtype | None:
        """The dtype frozen features are kept in when the head fixes one (task model: fp16);
        None: the dtype they were computed in."""
        return STORE_DTYPE if self.token_features else None

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Head only: features -> logits (B, C), (B, W, C) or scores (B,) (the task model of
        NER gives tag emissions (B, W, C), decoded by its CRF)."""
        out = self.head(features)
        return out.squeeze(-1) if self.task == "similarity" else out

    def tag_paths(self, outputs: torch.Tensor, batch: Batch) -> list[list[int]]:
        """NER: the predicted tag of each real word per sentence (B lists): the CRF's Viterbi
        path for the task model, else the highest-scoring tag of each word."""
        mask = _word_mask(batch, outputs.shape[:2])
        if self.token_features:
            return self.head.viterbi(outputs, mask)  # type: ignore[operator]
        tags = outputs.argmax(-1).tolist()  # (B, W)
        return [t[: int(n)] for t, n in zip(tags, mask.sum(-1).tolist(), strict=True)]

    def loss(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Cross-entropy (classes, tags), the CRF's negative log-likelihood per sentence (NER
        task model) or mean squared error on scores scaled to [0, 1]."""
        if self.task == "similarity":
            return F.mse_loss(outputs, batch.labels / SCORE_SCALE)
        if self.task == "ner" and self.token_features:
            return self.head.nll(outputs, batch.labels,  # type: ignore[operator]
                                 _word_mask(batch, outputs.shape[:2]))
        if self.task == "ner":
            return F.cross_entropy(outputs.flatten(0, 1), batch.labels.flatten(),
                                   ignore_index=IGNORE)
        return F.cross_entropy(outputs, batch.labels)


def encoder_inputs(encoder: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
    """Keyword inputs of a BERT-family encoder: ids, mask, and token_type_ids only for models
    with segment embeddings (BERT, ELECTRA; not DistilBERT or RoBERTa)."""
    inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
    if (getattr(encoder.config, "type_vocab_size", 0) or 0) > 1:
        inputs["token_type_ids"] = batch.token_type_ids
    return inputs


def _word_mask(batch: Batch, shape: torch.Size) -> torch.Tensor:
    """(B, W) bool: the batch's real words; every word when a one-example batch (the inspection
    pages' input) comes without a word mask."""
    if batch.word_mask is not None:
        return batch.word_mask.bool()
    return torch.ones(shape, dtype=torch.bool, device=batch.input_ids.device)


def _pool(states: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """(S, N, T, H) hidden states -> (S, N, H) sentence vectors: masked mean or [CLS]."""
    if how == "cls":
        return states[:, :, 0]
    m = mask[:, None, :, None].to(states.dtype)  # (S, 1, T, 1)
    return (states * m).sum(2) / m.sum(2).clamp(min=1.0)


def _gather_words(states: torch.Tensor, word_pos: torch.Tensor | None) -> torch.Tensor:
    """(B, N, T, H) -> (B, W, N, H): the hidden state of each word's first word piece."""
    assert word_pos is not None, "NER batches carry word positions"
    b, n, _, h = states.shape
    idx = word_pos[:, None, :, None].expand(b, n, word_pos.shape[1], h)  # (B, N, W, H)
    return states.gather(2, idx).transpose(1, 2)  # (B, W, N, H)
