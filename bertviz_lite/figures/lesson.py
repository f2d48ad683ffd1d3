"""Figures the lesson adds: the four tasks' fine-tuning gains beside the paper's, how much each
group changed, a learning curve from a sweep, and the class's predictions beside the answer.

Pure functions: plain data in, plotly Figure out.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from bertviz_lite.figures.text import fmt_human, plain_number, safe_labels, safe_text
from bertviz_lite.figures.theme import DEFAULT_THEME, Theme, mode_colour, style


def _legend_below(theme: Theme) -> dict[str, Any]:
    """A horizontal legend under the plot (never over the title)."""
    return {"orientation": "h", "x": 0, "y": -0.22, "yanchor": "top",
            "font": {"size": theme.font_size}}


def reproduce_gaps(rows: Sequence[dict[str, Any]], theme: Theme = DEFAULT_THEME,
                   setup: dict[str, Any] | None = None, paper: bool = True) -> go.Figure:
    """Fine-tuned minus frozen, per task: ours beside the paper's (points on 0-100).

    rows: reproduce.json rows with "task", "dataset", "ours_gap", "paper_gap" (and
    "frozen_head"); setup: the result's setup (its layers are named in the legend);
    paper: False leaves the paper's bars out (a lesson asks for them later).
    """
    names = safe_labels([str(r["task"]) for r in rows])
    ours = [r.get("ours_gap") for r in rows]
    paper = [r.get("paper_gap") for r in rows] if paper else []
    s = setup or {}
    heads = sorted({str(r.get("frozen_head") or "linear") for r in rows})
    what = ", ".join(filter(None, [  # short: the legend shares a 1280-px stage with the text
        f"{s['layers']} layers" if s.get("layers") else "",
        "frozen: " + " / ".join(h.replace("-", " ") for h in heads)]))
    fig = go.Figure([
        go.Bar(x=names, y=ours, name=safe_text(f"ours ({what})"), marker_color=theme.ours,
               text=[f"{v:+.1f}" if v is not None else "n/a" for v in ours],
               textposition="outside", cliponaxis=False)])
    if paper:
        fig.add_trace(go.Bar(x=names, y=paper, name="paper (BERT-base)", marker={
            "color": theme.paper, "pattern": {"shape": "/", "fgcolor": theme.text,
                                              "solidity": 0.2}},
               text=[f"{v:+.1f}" if v is not None else "" for v in paper],
               textposition="outside", cliponaxis=False))
    top = max([v for v in ours + paper if v is not None] + [1.0])
    fig.update_yaxes(range=[min(0.0, *(v for v in ours + paper if v is not None)) - 1,
                            top * 1.3], title_text="gain (points)")
    fig.update_xaxes(tickangle=0)
    fig.update_layout(barmode="group", legend=_legend_below(theme))
    return style(fig, theme, title="What fine-tuning adds, per task",
                 subtitle="ours (real data) beside the paper's" if paper else "ours (real data)",
                 height=620 if theme.presenter else 440)


def group_change_bars(groups: Sequence[str], values: Sequence[float], measure: str,
                      theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Horizontal bars: how much each group changed; groups input (bottom) to output (top).

    groups, values: G names and G non-negative numbers; measure: what the numbers are.
    """
    fig = go.Figure(go.Bar(x=list(values), y=safe_labels(groups), orientation="h",
                           marker_color=theme.backward, text=[f"{v:.3g}" for v in values],
                           textposition="outside", cliponaxis=False))
    fig.update_xaxes(title_text=safe_text(measure), range=[0, max(values, default=1) * 1.3])
    fig.update_yaxes(type="category", categoryorder="array",
                     categoryarray=safe_labels(groups))
    height = int(theme.tick_size * 2.6) * len(groups) + 9 * theme.font_size
    return style(fig, theme, title="How much each group changed",
                 subtitle="input at the bottom", height=height)


def learning_curve(sizes: Sequence[int], series: dict[str, list[list[float]]], metric: str,
                   theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Metric against training-set size (log x), one line per mode at the median over seeds
    (the statistic of the README table and the lesson's answer), every seed drawn as a dot.

    sizes: S sizes; series: {mode: S lists of per-seed values}.
    """
    fig = go.Figure()
    for i, (mode, per_size) in enumerate(series.items()):
        colour = mode_colour(mode, theme, i)
        medians = [statistics.median(v) if v else None for v in per_size]
        fig.add_trace(go.Scatter(x=list(sizes), y=medians,
                                 name=f"{safe_text(mode)} (seed median)",
                                 mode="lines+markers", line={"color": colour,
                                                             "width": theme.line_width}))
        xs = [s for s, v in zip(sizes, per_size) for _ in v]
        ys = [x for v in per_size for x in v]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", showlegend=False,
                                 name=f"{safe_text(mode)} seeds", opacity=0.5,
                                 marker={"color": colour, "size": theme.marker_size * 0.7}))
    fig.update_xaxes(type="log", title_text="training examples (log scale)", tickangle=0,
                     tickmode="array", tickvals=list(sizes), ticktext=[str(n) for n in sizes])
    fig.update_yaxes(title_text=safe_text(metric))
    fig.update_layout(legend={"x": 1, "xanchor": "right", "y": 0, "yanchor": "bottom",
                              "bgcolor": "rgba(255,255,255,0.8)",
                              "font": {"size": theme.font_size}})
    return style(fig, theme, title="Learning curves over seeds",
                 subtitle="each dot is one seed", height=600 if theme.presenter else 420)


def poll_bars(options: Sequence[str], counts: Sequence[int], marked: set[str],
              voters: int, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """The class's predictions per option; the options the measurement agrees with marked.

    options, counts: O labels and O counts (for "pick the layers", students who ticked each);
    marked: labels that match the measured answer (empty before the reveal); voters: how
    many students answered.
    """
    colours = [theme.forward if o in marked else theme.frozen for o in options]
    labels = [f"{safe_text(o)} ✔" if o in marked else safe_text(o) for o in options]
    fig = go.Figure(go.Bar(x=list(counts), y=labels, orientation="h", marker_color=colours,
                           text=[str(c) for c in counts], textposition="outside",
                           cliponaxis=False))
    top = max([*counts, 1])
    fig.update_xaxes(title_text="students", range=[0, top * 1.25 + 1], dtick=max(1, top // 5))
    fig.update_yaxes(type="category", autorange="reversed")
    height = int(theme.tick_size * 2.4) * max(len(options), 2) + 8 * theme.font_size
    note = "✔ = measured" if marked else "answer marked at the reveal"
    answers = f"{voters} answer" + ("" if voters == 1 else "s")
    return style(fig, theme, title=f"The class predicted ({answers})", subtitle=note,
                 height=height)


def group_weights(groups: Sequence[str], group_params: dict[str, int], frozen: Sequence[str],
                  theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Weights per group (log x), the trainable ones in colour, the frozen ones hatched grey.

    groups: G names, input (bottom) to output (top); group_params: {group: weight count};
    frozen: the groups that do not learn.
    """
    from bertviz_lite.figures.text import fmt_human

    off = set(frozen)
    values = [group_params.get(g, 0) for g in groups]
    fig = go.Figure(go.Bar(
        x=values, y=safe_labels(groups), orientation="h", cliponaxis=False,
        text=[fmt_human(v) if g in off else f"{fmt_human(v)} learn" for g, v in
              zip(groups, values)], textposition="outside",
        marker={"color": [theme.frozen_fill if g in off else theme.trainable for g in groups],
                "line": {"color": [theme.frozen if g in off else theme.trainable
                                   for g in groups], "width": 1},
                "pattern": {"shape": ["/" if g in off else "" for g in groups],
                            "fgcolor": theme.frozen}}))
    top = max([v for v in values if v > 0] + [10])
    fig.update_xaxes(type="log", range=[0, math.log10(top) + 2.2], exponentformat="power",
                     title_text="weights in the group (log scale)")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=safe_labels(groups))
    learn = sum(v for g, v in zip(groups, values) if g not in off)
    height = int(theme.tick_size * 2.4) * len(groups) + 9 * theme.font_size
    return style(fig, theme, title="What learns, group by group",
                 subtitle=f"{learn:,} of {sum(values):,} learn; hatched: frozen",
                 height=height)


def wall_time_bars(modes: Sequence[str], seconds: Sequence[float], device: str,
                   theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Measured wall time of each mode's whole run, the ratio to the fastest in the labels.

    modes, seconds: M names and M wall times (s); device: where they were measured.
    """
    fastest = min(s for s in seconds if s > 0)
    fig = go.Figure(go.Bar(
        x=list(seconds), y=safe_labels(modes), orientation="h", cliponaxis=False,
        marker_color=[mode_colour(m, theme, i) for i, m in enumerate(modes)],
        text=[f"{s:.1f} s · {plain_number(s / fastest)}×" for s in seconds],
        textposition="outside"))
    fig.update_xaxes(title_text="wall time of the whole run (s)",
                     range=[0, max(seconds) * 1.45])
    fig.update_yaxes(type="category")
    return style(fig, theme, title="Time to train",
                 subtitle=f"measured on {safe_text(device)}",
                 height=int(theme.tick_size * 3.5) * len(modes) + 9 * theme.font_size)


def step_time_bars(labels: Sequence[str], modes: Sequence[str], step_ms: Sequence[float],
                   trainable: Sequence[int], device: str,
                   theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Measured time per training step of each mode, with the weights it trains.

    labels, modes: M names on screen and M mode strings (for the colours); step_ms: M times
    per step (ms); trainable: M trainable weight counts; device: where they were measured.
    """
    fig = go.Figure(go.Bar(
        x=list(step_ms), y=safe_labels(labels), orientation="h", cliponaxis=False,
        marker_color=[mode_colour(m, theme, i) for i, m in enumerate(modes)],
        text=[f"{t:.0f} ms · {fmt_human(n)} trained" for t, n in zip(step_ms, trainable,
                                                                      strict=True)],
        textposition="outside"))
    fig.update_xaxes(title_text="time per training step (ms)",
                     range=[0, max(step_ms, default=1) * 1.9])
    fig.update_yaxes(type="category", autorange="reversed")
    return style(fig, theme, title="Time per step, and weights trained",
                 subtitle=f"the same batches, measured on {safe_text(device)}",
                 subtitle_chars=44,
                 height=int(theme.tick_size * 3.2) * len(labels) + 9 * theme.font_size)


def forgetting_bars(labels: Sequence[str], modes: Sequence[str], drops: Sequence[float],
                    scores: Sequence[str], skill: str, before: float,
                    theme: Theme = DEFAULT_THEME) -> go.Figure:
    """How much of a pretrained skill each mode lost while it learnt the task.

    labels, modes: M names on screen and M mode strings; drops: M losses of the skill's score
    (Pearson r before minus after, >= 0 is a loss); scores: M task results in words
    ("accuracy 0.783"), beside each bar; skill: where the skill was scored; before: the
    pretrained model's score there.
    """
    fig = go.Figure(go.Bar(
        x=list(drops), y=safe_labels(labels), orientation="h", cliponaxis=False,
        marker_color=[mode_colour(m, theme, i) for i, m in enumerate(modes)],
        text=[f"{d:.4f} · {safe_text(s)}" for d, s in zip(drops, scores, strict=True)],
        textposition="outside"))
    fig.update_xaxes(title_text=safe_text(f"lost Pearson r on {skill}"),
                     range=[min(0.0, *drops), max(max(drops, default=0.0), 1e-4) * 2.1])
    fig.update_yaxes(type="category", autorange="reversed")
    return style(fig, theme, title="What each mode forgot of a pretrained skill",
                 subtitle=f"zero-shot similarity, r = {before:.3f} before training; "
                          "the task's result beside each bar", subtitle_chars=44,
                 height=int(theme.tick_size * 3.2) * len(labels) + 9 * theme.font_size)
