"""Figures: invariants, not pixels. Records are built by hand, so every answer is known."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import pytest

from bertviz_lite import figures as F
from bertviz_lite.record.runs import EvalRecord, RunRecord, StepRecord

EVIL = "<img src=x onerror=alert(1)>"
GROUPS = ["embeddings", "layer.0", "layer.1", "head"]


# ---------------------------------------------------------------- helpers and records


def strings(obj: object) -> list[str]:
    """Every string anywhere in a figure's JSON (data, layout, frames)."""
    if isinstance(obj, go.Figure):
        obj = json.loads(obj.to_json())
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in strings(v)]
    if isinstance(obj, (list, tuple)):
        return [s for v in obj for s in strings(v)]
    return []


def assert_escaped(fig: go.Figure) -> None:
    """The malicious string shows up only escaped, never as markup."""
    texts = strings(fig)
    assert not any("<img" in s for s in texts), [s for s in texts if "<img" in s]
    assert any("&lt;img" in s for s in texts)


def step(i: int, grad: dict[str, float], ratio: dict[str, float] | None = None,
         loss: float = 0.7) -> StepRecord:
    return StepRecord(step=i, epoch=(i - 1) // 10, loss=loss, lr=1e-3, grad_norm=grad,
                      update_ratio=ratio if ratio is not None else dict.fromkeys(grad, 1e-3),
                      seconds=0.01)


def make_record(mode: str = "frozen", n: int = 5, groups: list[str] | None = None,
                train_vals: tuple[float, ...] = (0.5, 0.8, 0.95),
                val_vals: tuple[float, ...] = (0.5, 0.75, 0.78)) -> RunRecord:
    """A run over `groups`: frozen (only the head learns) or finetune (every group learns).

    Gradient norms are known: head 0.5 + 0.1 i, lower groups a tenth per group further down.
    """
    groups = list(groups or GROUPS)
    frozen = groups[:-1] if mode == "frozen" else []
    steps = []
    for i in range(1, n + 1):
        grad = {g: 0.0 if g in frozen else (0.5 + 0.1 * i) * 10.0 ** (k - len(groups) + 1)
                for k, g in enumerate(groups)}
        steps.append(step(i, grad, loss=1.0 / i))
    points = [0, n // 2, n]
    evals = []
    for s, tv, vv in zip(points, train_vals, val_vals):
        evals.append(EvalRecord(step=s, epoch=s / n, split="val", metric="accuracy", value=vv,
                                loss=1.0 - vv))
        evals.append(EvalRecord(step=s, epoch=s / n, split="train", metric="accuracy", value=tv,
                                loss=1.0 - tv))
    return RunRecord(config={"task": "sentiment", "mode": mode}, groups=groups,
                     frozen_groups=frozen, trainable_params=10, total_params=100, device="cpu",
                     steps=steps, evals=evals, status="completed",
                     baseline={"name": "majority class 'pos'", "metric": "accuracy",
                               "value": 0.5})


def trace_by_name(fig: go.Figure, name: str) -> go.BaseTraceType:
    return next(t for t in fig.data if t.name == name)


# ---------------------------------------------------------------- text and theme


def test_safe_text_escapes_markup_with_entities_plotly_understands() -> None:
    assert F.safe_text(EVIL) == "&lt;img src=x onerror=alert(1)&gt;"
    # plotly's entity table has no &quot;: a double quote must become a numeric entity
    assert F.safe_text('a "b" & \'c\'') == "a &#34;b&#34; &amp; &#x27;c&#x27;"


def test_presenter_theme_is_large_and_themes_are_hashable() -> None:
    assert F.PRESENTER_THEME.font_size >= 22
    assert F.PRESENTER_THEME.line_width > F.DEFAULT_THEME.line_width
    assert F.PRESENTER_THEME.presenter and not F.DEFAULT_THEME.presenter
    assert hash(F.DEFAULT_THEME) != hash(F.PRESENTER_THEME)  # usable as a cache key
    with pytest.raises(dataclasses.FrozenInstanceError):
        F.DEFAULT_THEME.font_size = 3  # type: ignore[misc]


def test_style_applies_fonts_and_escapes_the_title() -> None:
    fig = F.style(go.Figure(), F.PRESENTER_THEME, title=EVIL, height=500, subtitle=EVIL)
    assert fig.layout.font.size == F.PRESENTER_THEME.font_size
    assert fig.layout.title.font.size == F.PRESENTER_THEME.title_size
    assert fig.layout.height == 500
    assert_escaped(fig)


# ---------------------------------------------------------------- gradient flow


def test_grad_flow_bars_one_slot_per_group_in_input_to_output_order() -> None:
    r = make_record("frozen")
    fig = F.grad_flow_bars(r.groups, r.steps[-1].grad_norm, r.frozen_groups, step=5)
    assert list(fig.layout.yaxis.categoryarray) == GROUPS  # index 0 drawn at the bottom
    assert fig.layout.xaxis.type == "log"
    for trace in fig.data:
        assert list(trace.y) == GROUPS
    bars = trace_by_name(fig, "‖∂L/∂W‖ per group")
    assert bars.x[-1] == pytest.approx(1.0) and bars.x[:-1] == (None, None, None)
    # frozen groups keep their rows, drawn empty (no trace has a bar there), never left out
    for trace in fig.data:
        assert all(x is None for x in trace.x[:-1])
    band = [s for s in fig.layout.shapes if s.type == "rect"]
    wall = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(band) == 1 and (band[0].y0, band[0].y1) == (-0.5, 2.5)
    assert len(wall) == 1 and wall[0].y0 == wall[0].y1 == 2.5  # above layer.1, under the head
    labels = [a for a in fig.layout.annotations if "no gradient" in (a.text or "")]
    assert len(labels) == 1 and labels[0].y == 1  # inside the empty band, never over a value
    assert "step 5" in fig.layout.title.text
    fig.to_json()


def test_zero_nan_and_missing_norms_never_crash_the_log_axis() -> None:
    grad = {"embeddings": 0.0, "layer.0": float("nan"), "layer.1": None, "head": 0.0}
    fig = F.grad_flow_bars(GROUPS, grad, [])  # type: ignore[arg-type]
    zero = [a for a in fig.layout.annotations if a.text == "no gradient (0.0)"]
    assert sorted(a.y for a in zero) == [0, 3]  # in their own rows
    missing = trace_by_name(fig, "not finite (NaN)")
    assert missing.text[1] == "not finite (NaN)" and missing.text[2] == "not finite (NaN)"
    lo, hi = fig.layout.xaxis.range
    assert math.isfinite(lo) and math.isfinite(hi) and hi > lo
    fig.to_json()
    # a group absent from the dict is drawn as "not recorded", not dropped
    fig = F.grad_flow_bars(GROUPS, {"head": 0.3}, [])
    assert trace_by_name(fig, "not finite (NaN)").text[0] == "not recorded"
    # nothing is "not finite" here: the empty alert trace carries no name to describe
    fig = F.grad_flow_bars(GROUPS, {g: 0.5 for g in GROUPS}, [])
    assert [t.name for t in fig.data if t.name] == ["‖∂L/∂W‖ per group"]


def test_norm_range_ignores_zero_none_nan_and_reads_every_input_kind() -> None:
    steps = [step(1, {"a": 0.0, "b": 0.02}), {"grad_norm": {"a": None, "b": 3.0}},
             {"a": float("nan"), "b": float("inf")}]
    lo, hi = F.norm_range(steps)
    assert lo <= math.log10(0.02) and hi >= math.log10(3.0)
    assert (lo, hi) == (-2.0, 1.0)
    assert F.norm_range([{"a": 0.0}]) == (-4.0, 1.0)  # nothing usable: a sane default
    r = make_record("finetune")
    assert F.norm_range([r]) == F.norm_range(r.steps)


def test_replay_has_one_frame_per_step_and_fixed_ranges() -> None:
    r = make_record("finetune", n=12)
    fig = F.grad_flow_replay(r)
    assert len(fig.frames) == len(r.steps)
    assert [f.name for f in fig.frames] == [str(s.step) for s in r.steps]
    assert list(fig.layout.xaxis.range) == list(F.norm_range(r.steps))
    for frame in fig.frames:
        assert len(frame.data) == 2 and list(frame.traces) == [0, 1]
        assert all(len(t.x) == len(GROUPS) for t in frame.data)
        assert "xaxis" not in frame.layout.to_plotly_json()  # the axis never moves
    play = fig.layout.updatemenus[0].buttons[0]
    assert play.args[1]["frame"]["redraw"] is False
    assert len(fig.layout.sliders[0].steps) == len(r.steps)
    fig.to_json()


def test_replay_subsamples_evenly_keeping_first_and_last() -> None:
    r = make_record("finetune", n=50)
    fig = F.grad_flow_replay(r, max_frames=7)
    names = [int(f.name) for f in fig.frames]
    assert len(names) == 7 and names[0] == 1 and names[-1] == 50
    assert names == sorted(set(names))
    assert len(F.grad_flow_replay(r, max_frames=500).frames) == 50
    assert [f.name for f in F.grad_flow_replay(r, max_frames=1).frames] == ["1", "50"]


def test_replay_of_a_diverged_run_and_of_an_empty_run() -> None:
    r = make_record("finetune", n=4)
    r.steps[2].grad_norm = {g: float("nan") for g in GROUPS}
    r.steps[3].grad_norm = {}
    r.steps[3].loss = float("nan")
    fig = F.grad_flow_replay(r)
    assert len(fig.frames) == 4
    assert list(fig.frames[2].data[1].text) == ["not finite (NaN)"] * 4
    fig.to_json()
    empty = dataclasses.replace(r, steps=[])
    fig = F.grad_flow_replay(empty)
    assert len(fig.frames) == 0
    assert any("no steps" in (a.text or "") for a in fig.layout.annotations)


def test_grad_heatmap_is_groups_by_steps_with_a_frozen_band() -> None:
    r = make_record("frozen", n=6)
    fig = F.grad_heatmap(r)
    for trace in fig.data:
        z = np.array(trace.z, dtype=object)
        assert z.shape == (len(GROUPS), len(r.steps))
    value, wall = fig.data[0].z, fig.data[1].z
    assert all(v is None for v in value[0]) and all(w == 1 for w in wall[0])
    assert value[-1][0] == pytest.approx(math.log10(0.6))
    assert any("frozen" in (a.text or "") for a in fig.layout.annotations)
    assert list(fig.data[0].x) == [s.step for s in r.steps]
    fig.to_json()


def test_update_ratio_chart_skips_unmeasured_steps_and_frozen_groups() -> None:
    r = make_record("finetune", n=20)
    for s in r.steps:
        if s.step % 10 != 1:
            s.update_ratio = {}  # large models: measured every 50th step
    fig = F.update_ratio_chart(r)
    lines = [t for t in fig.data if t.name in GROUPS]
    assert [t.name for t in lines] == GROUPS
    assert all(list(t.x) == [1, 11] for t in lines)
    assert fig.layout.yaxis.type == "log"
    ref = trace_by_name(fig, "≈1e-3 rule of thumb")
    assert set(ref.y) == {1e-3} and "≈1e-3 rule of thumb" in ref.text
    frozen = F.update_ratio_chart(make_record("frozen"))
    assert [t.name for t in frozen.data if t.name in GROUPS] == ["head"]
    fig.to_json()


# ---------------------------------------------------------------- curves


def test_loss_curve_marks_the_step_where_loss_became_nan() -> None:
    r = make_record("finetune", n=30)
    r.steps[20].loss = float("nan")
    r.status, r.reason = "diverged", "the loss became NaN at step 21: lower the learning rate"
    fig = F.loss_curve(r)
    raw = trace_by_name(fig, "training loss (each step)")
    assert len(raw.y) == 30 and raw.y[20] is None
    assert trace_by_name(fig, "training loss (3-step average)").y[-1] is not None
    assert trace_by_name(fig, "loss became NaN").x == (21,)
    assert any(a.text == "loss became NaN here" for a in fig.layout.annotations)
    assert list(trace_by_name(fig, "validation loss").x) == [0, 15, 30]
    fig.to_json()
    healthy = F.loss_curve(make_record("frozen"))
    assert not any(t.name == "loss became NaN" for t in healthy.data)


def test_metric_curves_show_baseline_and_train_val_gap() -> None:
    r = make_record("finetune", train_vals=(0.5, 0.9, 0.95), val_vals=(0.5, 0.8, 0.78))
    r.baseline["name"] = EVIL
    fig = F.metric_curves(r)
    assert list(trace_by_name(fig, "validation set").y) == [0.5, 0.8, 0.78]
    assert list(trace_by_name(fig, "training set").y) == [0.5, 0.9, 0.95]
    notes = [a.text for a in fig.layout.annotations]
    assert "baseline 0.5" in notes  # short on the line, the full (escaped) name in the legend
    assert any(t.name.startswith("baseline: &lt;img") for t in fig.data)
    assert "train − val gap: 0.17" in notes
    assert fig.layout.shapes[0].line.dash == "dash"
    assert_escaped(fig)


def test_compare_curves_colour_by_mode_dash_by_split() -> None:
    recs = {"frozen": make_record("frozen"), "top-1": make_record("finetune"),
            "finetune": make_record("finetune")}
    fig = F.compare_curves(recs)
    assert len(fig.data) == 7  # 3 modes x 2 splits, and the baseline's legend entry
    assert fig.data[6].name.startswith("baseline: ")
    assert fig.data[0].name == "frozen · validation set"
    assert fig.data[0].line.dash == "solid" and fig.data[1].line.dash == "dash"
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[4].line.color
    assert list(fig.data[0].x) == [0.0, 0.4, 1.0]  # epochs, not steps
    fig.to_json()


def test_live_progress() -> None:
    p = F.live_progress(37, 90, 10.0)
    assert p["fraction"] == pytest.approx(37 / 90)
    assert p["eta_seconds"] == pytest.approx(10.0 / 37 * 53)
    assert p["text"] == "step 37 / 90 · about 14 s left"
    assert F.live_progress(0, 90, 0.0)["eta_seconds"] is None
    assert F.live_progress(90, 90, 20.0) == {"fraction": 1.0, "eta_seconds": 0.0,
                                             "text": "step 90 / 90 · done"}
    assert "min" in F.live_progress(1, 100, 10.0)["text"]


# ---------------------------------------------------------------- backward sweep


def test_sweep_stops_at_the_frozen_boundary() -> None:
    groups = ["embeddings", "layer.0", "layer.1", "layer.2", "head"]
    frozen = ["embeddings", "layer.0"]
    signal = {"embeddings": 0.0, "layer.0": 0.0, "layer.1": 0.2, "layer.2": 0.4, "head": 1.5}
    assert F.sweep_frames_count(groups, signal) == 4
    fig = F.backward_sweep(groups, signal, frozen)
    assert len(fig.frames) == 4
    rows = list(groups) + ["loss"]
    first = fig.frames[0].data[1].x
    assert [rows[i] for i, x in enumerate(first) if x is not None] == ["loss"]
    for k, frame in enumerate(fig.frames):
        lit = [rows[i] for i, x in enumerate(frame.data[1].x) if x is not None]
        assert len(lit) == k + 1  # the loss plus the k topmost groups
        assert not set(lit) & set(frozen)  # frozen groups are never lit
    last = fig.frames[-1].data[2]
    assert last.y == ("layer.0",) and "backprop stops here" in last.text[0]
    assert all(f.data[2].y == (None,) for f in fig.frames[:-1])
    fig.to_json()


def test_sweep_reaches_the_embeddings_when_everything_trains() -> None:
    signal = {g: 0.1 * (i + 1) for i, g in enumerate(GROUPS)}
    fig = F.backward_sweep(GROUPS, signal, [])
    assert len(fig.frames) == len(GROUPS) + 1
    assert all(x is not None for x in fig.frames[-1].data[1].x)
    assert "reaches the embeddings" in fig.frames[-1].data[2].text[0]


@pytest.mark.parametrize("theme", [F.DEFAULT_THEME, F.PRESENTER_THEME], ids=["normal", "presenter"])
def test_sweep_labels_never_shrink_below_the_tick_size(theme) -> None:
    """A value on a short bar stays readable: plotly may not shrink it to fit the bar."""
    signal = {g: 10.0 ** -(len(GROUPS) - i) for i, g in enumerate(GROUPS)}
    fig = F.backward_sweep(GROUPS, signal, [], theme=theme)
    assert fig.layout.uniformtext.minsize == theme.tick_size
    assert fig.layout.uniformtext.mode == "show"
    for frame in fig.frames:
        assert frame.data[0].textfont.size == frame.data[1].textfont.size == theme.tick_size


# ---------------------------------------------------------------- comparisons


def test_compare_ticks_wrap_instead_of_rotating() -> None:
    tick = F.compare.mode_tick("frozen (task model (BiLSTM max/mean pool))")
    assert tick == "frozen<br>(task model<br>(BiLSTM max/mean<br>pool))"
    assert all(len(line) <= 16 for line in tick.split("<br>"))
    assert F.compare.mode_tick("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"
    fig = F.compare_bars([{"mode": "frozen (scalar-mix)", "value": 0.7, "baseline": 0.5,
                           "paper": None}], "accuracy", setup="s", model="m")
    assert fig.layout.xaxis.tickangle == 0 and fig.data[0].x == ("frozen (scalar-mix)",)
    assert fig.layout.xaxis.ticktext == ("frozen<br>(scalar-mix)",)


def test_compare_bars_label_paper_and_ours_distinctly() -> None:
    rows = [{"mode": "frozen", "value": 0.758, "baseline": 0.5, "paper": 93.0,
             "paper_matches": True},
            {"mode": "top-2", "value": 0.77, "baseline": 0.5, "paper": None,
             "paper_matches": False},
            {"mode": "finetune", "value": 0.8, "baseline": 0.5, "paper": 93.5,
             "paper_matches": True}]
    fig = F.compare_bars(rows, "accuracy", setup="480 examples", model="tiny BERT")
    ours, paper = fig.data
    assert ours.name == "ours (tiny BERT, 480 examples)"
    assert paper.name.startswith("paper (BERT-base")
    assert "paper" not in ours.name and "ours" not in paper.name
    assert ours.marker.color != paper.marker.color and paper.marker.pattern.shape == "/"
    assert list(ours.y) == pytest.approx([75.8, 77.0, 80.0])
    assert list(paper.y) == [93.0, None, 93.5]  # the paper has no top-K row
    assert all(t.startswith("ours") for t in ours.text)
    assert [t for t in paper.text if t] == ["paper 93.0", "paper 93.5"]
    assert fig.layout.yaxis.range == (0, 110)
    fig.to_json()


def test_cost_figure_annotates_the_measured_ratio_beside_the_slide() -> None:
    rows = [{"mode": "frozen", "wall_s": 2.0, "trainable": 770, "peak_mb": 600.0,
             "gflops": 100.0},
            {"mode": "finetune", "wall_s": 12.0, "trainable": 22_000_000, "peak_mb": 1100.0,
             "gflops": 300.0}]
    fig = F.cost_figure(rows)
    assert len(fig.data) == 4
    assert any("6.0× frozen (slide: ~10×)" in (a.text or "") for a in fig.layout.annotations)
    assert fig.layout.yaxis2.type == "log"  # trainable parameters
    no_ratio = F.cost_figure(rows[:1])
    assert "run both" in no_ratio.layout.title.subtitle.text
    fig.to_json()


def test_paper_table_matches_the_slide() -> None:
    table = F.paper_table()
    # Peters, Ruder & Smith (2019), Table 2, BERT-base (frozen, fine-tuned), typed from the paper
    slide = {"ner": (92.2, 92.4), "sentiment": (93.0, 93.5), "paraphrase": (78.1, 84.8),
             "similarity": (82.9, 87.1)}
    assert {r["task"]: (r["frozen"], r["finetune"]) for r in table} == slide
    assert {r["task"]: r["dataset"] for r in table} == {
        "ner": "CoNLL-2003", "sentiment": "SST-2", "paraphrase": "MRPC", "similarity": "STS-B"}
    assert all({"task", "metric", "frozen", "finetune"} <= set(r) for r in table)


# ---------------------------------------------------------------- forward pass


TOKENS = ["[CLS]", "the", EVIL, "the", "##s", "[SEP]"]


def test_hidden_norm_heatmap_keeps_duplicate_tokens_apart_and_escapes() -> None:
    norms = np.arange(3 * len(TOKENS), dtype=float).reshape(3, len(TOKENS))
    fig = F.hidden_norm_heatmap(TOKENS, norms)
    heat = fig.data[0]
    assert np.array(heat.z).shape == (3, len(TOKENS))
    assert list(heat.y) == ["embeddings", "layer 0", "layer 1"]
    assert list(fig.layout.xaxis.tickvals) == list(range(len(TOKENS)))  # "the" twice
    assert fig.layout.xaxis.ticktext[1] == fig.layout.xaxis.ticktext[3] == "the"
    assert_escaped(fig)
    with pytest.raises(ValueError, match="expected"):
        F.hidden_norm_heatmap(TOKENS, norms[:, :2])


def test_hidden_norm_animation_steps_through_layers_with_a_fixed_range() -> None:
    norms = np.ones((4, len(TOKENS))) * np.arange(1, 5)[:, None]
    fig = F.hidden_norm_animation(TOKENS, norms)
    assert [f.name for f in fig.frames] == ["embeddings", "layer 0", "layer 1", "layer 2"]
    assert [s.label for s in fig.layout.sliders[0].steps] == [f.name for f in fig.frames]
    assert fig.layout.yaxis.range == (0, pytest.approx(4.4))
    assert_escaped(fig)


def test_probability_bars_sorted_with_the_prediction_on_top() -> None:
    fig = F.probability_bars(["neg", EVIL, "neutral"], [0.2, 0.7, 0.1])
    bar = fig.data[0]
    assert list(bar.x) == [0.1, 0.2, 0.7]
    assert fig.layout.yaxis.ticktext[-1].startswith("&lt;img")
    assert bar.marker.color[-1] == F.DEFAULT_THEME.trainable
    assert len(set(bar.marker.color)) == 2
    assert_escaped(fig)
    F.score_gauge(3.2).to_json()
    F.score_gauge(float("nan")).to_json()


# ---------------------------------------------------------------- attention


def test_attention_heatmap_segments_and_escaping() -> None:
    t = len(TOKENS)
    attn = np.full((t, t), 1.0 / t)
    fig = F.attention_heatmap(TOKENS, attn, title=EVIL, segments=[0, 0, 0, 1, 1, 1])
    assert fig.layout.yaxis.range == (t - 0.5, -0.5)  # first token on top, like a matrix
    xs = sorted({s.x0 for s in fig.layout.shapes if s.x0 == s.x1})
    assert xs == [2.5]
    labels = [a.text for a in fig.layout.annotations]
    assert "sentence A" in labels and "sentence B" in labels
    assert_escaped(fig)
    with pytest.raises(ValueError, match="expected"):
        F.attention_heatmap(TOKENS, attn[:2, :2], title="x")


def test_head_summary_known_answers() -> None:
    t = 4
    eye = np.eye(t)
    uniform = np.full((t, t), 1 / t)
    prev = np.zeros((t, t))
    prev[0, 0] = 1
    for i in range(1, t):
        prev[i, i - 1] = 1
    attn = np.stack([np.stack([eye, uniform, prev])])  # (L=1, H=3, T, T)
    s = F.head_summary(attn, ["[CLS]", "a", "b", "[SEP]"])
    assert s["entropy"][0].tolist() == pytest.approx([0.0, 2.0, 0.0])
    assert s["diagonal"][0].tolist() == pytest.approx([1.0, 0.25, 0.25])
    assert s["previous"][0].tolist() == pytest.approx([0.0, 0.25, 1.0])
    assert s["to_cls"][0].tolist() == pytest.approx([0.25, 0.25, 0.5])
    assert s["to_sep"][0].tolist() == pytest.approx([0.25, 0.25, 0.0])
    assert np.isnan(F.head_summary(attn)["to_sep"]).all()  # needs tokens


def test_head_grid_and_attention_diff() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((2, 3, len(TOKENS), len(TOKENS)))
    a /= a.sum(-1, keepdims=True)
    fig = F.head_grid(a, TOKENS, stat="to_cls")
    assert np.array(fig.data[0].z).shape == (2, 3)
    assert "to_sep" in fig.data[0].hovertemplate and "entropy" in fig.data[0].hovertemplate
    fig.to_json()
    with pytest.raises(ValueError, match="entropy"):
        F.head_grid(a, TOKENS, stat="nope")
    diff = F.attention_diff_heatmap(TOKENS, a[1, 0], a[0, 0], EVIL)
    heat = diff.data[0]
    assert heat.zmid == 0 and heat.zmin == -heat.zmax
    assert np.array(heat.z) == pytest.approx(a[1, 0] - a[0, 0])
    assert_escaped(diff)


# ---------------------------------------------------------------- attribution


def test_token_attribution_html_escapes_and_joins_word_pieces() -> None:
    out = F.token_attribution_html(["play", "##ing", EVIL, '"q"'], [1.0, -1.0, 2.0, 0.0],
                                   title=EVIL, towards=EVIL)
    assert "<img" not in out
    assert out.count("&lt;img src=x onerror=alert(1)&gt;") >= 3  # title, text, tooltip
    assert "&quot;q&quot;" in out
    assert "</span><span" in out  # "##ing" attaches to "play" with no space between
    assert ">##ing</span>" in out and "##ing:" in out  # the piece keeps its marker
    # raw attributions, coloured relative to the largest (2.0), the raw value in the tooltip
    assert "rgba(0, 158, 115, 0.400)" in out and "rgba(213, 94, 0, 0.400)" in out
    assert "rgba(0, 158, 115, 0.800)" in out and 'title="play: +1.000"' in out
    assert "share" not in out
    assert "<script" not in out.lower()
    with pytest.raises(ValueError):
        F.token_attribution_html(["a"], [0.1, 0.2])


def test_word_pieces_never_read_as_words():
    """"forget" "##table": a piece has its own colour box, so without its "##" it would read
    as the word "table"; every piece the tokenizer marked shows the marker."""
    import html as _html

    out = F.token_attribution_html(["[CLS]", "a", "forget", "##table", "mess", "[SEP]"],
                                   [0.0, 0.1, -0.5, -0.4, -0.9, 0.0])
    shown = [_html.unescape(t) for t in re.findall(r'>([^<>"]*)</span>', out)]
    assert "##table" in shown and "table" not in shown
    assert "forget</span><span" in out  # and it sits against its word, no space between


def test_attribution_bars_colour_by_sign() -> None:
    fig = F.attribution_bars(TOKENS, [0.5, -0.2, 0.1, 0.0, float("nan"), -0.9])
    bar = fig.data[0]
    assert bar.marker.color[0] != bar.marker.color[1]
    assert bar.y[4] is None
    assert_escaped(fig)


# ---------------------------------------------------------------- diagram


def _arrows(fig: go.Figure, colour: str) -> list[go.layout.Annotation]:
    return [a for a in fig.layout.annotations if a.showarrow and a.arrowcolor == colour]


def test_bert_diagram_backward_arrows_stop_at_the_first_frozen_group() -> None:
    theme = F.DEFAULT_THEME
    groups = ["embeddings", "layer.0", "layer.1", "pooler", "head"]
    frozen = F.bert_diagram(groups, groups[:-1])
    assert len(_arrows(frozen, theme.forward)) == len(groups) + 1  # input, every box, loss
    assert len(_arrows(frozen, theme.backward)) == 1  # loss -> head, then it stops
    texts = [a.text or "" for a in frozen.layout.annotations]
    assert any("gradient stops" in t for t in texts)
    assert sum("frozen" in t for t in texts) == 4
    boxes = [s for s in frozen.layout.shapes if s.type == "rect" and s.name != "lock"]
    assert len(boxes) == len(groups) + 1
    # every frozen box has a drawn padlock (body + shackle), never an emoji glyph
    assert len([s for s in frozen.layout.shapes if s.name == "lock"]) == 2 * 4
    assert not any("\U0001f512" in t for t in texts)
    assert frozen.layout.title.text == "Frozen BERT"
    assert frozen.layout.title.subtitle.text == "the gradient stops at the head"

    top = F.bert_diagram(groups, groups[:2])
    assert len(_arrows(top, theme.backward)) == 3  # loss -> head -> pooler -> layer.1
    assert top.layout.title.text == "Top 1 layer train"

    full = F.bert_diagram(groups, [])
    assert len(_arrows(full, theme.backward)) == len(groups)
    assert not any("gradient stops" in (a.text or "") for a in full.layout.annotations)

    forward_only = F.bert_diagram(groups, groups[:-1], show_backward=False)
    assert not _arrows(forward_only, theme.backward)
    assert_escaped(F.bert_diagram([EVIL, "head"], [EVIL]))


# ---------------------------------------------------------------- export


def test_figure_html_is_self_contained() -> None:
    html = F.figure_html(F.grad_flow_bars(GROUPS, {"head": 1.0}, GROUPS[:-1]))
    assert "<html" in html and "Plotly.newPlot" in html
    assert len(html) > 1_000_000  # plotly.js itself is inlined
    assert re.search(r"<script[^>]*\bsrc=", html) is None  # nothing loaded from elsewhere
    assert "cdn.plot.ly/plotly" not in html  # no CDN copy of plotly.js is loaded
    # plotly.min.js carries "https://cdn.plot.ly/un/" as the default URL of geo map files;
    # it is only fetched by geo traces, which bertviz-lite never draws.
    assert "cdn.plot.ly" not in html.replace("https://cdn.plot.ly/un/", "")


def test_steps_table_one_row_per_step_and_a_column_per_group() -> None:
    r = make_record("finetune", n=7)
    r.steps[3].update_ratio = {}
    table = F.steps_table(r)
    assert len(table) == 7
    assert list(table.columns[:5]) == ["step", "epoch", "loss", "lr", "seconds"]
    for g in GROUPS:
        assert f"grad_norm/{g}" in table.columns and f"update_ratio/{g}" in table.columns
    assert table["grad_norm/head"].iloc[0] == pytest.approx(0.6)
    assert np.isnan(table["update_ratio/head"].iloc[3])
    assert table.to_csv(index=False).count("\n") == 8


# ---------------------------------------------------------------- everything together


@functools.cache  # built once: plotly's validation makes figures slow to construct
def every_figure() -> dict[str, go.Figure]:
    r = make_record("frozen", n=8)
    rows = [{"mode": "frozen", "value": 0.7, "baseline": 0.5, "wall_s": 1.0, "trainable": 770,
             "peak_mb": 500.0, "gflops": 1.0}]
    t = len(TOKENS)
    a = np.full((2, 2, t, t), 1.0 / t)
    return {
        "grad_flow_bars": F.grad_flow_bars(GROUPS, {"head": 1.0}, GROUPS[:-1], step=1),
        "grad_flow_replay": F.grad_flow_replay(r, max_frames=3),
        "grad_heatmap": F.grad_heatmap(r),
        "update_ratio_chart": F.update_ratio_chart(r),
        "loss_curve": F.loss_curve(r),
        "metric_curves": F.metric_curves(r),
        "compare_curves": F.compare_curves({"frozen": r}),
        "backward_sweep": F.backward_sweep(GROUPS, {"head": 1.0}, GROUPS[:-1]),
        "compare_bars": F.compare_bars(rows, "accuracy", setup="s", model="m"),
        "cost_figure": F.cost_figure(rows),
        "hidden_norm_heatmap": F.hidden_norm_heatmap(TOKENS, np.ones((3, t))),
        "hidden_norm_animation": F.hidden_norm_animation(TOKENS, np.ones((3, t))),
        "probability_bars": F.probability_bars(["a", "b"], [0.4, 0.6]),
        "score_gauge": F.score_gauge(2.5),
        "attention_heatmap": F.attention_heatmap(TOKENS, a[0, 0], title="L0 H0"),
        "head_grid": F.head_grid(a, TOKENS),
        "attention_diff_heatmap": F.attention_diff_heatmap(TOKENS, a[0, 0], a[1, 1]),
        "attribution_bars": F.attribution_bars(TOKENS, [0.1] * t),
        "bert_diagram": F.bert_diagram(GROUPS, GROUPS[:-1]),
        "presenter": F.bert_diagram(GROUPS, [], theme=F.PRESENTER_THEME),
    }


@pytest.mark.parametrize("name", list(every_figure()))
def test_every_figure_serialises(name: str) -> None:
    fig = every_figure()[name]
    assert isinstance(fig, go.Figure)
    json.loads(fig.to_json())


def test_malicious_group_and_mode_names_are_escaped_everywhere() -> None:
    groups = [EVIL, "layer.0", "head"]
    r = make_record("frozen", n=3, groups=groups)
    r.config["mode"] = EVIL
    for fig in (F.grad_flow_bars(groups, r.steps[0].grad_norm, r.frozen_groups),
                F.grad_flow_replay(r), F.grad_heatmap(r),
                F.update_ratio_chart(make_record("finetune", n=3, groups=groups)),
                F.backward_sweep(groups, {"head": 1.0, "layer.0": 0.5}, [EVIL]),
                F.compare_curves({EVIL: r}),
                F.compare_bars([{"mode": EVIL, "value": 0.5, "baseline": 0.5,
                                 "paper_matches": False}], EVIL, setup=EVIL, model=EVIL),
                F.cost_figure([{"mode": EVIL, "wall_s": 1.0}])):
        assert_escaped(fig)


def test_figures_import_neither_streamlit_nor_torch() -> None:
    code = ("import sys, bertviz_lite.figures; "
            "print(sorted(m for m in ('streamlit', 'torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
