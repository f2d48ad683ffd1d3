"""Frozen against fine-tuned on the same data and seed: the lecture's comparison, measured."""

from __future__ import annotations

import ctypes
import gc
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bertviz_lite.data.examples import TaskData
from bertviz_lite.data.load import load_task_data
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.events import Event, drain
from bertviz_lite.engine.models import Backbone, load_backbone
from bertviz_lite.engine.modes import FINETUNE, FROZEN
from bertviz_lite.engine.tasks import TASK_SPECS
from bertviz_lite.record.paper import cost_ratio as wall_time_ratio
from bertviz_lite.record.paper import paper_cell
from bertviz_lite.record.runs import RunRecord

log = logging.getLogger(__name__)

@dataclass
class Comparison:
    """Records of several modes of one configuration, and the derived cost ratios."""

    records: dict[str, RunRecord]  # mode -> record, in the order run

    def cost_ratio(self, mode: str = FINETUNE, baseline: str = FROZEN) -> float | None:
        """Wall time of `mode` divided by wall time of `baseline` (None if either is missing)."""
        a, b = self.records.get(mode), self.records.get(baseline)
        if a is None or b is None:
            return None
        return wall_time_ratio(a.cost.get("wall_seconds"), b.cost.get("wall_seconds"))

    def rows(self) -> list[dict[str, object]]:
        """One row per mode with the figures the lecture compares."""
        out = []
        for mode, r in self.records.items():
            spec = TASK_SPECS[r.task]
            paper = paper_cell(r.task, r.mode, str(r.config.get("head", "linear")))
            out.append({
                "mode": mode,
                "metric": spec.metric_title,
                "value": r.final.get("value"),
                "baseline": r.baseline.get("value"),
                "wall_s": r.cost.get("wall_seconds"),
                "s_per_epoch": r.cost.get("seconds_per_epoch"),
                "cache_s": r.cost.get("feature_cache_seconds"),
                "trainable": r.trainable_params,
                "checkpoint_mb": r.checkpoint_mb,
                "total": r.total_params,
                "peak_mb": r.cost.get("peak_rss_mb"),
                "gflops": r.cost.get("flops_estimate", 0.0) / 1e9,
                "paper": paper.value,
                "paper_shown": paper.shown,
                "paper_column": paper.column,
                "paper_matches": paper.matches,
                "paper_note": paper.note,
                "status": r.status,
            })
        return out


def release_memory() -> None:
    """Give freed memory back to the OS between runs, so each run's peak RSS is its own."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, Windows): nothing to trim
        pass


def compare(
    base: RunConfig,
    modes: Sequence[str] = (FROZEN, FINETUNE),
    *,
    backbone: Backbone | None = None,
    data: TaskData | None = None,
    on_event: Callable[[str, Event], None] | None = None,
) -> Comparison:
    """Train `base` once per mode (same data, subsample and seed) and collect the records.

    The model and data are loaded once and shared, so only training differs between modes.
    """
    from bertviz_lite.engine.training import train  # torch: only where a comparison trains

    backbone = backbone or load_backbone(base.model)
    if data is None:
        data = load_task_data(base.task, base.data, base.train_file, base.eval_file,
                              max_train=base.max_train, max_eval=base.max_eval, seed=base.seed)
    records: dict[str, RunRecord] = {}
    for mode in modes:
        release_memory()
        config = base.replace(mode=mode)
        report = (lambda event, mode=mode: on_event(mode, event)) if on_event else None
        records[mode] = drain(train(config, backbone=backbone, data=_copy(data)), report)
    return Comparison(records)


def _copy(data: TaskData) -> TaskData:
    """Each run gets its own notes list (runs append to it)."""
    return TaskData(data.task, data.train, data.val, list(data.label_names), data.source,
                    list(data.notes))


def comparison_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The numbers behind the comparison charts, rounded for reading."""
    def r(v: Any, d: int = 1) -> Any:
        return round(v, d) if isinstance(v, (int, float)) else v

    return [{"mode": row["mode"], "ours (x100)": r(100 * row["value"]) if row["value"] is not None
             else None, "paper": row["paper_shown"],
             "paper's number": row["paper_note"], "baseline (x100)": r(100 * (row["baseline"] or 0)),
             "wall s": r(row["wall_s"]), "s / epoch": r(row["s_per_epoch"], 2),
             "trainable params": row["trainable"],
             "checkpoint MB": r(row.get("checkpoint_mb"), 3), "peak MB": r(row["peak_mb"], 0),
             "GFLOPs": r(row["gflops"], 0)} for row in rows]
