"""Text alternatives of the charts: what each one shows, in one or two plain sentences.

Pure functions (records or arrays in, a string out) for screen readers and for anyone who
cannot see the chart well: the app renders them next to each chart, and the notebook API
exports them (`bertviz_lite.describe_grad_flow(...)`). Groups are listed as backprop meets
them, from the head down to the embeddings. Strings from user data go through `safe_text`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from bertviz_lite.figures.sweep import sweep_reach
from bertviz_lite.figures.text import fmt_human, fmt_num, is_finite, safe_text
from bertviz_lite.record.paper import cost_ratio
from bertviz_lite.record.runs import RunRecord

NO_GRADIENT = "frozen, no gradient"


def _runs(names: Sequence[str], label: str) -> str:
    """Consecutive names as one phrase: ["layer.5", ..., "embeddings"] -> "layer.5 to
    embeddings frozen, no gradient"; one name: "head frozen, no gradient"."""
    if not names:
        return ""
    span = names[0] if len(names) == 1 else f"{names[0]} to {names[-1]}"
    return f"{safe_text(span)} {label}"


def _group_phrases(groups: Sequence[str], values: Mapping[str, Any], frozen: Iterable[str],
                   fmt: Any = fmt_num) -> list[str]:
    """Head first: "head 0.69", "layer.2 no gradient", runs of frozen groups merged."""
    frozen = set(frozen)
    out: list[str] = []
    run: list[str] = []
    for g in reversed(list(groups)):
        if g in frozen:
            run.append(g)
            continue
        if run:
            out.append(_runs(run, NO_GRADIENT))
            run = []
        v = values.get(g)
        if v is None or (is_finite(v) and v == 0):
            out.append(f"{safe_text(g)} no gradient")
        elif not is_finite(v):
            out.append(f"{safe_text(g)} not a finite number")
        else:
            out.append(f"{safe_text(g)} {fmt(v)}")
    if run:
        out.append(_runs(run, NO_GRADIENT))
    return out


def describe_grad_flow(groups: Sequence[str], grad_norm: Mapping[str, Any],
                       frozen_groups: Iterable[str], step: int | None = None) -> str:
    """The gradient-flow bars in words.

    groups: G names, input to output; grad_norm: {group: L2 norm}; frozen_groups: groups that
    get no gradient. "gradient norms at step 3: head 0.69; layer.5 to embeddings frozen, no
    gradient".
    """
    where = f" at step {step}" if step is not None else ""
    if not grad_norm:
        return f"gradient norms{where}: none yet (no training step has run)"
    return f"gradient norms{where}: " + "; ".join(_group_phrases(groups, grad_norm,
                                                                  frozen_groups))


def _medians(record: RunRecord, field: str = "grad_norm") -> dict[str, float]:
    """Median over the steps of each group's value (NaN/None steps left out)."""
    out: dict[str, float] = {}
    for g in record.groups:
        vals = [v for s in record.steps if is_finite(v := getattr(s, field).get(g))]
        if vals:
            out[g] = statistics.median(vals)
    return out


def describe_replay(record: RunRecord) -> str:
    """The replay (and the layers x steps heatmap) in words: median norm per group."""
    n = len(record.steps)
    if not n:
        return "no steps recorded yet"
    phrases = _group_phrases(record.groups, _medians(record), record.frozen_groups)
    return (f"{n} recorded steps; median gradient norm per group over the run: "
            + "; ".join(phrases))


def describe_sweep(groups: Sequence[str], signal: Mapping[str, Any],
                   frozen_groups: Iterable[str], step: int | None = None) -> str:
    """The backward sweep in words: how far down one backward pass reaches."""
    reach = sweep_reach(groups, signal)
    where = f" of step {step}" if step is not None else ""
    top = list(reversed(list(groups)))
    if reach == len(top):
        tail = f"reaches every group, down to {safe_text(top[-1])}" if top else "reaches nothing"
    else:
        tail = f"stops before {safe_text(top[reach])}"
        rest = [g for g in top[reach:] if g in set(frozen_groups)]
        if rest:
            tail += f" ({_runs(rest, NO_GRADIENT)})"
    reached = ", ".join(f"{safe_text(g)} {fmt_num(signal.get(g))}" for g in top[:reach])
    return (f"one backward pass{where}: from the loss the gradient {tail}; "
            f"signal at each output: {reached or 'none'}")


def describe_update_ratios(record: RunRecord) -> str:
    """Update ratios ||Δw|| / ||w|| in words: the median per group over the measured steps."""
    med = _medians(record, "update_ratio")
    if not med:
        return "no update ratios were measured"
    return "median update ratio ||Δw|| / ||w|| per group: " + "; ".join(
        _group_phrases(record.groups, med, record.frozen_groups))


def describe_loss(record: RunRecord) -> str:
    """The loss curve in words: first, last and lowest training loss."""
    pts = [(s.step, s.loss) for s in record.steps if is_finite(s.loss)]
    if not pts:
        return "training loss: no finite loss recorded"
    low = min(pts, key=lambda p: p[1])
    return (f"training loss over {len(record.steps)} steps: {fmt_num(pts[0][1])} at step "
            f"{pts[0][0]}, {fmt_num(pts[-1][1])} at step {pts[-1][0]}, lowest "
            f"{fmt_num(low[1])} at step {low[0]}")


def describe_metrics(record: RunRecord) -> str:
    """The metric curves in words: each split's first and last value, and the final gap."""
    parts = []
    last: dict[str, float] = {}
    for split, name in (("val", "validation"), ("train", "training")):
        curve = [e for e in record.eval_curve(split) if is_finite(e.value)]
        if curve:
            metric = safe_text(curve[0].metric)
            parts.append(f"{name} {metric} {fmt_num(curve[0].value)} at step {curve[0].step} "
                         f"to {fmt_num(curve[-1].value)} at step {curve[-1].step}")
            last[split] = curve[-1].value
    if not parts:
        return "no evaluations yet"
    if len(last) == 2:
        parts.append(f"train minus validation at the end: {last['train'] - last['val']:+.3f}")
    return "; ".join(parts)


def describe_compare(rows: Sequence[Mapping[str, Any]], metric_title: str) -> str:
    """Our scores beside the paper's, both on the 0-100 scale, each labelled with its source:
    each row's own paper cell (`paper`, `paper_note`), "-" where the paper has no such setup."""
    parts = []
    for r in rows:
        part = f"{safe_text(r.get('mode'))} ours {_pct(r.get('value'))}"
        if is_finite(r.get("paper")):
            part += f", paper {float(r['paper']):.1f} ({safe_text(r.get('paper_note'))})"
        else:
            part += ", paper: none for this setup"
        parts.append(part)
    return (f"{safe_text(metric_title)} (x100); ours (this run) beside the paper's "
            f"(Peters et al. 2019, BERT-base, full data): " + "; ".join(parts))


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}" if is_finite(v) else "n/a"


def describe_cost(rows: Sequence[Mapping[str, Any]]) -> str:
    """Training cost in words: wall time, trainable parameters and peak memory per mode."""
    parts = [f"{safe_text(r.get('mode'))}: {fmt_num(r.get('wall_s'))} s wall, "
             f"{fmt_human(r.get('trainable'))} trainable parameters, "
             f"{fmt_num(r.get('peak_mb'))} MB peak memory" for r in rows]
    wall = {r.get("mode"): r.get("wall_s") for r in rows}
    ratio = cost_ratio(wall.get("finetune"), wall.get("frozen"))
    if ratio is not None:
        parts.append(f"fine-tuned / frozen wall time {ratio:.1f}x")
    return "training cost, " + "; ".join(parts)


def class_name(name: object) -> str:
    """A class as people say it: "positive" stays, a bare id "0" becomes "class 0"."""
    text = _plain(name)
    return f"class {text}" if text.isdigit() else safe_text(text)


def describe_probabilities(label_names: Sequence[str], probs: Sequence[float]) -> str:
    """The prediction bars in words, classes in the model's order: "predicted positive;
    probabilities: negative 0.397, positive 0.603" (bare ids read "class 0: 0.397")."""
    if not probs:
        return "no prediction"
    best = max(range(len(probs)), key=lambda i: probs[i])
    return (f"predicted {class_name(label_names[best])}; probabilities: "
            + ", ".join(f"{class_name(n)}: {fmt_num(p)}" for n, p in zip(label_names, probs)))


def describe_figure(fig: go.Figure) -> str:
    """A generic text alternative of any figure: its title, subtitle and series, with the
    values of short bar series (used where no specific description is given)."""
    title = fig.layout.title
    head = ". ".join(t for t in (_plain(title.text), _plain(title.subtitle.text)) if t)
    series = [_series(t, fig) for t in fig.data if t.showlegend is not False or t.name]
    series = [s for s in series if s]
    return (head or "chart") + (": " + "; ".join(series[:8]) if series else "")


def _plain(text: object) -> str:
    """Plotly text without its HTML tags (0 is a text too: "0")."""
    import re

    return "" if text is None else re.sub(r"<[^>]+>", " ", str(text)).strip()


def _category_names(fig: go.Figure | None, axis: str) -> dict[Any, str]:
    """Positions an axis labels with tick text (tickvals -> ticktext), e.g. {0: "negative"}."""
    ax = fig.layout[axis] if fig is not None else None
    if ax is None or not ax.tickvals or not ax.ticktext:
        return {}
    return {v: _plain(t) for v, t in zip(ax.tickvals, ax.ticktext)}


def _series(trace: Any, fig: go.Figure | None = None) -> str:
    """One trace: its name and, for a short bar series, its values ("class 0: 0.397")."""
    name = _plain(getattr(trace, "name", "")) or trace.type
    if trace.type == "bar":
        x, y = trace.x or (), trace.y or ()
        horiz = trace.orientation == "h"
        cats, vals = (y, x) if horiz else (x, y)
        names = _category_names(fig, "yaxis" if horiz else "xaxis")
        cats = [names.get(c, c) for c in cats]
        pairs = [f"{class_name(c)}: {fmt_num(v)}" for c, v in zip(cats, vals)
                 if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if pairs and len(pairs) <= 12:
            return f"{name}: " + ", ".join(pairs)
    n = len(getattr(trace, "x", None) or getattr(trace, "z", None) or ())
    return f"{name} ({n} points)" if n else name
