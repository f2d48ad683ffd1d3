"""The Ray backend on a real local Ray cluster (`ray start --head` on 127.0.0.1, 2 CPUs).

The same JobPool runs on Ray actors instead of local worker processes: records equal the local
backend's, Stop ends a job within a step, a killed actor fails its job with a message and the
next job runs, two app processes never run more jobs at once than the cluster limit, and the
run cache is shared. Marked `ray` so a quick run can skip them (`-m "not ray"`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Keep every Ray address on loopback: without this Ray swaps 127.0.0.1 for the machine's
# interface address (read at import time, so set before ray is imported).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray", reason="the Ray tests need pip install 'bertviz-lite[ray]'")

from bertviz_lite.bench.raycluster import cluster_env  # noqa: E402
from bertviz_lite.engine.config import RunConfig  # noqa: E402
from bertviz_lite.engine.training import run_to_record  # noqa: E402
from bertviz_lite.record.runcache import RunCache  # noqa: E402
from bertviz_lite.serve.backend import RayOptions  # noqa: E402
from bertviz_lite.serve.backend_choice import make_backend  # noqa: E402
from bertviz_lite.serve.pool import FINISHED, JobPool  # noqa: E402

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 120.0


@pytest.fixture(scope="module")
def cluster(ray_cluster):
    """The session's local Ray cluster (tests/conftest.py); its address."""
    return ray_cluster[0]


def _config(model: Path, **kw) -> RunConfig:
    base = dict(model=str(model), max_train=32, max_eval=16, batch_size=8, epochs=1,
                train_eval_size=16, seed=0, mode="finetune")
    base.update(kw)
    return RunConfig(**base)


def _ray_pool(address: str, model: Path, *, max_jobs: int = 1, cache: RunCache | None = None,
              workers: int = 1) -> JobPool:
    backend = make_backend("ray", RayOptions(address=address, num_cpus=1, num_gpus=0,
                                             max_jobs=max_jobs))
    return JobPool(workers, warm_models=[str(model)], threads_per_job=1, abandon_after_s=600,
                   cache=cache, backend=backend, stop_timeout_s=30).start()


def _wait(pred, what: str, timeout: float = TIMEOUT) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def pool(cluster, tiny_model_dir):
    p = _ray_pool(cluster, tiny_model_dir)
    yield p
    p.shutdown()


def _finish(job) -> object:
    _wait(lambda: job.snapshot().state in FINISHED, f"job {job.id} to finish")
    return job.snapshot()


def test_ray_job_streams_every_step_and_equals_the_local_run(pool, tiny_model_dir):
    config = _config(tiny_model_dir)
    snap = _finish(pool.submit(config, owner="a"))
    assert snap.state == "completed", snap.error
    local = run_to_record(config)
    ray_rec = snap.record
    assert [s.step for s in snap.steps] == list(range(1, len(local.steps) + 1))
    assert ray_rec.groups == local.groups and ray_rec.config == local.config
    for a, b in zip(ray_rec.steps, local.steps, strict=True):
        for g in local.groups:
            assert a.grad_norm[g] == pytest.approx(b.grad_norm[g], rel=1e-6, abs=1e-9)
    assert ray_rec.final["value"] == pytest.approx(local.final["value"], abs=1e-6)


def test_ray_stop_ends_a_job_within_one_step(pool, tiny_model_dir):
    job = pool.submit(_config(tiny_model_dir, steps=1_000_000, evals_per_epoch=0), owner="b")
    _wait(lambda: bool(job.snapshot().steps), "the first step")
    job.stop()
    before = len(job.snapshot().steps)
    snap = _finish(job)
    assert snap.state == "stopped"
    assert len(snap.record.steps) <= before + 2  # the step in flight, at most one more


def test_a_killed_actor_fails_its_job_with_a_message_and_the_next_job_runs(pool, tiny_model_dir):
    job = pool.submit(_config(tiny_model_dir, steps=1_000_000, evals_per_epoch=0, seed=3),
                      owner="c")
    _wait(lambda: bool(job.snapshot().steps), "the first step")
    pid = next(w["pid"] for w in pool.stats()["workers"] if w["job"] == job.id)
    os.kill(pid, signal.SIGKILL)  # the actor's process, as the OOM killer would
    snap = _finish(job)
    assert snap.state == "failed"
    assert "stopped unexpectedly" in snap.error and "Traceback" not in snap.error
    nxt = _finish(pool.submit(_config(tiny_model_dir, seed=4), owner="c"))
    assert nxt.state == "completed", nxt.error


_REPLICA = r"""
import json, sys, time
from pathlib import Path
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.record.runcache import RunCache
from bertviz_lite.serve.backend import RayOptions
from bertviz_lite.serve.backend_choice import make_backend
from bertviz_lite.serve.pool import FINISHED, JobPool
address, model, cache, seed0 = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
backend = make_backend("ray", RayOptions(address=address, num_cpus=0.25, num_gpus=0, max_jobs=1))
# one actor per replica: the two replicas' actors would overlap without the shared limiter
pool = JobPool(1, warm_models=[model], threads_per_job=1, cache=RunCache(Path(cache)),
               backend=backend).start()
jobs = [pool.submit(RunConfig(model=model, mode="finetune", max_train=32, max_eval=16,
                              batch_size=8, steps=12, seed=seed0 + i), owner=str(i))
        for i in range(2)]
# poll every job each time (as each student's page does): a job nobody polls for
# abandon_after_s is stopped, and `any(...)` would stop polling at the first running one
while True:
    states = [j.snapshot().state for j in jobs]
    if all(s in FINISHED for s in states):
        break
    time.sleep(0.05)
stats = backend.limiter_stats()
pool.shutdown()
print(json.dumps({"states": states, "peak": stats["peak"]}))
"""


def test_two_app_processes_share_the_cluster_limit_and_the_run_cache(cluster, tiny_model_dir,
                                                                     tmp_path):
    cache = tmp_path / "cache"
    env = cluster_env()
    procs = [subprocess.Popen([sys.executable, "-c", _REPLICA, cluster, str(tiny_model_dir),
                               str(cache), str(10 * k)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in (1, 2)]
    outs = [p.communicate(timeout=400) for p in procs]
    results = [json.loads(o[0].strip().splitlines()[-1]) for o in outs]
    for r in results:
        assert r["states"] == ["completed", "completed"]
    # the limiter is one actor on the cluster: max_jobs = 1 held at once, by both replicas
    assert max(r["peak"] for r in results) == 1
    # the shared run cache: a third replica's identical run is a hit (no training)
    cached = RunCache(cache)
    config = RunConfig(model=str(tiny_model_dir), mode="finetune", max_train=32, max_eval=16,
                       batch_size=8, steps=12, seed=10)
    with _ray_pool(cluster, tiny_model_dir, cache=cached) as p:
        job = p.submit(config, owner="z")
        snap = _finish(job)
        assert snap.state == "cached" and snap.record is not None
        assert p.stats()["cache_hits"] == 1 and p.stats()["training_runs"] == 0


def test_ray_analysis_job_streams_progress_and_its_result(pool, tiny_model_dir):
    """An inside-BERT analysis is a job like a training run on the Ray backend too."""
    record = run_to_record(_config(tiny_model_dir, mode="frozen"))
    job = pool.submit_analysis(record, None, owner="a", max_examples=16)
    snap = _finish(job)
    assert snap.state == "completed", snap.error
    assert job.kind == "analysis" and snap.progress.phase == "analyse"
    assert [g["cka"] for g in snap.result["groups"]] == [1.0, 1.0, 1.0]  # frozen: the control
    assert all(g["weight_change"] == 0.0 for g in snap.result["groups"])
