"""Every run record names the engine that made it, and the run key includes the engine
version, so a changed engine never replays an old run as new."""

from __future__ import annotations

import subprocess

import torch

import bertviz_lite
from bertviz_lite.engine.config import RunConfig, config_hash
from bertviz_lite.record import provenance
from bertviz_lite.record.provenance import RECORD_VERSION
from bertviz_lite.record.runcache import RunCache
from bertviz_lite.record.runs import RunRecord
from tests.conftest import REPO


def bare_record(**fields) -> RunRecord:
    return RunRecord(config={"task": "sentiment", "mode": "frozen"}, groups=["head"],
                     frozen_groups=[], trainable_params=1, total_params=1, device="cpu",
                     **fields)


def test_a_new_record_carries_the_engine() -> None:
    engine = bare_record().engine
    assert engine["package"] == bertviz_lite.__version__
    assert engine["record_format"] == RECORD_VERSION
    assert engine["engine"] == provenance.ENGINE_VERSION
    assert engine["torch"] == torch.__version__
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=False).stdout.strip()
    assert engine["git_commit"] == (head or None)
    assert engine["machine"] and engine["cpu_count"]


def test_git_commit_falls_back_to_none(monkeypatch) -> None:
    provenance.git_commit.cache_clear()
    monkeypatch.setattr(provenance.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(
        FileNotFoundError("git")))
    try:
        assert provenance.git_commit() is None
    finally:
        provenance.git_commit.cache_clear()


def test_engine_survives_a_round_trip_and_old_records_stay_unknown(tmp_path) -> None:
    rec = bare_record(key="0123456789abcdef", created="2026-12-01T18:40:00+00:00")
    back = RunRecord.load(rec.save(tmp_path / "r.json"))
    assert back.engine == rec.engine
    old = rec.to_dict()
    del old["engine"]
    assert RunRecord.from_dict(old).engine == {}  # not silently this engine
    line = provenance.provenance_line(rec.created, rec.device, rec.engine, 2)
    assert line.startswith("recorded 2026-12-01 18:40 UTC on cpu") and "2 threads" in line
    assert provenance.engine_version() in line
    assert "older engine" in provenance.provenance_line(rec.created, "cpu", {}, None)


def test_run_key_includes_the_engine_version(monkeypatch, tmp_path) -> None:
    config = RunConfig(task="sentiment", mode="frozen")
    before = config_hash(config, "data")
    cache = RunCache(tmp_path)
    cache.put(bare_record(key=before))
    monkeypatch.setattr(provenance, "ENGINE_VERSION", provenance.ENGINE_VERSION + 1)
    after = config_hash(config, "data")
    assert after != before and after not in cache  # the old run is not replayed
    assert config_hash(config, "data") == after  # still stable for one engine


def test_recorded_runs_folder_keeps_other_results_apart(tmp_path, caplog):
    """assets/runs also holds reproduce.json and recipe.json (tables, not run records): loading
    the folder leaves them out without a warning on every start, and still warns about a run
    record that cannot be read."""
    import logging
    import shutil

    from bertviz_lite.record.runs import load_recorded_runs

    for name in ("sentiment-frozen", "reproduce", "recipe"):
        shutil.copy(REPO / "assets" / "runs" / f"{name}.json", tmp_path)
    (tmp_path / "broken-run.json").write_text('{"config": {}, "steps": [{"step": "x"}]}')
    with caplog.at_level(logging.WARNING):
        runs = load_recorded_runs(tmp_path)
    assert list(runs) == ["sentiment-frozen"]
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "broken-run" in warned
    assert "reproduce" not in warned and "recipe" not in warned
    shipped = load_recorded_runs(REPO / "assets" / "runs")
    assert "reproduce" not in shipped and "sentiment-finetune" in shipped
