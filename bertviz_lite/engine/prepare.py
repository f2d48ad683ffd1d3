"""Getting one run ready to train: model and data loaded, the task model built with its freeze
policy, the splits tokenised, the run record started. `prepare_run` yields Progress events and
returns a `PreparedRun`, everything the training loop, the feature pass and the evaluation need.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import torch

from bertviz_lite.data.examples import TaskData
from bertviz_lite.data.load import load_task_data, subsample
from bertviz_lite.data.source import Upload
from bertviz_lite.data.text import Limits
from bertviz_lite.engine.checkpoints import build_task_model, checkpoint_bytes
from bertviz_lite.engine.config import RunConfig, config_hash, run_key
from bertviz_lite.engine.cost import Stopwatch, matmul_params
from bertviz_lite.engine.encoding import Batch, Encoded, collate, encode_examples
from bertviz_lite.engine.events import Event
from bertviz_lite.engine.heads import TaskModel
from bertviz_lite.engine.models import Backbone, load_backbone, pick_device
from bertviz_lite.engine.modes import ModePlan, mode_of
from bertviz_lite.engine.precision import resolve_precision
from bertviz_lite.engine.tasks import TASK_SPECS, TaskSpec, baseline
from bertviz_lite.record.runs import Progress, RunRecord


@dataclass
class PreparedRun:
    """A run ready to train (made by `prepare_run`; the model and record change as it trains).

    enc_train / enc_val: tokenised splits; train_eval_idx: the fixed training subset scored for
    the overfitting curve. fwd_params / bwd_params: weights in the forward and backward matrix
    multiplies of a step (for the FLOP estimate).
    """

    config: RunConfig
    spec: TaskSpec
    device: torch.device
    precision: str  # what runs: fp32, or bf16 autocast (weights and gradients stay fp32)
    backbone: Backbone
    data: TaskData
    model: TaskModel
    trainable: list[str]  # groups where some parameter trains (in some phase)
    mode_plan: ModePlan  # what trains in each phase (the mode registry's entry applied)
    encoder_frozen: bool  # no encoder group trains
    use_cache: bool  # frozen features computed once and reused (encoder_frozen and allowed)
    enc_train: list[Encoded]
    enc_val: list[Encoded]
    train_eval_idx: list[int]
    pad_id: int
    fwd_params: int
    bwd_params: int
    record: RunRecord

    def plan(self) -> tuple[int, int]:
        """(steps per epoch, total steps)."""
        spe = max(1, math.ceil(len(self.enc_train) / self.config.batch_size))
        return spe, self.config.steps or spe * self.config.epochs

    def collate(self, enc: Sequence[Encoded], idx: list[int]) -> Batch:
        """Examples `idx` of a tokenised split as one padded batch on the run's device."""
        items = [enc[i] for i in idx]
        batch = collate(items, idx, self.pad_id, self.spec.tokens, self.spec.regression)
        return batch.to(self.device)

    def ready_info(self) -> dict[str, Any]:
        """What the "ready" Progress event tells a page before the first step."""
        r = self.record
        return {"groups": r.groups, "frozen_groups": r.frozen_groups,
                "trainable_params": r.trainable_params, "total_params": r.total_params,
                "group_params": r.group_params, "device": r.device,
                "steps_total": self.plan()[1], "baseline": r.baseline, "data": r.data,
                "model": r.model, "notes": list(r.notes), "trained_params": r.trained_params,
                "phases": r.phases, "checkpoint_mb": r.checkpoint_mb}


def prepare_run(config: RunConfig, backbone: Backbone | None, data: TaskData | Upload | None,
                limits: Limits, watch: Stopwatch) -> Generator[Event, None, PreparedRun]:
    """Load model and data (unless given; an Upload is parsed here), build the task model,
    tokenise, start the record.

    A backbone passed in (a warm worker's, the app's) is copied so it is never modified; one
    loaded here is used as it is. The record's key is `config.run_key` of the data as given
    (the pool computed the same key before the data was read).
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    precision = resolve_precision(config.precision, device)  # fp32 | bf16 autocast
    shared = backbone is not None
    if backbone is None:
        yield Progress("load", 0, 1, f"loading model {config.model}")
        with watch.time("model_load"):
            backbone = load_backbone(config.model)
    key = run_key(config, data, limits)  # from the bytes or examples given, before parsing
    if not isinstance(data, TaskData):
        yield Progress("data", 0, 1, "reading data")
        data = read_data(config, data, limits)
    model, plan = build_frozen_model(backbone, config, data, device, copy_encoder=shared)
    trainable = plan.trainable_groups()
    yield Progress("tokenize", 0, 1, "tokenising")
    with watch.time("tokenize"):
        enc_train, enc_val, train_eval_idx = _encode(config, backbone, data)
    encoder_frozen = not any(g.name in trainable for g in model.groups if g.name != "head")
    layer_params = sum(g.numel() for g in model.groups if g.name.startswith("layer."))
    run = PreparedRun(
        config=config, spec=TASK_SPECS[config.task], device=device, precision=precision,
        backbone=backbone, data=data,
        model=model, trainable=trainable, mode_plan=plan, encoder_frozen=encoder_frozen,
        use_cache=encoder_frozen and mode_of(config.mode).cache_features and config.cache_features,
        enc_train=enc_train, enc_val=enc_val,
        train_eval_idx=train_eval_idx, pad_id=int(backbone.tokenizer.pad_token_id or 0),
        fwd_params=layer_params + matmul_params(model.head),
        bwd_params=sum(matmul_params(m) for g in model.groups if g.name in trainable
                       for m in g.modules),
        record=new_record(config, backbone, data, model, plan, device, precision,
                          key or config_hash(config, data.fingerprint())))
    return run


def read_data(config: RunConfig, upload: Upload | None, limits: Limits) -> TaskData:
    """The run's examples: an upload parsed, or the data its config names read."""
    if upload is not None:
        return upload.load()
    return load_task_data(config.task, config.data, config.train_file, config.eval_file, max_train=config.max_train,
                          max_eval=config.max_eval, seed=config.seed, limits=limits)


def build_frozen_model(backbone: Backbone, config: RunConfig, data: TaskData,
                       device: torch.device, *, copy_encoder: bool
                       ) -> tuple[TaskModel, ModePlan]:
    """The task model with its mode's modules added and `requires_grad` set on every
    parameter that trains in any phase, on the device; (model, the mode's plan)."""
    torch.manual_seed(config.seed)
    model = build_task_model(backbone, config, data.label_names, copy_encoder=copy_encoder)
    plan = ModePlan.build(config, model.groups)
    plan.set_union()
    model.frozen_modules = plan.frozen_modules()
    model.to(device)
    return model, plan


def _encode(config: RunConfig, backbone: Backbone, data: TaskData
            ) -> tuple[list[Encoded], list[Encoded], list[int]]:
    """Tokenise train, validation and pick the fixed train-eval subset once."""
    tok, sep = backbone.tokenizer, config.separate_pairs
    enc_train, cut_t = encode_examples(data.train, tok, config.max_length, sep)
    enc_val, cut_v = encode_examples(data.val, tok, config.max_length, sep)
    n_sub = min(config.train_eval_size, len(data.train))
    chosen = {id(ex) for ex in subsample(data.train, n_sub, 0)}
    train_eval_idx = [i for i, ex in enumerate(data.train) if id(ex) in chosen]
    if cut_t + cut_v:
        data.notes.append(
            f"{cut_t + cut_v} inputs were truncated to {config.max_length} tokens (word "
            f"pieces): {cut_t} of {len(data.train)} training and {cut_v} of {len(data.val)} "
            "validation examples lost their end; raise max_length to keep them whole")
    return enc_train, enc_val, train_eval_idx


def new_record(config: RunConfig, backbone: Backbone, data: TaskData, model: TaskModel,
               plan: ModePlan, device: torch.device, precision: str, key: str) -> RunRecord:
    """The run record as it starts: setup, sizes, baseline; steps and evals come later.
    key: the run's content key (`config.run_key`)."""
    groups = model.groups
    trainable = plan.trainable_groups()
    spec = TASK_SPECS[config.task]
    return RunRecord(
        config=config.to_dict(),
        groups=[g.name for g in groups],
        frozen_groups=[g.name for g in groups if g.name not in trainable],
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        total_params=sum(p.numel() for p in model.parameters()),
        device=str(device),
        group_params={g.name: g.numel() for g in groups},
        data={"source": data.source, "train": len(data.train), "val": len(data.val),
              "labels": data.label_names, "fingerprint": data.fingerprint()},
        model={"name": backbone.name, "type": type(backbone.encoder).__name__,
               "layers": backbone.num_layers, "hidden": backbone.hidden_size,
               "pair_encoding": (("separate" if config.separate_pairs else "joint")
                                 if spec.pair else None)},
        baseline=baseline(config.task, data.train, data.val, data.label_names),
        notes=data.notes,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        key=key,
        precision=precision,
        trained_params=plan.trained(),
        checkpoint_mb=checkpoint_bytes(model, config) / 2**20,
    )
