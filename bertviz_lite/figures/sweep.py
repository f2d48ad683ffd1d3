"""One backward pass, animated: the gradient signal leaves the loss, passes the head and walks
down the layers until it reaches the embeddings, or stops at the first frozen layer.

`signal[g]` is the norm of the gradient arriving at group g's output, dL/d(output of g), for
one batch (a module backward hook measures it). That is not the weight-gradient norm of the
live chart, ||dL/dW|| over the group's weights: the two differ by the weights and inputs in
between, typically several-fold. Where everything below is frozen,
autograd never computes it and the value is 0.0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from bertviz_lite.figures._anim import animation_controls
from bertviz_lite.figures.gradflow import norm_range
from bertviz_lite.figures.text import fmt_num, is_finite, safe_labels, safe_text
from bertviz_lite.figures.theme import DEFAULT_THEME, Theme, style

LOSS = "loss"
FRAME_MS = 700  # slow enough to follow one layer at a time in a lecture


def sweep_reach(groups: Sequence[str], signal: Mapping[str, float]) -> int:
    """How many groups, counted from the top (head first), the gradient reaches.

    groups: G names, input to output; signal: {group: norm at its output}. Counting stops at
    the first group (from the top) whose signal is 0.0, missing or not finite.
    """
    n = 0
    for g in reversed(groups):
        v = signal.get(g)
        if not (is_finite(v) and v > 0):
            break
        n += 1
    return n


def sweep_frames_count(groups: Sequence[str], signal: Mapping[str, float]) -> int:
    """Number of frames of `backward_sweep`: one with only the loss lit, plus one per group
    the gradient reaches."""
    return 1 + sweep_reach(groups, signal)


def _background(groups: Sequence[str], frozen: set[str], reach: int, full: float,
                theme: Theme) -> go.Bar:
    """Every row drawn dark; frozen groups the gradient never reaches grey with a lock label."""
    rows = list(groups) + [LOSS]
    unreached = set(groups[: len(groups) - reach])
    walls = [g in frozen and g in unreached for g in groups] + [False]
    return go.Bar(
        x=[full] * len(rows), y=safe_labels(rows), orientation="h", showlegend=False,
        text=["frozen: no gradient" if w else "" for w in walls], textposition="inside",
        insidetextanchor="middle", textfont={"color": theme.text, "size": theme.tick_size},
        hoverinfo="skip",
        # No hatch pattern: plotly.js 3 throws on patterned bars in a figure with frames.
        marker={"color": [theme.frozen_fill if w else theme.unlit for w in walls],
                "line": {"color": theme.frozen, "width": 1}},
    )


def _lit(groups: Sequence[str], signal: Mapping[str, float], k: int, theme: Theme) -> go.Bar:
    """The loss and the k topmost groups lit with their signal; every other row None."""
    rows = list(groups) + [LOSS]
    x: list[float | None] = [None] * len(rows)
    x[-1] = 1.0  # dL/dL = 1: the signal starts at one
    for i in range(len(groups) - k, len(groups)):
        x[i] = float(signal[groups[i]])
    text = ["" if v is None else fmt_num(v) for v in x]
    return go.Bar(x=x, y=safe_labels(rows), orientation="h", showlegend=False, text=text,
                  textposition="auto", textfont={"size": theme.tick_size},
                  marker={"color": theme.backward}, customdata=text,
                  hovertemplate="gradient at %{y}'s output: %{customdata}<extra></extra>")


def _stop(groups: Sequence[str], reach: int, show: bool, x_mid: float,
          theme: Theme) -> go.Scatter:
    """The marker of where the sweep ends; None (invisible) until the last frame."""
    if not show or not groups:
        return go.Scatter(x=[None], y=[None], mode="markers+text", showlegend=False, text=[""])
    if reach < len(groups):
        row, text, colour = groups[len(groups) - 1 - reach], "backprop stops here", theme.alert
    else:
        row, text, colour = groups[0], "reaches the embeddings", theme.backward
    return go.Scatter(x=[x_mid], y=[safe_text(row)], mode="markers+text", showlegend=False,
                      text=[text], textposition="middle right", hoverinfo="skip",
                      textfont={"color": colour, "size": theme.title_size},
                      marker={"symbol": "x" if reach < len(groups) else "circle",
                              "size": theme.marker_size * 2, "color": colour})


def backward_sweep(groups: list[str], signal: dict[str, float], frozen_groups: list[str], *,
                   theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Animation of one backward pass travelling from the loss down through the groups.

    groups: G names, input to output; signal: {group: gradient norm at its output}, 0.0 where
    it never arrives; frozen_groups: drawn grey with a lock. Frame 0 lights only the loss,
    frame k the k topmost groups; the last frame marks where backprop stops.
    """
    reach = sweep_reach(groups, signal)
    lo, hi = norm_range([dict(signal), {LOSS: 1.0}])
    full, x_mid = 10 ** hi, 10 ** (lo + 0.15 * (hi - lo))
    background = _background(groups, set(frozen_groups), reach, full, theme)
    names, frames = [], []
    for k in range(reach + 1):
        data = [background, _lit(groups, signal, k, theme),
                _stop(groups, reach, k == reach, x_mid, theme)]
        names.append(str(k))
        frames.append(go.Frame(name=str(k), data=data, traces=[0, 1, 2]))
    fig = go.Figure(data=frames[0].data, frames=frames)
    labels = [LOSS] + [groups[len(groups) - 1 - i] for i in range(reach)]
    # uniformtext: plotly shrinks a label to fit its bar (4-8 px on short bars); never below
    # the tick labels' size, readable from the back row
    fig.update_layout(barmode="overlay", bargap=0.2,
                      uniformtext={"minsize": theme.tick_size, "mode": "show"},
                      **animation_controls(names, labels, duration_ms=FRAME_MS, theme=theme,
                                           prefix="gradient has reached: "))
    fig.update_xaxes(type="log", range=[lo, hi], dtick=1, exponentformat="power",
                     title_text="gradient norm at the group's output (log scale)")
    fig.update_yaxes(type="category", categoryorder="array",
                     categoryarray=safe_labels(list(groups) + [LOSS]))
    where = ("reaches every layer" if reach == len(groups) else
             f"stops before {groups[len(groups) - 1 - reach]}" if groups else "")
    height = int(theme.tick_size * 2.8) * (len(groups) + 1) + 14 * theme.font_size
    return style(fig, theme, title="One backward pass, from the loss down",
                 subtitle=f"press play: the gradient {where}", height=height)

