"""Learning curves: nested stratified subsamples, resume, run-cache reuse, one frozen feature
pass per seed, the figure, the CLI, the results table and the Compare page section."""

from __future__ import annotations

import json
import statistics
import threading
from collections import Counter

import pytest
import torch

from bertviz_lite.data.examples import SentenceExample, TaskData
from bertviz_lite.data.load import load_task_data, nested_subsample, stratified_order
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.experiments.learning_curves import (
    Sweep,
    SweepMismatch,
    SweepSpec,
    plan,
    point_data,
    run_sweep,
)
from bertviz_lite.experiments.learning_summary import (
    crossing_text,
    crossings,
    eta_seconds,
    load_sweeps,
    overtake_size,
    readme_section,
    spread,
)
from bertviz_lite.record.runcache import RunCache
from bertviz_lite.record.runs import RunRecord
from tests.conftest import REPO, page_path

SIZES = (8, 16)


def examples(counts: dict[int, int]) -> list[SentenceExample]:
    """Sentences whose label is known: `counts` examples of each class, interleaved oddly."""
    out = [SentenceExample(f"class {c} number {i}", c) for c, n in counts.items()
           for i in range(n)]
    return out[::2] + out[1::2]


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_stratified_order_gives_nested_stratified_subsamples(seed):
    exs = examples({0: 60, 1: 30, 2: 10})
    order = stratified_order(exs, seed)
    assert sorted(order) == list(range(len(exs)))  # every example once
    share = Counter(ex.label for ex in exs)
    previous: set[int] = set()
    for n in (5, 10, 25, 50, 73, 100):
        sub = nested_subsample(exs, n, seed)
        assert len(sub) == n
        got = Counter(ex.label for ex in sub)
        for label, total in share.items():  # within one example of the class's share
            assert abs(got[label] - n * total / len(exs)) < 1 + 1e-9, (n, label, got)
        ids = {id(ex) for ex in sub}
        assert previous <= ids  # the smaller subsample is inside the larger one
        previous = ids
    assert nested_subsample(exs, 20, seed) == nested_subsample(exs, 20, seed)
    assert nested_subsample(exs, 20, 0) != nested_subsample(exs, 20, 1)  # seeds differ


def test_point_data_shares_the_validation_split():
    pool = load_task_data("sentiment", "bundled")
    order = stratified_order(pool.train, 0)
    small, large = (point_data(pool, order, n, 0) for n in (25, 100))
    assert small.val == large.val == pool.val
    assert large.train[:25] == small.train  # a prefix: its features serve the smaller set
    assert abs(sum(ex.label for ex in large.train) - 50) <= 1  # bundled sentiment is balanced


def tiny_spec(tiny_model_dir, modes=("frozen",), seeds=(0,), sizes=SIZES, **kw) -> SweepSpec:
    base = RunConfig(task="sentiment", model=str(tiny_model_dir), max_eval=24, batch_size=8,
                     epochs=1, train_eval_size=16, **kw)
    return SweepSpec(base, sizes, seeds, modes)


class Counting:
    """Counts the runs a sweep trains (RunRecord events) and the points it reports."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.trained = 0
        self.points = 0
        self.stop = threading.Event()
        self.stop_after = stop_after

    def on_event(self, point, event) -> None:
        if isinstance(event, RunRecord):
            self.trained += 1

    def on_point(self, progress) -> None:
        self.points += 1
        if self.stop_after is not None and self.points >= self.stop_after:
            self.stop.set()


def test_resume_skips_finished_points(tiny_model_dir, tiny_backbone, tmp_path):
    spec = tiny_spec(tiny_model_dir, modes=("frozen", "finetune"))
    out = tmp_path / "sweep.json"
    first = Counting(stop_after=1)
    part = run_sweep(spec, out, backbone=tiny_backbone, stop=first.stop,
                     on_event=first.on_event, on_point=first.on_point)
    assert first.trained == 1 and len(part["points"]) == 1 and not part["complete"]
    assert json.loads(out.read_text())["points"] == part["points"]  # written after the point
    second = Counting()
    whole = run_sweep(spec, out, backbone=tiny_backbone, on_event=second.on_event,
                      on_point=second.on_point)
    assert second.trained == 3  # only the points that were missing
    assert whole["complete"] and whole["points"][0] == part["points"][0]
    got = sorted((p["mode"], p["size"], p["seed"]) for p in whole["points"])
    assert got == sorted(plan(spec, 480))
    with pytest.raises(SweepMismatch, match="different sweep"):
        run_sweep(tiny_spec(tiny_model_dir, sizes=(8, 12)), out, backbone=tiny_backbone)


def test_second_identical_sweep_trains_nothing(tiny_model_dir, tiny_backbone, tmp_path):
    spec = tiny_spec(tiny_model_dir, modes=("frozen", "top-1"))
    cache = RunCache(tmp_path / "cache")
    a, b = Counting(), Counting()
    one = run_sweep(spec, tmp_path / "a.json", cache=cache, backbone=tiny_backbone,
                    on_event=a.on_event)
    two = run_sweep(spec, tmp_path / "b.json", cache=cache, backbone=tiny_backbone,
                    on_event=b.on_event)
    assert a.trained == 4 and b.trained == 0
    assert all(p["cached"] for p in two["points"]) and not any(p["cached"] for p in one["points"])
    assert [p["value"] for p in one["points"]] == [p["value"] for p in two["points"]]
    assert len(cache) == 4


def count_encoder_rows():
    """A forward hook on every BERT encoder: examples (rows) that went through one."""
    from transformers import BertModel

    rows = {"n": 0}

    def hook(module, args, out):
        if isinstance(module, BertModel):
            rows["n"] += out.last_hidden_state.shape[0]

    return rows, torch.nn.modules.module.register_module_forward_hook(hook)


def test_frozen_feature_pass_happens_once_per_seed(tiny_model_dir, tiny_backbone):
    spec = tiny_spec(tiny_model_dir, seeds=(0, 1), sizes=(8, 12, 16))
    rows, handle = count_encoder_rows()
    try:
        shared = Sweep(spec, backbone=tiny_backbone).run()
    finally:
        handle.remove()
    n_val = 24
    assert rows["n"] == 2 * (16 + n_val)  # per seed: the largest subsample and the validation set
    small = next(p for p in shared["points"] if p["size"] == 8 and p["seed"] == 1)
    assert small["features_reused"] == 8 + n_val
    # the shared features give exactly the numbers of a run that computed its own
    alone = Sweep(tiny_spec(tiny_model_dir, seeds=(1,), sizes=(8,)), backbone=tiny_backbone).run()
    assert alone["points"][0]["features_reused"] == 0
    assert alone["points"][0]["value"] == small["value"]
    assert alone["points"][0]["train_value"] == small["train_value"]


def synthetic_sweep() -> dict:
    """Frozen ahead at 25 and 50, fine-tuned ahead from 100: medians cross between 50 and 100."""
    values = {"frozen": {25: [0.60, 0.62, 0.64], 50: [0.66, 0.68, 0.70], 100: [0.70, 0.71, 0.72]},
              "finetune": {25: [0.50, 0.58, 0.61], 50: [0.55, 0.66, 0.69], 100: [0.74, 0.78, 0.80]}}
    points = [{"mode": m, "size": s, "seed": i, "value": v, "train_value": min(1.0, v + 0.2),
               "gap": min(1.0, v + 0.2) - v, "wall_seconds": (10 if m == "finetune" else 1) * s / 25,
               "baseline": 0.5, "baseline_name": "majority class", "cached": False}
              for m, by in values.items() for s, vs in by.items() for i, v in enumerate(vs)]
    return {"kind": "learning-curves", "setup": {"task": "sentiment", "eval_size": 120,
                                                 "sizes": [25, 50, 100]}, "points": points}


def test_medians_crossing_and_spread():
    pts = synthetic_sweep()["points"]
    assert crossings(pts, "frozen", "finetune") == [
        {"leader": "finetune", "behind": "frozen", "after": 50, "at": 100}]
    assert overtake_size(pts) == 100
    assert crossing_text(pts) == ["fine-tuned overtakes frozen between 50 and 100 examples"]
    s = spread(pts, "finetune", 25)
    assert (s["n"], s["min"], s["median"], s["max"]) == (3, 0.50, 0.58, 0.61)
    assert s["range"] == pytest.approx(0.11)


def test_eta_uses_each_modes_rate():
    done = [{"mode": "frozen", "size": 10, "wall_seconds": 1.0},
            {"mode": "finetune", "size": 10, "wall_seconds": 20.0},
            {"mode": "finetune", "size": 10, "wall_seconds": 5.0, "cached": True}]  # not timed
    assert eta_seconds(done, [("frozen", 100, 0), ("finetune", 50, 0)]) == pytest.approx(
        10.0 + 100.0)
    assert eta_seconds([], [("frozen", 100, 0)]) is None
    line = [{"mode": "finetune", "size": n, "wall_seconds": 5.0 + 0.5 * n} for n in (10, 40)]
    assert eta_seconds(line, [("finetune", 100, 1)]) == pytest.approx(55.0)  # fixed + slope
    assert eta_seconds(done, []) == 0.0


def test_figure_invariants():
    from bertviz_lite.figures import learning_curve_figure
    from bertviz_lite.record.paper import PAPER_TABLE

    sweep = synthetic_sweep()
    fig = learning_curve_figure(sweep, paper=PAPER_TABLE["sentiment"], dataset="SST-2",
                                metric_title="accuracy")
    layout = fig.to_plotly_json()["layout"]
    assert all(layout[f"xaxis{i}"]["type"] == "log" for i in ("", "2", "3"))
    for mode in ("frozen", "finetune"):
        for axis, field in (("y", "value"), ("y2", "wall_seconds"), ("y3", "gap")):
            traces = [t for t in fig.data if t.legendgroup == mode and t.yaxis == axis]
            seeds = next(t for t in traces if t.mode == "markers")
            median = next(t for t in traces if t.mode == "lines+markers")
            assert len(seeds.x) == 9  # every seed's point is drawn
            for x, y in zip(median.x, median.y):
                want = statistics.median(p[field] for p in sweep["points"]
                                         if p["mode"] == mode and p["size"] == x)
                assert y == pytest.approx(want)
    texts = " ".join(a.text for a in fig.layout.annotations)
    assert "fine-tuned overtakes frozen between 50 and 100 examples" in texts
    assert "paper, frozen: 93.0" in texts and "paper, fine-tuned: 93.5" in texts
    assert any(t.name.startswith("baseline") and set(t.y) == {0.5} for t in fig.data)
    plain = learning_curve_figure({"points": sweep["points"][:9]})  # one mode: nothing to cross
    assert "cross" not in " ".join(a.text for a in plain.layout.annotations)


def test_cli_sweep_end_to_end(tiny_model_dir, tmp_path, capsys):
    from bertviz_lite.cli.main import main

    out = tmp_path / "sweep.json"
    args = ["sweep", "--task", "sentiment", "--model", str(tiny_model_dir), "--sizes", "8,16",
            "--seeds", "0", "--modes", "frozen,finetune", "--epochs", "1", "--batch-size", "8",
            "--max-eval", "24", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "[1/4] frozen n=16 seed 0" in text and "ETA" in text
    sweep = json.loads(out.read_text())
    assert len(sweep["points"]) == 4 and sweep["complete"]
    assert sweep["setup"]["sizes"] == [8, 16] and sweep["engine"]["torch"] == torch.__version__
    for p in sweep["points"]:
        assert p["gap"] == pytest.approx(p["train_value"] - p["value"])
        assert p["wall_seconds"] > 0 and p["baseline"] is not None
    assert main(args) == 0  # resumed: nothing left to do
    assert "4 points, complete" in capsys.readouterr().out
    assert main([*args[:-1], str(tmp_path / "other.json")]) == 0  # a new file: all cached
    assert all(p["cached"] for p in json.loads((tmp_path / "other.json").read_text())["points"])
    assert main([a if a != "8,16" else "8,x" for a in args]) == 2  # a clear error, no traceback


def test_results_table_matches_the_recorded_sweeps():
    sweeps = load_sweeps(REPO / "assets" / "sweeps")
    assert {"sentiment-bundled", "paraphrase-bundled", "similarity-bundled",
            "ner-bundled"} <= set(sweeps)
    readme = (REPO / "docs" / "results.md").read_text(encoding="utf-8")
    begin, end = "<!-- BEGIN learning-curves -->\n", "\n<!-- END learning-curves -->"
    assert begin in readme and end in readme
    body = readme.split(begin, 1)[1].split(end, 1)[0]
    assert body == readme_section(sweeps), ("docs/results.md is out of date: run python -m "
                                           "bertviz_lite.experiments.learning_summary")
    for name, sw in sweeps.items():
        assert sw["engine"]["torch"] and sw["setup"]["seeds"] == [0, 1, 2]
        planned = len(sw["setup"]["sizes"]) * 3 * len(sw["setup"]["modes"])
        if name.endswith("-bundled"):  # the ones the app and the lecture rely on
            assert sw["complete"] and len(sw["points"]) == planned
        elif not sw["complete"]:  # a real-data sweep still to resume says so in the table
            assert f"{len(sw['points'])} of {planned} (incomplete)" in body


def test_live_sweep_through_the_job_pool(tiny_model_dir, tmp_path):
    import time

    from bertviz_lite.experiments.live_sweep import LiveSweep
    from bertviz_lite.serve.pool import JobPool

    spec = tiny_spec(tiny_model_dir, modes=("frozen", "finetune"))
    pool_data = load_task_data("sentiment", "bundled", max_eval=24)
    with JobPool(1, warm_models=(str(tiny_model_dir),), cache=RunCache(tmp_path / "c")) as pool:
        def submit(config, data):
            return pool.submit(config, data=data, owner="test")

        live = LiveSweep.create(spec, pool_data)
        seen = []
        deadline = time.time() + 240
        while not live.done and time.time() < deadline:
            if live.advance(submit):
                seen.append(len(live.points))
            time.sleep(0.2)
        assert live.done and not live.problem, live.problem
        assert seen == [1, 2, 3, 4]  # the figure fills point by point
        again = LiveSweep.create(spec, pool_data)  # the same sweep again: every point cached
        while not again.done:
            again.advance(submit)
            time.sleep(0.05)
        assert all(p["cached"] for p in again.points)
        assert [p["value"] for p in again.points] == [p["value"] for p in live.points]
        stopped = LiveSweep.create(tiny_spec(tiny_model_dir, seeds=(5,)), pool_data)
        stopped.advance(submit)
        stopped.stop()
        while not stopped.done:
            stopped.advance(submit)
            time.sleep(0.05)
        assert stopped.stopped and stopped.todo == [("frozen", 8, 5)]  # never submitted
    assert isinstance(live.result()["setup"], dict)
    assert TaskData  # the type the pool receives


# -- the Compare page section (AppTest) ----------------------------------------------------
@pytest.fixture()
def app_env(tiny_model_dir, tmp_path, monkeypatch):
    """The app's settings: the tiny model first (the live sweep uses it), a private cache."""
    pytest.importorskip("streamlit")
    monkeypatch.setenv("BERTVIZ_MODELS", f"tiny={tiny_model_dir},bundled=bundled")
    monkeypatch.setenv("BERTVIZ_HOME", str(tmp_path))
    monkeypatch.setenv("BERTVIZ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(REPO)


def compare_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(page_path("compare")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart_specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def learning_chart(at) -> dict | None:
    return next((s for s in chart_specs(at)
                 if "Against training-set size" in json.dumps(s["layout"].get("title", ""))),
                None)


def test_compare_section_shows_recorded_sweeps(app_env):
    at = compare_page()
    for task in ("sentiment", "paraphrase", "similarity", "ner"):
        at.selectbox(key="task").select(task).run()
        assert not at.exception, [e.value for e in at.exception]
        spec = learning_chart(at)
        assert spec is not None, f"a recorded sweep of {task} is drawn at once"
        sweep = json.loads((REPO / "assets" / "sweeps" / f"{task}-bundled.json").read_text())
        drawn = sum(len(t["x"]) for t in spec["data"] if t.get("mode") == "markers"
                    and t.get("yaxis", "y") == "y")
        assert drawn == len(sweep["points"])  # every seed's point of every mode
    assert any("Against training-set size" in h.value for h in at.header)


def test_compare_section_runs_a_live_sweep(app_env):
    import time

    at = compare_page()
    at.segmented_control(key="cmp_lc_source").set_value("live").run()
    at.multiselect(key="cmp_lc_sizes").set_value([10, 25]).run()
    at.number_input(key="cmp_lc_seeds").set_value(1).run()
    at.number_input(key="cmp_lc_epochs").set_value(1).run()
    at.button(key="cmp_lc_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    live = at.session_state["cmp_lc_live"]
    counts = []
    deadline = time.time() + 300
    while not live.done and time.time() < deadline:
        time.sleep(0.5)
        at.run()
        counts.append(len(live.points))
    at.run()
    assert live.done and not live.problem, live.problem
    assert len(live.points) == 4 and set(counts) & {1, 2, 3}  # filled point by point
    spec = learning_chart(at)
    drawn = sum(len(t["x"]) for t in spec["data"] if t.get("mode") == "markers"
                and t.get("yaxis", "y") == "y")
    assert drawn == 4


def test_sweep_records_the_threads_its_points_ran_with(tiny_model_dir, tiny_backbone, tmp_path):
    """The engine's torch_threads is what the points ran with (config threads=1), not the
    count the process had when the sweep started."""
    from bertviz_lite.experiments.learning_curves import threads_used

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        res = run_sweep(tiny_spec(tiny_model_dir, threads=1), tmp_path / "s.json",
                        backbone=tiny_backbone)
    finally:
        torch.set_num_threads(before)
    assert res["engine"]["torch_threads"] == 1
    assert {p["torch_threads"] for p in res["points"]} == {1}
    assert json.loads((tmp_path / "s.json").read_text())["engine"]["torch_threads"] == 1
    assert threads_used(1, None) == 1 and threads_used(1, 2) is None  # mixed: no one number


def test_recorded_sweeps_name_the_threads_of_their_script():
    """scripts/record-sweeps.sh runs every sweep with --threads 1 (one process, the points in
    it): the committed JSON files say 1."""
    script = (REPO / "scripts" / "record-sweeps.sh").read_text()
    assert "--threads 1" in script
    for path in sorted((REPO / "assets" / "sweeps").glob("*.json")):
        assert json.loads(path.read_text())["engine"]["torch_threads"] == 1, path.name


def test_a_sweep_without_cpu_times_says_so():
    """Points whose CPU time was not recorded (cache hits, older sweeps) never add up to
    "0 CPU seconds" in the results page."""
    sweep = load_sweeps(REPO / "assets" / "sweeps")["sentiment-bundled"]
    blind = {**sweep, "points": [{**p, "cpu_seconds": None} for p in sweep["points"]]}
    text = readme_section({"sentiment-bundled": blind})
    assert "no CPU time recorded" in text and "0 CPU seconds" not in text
    assert "CPU seconds" in readme_section({"sentiment-bundled": sweep})
