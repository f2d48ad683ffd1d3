"""Trained models for the inspection pages (Forward, Attention, Attribution): this session's
runs, else the server's shared fine-tuned model of the task (trained once, in the job pool,
by the first session that asks, then reused by every session), or the shipped frozen heads and
LoRA-tuned models (ready at once); each with the lock that serialises its use."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import streamlit as st

from bertviz_lite.engine.config import RunConfig
from bertviz_lite.ui.live import live_view
from bertviz_lite.ui.resources import (
    _model_lock,
    _trained,
    backbone,
    default_model,
    job_pool,
    recorded_runs,
    settings,
    shipped_model,
)
from bertviz_lite.ui.state import friendly_error, job_state, remember_run, start_job

TUNED_TITLES = {"finetune": "Fine-tuned BERT", "lora": "LoRA-tuned BERT"}


def checkpoint_folder(task: str, mode: str) -> str | None:
    """The folder of the task model a view would use for `mode`: this session's run, the
    server's shared fine-tuned model, or the shipped frozen head or LoRA model (those only
    where the bundled model is offered: they were trained on it); None when there is none."""
    for key in [k for k in ("bp_job", f"ft_{task}", "cmp_frozen", "cmp_finetune")]:
        job = job_state(key)
        if job is not None:
            remember_run(job)
    folder = st.session_state.get("_checkpoints", {}).get((task, mode))
    if folder is None and mode == "finetune":
        shared = job_pool().saved_model(finetune_config(task))  # the server's, made once
        folder = str(shared[1]) if shared is not None else None
    if folder is None and "bundled" in settings().offered_models().values():
        shipped = shipped_model(task, mode)
        folder = str(shipped) if shipped else None
    return folder if folder is not None and Path(folder).is_dir() else None


def model_for(task: str, mode: str) -> tuple[Any, threading.Lock] | None:
    """(TrainedModel, its lock) for a task: this session's run of `mode`, the server's
    fine-tuned model, or a shipped one (`checkpoint_folder`); None when there is none yet."""
    folder = checkpoint_folder(task, mode)
    if folder is None:
        return None
    try:
        import json

        name = json.loads((Path(folder) / "task.json").read_text())["config"]["model"]
        return _trained(folder, name), _model_lock(folder)
    except Exception as err:
        friendly_error(err, "load the trained model")
        return None


def model_source(task: str, prefix: str) -> tuple[Any, threading.Lock] | None:
    """Pick the frozen or the fine-tuned model of this task for a view."""
    available = {m: model_for(task, m) for m in ("frozen", "finetune")}
    options = [m for m, v in available.items() if v is not None]
    if not options:
        st.warning("No trained head for this task yet: train one on the Backprop page.")
        return None
    choice = st.segmented_control(
        "Model", options, default=options[0], required=True, key=f"{prefix}_model_{task}",
        format_func={"frozen": "Frozen BERT + trained head",
                     "finetune": "Fine-tuned BERT + head"}.get)
    if "finetune" not in options:
        st.caption("Fine-tune a model on the Backprop page to compare it here.")
    return available[str(choice)]


def finetune_offer(task: str, prefix: str) -> None:
    """No fine-tuned model yet: offer to fine-tune one on the bundled data now."""
    key = f"ft_{task}"
    job = job_state(key)
    if job is None:
        st.info("No fine-tuned model of this task on this server yet: the first one is trained "
                "once, in the server's job pool, and every session then reuses it.")
        config = finetune_config(task)
        if st.button(f"Fine-tune one now ({finetune_estimate(config)})", key=f"{prefix}_ft_{task}"):
            start_job(key, config, None)
            st.rerun()
        return
    live_view(key)
    remember_run(job)


def finetune_config(task: str) -> RunConfig:
    """The quick fine-tuning run offered on the inspection pages: the app's model, bundled
    data, the lecture defaults, the server's example limits."""
    s = settings()
    return RunConfig(task=task, mode="finetune", model=default_model(), max_train=s.max_examples,
                     max_eval=s.max_eval_examples, max_length=min(128, s.max_length))


def finetune_estimate(config: RunConfig) -> str:
    """What the button promises: the data, and the time the recorded run of the same task and
    model took (no number where there is none)."""
    recorded = recorded_runs().get(f"{config.task}-finetune")
    if recorded is not None and recorded.config.get("model") == config.model:
        wall = recorded.cost.get("wall_seconds")
        if wall:
            return f"bundled data; the recorded run took {wall:.0f} s"
    return "bundled data"


def tuned_choice(task: str, prefix: str) -> str:
    """Which tuned model a view sets beside the pretrained or frozen one: fine-tuned (trained
    once on this server) or LoRA-tuned (shipped, or this session's own LoRA run: ready at
    once). Fine-tuned is the default once it exists."""
    if checkpoint_folder(task, "lora") is None:
        return "finetune"
    options = ["finetune", "lora"]
    default = "finetune" if checkpoint_folder(task, "finetune") is not None else "lora"
    choice = st.segmented_control("Tuned model", options, default=default, required=True,
                                  key=f"{prefix}_tuned_{task}", format_func=TUNED_TITLES.get)
    return str(choice or default)


def tuned_note(task: str, mode: str) -> str:
    """Where a tuned model comes from, in one line (under its title)."""
    folder = checkpoint_folder(task, mode)
    if folder is None:
        return ""
    shipped = shipped_model(task, mode)
    if shipped is not None and Path(folder) == shipped:
        if mode == "frozen":
            return ("Only a head trained on the bundled data, shipped with the app (a few "
                    "KB): every BERT weight is the pretrained one.")
        return ("LoRA matrices beside the attention's query and value projections of every "
                "layer, with a head, trained on the bundled data and shipped with the app "
                "(about 0.3 MB): the pretrained weights are unchanged.")
    if st.session_state.get("_checkpoints", {}).get((task, mode)) == folder:
        return "This session's run."
    return "Trained on this server, shared by every session."


def tuned_attention(task: str, mode: str, text: str, text_b: str | None) -> Any:
    """Attention maps of the tuned encoder of `mode` (fine-tuned or LoRA), or None."""
    from bertviz_lite.inspect import attention_maps

    found = model_for(task, mode)
    if found is None:
        return None
    trained, lock = found
    with lock:
        return attention_maps(trained.model.encoder, backbone(trained.config.model).tokenizer,
                              text, text_b)


def finetuned_model_name(task: str, mode: str = "finetune") -> str | None:
    """The pretrained model this session's tuned model of `task` (fine-tuned or LoRA) started
    from, or None."""
    found = model_for(task, mode)
    return None if found is None else str(found[0].config.model)
