"""What changed inside BERT: per-layer figures of one analysis (a ChangesResult).

Groups run input-to-output upward (embeddings at the bottom), the order of the gradient-flow
chart, so a student can hold the two side by side. Every figure says in its subtitle what to
look for and whose numbers these are (ours, with the setup that made them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bertviz_lite.experiments.inside_bert_result import (
    ChangesResult,
    measured_steps_text,
    step_ratios,
)
from bertviz_lite.figures.text import safe_labels, safe_text
from bertviz_lite.figures.theme import DEFAULT_THEME, Theme, mode_colour, style


def setup_line(r: ChangesResult) -> str:
    """"ours: <model>, <task> <mode>, <data> data, N validation <unit>s" (plain text)."""
    s = r.setup
    ex = s.get("examples", {})
    unit = {"words": "words", "pair": "sentences of pairs"}.get(ex.get("unit"), "inputs")
    return (f"ours: {s.get('model')} ({s.get('layers')} layers), {s.get('task')} "
            f"{s.get('mode')}, {s.get('data')} data, {ex.get('cka_rows')} validation {unit}")


HALF_WIDTH_CHARS = 52  # a subtitle's line in a chart half the page wide (the page's columns)


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def _group_label(g: Any) -> str:
    return g.group if g.trainable else f"{g.group} (frozen)"


def change_bars(r: ChangesResult, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """CKA (left, 1 = unchanged) and relative weight change (right, 0 = unchanged) per group.

    r: one analysis; groups drawn bottom (embeddings) to top (last layer).
    """
    labels = safe_labels([_group_label(g) for g in r.groups])
    colours = [theme.trainable if g.trainable else theme.frozen for g in r.groups]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06)
    cka = [_finite(g.cka) for g in r.groups]
    wc = [_finite(g.weight_change) for g in r.groups]
    fig.add_trace(go.Bar(y=labels, x=cka, orientation="h", marker_color=colours, name="CKA",
                         text=[f"{v:.4f}" if v is not None else "-" for v in cka],
                         textposition="auto", showlegend=False), row=1, col=1)
    fig.add_trace(go.Bar(y=labels, x=wc, orientation="h", marker_color=colours,
                         name="weight change", showlegend=False,
                         text=[f"{v:.4f}" if v is not None else "-" for v in wc],
                         textposition="auto"), row=1, col=2)
    fig.update_xaxes(range=[0, 1.05], row=1, col=1,
                     title_text="representation: CKA, pretrained vs tuned (1 = the same)")
    fig.update_xaxes(rangemode="tozero", row=1, col=2,
                     title_text="weights: ||W_tuned - W_pre|| / ||W_pre|| (0 = untouched)")
    fig.update_yaxes(categoryorder="array", categoryarray=labels)
    return style(fig, theme, "What changed, layer by layer", height=120 + 48 * len(labels),
                 subtitle="Look for: the layers whose CKA drops below 1 and whose weights moved. "
                          + setup_line(r))


def probe_lines(r: ChangesResult, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """A linear probe's validation score per layer, pretrained vs tuned, with the baseline.

    r: one analysis; x runs from the embeddings to the last layer.
    """
    x = safe_labels([g.group for g in r.groups])
    metric = str(r.baseline.get("metric") or "score")
    fig = go.Figure()
    for name, attr, colour, dash in (("pretrained BERT", "probe_pretrained", theme.frozen, "dot"),
                                     (f"tuned ({r.setup.get('mode')})", "probe_tuned",
                                      mode_colour(str(r.setup.get("mode")), theme, 0), "solid")):
        fig.add_trace(go.Scatter(x=x, y=[_finite(getattr(g, attr)) for g in r.groups],
                                 mode="lines+markers", name=safe_text(name),
                                 line={"color": colour, "width": theme.line_width, "dash": dash},
                                 marker={"size": theme.marker_size}))
    base = _finite(r.baseline.get("value"))
    if base is not None:
        fig.add_hline(y=base, line={"dash": "dash", "color": theme.text, "width": theme.thin_line},
                      annotation_text=safe_text("baseline, ignores the input") + "<br>" +
                      safe_text(f"({r.baseline.get('name')}): {base:.3f}"),
                      annotation_position="top right", annotation_align="right")
    fig.update_yaxes(title_text=safe_text(f"probe {metric} on validation"))
    fig.update_xaxes(title_text="layer the probe reads (input to output)")
    return style(fig, theme, "Where the task information lives", height=420,
                 subtitle="Look for: was the probe already high before tuning, and in which "
                          "layers? " + setup_line(r), subtitle_chars=HALF_WIDTH_CHARS)


def cka_heatmap(r: ChangesResult, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """CKA of every pretrained layer (rows) against every tuned layer (columns)."""
    names = safe_labels([g.group for g in r.groups])
    z = [[_finite(v) for v in row] for row in r.cka_matrix]
    fig = go.Figure(go.Heatmap(z=z, x=names, y=names, zmin=0, zmax=1, colorscale="Viridis",
                               colorbar={"title": {"text": "CKA"}},
                               text=[[f"{v:.2f}" if v is not None else "" for v in row]
                                     for row in z],
                               texttemplate="%{text}", hovertemplate="pretrained %{y} vs tuned "
                               "%{x}: CKA %{z:.4f}<extra></extra>"))
    fig.update_xaxes(title_text="tuned model's layer")
    fig.update_yaxes(title_text="pretrained model's layer")
    return style(fig, theme, "Every layer against every layer (CKA)", height=460,
                 subtitle="Look for: the diagonal staying bright where a layer kept its "
                          "representation, and blocks of similar layers. " + setup_line(r),
                 subtitle_chars=HALF_WIDTH_CHARS)


def forgetting_bars(rows: Sequence[Mapping[str, Any]], set_name: str, setup: str,
                    theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Zero-shot similarity (Pearson and Spearman) of the pretrained and the tuned models.

    rows: one dict per model with "label" (e.g. "pretrained", "frozen"), "mode" (for the
    colour; "pretrained" for the pretrained model), "pearson" and "spearman";
    set_name: the similarity set; setup: who measured what ("ours: ...").
    """
    labels = safe_labels([r["label"] for r in rows])
    fig = go.Figure()
    for stat, pattern in (("pearson", ""), ("spearman", "/")):
        fig.add_trace(go.Bar(
            x=labels, y=[_finite(r.get(stat)) for r in rows], name=stat.capitalize(),
            marker={"color": [theme.frozen if r["mode"] == "pretrained"
                              else mode_colour(str(r["mode"]), theme, 0) for r in rows],
                    "pattern": {"shape": pattern}},
            text=[f"{v:.3f}" if (v := _finite(r.get(stat))) is not None else "-" for r in rows],
            textposition="outside"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[min(0.0, *[_finite(r.get("pearson")) or 0 for r in rows]), 1.05],
                     title_text="correlation with the gold scores")
    return style(fig, theme, "What it forgot: zero-shot sentence similarity", height=420,
                 subtitle=(f"Look for: how far the bars fall after tuning. Cosine of "
                                    f"mean-pooled sentence vectors vs gold on {set_name}. "
                                    f"{setup}"))


def measured_updates(r: ChangesResult, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Per group, the update ratio ||dW|| / ||W|| of each step where the run measured it (log y).

    r: one analysis; its `update_ratios` hold running sums, turned back into each measured
    step's own ratio here. The subtitle says how many of the run's steps were measured (every
    step up to 4M trainable weights, else every 50th and the last): these points are samples,
    not the whole run; the net change over the run is the weight-change bar.
    """
    fig = go.Figure()
    groups = [g.group for g in r.groups if r.update_ratios.get(g.group)]
    for i, name in enumerate(groups):
        pts = step_ratios(r.update_ratios[name])
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], name=safe_text(name),
                                 mode="lines+markers" if len(pts) < 10 else "lines",
                                 line={"width": theme.thin_line + i * 0.2}))
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(type="log", exponentformat="power", title_text="||dW|| / ||W|| of the step")
    return style(fig, theme, "Update size at the measured steps", height=380,
                 subtitle=f"Measured at {measured_steps_text(r)}; the net change over the run "
                          "is the weight-change bar. " + setup_line(r))
