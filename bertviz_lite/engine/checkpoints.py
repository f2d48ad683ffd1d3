"""Saving a trained task model (encoder + head) and loading it back, safetensors only.

The app keeps the fine-tuned model of a session this way, so the attention and attribution
views can compare it with the pretrained one. A checkpoint folder holds `model.safetensors`
(the TaskModel's state dict) and `task.json` (the run config and label names). A frozen run
changed only its head, so only the head is saved (a few KB) and the encoder is the pretrained
one on load; BitFit and LoRA save only what trained (the head, the biases or the LoRA
matrices: kilobytes to a few MB). What each mode saves is its registry entry's `checkpoint`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from bertviz_lite.engine.config import ConfigError, RunConfig
from bertviz_lite.engine.heads import TaskModel
from bertviz_lite.engine.models import Backbone
from bertviz_lite.engine.modes import ModePlan, mode_of
from bertviz_lite.engine.tasks import n_outputs

WEIGHTS = "model.safetensors"
META = "task.json"


@dataclass
class TrainedModel:
    """A task model ready for inference, with what it was trained for."""

    model: TaskModel
    config: RunConfig
    label_names: list[str]


def build_task_model(backbone: Backbone, config: RunConfig, label_names: list[str],
                     copy_encoder: bool = True) -> TaskModel:
    """A fresh TaskModel (head randomly initialised) on a private copy of the backbone's
    encoder, or on the encoder itself when the caller owns the backbone (saves one copy), with
    the modules its mode adds (LoRA's matrices) in place."""
    encoder = copy.deepcopy(backbone.encoder) if copy_encoder else backbone.encoder
    model = TaskModel(encoder, config.task, n_outputs(config.task, label_names), head=config.head,
                      pooling=config.pooling, separate_pairs=config.separate_pairs)
    mode_of(config.mode).adds(model.encoder, config)
    return model


def checkpoint_state(model: TaskModel, config: RunConfig) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint of this mode holds (its registry entry's `checkpoint`): the
    head's ("head"), the head's and every parameter that trains in some phase ("trained":
    BitFit's biases, LoRA's matrices), or the whole state dict ("full")."""
    kind = mode_of(config.mode).checkpoint
    state = model.state_dict()
    if kind == "full":
        return state
    keep = {k for k in state if k.startswith("head.")}
    if kind == "trained":
        ids = ModePlan.build(config, model.groups).union
        keep |= {n for n, p in model.named_parameters() if id(p) in ids}
    return {k: v for k, v in state.items() if k in keep}


def checkpoint_bytes(model: TaskModel, config: RunConfig) -> int:
    """Bytes of the weights a checkpoint of this run holds (safetensors adds a small header)."""
    return sum(v.numel() * v.element_size() for v in checkpoint_state(model, config).values())


def save_task_model(model: TaskModel, config: RunConfig, label_names: list[str],
                    folder: str | Path) -> Path:
    """Write weights and metadata into `folder` (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    kind = mode_of(config.mode).checkpoint
    state = {k: v.detach().cpu().contiguous() for k, v in checkpoint_state(model, config).items()}
    save_file(state, str(folder / WEIGHTS))
    meta = {"config": config.to_dict(), "label_names": label_names,
            "encoder": {"head": "pretrained", "trained": "pretrained+trained"}.get(kind, "saved")}
    (folder / META).write_text(json.dumps(meta), encoding="utf-8")
    return folder


def read_meta(folder: Path) -> tuple[RunConfig, list[str], dict]:
    """A checkpoint's task.json -> (config, label names, the whole of it); ConfigError of
    one line naming the folder when it is not what `save_task_model` writes."""
    fix = "give the folder `bertviz-lite train --save-model DIR` wrote"
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:
        raise ConfigError(f"{folder}: {META} cannot be read ({str(err)[:120]}); {fix}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise ConfigError(f"{folder}: {META} has no run config (a JSON object with 'config' "
                          f"and 'label_names'); {fix}")
    labels = meta.get("label_names", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ConfigError(f"{folder}: {META}'s label_names must be a list of texts; {fix}")
    try:
        config = RunConfig.from_dict(meta["config"])
    except (ConfigError, TypeError) as err:
        raise ConfigError(f"{folder}: {META} holds a config this version cannot use ({err})"
                          ) from None
    return config, list(labels), meta


def load_task_model(folder: str | Path, backbone: Backbone) -> TrainedModel:
    """Rebuild the TaskModel of a checkpoint on a copy of `backbone` and load its weights."""
    folder = Path(folder)
    config, labels, meta = read_meta(folder)
    if config.model != backbone.name:
        raise ValueError(f"checkpoint was trained from {config.model!r}, not {backbone.name!r}")
    model = build_task_model(backbone, config, labels)
    try:
        state = load_file(str(folder / WEIGHTS))
        if meta.get("encoder") == "pretrained":
            model.head.load_state_dict({k[5:]: v for k, v in state.items()}, strict=True)
        elif meta.get("encoder") == "pretrained+trained":  # the pretrained rest stays as built
            wrong = model.load_state_dict(state, strict=False).unexpected_keys
            if wrong:
                raise ValueError(f"checkpoint {folder} holds weights this model does not have: "
                                 f"{', '.join(wrong[:3])}")
        else:
            model.load_state_dict(state, strict=True)
    except (OSError, RuntimeError, ValueError) as err:  # missing, damaged, or another model's
        first = (str(err).strip().splitlines() or [""])[0][:200]
        raise ConfigError(f"{folder}: {WEIGHTS} cannot be loaded into this model ({first}); "
                          "give the folder `train --save-model` wrote for this run") from None
    model.eval()
    return TrainedModel(model, config, labels)
