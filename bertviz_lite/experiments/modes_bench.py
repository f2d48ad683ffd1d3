"""Every mode on the bundled tasks, measured: metric, trainable parameters, step time, peak
memory, optimizer state and checkpoint size (docs/results.md's modes table, from the JSON this
writes). The load average is recorded beside every run: on a shared machine the times say
what they were measured under; the metrics do not depend on it.

    python -m bertviz_lite.experiments.modes_bench --out assets/runs/modes.json
    python -m bertviz_lite.experiments.modes_bench --modes adapters --merge --out ...
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bertviz_lite.data.load import load_task_data
from bertviz_lite.engine.config import TASKS, RunConfig
from bertviz_lite.engine.modes import label_of
from bertviz_lite.engine.tasks import TASK_SPECS
from bertviz_lite.record.jsonfile import write_json
from bertviz_lite.record.provenance import engine_info
from bertviz_lite.record.runs import RunRecord

log = logging.getLogger(__name__)

MODES = ("frozen", "finetune", "bitfit", "lora", "adapters", "lp-ft", "gradual")
# Learning rate of the BERT-side weights per mode. BitFit's, LoRA's and the adapters' few
# weights want a larger one (Ben Zaken et al.: 1e-4 to 1e-3; Hu et al.: 4e-4 to 5e-4 on
# RoBERTa-base; Houlsby et al.: 3e-4 to 1e-3); the others take BERT's recipe (5e-5). The
# head: 3e-3 in every mode.
MODE_LR = {"bitfit": 5e-4, "lora": 5e-4, "adapters": 5e-4}


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> float:
    """The 1-minute load average (0.0 where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return 0.0


def row_of(rec: RunRecord, lr: float, load_before: float) -> dict[str, Any]:
    """What the table shows of one run."""
    seconds = [s.seconds for s in rec.steps]
    return {"task": rec.task, "mode": rec.mode, "label": label_of(rec.mode), "lr": lr,
            "metric": TASK_SPECS[rec.task].metric_title, "value": rec.final.get("value"),
            "baseline": rec.baseline.get("value"), "trainable": rec.trainable_params,
            "total": rec.total_params, "steps": len(rec.steps),
            "step_s": statistics.median(seconds) if seconds else None,
            "train_s": rec.cost.get("train_seconds"), "wall_s": rec.cost.get("wall_seconds"),
            "cpu_s": rec.cost.get("cpu_seconds"), "peak_mb": rec.cost.get("peak_rss_mb"),
            "optimizer_mb": rec.trainable_params * 8 / 2**20,  # AdamW: two fp32 moments
            "checkpoint_mb": rec.checkpoint_mb, "status": rec.status,
            "precision": rec.precision,
            "load_before": load_before, "load_after": load_average()}


def measure_mode(task: str, mode: str, epochs: int, seed: int, backbone: Any,
                 data: Any) -> tuple[RunRecord, dict[str, Any]]:
    """Train one mode on a copy of `data` at the mode's learning rate (MODE_LR) and return
    its record and its table row (the load average before and after the run in it)."""
    from bertviz_lite.engine.training import run_to_record
    from bertviz_lite.experiments.compare import _copy, release_memory

    release_memory()
    lr = MODE_LR.get(mode, RunConfig().lr)
    config = RunConfig(task=task, mode=mode, epochs=epochs, seed=seed, lr=lr)
    before = load_average()
    rec = run_to_record(config, backbone=backbone, data=_copy(data))
    return rec, row_of(rec, lr, before)


def load_note(rows: list[dict[str, Any]], cores: int) -> str:
    """What the loads measured beside the runs say about their times (the metrics, weights
    and sizes do not depend on the load)."""
    loads = [r[k] for r in rows for k in ("load_before", "load_after") if r.get(k) is not None]
    if not loads:
        return "load not recorded"
    top = max(loads)
    if top <= 1.5 * cores:  # a run keeps every core busy itself: a load near `cores` is its own
        return (f"a quiet machine (1-minute load at most {top:g} on {cores} cores, the runs' "
                "own threads included): the times are comparable between rows")
    return (f"taken under load (1-minute load up to {top:g} on {cores} cores: other jobs ran): "
            "times and memory are what that load allowed; the metrics do not depend on it")


def measure(tasks: list[str], modes: list[str], epochs: int, seed: int, out: Path,
            keep: dict[str, Any] | None = None) -> dict:
    """Train each mode on each task's bundled data (one process, the model loaded once); the
    JSON at `out` is rewritten after every run, so a partial measurement is kept.

    keep: an earlier result whose other rows stay (a mode added later is measured alone);
    each row says when and at which commit it was measured, and `setup.sessions` lists them.
    """
    from bertviz_lite.engine.models import load_backbone

    backbone = load_backbone("bundled")
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = engine_info()
    result: dict[str, Any] = {"setup": {
        "model": backbone.name, "layers": backbone.num_layers, "hidden": backbone.hidden_size,
        "data": "bundled", "epochs": epochs, "seed": seed, "lr": RunConfig().lr,
        "mode_lr": MODE_LR, "head_lr": RunConfig().head_lr, "batch_size": RunConfig().batch_size,
        "cpu": cpu_model(), "cores": os.cpu_count(), "engine": info,
        "date": now, "load_note": ""}, "rows": []}
    sessions = [{"date": now, "commit": info.get("git_commit"), "tasks": tasks, "modes": modes}]
    if keep is not None:
        result["rows"] = kept_rows(keep, tasks, modes)
        sessions = _sessions(keep) + sessions
    result["setup"]["sessions"] = sessions
    for task in tasks:
        data = load_task_data(task, "bundled", seed=seed)
        for mode in modes:
            rec, row = measure_mode(task, mode, epochs, seed, backbone, data)
            row = dict(row, date=now, commit=info.get("git_commit"))
            result["rows"] = _ordered([*result["rows"], row])
            result["setup"]["load_note"] = load_note(result["rows"], os.cpu_count() or 1)
            log.info("%s %s: %s %.3f, %.2f s/step", task, mode, rec.status,
                     rec.final.get("value") or float("nan"), row["step_s"] or 0)
            write_json(out, result)
    return result


def kept_rows(earlier: dict[str, Any], tasks: list[str], modes: list[str]
              ) -> list[dict[str, Any]]:
    """The rows of an earlier result that a new measurement of `tasks` x `modes` keeps, each
    with the date and commit it was measured at."""
    s = earlier.get("setup", {})
    return [dict(r, date=r.get("date", s.get("date")),
                 commit=r.get("commit", s.get("engine", {}).get("git_commit")))
            for r in earlier.get("rows", []) if not (r["task"] in tasks and r["mode"] in modes)]


def _sessions(earlier: dict[str, Any]) -> list[dict[str, Any]]:
    """The measuring sessions of an earlier result (one, where it predates the list)."""
    s = earlier.get("setup", {})
    if s.get("sessions"):
        return list(s["sessions"])
    rows = earlier.get("rows", [])
    return [{"date": s.get("date"), "commit": s.get("engine", {}).get("git_commit"),
             "tasks": sorted({r["task"] for r in rows}, key=_task_order),
             "modes": sorted({r["mode"] for r in rows}, key=_mode_order)}]


def _task_order(task: str) -> int:
    return TASKS.index(task) if task in TASKS else len(TASKS)


def _mode_order(mode: str) -> int:
    return MODES.index(mode) if mode in MODES else len(MODES)


def _ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows by task, then mode, in the order of TASKS and MODES."""
    return sorted(rows, key=lambda r: (_task_order(r["task"]), _mode_order(r["mode"])))


def main(argv: list[str] | None = None) -> int:
    """Measure the modes and write the JSON the results page's modes table is made from."""
    ap = argparse.ArgumentParser(prog="python -m bertviz_lite.experiments.modes_bench")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--epochs", type=int, default=3)  # as the lecture runs
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--merge", action="store_true",
                    help="keep the other rows of --out (e.g. measure a new mode alone)")
    args = ap.parse_args(argv)
    keep = None
    if args.merge and args.out.is_file():
        keep = json.loads(args.out.read_text(encoding="utf-8"))
    measure([t for t in args.tasks.split(",") if t], [m for m in args.modes.split(",") if m],
            args.epochs, args.seed, args.out, keep=keep)
    return 0


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
