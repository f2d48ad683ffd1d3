"""Checking the lecture's table on real data: frozen vs fine-tuned on SST-2, MRPC, STS-B and
CoNLL-2003, our numbers beside those of Peters, Ruder & Smith (2019).

This module runs a reproduction and makes its rows; the rest lives by idea: the result's
schema in `record.repro_result`, its markdown in `record.repro_table`, resuming (earlier rows,
finished runs reused) in `experiments.repro_resume`, writing with a fallback in
`record.fallback`, the hardware line in `engine.models`. Errors name the options as this
function's parameters (`OptionError`); the CLI words them as its flags. Each finished run is
saved as soon as it ends, so an interrupted reproduction resumes without redoing finished tasks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bertviz_lite.data.load import load_task_data
from bertviz_lite.engine.config import (
    HEADS,
    PAPER_FROZEN_HEADS,
    OptionError,
    RunConfig,
    literal,
)
from bertviz_lite.engine.events import Event
from bertviz_lite.engine.models import Backbone, hardware_line, load_backbone
from bertviz_lite.engine.tasks import TASK_SPECS
from bertviz_lite.experiments.repro_resume import earlier_rows, run_or_resume, setup_keys
from bertviz_lite.record.fallback import save_text_with_fallback
from bertviz_lite.record.paper import PAPER_CITATION, PAPER_TABLE, cost_ratio, paper_cell
from bertviz_lite.record.provenance import engine_info
from bertviz_lite.record.repro_result import ReproduceResult as ReproduceResult  # re-exported
from bertviz_lite.record.repro_result import result_heads as result_heads
from bertviz_lite.record.repro_rows import row_heads
from bertviz_lite.record.repro_table import result_markdown as result_markdown
from bertviz_lite.record.runs import RunRecord

log = logging.getLogger(__name__)

REPRO_TASKS = ("ner", "sentiment", "paraphrase", "similarity")  # the paper's column order
PAPER_METRIC = {"ner": "span F1", "sentiment": "accuracy", "paraphrase": "accuracy",
                "similarity": "Pearson r"}


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
    earlier = earlier_rows(out, base, max_train, epochs, heads, seed)
    # every input is read before the first step: a missing folder is found now, not in hours
    datas = {task: load_task_data(task, str(data_dir), eval_file=eval_files.get(task),
                                  max_train=max_train, seed=seed) for task in configs}
    backbone = backbone or load_backbone(base.model)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    rows = dict(earlier)
    problems: list[str] = []
    for task, by_mode in configs.items():
        records = {name: run_or_resume(config, datas[task], out, backbone, on_event, problems)
                   for name, config in by_mode.items()}
        frozen = {h: records[f"frozen-{h}"] for h in heads}
        rows[task] = _row(task, frozen, records["finetune"])
        result = _result(list(rows.values()), base, backbone, max_train, epochs, heads,
                         seed, started)
        problems += _write(result, out)  # after every task: a partial table is on disk
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
        raise OptionError(f"{{frozen_head}} names no head ({literal(repr(heads))}); give e.g. "
                          f"{','.join(HEADS)}", "frozen_head")
    for h in names:
        if h not in HEADS:
            raise OptionError(f"unknown frozen head {literal(repr(h))} in {{frozen_head}}; "
                              f"choose from {', '.join(HEADS)} (comma-separated for several)",
                              "frozen_head")
    dup = next((h for i, h in enumerate(names) if h in names[:i]), None)
    if dup is not None:
        raise OptionError(f"frozen head {literal(repr(dup))} is listed twice in "
                          "{frozen_head}; each head runs once", "frozen_head")
    return names


def _configs(tasks: Sequence[str], base: RunConfig, data_dir: str | Path,
             max_train: int | None, epochs: int, heads: Sequence[str], seed: int,
             eval_files: dict[str, str]) -> dict[str, dict[str, RunConfig]]:
    """Every run's config, validated before anything is loaded (task -> run name -> config;
    names `frozen-<head>` and `finetune`)."""
    if not tasks:
        raise OptionError("no tasks to reproduce; give e.g. {tasks} sentiment,ner", "tasks")
    stray = sorted(set(eval_files) - set(tasks))
    if stray:
        raise OptionError(f"{{eval_files}} names {literal(stray)}, which {{tasks}} does not "
                          f"include {literal(list(tasks))}", "eval_files", "tasks")
    if max_train is not None and max_train < 1:
        raise OptionError("{max_train} must be at least 1 training example per task; got "
                          f"{max_train}", "max_train")
    runs = [(f"frozen-{h}", "frozen", h) for h in heads] + [("finetune", "finetune", "linear")]
    return {task: {name: base.replace(task=task, mode=mode, head=head, epochs=epochs, seed=seed,
                                      data=str(data_dir), eval_file=eval_files.get(task),
                                      max_train=max_train, max_eval=None)
                   for name, mode, head in runs}
            for task in dict.fromkeys(tasks)}


def _result(rows: list[dict[str, Any]], base: RunConfig, backbone: Backbone,
            max_train: int | None, epochs: int, heads: list[str], seed: int,
            started: datetime) -> ReproduceResult:
    # total training time of all runs, including ones finished before a resume
    minutes = sum(sum(c.get("wall_s") or 0 for c in row_heads(r).values())
                  + (r.get("finetune_wall_s") or 0) for r in rows) / 60
    setup = {**setup_keys(base, max_train, epochs, heads, seed),
             "layers": backbone.num_layers, "hidden": backbone.hidden_size,
             "frozen_head": heads[0], "precision": base.precision,
             "hardware": hardware_line(), "total_minutes": minutes,
             "date": started.date().isoformat(), "paper": PAPER_CITATION,
             "engine": engine_info()}
    return ReproduceResult(setup, list(rows))


def _write(result: ReproduceResult, out: Path) -> list[str]:
    """reproduce.json and .md in `out` (or, if that fails, in the fallback folder); the
    problems of saves that went to the fallback."""
    files = (("reproduce.json", json.dumps(result.to_dict(), indent=2)),
             ("reproduce.md", result_markdown(result) + "\n"))
    problems = [save_text_with_fallback(text, out / name, name.replace(".", "-"), name)
                for name, text in files]
    return [p for p in problems if p]
