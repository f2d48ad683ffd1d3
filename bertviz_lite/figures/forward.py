"""The forward pass of one example: hidden-state sizes layer by layer, and what comes out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from bertviz_lite.figures._anim import animation_controls
from bertviz_lite.figures.text import is_finite, safe_labels, safe_text, token_axis
from bertviz_lite.figures.theme import DEFAULT_THEME, Theme, style

ArrayLike = np.ndarray | Sequence[Sequence[float]]


def layer_labels(n_rows: int) -> list[str]:
    """Names of the rows of a hidden-state stack: "embeddings", "layer 0", ..., "layer L-1"."""
    return ["embeddings"] + [f"layer {i}" for i in range(n_rows - 1)]


def _norm_matrix(tokens: Sequence[str], norms: ArrayLike) -> np.ndarray:
    """norms as a float (L+1, T) array, checked against the tokens."""
    arr = np.asarray(norms, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != len(tokens) or arr.shape[0] < 1:
        raise ValueError(
            f"norms has shape {arr.shape}; expected (L+1, T) with T = len(tokens) = "
            f"{len(tokens)}: row 0 the embeddings output, row i the output of layer i-1"
        )
    return arr


def _none_if_nan(arr: np.ndarray) -> list[list[float | None]]:
    """Nested lists with None where a value is not finite (plotly draws a gap)."""
    return [[float(v) if is_finite(v) else None for v in row] for row in np.atleast_2d(arr)]


def hidden_norm_heatmap(tokens: list[str], norms: ArrayLike,
                        theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Heatmap of each token's hidden-vector L2 norm at every layer.

    tokens: T word pieces (escaped; a repeated token keeps its own column); norms: (L+1, T),
    row 0 = embeddings output, row i = output of layer i-1. y: embeddings at the bottom.
    """
    arr = _norm_matrix(tokens, norms)
    labels = layer_labels(arr.shape[0])
    toks = safe_labels(tokens)
    fig = go.Figure(go.Heatmap(
        z=_none_if_nan(arr), x=list(range(len(tokens))), y=labels, colorscale="Viridis",
        customdata=[toks] * len(labels), colorbar={"title": {"text": "‖h‖₂"}},
        hovertemplate="%{customdata} · %{y}<br>‖h‖₂ = %{z:.2f}<extra></extra>",
    ))
    fig.update_xaxes(**token_axis(tokens),
                     title_text="token")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=labels)
    height = int(theme.tick_size * 2.6) * len(labels) + 10 * theme.font_size
    return style(fig, theme, title="How big each token's hidden vector is, layer by layer",
                 subtitle="L2 norm of the hidden state; the input at the bottom", height=height)


def hidden_norm_animation(tokens: list[str], norms: ArrayLike,
                          theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Per-token hidden-vector norms as bars, stepping through the layers (one frame each).

    tokens: T word pieces; norms: (L+1, T) as in `hidden_norm_heatmap`. The y range is fixed
    over all frames so growth and shrinkage between layers is visible.
    """
    arr = _norm_matrix(tokens, norms)
    labels = layer_labels(arr.shape[0])
    toks = safe_labels(tokens)
    x = list(range(len(tokens)))
    finite = arr[np.isfinite(arr)]
    top = float(finite.max()) * 1.1 if finite.size and finite.max() > 0 else 1.0

    def bars(i: int) -> go.Bar:
        return go.Bar(x=x, y=_none_if_nan(arr[i:i + 1])[0], customdata=toks,
                      marker={"color": theme.forward}, showlegend=False,
                      hovertemplate="%{customdata}: ‖h‖₂ = %{y:.2f}<extra></extra>")

    frames = [go.Frame(name=label, data=[bars(i)], traces=[0]) for i, label in enumerate(labels)]
    fig = go.Figure(data=[bars(0)], frames=frames)
    fig.update_layout(**animation_controls(labels, labels, duration_ms=600, theme=theme,
                                           prefix="showing: "))
    fig.update_xaxes(**token_axis(tokens))
    fig.update_yaxes(range=[0, top], title_text="‖h‖₂ (L2 norm)")
    return style(fig, theme, title="The forward pass, one layer at a time",
                 height=420 + 10 * theme.font_size)


def probability_bars(label_names: list[str], probs: list[float],
                     theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Horizontal bars of class probabilities, most likely at the top, the prediction coloured.

    label_names: C class names (escaped); probs: C probabilities in [0, 1].
    """
    if len(label_names) != len(probs):
        raise ValueError(f"{len(label_names)} label names but {len(probs)} probabilities")
    p = np.nan_to_num(np.asarray(probs, dtype=float), nan=0.0)
    order = np.argsort(p, kind="stable")  # ascending: bar 0 is drawn at the bottom
    best = int(np.argmax(p)) if len(p) else -1
    names = safe_labels([label_names[i] for i in order])
    fig = go.Figure(go.Bar(
        x=[float(p[i]) for i in order], y=list(range(len(order))), orientation="h",
        name="probability",
        marker={"color": [theme.trainable if i == best else theme.frozen_fill for i in order]},
        text=[f"{p[i]:.1%}" for i in order], textposition="outside", cliponaxis=False,
        customdata=names, hovertemplate="%{customdata}: %{x:.1%}<extra></extra>",
    ))
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(order))), ticktext=names,
                     range=[-0.5, len(order) - 0.5])
    fig.update_xaxes(range=[0, 1.15], tickformat=".0%", title_text="probability")
    predicted = label_names[best] if best >= 0 else "n/a"
    height = int(theme.tick_size * 3) * max(2, len(order)) + 8 * theme.font_size
    return style(fig, theme, title="What the model predicts", subtitle=f"predicted: {predicted}",
                 height=height)


def score_gauge(score: float, lo: float = 0.0, hi: float = 5.0, *,
                title: str = "predicted similarity", theme: Theme = DEFAULT_THEME) -> go.Figure:
    """A gauge for a regression score (sentence similarity on 0-5).

    score: the prediction (None/NaN shows "n/a"); lo, hi: the scale's ends; title: plain text.
    """
    ok = is_finite(score)
    fig = go.Figure(go.Indicator(
        mode="gauge+number", value=float(score) if ok else None,
        number={"valueformat": ".2f", "font": {"size": theme.title_size * 2}},
        title={"text": f"{safe_text(title)} ({lo:g}-{hi:g})", "font": {"size": theme.font_size}},
        gauge={"axis": {"range": [lo, hi], "tickfont": {"size": theme.tick_size}},
               "bar": {"color": theme.trainable}, "bgcolor": theme.unlit},
    ))
    if not ok:
        fig.add_annotation(text="n/a", x=0.5, y=0.3, xref="paper", yref="paper",
                           showarrow=False, font={"size": theme.title_size * 2})
    style(fig, theme, height=260 + 6 * theme.font_size)
    fig.update_layout(margin_t=int(theme.font_size * 3.5))  # the gauge's title sits up here
    return fig
