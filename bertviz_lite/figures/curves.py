"""Training curves: loss per step, metric per evaluation, and several modes side by side."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from bertviz_lite.engine.tasks import TASK_SPECS
from bertviz_lite.figures._steps import field
from bertviz_lite.figures.text import capitalise, fmt_num, is_finite, safe_text
from bertviz_lite.figures.theme import DEFAULT_THEME, Theme, mode_colour, style
from bertviz_lite.record.runs import EvalRecord, RunRecord

SPLIT_NAMES = {"train": "training set", "val": "validation set"}
SPLIT_DASH = {"train": "dash", "val": "solid"}  # the same on every figure


def _finite_or_none(values: list[Any]) -> list[float | None]:
    """Non-finite values become None, which plotly draws as a gap in the line."""
    return [float(v) if is_finite(v) else None for v in values]


def moving_average(values: list[float | None], window: int) -> list[float | None]:
    """Trailing mean over the last `window` finite values (None where the window has none).

    values: length N (None for missing); returns length N.
    """
    out: list[float | None] = []
    for i in range(len(values)):
        win = [v for v in values[max(0, i - window + 1): i + 1] if v is not None]
        out.append(sum(win) / len(win) if win else None)
    return out


def _smoothing_window(n: int) -> int:
    """About a tenth of the run, between 1 and 50 steps: smooth, but still follows the trend."""
    return max(1, min(50, n // 10))


def _metric_title(record: RunRecord) -> str:
    """How people call the run's primary metric ("accuracy", "span F1", "Pearson r")."""
    spec = TASK_SPECS.get(record.task)
    if spec is not None:
        return spec.metric_title
    return str(record.final.get("metric") or (record.evals[0].metric if record.evals else "metric"))


def _nan_marker(fig: go.Figure, xs: list[Any], ys: list[float | None], theme: Theme) -> None:
    """Mark the first step whose loss is not finite (a diverged run) with a red ✕ and a note."""
    bad = next((i for i, v in enumerate(ys) if v is None), None)
    if bad is None:
        return
    before = [v for v in ys[:bad] if v is not None]
    y = before[-1] if before else 0.0  # draw it where the curve was when it broke
    fig.add_trace(go.Scatter(x=[xs[bad]], y=[y], mode="markers", name="loss became NaN",
                             marker={"symbol": "x", "size": theme.marker_size * 2,
                                     "color": theme.alert}))
    fig.add_annotation(x=xs[bad], y=y, text="loss became NaN here", showarrow=True,
                       arrowcolor=theme.alert, arrowwidth=2, ax=-60, ay=-50,
                       font={"color": theme.alert, "size": theme.font_size})


def loss_curve(record: RunRecord, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Training loss per step (thin), its moving average (thick), validation loss (markers).

    record: a RunRecord (also a partial one during a live run). A loss that became None/NaN
    (a diverged run) is marked with a red ✕ and "loss became NaN here".
    """
    xs = [field(s, "step") for s in record.steps]
    ys = _finite_or_none([field(s, "loss") for s in record.steps])
    window = _smoothing_window(len(ys))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="training loss (each step)",
                             line={"color": theme.train_curve, "width": theme.thin_line},
                             opacity=0.45))
    if window > 1:
        fig.add_trace(go.Scatter(x=xs, y=moving_average(ys, window), mode="lines",
                                 name=f"training loss ({window}-step average)",
                                 line={"color": theme.train_curve, "width": theme.line_width}))
    val = [e for e in record.eval_curve("val") if is_finite(e.loss)]
    fig.add_trace(go.Scatter(x=[e.step for e in val], y=[e.loss for e in val],
                             mode="markers+lines", name="validation loss",
                             line={"color": theme.val_curve, "width": theme.thin_line,
                                   "dash": "dot"},
                             marker={"color": theme.val_curve, "size": theme.marker_size * 1.4,
                                     "symbol": "diamond"}))
    _nan_marker(fig, xs, ys, theme)
    fig.update_xaxes(title_text="training step", rangemode="tozero")
    fig.update_yaxes(title_text="loss")
    fig.update_layout(legend={"orientation": "h", "y": -0.25, "x": 0})
    subtitle = record.reason if record.status == "diverged" and record.reason else None
    return style(fig, theme, title="Loss", subtitle=subtitle)


def _eval_xy(evals: list[EvalRecord], x: str = "step") -> tuple[list[float], list[float]]:
    """x (step or epoch) and value of the evaluations with a finite value."""
    ok = [e for e in evals if is_finite(e.value)]
    return [getattr(e, x) for e in ok], [float(e.value) for e in ok]


def _baseline_line(fig: go.Figure, baseline: dict[str, Any], theme: Theme) -> None:
    """The score of a model that ignores its input, as a dashed line labelled with its name."""
    value = baseline.get("value")
    if not is_finite(value):
        return
    fig.add_shape(type="line", xref="paper", x0=0, x1=1, yref="y", y0=value, y1=value,
                  line={"color": theme.text, "dash": "dash", "width": theme.thin_line})
    name = safe_text(baseline.get("name", "no learning"))
    # The short label sits on the line, inside the plot even in a narrow column; the legend
    # carries the baseline's full name (it wraps, an annotation does not).
    fig.add_annotation(xref="paper", x=1, yref="y", y=value, xanchor="right", yanchor="bottom",
                       text=f"baseline {fmt_num(value)}", showarrow=False,
                       font={"color": theme.text}, bgcolor=theme.background, opacity=0.9)
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=f"baseline: {name}",
                             line={"color": theme.text, "dash": "dash", "width": theme.thin_line},
                             hoverinfo="skip"))


def _gap_note(fig: go.Figure, record: RunRecord, theme: Theme) -> None:
    """Annotate train − val at the last step evaluated on both splits (overfitting shows here)."""
    train = {e.step: e.value for e in record.eval_curve("train") if is_finite(e.value)}
    val = {e.step: e.value for e in record.eval_curve("val") if is_finite(e.value)}
    both = sorted(set(train) & set(val))
    if not both:
        return
    step = both[-1]
    t, v = train[step], val[step]
    fig.add_shape(type="line", x0=step, x1=step, y0=v, y1=t, xref="x", yref="y",
                  line={"color": theme.text, "width": theme.thin_line, "dash": "dot"})
    fig.add_annotation(x=step, y=(t + v) / 2, xanchor="right", xshift=-6, showarrow=False,
                       text=f"train − val gap: {t - v:.2f}", font={"color": theme.text},
                       bgcolor=theme.background, opacity=0.9)


def metric_curves(record: RunRecord, theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Validation and training metric against step, the baseline, and the final train-val gap.

    record: a RunRecord whose evals have split "val" and/or "train" (the training split is a
    re-scored subset); the baseline is record.baseline {"name", "value"}.
    """
    fig = go.Figure()
    for split, colour in (("train", theme.train_curve), ("val", theme.val_curve)):
        xs, ys = _eval_xy(record.eval_curve(split))
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=SPLIT_NAMES[split],
                                 line={"color": colour, "width": theme.line_width,
                                       "dash": SPLIT_DASH[split]},
                                 marker={"size": theme.marker_size, "color": colour}))
    _baseline_line(fig, record.baseline, theme)
    _gap_note(fig, record, theme)
    title = _metric_title(record)
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text=safe_text(title))
    fig.update_layout(legend={"orientation": "h", "y": -0.25, "x": 0})
    return style(fig, theme, title=f"{capitalise(title)}: training vs validation",
                 subtitle="a widening gap = overfitting")


def compare_curves(records: dict[str, RunRecord], theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Train and validation metric of several modes on one figure, x = epoch.

    records: {mode: RunRecord} (frozen / top-K / finetune); colour = mode, dash = split
    (training dashed, validation solid).
    """
    fig = go.Figure()
    for i, (mode, rec) in enumerate(records.items()):
        colour = mode_colour(mode, theme, i)
        for split in ("val", "train"):
            xs, ys = _eval_xy(rec.eval_curve(split), x="epoch")
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines+markers", legendgroup=safe_text(mode),
                name=f"{safe_text(mode)} · {SPLIT_NAMES[split]}",
                line={"color": colour, "width": theme.line_width, "dash": SPLIT_DASH[split]},
                marker={"size": theme.marker_size, "color": colour}))
    first = next(iter(records.values()), None)
    title = _metric_title(first) if first is not None else "metric"
    if first is not None:
        _baseline_line(fig, first.baseline, theme)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text=safe_text(title))
    # the legend at the figure's bottom edge, under the axis title whatever the height
    fig.update_layout(legend={"orientation": "h", "yref": "container", "y": 0,
                              "yanchor": "bottom", "x": 0})
    style(fig, theme,
          title=f"{capitalise(title)} by mode: training (dashed) vs validation (solid)")
    rows = -(-2 * len(records) // 2)  # two entries a row in a half-screen column
    fig.update_layout(margin_b=fig.layout.margin.b + int(theme.font_size * 1.7 * rows))
    return fig


def _fmt_seconds(s: float) -> str:
    """"12 s", "3 min 5 s", "1 h 2 min": rounded for a progress line, not a stopwatch."""
    s = max(0, int(round(s)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s < 600 else f"{round(s / 60)} min"
    return f"{s // 3600} h {(s % 3600) // 60} min"


def live_progress(step: int, total: int, elapsed_s: float) -> dict[str, Any]:
    """Progress of a running job for a progress bar: fraction, eta_seconds and a text line.

    step: steps done; total: steps planned (0 or less if unknown); elapsed_s: seconds since
    the first step. eta_seconds is None until a step has finished (no rate to go on yet).
    """
    if total <= 0:
        return {"fraction": 0.0, "eta_seconds": None, "text": f"step {step}"}
    step = max(0, min(step, total))
    fraction = step / total
    if step >= total:
        return {"fraction": 1.0, "eta_seconds": 0.0, "text": f"step {step} / {total} · done"}
    if step == 0 or not (is_finite(elapsed_s) and elapsed_s > 0):
        return {"fraction": fraction, "eta_seconds": None,
                "text": f"step {step} / {total} · starting"}
    eta = elapsed_s / step * (total - step)
    return {"fraction": fraction, "eta_seconds": eta,
            "text": f"step {step} / {total} · about {_fmt_seconds(eta)} left"}



def eval_points(total: int, steps_per_epoch: int, evals_per_epoch: int) -> list[int]:
    """The steps after which the trainer evaluates (the engine's rule: every
    steps_per_epoch // evals_per_epoch steps, and after the last step)."""
    if total <= 0:
        return []
    every = max(1, steps_per_epoch // evals_per_epoch) if evals_per_epoch > 0 else total
    return sorted({k for k in range(every, total + 1, every)} | {total})


def run_progress(step: int, total: int, elapsed_s: float, train_s: float, evals_done: int,
                 evals_total: int, evaluating: bool, since_step_s: float = 0.0) -> dict[str, Any]:
    """Progress of a run's training and evaluation together, for a progress bar.

    step, total: steps done and planned; elapsed_s: seconds from the start of the run to its
    newest step; train_s: the recorded seconds of the steps done (the rest of elapsed_s went
    to evaluation and setup); evals_done, evals_total: evaluation passes finished and
    planned; evaluating: one is running now; since_step_s: seconds since the newest step
    arrived. The estimate covers the steps and the evaluations still to come at the pace
    measured so far, and counts down while the run evaluates (it never grows then).
    Returns {"fraction", "eta_seconds" (None until measurable), "phase", "text"}.
    """
    phase = "evaluating" if evaluating else "training"
    if total <= 0:
        return {"fraction": 0.0, "eta_seconds": None, "phase": phase,
                "text": f"{phase}: step {step}"}
    step = max(0, min(step, total))
    where = (f"evaluating on the validation set after step {step} / {total}" if evaluating
             else f"training: step {step} / {total}")
    if step == 0 or not (is_finite(elapsed_s) and elapsed_s > 0):
        return {"fraction": 0.0, "eta_seconds": None, "phase": phase, "text": where}
    per_step = max(0.0, train_s) / step
    other = max(0.0, elapsed_s - train_s)
    per_eval = other / evals_done if evals_done else max(per_step * 2, 0.5)  # a first guess
    evals_left = max(0, evals_total - evals_done)
    eta = max(0.0, per_step * (total - step) + per_eval * evals_left - max(0.0, since_step_s))
    unit = per_eval / per_step if per_step > 0 else 0.0  # one evaluation in steps' worth
    work = total + evals_total * unit
    fraction = min(1.0, (step + evals_done * unit) / work) if work > 0 else step / total
    text = where + (f" · about {_fmt_seconds(eta)} left, evaluation included" if eta >= 1
                    else " · finishing")
    return {"fraction": fraction, "eta_seconds": eta, "phase": phase, "text": text}
