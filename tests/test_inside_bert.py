"""What changed inside BERT: the mathematics against known answers, the frozen / top-k control
on a tiny random BERT, and the CLI end to end."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

from bertviz_lite.data.examples import SentenceExample
from bertviz_lite.engine.checkpoints import save_task_model
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.training import Trainer
from bertviz_lite.experiments.cka import cka_matrix, linear_cka
from bertviz_lite.experiments.inside_bert import analyse_changes
from bertviz_lite.experiments.inside_bert_result import ChangesResult, table_lines
from bertviz_lite.experiments.probes import ProbeData, probe_score
from bertviz_lite.experiments.weights import (
    accumulated_update_ratios,
    encoder_groups,
    group_change,
    weight_changes,
)
from bertviz_lite.record.runs import RunRecord, StepRecord
from tests.conftest import REPO

RNG = np.random.default_rng(0)


def hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Reference: CKA from the HSIC of linear kernels (Kornblith et al. 2019, eq. 3)."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return float(np.sum(k * l_) / math.sqrt(np.sum(k * k) * np.sum(l_ * l_)))


# -- the mathematics -----------------------------------------------------------------------
def test_cka_of_itself_is_one_and_matches_the_hsic_form():
    x = RNG.normal(size=(50, 8))
    y = RNG.normal(size=(50, 5))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, y) == pytest.approx(hsic_cka(x, y), abs=1e-10)
    assert linear_cka(x, y) < 0.6  # unrelated features are far from 1
    wide = RNG.normal(size=(10, 40))  # fewer inputs than features: the n x n path
    z = RNG.normal(size=(10, 30))
    assert linear_cka(wide, z) == pytest.approx(hsic_cka(wide, z), abs=1e-10)


def test_cka_invariant_to_rotation_and_isotropic_scaling_not_to_any_linear_map():
    x = RNG.normal(size=(200, 16))
    q, _ = np.linalg.qr(RNG.normal(size=(16, 16)))  # orthogonal
    assert linear_cka(x, x @ q) == pytest.approx(1.0, abs=1e-10)
    assert linear_cka(x, 7.5 * x) == pytest.approx(1.0, abs=1e-10)
    assert linear_cka(x, x + 3.0) == pytest.approx(1.0, abs=1e-10)  # centred: a shift is nothing
    stretch = np.diag(np.logspace(0, 3, 16))  # invertible, but not a rotation or a scaling
    assert linear_cka(x, x @ stretch) < 0.9


def test_cka_matrix_entries_are_pairwise_cka():
    xs = [RNG.normal(size=(30, 6)) for _ in range(3)]
    ys = [xs[0], xs[1] @ np.diag([1, 2, 3, 4, 5, 6.0]), RNG.normal(size=(30, 4))]
    m = cka_matrix(xs, ys)
    assert m.shape == (3, 3) and m[0, 0] == 1.0
    for i in range(3):
        for j in range(3):
            assert m[i, j] == pytest.approx(linear_cka(xs[i], ys[j]), abs=1e-12)


def test_probe_on_separable_features_is_perfect_and_on_noise_is_chance():
    n = 120
    y = np.array([i % 2 for i in range(2 * n)])
    x = RNG.normal(size=(2 * n, 10))
    x[:, 3] += 6 * (2 * y - 1)  # one direction separates the classes
    val = [SentenceExample(f"s{i}", int(y[n + i])) for i in range(n)]
    d = ProbeData(x[:n], y[:n], x[n:], y[n:])
    assert probe_score("sentiment", d, val, ["0", "1"]) == 1.0
    noise = ProbeData(RNG.normal(size=(n, 10)), y[:n], RNG.normal(size=(n, 10)), y[n:])
    assert probe_score("sentiment", noise, val, ["0", "1"]) < 0.75


def test_weight_change_zero_when_unchanged_and_exact_when_one_layer_moves(tiny_backbone):
    enc = tiny_backbone.encoder
    same = copy.deepcopy(enc)
    assert all(v == 0.0 for v in weight_changes(enc, same).values())
    with torch.no_grad():
        w = same.encoder.layer[1].output.dense.weight
        delta = 0.01 * torch.ones_like(w)
        w += delta
    changes = weight_changes(enc, same)
    assert changes["embeddings"] == 0.0 and changes["layer.0"] == 0.0
    params = list(encoder_groups(enc)["layer.1"][0].parameters())
    expected = float(delta.double().norm() / torch.sqrt(sum((p.detach().double() ** 2).sum()
                                                            for p in params)))
    assert changes["layer.1"] == pytest.approx(expected, rel=1e-9)
    assert group_change([enc.encoder.layer[1]], [same.encoder.layer[1]]) == changes["layer.1"]


def test_accumulated_update_ratios_sum_the_recorded_steps():
    steps = [StepRecord(i, 0, 1.0, 1e-3, {}, {"layer.0": 0.1 * i, "head": 1.0}, 0.1)
             for i in (1, 2, 3)]
    record = RunRecord({}, ["layer.0", "head"], [], 1, 1, "cpu", steps=steps)
    acc = accumulated_update_ratios(record)
    assert acc["layer.0"][-1] == [3.0, pytest.approx(0.6)]
    assert [s for s, _ in acc["head"]] == [1.0, 2.0, 3.0] and acc["head"][-1][1] == 3.0


def test_recorded_update_ratios_are_shown_as_samples_not_as_a_bound():
    """Above 4M trainable weights a run measures its update ratios at every 50th step and the
    last: their sum is far below the net change, so nothing may present it as a bound on it."""
    from bertviz_lite.experiments.inside_bert_result import measured_steps_text, step_ratios
    from bertviz_lite.figures.inside_bert import measured_updates

    r = ChangesResult.load(REPO / "assets" / "changes" / "sentiment-finetune.json")
    top = r.group("layer.5")
    assert top.update_ratio_sum < top.weight_change / 10  # 3 of 90 steps: no bound at all
    assert measured_steps_text(r) == "steps 1, 51, 90 of 90"
    fig = measured_updates(r)
    said = f"{fig.layout.title.text} {fig.layout.title.subtitle.text}".replace("<br>", " ")
    assert "steps 1, 51, 90 of 90" in said and "bound" not in said
    ratios = step_ratios(r.update_ratios["layer.5"])
    assert [p[0] for p in ratios] == [1.0, 51.0, 90.0]
    assert sum(p[1] for p in ratios) == pytest.approx(top.update_ratio_sum)
    assert all("sum of update ratios" not in line for line in table_lines(r))


# -- the control: frozen and top-k on a tiny BERT ------------------------------------------
def _train(tiny_model_dir, tiny_backbone, tmp_path, mode: str, task: str = "sentiment"):
    config = RunConfig(task=task, mode=mode, model=str(tiny_model_dir), max_train=48,
                       max_eval=24, batch_size=8, steps=6, lr=2e-3, seed=0)
    trainer = Trainer(config, backbone=tiny_backbone)
    record = [e for e in trainer.events() if isinstance(e, RunRecord)][0]
    folder = save_task_model(trainer.model, config, trainer.data.label_names,
                             tmp_path / f"{task}-{mode}")
    return record, folder


@pytest.fixture(scope="module")
def tiny_runs(tiny_model_dir, tiny_backbone, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("changes")
    return {m: _train(tiny_model_dir, tiny_backbone, tmp, m) for m in ("frozen", "top-1",
                                                                       "finetune")}


def test_frozen_run_is_the_control(tiny_runs, tiny_backbone):
    record, folder = tiny_runs["frozen"]
    # computed: the tuned side's features, probes and zero-shot similarity from the loaded
    # checkpoint's own encoder, not reused, still equal the pretrained ones bit for bit
    r = analyse_changes(record, folder, backbone=tiny_backbone, max_examples=40,
                        reuse_identical=False)
    assert r.setup["tuned_side"] == "computed"
    assert [g.group for g in r.groups] == ["embeddings", "layer.0", "layer.1"]
    for g in r.groups:
        assert g.cka == 1.0 and g.weight_change == 0.0
        assert g.probe_pretrained == g.probe_tuned
    assert np.array_equal(np.diag(r.cka_matrix), np.ones(3))
    f = r.forgetting[0]
    assert f["pretrained"] == f["tuned"] and f["pairs"] == 120
    # the shortcut (weights unchanged, so the pretrained side is reused) gives the same numbers
    fast = analyse_changes(record, folder, backbone=tiny_backbone, max_examples=40)
    assert fast.setup["tuned_side"].startswith("the pretrained model's")
    assert fast.to_dict()["groups"] == r.to_dict()["groups"]
    assert fast.cka_matrix == r.cka_matrix and fast.forgetting == r.forgetting
    no_ckpt = analyse_changes(record, None, backbone=tiny_backbone, max_examples=40)
    assert [g.cka for g in no_ckpt.groups] == [1.0, 1.0, 1.0]


def test_top_k_changes_only_the_trainable_layers(tiny_runs, tiny_backbone):
    record, folder = tiny_runs["top-1"]
    r = analyse_changes(record, folder, backbone=tiny_backbone, max_examples=40)
    below, top = r.groups[:2], r.groups[2]
    for g in below:
        assert g.cka == 1.0 and g.weight_change == 0.0 and not g.trainable
        assert g.probe_pretrained == g.probe_tuned
    assert top.trainable and top.weight_change > 0 and top.cka < 1.0
    assert top.update_ratio_sum > 0  # measured on the tiny run's every step


def test_finetune_changes_every_layer_and_saves_json(tiny_runs, tiny_backbone, tmp_path):
    record, folder = tiny_runs["finetune"]
    r = analyse_changes(record, folder, backbone=tiny_backbone, max_examples=40)
    assert all(g.weight_change > 0 and g.cka < 1.0 for g in r.groups[1:])
    assert r.groups[0].weight_change > 0  # embeddings train too
    back = ChangesResult.load(r.save(tmp_path / "c.json"))
    assert back.to_dict() == r.to_dict()
    assert r.setup["examples"] == {"train": 40, "val": 24, "cka_rows": 24, "unit": "sentence"}
    assert r.setup["engine"].startswith("bertviz-lite") and "scikit-learn" in r.setup["engine"]


def test_ner_pair_and_similarity_features(tiny_model_dir, tiny_backbone, tmp_path):
    for task in ("ner", "paraphrase", "similarity"):
        record, folder = _train(tiny_model_dir, tiny_backbone, tmp_path, "frozen", task)
        r = analyse_changes(record, folder, backbone=tiny_backbone, max_examples=20)
        assert all(g.cka == 1.0 for g in r.groups)
        unit = {"ner": "words", "paraphrase": "pair", "similarity": "pair"}[task]
        assert r.setup["examples"]["unit"] == unit
        rows = r.setup["examples"]["cka_rows"]
        assert rows > 20 if task == "ner" else rows == 40  # words; both sentences of a pair
        assert all(math.isfinite(g.probe_pretrained) for g in r.groups)


def test_a_tuned_run_without_checkpoint_is_a_clear_error(tiny_runs, tiny_backbone):
    from bertviz_lite.engine.config import ConfigError

    record, _ = tiny_runs["finetune"]
    with pytest.raises(ConfigError, match="--checkpoint DIR"):
        analyse_changes(record, None, backbone=tiny_backbone)


# -- the CLI end to end --------------------------------------------------------------------
def test_cli_changes_end_to_end(tmp_path, tiny_model_dir, capsys, caplog):
    from bertviz_lite.cli.main import main

    run, model = tmp_path / "run.json", tmp_path / "model"
    assert main(["train", "--task", "sentiment", "--mode", "top-1", "--model",
                 str(tiny_model_dir), "--max-train", "32", "--max-eval", "16", "--steps", "4",
                 "--batch-size", "8", "--lr", "1e-3", "--out", str(run), "--save-model",
                 str(model), "--quiet"]) == 0
    out = tmp_path / "changes.json"
    assert main(["changes", "--run", str(run), "--checkpoint", str(model), "--max-examples",
                 "16", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "layer.0 (frozen)" in text and "probe pre (accuracy)" in text and str(out) in text
    d = json.loads(out.read_text())
    assert [g["group"] for g in d["groups"]] == ["embeddings", "layer.0", "layer.1"]
    for key in ("cka", "weight_change", "probe_pretrained", "probe_tuned"):
        assert all(key in g for g in d["groups"])
    assert d["groups"][1]["cka"] == 1.0 and d["groups"][2]["weight_change"] > 0
    assert d["forgetting"][0]["set"] == "bundled similarity dev"
    assert {"model", "data", "examples", "engine"} <= set(d["setup"])
    assert main(["changes", "--run", str(tmp_path / "none.json"), "--out", str(out)]) == 2
    assert "not found" in caplog.text
    assert main(["changes", "--run", str(run), "--out", str(out)]) == 2
    assert "--checkpoint DIR" in caplog.text


# -- figures and docs/results.md--------------------------------------------------------------
def test_figures_show_our_numbers_in_gradient_flow_order(tiny_runs, tiny_backbone):
    from bertviz_lite.figures import change_bars, cka_heatmap, forgetting_bars, probe_lines

    record, folder = tiny_runs["top-1"]
    r = analyse_changes(record, folder, backbone=tiny_backbone, max_examples=40)
    bars = change_bars(r)
    assert list(bars.data[0].y) == ["embeddings (frozen)", "layer.0 (frozen)", "layer.1"]
    assert list(bars.data[0].x) == [g.cka for g in r.groups]
    assert list(bars.data[1].x) == [g.weight_change for g in r.groups]
    sub = bars.layout.title.subtitle.text.replace("<br>", " ")  # wrapped lines
    assert sub.startswith("Look for:") and "ours: " in sub and "top-1" in sub
    probes = probe_lines(r)
    assert [t.name for t in probes.data] == ["pretrained BERT", "tuned (top-1)"]
    assert "baseline" in probes.layout.annotations[0].text
    heat = cka_heatmap(r)
    assert np.array(heat.data[0].z).shape == (3, 3)
    rows = [{"label": "pretrained", "mode": "pretrained", **r.forgetting[0]["pretrained"]},
            {"label": "top-1", "mode": "top-1", **r.forgetting[0]["tuned"]}]
    bars = forgetting_bars(rows, r.forgetting[0]["set"], "ours: tiny")
    assert [t.name for t in bars.data] == ["Pearson", "Spearman"]
    assert "ours: tiny" in bars.layout.title.subtitle.text.replace("<br>", " ")


def test_results_table_matches_the_recorded_analyses():
    from bertviz_lite.experiments.inside_bert_readme import BEGIN, END, readme_block
    from bertviz_lite.paths import results_doc
    from tests.conftest import REPO

    text = results_doc().read_text(encoding="utf-8")
    block = text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip()
    assert block == readme_block(REPO / "assets" / "changes").strip(), (
        "docs/results.md's changes tables are stale: run python -c 'from bertviz_lite.experiments."
        "changes_readme import update_readme; update_readme()'")
    assert "| layer.5 |" in block
