"""The run record: the contract between the engine, the CLI, the app and the tests.

`train()` yields StepRecord and EvalRecord events and finishes with a RunRecord; a RunRecord
saves to JSON and loads back unchanged (non-finite numbers are written as null).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bertviz_lite.names import head_title
from bertviz_lite.record.provenance import RECORD_VERSION, engine_info

log = logging.getLogger(__name__)


@dataclass
class StepRecord:
    """One optimizer step.

    grad_norm: one entry per group, in order; 0.0 for a group that received no gradient.
    update_ratio: ||w_after - w_before|| / ||w_after|| per group; empty on the steps where it
    was not measured (with more than 4M trainable weights it is measured every 50th step and
    at the last one).
    """

    step: int
    epoch: int
    loss: float
    lr: float
    grad_norm: dict[str, float]
    update_ratio: dict[str, float]
    seconds: float
    examples: int = 0
    tokens: int = 0  # word pieces computed, padding included
    real_tokens: int = 0  # of those, the ones that are not padding
    trainable_groups: list[str] | None = None  # groups that trained at this step, in modes
    #   whose trainable set changes during the run (LP-FT, gradual unfreezing); None (left out
    #   of the JSON) where it never changes: the record's frozen_groups say it


@dataclass
class EvalRecord:
    """One evaluation of a split ("val", or "train" for the overfitting curve)."""

    step: int
    epoch: float
    split: str
    metric: str
    value: float
    loss: float
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Progress:
    """A phase that is not a training step (loading, tokenising, caching features)."""

    phase: str  # load | data | tokenize | ready | cache | train
    done: int
    total: int
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)  # "ready": groups, frozen_groups, sizes


@dataclass
class RunRecord:
    """Everything about one run (the field contract is the comments below).

    engine: which engine made the run and where (record.provenance.engine_info(): package
    and engine version, record format, git commit or None, torch, machine); a record made
    now gets the current engine, one loaded from an older file without it keeps {}.
    """

    config: dict[str, Any]
    groups: list[str]
    frozen_groups: list[str]
    trainable_params: int
    total_params: int
    device: str
    group_params: dict[str, int] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    evals: list[EvalRecord] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    status: str = "running"  # running | completed | stopped | diverged
    reason: str = ""  # why a run ended early, in words for a student
    data: dict[str, Any] = field(default_factory=dict)  # source, sizes, labels, fingerprint
    model: dict[str, Any] = field(default_factory=dict)  # name, layers, hidden size
    baseline: dict[str, Any] = field(default_factory=dict)
    sweeps: list[dict[str, Any]] = field(default_factory=list)  # {"step", "signal": {group: norm}}
    notes: list[str] = field(default_factory=list)
    created: str = ""
    key: str = ""  # config_hash: identical configs share a key
    precision: str = ""  # what ran: fp32 | bf16 (autocast); "" in records from before it existed
    trained_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # per group, the
    #   parameters that train in some phase: {"params": scalar weights, "tensors": their names}
    phases: list[dict[str, Any]] = field(default_factory=list)  # {"step": first step (1-based),
    #   "label": what trains, in words, "trainable_groups": [...]}: one for most modes, more
    #   where the trainable set changes (LP-FT's switch, gradual unfreezing's layers)
    checkpoint_mb: float | None = None  # size of the weights `train --save-model` writes
    #   (fp32): the head, the parameters that trained (BitFit, LoRA) or the whole model
    version: int = RECORD_VERSION
    engine: dict[str, Any] = field(default_factory=engine_info)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN and infinity become None)."""
        d = dataclasses.asdict(self)
        for step in d["steps"]:
            if step.get("trainable_groups") is None:
                step.pop("trainable_groups", None)
        return _finite(d)

    def save(self, path: str | Path) -> Path:
        """Write JSON atomically (a crash never leaves half a record)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".run-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, allow_nan=False)
        os.replace(tmp, path)
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRecord:
        """Inverse of to_dict (unknown future fields are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        d.setdefault("engine", {})  # an older record: its engine is unknown, not this one
        d["steps"] = [StepRecord(**_nan(s, ("loss",))) for s in d.get("steps", [])]
        d["evals"] = [EvalRecord(**_nan(e, ("value", "loss"))) for e in d.get("evals", [])]
        return cls(**d)

    @classmethod
    def partial(cls, config: dict[str, Any], ready: dict[str, Any], steps: list[StepRecord],
                evals: list[EvalRecord]) -> RunRecord:
        """A record of a run still in progress, from its "ready" Progress info and the events
        so far (the live view draws it with the same figures as a finished run)."""
        return cls(
            config=config,
            groups=list(ready.get("groups", [])),
            frozen_groups=list(ready.get("frozen_groups", [])),
            trainable_params=int(ready.get("trainable_params", 0)),
            total_params=int(ready.get("total_params", 0)),
            device=str(ready.get("device", "")),
            group_params=dict(ready.get("group_params", {})),
            steps=list(steps),
            evals=list(evals),
            baseline=dict(ready.get("baseline", {})),
            data=dict(ready.get("data", {})),
            model=dict(ready.get("model", {})),
            notes=list(ready.get("notes", [])),
            trained_params=dict(ready.get("trained_params", {})),
            phases=list(ready.get("phases", [])),
            checkpoint_mb=ready.get("checkpoint_mb"),
        )

    @classmethod
    def load(cls, path: str | Path) -> RunRecord:
        """Read a record written by `save`."""
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    @property
    def task(self) -> str:
        """The task of the run."""
        return str(self.config.get("task", ""))

    @property
    def mode(self) -> str:
        """The freeze policy of the run."""
        return str(self.config.get("mode", ""))

    @property
    def label(self) -> str:
        """A short name for legends: the mode, plus the head when it is not linear
        ("frozen (scalar-mix)", "frozen (task model: BiLSTM-CRF)"; see names.head_title)."""
        head = str(self.config.get("head", "linear"))
        return self.mode if head == "linear" else f"{self.mode} ({head_title(head, self.task)})"

    def eval_curve(self, split: str) -> list[EvalRecord]:
        """Evaluations of one split in step order."""
        return [e for e in self.evals if e.split == split]


def _finite(obj: Any) -> Any:
    """Replace NaN/inf floats (invalid JSON) with None, recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _nan(d: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """None (from JSON) back to NaN for float fields."""
    d = dict(d)
    for k in keys:
        if d.get(k) is None:
            d[k] = float("nan")
    return d


# the types of a record's fields, as JSON has them (float fields also take whole numbers)
_NUMBER = (float, int)
FIELD_KINDS: dict[str, tuple[type, ...]] = {
    "config": (dict,), "groups": (list,), "frozen_groups": (list,), "trainable_params": (int,),
    "total_params": (int,), "device": (str,), "group_params": (dict,), "steps": (list,),
    "evals": (list,), "final": (dict,), "cost": (dict,), "status": (str,), "reason": (str,),
    "data": (dict,), "model": (dict,), "baseline": (dict,), "sweeps": (list,),
    "notes": (list,), "created": (str,), "key": (str,), "precision": (str,),
    "version": (int,), "engine": (dict,)}
STEP_KINDS: dict[str, tuple[type, ...]] = {
    "step": (int,), "epoch": (int,), "loss": (*_NUMBER, type(None)), "lr": _NUMBER,
    "grad_norm": (dict,), "update_ratio": (dict,), "seconds": _NUMBER, "examples": (int,),
    "tokens": (int,), "real_tokens": (int,)}
EVAL_KINDS: dict[str, tuple[type, ...]] = {
    "step": (int,), "epoch": _NUMBER, "split": (str,), "metric": (str,),
    "value": (*_NUMBER, type(None)), "loss": (*_NUMBER, type(None)), "metrics": (dict,)}


_KIND_NAMES = {int: "whole number", float: "number", str: "text", dict: "JSON object",
               list: "JSON list"}


def _kind_problem(value: Any, kinds: tuple[type, ...]) -> bool:
    return isinstance(value, bool) or not isinstance(value, kinds)


def record_problem(d: Any) -> str | None:
    """What keeps parsed JSON from being a run record this version can read, in words (None:
    nothing): not an object, a newer record format, a field of the wrong type, a step or an
    evaluation that is not one."""
    if not isinstance(d, dict):
        return f"it holds a JSON {type(d).__name__}, not a run record (an object with config " \
               "and steps)"
    version = d.get("version", 1)
    if _kind_problem(version, (int,)) or version < 1:
        return f"its version must be a whole number from 1, not {version!r:.40}"
    if version > RECORD_VERSION:
        return (f"it was written by a newer bertviz-lite (record format {version}; this one "
                f"reads formats up to {RECORD_VERSION}): upgrade bertviz-lite to read it")
    missing = [k for k in ("config", "steps", "groups") if k not in d]
    if missing:
        return f"it has no {missing[0]!r} field, so it is not a run record"
    for name, kinds in FIELD_KINDS.items():
        if name in d and _kind_problem(d[name], kinds):
            return f"its field {name!r} must be a {_KIND_NAMES[kinds[0]]}, not {d[name]!r:.40}"
    for what, rows, table in (("step", d["steps"], STEP_KINDS),
                              ("evaluation", d.get("evals", []), EVAL_KINDS)):
        for n, row in enumerate(rows, 1):
            if not isinstance(row, dict):
                return f"its {what} number {n} is a {type(row).__name__}, not an object"
            for name, value in row.items():
                if name not in table:
                    return f"its {what} number {n} has an unknown field {name!r:.40}"
                if _kind_problem(value, table[name]):
                    return (f"its {what} number {n}: {name!r} must be a "
                            f"{_KIND_NAMES[table[name][0]]}, not {value!r:.40}")
    return None


def is_run_record(d: Any) -> bool:
    """Whether parsed JSON is shaped like a run record (a config and its steps), rather than
    another result kept beside the runs (reproduce.json, recipe.json: a setup and rows)."""
    return isinstance(d, dict) and "config" in d and "steps" in d


def load_recorded_runs(folder: str | Path) -> dict[str, RunRecord]:
    """The run records of a folder by file stem. Other JSON there (the reproduction and recipe
    tables) is left out quietly; a run record that cannot be read is logged and skipped."""
    out: dict[str, RunRecord] = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as err:
            log.warning("skipping recorded run %s: %s", path, err)
            continue
        if not is_run_record(d):
            log.debug("%s is not a run record (no config and steps): left out", path.name)
            continue
        if problem := record_problem(d):
            log.warning("skipping recorded run %s: %s", path, problem)
            continue
        try:
            out[path.stem] = RunRecord.from_dict(d)
        except (ValueError, TypeError, KeyError) as err:
            log.warning("skipping recorded run %s: %s", path, err)
    return out
