"""Recorded analyses for lectures: `python -m bertviz_lite.experiments.record_inside_bert RUNS OUT`.

RUNS holds `runs/<task>-<mode>.json` and `models/<task>-<mode>/` (what `train --out ...
--save-model ...` wrote, see scripts/record-changes.sh); OUT gets `<task>-<mode>.json` for each
of the four bundled tasks x (frozen, top-2, finetune). One process analyses all twelve, so the
pretrained model loads once and its features are shared by the three modes of a task.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from bertviz_lite.experiments.inside_bert import analyse_changes
from bertviz_lite.experiments.inside_bert_result import seconds_text, table_lines
from bertviz_lite.record.runs import RunRecord

log = logging.getLogger(__name__)

TASKS = ("sentiment", "paraphrase", "similarity", "ner")
MODES = ("frozen", "top-2", "finetune")


def record_one(runs: Path, out: Path, task: str, mode: str, wait_s: float = 0.0) -> Path:
    """Analyse one recorded run (waiting up to `wait_s` for its files to appear)."""
    run = runs / "runs" / f"{task}-{mode}.json"
    model = runs / "models" / f"{task}-{mode}"
    deadline = time.monotonic() + wait_s
    while not (model / "task.json").is_file() and time.monotonic() < deadline:
        time.sleep(5)
    result = analyse_changes(RunRecord.load(run), model)
    path = result.save(out / f"{task}-{mode}.json")
    log.warning("%s %s: %.1f s (%s; pretrained side: %s)\n%s", task, mode,
                result.seconds["total"], seconds_text(result), result.setup["pretrained_side"],
                "\n".join(table_lines(result)))
    return path


def main(argv: list[str] | None = None) -> int:
    """Analyse every bundled task x mode found in RUNS into OUT."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for each run")
    p.add_argument("--keep", action="store_true", help="skip analyses already in OUT")
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS),
                   help="only these tasks (default: all four)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    for mode in ("finetune", "frozen", "top-2"):  # the README's fine-tuned table first
        for task in (t for t in TASKS if t in args.tasks):
            if args.keep and (args.out / f"{task}-{mode}.json").is_file():
                continue
            record_one(args.runs, args.out, task, mode, args.wait)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
