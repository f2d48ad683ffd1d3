"""The worker pool (serve/) and the shared run cache (runcache.py), on the tiny random BERT.

One pool (one warm worker process) serves the whole module: spawning costs seconds, a tiny run
a fraction of one. Tests that change a pool setting restore it; every job a test submits is
stopped and the pool is idle again before the next test starts.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from bertviz_lite.data.examples import DataError, SentenceExample, TaskData
from bertviz_lite.data.load import load_task_data
from bertviz_lite.engine.checkpoints import load_task_model
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.training import run_to_record
from bertviz_lite.record.runcache import RunCache
from bertviz_lite.record.runs import RunRecord, StepRecord
from bertviz_lite.serve.pool import ACTIVE, FINISHED, Job, JobPool, QueueFull
from bertviz_lite.serve.settings import DEFAULT_WORKER_NICE, Settings, SettingsError, load_settings

TIMEOUT = 180.0  # upper bounds: a tiny run takes well under a second, but a worker warming
# up (torch, the model) at nice 3 beside a loaded suite took over a minute in CI


def wait_for(predicate, timeout: float = TIMEOUT, interval: float = 0.01, what: str = "") -> None:
    """Poll until predicate() is true; fail with `what` after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        time.sleep(interval)


def tiny(tiny_model_dir: Path, **kw) -> RunConfig:
    base = dict(model=str(tiny_model_dir), max_train=32, max_eval=16, batch_size=8, epochs=1,
                train_eval_size=16, seed=0)
    base.update(kw)
    return RunConfig(**base)


def endless(tiny_model_dir: Path, **kw) -> RunConfig:
    """A run that only ends when stopped (a million tiny steps, no evaluations)."""
    return tiny(tiny_model_dir, mode="finetune", steps=1_000_000, evals_per_epoch=0, **kw)


def running(job: Job) -> bool:
    """True once the job has streamed its first step (its worker is training)."""
    return bool(job.snapshot().steps)


@pytest.fixture(scope="module")
def pool(tiny_model_dir, tmp_path_factory):
    p = JobPool(1, warm_models=[str(tiny_model_dir)], threads_per_job=1, abandon_after_s=600,
                checkpoint_dir=tmp_path_factory.mktemp("checkpoints"))
    p.start()
    yield p
    p.shutdown()


@pytest.fixture()
def jobs(pool):
    """submit() on the shared pool; afterwards stop what is left and restore the settings."""
    made: list[Job] = []
    saved = (pool.max_queue, pool.abandon_after_s, pool.cache)

    def submit(config: RunConfig, **kw) -> Job:
        job = pool.submit(config, **kw)
        made.append(job)
        return job

    yield submit
    pool.max_queue, pool.abandon_after_s, pool.cache = saved
    for job in made:
        job.stop()
    for job in made:
        assert job.wait(TIMEOUT), f"{job} did not end after stop()"
    wait_for(lambda: pool.stats()["running"] == 0 and pool.stats()["queued"] == 0,
             what="an idle pool")


# -- streaming ---------------------------------------------------------------------------------
def test_job_streams_every_step_in_order_like_train_in_process(jobs, pool, tiny_model_dir,
                                                              tiny_backbone):
    config = tiny(tiny_model_dir, mode="finetune", evals_per_epoch=2)
    t0 = time.perf_counter()
    job = jobs(config, owner="alice")
    submit_s = time.perf_counter() - t0
    assert job.owner == "alice" and job.config == config
    seen: list[StepRecord] = []
    states: set[str] = set()
    slowest_poll = 0.0
    while True:
        t = time.perf_counter()
        snap = job.snapshot(since_step=seen[-1].step if seen else 0)
        slowest_poll = max(slowest_poll, time.perf_counter() - t)
        states.add(snap.state)
        seen += snap.steps
        if snap.done:
            break
        time.sleep(0.005)
    assert submit_s < 0.5 and slowest_poll < 0.5  # the page never waits for training
    assert job.state == "completed" and job.error == ""
    rec = job.record
    assert isinstance(rec, RunRecord) and rec.status == "completed"
    assert [s.step for s in seen] == list(range(1, len(rec.steps) + 1))  # each once, in order
    assert [dataclasses.asdict(s) for s in seen] == [dataclasses.asdict(s) for s in rec.steps]
    assert job.snapshot().evals == rec.evals
    assert states <= {"queued", "starting", "running", "completed"}

    local = run_to_record(config, backbone=tiny_backbone)
    assert rec.groups == local.groups and rec.frozen_groups == local.frozen_groups
    assert rec.trainable_params == local.trainable_params
    assert rec.key == local.key and rec.data == local.data
    assert len(rec.steps) == len(local.steps) == 4
    for remote, here in zip(rec.steps, local.steps):
        assert (remote.step, remote.epoch, remote.examples) == (here.step, here.epoch, here.examples)
        assert list(remote.grad_norm) == list(here.grad_norm) == rec.groups
        assert remote.loss == pytest.approx(here.loss, rel=1e-4)
        assert all(v > 0 for v in remote.grad_norm.values())  # fine-tuning: every group learns
    assert [(e.step, e.split, e.metric) for e in rec.evals] == \
        [(e.step, e.split, e.metric) for e in local.evals]
    assert rec.final["metric"] == local.final["metric"] == "accuracy"
    stats = pool.stats()
    assert stats["event_latency_mean_s"] is not None and stats["event_latency_mean_s"] < 0.25


def test_a_model_that_is_not_warm_is_loaded_once_and_kept(jobs, pool, tmp_path_factory):
    from conftest import make_tiny_bert

    other = make_tiny_bert(tmp_path_factory.mktemp("other-bert"), layers=1)
    first = jobs(RunConfig(model=str(other), max_train=16, max_eval=8, batch_size=8, epochs=1))
    assert first.wait(TIMEOUT) and first.state == "completed", first.error
    assert first.record.groups == ["embeddings", "layer.0", "head"]
    assert str(other) in pool.stats()["workers"][0]["models"]
    again = jobs(RunConfig(model=str(other), max_train=16, max_eval=8, batch_size=8, epochs=1,
                           seed=1))
    assert again.wait(TIMEOUT) and again.state == "completed"
    assert str(other) in pool.stats()["workers"][0]["models"]


# -- one at a time, queue ----------------------------------------------------------------------
def test_one_job_at_a_time_with_queue_positions(jobs, pool, tiny_model_dir):
    first = jobs(endless(tiny_model_dir))
    second = jobs(tiny(tiny_model_dir, seed=1))
    third = jobs(tiny(tiny_model_dir, seed=2))
    assert first.state in ("starting", "running") and first.queue_position() is None
    assert (second.state, third.state) == ("queued", "queued")
    assert (second.queue_position(), third.queue_position()) == (1, 2)
    assert pool.stats()["queued"] == 2
    wait_for(lambda: running(first), what="the first job's first step")
    assert pool.stats()["running"] == 1  # max_workers=1
    assert second.snapshot().queue_position == 1 and third.snapshot().queue_position == 2
    first.stop()
    for job in (first, second, third):
        assert job.wait(TIMEOUT)
    assert first.state == "stopped"
    assert second.state == third.state == "completed"
    spans = [(j.snapshot().started, j.snapshot().finished) for j in (first, second, third)]
    for (s1, f1), (s2, f2) in zip(spans, spans[1:]):
        assert s1 < f1 <= s2 < f2  # never two at once, in submission order


def test_eta_while_queued_from_finished_durations(jobs, tiny_model_dir):
    done = jobs(tiny(tiny_model_dir, seed=5))  # gives the pool a duration to estimate from
    assert done.wait(TIMEOUT) and done.state == "completed"
    blocker = jobs(endless(tiny_model_dir))
    waiting = jobs(tiny(tiny_model_dir, seed=6))
    eta = waiting.eta_seconds()
    assert eta is not None and eta >= 0
    assert blocker.eta_seconds() is None  # not queued


# -- stop ---------------------------------------------------------------------------------------
def test_stop_running_job_ends_quickly_and_next_runs(jobs, tiny_model_dir):
    job = jobs(endless(tiny_model_dir))
    after = jobs(tiny(tiny_model_dir, seed=3))
    wait_for(lambda: running(job), what="the first step")
    t0 = time.perf_counter()
    job.stop()
    assert job.wait(10.0)
    assert time.perf_counter() - t0 < 5.0
    assert job.state == "stopped" and job.error == ""
    assert job.record is not None and job.record.status == "stopped"
    assert "Stopped by the user" in job.record.reason
    assert after.wait(TIMEOUT) and after.state == "completed"


def test_stop_queued_job_ends_at_once(jobs, pool, tiny_model_dir):
    blocker = jobs(endless(tiny_model_dir))
    queued = jobs(tiny(tiny_model_dir, seed=4))
    assert queued.queue_position() == 1
    queued.stop()
    assert queued.state == "stopped" and queued.wait(0)
    assert queued.queue_position() is None and queued.record is None
    assert pool.stats()["queued"] == 0
    assert blocker.state in ("starting", "running")


# -- failures -----------------------------------------------------------------------------------
def test_bad_data_file_fails_with_the_data_error_and_pool_keeps_working(jobs, pool, tmp_path,
                                                                        tiny_model_dir):
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence\tlabel\nthis row has no label column at all\n", encoding="utf-8")
    config = tiny(tiny_model_dir, train_file=str(bad))
    with pytest.raises(DataError) as expected:
        load_task_data("sentiment", train_file=str(bad))
    job = jobs(config)  # no cache: the worker reads the file and fails
    assert job.wait(TIMEOUT)
    assert job.state == "failed"
    assert job.error == str(expected.value) and "Traceback" not in job.error
    assert job.snapshot().error == job.error

    pool.cache = RunCache(tmp_path / "cache")  # with a cache too: the worker reads the file
    again = jobs(config)
    assert again.wait(TIMEOUT) and again.state == "failed" and again.error == str(expected.value)
    missing = jobs(tiny(tiny_model_dir, train_file=str(tmp_path / "missing.tsv")))
    assert missing.state == "failed" and "file not found" in missing.error  # its key: at once

    good = jobs(tiny(tiny_model_dir))
    assert good.wait(TIMEOUT) and good.state == "completed"


def test_unexpected_error_gives_a_plain_message_and_logs_the_traceback(jobs, tiny_model_dir,
                                                                       caplog):
    broken = TaskData("sentiment", [SentenceExample("good", 0), SentenceExample("bad", 7)] * 4,
                      [SentenceExample("fine", 1)] * 2, ["negative", "positive"])
    with caplog.at_level(logging.ERROR, logger="bertviz_lite.serve.pool"):
        job = jobs(tiny(tiny_model_dir), data=broken)
        assert job.wait(TIMEOUT)
    assert job.state == "failed"
    assert job.error == ("Training failed unexpectedly (IndexError); the error was logged for "
                         "the instructor")
    assert "Traceback" in caplog.text and "IndexError" in caplog.text
    good = jobs(tiny(tiny_model_dir))
    assert good.wait(TIMEOUT) and good.state == "completed"


def test_killed_worker_fails_its_job_and_is_replaced(jobs, pool, tiny_model_dir):
    job = jobs(endless(tiny_model_dir))
    wait_for(lambda: running(job), what="the first step")
    stats = pool.stats()
    pid = next(w["pid"] for w in stats["workers"] if w["job"] == job.id)
    restarts = stats["worker_restarts"]
    os.kill(pid, signal.SIGKILL)
    assert job.wait(TIMEOUT)
    assert job.state == "failed"
    assert job.error.startswith("The training process stopped unexpectedly (exit code -9)")
    nxt = jobs(tiny(tiny_model_dir, seed=7))
    assert nxt.wait(TIMEOUT) and nxt.state == "completed"
    stats = pool.stats()
    assert stats["worker_restarts"] == restarts + 1
    assert stats["workers_alive"] == 1 and stats["workers"][0]["pid"] != pid


# -- watchdog -----------------------------------------------------------------------------------
def test_a_worker_that_does_not_confirm_a_stop_is_killed_once(jobs, pool, tiny_model_dir,
                                                              caplog):
    """A stop not confirmed within stop_timeout_s (here: the worker is frozen with SIGSTOP)
    kills the worker once, the run ends stopped and a fresh worker takes the next run."""
    job = jobs(endless(tiny_model_dir, seed=2601))
    wait_for(lambda: running(job), what="the first step")
    pid = next(w["pid"] for w in pool.stats()["workers"] if w["job"] == job.id)
    pool.stop_timeout_s = 1.0
    try:
        with caplog.at_level(logging.WARNING, logger="bertviz_lite.serve.pool"):
            os.kill(pid, signal.SIGSTOP)
            job.stop()
            assert job.wait(TIMEOUT) and job.state == "stopped", job.snapshot()
            time.sleep(1.0)  # a few more watchdog ticks: nothing more is logged
    finally:
        pool.stop_timeout_s = 60.0
    assert caplog.text.count("did not stop within 1 s; killing worker") == 1, caplog.text
    assert job.record is not None and job.record.steps, "the steps before the stop are kept"
    nxt = jobs(tiny(tiny_model_dir, seed=2602))
    assert nxt.wait(TIMEOUT) and nxt.state == "completed"
    assert pool.stats()["workers"][0]["pid"] != pid


def test_watchdog_stops_a_job_nobody_polls(jobs, pool, tiny_model_dir, caplog):
    pool.abandon_after_s = 1.0
    job = jobs(endless(tiny_model_dir))
    polled_until = time.monotonic() + 2.0  # polled for twice the limit: keeps running
    while time.monotonic() < polled_until:
        assert job.snapshot().state in ("starting", "running")
        time.sleep(0.1)
    with caplog.at_level(logging.WARNING, logger="bertviz_lite.serve.pool"):
        t0 = time.monotonic()
        assert job.wait(15.0)  # wait() does not touch: the tab "is closed"
        assert time.monotonic() - t0 >= 0.8
    assert job.state == "stopped"
    assert "was not polled" in caplog.text
    assert pool.stats()["abandoned"] >= 1


# -- cache and sharing --------------------------------------------------------------------------
def test_cache_hit_is_instant_and_equal(jobs, pool, tmp_path, tiny_model_dir):
    pool.cache = RunCache(tmp_path / "runs")
    config = tiny(tiny_model_dir, seed=11)
    first = jobs(config)
    assert first.wait(TIMEOUT) and first.state == "completed"
    assert pool.cache.keys() == [first.record.key]
    t0 = time.perf_counter()
    again = jobs(config, owner="bob")
    assert time.perf_counter() - t0 < 0.5
    assert again.state == "cached" and again.wait(0)
    assert again.record == first.record
    snap = again.snapshot()
    assert snap.steps == first.record.steps and snap.evals == first.record.evals
    assert snap.queue_position is None and snap.record == first.record

    other_seed = jobs(tiny(tiny_model_dir, seed=12))  # a different config trains
    assert other_seed.state != "cached"
    assert other_seed.wait(TIMEOUT) and len(pool.cache) == 2


def test_identical_concurrent_submissions_train_once(jobs, pool, tmp_path, tiny_model_dir):
    pool.cache = RunCache(tmp_path / "runs")
    blocker = jobs(endless(tiny_model_dir))
    before = pool.stats()["training_runs"]
    config = tiny(tiny_model_dir, seed=21)
    a = jobs(config, owner="a")
    b = jobs(config, owner="b")
    assert pool.stats()["training_runs"] == before + 1
    assert b.shared and not a.shared and a.id != b.id
    assert a.queue_position() == b.queue_position() == 1
    blocker.stop()
    assert a.wait(TIMEOUT) and b.wait(TIMEOUT)
    assert a.state == b.state == "completed"
    assert b.record == a.record and b.snapshot().steps == a.record.steps
    assert pool.stats()["training_runs"] == before + 1


def test_an_upload_is_keyed_by_its_bytes_and_parsed_in_the_worker(jobs, pool, tmp_path,
                                                                  tiny_model_dir, monkeypatch):
    """submit() never parses an upload in the caller's thread (the page's): its key comes from
    the bytes. Identical bytes follow one run; other bytes never share another's run."""
    import bertviz_lite.data.load as load
    import bertviz_lite.data.source as source
    from bertviz_lite.data.source import Upload

    def refuse(*args, **kwargs):
        raise AssertionError("the upload was parsed in the calling thread")

    for module, name in ((load, "parse_examples"), (load, "parse_upload"),
                         (source, "parse_upload")):
        monkeypatch.setattr(module, name, refuse)
    rows = "".join(f"sentence number {i} is {'good' if i % 2 else 'bad'}\t{i % 2}\n"
                   for i in range(100_000))
    raw = ("sentence\tlabel\n" + rows).encode("utf-8")  # a few MB
    pool.cache = RunCache(tmp_path / "runs")
    blocker = jobs(endless(tiny_model_dir))  # the worker is busy: the uploads wait in the queue
    config = tiny(tiny_model_dir, seed=61)
    t0 = time.perf_counter()
    a = jobs(config, data=Upload("sentiment", "mine.tsv", raw), owner="a")
    assert time.perf_counter() - t0 < 0.5 and a.state == "queued"
    b = jobs(config, data=Upload("sentiment", "copy.tsv", raw), owner="b")
    c = jobs(config, data=Upload("sentiment", "mine.tsv", raw.replace(b"good", b"fine", 1)),
             owner="c")
    assert b.shared and not c.shared and c.queue_position() == 2
    for job in (a, b, c):
        job.stop()
    blocker.stop()
    monkeypatch.undo()
    small = Upload("sentiment", "small.tsv", raw[:raw.index(b"\n", 4000) + 1])  # it trains
    done = jobs(config, data=small)
    assert done.wait(TIMEOUT) and done.state == "completed"
    assert done.record.data["source"] == "uploaded file"
    assert jobs(config, data=small).state == "cached"


def test_stopping_one_follower_does_not_stop_the_others(jobs, pool, tiny_model_dir):
    config = endless(tiny_model_dir, seed=31)
    data = load_task_data("sentiment", max_train=32, max_eval=16)  # data given: a key to share
    a = jobs(config, data=data, owner="a")
    b = jobs(config, data=data, owner="b")
    assert b.shared
    wait_for(lambda: running(a), what="the first step")
    a.stop()  # a leaves; b still watches
    assert a.state == "stopped" and a.wait(0) and a.record is None
    frozen_at = a.snapshot().last_step
    wait_for(lambda: b.snapshot().last_step > frozen_at + 3, what="more steps for b")
    assert b.state == "running" and a.snapshot().last_step == frozen_at
    b.stop()  # the last one watching: the run stops
    assert b.wait(10.0) and b.state == "stopped" and b.record.status == "stopped"


def test_queue_full(jobs, pool, tiny_model_dir):
    pool.max_queue = 2
    jobs(endless(tiny_model_dir))
    jobs(tiny(tiny_model_dir, seed=41))
    jobs(tiny(tiny_model_dir, seed=42))
    with pytest.raises(QueueFull, match=r"The class server is busy: 2 jobs are waiting\. "
                                        r"Try again in a minute\."):
        pool.submit(tiny(tiny_model_dir, seed=43))
    assert pool.stats()["queued"] == 2


# -- trained model ------------------------------------------------------------------------------
def test_save_model_writes_a_loadable_checkpoint(jobs, pool, tiny_model_dir, tiny_backbone):
    config = tiny(tiny_model_dir, mode="finetune", seed=51)
    job = jobs(config, save_model=True)
    assert job.wait(TIMEOUT) and job.state == "completed"
    assert job.checkpoint == pool.checkpoint_dir / job.id and job.checkpoint.is_dir()
    trained = load_task_model(job.checkpoint, tiny_backbone)
    assert trained.config == config
    assert trained.label_names == job.record.data["labels"]
    pretrained = tiny_backbone.encoder.state_dict()["embeddings.word_embeddings.weight"]
    tuned = trained.model.encoder.state_dict()["embeddings.word_embeddings.weight"]
    assert not tuned.equal(pretrained)  # fine-tuned weights, not a copy of the backbone
    plain = jobs(tiny(tiny_model_dir, seed=52))
    assert plain.wait(TIMEOUT) and plain.checkpoint is None


# -- the run cache on its own -------------------------------------------------------------------
def _record(key: str, value: float = 0.5) -> RunRecord:
    steps = [StepRecord(1, 0, 0.7, 1e-3, {"head": 0.4}, {"head": 0.01}, 0.01, 8, 0)]
    return RunRecord(config={"task": "sentiment", "extra": {}}, groups=["head"],
                     frozen_groups=[], trainable_params=10, total_params=10, device="cpu",
                     steps=steps, final={"metric": "accuracy", "value": value},
                     status="completed", key=key)


def test_run_cache_roundtrip_and_corrupt_files(tmp_path, caplog):
    cache = RunCache(tmp_path)
    assert cache.get("0123456789abcdef") is None and len(cache) == 0
    rec = _record("0123456789abcdef")
    path = cache.put(rec)
    assert path == tmp_path / "0123456789abcdef.json"
    assert cache.get(rec.key) == rec and "0123456789abcdef" in cache
    assert cache.keys() == ["0123456789abcdef"] and len(cache) == 1
    assert cache.get("../../etc/passwd") is None  # keys are content hashes, never paths
    with pytest.raises(ValueError):
        cache.put(_record(""))

    (tmp_path / "fedcba9876543210.json").write_text('{"version": 1, "conf', encoding="utf-8")
    (tmp_path / "aaaaaaaaaaaaaaaa.json").write_text(json.dumps({"nothing": 1}), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="bertviz_lite.record.runcache"):
        assert cache.get("fedcba9876543210") is None
        assert cache.get("aaaaaaaaaaaaaaaa") is None
    assert "fedcba9876543210" in caplog.text and "aaaaaaaaaaaaaaaa" in caplog.text
    wrong = _record("bbbbbbbbbbbbbbbb")
    wrong.save(tmp_path / "cccccccccccccccc.json")  # a record filed under another key
    assert cache.get("cccccccccccccccc") is None


def test_run_cache_readers_never_see_partial_files(tmp_path):
    writer_cache, reader_cache = RunCache(tmp_path), RunCache(tmp_path)  # two "app processes"
    key = "00000000000000aa"
    records = [_record(key, value=i / 10) for i in range(10)]
    for r in records:  # make them big enough that a torn write would show
        r.steps = r.steps * 300
    stop = threading.Event()
    seen: list[RunRecord | None] = []

    def write() -> None:
        i = 0
        while not stop.is_set():
            writer_cache.put(records[i % len(records)])
            i += 1

    t = threading.Thread(target=write)
    t.start()
    try:
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            seen.append(reader_cache.get(key))
    finally:
        stop.set()
        t.join()
    got = [r for r in seen if r is not None]
    assert got and all(r in records for r in got)
    assert reader_cache.keys() == [key]  # no temporary file is ever listed


def test_a_finished_job_stays_finished(jobs, tiny_model_dir):
    """Every state seen while it runs is active; once final, stop() and more polling change
    nothing (the state, the record and done agree on every handle and snapshot)."""
    job = jobs(tiny(tiny_model_dir, seed=71))
    seen = set()
    while not job.done:
        seen.add(job.snapshot().state)
        time.sleep(0.005)
    assert seen <= ACTIVE and job.state == "completed" and job.state in FINISHED
    record = job.record
    job.stop()
    time.sleep(0.3)
    snap = job.snapshot()
    assert snap.done and snap.state == "completed" and not snap.stopping
    assert job.record is record and job.wait(0) and job.error == ""


def test_workers_run_at_a_lower_cpu_priority(pool):
    """The pool's workers are `worker_nice` nicer than this process (capped at 19), so the
    web server in this process draws pages first while they train."""
    stats = pool.stats()
    assert stats["worker_nice"] == DEFAULT_WORKER_NICE == Settings().worker_nice > 0
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    for w in stats["workers"]:
        assert os.getpriority(os.PRIO_PROCESS, w["pid"]) == min(19, ours + stats["worker_nice"])


def test_worker_nice_setting(tmp_path):
    assert load_settings(tmp_path / "none.toml", env={}).worker_nice == DEFAULT_WORKER_NICE
    assert load_settings(tmp_path / "none.toml", env={"BERTVIZ_WORKER_NICE": "0"}).worker_nice == 0
    with pytest.raises(SettingsError, match="worker_nice must be between 0 and 19"):
        load_settings(tmp_path / "none.toml", env={"BERTVIZ_WORKER_NICE": "25"})


def test_stop_before_the_worker_begins_and_shutdown_stops_running_jobs(tiny_model_dir):
    with JobPool(1, warm_models=[str(tiny_model_dir)], threads_per_job=1, worker_nice=3) as own:
        early = own.submit(tiny(tiny_model_dir))
        assert early.state == "starting"  # handed to the worker while it is still warming up
        early.stop()
        assert early.wait(TIMEOUT) and early.state == "stopped"
        assert early.record is not None and early.record.steps == []
        later = own.submit(tiny(tiny_model_dir, seed=61))  # the old stop must not leak into it
        assert later.wait(TIMEOUT) and later.state == "completed"
        busy = own.submit(endless(tiny_model_dir))
        wait_for(lambda: running(busy), what="the first step")
        pid = own.stats()["workers"][0]["pid"]
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 3)
    assert busy.state == "stopped" and busy.record is not None
    with pytest.raises(RuntimeError, match="shut down"):
        own.submit(tiny(tiny_model_dir))
    assert own.stats()["workers_alive"] == 0


def test_a_run_is_stopped_at_the_time_limit_with_its_steps_kept(jobs, pool, tiny_model_dir):
    """job_time_limit_s (issue 25): a run that would never end stops, its steps are kept and
    its record says why; the pool's setting is restored afterwards."""
    job = jobs(endless(tiny_model_dir, seed=2501), owner="browser:a")
    wait_for(lambda: running(job), what="the first step")  # a loaded machine: steps to keep
    pool.time_limit_s = 1.0
    try:
        assert job.wait(TIMEOUT), job.snapshot()
    finally:
        pool.time_limit_s = None
    snap = job.snapshot()
    assert snap.state == "stopped" and snap.record is not None and snap.record.steps
    assert "at most 1 s (job_time_limit_s)" in snap.record.reason
    assert pool.stats()["time_limited"] >= 1


# -- one fine-tuned model per configuration for the whole server ------------------------------
def test_a_saved_model_is_trained_once_and_found_by_every_session(jobs, pool, tiny_model_dir,
                                                                   tmp_path):
    """Attention and Attribution reuse the server's fine-tuned model of a task:
    `saved_model` finds a finished save_model run of exactly this configuration without
    starting anything; another configuration finds none."""
    pool.cache = RunCache(tmp_path / "cache")  # (the jobs fixture puts the old one back)
    config = tiny(tiny_model_dir, mode="finetune", seed=61)
    assert pool.saved_model(config) is None
    trained = pool.stats()["training_runs"]
    job = jobs(config, owner="first-session", save_model=True)
    assert job.wait(TIMEOUT) and job.state == "completed"
    record, folder = pool.saved_model(config)
    assert folder == job.checkpoint and (folder / "task.json").is_file()
    assert record.key == job.record.key
    assert pool.saved_model(config.replace(seed=62)) is None
    again = jobs(config, owner="second-session", save_model=True)
    assert again.wait(10) and again.checkpoint == folder  # reused, not trained again
    assert pool.stats()["training_runs"] == trained + 1
