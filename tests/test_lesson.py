"""The lesson engine: the TOML format and its one-line errors, answers computed from the
recorded artefacts (checked against the raw JSON), explanations that quote the prediction."""

from __future__ import annotations

import json
import math
import shutil
import statistics

import pytest

from bertviz_lite.lesson import (
    ArtefactStore,
    LessonError,
    answer_for,
    check_lesson,
    explain,
    lessons_dir,
    load_lesson,
    observation,
    parse_lesson,
    read_lessons,
)
from bertviz_lite.lesson.answers import COMPUTE
from bertviz_lite.lesson.explain import spearman
from bertviz_lite.lesson.tally import distribution
from bertviz_lite.paths import assets_dir

SHIPPED = lessons_dir() / "9.3-fine-tuning.toml"
RUNS = assets_dir() / "runs"

GOOD = """
[lesson]
id = "t"
title = "Test lesson"

[[steps]]
id = "a"
title = "Frozen backward"
text = "The model has {layers} layers."
figures = ["grad-flow"]
[steps.prediction]
kind = "layers"
question = "Which groups?"
[steps.answer]
compute = "grad_groups"
artefacts = ["runs/sentiment-frozen"]
[steps.explain]
wrong = "You expected {prediction}; it stopped at {stop}."

[[steps]]
id = "end"
title = "Summary"
text = "Done."
"""


def raw(name: str) -> dict:
    return json.loads((RUNS / f"{name}.json").read_text())


# -- the format --------------------------------------------------------------------------------
def test_good_lesson_parses():
    lesson = parse_lesson(GOOD, "good.toml")
    assert [s.id for s in lesson.steps] == ["a", "end"]
    assert lesson.steps[0].prediction.kind == "layers"
    assert lesson.steps[1].answer is None


@pytest.mark.parametrize("edit, where, says", [
    (lambda t: t.replace('title = "Test lesson"', 'title = "Test lesson'),
     "bad.toml", "not valid TOML"),
    (lambda t: t.replace('title = "Frozen backward"\n', ""),
     "step 'a', field 'title'", "missing"),
    (lambda t: t.replace('kind = "layers"', 'kind = "slider"'),
     "step 'a', field 'prediction.kind'", "unknown prediction kind 'slider'"),
    (lambda t: t.replace('compute = "grad_groups"', 'compute = "guess"'),
     "step 'a', field 'answer.compute'", "unknown computation 'guess'"),
    (lambda t: t.replace('compute = "grad_groups"', 'compute = "wall_ratio"'),
     "step 'a', field 'answer.compute'", "answers a 'log-number' prediction"),
    (lambda t: t.replace('artefacts = ["runs/sentiment-frozen"]', 'artefacts = []'),
     "step 'a', field 'answer.artefacts'", "needs 1 artefact"),
    (lambda t: t.replace('id = "end"', 'id = "a"'),
     "step 'a', field 'id'", "duplicate step id"),
    (lambda t: t.replace("{stop}", "{stopped}"),
     "step 'a', field 'explain.wrong'", "unknown placeholder {stopped}"),
    (lambda t: t.replace('figures = ["grad-flow"]', 'figures = ["pie"]'),
     "step 'a', field 'figures'", "unknown figure"),
    (lambda t: t.replace("{layers} layers", "{n_layers} layers"),
     "step 'a', field 'text'", "unknown placeholder {n_layers}"),
    (lambda t: t.replace("[steps.answer]\ncompute", "[steps.answr]\ncompute"),
     "step 'a', field 'answer'", "missing"),
    (lambda t: t.replace("[lesson]", "[lessons]"), "bad.toml, field 'lesson'", "missing"),
    (lambda t: t.replace('figures = ["grad-flow"]', 'figures = ["grad-flow"]\ntry_it = "http://x"'),
     "step 'a', field 'try_it'", "must look like"),
])
def test_malformed_lessons_say_file_step_and_field(edit, where, says):
    with pytest.raises(LessonError) as err:
        parse_lesson(edit(GOOD), "bad.toml")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("bad.toml")
    assert where in msg and says in msg


def test_unknown_artefact_and_unreadable_artefact(tmp_path):
    lesson = parse_lesson(GOOD.replace("runs/sentiment-frozen", "runs/sentiment-missing"),
                          "art.toml")
    with pytest.raises(LessonError, match=r"step 'a', field 'answer.artefacts': unknown "
                                          r"artefact 'runs/sentiment-missing'"):
        check_lesson(lesson, ArtefactStore())
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "sentiment-frozen.json").write_text("{not json")
    with pytest.raises(LessonError, match="cannot be read"):
        check_lesson(parse_lesson(GOOD, "art.toml"), ArtefactStore(tmp_path))
    with pytest.raises(LessonError, match="unknown artefact 'models/x'"):
        ArtefactStore().load("models/x")


def test_answer_that_does_not_fit_its_artefact():
    lesson = parse_lesson(GOOD.replace('compute = "grad_groups"', 'compute = "grad_groups"')
                          .replace("runs/sentiment-frozen", "runs/reproduce"), "fit.toml")
    with pytest.raises(LessonError, match=r"fit.toml: step 'a', field 'answer.compute': "
                                          r"grad_groups cannot use runs/reproduce"):
        check_lesson(lesson, ArtefactStore())


def test_a_bad_file_beside_a_good_one(tmp_path):
    shutil.copy(SHIPPED, tmp_path / "good.toml")
    (tmp_path / "bad.toml").write_text(GOOD.replace('kind = "layers"', 'kind = "guess"'))
    files = {f.path.name: f for f in read_lessons(tmp_path)}
    assert files["good.toml"].lesson is not None and not files["good.toml"].error
    assert files["bad.toml"].lesson is None
    assert files["bad.toml"].error.startswith("bad.toml: step 'a', field 'prediction.kind'")


# -- the shipped lesson: every answer computed from its artefact --------------------------------
def _nonzero(run: dict, key: str) -> list[str]:
    got = {g for s in run["steps"] for g, v in s[key].items() if v and v > 0}
    return [g for g in run["groups"] if g in got]


def _reference(compute: str, refs: tuple[str, ...]):
    """The same answers, computed here straight from the JSON files."""
    runs = [raw(r.split("/", 1)[1]) for r in refs]
    r = runs[0]
    if compute == "grad_groups":
        return _nonzero(r, "grad_norm")
    if compute == "weight_fraction":
        return r["total_params"] / r["trainable_params"]
    if compute == "wall_ratio":
        return r["cost"]["wall_seconds"] / runs[1]["cost"]["wall_seconds"]
    if compute in ("largest_gain", "paper_largest_gain"):
        key = "ours_gap" if compute == "largest_gain" else "paper_gap"
        return max(r["rows"], key=lambda row: row[key])["task"]
    if compute == "most_overfit":
        def gap(run):
            last = {e["split"]: e["value"] for e in run["evals"]}
            return last["train"] - last["val"]
        return max(runs, key=gap)["config"]["mode"]
    if compute == "step_ratio":  # runs/modes: fine-tuning's step time over LoRA's, one task
        task = r["rows"][0]["task"]
        step = {row["mode"]: row["step_s"] for row in r["rows"] if row["task"] == task}
        return step["finetune"] / step["lora"]
    if compute == "least_forgetting":  # every mode but frozen: the smallest drop
        return min((row for row in r["rows"] if row["mode"] != "frozen"),
                   key=lambda row: row["pearson_before"] - row["pearson_after"])["mode"]
    raise AssertionError(f"no reference for {compute}")


def _reference_other(compute: str, path):
    """Sweeps and inside-BERT analyses, straight from their JSON."""
    d = json.loads(path.read_text())
    if compute == "sweep_winner":  # medians over seeds; a lead within the seed spread ties
        small = min(p["size"] for p in d["points"])
        vals = {m: sorted(p["value"] for p in d["points"] if p["mode"] == m
                          and p["size"] == small and p["value"] is not None)
                for m in {p["mode"] for p in d["points"]}}
        med = {m: statistics.median(v) for m, v in vals.items()}
        first, second = sorted(med, key=lambda m: -med[m])[:2]
        spread = max(v[-1] - v[0] for v in vals.values())
        return first if med[first] - med[second] > spread else "tie"
    if compute == "change_order":
        rows = [g for g in d["groups"] if g["weight_change"] is not None]
        return [g["group"] for g in sorted(rows, key=lambda g: -g["weight_change"])]
    raise AssertionError(f"no reference for {compute}")


def test_every_shipped_step_is_answered_from_its_artefact():
    lesson = load_lesson(SHIPPED)
    store = ArtefactStore()
    answers = check_lesson(lesson, store)
    checked = 0
    for step in lesson.steps:
        if step.id not in answers or step.answer is None:
            continue
        ref = step.answer.artefacts[0]
        want = (_reference(step.answer.compute, step.answer.artefacts)
                if ref.startswith("runs/") else
                _reference_other(step.answer.compute, store.path(ref)))
        got = answers[step.id].value
        if isinstance(want, float):
            assert got == pytest.approx(want)
        else:
            assert got == want, step.id
        checked += 1
    assert checked >= 8
    assert answers["frozen-backward"].value == ["head"]
    groups = raw("sentiment-finetune")["groups"]  # the model's own names, from the record
    assert answers["finetune-backward"].options == tuple(groups)


def test_answers_follow_the_artefact_not_the_file(tmp_path):
    """Edit the recorded run: the answer changes with it (nothing is typed in the lesson)."""
    (tmp_path / "runs").mkdir()
    run = raw("sentiment-frozen")
    run["steps"][3]["grad_norm"]["layer.5"] = 0.5
    (tmp_path / "runs" / "sentiment-frozen.json").write_text(json.dumps(run))
    step = parse_lesson(GOOD, "g.toml").steps[0]
    assert answer_for(step, ArtefactStore(tmp_path)).value == ["layer.5", "head"]


def test_the_lesson_walks_the_lecture_in_order():
    ids = [s.id for s in load_lesson(SHIPPED).steps]
    order = ["frozen-forward", "frozen-backward", "finetune-backward", "lora", "cost",
             "lora-cost", "four-tasks", "small-data", "when-helps", "inside-bert",
             "forgetting", "summary"]
    assert [i for i in ids if i in order] == order
    kinds = {s.prediction.kind for s in load_lesson(SHIPPED).steps}
    assert {"layers", "log-number", "choice", "order"} <= kinds


def test_every_figure_has_a_tab_label():
    from bertviz_lite.lesson.observe import FIGURES, LABELS

    assert set(LABELS) == set(FIGURES)


def test_every_shipped_figure_draws():
    lesson, store = load_lesson(SHIPPED), ArtefactStore()
    for step in lesson.steps:
        if step.id not in check_lesson(lesson, store):
            continue
        arts = [store.load(r) for r in (step.answer.artefacts if step.answer else ())]
        for name, fig in observation(step.figures, arts):
            assert fig.data or fig.layout.shapes, (step.id, name)


# -- explanations ------------------------------------------------------------------------------
def test_explanation_quotes_the_prediction():
    lesson, store = load_lesson(SHIPPED), ArtefactStore()
    step = lesson.steps[lesson.index_of("frozen-backward")]
    ans = answer_for(step, store)
    v = explain(step, ["layer.3", "head"], ans)
    assert not v.right
    assert "You expected the gradient to reach layer.3, head" in v.text
    assert "stopped at head" in v.text and "added layer.3" in v.text
    assert explain(step, ["head"], ans).right


def test_log_number_tolerance_and_order_score():
    lesson, store = load_lesson(SHIPPED), ArtefactStore()
    step = lesson.steps[lesson.index_of("cost")]
    ans = answer_for(step, store)
    close = explain(step, ans.value * 1.9, ans)
    assert close.right and "within a factor 2" in close.text  # "right" says how close
    wrong = explain(step, ans.value * 2.5, ans)
    assert not wrong.right and "too high" in wrong.text
    assert spearman(["a", "b", "c"], ["a", "b", "c"]) == 1.0
    assert spearman(["c", "b", "a"], ["a", "b", "c"]) == -1.0
    assert math.isnan(spearman(["a"], ["a", "b"]))


def test_distribution_counts_votes_per_option():
    lesson, store = load_lesson(SHIPPED), ArtefactStore()
    step = lesson.steps[lesson.index_of("frozen-backward")]
    ans = answer_for(step, store)
    labels, counts, marked = distribution("layers", [["head"], ["head", "layer.5"]], ans)
    assert dict(zip(labels, counts))["head"] == 2 and dict(zip(labels, counts))["layer.5"] == 1
    assert marked == {"head"}
    labels, counts, _ = distribution("log-number", [3.0, 30.0, 50.0], None, 1, 1000)
    assert dict(zip(labels, counts)) == {"1–10": 1, "10–100": 2, "100–1,000": 0}


# -- the learning-curve and inside-BERT adapters (their JSON formats) -----------------------------
SWEEP = {"version": 1, "kind": "learning-curves",
         "setup": {"task": "sentiment", "metric": "accuracy", "sizes": [25, 100]},
         "points": [{"mode": m, "size": n, "seed": s, "value": v} for m, n, s, v in [
             ("frozen", 25, 0, 0.60), ("frozen", 25, 1, 0.58), ("finetune", 25, 0, 0.52),
             ("finetune", 25, 1, 0.70), ("frozen", 100, 0, 0.66), ("finetune", 100, 0, 0.75),
             ("finetune", 100, 1, None)]]}
CHANGES = {"setup": {"task": "sentiment", "mode": "finetune"}, "groups": [
    {"group": "embeddings", "cka": 0.99, "weight_change": 0.001, "trainable": True},
    {"group": "layer.0", "cka": 0.98, "weight_change": 0.006, "trainable": True},
    {"group": "layer.1", "cka": 0.95, "weight_change": 0.007, "trainable": True},
    {"group": "layer.2", "cka": 0.97, "weight_change": None, "trainable": False}]}


@pytest.fixture()
def other_store(tmp_path):
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "changes").mkdir()
    (tmp_path / "sweeps" / "s.json").write_text(json.dumps(SWEEP))
    (tmp_path / "changes" / "c.json").write_text(json.dumps(CHANGES))
    return ArtefactStore(tmp_path, runs=RUNS)


def test_sweep_and_changes_adapters(other_store):
    winner = COMPUTE["sweep_winner"].fn([other_store.load("sweeps/s")])
    assert winner.value == "tie"  # medians 0.61 against 0.59, but the seeds spread over 0.18
    assert winner.detail["size"] == "25" and winner.detail["seeds"] == "2"
    assert winner.value == _reference_other("sweep_winner", other_store.path("sweeps/s"))
    order = COMPUTE["change_order"].fn([other_store.load("changes/c")])
    assert order.value == ["layer.1", "layer.0", "embeddings"]  # layer.2 unmeasured: left out
    figs = observation(["learning-curve"], [other_store.load("sweeps/s")])
    assert len(figs[0][1].data) == 4  # a median line and the seed dots per mode
    assert observation(["change"], [other_store.load("changes/c")])[0][1].data


def test_optional_steps_wait_for_their_artefacts(tmp_path):
    (tmp_path / "runs").symlink_to(RUNS)
    files = read_lessons(lessons_dir(), ArtefactStore(tmp_path))
    shipped = next(f for f in files if f.path == SHIPPED)
    ids = [s.id for s in shipped.lesson.steps]
    assert "seeds" not in ids and "small-data" in ids
    assert any(s.startswith("seeds (waits for sweeps/") for s in shipped.skipped)


def test_mode_tables_answer_from_their_rows(tmp_path):
    """runs/modes and runs/forgetting-modes load as mode tables (not as a reproduction), and
    their answers follow the rows: edit the numbers, the answer changes."""
    from bertviz_lite.lesson.artefacts import ModeTable

    (tmp_path / "runs").mkdir()
    modes, forgetting = raw("modes"), raw("forgetting-modes")
    store = ArtefactStore(tmp_path, runs=RUNS)
    assert isinstance(store.load("runs/modes"), ModeTable)
    assert isinstance(store.load("runs/forgetting-modes"), ModeTable)
    for row in modes["rows"]:
        if row["mode"] == "lora":
            row["step_s"] = 0.01
    lora = next(r for r in forgetting["rows"] if r["mode"] == "lora")
    bitfit = next(r for r in forgetting["rows"] if r["mode"] == "bitfit")
    lora["drop"], bitfit["drop"] = 0.5, -0.001  # BitFit now forgets least (it even gained)
    (tmp_path / "runs" / "modes.json").write_text(json.dumps(modes))
    (tmp_path / "runs" / "forgetting-modes.json").write_text(json.dumps(forgetting))
    edited = ArtefactStore(tmp_path)
    ft = next(r for r in modes["rows"] if r["mode"] == "finetune" and r["task"] == "sentiment")
    ratio = COMPUTE["step_ratio"].fn([edited.load("runs/modes")])
    assert ratio.value == pytest.approx(ft["step_s"] / 0.01)
    assert ratio.detail["lora_ms"] == "10"
    least = COMPUTE["least_forgetting"].fn([edited.load("runs/forgetting-modes")])
    assert least.value == "bitfit" and "frozen" not in least.options
    assert least.detail["worst"] == "LoRA"
    # each draws its figure; a run record where a table belongs says what it needs
    assert observation(["step-time"], [edited.load("runs/modes")])[0][1].data
    assert observation(["forgetting"], [edited.load("runs/forgetting-modes")])[0][1].data
    with pytest.raises(ValueError, match="every mode"):
        COMPUTE["step_ratio"].fn([store.load("runs/sentiment-lora")])
