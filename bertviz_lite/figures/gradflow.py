"""Gradient flow: how much gradient reaches each layer group, one step or the whole run.

Groups are drawn input-to-output upward (embeddings at the bottom, head at the top), so
backprop visibly travels down from the head. A group that receives no gradient keeps its row,
drawn empty behind a wall (a thick line above the frozen groups and a shaded band over their
rows, labelled inside the band): "no gradient" is drawn as nothing, never as a bar longer than
any real gradient. The classic `plot_grad_flow` recipe leaves such layers out, which hides the
very thing this app teaches.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import plotly.colors
import plotly.graph_objects as go

from bertviz_lite.figures._anim import animation_controls, frame_duration
from bertviz_lite.figures._steps import field, frame_indices, norms_of
from bertviz_lite.figures.text import fmt_num, is_finite, safe_labels, safe_text
from bertviz_lite.figures.theme import DEFAULT_THEME, Theme, style
from bertviz_lite.record.runs import RunRecord

log = logging.getLogger(__name__)

FROZEN_TEXT = "frozen: no gradient"
ZERO_TEXT = "no gradient (0.0)"
NAN_TEXT = "not finite (NaN)"
MISSING_TEXT = "not recorded"
RULE_OF_THUMB = 1e-3  # update/weight ratio often quoted as healthy (Karpathy, CS231n)


def norm_range(records_or_steps: Iterable[Any]) -> tuple[float, float]:
    """Fixed log10 bounds for a gradient-norm axis, so live updates and replays don't jump.

    records_or_steps: StepRecords, step dicts (with "grad_norm"), {group: norm} dicts or whole
    RunRecords (to share one axis between runs). Zeros, None, NaN and inf are ignored.
    Returns (lo, hi) in log10 units: whole decades below, some room above for value labels.
    """
    values = [float(v) for item in records_or_steps for v in norms_of(item)
              if is_finite(v) and v > 0]
    if not values:
        return (-4.0, 1.0)
    lo = math.floor(math.log10(min(values)))
    hi = math.ceil(math.log10(max(values)) + 0.3)  # room for the value printed beside a bar
    return (float(min(lo, hi - 2)), float(hi))


def frozen_at(record: RunRecord, step: Any) -> list[str]:
    """The groups frozen at one step: those outside the step's `trainable_groups` where the
    mode changes them as it runs (LP-FT, gradual unfreezing: the wall descends), else the
    record's frozen_groups."""
    trainable = field(step, "trainable_groups")
    if trainable is None:
        return list(record.frozen_groups)
    return [g for g in record.groups if g not in set(trainable)]


def _kind(group: str, value: Any, frozen: set[str], present: bool) -> str:
    """How a group is drawn: trainable bar, frozen/zero wall, or a missing value."""
    if group in frozen:
        return "frozen"
    if not present:
        return "missing"
    if is_finite(value) and value >= 0:
        return "zero" if value == 0 else "bar"
    return "nan"  # NaN, inf, None, or a negative value no norm can have


def _bar_values(groups: Sequence[str], grad_norm: Mapping[str, Any] | None,
                frozen_groups: Iterable[str], x_range: tuple[float, float]) -> list[dict[str, Any]]:
    """x, text and hover of the two bar traces (trainable norms; values that are not finite).

    Every trace has len(groups) points (None where a group has no bar: frozen rows stay
    empty), so the frames of an animation all share one structure, which `redraw=False`
    requires. Plain dicts: a replay's frames carry only these changing fields.
    """
    grad_norm = grad_norm or {}
    frozen = set(frozen_groups)
    full = 10 ** x_range[1]  # a value that is not finite: an outlined alert bar, full width
    slots: dict[str, list[Any]] = {k: [None] * len(groups) for k in ("bar", "miss")}
    text: dict[str, list[str]] = {k: [""] * len(groups) for k in slots}
    for i, g in enumerate(groups):
        value = grad_norm.get(g)
        kind = _kind(g, value, frozen, g in grad_norm)
        if kind == "bar":
            slots["bar"][i], text["bar"][i] = float(value or 0.0), fmt_num(value)
        elif kind in ("nan", "missing"):
            slots["miss"][i], text["miss"][i] = full, NAN_TEXT if kind == "nan" else MISSING_TEXT
    return [{"x": slots[k], "text": text[k], "customdata": text[k]} for k in slots]


def _bar_traces(groups: Sequence[str], grad_norm: Mapping[str, Any] | None,
                frozen_groups: Iterable[str], x_range: tuple[float, float],
                theme: Theme, hatch: bool = True) -> list[go.Bar]:
    """The two styled bar traces of `_bar_values` (hatch=False for animations: plotly.js 3
    throws on patterned bars in a figure with frames)."""
    bar, miss = _bar_values(groups, grad_norm, frozen_groups, x_range)
    common = {"y": safe_labels(groups), "orientation": "h", "cliponaxis": False}
    return [
        go.Bar(**bar, name="‖∂L/∂W‖ per group", textposition="outside", showlegend=False,
               textfont={"color": theme.text, "size": theme.tick_size},
               marker={"color": theme.trainable},
               hovertemplate="%{y}: ‖grad‖ = %{customdata}<extra></extra>", **common),
        go.Bar(**miss, name=NAN_TEXT if any(v is not None for v in miss["x"]) else "",
               showlegend=False, textposition="inside", insidetextanchor="middle",
               textfont={"color": theme.text}, hovertemplate="%{y}: %{customdata}<extra></extra>",
               marker={"color": theme.background, "line": {"color": theme.alert, "width": 2},
                       "pattern": _pattern("x", theme.alert, 0.15, hatch)}, **common),
    ]


def _pattern(shape: str, colour: str, solidity: float, hatch: bool) -> dict[str, Any]:
    """A bar hatch, or none (see `_bar_traces` on animations)."""
    return {"shape": shape if hatch else "", "fgcolor": colour, "solidity": solidity}


def _stop_line(fig: go.Figure, groups: Sequence[str], frozen_groups: Iterable[str],
               theme: Theme) -> None:
    """The wall: a band over the frozen groups' (empty) rows and a thick line above them,
    where backprop stops; its label sits inside the band, where no value is drawn."""
    frozen = set(frozen_groups)
    for a, b in _bands(groups, frozen):
        fig.add_shape(type="rect", xref="paper", x0=0, x1=1, y0=a - 0.5, y1=b + 0.5, yref="y",
                      fillcolor=theme.frozen_fill, opacity=0.55, line={"width": 0},
                      layer="below")
        if b < len(groups) - 1:  # something above learns: the wall where the pulse stops
            fig.add_shape(type="line", xref="paper", x0=0, x1=1, y0=b + 0.5, y1=b + 0.5,
                          yref="y", line={"color": theme.text, "width": theme.line_width * 1.6})
        label = ("frozen: no gradient" if b - a < 1 else
                 "frozen: no gradient reaches these groups")
        fig.add_annotation(xref="paper", x=0.5, y=(a + b) / 2, yref="y", text=label,
                           showarrow=False, font={"color": theme.text, "size": theme.font_size})


def _bars_title(step: int | None) -> str:
    # short enough for the 1280x720 stage; the caption under the chart says the rest
    return "Weight-gradient norms" + (f" · step {step}" if step is not None else "")


def _row_height(theme: Theme) -> int:
    return int(theme.tick_size * 2.8)


def grad_flow_bars(groups: list[str], grad_norm: dict[str, float], frozen_groups: list[str], *,
                   step: int | None = None, x_range: tuple[float, float] | None = None,
                   theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Horizontal bars of each group's gradient L2 norm (log x), embeddings bottom, head top.

    groups: G names, input to output; grad_norm: {group: norm} (0.0, None, NaN or absent are
    drawn, never hidden); frozen_groups: names drawn as the "frozen: no gradient" wall;
    step: shown in the title; x_range: (lo, hi) in log10 units, fixed by the caller for live
    updates (default: fitted to this step, see `norm_range`).
    """
    return _bars_figure(groups, grad_norm, frozen_groups, step, x_range, theme, hatch=True)


def _bars_figure(groups: Sequence[str], grad_norm: Mapping[str, Any] | None,
                 frozen_groups: Sequence[str], step: int | None,
                 x_range: tuple[float, float] | None, theme: Theme, hatch: bool) -> go.Figure:
    """`grad_flow_bars` with the hatch switch that animations need."""
    x_range = x_range or norm_range([grad_norm or {}])
    fig = go.Figure(data=_bar_traces(groups, grad_norm, frozen_groups, x_range, theme, hatch))
    fig.update_layout(barmode="overlay", bargap=0.25)
    span = x_range[1] - x_range[0]
    fig.update_xaxes(type="log", range=list(x_range), dtick=1 if span <= 5 else 2,
                     exponentformat="power", tickangle=0,
                     title_text="‖∂L/∂W‖₂ (log scale)")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=safe_labels(groups),
                     range=[-0.5, len(groups) - 0.5], title_text="")
    _stop_line(fig, groups, frozen_groups, theme)
    frozen = set(frozen_groups)
    for i, g in enumerate(groups):  # a group that trains but got exactly 0: said in its row
        if g not in frozen and _kind(g, (grad_norm or {}).get(g), frozen,
                                     g in (grad_norm or {})) == "zero":
            fig.add_annotation(xref="paper", x=0.01, xanchor="left", y=i, yref="y",
                               text=ZERO_TEXT, showarrow=False,
                               font={"color": theme.text, "size": theme.font_size})
    height = _row_height(theme) * len(groups) + 8 * theme.font_size
    return style(fig, theme, title=_bars_title(step), height=height,
                 subtitle="backprop runs down from the head")


def grad_flow_replay(record: RunRecord, *, max_frames: int | None = None,
                     theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Animated grad-flow bars over a whole run: one frame per recorded step, fixed x axis.

    record: a RunRecord (steps may hold None/NaN norms after a divergence); max_frames: None
    for every step, else that many steps spread evenly, always with the first and the last.
    Frame names are the step numbers.
    """
    groups, frozen = record.groups, record.frozen_groups
    steps = record.steps
    x_range = norm_range(steps)
    idx = frame_indices(len(steps), max_frames)
    if not idx:
        fig = _bars_figure(groups, {}, frozen, None, x_range, theme, hatch=True)
        fig.add_annotation(text="no steps recorded yet", xref="paper", yref="paper", x=0.5,
                           y=0.5, showarrow=False, font={"size": theme.title_size})
        return fig
    first = steps[idx[0]]
    # No step in the title: with redraw=False plotly does not redraw titles between frames
    # (and errors when a frame tries), so the slider's caption names the step instead.
    fig = _bars_figure(groups, field(first, "grad_norm"), frozen_at(record, first), None,
                       x_range, theme, hatch=False)
    if len(idx) > 500:
        log.info("replay with %d frames; pass max_frames to keep the figure small", len(idx))
    fig.frames = [
        {"name": str(field(steps[i], "step")), "traces": [0, 1],
         "data": [{"type": "bar", **v}
                  for v in _bar_values(groups, field(steps[i], "grad_norm"),
                                       frozen_at(record, steps[i]), x_range)]}
        for i in idx
    ]
    names = [f.name for f in fig.frames]
    fig.update_layout(**animation_controls(names, names, duration_ms=frame_duration(len(names)),
                                           theme=theme, prefix="step "))
    fig.update_layout(height=fig.layout.height + 6 * theme.font_size)  # room for the controls
    return fig


def _heat_rows(record: RunRecord) -> tuple[list[list[Any]], list[list[Any]], list[list[Any]],
                                            list[list[str]]]:
    """Per group x step: log10 norm (trainable), frozen/zero mask, missing mask, hover text."""
    frozen = [set(frozen_at(record, s)) for s in record.steps]
    z, wall, miss, hover = [], [], [], []
    for g in record.groups:
        zr, wr, mr, hr = [], [], [], []
        for s, frozen_then in zip(record.steps, frozen):
            grad = field(s, "grad_norm") or {}
            v = grad.get(g)
            kind = _kind(g, v, frozen_then, g in grad)
            zr.append(math.log10(v) if kind == "bar" and is_finite(v) else None)
            wr.append(1 if kind in ("frozen", "zero") else None)
            mr.append(1 if kind in ("nan", "missing") else None)
            hr.append({"bar": f"‖g‖ = {fmt_num(v)}", "frozen": FROZEN_TEXT, "zero": ZERO_TEXT,
                       "nan": NAN_TEXT, "missing": MISSING_TEXT}[kind])
        z.append(zr)
        wall.append(wr)
        miss.append(mr)
        hover.append(hr)
    return z, wall, miss, hover


def _bands(groups: Sequence[str], frozen: set[str]) -> list[tuple[int, int]]:
    """(first, last) index of each run of consecutive frozen groups."""
    out: list[tuple[int, int]] = []
    for i, g in enumerate(groups):
        if g not in frozen:
            continue
        if out and out[-1][1] == i - 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def grad_heatmap(record: RunRecord, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Heatmap of log10 gradient norm: groups (y, embeddings bottom, head top) x steps (x).

    record: a RunRecord with G groups and S steps; every heatmap trace has a (G, S) z. Frozen
    groups are a grey band labelled "frozen" (not blank cells); non-finite values a red hatch.
    """
    labels = safe_labels(record.groups)
    x = [field(s, "step") for s in record.steps]
    z, wall, miss, hover = _heat_rows(record)
    lo, hi = norm_range(record.steps)
    hover_t = "step %{x} · %{y}<br>%{customdata}<extra></extra>"
    common = {"x": x, "y": labels, "customdata": hover, "hovertemplate": hover_t,
              "hoverongaps": False, "ygap": 2}  # three stacked layers: only the drawn cell hovers
    fig = go.Figure([
        go.Heatmap(z=z, name="log10 ‖g‖", colorscale="Viridis", zmin=lo, zmax=hi,
                   colorbar={"title": {"text": "log10 ‖g‖"}}, **common),
        go.Heatmap(z=wall, name=FROZEN_TEXT, showscale=False,
                   colorscale=[[0, theme.frozen_fill], [1, theme.frozen_fill]], **common),
        go.Heatmap(z=miss, name=NAN_TEXT, showscale=False,
                   colorscale=[[0, theme.alert], [1, theme.alert]], **common),
    ])
    mid_x = (x[0] + x[-1]) / 2 if x else 0
    for a, b in _bands(record.groups, set(record.frozen_groups)):
        fig.add_annotation(x=mid_x, y=(a + b) / 2, text="frozen: no gradient", showarrow=False,
                           font={"color": theme.text, "size": theme.font_size})
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=labels)
    fig.update_xaxes(title_text="training step")
    height = _row_height(theme) * len(labels) + 7 * theme.font_size
    return style(fig, theme, title="Gradient norm per layer over training", height=height)


def _ratio_colours(n: int) -> list[str]:
    """A sequential colour per trainable group: light near the input, dark near the head."""
    if n <= 1:
        return plotly.colors.sample_colorscale("Viridis", [0.35])
    # Viridis' last tenth is a pale yellow that vanishes on white, so stop at 0.85.
    return plotly.colors.sample_colorscale("Viridis", [0.85 * (1 - i / (n - 1)) for i in range(n)])


def update_ratio_chart(record: RunRecord, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Update-to-weight ratio ‖Δw‖/‖w‖ per trainable group over steps (log y), with 1e-3.

    record: a RunRecord; steps whose update_ratio is empty (measured every 50th step for large
    models) are skipped and the subtitle says how many were measured; frozen groups are left
    out (they never change) and named in the subtitle.
    """
    frozen = set(record.frozen_groups)
    trainable = [g for g in record.groups if g not in frozen]
    fig = go.Figure()
    steps_seen: list[int] = []
    for g, colour in zip(trainable, _ratio_colours(len(trainable))):
        xs, ys = [], []
        for s in record.steps:
            v = (field(s, "update_ratio") or {}).get(g)
            if is_finite(v) and v > 0:
                xs.append(field(s, "step"))
                ys.append(float(v))
        steps_seen += xs
        fig.add_trace(go.Scatter(x=xs, y=ys, name=safe_text(g), mode="lines+markers"
                                 if len(xs) <= 30 else "lines",
                                 line={"color": colour, "width": theme.thin_line * 1.5},
                                 marker={"size": theme.marker_size * 0.6}))
    if steps_seen:
        span = [min(steps_seen), max(steps_seen)]
        fig.add_trace(go.Scatter(x=span, y=[RULE_OF_THUMB] * 2, mode="lines+text",
                                 text=["", "≈1e-3 rule of thumb"], textposition="top left",
                                 name="≈1e-3 rule of thumb", showlegend=False,
                                 line={"color": theme.text, "dash": "dash",
                                       "width": theme.thin_line}, hoverinfo="skip"))
    else:
        fig.add_annotation(text="no update ratios recorded", xref="paper", yref="paper",
                           x=0.5, y=0.5, showarrow=False, font={"size": theme.title_size})
    fig.update_yaxes(type="log", exponentformat="power", dtick=1,  # decades only: no 2, 5
                     title_text="‖Δw‖ / ‖w‖ (log scale)")
    fig.update_xaxes(title_text="training step")
    fig.update_layout(legend={"traceorder": "reversed", "title": {"text": "group"}})
    measured = sorted(set(steps_seen))
    sampled = (f"measured at {len(measured)} of {len(record.steps)} steps (points, not the "
               f"whole run)" if 0 < len(measured) < len(record.steps) else "")
    note = f"not shown (frozen, never change): {', '.join(record.frozen_groups)}" if frozen else ""
    note = "; ".join(n for n in (sampled, note) if n)
    return style(fig, theme, title="How much each step changes the weights", subtitle=note or None)
