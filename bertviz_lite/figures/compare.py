"""Frozen against fine-tuned, the lecture's way: our scores beside the paper's, and the cost.

The paper (Peters, Ruder & Smith 2019, Table 2) used BERT-base on the full datasets; we use
whatever model and data the run names (by default a 6-layer MiniLM on small data). The two sets
of numbers must never be confused, so ours and theirs differ in name, colour and pattern, and
the bars say whose they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bertviz_lite.engine.modes import FINETUNE, FROZEN
from bertviz_lite.engine.tasks import TASK_SPECS
from bertviz_lite.figures.text import (
    capitalise,
    fmt_human,
    fmt_num,
    is_finite,
    safe_text,
    wrap_words,
)
from bertviz_lite.figures.theme import DEFAULT_THEME, Theme, mode_colour, style
from bertviz_lite.record.paper import PAPER_TABLE, SLIDE_COST_RATIO, cost_ratio

PAPER_NAME = "paper (BERT-base, Peters et al. 2019, Table 2)"


def ours_name(setup: str, model: str) -> str:
    """Legend name of our bars: "ours (<model>, <setup>)" (escaped)."""
    return safe_text(f"ours ({model}, {setup})")


def _pct(v: Any) -> float | None:
    """A 0-1 score on the paper's 0-100 scale (None if missing)."""
    return 100.0 * float(v) if is_finite(v) else None


def _paper_value(row: Mapping[str, Any]) -> float | None:
    """The paper's score that goes beside this row (record.paper.paper_cell), or None."""
    value = row.get("paper")
    return float(value) if is_finite(value) else None


def _paper_text(row: Mapping[str, Any], value: float | None) -> str:
    """Bar label of the paper's number: marked where our run is not the paper's setup."""
    if value is None:
        return ""
    return f"paper {value:.1f}" + ("" if row.get("paper_matches", True) else "*")


def _paper_note(rows: Sequence[Mapping[str, Any]]) -> str:
    """What the paper's bars are, short, for the rows where that needs saying (the page's
    table gives each row's full note)."""
    parts = [(f"{r.get('mode')}: no paper number" if _paper_value(r) is None
              else f"*{r.get('mode')}: not the paper's setup")
             for r in rows if not r.get("paper_matches", True)]
    return "; ".join(parts)  # plain text: style() escapes the subtitle


def _baseline(fig: go.Figure, rows: Sequence[Mapping[str, Any]], theme: Theme) -> None:
    """Our data's no-learning baseline: one dashed line when every mode shares it (same data)."""
    values = {round(b, 6) for b in (_pct(r.get("baseline")) for r in rows) if b is not None}
    if len(values) != 1:
        return
    y = values.pop()
    fig.add_shape(type="line", xref="paper", x0=0, x1=1, yref="y", y0=y, y1=y,
                  line={"color": theme.text, "dash": "dash", "width": theme.thin_line})
    fig.add_annotation(xref="paper", x=0, yref="y", y=y, xanchor="left", yanchor="bottom",
                       showarrow=False, bgcolor=theme.background, opacity=0.9,
                       text=f"baseline on our data (ignores the input): {y:.1f}")


def mode_tick(mode: str, width: int = 16) -> str:
    """A run's mode string as an x tick on lines of at most `width` characters, never
    rotated: "frozen (task model (BiLSTM max/mean pool))" -> "frozen<br>(task model<br>
    (BiLSTM max/mean<br>pool))" (the text is escaped)."""
    parts = safe_text(mode).replace(" (", "\n(").split("\n")
    return "<br>".join(line for part in parts for line in wrap_words(part, width))


def compare_bars(rows: list[dict[str, Any]], metric_title: str, theme: Theme = DEFAULT_THEME,
                 *, setup: str, model: str) -> go.Figure:
    """Our metric per mode beside the paper's, everything on the 0-100 scale.

    rows: one dict per run (Comparison.rows) with "mode", "value" (0-1), "baseline" (0-1) and
    the paper's number for that run's setup: "paper" (0-100 or None), "paper_matches",
    "paper_note"; metric_title: "accuracy", ...; setup, model: describe our run in the legend,
    "ours (<model>, <setup>)".
    """
    modes = [safe_text(r.get("mode", "?")) for r in rows]
    ticks = [mode_tick(str(r.get("mode", "?"))) for r in rows]
    ours = [_pct(r.get("value")) for r in rows]
    theirs = [_paper_value(r) for r in rows]
    fig = go.Figure([
        go.Bar(x=modes, y=ours, name=ours_name(setup, model), marker={"color": theme.ours},
               text=[f"ours {fmt_num(v, 3)}" if v is not None else "ours: n/a" for v in ours],
               textposition="outside", offsetgroup="ours"),
        go.Bar(x=modes, y=theirs, name=PAPER_NAME,
               marker={"color": theme.paper, "pattern": {"shape": "/", "fgcolor": theme.text,
                                                         "solidity": 0.2}},
               text=[_paper_text(r, v) for r, v in zip(rows, theirs)],
               textposition="outside", offsetgroup="paper"),
    ])
    _baseline(fig, rows, theme)
    lines = max((t.count("<br>") + 1 for t in ticks), default=1)  # below the longest tick
    fig.update_layout(barmode="group", legend={"orientation": "h", "x": 0, "yanchor": "top",
                                               "y": -0.06 - 0.075 * lines})
    fig.update_yaxes(range=[0, 110], title_text=f"{safe_text(metric_title)} (0-100)")
    # wrapped ticks (they name the modes), never rotated or clipped; the data keeps the names
    fig.update_xaxes(tickangle=0, tickmode="array", tickvals=modes, ticktext=ticks)
    note = "different model and data: compare the gap between modes"
    if _paper_note(rows):
        note += " · " + _paper_note(rows)
    return style(fig, theme, title=f"{capitalise(metric_title)}: ours vs the paper",
                 subtitle=note)


def _cost_ratio(rows: Sequence[Mapping[str, Any]]) -> float | None:
    """Fine-tune wall time / frozen wall time, or None without both (and a positive frozen)."""
    wall = {r.get("mode"): r.get("wall_s") for r in rows}
    f, t = wall.get(FROZEN), wall.get(FINETUNE)
    return cost_ratio(t, f) if is_finite(f) and is_finite(t) else None


COST_PANELS = (  # (row key, subplot title, log axis)
    ("wall_s", "wall time (s)", False),
    ("trainable", "trainable parameters (log)", True),
    ("peak_mb", "peak memory (MB)", False),
    ("gflops", "estimated GFLOPs", False),
)


def cost_figure(rows: list[dict[str, Any]], theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Four panels of what each mode costs: wall time, trainable weights, memory, GFLOPs.

    rows: one dict per mode with "mode", "wall_s", "trainable", "peak_mb", "gflops" (None
    where not measured). The measured fine-tune/frozen time ratio is set beside the slide's ~10x.
    """
    fig = make_subplots(rows=2, cols=2, subplot_titles=[t for _, t, _ in COST_PANELS],
                        vertical_spacing=0.26, horizontal_spacing=0.12)
    # wrapped ticks, never rotated into the panel below nor into each other (half a figure
    # wide: shorter lines than the accuracy chart's)
    modes = [safe_text(r.get("mode", "?")) for r in rows]
    ticks = [mode_tick(str(r.get("mode", "?")), width=11) for r in rows]
    colours = [mode_colour(str(r.get("mode", "")), theme, i) for i, r in enumerate(rows)]
    for n, (key, _, log_axis) in enumerate(COST_PANELS):
        values = [float(r[key]) if is_finite(r.get(key)) else None for r in rows]
        row, col = n // 2 + 1, n % 2 + 1
        fig.add_trace(go.Bar(x=modes, y=values, marker={"color": colours}, showlegend=False,
                             text=[fmt_human(v) for v in values], textposition="outside",
                             cliponaxis=False, name=key), row=row, col=col)
        top = max((v for v in values if v is not None and v > 0), default=1.0)
        if log_axis:
            fig.update_yaxes(type="log", exponentformat="power", row=row, col=col)
        else:  # headroom for the value labels (and the ratio note on the time panel)
            fig.update_yaxes(range=[0, top * (1.9 if key == "wall_s" else 1.45)], row=row,
                             col=col)
    ratio = _cost_ratio(rows)
    if ratio is not None and not theme.presenter:  # on the stage the subtitle says it
        # In the wall-time panel's top right corner, in the headroom above every bar and its
        # value label (a mode slower than fine-tuning, e.g. LoRA here, has its label there
        # too: above the fine-tune bar the note ran into it).
        fig.add_annotation(x=1, y=1, xref="x domain", yref="y domain", xanchor="right",
                           yanchor="top", showarrow=False,
                           text=f"fine-tuned: {ratio:.1f}× frozen (slide: ~"
                                f"{SLIDE_COST_RATIO:.0f}×)",
                           font={"color": theme.backward, "size": theme.tick_size})
    if ratio is not None:
        subtitle = (f"fine-tuning took {ratio:.1f}× frozen's time "
                    f"(slide: ~{SLIDE_COST_RATIO:.0f}×)")
    else:
        subtitle = "run both frozen and finetune to see the cost ratio"
    height = 560 if not theme.presenter else 900
    lines = max((t.count("<br>") + 1 for t in ticks), default=1)
    style(fig, theme, title="What each mode costs", subtitle=subtitle,
          height=height + 2 * theme.tick_size * max(0, lines - 2))
    fig.update_xaxes(tickangle=0, tickmode="array", tickvals=modes, ticktext=ticks)
    for ann in fig.layout.annotations:  # the subplot titles: the theme's size, not plotly's 16
        if ann.text in {t for _, t, _ in COST_PANELS}:
            ann.font.size = theme.font_size
    # The subplot titles sit above the panels, in the top margin, under the subtitle.
    fig.update_layout(margin_t=fig.layout.margin.t + int(theme.font_size * 2))
    return fig


def paper_table() -> list[dict[str, Any]]:
    """Peters, Ruder & Smith (2019), Table 2 (BERT-base) as rows for display.

    Returns one dict per task: task, dataset, metric, frozen, finetune (0-100 scale).
    """
    return [
        {"task": task, "dataset": TASK_SPECS[task].paper_dataset,
         "metric": TASK_SPECS[task].metric_title, "frozen": v["frozen"], "finetune": v["finetune"]}
        for task, v in PAPER_TABLE.items()
    ]


def paper_table_markdown() -> str:
    """The paper's Table 2 rows as a markdown table (a plain HTML table on the page: no
    data-grid script to load on the start page)."""
    lines = ["| task | dataset | metric | frozen | fine-tuned |", "|---|---|---|---:|---:|"]
    lines += [f"| {r['task']} | {r['dataset']} | {r['metric']} | {r['frozen']:.1f} | "
              f"{r['finetune']:.1f} |" for r in paper_table()]
    return "\n".join(lines)
