"""Every mode on real data: SST-2 and MRPC from `../shared/data`, each mode trained on 1,000
and 5,000 training examples (a stratified sample drawn with each seed; MRPC has 3,668, so its
"5,000" is all of them) and scored on the whole dev set, beside frozen and fine-tuned. The
rows are those of `modes_bench` (metric, trainable weights, step time, peak memory, optimizer
state, checkpoint size, the load beside each run) plus the size and the seed; docs/results.md's
`modes-real` table is generated from the JSON this writes.

    python -m bertviz_lite.experiments.modes_real --data ../shared/data \\
        --sizes 1000 --seeds 0,1,2 --out assets/runs/modes-real.json
    python -m bertviz_lite.experiments.modes_real --data ../shared/data \\
        --sizes 5000 --seeds 0 --merge --out assets/runs/modes-real.json

The JSON is rewritten after every run (a stopped measurement keeps what it measured), and
`--merge` keeps the rows of other sizes, seeds, tasks or modes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bertviz_lite.data.load import load_task_data
from bertviz_lite.engine.config import TASKS, RunConfig
from bertviz_lite.engine.tasks import TASK_SPECS
from bertviz_lite.experiments.modes_bench import (
    MODE_LR,
    MODES,
    cpu_model,
    load_note,
    measure_mode,
)
from bertviz_lite.record.jsonfile import write_json
from bertviz_lite.record.provenance import engine_info

log = logging.getLogger(__name__)

TASKS_REAL = ("sentiment", "paraphrase")  # SST-2 and MRPC: the two real datasets
SIZES = (1000, 5000)


def row_key(row: dict[str, Any]) -> tuple[str, str, int, int]:
    """What makes a row unique: task, mode, training-set size asked for, seed."""
    return (row["task"], row["mode"], int(row["size"]), int(row["seed"]))


def _order(row: dict[str, Any]) -> tuple[int, int, int, int]:
    task, mode, size, seed = row_key(row)
    return (TASKS.index(task) if task in TASKS else len(TASKS), size,
            MODES.index(mode) if mode in MODES else len(MODES), seed)


def grid(tasks: Sequence[str], modes: Sequence[str], sizes: Sequence[int],
         seeds: Sequence[int]) -> set[tuple[str, str, int, int]]:
    """Every (task, mode, size, seed) a measurement covers."""
    return {(t, m, s, d) for t in tasks for m in modes for s in sizes for d in seeds}


def check_grid(tasks: Sequence[str], modes: Sequence[str], sizes: Sequence[int]) -> None:
    """Refuse, before any training, what no run could do (one line that says what to do)."""
    unknown = [t for t in tasks if t not in TASK_SPECS]
    if unknown:
        raise SystemExit(f"unknown task(s) {unknown}: choose from {', '.join(TASKS)}")
    bad_modes = [m for m in modes if m not in MODES]
    if bad_modes:
        raise SystemExit(f"unknown mode(s) {bad_modes}: choose from {', '.join(MODES)}")
    if not sizes or min(sizes) < 1:
        raise SystemExit(f"--sizes must be positive training-set sizes; got {list(sizes)}")


def measure_real(data_dir: Path, tasks: Sequence[str], modes: Sequence[str],
                 sizes: Sequence[int], seeds: Sequence[int], epochs: int, out: Path,
                 keep: dict[str, Any] | None = None, model: str = "bundled") -> dict[str, Any]:
    """Train each mode on each task's real data at each size and seed (one process, the model
    loaded once), scored on the task's whole dev file; `out` is rewritten after every run.

    keep: an earlier result whose rows outside this grid stay; model: the backbone (the
    tests pass a tiny one)."""
    from bertviz_lite.engine.models import load_backbone

    check_grid(tasks, modes, sizes)
    backbone = load_backbone(model)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = engine_info()
    measured = grid(tasks, modes, sizes, seeds)
    rows = [r for r in (keep or {}).get("rows", []) if row_key(r) not in measured]
    sessions = [*(keep or {}).get("setup", {}).get("sessions", []),
                {"date": now, "commit": info.get("git_commit"), "tasks": list(tasks),
                 "modes": list(modes), "sizes": list(sizes), "seeds": list(seeds)}]
    result: dict[str, Any] = {"setup": {
        "model": backbone.name, "layers": backbone.num_layers, "hidden": backbone.hidden_size,
        "data": data_dir.name, "datasets": {**(keep or {}).get("setup", {}).get("datasets", {}),
                                            **{t: TASK_SPECS[t].paper_dataset for t in tasks}},
        "epochs": epochs, "lr": RunConfig().lr, "mode_lr": MODE_LR,
        "head_lr": RunConfig().head_lr, "batch_size": RunConfig().batch_size,
        "cpu": cpu_model(), "cores": os.cpu_count(), "engine": info, "date": now,
        "sessions": sessions, "load_note": ""}, "rows": rows}
    for task in tasks:
        for size in sizes:
            for seed in seeds:
                data = load_task_data(task, str(data_dir), max_train=size, seed=seed)
                for mode in modes:
                    rec, row = measure_mode(task, mode, epochs, seed, backbone, data)
                    row = dict(row, size=size, seed=seed,
                               train_examples=len(data.train), eval_examples=len(data.val),
                               dataset=TASK_SPECS[task].paper_dataset, date=now,
                               commit=info.get("git_commit"))
                    result["rows"] = sorted([*result["rows"], row], key=_order)
                    result["setup"]["load_note"] = load_note(result["rows"], os.cpu_count() or 1)
                    log.info("%s %d seed %d %s: %s %.3f, %.2f s/step", task, size, seed, mode,
                             rec.status, rec.final.get("value") or float("nan"),
                             row["step_s"] or 0)
                    write_json(out, result)
    return result


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"expected comma-separated whole numbers, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    """Measure the modes on real data and write the JSON of the `modes-real` table."""
    ap = argparse.ArgumentParser(prog="python -m bertviz_lite.experiments.modes_real")
    ap.add_argument("--data", type=Path, required=True, help="the ../shared/data folder")
    ap.add_argument("--tasks", default=",".join(TASKS_REAL))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--merge", action="store_true",
                    help="keep the rows of --out that this measurement does not redo")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        raise SystemExit(f"--data {args.data}: no such folder (the ../shared/data layout)")
    keep = None
    if args.merge and args.out.is_file():
        keep = json.loads(args.out.read_text(encoding="utf-8"))
    measure_real(args.data, [t for t in args.tasks.split(",") if t],
                 [m for m in args.modes.split(",") if m], _ints(args.sizes), _ints(args.seeds),
                 args.epochs, args.out, keep=keep)
    return 0


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
