"""Every figure of the app, drawn from a RunRecord (the notebook API's drawing half).

Thin, pure wrappers: they pick the fields of a record that the app's figure functions take,
so a notebook user never has to know those signatures. Same figures as the pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from bertviz_lite.engine.tasks import TASK_SPECS
from bertviz_lite.figures.compare import compare_bars, cost_figure
from bertviz_lite.figures.curves import compare_curves, loss_curve, metric_curves
from bertviz_lite.figures.gradflow import (
    frozen_at,
    grad_flow_bars,
    grad_flow_replay,
    grad_heatmap,
    update_ratio_chart,
)
from bertviz_lite.figures.sweep import backward_sweep
from bertviz_lite.figures.theme import DEFAULT_THEME, Theme
from bertviz_lite.record.runs import RunRecord


def need_record(value: object, function: str) -> RunRecord:
    """`value` when it is a RunRecord, else a TypeError of one line saying what to pass."""
    if not isinstance(value, RunRecord):
        raise TypeError(f"{function}() takes a RunRecord (what bv.train returns, or "
                        f"RunRecord.load('run.json')), not {type(value).__name__}: "
                        f"{value!r:.40}")
    return value


def flow(record: RunRecord, step: int = -1, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Gradient-flow bars of one step (default: the last); step indexes record.steps."""
    need_record(record, "flow")
    if not record.steps:
        return grad_flow_bars(record.groups, {}, record.frozen_groups, theme=theme)
    s = record.steps[step]
    return grad_flow_bars(record.groups, s.grad_norm, frozen_at(record, s), step=s.step,
                          theme=theme)


def replay(record: RunRecord, max_frames: int | None = 300,
           theme: Theme = DEFAULT_THEME) -> go.Figure:
    """The animated replay: one frame per recorded step (at most max_frames, spread evenly)."""
    need_record(record, "replay")
    return grad_flow_replay(record, max_frames=max_frames, theme=theme)


def heatmap(record: RunRecord, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Layers x steps: every group's gradient norm at every step."""
    need_record(record, "heatmap")
    return grad_heatmap(record, theme=theme)


def sweep(record: RunRecord, which: int = -1, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """The backward sweep (one backward pass, from the loss down) of a recorded sweep step.

    which: index into record.sweeps (the engine records the first and the last step).
    """
    need_record(record, "sweep")
    if not record.sweeps:
        raise ValueError("this run recorded no backward sweep: train with grad_flow=True")
    s = record.sweeps[which]
    return backward_sweep(record.groups, s["signal"], record.frozen_groups, theme=theme)


def update_ratios(record: RunRecord, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """||Δw|| / ||w|| per group over the steps."""
    need_record(record, "update_ratios")
    return update_ratio_chart(record, theme=theme)


def curves(record: RunRecord, theme: Theme = DEFAULT_THEME) -> tuple[go.Figure, go.Figure]:
    """(loss per step, metric on the validation and training splits)."""
    need_record(record, "curves")
    return loss_curve(record, theme=theme), metric_curves(record, theme=theme)


def comparison_figures(rows: list[dict[str, Any]], records: Mapping[str, RunRecord],
                       theme: Theme = DEFAULT_THEME) -> dict[str, go.Figure]:
    """The Compare page's figures from `Comparison.rows()` and its records (mode -> record):
    "scores" (ours beside the paper's, labelled as theirs), "cost", "curves"."""
    first = next(iter(records.values()))
    spec = TASK_SPECS[first.task]
    setup = f"{first.data.get('source', '?')} data"
    model = str(first.model.get("name", "?"))
    return {
        "scores": compare_bars(rows, spec.metric_title, theme,
                               setup=setup, model=model),
        "cost": cost_figure(rows, theme=theme),
        "curves": compare_curves(dict(records), theme=theme),
    }
