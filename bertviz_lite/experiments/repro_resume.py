"""Resuming a reproduction: the rows of a reproduce.json already written (kept when the setup is
the same, refused when it is not) and the finished run records reused instead of trained again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bertviz_lite.data.examples import TaskData
from bertviz_lite.engine.config import OptionError, RunConfig, config_hash, literal
from bertviz_lite.engine.events import Event, drain
from bertviz_lite.engine.models import Backbone
from bertviz_lite.engine.training import train
from bertviz_lite.record.fallback import save_with_fallback
from bertviz_lite.record.repro_result import ReproduceResult
from bertviz_lite.record.runs import Progress, RunRecord

log = logging.getLogger(__name__)

SAME_SETUP = ("model", "max_train", "epochs", "seed", "frozen_heads", "batch_size", "lr",
              "head_lr", "warmup", "weight_decay", "max_grad_norm")


def earlier_rows(out: Path, base: RunConfig, max_train: int | None, epochs: int,
                  heads: list[str], seed: int) -> dict[str, dict[str, Any]]:
    """Rows of a reproduce.json already in `out` (other tasks of the same setup are kept in
    the merged table); a different setup is an error, so no table mixes two setups."""
    path = out / "reproduce.json"
    if not path.is_file():
        return {}
    try:
        old = ReproduceResult.load(path)
    except (ValueError, OSError) as err:
        raise OptionError(f"{literal(path)} exists but cannot be read ({literal(err)}); move it "
                          "away or choose another {out_dir} folder", "out_dir") from None
    now = setup_keys(base, max_train, epochs, heads, seed)
    diff = [k for k in SAME_SETUP if old.setup.get(k) != now[k]]
    if diff:
        k = diff[0]
        raise OptionError(f"{literal(path)} holds results of another setup ({k} "
                          f"{literal(repr(old.setup.get(k)))}, now {literal(repr(now[k]))}); use "
                          "the same settings to add tasks to it, or another {out_dir} folder",
                          "out_dir")
    return {str(r.get("task")): r for r in old.rows}


def run_or_resume(config: RunConfig, data: TaskData, out: Path, backbone: Backbone,
                   on_event: Callable[[str, str, Event], None] | None,
                   problems: list[str]) -> RunRecord | None:
    """Reuse a finished record with the same key, else train and save it."""
    name = config.mode if config.mode != "frozen" else f"frozen-{config.head}"
    path = out / "runs" / f"{config.task}-{name}.json"
    key = config_hash(config, data.fingerprint())
    if path.is_file():
        try:
            old = RunRecord.load(path)
            if old.key == key and old.status == "completed":
                log.info("reusing %s (already finished)", path)
                if on_event is not None:
                    on_event(config.task, name, Progress("reused", 1, 1, str(path)))
                return old
        except (ValueError, KeyError, TypeError) as err:
            log.warning("ignoring unreadable %s: %s", path, err)
    copy = TaskData(data.task, data.train, data.val, list(data.label_names), data.source,
                    list(data.notes))
    report = (lambda event: on_event(config.task, name, event)) if on_event else None
    record = drain(train(config, backbone=backbone, data=copy), report)
    if record.status == "completed":
        problem = save_with_fallback(record.save, path, f"{config.task}-{config.mode}")[1]
        problems += [problem] if problem else []
    return record


def setup_keys(base: RunConfig, max_train: int | None, epochs: int, heads: list[str],
                seed: int) -> dict[str, Any]:
    """The settings that must agree for two tables to be merged (SAME_SETUP)."""
    return {"model": base.model, "max_train": max_train or "all", "epochs": epochs,
            "seed": seed, "frozen_heads": list(heads), "batch_size": base.batch_size,
            "lr": base.lr, "head_lr": base.head_lr, "warmup": base.warmup,
            "weight_decay": base.weight_decay, "max_grad_norm": base.max_grad_norm}
