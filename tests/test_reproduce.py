"""`bertviz-lite reproduce` end to end on a tiny subsample of the real GLUE and CoNLL files."""

from __future__ import annotations

import json

import pytest

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
            "8", "--eval-file", f"sentiment={dev}", "--frozen-head", "scalar-mix,linear",
            "--out", str(out), "--quiet"]
    assert main(args) == 0
    result = ReproduceResult.load(out / "reproduce.json")
    assert [r["task"] for r in result.rows] == ["sentiment", "paraphrase", "ner"]
    for row in result.rows:
        assert row["ours_frozen"] is not None and row["ours_finetune"] is not None
        assert row["paper_frozen"] > 70 and row["cost_ratio"] > 0
        assert row["frozen_head"] == "scalar-mix" and row["train_examples"] == 24
        heads = row["frozen_heads"]
        assert list(heads) == ["scalar-mix", "linear"]
        assert heads["scalar-mix"]["value"] == row["ours_frozen"]
        assert heads["linear"]["value"] is not None and heads["linear"]["cost_ratio"] > 0
        assert heads["linear"]["trainable"] < heads["scalar-mix"]["trainable"]
    by_task = {r["task"]: r for r in result.rows}
    assert by_task["sentiment"]["eval_examples"] == 40  # the --eval-file
    assert by_task["paraphrase"]["eval_examples"] == 408  # full MRPC dev
    assert by_task["ner"]["eval_examples"] == 3250  # full CoNLL-2003 valid
    table = (out / "reproduce.md").read_text()
    assert "ours frozen (scalar-mix)" in table and "ours frozen (linear)" in table
    assert "paper frozen" in table and "Peters" in table and "max_grad_norm 1.0" in table
    assert table.strip() == result_markdown(result).strip()
    first = {p.name: RunRecord.load(p).created for p in (out / "runs").glob("*.json")}
    assert len(first) == 9  # 3 tasks x (2 frozen heads + fine-tuned)
    assert result.setup["frozen_heads"] == ["scalar-mix", "linear"]
    assert result.setup["max_grad_norm"] == 1.0 and result.setup["engine"]["engine"] >= 3
    capsys.readouterr()
    # Second run: every task is already finished, nothing is trained again.
    assert main(args) == 0
    again = {p.name: RunRecord.load(p).created for p in (out / "runs").glob("*.json")}
    assert again == first
    assert "[sentiment frozen-linear] already finished: reused" in capsys.readouterr().out
    assert json.loads((out / "reproduce.json").read_text())["rows"] == result.to_dict()["rows"]


def test_frozen_heads_are_checked_before_anything_runs(tmp_path, shared_data) -> None:
    from bertviz_lite.engine.config import ConfigError
    from bertviz_lite.experiments.reproduce import parse_heads, reproduce

    assert parse_heads("linear, scalar-mix") == ["linear", "scalar-mix"]
    for bad, words in (("", "names no head"), ("linear,linear", "listed twice"),
                       ("lstm", "unknown frozen head")):
        with pytest.raises(ConfigError, match=words):
            reproduce(shared_data, tmp_path / "out", tasks=["sentiment"], frozen_head=bad)
    assert not (tmp_path / "out").exists()  # nothing written for a bad request


def test_library_errors_name_parameters_and_the_cli_words_its_flags(tmp_path) -> None:
    from bertviz_lite.cli.commands import REPRODUCE_FLAGS
    from bertviz_lite.engine.config import OptionError
    from bertviz_lite.experiments.reproduce import reproduce

    with pytest.raises(OptionError) as err:
        reproduce(tmp_path, tmp_path / "out", tasks=["sentiment"], max_train=0)
    assert str(err.value).startswith("max_train must be at least 1") and "--" not in str(err.value)
    assert err.value.worded(REPRODUCE_FLAGS).startswith("--max-train must be at least 1")
    with pytest.raises(OptionError) as err:
        reproduce(tmp_path, tmp_path / "out", tasks=["sentiment"], eval_files={"ner": "x"})
    assert "which --tasks does not include ['sentiment']" in err.value.worded(REPRODUCE_FLAGS)
    assert "eval_files names ['ner'], which tasks does not" in str(err.value)


def test_markdown_of_a_file_from_before_frozen_heads() -> None:
    old = ReproduceResult({"model": "bundled", "frozen_head": "scalar-mix"}, [{
        "task": "ner", "dataset": "CoNLL-2003", "metric": "span F1", "ours_frozen": 68.9,
        "ours_finetune": 84.8, "paper_frozen": 92.2, "paper_finetune": 92.4, "ours_gap": 15.9,
        "paper_gap": 0.2, "frozen_wall_s": 32.2, "finetune_wall_s": 408.1, "cost_ratio": 12.7,
        "frozen_head": "scalar-mix"}])
    table = result_markdown(old)
    assert "ours frozen (scalar-mix)" in table and "| 68.9 |" in table and "12.7x" in table
