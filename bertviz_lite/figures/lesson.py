"""Figures the lesson adds: the four tasks' fine-tuning gains beside the paper's, how much each
group changed, a learning curve from a sweep, and the class's predictions beside the answer.

Pure functions: plain data in, plotly Figure out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from bertviz_lite.figures.text import safe_labels, safe_text
from bertviz_lite.figures.theme import DEFAULT_THEME, Theme, mode_colour, style


def _legend_below(theme: Theme) -> dict[str, Any]:
    """A horizontal legend under the plot (never over the title)."""
    return {"orientation": "h", "x": 0, "y": -0.25, "yanchor": "top",
            "font": {"size": theme.font_size}}


def reproduce_gaps(rows: Sequence[dict[str, Any]], theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Fine-tuned minus frozen, per task: ours beside the paper's (points on 0-100).

    rows: reproduce.json rows with "task", "dataset", "ours_gap", "paper_gap".
    """
    names = safe_labels([f"{r['task']} ({r.get('dataset', '')})" for r in rows])
    ours = [r.get("ours_gap") for r in rows]
    paper = [r.get("paper_gap") for r in rows]
    fig = go.Figure([
        go.Bar(x=names, y=ours, name="ours (bundled MiniLM, 6 layers)", marker_color=theme.ours,
               text=[f"{v:+.1f}" if v is not None else "n/a" for v in ours],
               textposition="outside", cliponaxis=False),
        go.Bar(x=names, y=paper, name="paper (BERT-base)", marker={
            "color": theme.paper, "pattern": {"shape": "/", "fgcolor": theme.text,
                                              "solidity": 0.2}},
               text=[f"{v:+.1f}" if v is not None else "" for v in paper],
               textposition="outside", cliponaxis=False),
    ])
    top = max([v for v in ours + paper if v is not None] + [1.0])
    fig.update_yaxes(range=[min(0.0, *(v for v in ours + paper if v is not None)) - 1,
                            top * 1.3], title_text="fine-tuned − frozen (points)")
    fig.update_layout(barmode="group", legend=_legend_below(theme))
    return style(fig, theme, title="What fine-tuning adds, per task",
                 subtitle="ours on the real data (frozen: scalar-mix head) beside the paper's",
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
    return style(fig, theme, title="How much fine-tuning changed each group",
                 subtitle="input at the bottom, head at the top", height=height)


def learning_curve(sizes: Sequence[int], series: dict[str, list[list[float]]], metric: str,
                   theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Metric against training-set size (log x), one line per mode at the seed mean, every
    seed drawn as a dot.

    sizes: S sizes; series: {mode: S lists of per-seed values}.
    """
    fig = go.Figure()
    for i, (mode, per_size) in enumerate(series.items()):
        colour = mode_colour(mode, theme, i)
        means = [sum(v) / len(v) if v else None for v in per_size]
        fig.add_trace(go.Scatter(x=list(sizes), y=means, name=f"{safe_text(mode)} (seed mean)",
                                 mode="lines+markers", line={"color": colour,
                                                             "width": theme.line_width}))
        xs = [s for s, v in zip(sizes, per_size) for _ in v]
        ys = [x for v in per_size for x in v]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", showlegend=False,
                                 name=f"{safe_text(mode)} seeds", opacity=0.5,
                                 marker={"color": colour, "size": theme.marker_size * 0.7}))
    fig.update_xaxes(type="log", title_text="training examples (log scale)")
    fig.update_yaxes(title_text=safe_text(metric))
    fig.update_layout(legend=_legend_below(theme))
    return style(fig, theme, title="Learning curves: small data, several seeds",
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
    note = "✔ = what was measured" if marked else "the measured answer appears at the reveal"
    return style(fig, theme, title=f"The class predicted ({voters} answers)", subtitle=note,
                 height=height)
