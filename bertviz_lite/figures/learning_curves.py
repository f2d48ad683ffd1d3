"""Learning curves: the metric against training-set size (log x), one line per mode.

Three panels sharing the x axis: the validation metric (every seed's point, the median line,
the no-learning baseline and, where the task matches, the paper's full-data numbers as
labelled reference lines); the wall time of each point; the train - validation gap. Where the
modes' medians cross, the figure says so (computed from the points, never typed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bertviz_lite.experiments.learning_summary import crossing_text, medians, mode_name, modes_of
from bertviz_lite.figures.text import is_finite, safe_text
from bertviz_lite.figures.theme import DEFAULT_THEME, Theme, mode_colour, style

PANELS = ("validation metric", "wall time per point (s)", "train - validation gap")


def _seed_trace(points: Sequence[Mapping[str, Any]], mode: str, field: str, colour: str,
                theme: Theme) -> go.Scatter:
    """Every seed's point of one mode (hover names the seed)."""
    pts = [p for p in points if p["mode"] == mode and is_finite(p.get(field))]
    return go.Scatter(
        x=[p["size"] for p in pts], y=[float(p[field]) for p in pts], mode="markers",
        marker={"color": colour, "size": theme.marker_size, "opacity": 0.55,
                "symbol": "circle-open" if field != "value" else "circle"},
        name=f"{safe_text(mode_name(mode))}, each seed", legendgroup=mode, showlegend=False,
        text=[f"seed {p['seed']}{' (cached run)' if p.get('cached') else ''}" for p in pts],
        hovertemplate="%{text}: %{y:.3g} at n=%{x}<extra></extra>")


def _median_trace(points: Sequence[Mapping[str, Any]], mode: str, field: str, colour: str,
                  theme: Theme, legend: bool) -> go.Scatter:
    """The median over seeds of one mode, as a line."""
    med = medians(points, mode, field)
    n_seeds = len({p["seed"] for p in points if p["mode"] == mode})
    return go.Scatter(
        x=list(med), y=list(med.values()), mode="lines+markers",
        line={"color": colour, "width": theme.line_width}, marker={"size": theme.marker_size},
        name=f"{safe_text(mode_name(mode))} (median of {n_seeds} seed{'s' * (n_seeds != 1)})",
        legendgroup=mode, showlegend=legend,
        hovertemplate=f"{safe_text(mode_name(mode))} median: %{{y:.3g}} at n=%{{x}}<extra></extra>")


def _baseline_trace(points: Sequence[Mapping[str, Any]], theme: Theme) -> go.Scatter | None:
    """The no-learning baseline (majority class, constant score, all O): median per size."""
    by_size: dict[int, list[float]] = {}
    for p in points:
        if is_finite(p.get("baseline")):
            by_size.setdefault(int(p["size"]), []).append(float(p["baseline"]))
    if not by_size:
        return None
    sizes = sorted(by_size)
    ys = [sorted(by_size[s])[len(by_size[s]) // 2] for s in sizes]
    names = {p.get("baseline_name") for p in points if p.get("baseline_name")}
    label = "baseline: ignores the input" + (f" ({safe_text(names.pop())})" if len(names) == 1
                                             else "")
    return go.Scatter(x=sizes, y=ys, mode="lines", name=label,
                      line={"color": theme.text, "dash": "dash", "width": theme.thin_line})


def _paper_marks(fig: go.Figure, paper: Mapping[str, float], modes: Sequence[str], dataset: str,
                 theme: Theme) -> None:
    """The paper's full-data numbers as dotted reference lines with a label each."""
    shown = [m for m in modes if is_finite(paper.get(m))]
    for n, mode in enumerate(shown):
        value = float(paper[mode])
        y = value / 100.0
        left = n % 2 == 0  # close numbers (93.0, 93.5): labels at opposite ends
        fig.add_shape(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=y, y1=y,
                      line={"color": theme.paper, "dash": "dot", "width": theme.thin_line})
        fig.add_annotation(xref="x domain", x=0 if left else 1, yref="y", y=y,
                           xanchor="left" if left else "right", yanchor="bottom",
                           showarrow=False, font={"color": theme.paper},
                           text=safe_text(f"paper, {mode_name(mode)}: {value:.1f} (BERT-base, "
                                          f"full {dataset})"))


def _crossing_marks(fig: go.Figure, points: Sequence[Mapping[str, Any]], theme: Theme) -> None:
    """A sentence in the top panel for each crossing of two modes' medians (or that none do)."""
    lines = crossing_text(points)
    if len(modes_of(points)) < 2:
        return
    text = "; ".join(lines) if lines else "the medians of the modes do not cross at these sizes"
    fig.add_annotation(xref="x domain", x=1, yref="y domain", y=0.02, xanchor="right",
                       yanchor="bottom", showarrow=False, font={"color": theme.text},
                       bgcolor=theme.background, opacity=0.9, text=safe_text(text))


def learning_curve_figure(sweep: Mapping[str, Any], *, paper: Mapping[str, float] | None = None,
                          dataset: str = "", metric_title: str = "metric",
                          theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Metric, cost and train - validation gap against training-set size, one line per mode.

    sweep: the JSON of `bertviz-lite sweep` (or a partial one: any points so far), with
    "points" [{mode, size, seed, value, train_value, gap, wall_seconds, baseline}], values
    on 0-1 (Pearson on -1..1); paper: {"frozen": x, "finetune": y} on 0-100 for the task
    (PAPER_TABLE) or None when our data is not the paper's kind; dataset: the paper's dataset.
    """
    points = list(sweep.get("points", []))
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.09,
                        subplot_titles=[f"validation {safe_text(metric_title)}", PANELS[1],
                                        PANELS[2]], row_heights=[0.5, 0.25, 0.25])
    modes = modes_of(points)
    for i, mode in enumerate(modes):
        colour = mode_colour(mode, theme, i)
        for row, field in ((1, "value"), (2, "wall_seconds"), (3, "gap")):
            fig.add_trace(_seed_trace(points, mode, field, colour, theme), row=row, col=1)
            fig.add_trace(_median_trace(points, mode, field, colour, theme, row == 1),
                          row=row, col=1)
    base = _baseline_trace(points, theme)
    if base is not None:
        fig.add_trace(base, row=1, col=1)
    if paper:
        _paper_marks(fig, paper, modes, dataset, theme)
    _crossing_marks(fig, points, theme)
    fig.add_hline(y=0, line={"color": theme.frozen, "width": 1}, row=3, col=1)
    fig.update_xaxes(type="log", title_text="training examples (log scale)", row=3, col=1)
    sizes = sorted({int(p["size"]) for p in points})
    fig.update_xaxes(type="log", tickvals=sizes or None)
    setup = sweep.get("setup", {})
    subtitle = (f"{len({p['seed'] for p in points})} seed(s); nested stratified subsamples; "
                f"the same {setup.get('eval_size', '?')} validation examples for every point")
    height = 860 if not theme.presenter else 1300
    style(fig, theme, title=f"Against training-set size: {safe_text(str(setup.get('task', '')))}",
          subtitle=subtitle, height=height)
    fig.update_layout(legend={"orientation": "h", "y": -0.12, "x": 0},
                      margin_t=fig.layout.margin.t + int(theme.font_size * 2))
    return fig
