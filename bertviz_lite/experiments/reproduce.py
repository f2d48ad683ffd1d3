"""Checking the lecture's table on real data: frozen vs fine-tuned on SST-2, MRPC, STS-B and
CoNLL-2003, our numbers beside those of Peters, Ruder & Smith (2019).

Each finished run is saved as soon as it ends, so an interrupted reproduction resumes without
redoing finished tasks.
"""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from bertviz_lite.data.examples import TaskData
from bertviz_lite.data.load import load_task_data
from bertviz_lite.engine.config import RunConfig, config_hash
from bertviz_lite.engine.events import Event, drain
from bertviz_lite.engine.models import Backbone, load_backbone
from bertviz_lite.engine.tasks import PAPER_CITATION, PAPER_TABLE, TASK_SPECS
from bertviz_lite.engine.training import train
from bertviz_lite.record.runs import Progress, RunRecord

log = logging.getLogger(__name__)

REPRO_TASKS = ("ner", "sentiment", "paraphrase", "similarity")  # the paper's column order
PAPER_METRIC = {"ner": "span F1", "sentiment": "accuracy", "paraphrase": "accuracy",
                "similarity": "Pearson r"}


@dataclass
class ReproduceResult:
    """Our numbers per task and mode beside the paper's, with the setup that produced them."""

    setup: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per task

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReproduceResult:
        """Inverse of to_dict; refuses something that is not a reproduce result."""
        if "setup" not in d or "rows" not in d:
            raise ValueError("not a reproduce.json: it needs 'setup' and 'rows'")
        return cls(dict(d["setup"]), [dict(r) for r in d["rows"]])

    @classmethod
    def load(cls, path: str | Path) -> ReproduceResult:
        """Read a reproduce.json."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _row(task: str, frozen: RunRecord | None, finetune: RunRecord | None) -> dict[str, Any]:
    def pct(r: RunRecord | None) -> float | None:
        return None if r is None else round(100 * float(r.final.get("value", float("nan"))), 1)

    def wall(r: RunRecord | None) -> float | None:
        return None if r is None else round(r.cost.get("wall_seconds", 0.0), 1)

    ratio = None
    if frozen and finetune and frozen.cost.get("wall_seconds"):
        ratio = round(finetune.cost["wall_seconds"] / frozen.cost["wall_seconds"], 1)
    paper = PAPER_TABLE[task]
    return {
        "task": task, "dataset": TASK_SPECS[task].paper_dataset, "metric": PAPER_METRIC[task],
        "ours_frozen": pct(frozen), "ours_finetune": pct(finetune),
        "paper_frozen": paper["frozen"], "paper_finetune": paper["finetune"],
        "ours_gap": None if frozen is None or finetune is None
        else round(pct(finetune) - pct(frozen), 1),  # type: ignore[operator]
        "paper_gap": round(paper["finetune"] - paper["frozen"], 1),
        "frozen_wall_s": wall(frozen), "finetune_wall_s": wall(finetune), "cost_ratio": ratio,
        "frozen_trainable": frozen.trainable_params if frozen else None,
        "finetune_trainable": finetune.trainable_params if finetune else None,
        "train_examples": (frozen or finetune).data.get("train") if (frozen or finetune) else None,
        "eval_examples": (frozen or finetune).data.get("val") if (frozen or finetune) else None,
        "frozen_head": frozen.config.get("head") if frozen else None,
    }


def result_markdown(result: ReproduceResult) -> str:
    """The comparison as a markdown table with its setup, ours and theirs labelled."""
    s = result.setup
    lines = [
        f"Ours: {s.get('model')} ({s.get('layers')} layers), {s.get('max_train')} training "
        f"examples per task (stratified subsample), {s.get('epochs')} epochs, seed "
        f"{s.get('seed')}, frozen head: {s.get('frozen_head')}, fine-tuned head: linear; "
        f"evaluated on the full dev/valid split; {s.get('hardware')}; total "
        f"{s.get('total_minutes', 0):.0f} min.",
        f"Paper: {PAPER_CITATION} (BERT-base, full training sets, task-specific frozen models).",
        "",
        "| task | metric | ours frozen | ours fine-tuned | ours gap | paper frozen | "
        "paper fine-tuned | paper gap | frozen s | fine-tuned s | cost ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result.rows:
        cells = [f"{r['task']} ({r['dataset']})", r["metric"], r["ours_frozen"],
                 r["ours_finetune"], r["ours_gap"], r["paper_frozen"], r["paper_finetune"],
                 r["paper_gap"], r["frozen_wall_s"], r["finetune_wall_s"],
                 f"{r['cost_ratio']}x" if r["cost_ratio"] else None]
        lines.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines)


def _hardware() -> str:
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def reproduce(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    tasks: Sequence[str] = REPRO_TASKS,
    max_train: int | None = 2000,
    epochs: int = 3,
    frozen_head: str = "scalar-mix",
    seed: int = 0,
    eval_files: dict[str, str] | None = None,
    base: RunConfig | None = None,
    backbone: Backbone | None = None,
    on_event: Callable[[str, str, Event], None] | None = None,
) -> ReproduceResult:
    """Train frozen and fine-tuned on each task's real data; write records, JSON and markdown.

    Runs already in `out_dir/runs/` with the same configuration and data are reused, so an
    interrupted reproduction resumes where it stopped.
    """
    out = Path(out_dir)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    base = base or RunConfig()
    backbone = backbone or load_backbone(base.model)
    eval_files = eval_files or {}
    started = datetime.now(UTC)
    rows = []
    for task in tasks:
        data = load_task_data(task, str(data_dir), eval_file=eval_files.get(task),
                              max_train=max_train, seed=seed)
        records: dict[str, RunRecord | None] = {}
        for mode, head in (("frozen", frozen_head), ("finetune", "linear")):
            config = base.replace(task=task, mode=mode, head=head, epochs=epochs, seed=seed,
                                  data=str(data_dir), eval_file=eval_files.get(task),
                                  max_train=max_train, max_eval=None)
            records[mode] = _run_or_resume(config, data, out, backbone, on_event)
        rows.append(_row(task, records["frozen"], records["finetune"]))
        result = _result(rows, base, backbone, max_train, epochs, frozen_head, seed, started)
        _write(result, out)  # after every task, so a partial table is always on disk
    return _result(rows, base, backbone, max_train, epochs, frozen_head, seed, started)


def _run_or_resume(config: RunConfig, data: TaskData, out: Path, backbone: Backbone,
                   on_event: Callable[[str, str, Event], None] | None) -> RunRecord | None:
    """Reuse a finished record with the same key, else train and save it."""
    path = out / "runs" / f"{config.task}-{config.mode}.json"
    key = config_hash(config, data.fingerprint())
    if path.is_file():
        try:
            old = RunRecord.load(path)
            if old.key == key and old.status == "completed":
                log.info("reusing %s (already finished)", path)
                if on_event is not None:
                    on_event(config.task, config.mode, Progress("reused", 1, 1, str(path)))
                return old
        except (ValueError, KeyError, TypeError) as err:
            log.warning("ignoring unreadable %s: %s", path, err)
    copy = TaskData(data.task, data.train, data.val, list(data.label_names), data.source,
                    list(data.notes))
    report = (lambda event: on_event(config.task, config.mode, event)) if on_event else None
    record = drain(train(config, backbone=backbone, data=copy), report)
    if record.status == "completed":
        record.save(path)
    return record


def _result(rows: list[dict[str, Any]], base: RunConfig, backbone: Backbone,
            max_train: int | None, epochs: int, frozen_head: str, seed: int,
            started: datetime) -> ReproduceResult:
    # total training time of all runs, including ones finished before a resume
    minutes = sum((r.get("frozen_wall_s") or 0) + (r.get("finetune_wall_s") or 0)
                  for r in rows) / 60
    setup = {"model": base.model, "layers": backbone.num_layers, "hidden": backbone.hidden_size,
             "max_train": max_train or "all", "epochs": epochs, "seed": seed,
             "frozen_head": frozen_head, "batch_size": base.batch_size, "lr": base.lr,
             "head_lr": base.head_lr, "hardware": _hardware(), "total_minutes": minutes,
             "date": started.date().isoformat(), "paper": PAPER_CITATION}
    return ReproduceResult(setup, list(rows))


def _write(result: ReproduceResult, out: Path) -> None:
    (out / "reproduce.json").write_text(json.dumps(result.to_dict(), indent=2), encoding="utf-8")
    (out / "reproduce.md").write_text(result_markdown(result) + "\n", encoding="utf-8")
