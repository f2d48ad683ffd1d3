"""The result tables of docs/results.md are the committed JSON, written by
bertviz_lite.record.readme; the numbers in its generated sentences are computed once and
rounded once."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from bertviz_lite.paths import results_doc
from bertviz_lite.record import readme
from tests.conftest import REPO

RUNS = REPO / "assets" / "runs"
RESULTS = results_doc()


def test_results_tables_match_the_committed_json() -> None:
    assert RESULTS == REPO / "docs" / "results.md"
    text = RESULTS.read_text(encoding="utf-8")
    assert text == readme.render(text, RUNS), (
        "docs/results.md's tables disagree with assets/runs: run "
        "python -m bertviz_lite.record.readme")
    assert readme.main(["--check"]) == 0


def test_a_changed_record_makes_the_check_fail(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(RUNS, runs)
    path = runs / "paraphrase-finetune.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["final"]["value"] = 0.123456
    path.write_text(json.dumps(record), encoding="utf-8")
    text = RESULTS.read_text(encoding="utf-8")
    new = readme.render(text, runs)
    assert new != text and "| 0.123 |" in new
    out = tmp_path / "results.md"
    out.write_text(text, encoding="utf-8")
    assert readme.main(["--check", "--doc", str(out), "--runs", str(runs)]) == 1
    assert readme.main(["--doc", str(out), "--runs", str(runs)]) == 0
    assert out.read_text(encoding="utf-8") == new


def test_every_table_comes_from_its_file() -> None:
    repro = json.loads((RUNS / "reproduce.json").read_text(encoding="utf-8"))
    table = readme.reproduction_table(RUNS)
    heads = repro["setup"]["frozen_heads"]
    for row in repro["rows"]:
        cells = [row["frozen_heads"][h]["value"] for h in heads] + [row["ours_finetune"]]
        assert "| " + " | ".join(f"{v:.1f}" for v in cells) + " |" in table
        assert row["ours_frozen"] == row["frozen_heads"][heads[0]]["value"]
    recipe = json.loads((RUNS / "recipe.json").read_text(encoding="utf-8"))
    recipe_table = readme.recipe_table(RUNS)
    for row in recipe["rows"]:
        assert f"{row['median']:.3f}" in recipe_table and row["recipe"] in recipe_table
    lecture = readme.lecture_table(RUNS)
    sentiment = json.loads((RUNS / "sentiment-finetune.json").read_text(encoding="utf-8"))
    assert f"{sentiment['final']['value']:.3f}" in lecture


def _write_reproduce(runs: Path, rows: list[dict], **setup: object) -> None:
    runs.mkdir(parents=True, exist_ok=True)
    base = json.loads((RUNS / "reproduce.json").read_text(encoding="utf-8"))
    base["setup"].update(setup)
    base["rows"] = rows
    (runs / "reproduce.json").write_text(json.dumps(base), encoding="utf-8")


def test_reproduction_minutes_are_rounded(tmp_path: Path) -> None:
    """The total training time is written as minutes to one decimal, never a float's repr
    ("21.268333333333334 minutes")."""
    repro = json.loads((RUNS / "reproduce.json").read_text(encoding="utf-8"))
    _write_reproduce(tmp_path, repro["rows"], total_minutes=21.268333333333334)
    table = readme.reproduction_table(tmp_path)
    assert "21.3 minutes of training" in table
    assert not re.search(r"\d\.\d{3,} minutes", readme.reproduction_table(RUNS))


def _row(task: str, dataset: str, mix: float, model: float, paper: float) -> dict:
    return {"task": task, "dataset": dataset, "metric": "accuracy", "paper_frozen": paper,
            "frozen_heads": {"task-model": {"value": model}, "scalar-mix": {"value": mix}}}


def test_task_model_gain_rounds_once_from_the_same_values(tmp_path: Path) -> None:
    """The share of the distance closed and the distances beside it come from the same
    values: NER 69.9 -> 86.2 against the paper's 92.2 is 22.3 -> 6.0 points, 73% closed (a
    hand-typed "74% (23.3 -> 6.0)" disagreed with its own numbers)."""
    _write_reproduce(tmp_path, [_row("ner", "CoNLL-2003", 69.9, 86.2, 92.2),
                                _row("sentiment", "SST-2", 78.7, 84.2, 93.0),
                                _row("paraphrase", "MRPC", 78.2, 79.4, 78.1)])
    text = readme.task_model_gain(tmp_path)
    assert "+16.3 points on NER (69.9 → 86.2), +5.5 on SST-2, +1.2 on MRPC." in text
    assert "closed 73% on NER (22.3 → 6.0 points) and 38% on SST-2 (14.3 → 8.8 points)" in text
    assert "On MRPC our frozen model is now above the paper's frozen BERT-base (79.4 vs 78.1)" \
        in text


def test_every_share_closed_agrees_with_its_distances() -> None:
    """In the committed page: each "N% on X (before → after points)" is what its own
    before and after give, and each distance is the paper's frozen score minus ours."""
    text = RESULTS.read_text(encoding="utf-8")
    block = text.split("<!-- BEGIN task-model -->")[1].split("<!-- END task-model -->")[0]
    found = re.findall(r"(\d+)% on (\S+) \((\d+\.\d) → (\d+\.\d) points\)", block)
    assert found, block
    for share, _name, before, after in found:
        b, a = float(before), float(after)
        assert int(share) == round(100 * (b - a) / b), (share, before, after)
    repro = json.loads((RUNS / "reproduce.json").read_text(encoding="utf-8"))
    ner = next(r for r in repro["rows"] if r["task"] == "ner")
    before = ner["paper_frozen"] - ner["frozen_heads"]["scalar-mix"]["value"]
    assert f"on NER ({before:.1f} → " in block


def test_unrecorded_cpu_time_is_a_dash_not_zero(tmp_path: Path) -> None:
    """A recipe row whose runs did not record their CPU time says "–", never 0."""
    recipe = json.loads((RUNS / "recipe.json").read_text(encoding="utf-8"))
    rows = recipe["rows"][:1]
    rows = [{**rows[0], "cpu_s": None}, {**rows[0], "cpu_s": 0.0}, {**rows[0], "cpu_s": 249.9}]
    recipe["rows"] = rows
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "recipe.json").write_text(json.dumps(recipe), encoding="utf-8")
    lines = [ln for ln in readme.recipe_table(tmp_path).splitlines() if ln.startswith("| para")]
    assert [ln.rstrip(" |").rsplit("| ", 1)[1] for ln in lines] == ["–", "–", "250"]
    committed = readme.recipe_table(RUNS)
    assert not re.search(r"\| 0 \|$", committed, re.M), "a CPU-seconds cell of 0"


def test_recipe_summary_leaves_out_no_cpu_time() -> None:
    """experiments.recipe writes None when a record has no CPU time, not a sum that reads 0."""
    from types import SimpleNamespace

    from bertviz_lite.experiments.recipe import _cpu_seconds

    rec = lambda cost: SimpleNamespace(cost=cost)  # noqa: E731
    assert _cpu_seconds([rec({"cpu_seconds": 1.5}), rec({"cpu_seconds": 2.0})]) == 3.5
    assert _cpu_seconds([rec({"cpu_seconds": 1.5}), rec({})]) is None
