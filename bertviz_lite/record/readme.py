"""The README's result tables, generated from the committed JSON (never typed in).

    python -m bertviz_lite.record.readme            # rewrite the tables in README.md
    python -m bertviz_lite.record.readme --check    # exit 1 when README.md disagrees

Each table lives between `<!-- BEGIN name -->` and `<!-- END name -->` in README.md:
`lecture-runs` from assets/runs/<task>-<mode>.json (the recorded lecture runs, made by
scripts/record-runs.sh) and `reproduction` from assets/runs/reproduce.json
(`bertviz-lite reproduce`). No torch: this reads JSON only.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bertviz_lite.record.paper import cost_ratio, paper_cell
from bertviz_lite.record.provenance import provenance_line

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
TASKS = ("sentiment", "paraphrase", "similarity", "ner")
METRIC = {"sentiment": "accuracy", "paraphrase": "accuracy", "similarity": "Pearson r",
          "ner": "span F1"}
LECTURE_MODES = (("frozen", "frozen"), ("frozen-scalar-mix", "frozen (scalar-mix)"),
                 ("top-2", "top-2"), ("finetune", "fine-tuned"))


def _num(value: Any, digits: int) -> str:
    return "–" if value is None else f"{float(value):.{digits}f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}x"


def _load(runs: Path, stem: str) -> dict[str, Any] | None:
    path = runs / f"{stem}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def lecture_table(runs: Path) -> str:
    """The recorded lecture runs: metric per mode, baseline, wall times and the cost ratio."""
    head = ["task", "metric", "train / val", "no-learning baseline", *(t for _, t in LECTURE_MODES),
            "frozen time", "fine-tuned time", "cost ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    first: dict[str, Any] | None = None
    for task in TASKS:
        recs = {stem: _load(runs, f"{task}-{stem}") for stem, _ in LECTURE_MODES}
        some = next((r for r in recs.values() if r), None)
        if some is None:
            continue
        first = first or some
        wall = {k: (r or {}).get("cost", {}).get("wall_seconds") for k, r in recs.items()}
        data = some.get("data", {})
        cells = [task, METRIC[task], f"{data.get('train')} / {data.get('val')}",
                 _num(some.get("baseline", {}).get("value"), 2),
                 *(_num((recs[stem] or {}).get("final", {}).get("value"), 3)
                   for stem, _ in LECTURE_MODES),
                 _num(wall["frozen"], 1) + " s", _num(wall["finetune"], 1) + " s",
                 _ratio(cost_ratio(wall["finetune"], wall["frozen"]))]
        lines.append("| " + " | ".join(cells) + " |")
    if first is not None:
        made = provenance_line(first.get("created", ""), first.get("device", ""),
                               first.get("engine"), first.get("config", {}).get("threads"))
        lines += ["", f"The {first.get('model', {}).get('name')} model, seed "
                  f"{first.get('config', {}).get('seed')}; {made}."]
    return "\n".join(lines)


def reproduction_table(runs: Path) -> str:
    """`bertviz-lite reproduce` on the real dev sets, beside the paper's Table 2."""
    result = _load(runs, "reproduce")
    if result is None:
        return "No reproduction results committed (assets/runs/reproduce.json)."
    s = result.get("setup", {})
    head = ["task (dev set)", "metric", "ours frozen", "ours fine-tuned", "paper frozen",
            "paper fine-tuned", "our cost ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result.get("rows", []):
        cells = [f"{r['task']} ({r['dataset']}, {r.get('eval_examples')} examples)", r["metric"],
                 _num(r.get("ours_frozen"), 1), _num(r.get("ours_finetune"), 1),
                 _num(r.get("paper_frozen"), 1), _num(r.get("paper_finetune"), 1),
                 _ratio(cost_ratio(r.get("finetune_wall_s"), r.get("frozen_wall_s")))]
        lines.append("| " + " | ".join(cells) + " |")
    note = paper_cell("ner", "frozen", str(s.get("frozen_head"))).note
    lines += ["", f"Ours: {s.get('model')} ({s.get('layers')} layers, {s.get('hidden')} wide), "
              f"the first {s.get('max_train')} training examples per task (stratified), "
              f"{s.get('epochs')} epochs, seed {s.get('seed')}, frozen head "
              f"{s.get('frozen_head')}; {s.get('hardware')}; {s.get('total_minutes')} minutes; "
              f"recorded {s.get('date')}. All numbers on the 0-100 scale (Pearson r x 100). "
              f"Beside our frozen runs: {note}."]
    return "\n".join(lines)


TABLES: dict[str, Callable[[Path], str]] = {"lecture-runs": lecture_table,
                                            "reproduction": reproduction_table}


def _block(name: str) -> re.Pattern[str]:
    n = re.escape(name)
    return re.compile(rf"(<!-- BEGIN {n} -->\n)(.*?)(<!-- END {n} -->)", re.S)


def render(readme: str, runs: Path) -> str:
    """README text with every table block replaced by the table generated from `runs`."""
    for name, make in TABLES.items():
        pattern = _block(name)
        if not pattern.search(readme):
            raise ValueError(f"README has no <!-- BEGIN {name} --> ... <!-- END {name} --> block")
        table = make(runs)
        readme = pattern.sub(lambda m, t=table: m.group(1) + t + "\n" + m.group(3), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with --check, compare) the README's result tables."""
    ap = argparse.ArgumentParser(prog="python -m bertviz_lite.record.readme")
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    ap.add_argument("--readme", type=Path, default=REPO / "README.md")
    ap.add_argument("--runs", type=Path, default=REPO / "assets" / "runs")
    a = ap.parse_args(argv)
    text = a.readme.read_text(encoding="utf-8")
    new = render(text, a.runs)
    if a.check:
        if new != text:
            log.error("%s is out of date: run python -m bertviz_lite.record.readme", a.readme)
            return 1
        return 0
    a.readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(format="%(message)s")
    sys.exit(main())
