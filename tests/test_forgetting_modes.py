"""Which mode forgets less (experiments/forgetting_modes.py): each mode tuned, then the
pretraining skill measured on its encoder; a frozen encoder cannot forget."""

from __future__ import annotations

import json

import pytest

from bertviz_lite.experiments.forgetting_modes import forgetting_row, main
from bertviz_lite.record.readme import forgetting_table


def test_a_row_says_what_was_lost():
    row = forgetting_row("lora", 0.8, "accuracy", 100, 1000, before=0.80, after=0.75)
    assert row["label"] == "LoRA" and row["drop"] == pytest.approx(0.05)


def test_each_mode_tuned_then_its_encoder_measured(tiny_model_dir, tmp_path):
    out = tmp_path / "forgetting-modes.json"
    assert main(["--modes", "frozen,lora,finetune", "--model", str(tiny_model_dir),
                 "--epochs", "1", "--max-train", "32", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = {r["mode"]: r for r in result["rows"]}
    assert list(rows) == ["frozen", "lora", "finetune"]
    before = result["setup"]["pearson_pretrained"]
    assert rows["frozen"]["pearson_after"] == before and rows["frozen"]["drop"] == 0.0
    assert rows["finetune"]["pearson_after"] != before  # every weight moved
    assert rows["lora"]["trainable"] < rows["finetune"]["trainable"]
    assert result["setup"]["train_examples"] == 32
    (tmp_path / "runs").mkdir()
    out.rename(tmp_path / "runs" / "forgetting-modes.json")
    table = forgetting_table(tmp_path / "runs")
    assert table.count("\n| ") == 3 and "| frozen |" in table and "+0.000" in table
