"""Recorded artefacts a lesson step reveals, by reference: "runs/<stem>", "sweeps/<stem>",
"changes/<stem>" (JSON files under the assets folder). "runs/reproduce" is the result of
`bertviz-lite reproduce`; "runs/modes" and "runs/forgetting-modes" are measurements of every
mode side by side (`ModeTable`); every other run is a RunRecord.

Learning-curve sweeps and inside-BERT analyses are read through small adapters
(`Sweep`, `Changes`) so that the lesson depends only on the few fields it uses.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertviz_lite.lesson.errors import LessonError
from bertviz_lite.paths import assets_dir
from bertviz_lite.record.repro_result import ReproduceResult
from bertviz_lite.record.runs import RunRecord

FOLDERS = ("runs", "sweeps", "changes")


@dataclass(frozen=True)
class Sweep:
    """A learning-curve sweep: metric per (mode, training-set size, seed).

    points: (mode, size, seed, value) tuples, value on the metric's own scale.
    """

    metric: str
    points: tuple[tuple[str, int, int, float], ...]
    setup: dict[str, Any]

    def sizes(self) -> list[int]:
        """Training-set sizes, ascending."""
        return sorted({p[1] for p in self.points})

    def modes(self) -> list[str]:
        """Modes in the sweep, in first-seen order."""
        return list(dict.fromkeys(p[0] for p in self.points))

    def values(self, mode: str, size: int) -> list[float]:
        """Metric of every seed at one (mode, size)."""
        return [p[3] for p in self.points if p[0] == mode and p[1] == size and math.isfinite(p[3])]


@dataclass(frozen=True)
class Changes:
    """How much fine-tuning changed each layer group: {group: change}, with what was measured.

    measure: the quantity in words (e.g. "relative weight change ||w_ft - w||/||w||").
    """

    groups: tuple[str, ...]
    change: dict[str, float]
    measure: str
    setup: dict[str, Any]


def _sweep(d: dict[str, Any]) -> Sweep:
    """A learning-curves JSON (`bertviz-lite sweep`: {"kind": "learning-curves", "setup",
    "points": [{"mode", "size", "seed", "value", ...}]}) -> Sweep."""
    setup = dict(d.get("setup", {}))
    pts = tuple((str(r["mode"]), int(r["size"]), int(r.get("seed", 0)),
                 math.nan if r.get("value") is None else float(r["value"]))
                for r in d.get("points", []))
    if not pts:
        raise ValueError("the sweep has no points yet")
    return Sweep(str(d.get("metric") or setup.get("metric", "")), pts, setup)


@dataclass(frozen=True)
class ModeTable:
    """Every mode measured side by side with one setup: `experiments/modes_bench.py` (cost:
    rows with step_s, trainable, total per task and mode) or `experiments/forgetting_modes.py`
    (forgetting: rows with pearson_before, pearson_after, drop per mode).

    rows: one dict per measured (task, mode), as recorded; setup: the measurement's setup.
    """

    rows: tuple[dict[str, Any], ...]
    setup: dict[str, Any]

    def for_task(self, task: str | None = None) -> list[dict[str, Any]]:
        """The rows of one task (the setup's task, or the first row's, when not given)."""
        task = task or self.setup.get("task") or self.rows[0].get("task")
        return [r for r in self.rows if r.get("task", task) == task]

    def rows_with(self, field: str) -> list[dict[str, Any]]:
        """The rows of its task (`for_task`) whose `field` is a finite number."""
        return [r for r in self.for_task() if isinstance(r.get(field), (int, float))
                and math.isfinite(r[field])]

    @staticmethod
    def label(row: dict[str, Any]) -> str:
        """A row's mode as the figures and words name it."""
        return str(row.get("label") or row["mode"])

    @property
    def machine(self) -> str:
        """Where it was measured: "AMD EPYC, 2 cores"."""
        return f"{self.setup.get('cpu', '?')}, {self.setup.get('cores', '?')} cores"


def as_mode_table(obj: Any, ref: str) -> ModeTable:
    """`obj` when it is a ModeTable, else ValueError naming the artefact expected (`ref`)."""
    if not isinstance(obj, ModeTable):
        raise ValueError(f"this needs a measurement of every mode ({ref})")
    return obj


MODE_TABLE_FIELDS = ("step_s", "drop")  # a row with one of these: a ModeTable, not a reproduction


def _mode_table(d: Any) -> ModeTable | None:
    """A modes measurement ({"setup", "rows": [{"mode", "step_s" | "drop", ...}]}), or None
    when `d` is something else."""
    rows = d.get("rows") if isinstance(d, dict) else None
    if not isinstance(rows, list) or not rows or not isinstance(d.get("setup"), dict):
        return None
    if not all(isinstance(r, dict) and isinstance(r.get("mode"), str)
               and any(f in r for f in MODE_TABLE_FIELDS) for r in rows):
        return None
    return ModeTable(tuple(rows), dict(d["setup"]))


WEIGHT_CHANGE = "relative weight change ‖W_tuned − W_pretrained‖ / ‖W_pretrained‖"


def _changes(d: dict[str, Any]) -> Changes:
    """An inside-BERT JSON (`ChangesResult`: {"setup", "groups": [{"group", "cka",
    "weight_change", "trainable", ...}]}) -> Changes of the groups whose weights changed."""
    rows = [g for g in d.get("groups", []) if isinstance(g, dict)
            and g.get("weight_change") is not None]
    if not rows:
        raise ValueError("no group with a weight_change")
    change = {str(g["group"]): float(g["weight_change"]) for g in rows}
    return Changes(tuple(change), change, WEIGHT_CHANGE, dict(d.get("setup", {})))


class ArtefactStore:
    """Loads artefacts by reference from one assets folder, each once."""

    def __init__(self, root: str | Path | None = None, runs: str | Path | None = None) -> None:
        self.root = Path(root) if root else assets_dir()
        self.runs = Path(runs) if runs else self.root / "runs"
        self._memo: dict[str, Any] = {}

    def path(self, ref: str) -> Path:
        """The JSON file of a reference; LessonError for an unknown folder."""
        folder, _, stem = ref.partition("/")
        if folder not in FOLDERS or not stem or "/" in stem or stem.startswith("."):
            raise LessonError(f"unknown artefact {ref!r}: use runs/<name>, sweeps/<name> or "
                              "changes/<name>")
        base = self.runs if folder == "runs" else self.root / folder
        return base / f"{stem}.json"

    def exists(self, ref: str) -> bool:
        """Whether the artefact's file is there."""
        return self.path(ref).is_file()

    def load(self, ref: str) -> Any:
        """RunRecord, ReproduceResult, ModeTable, Sweep or Changes; LessonError when absent or
        unreadable."""
        if ref in self._memo:
            return self._memo[ref]
        path = self.path(ref)
        if not path.is_file():
            raise LessonError(f"unknown artefact {ref!r}: no file {path.parent.name}/{path.name}")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            folder = ref.split("/", 1)[0]
            if folder == "sweeps":
                obj: Any = _sweep(d)
            elif folder == "changes":
                obj = _changes(d)
            elif (table := _mode_table(d)) is not None:
                obj = table
            elif "rows" in d and "setup" in d:
                obj = ReproduceResult.from_dict(d)
            else:
                obj = RunRecord.from_dict(d)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
            raise LessonError(f"artefact {ref!r} cannot be read: {err}") from None
        self._memo[ref] = obj
        return obj
