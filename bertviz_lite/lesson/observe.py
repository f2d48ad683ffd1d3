"""The observation of a step: its recorded artefacts drawn with the app's own figures.

`FIGURES` maps the names a lesson file may use in `figures = [...]` to builders
(artefacts, theme) -> plotly Figure. Builders read everything from the artefacts, so the
group names and layer count on screen are those of the model that was recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import plotly.graph_objects as go

from bertviz_lite.figures.theme import DEFAULT_THEME, Theme

Builder = Callable[[Sequence[Any], Theme], go.Figure]


def _first_run(arts: Sequence[Any]) -> Any:
    from bertviz_lite.record.runs import RunRecord

    for a in arts:
        if isinstance(a, RunRecord):
            return a
    raise ValueError("this figure needs a recorded run (runs/<task>-<mode>)")


def diagram_forward(arts: Sequence[Any], theme: Theme) -> go.Figure:
    """BERT as boxes, forward pass only, with the weight count of each group."""
    from bertviz_lite.figures import bert_diagram

    r = _first_run(arts)
    return bert_diagram(r.groups, r.frozen_groups, show_backward=False,
                        group_params=r.group_params, theme=theme)


def weights(arts: Sequence[Any], theme: Theme) -> go.Figure:
    """Weights per group of the recorded model, the frozen ones marked."""
    from bertviz_lite.figures.lesson import group_weights

    r = _first_run(arts)
    return group_weights(r.groups, r.group_params, r.frozen_groups, theme)


def diagram(arts: Sequence[Any], theme: Theme) -> go.Figure:
    """BERT as boxes with the backward arrows down to the first frozen group."""
    from bertviz_lite.figures import bert_diagram

    r = _first_run(arts)
    return bert_diagram(r.groups, r.frozen_groups, group_params=r.group_params, theme=theme)


def grad_flow(arts: Sequence[Any], theme: Theme) -> go.Figure:
    """Gradient norm per group at the run's last recorded step."""
    from bertviz_lite.figures import grad_flow_bars

    r = _first_run(arts)
    last = r.steps[-1]
    return grad_flow_bars(r.groups, last.grad_norm, r.frozen_groups, step=last.step,
                          theme=theme)


def backward(arts: Sequence[Any], theme: Theme) -> go.Figure:
    """The recorded backward sweep of the run's last swept step."""
    from bertviz_lite.figures import backward_sweep

    r = _first_run(arts)
    if not r.sweeps:
        raise ValueError("the run recorded no backward sweep")
    return backward_sweep(r.groups, r.sweeps[-1]["signal"], r.frozen_groups, theme=theme)


def cost(arts: Sequence[Any], theme: Theme) -> go.Figure:
    """Wall time, trainable weights, memory and GFLOPs of each run, side by side."""
    from bertviz_lite.experiments.compare import Comparison
    from bertviz_lite.figures import cost_figure

    runs = sorted(arts, key=lambda r: r.mode != "frozen")
    return cost_figure(Comparison({r.mode: r for r in runs}).rows(), theme=theme)


def wall_time(arts: Sequence[Any], theme: Theme) -> go.Figure:
    """Wall time of each recorded run, frozen first."""
    from bertviz_lite.figures.lesson import wall_time_bars

    runs = sorted(arts, key=lambda r: r.mode != "frozen")
    return wall_time_bars([r.label for r in runs], [r.cost["wall_seconds"] for r in runs],
                          runs[0].device, theme)


def reproduce(arts: Sequence[Any], theme: Theme) -> go.Figure:
    """Fine-tuned minus frozen on the four real tasks, ours beside the paper's."""
    from bertviz_lite.figures.lesson import reproduce_gaps

    return reproduce_gaps(arts[0].rows, theme=theme, setup=arts[0].setup)


def reproduce_ours(arts: Sequence[Any], theme: Theme) -> go.Figure:
    """Fine-tuned minus frozen on the four real tasks, ours only (the paper's come later)."""
    from bertviz_lite.figures.lesson import reproduce_gaps

    return reproduce_gaps(arts[0].rows, theme=theme, setup=arts[0].setup, paper=False)


def train_val(arts: Sequence[Any], theme: Theme) -> go.Figure:
    """Training and validation curves of each run (the overfitting gap)."""
    from bertviz_lite.figures import compare_curves

    fig = compare_curves({r.label: r for r in arts}, theme=theme)
    fig.update_layout(title_text="Training (dashed) vs validation (solid)",  # half a slide
                      height=fig.layout.height or (720 if theme.presenter else 480))
    return fig


def update_ratio(arts: Sequence[Any], theme: Theme) -> go.Figure:
    """How much each step changed each trainable group's weights."""
    from bertviz_lite.figures import update_ratio_chart

    return update_ratio_chart(_first_run(arts), theme=theme)


def change(arts: Sequence[Any], theme: Theme) -> go.Figure:
    """How much fine-tuning changed each group: the analysis's net relative weight change."""
    from bertviz_lite.figures.lesson import group_change_bars
    from bertviz_lite.lesson.artefacts import Changes

    a = arts[0]
    if not isinstance(a, Changes):  # a run records update ratios at a few steps, not this
        raise ValueError("this figure needs an inside-BERT analysis (changes/<name>)")
    groups = [g for g in a.groups if g in a.change]
    return group_change_bars(groups, [a.change[g] for g in groups],
                             "relative weight change", theme)


def learning(arts: Sequence[Any], theme: Theme) -> go.Figure:
    """Metric against training-set size per mode, every seed shown."""
    from bertviz_lite.figures.lesson import learning_curve

    sw = arts[0]
    sizes = sw.sizes()
    series = {m: [sw.values(m, s) for s in sizes] for m in sw.modes()}
    return learning_curve(sizes, series, sw.metric, theme)


def step_time(arts: Sequence[Any], theme: Theme) -> go.Figure:
    """Time per training step of every mode, measured side by side (runs/modes)."""
    from bertviz_lite.figures.lesson import step_time_bars
    from bertviz_lite.lesson.artefacts import as_mode_table

    t = as_mode_table(arts[0], "runs/modes")
    rows = t.rows_with("step_s")
    return step_time_bars([t.label(r) for r in rows], [r["mode"] for r in rows],
                          [r["step_s"] * 1000 for r in rows],
                          [int(r.get("trainable") or 0) for r in rows], t.machine, theme)


def forgetting(arts: Sequence[Any], theme: Theme) -> go.Figure:
    """What each mode lost of a pretrained skill while learning the task
    (runs/forgetting-modes)."""
    from bertviz_lite.figures.lesson import forgetting_bars
    from bertviz_lite.lesson.artefacts import as_mode_table

    t = as_mode_table(arts[0], "runs/forgetting-modes")
    rows = t.rows_with("drop")
    return forgetting_bars([t.label(r) for r in rows],
                           [r["mode"] for r in rows], [float(r["drop"]) for r in rows],
                           [f"{r.get('metric', 'score')} {float(r['value']):.3f}"
                            if r.get("value") is not None else "" for r in rows],
                           str(t.setup.get("skill", "?")),
                           float(t.setup.get("pearson_pretrained", "nan")), theme)


FIGURES: dict[str, Builder] = {
    "weights": weights,
    "diagram-forward": diagram_forward,
    "diagram": diagram,
    "grad-flow": grad_flow,
    "backward-sweep": backward,
    "wall-time": wall_time,
    "cost": cost,
    "reproduce": reproduce,
    "reproduce-ours": reproduce_ours,
    "train-val": train_val,
    "update-ratio": update_ratio,
    "change": change,
    "learning-curve": learning,
    "step-time": step_time,
    "forgetting": forgetting,
}


LABELS: dict[str, str] = {  # tab labels on the Lesson page
    "weights": "Weights per group", "diagram-forward": "Forward pass", "diagram": "Diagram",
    "grad-flow": "Gradient per group", "backward-sweep": "One backward pass",
    "wall-time": "Time", "cost": "Every cost", "reproduce": "Four tasks",
    "reproduce-ours": "Four tasks (ours)",
    "train-val": "Train vs validation", "update-ratio": "Updates per step",
    "change": "Change per group", "learning-curve": "Learning curves",
    "step-time": "Time per step", "forgetting": "Forgetting",
}


def observation(names: Sequence[str], arts: Sequence[Any],
                theme: Theme = DEFAULT_THEME) -> list[tuple[str, go.Figure]]:
    """(name, figure) for each figure of a step, drawn from its loaded artefacts."""
    return [(n, FIGURES[n](arts, theme)) for n in names]
