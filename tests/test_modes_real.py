"""The modes on real data (experiments/modes_real.py): each size and seed measured on the real
files and scored on the whole dev set, a merge that keeps what it does not redo, a grid refused
before any training, and the table that reports the seeds' median and range."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertviz_lite.experiments import modes_real as MR
from bertviz_lite.record.readme import modes_real_table


def test_each_size_and_seed_on_the_real_files_and_a_merge_keeps_the_rest(
        shared_data: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "modes-real.json"
    first = MR.measure_real(shared_data, ["sentiment"], ["frozen", "lora"], [24], [0, 1], 1, out,
                            model=str(tiny_model_dir))
    rows = first["rows"]
    assert [MR.row_key(r) for r in rows] == [
        ("sentiment", "frozen", 24, 0), ("sentiment", "frozen", 24, 1),
        ("sentiment", "lora", 24, 0), ("sentiment", "lora", 24, 1)]
    dev = sum(1 for _ in (shared_data / "sst2" / "dev.tsv").open(encoding="utf-8")) - 1
    assert {(r["train_examples"], r["eval_examples"]) for r in rows} == {(24, dev)}
    assert all(r["status"] == "completed" and r["dataset"] == "SST-2" for r in rows)
    assert json.loads(out.read_text())["rows"] == rows  # what it returned is what it wrote
    # seed 1 again, alone: the seed-0 rows stay, the sessions list both measurements, and
    # the datasets of an earlier session's other task stay named
    earlier = {**first, "setup": {**first["setup"], "datasets": {"paraphrase": "MRPC"}}}
    again = MR.measure_real(shared_data, ["sentiment"], ["frozen", "lora"], [24], [1], 1, out,
                            keep=earlier, model=str(tiny_model_dir))
    assert [MR.row_key(r) for r in again["rows"]] == [MR.row_key(r) for r in rows]
    assert [x["seeds"] for x in again["setup"]["sessions"]] == [[0, 1], [1]]
    assert again["setup"]["datasets"] == {"paraphrase": "MRPC", "sentiment": "SST-2"}


def test_a_grid_no_run_could_do_is_refused_before_training(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="unknown mode"):
        MR.check_grid(["sentiment"], ["frozen", "lora-xl"], [100])
    with pytest.raises(SystemExit, match="unknown task"):
        MR.check_grid(["sarcasm"], ["frozen"], [100])
    with pytest.raises(SystemExit, match="positive"):
        MR.check_grid(["sentiment"], ["frozen"], [0])
    with pytest.raises(SystemExit, match="whole numbers"):
        MR.main(["--data", str(tmp_path), "--sizes", "1k", "--out", str(tmp_path / "x.json")])
    with pytest.raises(SystemExit, match="no such folder"):
        MR.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.json")])


def _row(mode: str, seed: int, value: float, size: int = 1000) -> dict:
    return {"task": "sentiment", "mode": mode, "label": {"lora": "LoRA"}.get(mode, mode),
            "size": size, "seed": seed, "value": value, "metric": "accuracy",
            "dataset": "SST-2", "eval_examples": 872, "train_examples": size,
            "trainable": 74498, "total": 22566146, "step_s": 0.2 + seed / 100,
            "peak_mb": 800 + seed, "checkpoint_mb": 0.284}


def test_the_table_reports_the_median_of_the_seeds_and_their_range(tmp_path: Path) -> None:
    rows = [_row("lora", s, v) for s, v in ((0, 0.80), (1, 0.70), (2, 0.75))]
    rows.append(_row("lora", 0, 0.85, size=5000))
    setup = {"model": "bundled", "layers": 6, "hidden": 384, "epochs": 3, "batch_size": 16,
             "lr": 5e-5, "mode_lr": {"lora": 5e-4}, "head_lr": 3e-3, "cpu": "AMD EPYC",
             "cores": 2, "engine": {"version": "0.1.0"}, "load_note": "a quiet machine",
             "sessions": [{"date": "d", "commit": "c", "modes": ["lora"], "sizes": [1000],
                           "seeds": [0, 1, 2]}]}
    (tmp_path / "modes-real.json").write_text(json.dumps({"setup": setup, "rows": rows}))
    table = modes_real_table(tmp_path)
    lines = [ln for ln in table.splitlines() if ln.startswith("| sentiment")]
    assert len(lines) == 2  # one line per size: the seeds are summarised
    assert "75.0 [70.0–80.0] (accuracy)" in lines[0] and "| 0, 1, 2 |" in lines[0]
    assert "| 1,000 |" in lines[0] and "| 0.21 |" in lines[0] and "| 802 |" in lines[0]
    assert "85.0 (accuracy)" in lines[1] and "[" not in lines[1].split("|")[4]
    assert "sentiment (SST-2, 872)" in lines[0]
    assert "1000 examples, seeds 0, 1, 2, lora on d (commit c)" in table
    assert modes_real_table(tmp_path / "none").startswith("No measurement on real data")
