"""Inside-BERT analyses as jobs of the pool (real spawned worker processes, a tiny random BERT),
and the pretrained side computed once and kept (in memory and on disk)."""

from __future__ import annotations

import time

import pytest

from bertviz_lite.engine.checkpoints import save_task_model
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.training import Trainer
from bertviz_lite.experiments import inside_bert_cache
from bertviz_lite.experiments.inside_bert import analyse_changes
from bertviz_lite.experiments.inside_bert_result import ChangesResult
from bertviz_lite.record.runs import RunRecord
from bertviz_lite.serve.job import FINISHED
from bertviz_lite.serve.messages import AnalysisSpec, JobRequest
from bertviz_lite.serve.pool import JobPool

TIMEOUT = 240.0


def _train(model_dir, backbone, folder, mode: str) -> tuple[RunRecord, str]:
    config = RunConfig(task="sentiment", mode=mode, model=str(model_dir), max_train=48,
                       max_eval=24, batch_size=8, steps=6, lr=2e-3, seed=0)
    trainer = Trainer(config, backbone=backbone)
    record = [e for e in trainer.events() if isinstance(e, RunRecord)][0]
    path = save_task_model(trainer.model, config, trainer.data.label_names, folder / mode)
    return record, str(path)


@pytest.fixture(scope="module")
def runs(tiny_model_dir, tiny_backbone, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("analysis-runs")
    return {m: _train(tiny_model_dir, tiny_backbone, tmp, m) for m in ("frozen", "finetune")}


@pytest.fixture()
def feature_cache(tmp_path, monkeypatch):
    """A private feature folder (the worker processes inherit it) and fresh counts."""
    monkeypatch.setenv("BERTVIZ_FEATURE_CACHE", str(tmp_path / "features"))
    inside_bert_cache.reset()
    yield tmp_path / "features"
    inside_bert_cache.reset()


def _numbers(d: dict) -> list[tuple]:
    return [(g["group"], g["cka"], g["weight_change"], g["probe_pretrained"], g["probe_tuned"])
            for g in d["groups"]]


def test_pool_analysis_reports_progress_and_equals_a_direct_call(runs, tiny_model_dir,
                                                                 feature_cache):
    record, folder = runs["finetune"]
    with JobPool(1, warm_models=[str(tiny_model_dir)], threads_per_job=1) as pool:
        job = pool.submit_analysis(record, folder, owner="s1", max_examples=40)
        assert job.kind == "analysis" and job.state in ("queued", "starting")
        seen = set()
        end = time.monotonic() + TIMEOUT
        while job.state not in FINISHED and time.monotonic() < end:
            p = job.snapshot().progress
            if p is not None and p.phase == "analyse":
                seen.add(p.message)
            time.sleep(0.02)
        snap = job.snapshot()
        assert snap.state == "completed", snap.error
        assert snap.record is None and snap.progress.phase == "analyse"
        assert snap.progress.message == "done" and seen  # progress streamed while it ran
        # the second analysis in the same warm worker reads the pretrained side from memory
        again = pool.submit_analysis(runs["frozen"][0], runs["frozen"][1], max_examples=40)
        assert again.wait(TIMEOUT) and again.state == "completed", again.error
        stats = pool.stats()
    assert stats["analyses"] == 2 and stats["training_runs"] == 0
    pooled = ChangesResult.from_dict(snap.result)
    assert pooled.setup["pretrained_side"] == "computed"
    assert again.result["setup"]["pretrained_side"] == "memory"
    direct = analyse_changes(record, folder, max_examples=40).to_dict()
    assert direct["setup"]["pretrained_side"] == "disk"  # the worker wrote it
    for a, b in zip(_numbers(pooled.to_dict()), _numbers(direct), strict=True):
        assert a[0] == b[0]
        # the same computation; the worker ran on 1 torch thread, this process on more
        assert a[1:] == pytest.approx(b[1:], rel=1e-5, abs=1e-7)
    assert pooled.forgetting[0]["tuned"] == pytest.approx(direct["forgetting"][0]["tuned"],
                                                          rel=1e-5)


def test_pretrained_side_is_computed_once_across_analyses(runs, tiny_backbone, feature_cache):
    (frozen, f_dir), (tuned, t_dir) = runs["frozen"], runs["finetune"]
    a = analyse_changes(tuned, t_dir, backbone=tiny_backbone, max_examples=40)
    b = analyse_changes(frozen, f_dir, backbone=tiny_backbone, max_examples=40)
    assert inside_bert_cache.COUNTS["features computed"] == 1
    assert inside_bert_cache.COUNTS["features memory"] == 1
    assert inside_bert_cache.COUNTS["zero-shot computed"] == 1
    assert (a.setup["pretrained_side"], b.setup["pretrained_side"]) == ("computed", "memory")
    assert [g.probe_pretrained for g in a.groups] == [g.probe_pretrained for g in b.groups]
    assert a.forgetting[0]["pretrained"] == b.forgetting[0]["pretrained"]
    inside_bert_cache.reset()  # a new process: the checksummed files on disk are read instead
    c = analyse_changes(tuned, t_dir, backbone=tiny_backbone, max_examples=40)
    assert c.setup["pretrained_side"] == "disk"
    assert inside_bert_cache.COUNTS["features computed"] == 0
    assert c.to_dict()["groups"] == a.to_dict()["groups"]
    files = list(feature_cache.joinpath("changes").glob("*.safetensors"))
    assert len(files) == 2  # features + probes, zero-shot
    for f in files:  # a damaged file is detected, deleted and computed again, never used
        f.write_bytes(f.read_bytes()[:-9] + b"corrupted")
    inside_bert_cache.reset()
    d = analyse_changes(tuned, t_dir, backbone=tiny_backbone, max_examples=40)
    assert d.setup["pretrained_side"] == "computed"
    assert d.to_dict()["groups"] == a.to_dict()["groups"]


def test_a_stop_ends_an_analysis_between_two_steps(runs, tiny_backbone, feature_cache):
    from bertviz_lite.data.text import DEFAULT_LIMITS
    from bertviz_lite.serve.worker_process import _analyse

    class Stop:
        def is_set(self) -> bool:
            return True

    record, folder = runs["finetune"]
    sent = []
    backbones = type("B", (), {"get": lambda self, name: tiny_backbone})()
    spec = AnalysisSpec(record.to_dict(), folder, 40)
    job = JobRequest(7, RunConfig.from_dict(record.config), None, DEFAULT_LIMITS, None, spec)
    msg = _analyse(job, sent.append, backbones, Stop())
    assert (msg.seq, msg.status, msg.result) == (7, "stopped", None)
    assert not sent  # stopped at its first progress report, before any work was reported


def test_a_queued_analysis_stops_at_once_and_a_bad_checkpoint_fails_in_words(
        runs, tiny_model_dir, tmp_path, feature_cache):
    record, _ = runs["finetune"]
    with JobPool(1, warm_models=[str(tiny_model_dir)], threads_per_job=1) as pool:
        first = pool.submit_analysis(record, tmp_path / "nowhere", max_examples=40)
        queued = pool.submit_analysis(record, tmp_path / "nowhere", max_examples=40)
        queued.stop()
        assert first.wait(TIMEOUT) and first.state == "failed"
        assert "nowhere" in first.error or "saved model" in first.error, first.error
        assert queued.wait(TIMEOUT) and queued.state == "stopped"
