"""Text alternatives of the charts (bertviz_lite.figures.describe): they state what the chart
shows, with the same numbers, in backprop's order (head first)."""

from __future__ import annotations

import math

import pytest

from bertviz_lite.figures import describe as D
from bertviz_lite.figures import grad_flow_bars
from bertviz_lite.record.runs import EvalRecord, RunRecord, StepRecord

GROUPS = ["embeddings", "layer.0", "layer.1", "layer.2", "head"]


def _record(frozen: list[str], norms: list[dict[str, float]]) -> RunRecord:
    steps = [StepRecord(i + 1, 0, 0.7 - 0.1 * i, 1e-3, n, {g: 1e-3 for g in n if n[g]}, 0.1)
             for i, n in enumerate(norms)]
    evals = [EvalRecord(s, s / 3, split, "accuracy", v, 0.5)
             for s, split, v in ((1, "val", 0.6), (3, "val", 0.7), (1, "train", 0.6),
                                 (3, "train", 0.9))]
    return RunRecord(config={"task": "sentiment", "mode": "frozen" if frozen else "finetune"},
                     groups=GROUPS, frozen_groups=frozen, trainable_params=10,
                     total_params=100, device="cpu", steps=steps, evals=evals,
                     sweeps=[{"step": 3, "signal": {g: norms[-1][g] for g in GROUPS}}])


def test_frozen_run_in_words():
    frozen = GROUPS[:-1]
    norm = {**{g: 0.0 for g in frozen}, "head": 0.6912}
    text = D.describe_grad_flow(GROUPS, norm, frozen, step=3)
    assert text == "gradient norms at step 3: head 0.691; layer.2 to embeddings frozen, no gradient"


def test_finetuned_run_lists_every_group_head_first():
    norm = {g: 0.1 * (i + 1) for i, g in enumerate(GROUPS)}
    text = D.describe_grad_flow(GROUPS, norm, [], step=1)
    positions = [text.index(f"{g} ") for g in reversed(GROUPS)]
    assert positions == sorted(positions)
    for g, v in norm.items():
        assert f"{g} {v:.3g}" in text


def test_top_k_run_and_odd_values():
    norm = {"embeddings": 0.0, "layer.0": 0.0, "layer.1": math.nan, "layer.2": 0.0,
            "head": 2.0}
    text = D.describe_grad_flow(GROUPS, norm, ["embeddings", "layer.0"])
    assert "layer.1 not a finite number" in text
    assert "layer.2 no gradient" in text  # trainable but got no gradient: said, not hidden
    assert text.endswith("layer.0 to embeddings frozen, no gradient")
    assert D.describe_grad_flow(GROUPS, {}, []).endswith("none yet (no training step has run)")


def test_sweep_says_where_backprop_stops():
    frozen = GROUPS[:-1]
    text = D.describe_sweep(GROUPS, {"head": 0.5, **{g: 0.0 for g in frozen}}, frozen, 3)
    assert "stops before layer.2 (layer.2 to embeddings frozen, no gradient)" in text
    full = D.describe_sweep(GROUPS, {g: 0.5 for g in GROUPS}, [], 3)
    assert "reaches every group, down to embeddings" in full


def test_record_descriptions_use_the_records_numbers():
    norms = [{**{g: 0.0 for g in GROUPS[:-1]}, "head": h} for h in (0.2, 0.4, 0.9)]
    rec = _record(GROUPS[:-1], norms)
    assert D.describe_replay(rec).startswith("3 recorded steps")
    assert "head 0.4" in D.describe_replay(rec)  # the median over the run
    loss = D.describe_loss(rec)
    assert "0.7 at step 1" in loss and "lowest 0.5 at step 3" in loss
    metrics = D.describe_metrics(rec)
    assert "validation accuracy 0.6 at step 1 to 0.7 at step 3" in metrics
    assert "+0.200" in metrics  # the overfitting gap, train minus validation
    assert "head 0.001" in D.describe_update_ratios(rec)


def test_compare_and_cost_name_whose_numbers():
    rows = [{"mode": "frozen", "value": 0.81, "wall_s": 10.0, "trainable": 770,
             "peak_mb": 700.0, "paper": 93.0, "paper_note": "not the same setup"},
            {"mode": "top-2", "value": 0.84, "wall_s": 30.0, "trainable": 2_000_000,
             "peak_mb": 900.0, "paper": None, "paper_note": ""},
            {"mode": "finetune", "value": 0.86, "wall_s": 90.0, "trainable": 22_700_000,
             "peak_mb": 1100.0, "paper": 93.5, "paper_note": "the paper's fine-tuned setup"}]
    text = D.describe_compare(rows, "accuracy")
    assert "frozen ours 81.0, paper 93.0 (not the same setup)" in text
    assert "top-2 ours 84.0, paper: none for this setup" in text
    assert "the paper's (Peters et al. 2019" in text and "paper 93.5" in text
    assert "9.0x" in D.describe_cost(rows)


def test_user_text_is_escaped():
    text = D.describe_grad_flow(["<b>x</b>", "head"], {"<b>x</b>": 0.1, "head": 0.2}, [])
    assert "<b>" not in text


@pytest.mark.parametrize("frozen", [True, False])
def test_generic_description_of_a_figure(frozen):
    fig = grad_flow_bars(GROUPS, {"head": 0.5}, GROUPS[:-1] if frozen else [], step=2)
    text = D.describe_figure(fig)
    assert text.startswith("Weight-gradient norms")
    assert "head: 0.5" in text


@pytest.mark.parametrize("names, words", [(["0", "1"], ["class 0: 0.397", "class 1: 0.603"]),
                                          (["negative", "positive"],
                                           ["negative: 0.397", "positive: 0.603"])])
def test_prediction_bars_read_class_by_class(names, words):
    """The Forward pass chart's words name each class (a bare id as "class 0"), generic or
    specific; bar positions are not read as class names."""
    from bertviz_lite.figures import probability_bars

    generic = D.describe_figure(probability_bars(names, [0.397, 0.603]))
    specific = D.describe_probabilities(names, [0.397, 0.603])
    for text in (generic, specific):
        assert all(w in text for w in words), text
    assert "bar:" not in generic and specific.startswith(f"predicted {D.class_name(names[1])}")
