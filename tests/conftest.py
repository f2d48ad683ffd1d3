"""Shared fixtures: a tiny random BERT on disk (fast), the real bundled model (slow), the real
datasets in ../shared/data (skipped with a reason where that folder is absent)."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test ever downloads anything
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Ray (the Ray backend's tests) keeps every address on loopback only when this is set before
# ray is first imported, by whichever test module imports it first.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# A call into Ray after a test's pool left its cluster fails instead of starting a new local
# Ray instance in the test process (which `ray stop` would then take down with the process).
os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
# `auto` precision is fp32 on every CPU in the tests (BERTVIZ_CPU_BF16=0), so their cost and
# numbers do not depend on whether this CPU has native bf16; the precision logic is tested
# through its pure functions, and bf16 where a test asks for it by name.
os.environ.setdefault("BERTVIZ_CPU_BF16", "0")
# The app servers the tests start poll a running job twice a second, not five times (the
# default): every poll redraws the live view in the server and in Chromium, and those tests
# check what the live view shows, not how often. tests/test_stage_e2e.py runs the default
# and measures its polls a second.
os.environ.setdefault("BERTVIZ_LIVE_REFRESH_S", "0.5")
# Run caches and frozen features go to a home of the test session's own, never the user's
# ~/.bertviz-lite: a feature file left there by an earlier run made a later "live" frozen run
# finish before its first frame (and tests must not fill a person's home folder).
_TEST_HOME = tempfile.mkdtemp(prefix="bertviz-test-home-")
os.environ["BERTVIZ_HOME"] = _TEST_HOME
os.environ.pop("BERTVIZ_FEATURE_CACHE", None)
atexit.register(shutil.rmtree, _TEST_HOME, ignore_errors=True)

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("BERTVIZ_SHARED_DATA", REPO.parent / "shared" / "data"))

# Under pytest-xdist (scripts/test.sh runs two workers) each worker trains on one thread, so
# two workers share two cores without oversubscribing them; alone, a test may use two.
# The processes the tests start (app servers and their workers, notebook kernels, CLI runs)
# inherit OMP_NUM_THREADS=1 under two workers: two-thread torch processes in both workers
# oversubscribed the two cores (two notebook runs side by side: 39 s, with one thread each: 27 s).
_XDIST_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, torch.get_num_threads()) // _XDIST_WORKERS))
if _XDIST_WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


def pytest_addoption(parser: pytest.Parser) -> None:
    """--ray-tests: scripts/test.sh runs the tests that start a Ray cluster apart, in one
    process after the two workers (`ray start` and `ray stop` act on the whole machine, so two
    workers must never hold a cluster each)."""
    parser.addoption("--ray-tests", choices=("with", "skip", "only"), default="with",
                     help="the tests marked ray: run them with the rest (default), leave them "
                          "out, or run only them")


# The longest modules first (their summed test times in a CI run on two cores): with
# scripts/test.sh's `--dist loadscope` each module runs on one worker, so a long module that
# starts last would leave the other worker idle at the end.
LONGEST_FIRST = ("test_server", "test_a11y", "test_lesson_e2e", "test_bench",
                 "test_bad_input_app", "test_class_e2e", "test_stage_e2e", "test_e2e",
                 "test_analysis_pool", "test_learning_curves_e2e", "test_learning_curves",
                 "test_jobs", "test_bundled", "test_changes_page", "test_page_speed")


def _module_rank(item: pytest.Item) -> int:
    name = item.module.__name__.rpartition(".")[2] if item.module is not None else ""
    return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Apply --ray-tests: deselect the Ray tests (skip) or everything else (only); order the
    modules longest first (LONGEST_FIRST; the rest keep their order)."""
    items.sort(key=_module_rank)
    which = config.getoption("--ray-tests")
    if which != "with":
        wanted = which == "only"
        is_ray = [item.get_closest_marker("ray") is not None for item in items]
        dropped = [item for item, r in zip(items, is_ray, strict=True) if r != wanted]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = [item for item, r in zip(items, is_ray, strict=True) if r == wanted]


_WORKER_CLOCK: dict[str, list[float]] = {}  # worker: [busy seconds, tests, last end]
_SESSION_START = __import__("time").time()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """In the process that reports (xdist's controller, or pytest alone): each worker's busy
    seconds and when its last test ended, for the balance line at the end."""
    import time

    node = getattr(report, "node", None)
    worker = getattr(getattr(node, "gateway", None), "id", None) or "main"
    clock = _WORKER_CLOCK.setdefault(worker, [0.0, 0, 0.0])
    clock[0] += report.duration
    clock[1] += report.when == "call"
    clock[2] = time.time() - _SESSION_START


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 (pytest's own type)
    """One line per worker: tests run, seconds busy, and when its last test ended (how well
    `--dist loadscope` balanced the modules: the run lasts as long as the later worker)."""
    for worker, (busy, tests, last) in sorted(_WORKER_CLOCK.items()):
        terminalreporter.write_line(f"[test] worker {worker}: {tests} tests, {busy:.0f} s busy, "
                                    f"its last test ended {last:.0f} s after the start")


def make_tiny_bert(path: Path, *, layers: int = 2, hidden: int = 32, heads: int = 4) -> Path:
    """Save a random-weight BERT (hidden 32, 2 layers, 4 heads) with the bundled tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from bertviz_lite.engine.models import bundled_model_dir

    tok = AutoTokenizer.from_pretrained(bundled_model_dir())
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                     num_attention_heads=heads, intermediate_size=hidden * 2,
                     max_position_embeddings=128)
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny random BERT saved with safetensors."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_backbone(tiny_model_dir: Path):
    """The tiny BERT loaded once (train() copies it for every run)."""
    from bertviz_lite.engine.models import load_backbone

    return load_backbone(str(tiny_model_dir))


@pytest.fixture(scope="session")
def bundled_backbone():
    """The real bundled 6-layer BERT, loaded once per test session."""
    from bertviz_lite.engine.models import load_backbone

    return load_backbone("bundled")


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One local Ray cluster on loopback (`ray start --head`, 2 CPUs) for every Ray test of the
    session: (its address, its actors' BERTVIZ_HOME, empty at the start). A start and stop
    cost about half a minute of both cores; the Ray tests run one after another in one
    process (scripts/test.sh), so one cluster serves them all."""
    pytest.importorskip("ray", reason="the Ray tests need pip install 'bertviz-lite[ray]'")
    from bertviz_lite.bench.raycluster import LocalRayCluster, ray_cli

    if ray_cli() is None:
        pytest.skip("the `ray` command is not installed")
    home = tmp_path_factory.mktemp("ray-cluster-home")
    cluster = LocalRayCluster(num_cpus=2, env={"BERTVIZ_HOME": str(home)})
    try:
        address = cluster.start()
    except RuntimeError as err:
        pytest.fail(str(err))
    yield address, home
    import ray

    if ray.is_initialized():
        ray.shutdown()
    cluster.stop()


@pytest.fixture()
def shared_data() -> Path:
    """../shared/data with the real SST-2, MRPC, STS-B, CoNLL-2003, WNUT-17 files."""
    if not (SHARED_DATA / "sst2" / "train.tsv").is_file():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (set BERTVIZ_SHARED_DATA)")
    return SHARED_DATA


def reset_app_caches() -> None:
    """Forget the app's shared resources (settings, pool, facts): AppTest runs every app in
    this one process, and a module that changes BERTVIZ_* settings must not see another's."""
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()


def page_names(visible_only: bool = False) -> list[str]:
    """The tests' list of the app's pages: their names in the page registry, navigation order
    (hidden pages left out with `visible_only`, as the navigation leaves them out)."""
    from bertviz_lite.app import registry

    pages = registry.visible_pages() if visible_only else registry.pages()
    return [p.name for p in pages]


def page_path(name: str) -> str:
    """A page's script, as AppTest.switch_page takes it (an absolute path works from app.py)."""
    from bertviz_lite.app import registry

    return str(registry.page(name).script)


@contextlib.contextmanager
def app_settings(env: dict[str, str]) -> Iterator[None]:
    """Run the app (AppTest) with these BERTVIZ_* settings from the repository folder; the
    app's shared caches are reset before and after, and the environment is restored."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    cwd = os.getcwd()
    os.chdir(REPO)
    reset_app_caches()
    try:
        yield
    finally:
        reset_app_caches()
        os.chdir(cwd)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
