"""The CLI end to end on a tiny model: train writes a record, compare prints the table."""

from __future__ import annotations

import json

from bertviz_lite.cli.main import main
from bertviz_lite.record.runs import RunRecord


def test_train_writes_record_and_summary(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "run.json"
    code = main(["train", "--task", "ner", "--mode", "top-1", "--model", str(tiny_model_dir),
                 "--max-train", "32", "--max-eval", "16", "--steps", "5", "--batch-size", "8",
                 "--out", str(out), "--quiet"])
    assert code == 0
    record = RunRecord.load(out)
    assert len(record.steps) == 5 and record.frozen_groups == ["embeddings", "layer.0"]
    text = capsys.readouterr().out
    assert "validation span F1" in text and "trainable parameters" in text and str(out) in text


def test_train_bad_input_exits_2_with_message(tmp_path, tiny_model_dir, capsys, caplog):
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"sentence\tlabel\nfine\t1\n")
    code = main(["train", "--task", "sentiment", "--model", str(tiny_model_dir),
                 "--train-file", str(bad), "--out", str(tmp_path / "x.json"), "--quiet"])
    assert code == 2
    assert "training needs at least two classes" in caplog.text
    code = main(["train", "--task", "sentiment", "--batch-size", "0",
                 "--out", str(tmp_path / "x.json"), "--quiet"])
    assert code == 2 and "batch size must be" in caplog.text
    code = main(["train", "--task", "sentiment", "--mode", "half",
                 "--out", str(tmp_path / "x.json"), "--quiet"])
    assert code == 2 and "top-K" in caplog.text


def test_diverged_run_exits_1(tmp_path, tiny_model_dir):
    code = main(["train", "--task", "similarity", "--mode", "finetune", "--model",
                 str(tiny_model_dir), "--max-train", "32", "--max-eval", "8", "--epochs", "20",
                 "--lr", "1e6", "--head-lr", "1e6", "--out", str(tmp_path / "nan.json"),
                 "--quiet"])
    assert code == 1
    assert RunRecord.load(tmp_path / "nan.json").status == "diverged"


def test_compare_prints_side_by_side(tmp_path, tiny_model_dir, capsys):
    code = main(["compare", "--task", "sentiment", "--model", str(tiny_model_dir),
                 "--max-train", "32", "--max-eval", "16", "--epochs", "2", "--batch-size", "8",
                 "--modes", "frozen,top-1,finetune", "--out-dir", str(tmp_path), "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    for needle in ("frozen", "top-1", "finetune", "wall time", "time per epoch",
                   "trainable parameters", "peak memory", "cost ratio", "paper"):
        assert needle in text
    summary = json.loads((tmp_path / "compare.json").read_text())
    assert [r["mode"] for r in summary["rows"]] == ["frozen", "top-1", "finetune"]
    assert summary["cost_ratio"] > 0
    for mode in ("frozen", "top-1", "finetune"):
        assert RunRecord.load(tmp_path / f"sentiment-{mode}.json").mode == mode
