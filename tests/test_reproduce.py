"""`bertviz-lite reproduce` end to end on a tiny subsample of the real GLUE and CoNLL files."""

from __future__ import annotations

import json

from bertviz_lite.cli.main import main
from bertviz_lite.experiments.reproduce import ReproduceResult, result_markdown
from bertviz_lite.record.runs import RunRecord


def test_reproduce_on_real_files_and_resume(tmp_path, shared_data, tiny_model_dir, capsys):
    out = tmp_path / "repro"
    dev = tmp_path / "sst2-dev-small.tsv"
    lines = (shared_data / "sst2" / "dev.tsv").read_text().splitlines()[:41]
    dev.write_text("\n".join(lines) + "\n")
    args = ["reproduce", "--data-dir", str(shared_data), "--tasks", "sentiment,paraphrase,ner",
            "--max-train", "24", "--epochs", "1", "--model", str(tiny_model_dir), "--batch-size",
            "8", "--eval-file", f"sentiment={dev}", "--out", str(out), "--quiet"]
    assert main(args) == 0
    result = ReproduceResult.load(out / "reproduce.json")
    assert [r["task"] for r in result.rows] == ["sentiment", "paraphrase", "ner"]
    for row in result.rows:
        assert row["ours_frozen"] is not None and row["ours_finetune"] is not None
        assert row["paper_frozen"] > 70 and row["cost_ratio"] > 0
        assert row["frozen_head"] == "scalar-mix" and row["train_examples"] == 24
    by_task = {r["task"]: r for r in result.rows}
    assert by_task["sentiment"]["eval_examples"] == 40  # the --eval-file
    assert by_task["paraphrase"]["eval_examples"] == 408  # full MRPC dev
    assert by_task["ner"]["eval_examples"] == 3250  # full CoNLL-2003 valid
    table = (out / "reproduce.md").read_text()
    assert "ours frozen" in table and "paper frozen" in table and "Peters" in table
    assert table.strip() == result_markdown(result).strip()
    first = {p.name: RunRecord.load(p).created for p in (out / "runs").glob("*.json")}
    assert len(first) == 6
    capsys.readouterr()
    # Second run: every task is already finished, nothing is trained again.
    assert main(args) == 0
    again = {p.name: RunRecord.load(p).created for p in (out / "runs").glob("*.json")}
    assert again == first
    assert "[sentiment frozen] already finished: reused" in capsys.readouterr().out
    assert json.loads((out / "reproduce.json").read_text())["rows"] == result.to_dict()["rows"]
