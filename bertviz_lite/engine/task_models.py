"""Frozen task models: the paper's recipe of small task networks on cached frozen features.

Peters et al. (2019) fed a scalar mix of all frozen layers into a full task model (a BiLSTM-CRF
for NER, a biattentive classification network for sentiment, ESIM for sentence pairs). These
are smaller versions of them. Every one starts with the scalar mix of the N = L + 1 hidden
states, then a one-layer BiLSTM over the tokens (`LSTM_HIDDEN` units each way):

  NER (BiLSTM-CRF): per-word features (first word piece per word) -> BiLSTM -> tag emissions
    -> a linear-chain CRF (the maintained `pytorch-crf` package). Loss: the CRF's negative
    log-likelihood of the gold tags over the real words; predictions: the Viterbi path.
  sentiment (BiLSTM max/mean pool, "BCN-lite"): token features -> BiLSTM -> masked max and
    mean pooling -> a small MLP. Left out of BCN: its biattention of the sentence with itself
    and the maxout network over the attended states.
  pairs (ESIM-lite): each sentence encoded on its own by the same BiLSTM and pooled (max and
    mean), u and v combined as [u, v, |u - v|, u * v] into a small MLP. Left out of ESIM: the
    cross-attention between the two sentences (local inference: soft alignment of each token
    with the other sentence and its enhancement), and the second "composition" BiLSTM over it.

Feature shapes (fp16 as stored, cast to fp32 here; T tokens, W words, N hidden states):
  sentence (B, T, N, H); pair (B, 2, T, N, H); NER (B, W, N, H).
Padding positions are exact zeros (the batcher pads with zeros, the feature pass zeroes them):
`token_mask` recovers the real positions from that, so the features tensor is all a head needs.
A real token is never all zeros: hidden state 0 alone is a LayerNorm output.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torchcrf import CRF

from bertviz_lite.engine.encoding import IGNORE

LSTM_HIDDEN = 128  # units per direction (measured: see docs/results.md)
MLP_HIDDEN = 128
DROPOUT = 0.3  # on the mixed features and before the output layers
STORE_DTYPE = torch.float16  # how token features are kept (half of fp32; more precise than bf16)


class ScalarMix(nn.Module):
    """gamma * sum_j softmax(w)_j h_j over the N hidden states (Peters et al., 2018)."""

    def __init__(self, n_layers: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(n_layers))  # uniform mix at the start
        self.gamma = nn.Parameter(torch.ones(1))

    def forward(self, layers: torch.Tensor) -> torch.Tensor:
        """(..., N, H) -> (..., H)."""
        w = torch.softmax(self.weights, dim=0)  # (N,)
        return self.gamma * torch.einsum("n,...nh->...h", w, layers)


def token_mask(features: torch.Tensor) -> torch.Tensor:
    """(..., T, N, H) features -> (..., T) bool: True where a position holds a real token
    (read from hidden state 0, the embeddings' LayerNorm output: never all zeros)."""
    return features[..., 0, :].detach().ne(0).any(-1)


class ScalarMixLSTM(nn.Module):
    """Scalar mix of the N hidden states, dropout, a one-layer BiLSTM that skips padding."""

    def __init__(self, hidden: int, n_layers: int, lstm_hidden: int = LSTM_HIDDEN,
                 dropout: float = DROPOUT) -> None:
        super().__init__()
        self.mix = ScalarMix(n_layers)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(hidden, lstm_hidden, batch_first=True, bidirectional=True)
        self.out_dim = 2 * lstm_hidden

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, N, H) float32 features, (B, T) mask (real positions first) -> (B, T, 2h)
        states, zero at padding. A row without any real position gives zeros."""
        x = self.dropout(self.mix(features))  # (B, T, H)
        lengths = mask.sum(-1)
        out = x.new_zeros(x.shape[0], x.shape[1], self.out_dim)
        rows = lengths.nonzero().flatten()
        if rows.numel():
            packed = pack_padded_sequence(x[rows], lengths[rows].cpu(), batch_first=True,
                                          enforce_sorted=False)
            states, _ = self.lstm(packed)
            states, _ = pad_packed_sequence(states, batch_first=True, total_length=x.shape[1])
            out = out.index_put((rows,), states.to(out.dtype))
        return out


def pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D) states, (B, T) mask -> (B, 2D): masked max, then masked mean."""
    m = mask.unsqueeze(-1)
    top = states.masked_fill(~m, float("-inf")).amax(1)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))  # an empty row
    mean = (states * m).sum(1) / m.sum(1).clamp(min=1)
    return torch.cat([top, mean], dim=-1)


def _mlp(width: int, n_out: int, dropout: float) -> tuple[nn.Sequential, nn.Linear]:
    """(hidden layer with ReLU and dropout, output layer)."""
    return (nn.Sequential(nn.Linear(width, MLP_HIDDEN), nn.ReLU(), nn.Dropout(dropout)),
            nn.Linear(MLP_HIDDEN, n_out))


class PoolClassifier(nn.Module):
    """Sentiment: BiLSTM max/mean pool into a small MLP (BCN-lite, see the module docstring)."""

    def __init__(self, hidden: int, n_layers: int, n_out: int, dropout: float = DROPOUT) -> None:
        super().__init__()
        self.bilstm = ScalarMixLSTM(hidden, n_layers, dropout=dropout)
        self.mlp, self.linear = _mlp(2 * self.bilstm.out_dim, n_out, dropout)

    def represent(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, N, H) -> (B, 4h) the pooled sentence vector the MLP reads."""
        features = features.float()  # fp16 arithmetic is slow on CPUs
        mask = token_mask(features)
        return pool(self.bilstm(features, mask), mask)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, N, H) -> logits (B, n_out)."""
        return self.linear(self.mlp(self.represent(features)))


class PairClassifier(nn.Module):
    """Pairs: each sentence BiLSTM-pooled alone, [u, v, |u-v|, u*v] into a small MLP
    (ESIM-lite: no cross-attention or local inference, see the module docstring)."""

    def __init__(self, hidden: int, n_layers: int, n_out: int, dropout: float = DROPOUT) -> None:
        super().__init__()
        self.bilstm = ScalarMixLSTM(hidden, n_layers, dropout=dropout)
        self.mlp, self.linear = _mlp(8 * self.bilstm.out_dim, n_out, dropout)

    def represent(self, features: torch.Tensor) -> torch.Tensor:
        """(B, 2, T, N, H) -> (B, 2, 4h): u and v, each sentence's pooled vector."""
        b = features.shape[0]
        both = features.float().flatten(0, 1)  # (2B, T, N, H): first sentences, then second
        mask = token_mask(both)
        return pool(self.bilstm(both, mask), mask).view(b, 2, -1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, 2, T, N, H) -> logits or score (B, n_out)."""
        vec = self.represent(features)
        u, v = vec[:, 0], vec[:, 1]
        return self.linear(self.mlp(torch.cat([u, v, (u - v).abs(), u * v], dim=-1)))


class CRFTagger(nn.Module):
    """NER: BiLSTM over the words, a linear layer to tag emissions, a linear-chain CRF."""

    def __init__(self, hidden: int, n_layers: int, n_tags: int, dropout: float = DROPOUT) -> None:
        super().__init__()
        self.bilstm = ScalarMixLSTM(hidden, n_layers, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(self.bilstm.out_dim, n_tags)
        self.crf = CRF(n_tags, batch_first=True)

    def represent(self, features: torch.Tensor) -> torch.Tensor:
        """(B, W, N, H) -> (B, W, 2h): the BiLSTM state of each word."""
        features = features.float()
        return self.bilstm(features, token_mask(features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, W, N, H) -> tag emissions (B, W, C) (scores before the CRF's transitions)."""
        return self.linear(self.dropout(self.represent(features)))

    def nll(self, emissions: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor
            ) -> torch.Tensor:
        """Mean over sentences of -log p(gold tags | sentence), over the real words only.

        emissions (B, W, C); labels (B, W) with IGNORE at padding; mask (B, W) bool."""
        mask, tags = _crf_mask(mask), labels.masked_fill(labels == IGNORE, 0)
        return -self.crf(emissions.float(), tags, mask, reduction="mean")

    def viterbi(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """The best tag sequence of each sentence (length: its real words)."""
        paths = self.crf.decode(emissions.float(), _crf_mask(mask))
        return [p[: int(n)] for p, n in zip(paths, mask.sum(-1).tolist(), strict=True)]


def _crf_mask(mask: torch.Tensor) -> torch.Tensor:
    """The CRF needs the first position of every row on (a sentence without a kept word gets
    one dummy position, which decoding drops again)."""
    mask = mask.bool().clone()
    mask[:, 0] = True
    return mask


def build_task_head(task: str, hidden: int, n_layers: int, n_out: int) -> nn.Module:
    """The task model of `task` on features of width `hidden` from `n_layers` hidden states."""
    if task == "ner":
        return CRFTagger(hidden, n_layers, n_out)
    if task in ("paraphrase", "similarity"):
        return PairClassifier(hidden, n_layers, n_out)
    return PoolClassifier(hidden, n_layers, n_out)
