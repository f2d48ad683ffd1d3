"""The README's result tables are the committed JSON, written by bertviz_lite.record.readme."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bertviz_lite.record import readme
from tests.conftest import REPO

RUNS = REPO / "assets" / "runs"


def test_readme_tables_match_the_committed_json() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert text == readme.render(text, RUNS), (
        "README.md's result tables disagree with assets/runs: run "
        "python -m bertviz_lite.record.readme")
    assert readme.main(["--check"]) == 0


def test_a_changed_record_makes_the_check_fail(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(RUNS, runs)
    path = runs / "paraphrase-finetune.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["final"]["value"] = 0.123456
    path.write_text(json.dumps(record), encoding="utf-8")
    text = (REPO / "README.md").read_text(encoding="utf-8")
    new = readme.render(text, runs)
    assert new != text and "| 0.123 |" in new
    out = tmp_path / "README.md"
    out.write_text(text, encoding="utf-8")
    assert readme.main(["--check", "--readme", str(out), "--runs", str(runs)]) == 1
    assert readme.main(["--readme", str(out), "--runs", str(runs)]) == 0
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
