"""Bad input through the command line: every case exits with status 2 and one line naming
what is wrong, found before the first training step; a save that still fails at the end
keeps the record elsewhere and names it. Classes follow the bad-input issue: lost work,
silently wrong, crash, misleading message."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest

from bertviz_lite.cli import commands
from bertviz_lite.cli.main import main
from bertviz_lite.experiments.reproduce import ReproduceResult
from bertviz_lite.paths import assets_dir
from bertviz_lite.record.runs import RunRecord

FAST = ["--max-train", "16", "--max-eval", "8", "--steps", "2", "--batch-size", "8", "--quiet"]


def run_cli(args: list[str], caplog: pytest.LogCaptureFixture, capsys) -> tuple[int, str, str]:
    """(exit status, the error lines logged, stdout)."""
    caplog.clear()
    code = main(args)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    return code, "\n".join(errors), capsys.readouterr().out


@pytest.fixture()
def spots(tmp_path: Path) -> dict[str, Path]:
    """A file, a folder, and a broken model folder or two."""
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("not a folder")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    return {"file": a_file, "dir": folder, "tmp": tmp_path}


def _train(model: Path, out: str, *extra: str) -> list[str]:
    return ["train", "--task", "sentiment", "--model", str(model), "--out", out, *FAST, *extra]


LOST_WORK = {
    "train-out-proc": lambda s, m: _train(m, "/proc/run.json"),
    "train-out-is-a-folder": lambda s, m: _train(m, str(s["dir"])),
    "train-out-under-a-file": lambda s, m: _train(m, str(s["file"] / "run.json")),
    "train-out-empty": lambda s, m: _train(m, ""),
    "save-model-under-a-file": lambda s, m: _train(m, str(s["tmp"] / "r.json"), "--save-model",
                                                    str(s["file"] / "model")),
    "save-model-is-a-file": lambda s, m: _train(m, str(s["tmp"] / "r.json"), "--save-model",
                                                 str(s["file"])),
    "compare-out-dir-is-a-file": lambda s, m: ["compare", "--task", "sentiment", "--model", str(m),
                                               "--out-dir", str(s["file"]), *FAST],
    "compare-out-dir-under-a-file": lambda s, m: ["compare", "--task", "sentiment", "--model",
                                                  str(m), "--out-dir", str(s["file"] / "x"), *FAST],
    "compare-out-dir-proc": lambda s, m: ["compare", "--task", "sentiment", "--model", str(m),
                                          "--out-dir", "/proc/cmp", *FAST],
    "reproduce-out-is-a-file": lambda s, m: ["reproduce", "--data-dir", str(assets_dir() / "data"),
                                             "--model", str(m), "--out", str(s["file"]), "--quiet"],
    "reproduce-tasks-comma": lambda s, m: ["reproduce", "--data-dir", str(assets_dir() / "data"),
                                           "--tasks", ",", "--model", str(m), "--out",
                                           str(s["tmp"] / "r"), "--quiet"],
}
LOST_MESSAGES = {
    "train-out-proc": "system folder", "train-out-is-a-folder": "is a folder",
    "train-out-under-a-file": "is a file, so nothing can be written under it",
    "train-out-empty": "names no file",
    "save-model-under-a-file": "nothing can be written under it",
    "save-model-is-a-file": "is a file, not a folder",
    "compare-out-dir-is-a-file": "is a file, not a folder",
    "compare-out-dir-under-a-file": "nothing can be written under it",
    "compare-out-dir-proc": "system folder",
    "reproduce-out-is-a-file": "nothing can be written under it",
    "reproduce-tasks-comma": "--tasks names no task",
}


@pytest.mark.parametrize("case", list(LOST_WORK), ids=list(LOST_WORK))
def test_bad_output_location_is_found_before_training(case, spots, tiny_model_dir, caplog,
                                                      capsys):
    t0 = time.perf_counter()
    code, errors, out = run_cli(LOST_WORK[case](spots, Path(tiny_model_dir)), caplog, capsys)
    assert code == 2, (errors, out)
    assert LOST_MESSAGES[case] in errors and errors.count("\n") == 0, errors
    assert "trainable parameters" not in out and "written" not in out  # nothing trained
    assert time.perf_counter() - t0 < 5, "refused before loading the model or the data"


def test_failing_save_loses_no_record(tmp_path, tiny_model_dir, caplog, capsys, monkeypatch):
    """The folder checked at the start is replaced by a file while the run trains: saving
    fails, the record is written to the fallback folder, named in one line, exit 2."""
    monkeypatch.setenv("BERTVIZ_HOME", str(tmp_path / "home"))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    real = commands.run_with_progress

    def then_break_the_folder(events, printer):
        record = real(events, printer)
        shutil.rmtree(out_dir)
        out_dir.write_text("someone put a file here")
        return record

    monkeypatch.setattr(commands, "run_with_progress", then_break_the_folder)
    code, errors, out = run_cli(_train(Path(tiny_model_dir), str(out_dir / "run.json"),
                                       "--save-model", str(out_dir / "model")), caplog, capsys)
    assert code == 2 and "nothing is lost" in errors
    saved = list((tmp_path / "home" / "unsaved").iterdir())
    (record_path,) = [p for p in saved if p.suffix == ".json"]
    (model_path,) = [p for p in saved if p.is_dir()]
    record = RunRecord.load(record_path)
    assert len(record.steps) == 2 and record.status == "completed"
    assert str(record_path) in errors and str(model_path) in errors, errors
    assert (model_path / "model.safetensors").is_file()
    assert f"run record: {record_path}" in out  # the summary says where it is


def _bad_data(tmp: Path) -> dict[str, Path]:
    tsv = "sentence\tlabel\n"
    files = {
        "null.jsonl": "".join(json.dumps({"text": f"s{i}", "label": [0, 1, None][i % 3]}) + "\n"
                              for i in range(9)),
        "pairs.tsv": "Quality\t#1 String\t#2 String\n1\ta\tb\n0\tc\td\n",
        "deep.jsonl": "[" * 50_000 + "]" * 50_000 + "\n",
        "conll.txt": "EU B-ORG\nrejects O\nGerman B-MISC\n",
        "good.tsv": tsv + "".join(f"sentence {i}\t{i % 2}\n" for i in range(20)),
    }
    for name, text in files.items():
        (tmp / name).write_text(text)
    return {n: tmp / n for n in files}


def _tokenizerless(tiny: Path, tmp: Path) -> Path:
    dst = tmp / "no-tok"
    dst.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny / name, dst / name)
    return dst


def _truncated(tiny: Path, tmp: Path) -> Path:
    dst = tmp / "trunc"
    shutil.copytree(tiny, dst)
    data = (dst / "model.safetensors").read_bytes()
    (dst / "model.safetensors").write_bytes(data[:1000])
    return dst


CASES = {
    # silently wrong
    "epochs-0": (lambda m, d, t: ["train", "--task", "sentiment", "--model", str(m), "--out",
                                  str(t / "r.json"), "--epochs", "0", "--quiet"],
                 "epochs must be a whole number of at least 1"),
    "null-label": (lambda m, d, t: _train(m, str(t / "r.json"), "--train-file",
                                          str(d["null.jsonl"])), "the label is null"),
    "pairs-eval-for-sentiment": (lambda m, d, t: _train(m, str(t / "r.json"), "--train-file",
                                                        str(d["good.tsv"]), "--eval-file",
                                                        str(d["pairs.tsv"])),
                                 "second-sentence column"),
    "model-without-tokenizer": (lambda m, d, t: _train(_tokenizerless(m, t), str(t / "r.json")),
                                "the tokenizer has only"),
    # crashes
    "seed-beyond-64-bits": (lambda m, d, t: _train(m, str(t / "r.json"), "--seed", str(2**70)),
                            "seed must be a whole number"),
    "threads-minus-3": (lambda m, d, t: _train(m, str(t / "r.json"), "--threads", "-3"),
                        "threads must be a whole number"),
    "top-0-ran-as-frozen": (lambda m, d, t: _train(m, str(t / "r.json"), "--mode", "top-0"),
                            "trains no BERT layer: that is frozen"),
    "compare-modes-comma": (lambda m, d, t: ["compare", "--task", "sentiment", "--model", str(m),
                                             "--modes", ",", *FAST], "--modes names no mode"),
    "truncated-weights": (lambda m, d, t: _train(_truncated(m, t), str(t / "r.json")),
                          "probably truncated"),
    "deep-json-train-file": (lambda m, d, t: _train(m, str(t / "r.json"), "--train-file",
                                                    str(d["deep.jsonl"])), "nested more than"),
    # misleading messages
    "model-path-is-a-file": (lambda m, d, t: _train(m / "config.json", str(t / "r.json")),
                             "is a file, not a model folder"),
    "conll-for-sentiment": (lambda m, d, t: _train(m, str(t / "r.json"), "--train-file",
                                                   str(d["conll.txt"])),
                            "looks like a CoNLL file"),
    "reproduce-max-train-0": (lambda m, d, t: ["reproduce", "--data-dir",
                                               str(assets_dir() / "data"), "--max-train", "0",
                                               "--model", str(m), "--out", str(t / "r"),
                                               "--quiet"], "--max-train must be at least 1"),
    "reproduce-eval-file-for-absent-task": (
        lambda m, d, t: ["reproduce", "--data-dir", str(assets_dir() / "data"), "--tasks",
                         "sentiment", "--eval-file", f"ner={d['conll.txt']}", "--model", str(m),
                         "--out", str(t / "r"), "--quiet"], "which --tasks does not include"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_exits_2_with_one_line(case, tmp_path, tiny_model_dir, caplog, capsys):
    make, message = CASES[case]
    args = make(Path(tiny_model_dir), _bad_data(tmp_path), tmp_path)
    code, errors, out = run_cli(args, caplog, capsys)
    assert code == 2, (errors, out)
    assert message in errors and errors.count("\n") == 0, errors
    assert "trainable parameters" not in out
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "r" / "runs").exists()


def _mini_data(tmp: Path, tasks: tuple[str, ...]) -> Path:
    """The bundled data of some tasks in the shared/data layout (a folder per task)."""
    root = tmp / "data"
    for task in tasks:
        shutil.copytree(assets_dir() / "data" / task, root / task,
                        ignore=shutil.ignore_patterns("_src", "*.py", "*.md"))
    return root


def _reproduce(data: Path, out: Path, model: Path, tasks: str, *extra: str) -> list[str]:
    return ["reproduce", "--data-dir", str(data), "--tasks", tasks, "--max-train", "16",
            "--epochs", "1", "--batch-size", "8", "--model", str(model), "--out", str(out),
            "--quiet", *extra]


def test_reproduce_checks_every_input_first(tmp_path, tiny_model_dir, caplog, capsys):
    data = _mini_data(tmp_path, ("sentiment",))  # no ner folder
    out = tmp_path / "repro"
    code, errors, _ = run_cli(_reproduce(data, out, tiny_model_dir, "sentiment,ner"), caplog,
                              capsys)
    assert code == 2 and "no train file" in errors and "ner" in errors
    assert not (out / "runs").exists() or not list((out / "runs").iterdir())  # nothing trained


def test_reproduce_merges_with_the_folder(tmp_path, tiny_model_dir, caplog, capsys):
    data = _mini_data(tmp_path, ("sentiment", "paraphrase"))
    out = tmp_path / "repro"
    assert run_cli(_reproduce(data, out, tiny_model_dir, "sentiment"), caplog, capsys)[0] == 0
    assert run_cli(_reproduce(data, out, tiny_model_dir, "paraphrase"), caplog, capsys)[0] == 0
    result = ReproduceResult.load(out / "reproduce.json")
    assert [r["task"] for r in result.rows] == ["sentiment", "paraphrase"]
    md = (out / "reproduce.md").read_text()
    assert "sentiment (SST-2)" in md and "paraphrase (MRPC)" in md
    # a different setup in the same folder would mix two setups in one table: refused first
    code, errors, _ = run_cli(_reproduce(data, out, tiny_model_dir, "sentiment", "--seed", "1"),
                              caplog, capsys)
    assert code == 2 and "another setup (seed 0, now 1)" in errors
    assert len(ReproduceResult.load(out / "reproduce.json").rows) == 2


def test_reproduce_failing_save_loses_no_record(tmp_path, tiny_model_dir, caplog, capsys,
                                                 monkeypatch):
    """The out folder turns into a file after the first run: every record and the table go to
    the fallback folder, each named in one line, exit 2."""
    from bertviz_lite.experiments import repro_resume as repro  # where runs are trained

    monkeypatch.setenv("BERTVIZ_HOME", str(tmp_path / "home"))
    data = _mini_data(tmp_path, ("sentiment",))
    out = tmp_path / "repro"
    real = repro.train

    def then_break_the_folder(*args, **kwargs):
        yield from real(*args, **kwargs)
        if out.is_dir():
            shutil.rmtree(out)
            out.write_text("someone put a file here")

    monkeypatch.setattr(repro, "train", then_break_the_folder)
    code, errors, stdout = run_cli(_reproduce(data, out, tiny_model_dir, "sentiment"), caplog,
                                   capsys)
    assert code == 2 and "written:" not in stdout
    saved = {re.sub(r"-\d{8}-\d{6}(-\d+)?\.\w+$", "", p.name): p
             for p in (tmp_path / "home" / "unsaved").iterdir()}
    assert set(saved) == {"sentiment-frozen", "sentiment-finetune", "reproduce-json",
                          "reproduce-md"}, saved
    assert all(str(p) in errors for p in saved.values()), errors
    assert RunRecord.load(saved["sentiment-finetune"]).mode == "finetune"
    assert [r["task"] for r in ReproduceResult.load(saved["reproduce-json"]).rows] == ["sentiment"]
