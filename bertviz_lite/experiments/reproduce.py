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
from bertviz_lite.data.validate import parse_json
from bertviz_lite.engine.config import (
    HEADS,
    PAPER_FROZEN_HEADS,
    ConfigError,
    RunConfig,
    config_hash,
    head_title,
)
from bertviz_lite.engine.events import Event, drain
from bertviz_lite.engine.models import Backbone, load_backbone
from bertviz_lite.engine.tasks import TASK_SPECS
from bertviz_lite.engine.training import train
from bertviz_lite.record.fallback import save_with_fallback
from bertviz_lite.record.paper import (
    PAPER_CITATION,
    PAPER_FROZEN_SETUP,
    PAPER_TABLE,
    cost_ratio,
    frozen_setup_note,
    paper_cell,
)
from bertviz_lite.record.provenance import engine_info
from bertviz_lite.record.repro_rows import row_heads, setup_heads
from bertviz_lite.record.runs import Progress, RunRecord

log = logging.getLogger(__name__)

REPRO_TASKS = ("ner", "sentiment", "paraphrase", "similarity")  # the paper's column order
ROW_KEYS = ("task", "dataset", "metric", "ours_frozen", "ours_finetune", "paper_frozen",
            "paper_finetune", "ours_gap", "paper_gap", "frozen_wall_s", "finetune_wall_s",
            "cost_ratio")
PAPER_METRIC = {"ner": "span F1", "sentiment": "accuracy", "paraphrase": "accuracy",
                "similarity": "Pearson r"}


@dataclass
class ReproduceResult:
    """Our numbers per task and mode beside the paper's, with the setup that produced them."""

    setup: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per task
    problems: list[str] = field(default_factory=list)  # saves that went to a fallback (not saved)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d.pop("problems")
        return d

    @classmethod
    def from_dict(cls, d: Any) -> ReproduceResult:
        """Inverse of to_dict; refuses, in one line, something that is not a reproduce result."""
        if not isinstance(d, dict) or "setup" not in d or "rows" not in d:
            raise ValueError("not a reproduce.json: it needs 'setup' and 'rows'")
        if not isinstance(d["setup"], dict):
            raise ValueError("not a reproduce.json: 'setup' must be an object of settings, got "
                             f"{type(d['setup']).__name__}")
        rows = d["rows"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError("not a reproduce.json: 'rows' must be a list of table rows (objects), "
                             f"got {type(rows).__name__}")
        missing = sorted({k for r in rows for k in ROW_KEYS if k not in r})
        if missing:
            raise ValueError(f"not a reproduce.json: rows lack {missing}")
        return cls(dict(d["setup"]), [dict(r) for r in rows])

    @classmethod
    def from_json(cls, text: str, name: str = "reproduce.json") -> ReproduceResult:
        """Parse the JSON text of a reproduce.json (an upload); every problem is a ValueError."""
        return cls.from_dict(parse_json(text, name))

    @classmethod
    def load(cls, path: str | Path) -> ReproduceResult:
        """Read a reproduce.json."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"), str(path))


def _pct(r: RunRecord | None) -> float | None:
    return None if r is None else round(100 * float(r.final.get("value", float("nan"))), 1)


def _wall(r: RunRecord | None) -> float | None:
    return None if r is None else round(r.cost.get("wall_seconds", 0.0), 1)


def _seconds(r: RunRecord | None) -> float | None:
    return None if r is None else r.cost.get("wall_seconds")


def _ratio(finetune: RunRecord | None, frozen: RunRecord | None) -> float | None:
    ratio = cost_ratio(_seconds(finetune), _seconds(frozen))  # unrounded: tiny runs too
    return None if ratio is None else round(ratio, 1)


def _head_cell(task: str, head: str, frozen: RunRecord | None,
               finetune: RunRecord | None) -> dict[str, Any]:
    """One frozen head's numbers in a row: score, wall time, trainable weights, cost ratio
    (fine-tuned / this frozen run) and whether it is the paper's frozen setup."""
    return {"value": _pct(frozen), "wall_s": _wall(frozen),
            "trainable": frozen.trainable_params if frozen else None,
            "cost_ratio": _ratio(finetune, frozen),
            "paper_setup": paper_cell(task, "frozen", head).matches}


def _row(task: str, frozen: RunRecord | dict[str, RunRecord | None] | None,
         finetune: RunRecord | None) -> dict[str, Any]:
    """A task's row: the main frozen head's numbers (the first asked for) in the `ours_frozen`
    columns, every frozen head's under `frozen_heads`, the fine-tuned run, the paper's."""
    if not isinstance(frozen, dict):
        head = str(frozen.config.get("head", "linear")) if frozen is not None else "linear"
        frozen = {head: frozen}
    heads = list(frozen)
    main = frozen[heads[0]]
    paper = PAPER_TABLE[task]
    any_run = main or finetune or next((r for r in frozen.values() if r is not None), None)
    ours_f, ours_t = _pct(main), _pct(finetune)
    return {
        "task": task, "dataset": TASK_SPECS[task].paper_dataset, "metric": PAPER_METRIC[task],
        "ours_frozen": ours_f, "ours_finetune": ours_t,
        "paper_frozen": paper["frozen"], "paper_finetune": paper["finetune"],
        "ours_gap": None if ours_f is None or ours_t is None else round(ours_t - ours_f, 1),
        "paper_gap": round(paper["finetune"] - paper["frozen"], 1),
        "frozen_wall_s": _wall(main), "finetune_wall_s": _wall(finetune),
        "cost_ratio": _ratio(finetune, main),
        "frozen_trainable": main.trainable_params if main else None,
        "finetune_trainable": finetune.trainable_params if finetune else None,
        "train_examples": any_run.data.get("train") if any_run else None,
        "eval_examples": any_run.data.get("val") if any_run else None,
        "frozen_head": heads[0],
        "frozen_heads": {h: _head_cell(task, h, r, finetune) for h, r in frozen.items()},
    }


def result_heads(result: ReproduceResult) -> list[str]:
    """The frozen heads of a result, in the order they were asked for."""
    return setup_heads(result.setup, result.rows)


def result_markdown(result: ReproduceResult, cell: Callable[[object], str] = str) -> str:
    """The comparison as a markdown table with its setup, ours and theirs labelled: one
    column per frozen head (each named), the fine-tuned run, the paper's two columns.

    cell: how a value from the file is written; the app passes a function that makes it
    inert text (a setup field or cell of an uploaded file may hold markdown links).
    """
    s = {k: cell(v) for k, v in result.setup.items() if k != "total_minutes"}
    s["total_minutes"] = result.setup.get("total_minutes", 0)
    heads = result_heads(result)
    recipe = ", ".join(f"{k} {s[k]}" for k in ("lr", "batch_size", "warmup", "weight_decay",
                                                 "max_grad_norm") if k in s)
    lines = [
        f"Ours: {s.get('model')} ({s.get('layers')} layers), {s.get('max_train')} training "
        f"examples per task (stratified subsample), {s.get('epochs')} epochs, seed "
        f"{s.get('seed')}, frozen heads: {', '.join(cell(h) for h in heads)}; fine-tuned: all "
        f"layers + a linear layer ({recipe}); evaluated on the full dev/valid split; "
        f"{s.get('hardware')}; total {_minutes(s['total_minutes'])} min.",
        f"Paper: {PAPER_CITATION} (BERT-base, full training sets, frozen: "
        f"{PAPER_FROZEN_SETUP}).",
        "",
        "| task | metric | " + " | ".join(f"ours frozen ({cell(h)})" for h in heads)
        + " | ours fine-tuned | paper frozen | paper fine-tuned | paper gap | "
        + " | ".join(f"cost ratio ({cell(h)})" for h in heads) + " |",
        "|---|---|" + "---|" * (2 * len(heads) + 4),
    ]
    for r in result.rows:
        by_head = row_heads(r)
        cells: list[object] = [f"{r['task']} ({r['dataset']})", r["metric"]]
        cells += [by_head.get(h, {}).get("value") for h in heads]
        cells += [r["ours_finetune"], r["paper_frozen"], r["paper_finetune"], r["paper_gap"]]
        cells += [_times(by_head.get(h, {}).get("cost_ratio")) for h in heads]
        lines.append("| " + " | ".join("-" if c is None else cell(c) for c in cells) + " |")
    lines += ["", "Beside the paper's frozen column: " + "; ".join(
        f"{cell(head_title(h))}: {frozen_setup_note(h)}" for h in heads) + "."]
    return "\n".join(lines)


def _times(ratio: object) -> str | None:
    return f"{ratio}x" if isinstance(ratio, (int, float)) and ratio else None


def _minutes(value: object) -> str:
    return f"{value:.0f}" if isinstance(value, (int, float)) else "?"


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
    frozen_head: str | Sequence[str] = PAPER_FROZEN_HEADS,
    seed: int = 0,
    eval_files: dict[str, str] | None = None,
    base: RunConfig | None = None,
    backbone: Backbone | None = None,
    on_event: Callable[[str, str, Event], None] | None = None,
) -> ReproduceResult:
    """Train frozen (one run per frozen head, the first is the row's main one) and fine-tuned
    on each task's real data; write records, JSON and markdown.

    Runs already in `out_dir/runs/` with the same configuration and data are reused, so an
    interrupted reproduction resumes where it stopped.
    """
    out = Path(out_dir)
    base = base or RunConfig()
    eval_files = eval_files or {}
    heads = parse_heads(frozen_head)
    configs = _configs(tasks, base, data_dir, max_train, epochs, heads, seed, eval_files)
    earlier = _earlier_rows(out, base, max_train, epochs, heads, seed)
    # every input is read before the first step: a missing folder is found now, not in hours
    datas = {task: load_task_data(task, str(data_dir), eval_file=eval_files.get(task),
                                  max_train=max_train, seed=seed) for task in configs}
    backbone = backbone or load_backbone(base.model)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    rows = dict(earlier)
    problems: list[str] = []
    for task, by_mode in configs.items():
        records = {name: _run_or_resume(config, datas[task], out, backbone, on_event, problems)
                   for name, config in by_mode.items()}
        frozen = {h: records[f"frozen-{h}"] for h in heads}
        rows[task] = _row(task, frozen, records["finetune"])
        result = _result(list(rows.values()), base, backbone, max_train, epochs, heads,
                         seed, started)
        _write(result, out, problems)  # after every task, so a partial table is always on disk
    result = _result(list(rows.values()), base, backbone, max_train, epochs, heads, seed,
                     started)
    result.problems = list(dict.fromkeys(problems))
    return result


def parse_heads(heads: str | Sequence[str]) -> list[str]:
    """`linear,scalar-mix,task-model` (or a list) -> the frozen heads, each checked, in order;
    an empty or repeated list is an error."""
    names = [h.strip() for h in (heads.split(",") if isinstance(heads, str) else heads)
             if h.strip()]
    if not names:
        raise ConfigError(f"--frozen-head names no head ({heads!r}); give e.g. "
                          f"{','.join(HEADS)}")
    for h in names:
        if h not in HEADS:
            raise ConfigError(f"unknown frozen head {h!r}; choose from {', '.join(HEADS)} "
                              "(comma-separated for several)")
    dup = next((h for i, h in enumerate(names) if h in names[:i]), None)
    if dup is not None:
        raise ConfigError(f"frozen head {dup!r} is listed twice; each head runs once")
    return names


def _configs(tasks: Sequence[str], base: RunConfig, data_dir: str | Path,
             max_train: int | None, epochs: int, heads: Sequence[str], seed: int,
             eval_files: dict[str, str]) -> dict[str, dict[str, RunConfig]]:
    """Every run's config, validated before anything is loaded (task -> run name -> config;
    names `frozen-<head>` and `finetune`)."""
    if not tasks:
        raise ConfigError("no tasks to reproduce; give e.g. --tasks sentiment,ner")
    stray = sorted(set(eval_files) - set(tasks))
    if stray:
        raise ConfigError(f"--eval-file names {stray}, which --tasks does not include {list(tasks)}")
    if max_train is not None and max_train < 1:
        raise ConfigError(f"--max-train must be at least 1 training example per task; got {max_train}")
    runs = [(f"frozen-{h}", "frozen", h) for h in heads] + [("finetune", "finetune", "linear")]
    return {task: {name: base.replace(task=task, mode=mode, head=head, epochs=epochs, seed=seed,
                                      data=str(data_dir), eval_file=eval_files.get(task),
                                      max_train=max_train, max_eval=None)
                   for name, mode, head in runs}
            for task in dict.fromkeys(tasks)}


SAME_SETUP = ("model", "max_train", "epochs", "seed", "frozen_heads", "batch_size", "lr",
              "head_lr", "warmup", "weight_decay", "max_grad_norm")


def _earlier_rows(out: Path, base: RunConfig, max_train: int | None, epochs: int,
                  heads: list[str], seed: int) -> dict[str, dict[str, Any]]:
    """Rows of a reproduce.json already in `out` (other tasks of the same setup are kept in
    the merged table); a different setup is an error, so no table mixes two setups."""
    path = out / "reproduce.json"
    if not path.is_file():
        return {}
    try:
        old = ReproduceResult.load(path)
    except (ValueError, OSError) as err:
        raise ConfigError(f"{path} exists but cannot be read ({err}); move it away or choose "
                          "another --out folder") from None
    now = _setup_keys(base, max_train, epochs, heads, seed)
    diff = [k for k in SAME_SETUP if old.setup.get(k) != now[k]]
    if diff:
        k = diff[0]
        raise ConfigError(f"{path} holds results of another setup ({k} {old.setup.get(k)!r}, now "
                          f"{now[k]!r}); use the same settings to add tasks to it, or another "
                          "--out folder")
    return {str(r.get("task")): r for r in old.rows}


def _run_or_resume(config: RunConfig, data: TaskData, out: Path, backbone: Backbone,
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


def _setup_keys(base: RunConfig, max_train: int | None, epochs: int, heads: list[str],
                seed: int) -> dict[str, Any]:
    """The settings that must agree for two tables to be merged (SAME_SETUP)."""
    return {"model": base.model, "max_train": max_train or "all", "epochs": epochs,
            "seed": seed, "frozen_heads": list(heads), "batch_size": base.batch_size,
            "lr": base.lr, "head_lr": base.head_lr, "warmup": base.warmup,
            "weight_decay": base.weight_decay, "max_grad_norm": base.max_grad_norm}


def _result(rows: list[dict[str, Any]], base: RunConfig, backbone: Backbone,
            max_train: int | None, epochs: int, heads: list[str], seed: int,
            started: datetime) -> ReproduceResult:
    # total training time of all runs, including ones finished before a resume
    minutes = sum(sum(c.get("wall_s") or 0 for c in row_heads(r).values())
                  + (r.get("finetune_wall_s") or 0) for r in rows) / 60
    setup = {**_setup_keys(base, max_train, epochs, heads, seed),
             "layers": backbone.num_layers, "hidden": backbone.hidden_size,
             "frozen_head": heads[0], "precision": base.precision,
             "hardware": _hardware(), "total_minutes": minutes,
             "date": started.date().isoformat(), "paper": PAPER_CITATION,
             "engine": engine_info()}
    return ReproduceResult(setup, list(rows))


def _write(result: ReproduceResult, out: Path, problems: list[str]) -> None:
    """reproduce.json and .md in `out` (or, if that fails, in the fallback folder)."""
    for name, text in (("reproduce.json", json.dumps(result.to_dict(), indent=2)),
                       ("reproduce.md", result_markdown(result) + "\n")):
        problem = save_with_fallback(lambda p, t=text: _write_text(p, t), out / name,
                                     name.replace(".", "-"), name)[1]
        problems += [problem] if problem else []


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
