"""Attention: one head's matrix, a summary of every head, and what fine-tuning changed.

Like bertviz's `head_view(attention, tokens)`, these take arrays, not models: the caller runs
the model (with attn_implementation="eager", or there are no weights to show).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from bertviz_lite.figures.text import safe_labels, safe_text, token_axis
from bertviz_lite.figures.theme import DEFAULT_THEME, Theme, style

SEP_TOKENS = frozenset({"[SEP]", "</s>"})  # BERT/ELECTRA/DistilBERT, RoBERTa
STATS: dict[str, str] = {  # statistic -> what it means, for titles and hover
    "entropy": "entropy of attention (bits): low = focused",
    "to_cls": "attention to [CLS] (position 0)",
    "to_sep": "attention to [SEP]",
    "diagonal": "attention to itself",
    "previous": "attention to the previous token",
}


def _matrix(tokens: Sequence[str], attn: np.ndarray, what: str) -> np.ndarray:
    """attn as a float (T, T) array, checked against the tokens."""
    arr = np.asarray(attn, dtype=float)
    t = len(tokens)
    if arr.shape != (t, t):
        raise ValueError(f"{what} has shape {arr.shape}; expected (T, T) = ({t}, {t}) for "
                         f"{t} tokens (one layer and head: attentions[layer][batch, head])")
    return arr


def _segment_marks(fig: go.Figure, segments: Sequence[int], theme: Theme) -> None:
    """Lines between the sentence-A and sentence-B blocks, and a label over each block."""
    t = len(segments)
    starts = [0] + [i for i in range(1, t) if segments[i] != segments[i - 1]]
    line = {"color": theme.text, "width": theme.thin_line * 1.5}
    for s in starts[1:]:
        fig.add_shape(type="line", x0=s - 0.5, x1=s - 0.5, y0=-0.5, y1=t - 0.5, line=line)
        fig.add_shape(type="line", y0=s - 0.5, y1=s - 0.5, x0=-0.5, x1=t - 0.5, line=line)
    for a, b in zip(starts, starts[1:] + [t]):
        name = "sentence A" if segments[a] == 0 else "sentence B"
        fig.add_annotation(x=(a + b - 1) / 2, y=1.0, xref="x", yref="paper", yanchor="bottom",
                           text=name, showarrow=False, font={"color": theme.text})


def _attention_figure(tokens: Sequence[str], z: np.ndarray, title: str,
                      segments: Sequence[int] | None, theme: Theme,
                      **heat: object) -> go.Figure:
    """A (T, T) heatmap: rows = attending token (query, top to bottom), columns = attended."""
    toks = safe_labels(tokens)
    t = len(toks)
    pairs = [[[toks[i], toks[j]] for j in range(t)] for i in range(t)]  # (T, T, 2) for hover
    fig = go.Figure(go.Heatmap(
        z=z.tolist(), x=list(range(t)), y=list(range(t)), customdata=pairs,
        hovertemplate="%{customdata[0]} → %{customdata[1]}: %{z:.3f}<extra></extra>", **heat))
    fig.update_xaxes(**token_axis(tokens), title_text="attended token (key)")
    axis = {**token_axis(tokens), "range": [t - 0.5, -0.5], "tickangle": 0}  # row 0 on top
    fig.update_yaxes(**axis, title_text="attending token (query)")
    if segments is not None:
        if len(segments) != t:
            raise ValueError(f"segments has {len(segments)} entries for {t} tokens")
        _segment_marks(fig, list(segments), theme)
    side = max(360, min(900, int(theme.tick_size * 2.4) * t)) + 10 * theme.font_size
    return style(fig, theme, title=title, height=side)


def attention_heatmap(tokens: list[str], attn: np.ndarray, *, title: str,
                      segments: list[int] | None = None,
                      theme: Theme = DEFAULT_THEME) -> go.Figure:
    """One head's attention matrix: row i = how token i spreads its attention over the tokens.

    tokens: T word pieces (escaped); attn: (T, T), rows sum to 1, values in [0, 1]; title:
    plain text; segments: T values of 0/1 (sentence A/B of a pair) to draw the block borders.
    """
    z = _matrix(tokens, attn, "attn")
    return _attention_figure(tokens, z, title, segments, theme, colorscale="Blues", zmin=0.0,
                             zmax=1.0, colorbar={"title": {"text": "attention"}})


def attention_diff_heatmap(tokens: list[str], a: np.ndarray, b: np.ndarray,
                           title: str = "fine-tuned − pretrained", *,
                           segments: list[int] | None = None,
                           theme: Theme = DEFAULT_THEME) -> go.Figure:
    """a − b (fine-tuned minus pretrained attention) on a diverging scale centred at 0.

    tokens: T word pieces; a, b: (T, T) attention of the same layer and head; title: plain text.
    """
    diff = _matrix(tokens, a, "a") - _matrix(tokens, b, "b")
    m = float(np.nanmax(np.abs(diff))) if diff.size else 0.0
    m = max(m, 1e-6)  # an unchanged head still gets a valid, symmetric scale
    # PuOr: diverging and colour-blind safe; orange = more attention after fine-tuning.
    return _attention_figure(tokens, diff, title, segments, theme, colorscale="PuOr",
                             reversescale=True, zmid=0.0, zmin=-m, zmax=m,
                             colorbar={"title": {"text": "change"}})


def _stack(attn: np.ndarray) -> np.ndarray:
    arr = np.asarray(attn, dtype=float)
    if arr.ndim != 4 or arr.shape[-1] != arr.shape[-2]:
        raise ValueError(f"attn has shape {arr.shape}; expected (L, H, T, T): layers, heads, "
                         "query, key (stack outputs.attentions and drop the batch axis)")
    return arr


def head_summary(attn: np.ndarray, tokens: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """One number per head for each statistic in STATS, each an (L, H) array.

    attn: (L, H, T, T) attention of one example; tokens: T word pieces, needed for "to_sep"
    (all NaN without tokens or without a [SEP]).
    """
    a = _stack(attn)
    n_layers, n_heads, t, _ = a.shape
    if tokens is not None and len(tokens) != t:
        raise ValueError(f"{len(tokens)} tokens for attention over {t} positions")
    logp = np.log2(np.where(a > 0, a, 1.0))  # 0 log 0 = 0
    entropy = -(a * logp).sum(-1).mean(-1)  # (L, H, T) -> (L, H)
    seps = [i for i, tok in enumerate(tokens or []) if tok in SEP_TOKENS]
    to_sep = (a[..., seps].sum(-1).mean(-1) if seps
              else np.full((n_layers, n_heads), np.nan))
    previous = (np.diagonal(a, offset=-1, axis1=-2, axis2=-1).mean(-1) if t > 1
                else np.zeros((n_layers, n_heads)))  # a[i, i-1]
    return {
        "entropy": entropy,
        "to_cls": a[..., 0].mean(-1),
        "to_sep": to_sep,
        "diagonal": np.diagonal(a, axis1=-2, axis2=-1).mean(-1),
        "previous": previous,
    }


def head_grid(attn: np.ndarray, tokens: list[str], *, stat: str = "entropy",
              theme: Theme = DEFAULT_THEME) -> go.Figure:
    """A layers x heads grid coloured by one head statistic, every statistic in the hover.

    attn: (L, H, T, T); tokens: T word pieces; stat: a key of STATS. Layer 0 at the bottom,
    as in every other figure (the input is always down).
    """
    if stat not in STATS:
        raise ValueError(f"stat must be one of {', '.join(STATS)}; got {stat!r}")
    summary = head_summary(attn, tokens)
    n_layers, n_heads = summary["entropy"].shape
    names = list(STATS)
    custom = np.stack([summary[k] for k in names], axis=-1)  # (L, H, 5)
    lines = [f"{k}: %{{customdata[{i}]:.2f}}" for i, k in enumerate(names)]
    t = np.asarray(attn).shape[-1]
    scale = ({"colorscale": "Viridis", "zmin": 0.0, "zmax": max(np.log2(t), 1e-6)}
             if stat == "entropy" else {"colorscale": "Blues", "zmin": 0.0, "zmax": 1.0})
    z = summary[stat]
    fig = go.Figure(go.Heatmap(
        z=np.where(np.isfinite(z), z, np.nan).tolist(), x=[f"head {h}" for h in range(n_heads)],
        y=[f"layer {i}" for i in range(n_layers)], customdata=custom.tolist(),
        hovertemplate="%{y}, %{x}<br>" + "<br>".join(lines) + "<extra></extra>",
        texttemplate="%{z:.2f}" if n_layers * n_heads <= 150 else None,
        colorbar={"title": {"text": safe_text(stat)}}, xgap=2, ygap=2, **scale))
    height = int(theme.tick_size * 3) * n_layers + 8 * theme.font_size
    return style(fig, theme, title=f"Every head at a glance: {STATS[stat]}", height=height)
