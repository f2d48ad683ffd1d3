"""Shared read-only objects, one per server process: settings, the pretrained models, the
worker pool, recorded runs, trained heads (all behind st.cache_resource / st.cache_data)."""

from __future__ import annotations

import atexit
import logging
import threading
from pathlib import Path
from typing import Any

import streamlit as st

from bertviz_lite.data.examples import TaskData
from bertviz_lite.engine.facts import ModelFacts, model_facts
from bertviz_lite.engine.models import Backbone, load_backbone
from bertviz_lite.record.runcache import RunCache
from bertviz_lite.record.runs import RunRecord, load_recorded_runs
from bertviz_lite.serve.pool import JobPool
from bertviz_lite.serve.settings import Settings, load_settings

log = logging.getLogger("bertviz_lite.app")


@st.cache_resource
def settings() -> Settings:
    """The deployment's settings (bertviz.toml and BERTVIZ_* variables)."""
    return load_settings()


@st.cache_resource(show_spinner="Loading the pretrained BERT (once per server)...")
def backbone(name: str = "bundled") -> Backbone:
    """A pretrained model shared read-only by every session; jobs and views copy it."""
    return load_backbone(name)


@st.cache_resource
def tokenizer_lock(name: str = "bundled") -> threading.Lock:
    """Fast tokenizers are not thread-safe: sessions take this lock to tokenize (one lock per
    model name: the name is the cache key)."""
    return threading.Lock()


@st.cache_resource
def job_pool() -> JobPool:
    """The worker pool (started with the app, weights loaded, waiting for jobs)."""
    s = settings()
    pool = JobPool(
        s.max_jobs,
        warm_models=tuple(s.models.values())[:1],
        threads_per_job=s.threads_per_job,
        max_queue=s.max_queue,
        abandon_after_s=s.abandon_after_s,
        cache=RunCache(s.cache_path()),
        checkpoint_dir=s.checkpoints_path(),
        worker_nice=s.worker_nice,
        backend=s.job_backend(),
        feature_cache_mb=s.feature_cache_mb,
        max_per_owner=s.max_jobs_per_session,
        time_limit_s=s.job_time_limit_s,
        interrupted_dir=s.interrupted_path(),
    )
    pool.start()
    atexit.register(pool.shutdown)
    return pool


def default_model() -> str:
    """The model the app uses unless a student picks another: the first one the settings offer
    (`BERTVIZ_MODELS`, bertviz.toml `models`; "bundled" when none is set)."""
    return _usable_default(tuple(settings().offered_models().values()))


@st.cache_resource(show_spinner=False)
def _usable_default(offered: tuple[str, ...]) -> str:
    """The first offered model whose folder passes the loader's checks (config against the
    weights' headers: milliseconds); a broken one is logged for the instructor and skipped,
    so one bad folder in the settings does not break every page that states the model's
    facts."""
    from bertviz_lite.engine.models import ModelError, resolve_model

    for name in offered:
        try:
            resolve_model(name)
            return name
        except ModelError as err:
            log.error("model %s cannot be the app's default: %s", name, err)
    return "bundled"


@st.cache_resource(show_spinner=False)
def facts(name: str | None = None) -> ModelFacts:
    """Layers, heads, width and weights of a model (default: the app's), read from its files."""
    return model_facts(name or default_model())


@st.cache_data(show_spinner=False, max_entries=8)
def bundled_train_size(task: str) -> int:
    """Training examples of the bundled dataset of a task (the step cap needs it)."""
    from bertviz_lite.data import load_task_data

    return len(load_task_data(task, "bundled").train)


def recorded_runs() -> dict[str, RunRecord]:
    """Run records shipped for lectures (and the instructor's folder), by file stem."""
    folder = settings().recorded_runs_path()
    return _load_recorded(str(folder))


@st.cache_resource(show_spinner=False)
def _load_recorded(folder: str) -> dict[str, RunRecord]:
    """Read once per server and shared, not copied: every live page asks for them at each
    poll, and st.cache_data's copy (unpickling 21 records) was 14% of a training server's
    CPU. Nothing changes a recorded run after loading (live runs are other objects)."""
    return load_recorded_runs(folder)


@st.cache_data(show_spinner="Reading the dataset...", max_entries=32)
def _folder_data(task: str, folder: str) -> TaskData:
    from bertviz_lite.data import load_task_data

    return load_task_data(task, folder, max_train=settings().max_examples,
                          max_eval=settings().max_eval_examples)


@st.cache_resource(max_entries=8, show_spinner="Loading the trained model...")
def _trained(folder: str, model_name: str) -> Any:
    from bertviz_lite.engine.checkpoints import load_task_model

    return load_task_model(folder, backbone(model_name))


@st.cache_resource(max_entries=64)
def _model_lock(folder: str) -> threading.Lock:
    """One inference at a time per shared model (attribution toggles requires_grad); the
    folder is the cache key."""
    return threading.Lock()


SHIPPED_MODES = ("frozen", "lora")  # the task models in assets/models, per task


def shipped_model(task: str, mode: str = "frozen") -> Path | None:
    """A task model shipped in assets/models for instant demos, trained on the bundled model
    and data (scripts/record-runs.sh): the frozen head (a few KB) or the LoRA matrices with
    their head (about 0.3 MB); None where none is shipped."""
    from bertviz_lite.paths import assets_dir

    if mode not in SHIPPED_MODES:
        return None
    folder = assets_dir() / "models" / f"{task}-{mode}"
    return folder if (folder / "task.json").is_file() else None


def run_cache_size() -> int:
    """Number of runs in the shared cache."""
    return len(RunCache(settings().cache_path()))
