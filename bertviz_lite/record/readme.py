"""The result tables of docs/results.md, generated from the committed JSON (never typed in).

    python -m bertviz_lite.record.readme            # rewrite the tables in docs/results.md
    python -m bertviz_lite.record.readme --check    # exit 1 when docs/results.md disagrees

Each table lives between `<!-- BEGIN name -->` and `<!-- END name -->` in docs/results.md:
`lecture-runs` from assets/runs/<task>-<mode>.json (the recorded lecture runs, made by
scripts/record-runs.sh), `reproduction` and `task-model` from assets/runs/reproduce.json
(`bertviz-lite reproduce`) and `recipe` from assets/runs/recipe.json. No torch: this reads
JSON only.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bertviz_lite.names import head_title
from bertviz_lite.paths import results_doc
from bertviz_lite.record.generated import write_or_check
from bertviz_lite.record.paper import cost_ratio, frozen_setup_note
from bertviz_lite.record.provenance import provenance_line
from bertviz_lite.record.repro_rows import row_heads, setup_heads

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
TASKS = ("sentiment", "paraphrase", "similarity", "ner")
METRIC = {"sentiment": "accuracy", "paraphrase": "accuracy", "similarity": "Pearson r",
          "ner": "span F1"}
LECTURE_MODES = (("frozen", "frozen"), ("frozen-scalar-mix", "frozen (scalar-mix)"),
                 ("frozen-task-model", "frozen (task model)"), ("top-2", "top-2"),
                 ("finetune", "fine-tuned"))


def _num(value: Any, digits: int) -> str:
    return "–" if value is None else f"{float(value):.{digits}f}"


def _cpu_seconds(value: Any) -> str:
    """CPU seconds of a row, or "–" when they were not recorded (None, or a 0 that only means
    that no record carried its CPU time: a run that trained used some)."""
    return "–" if value is None or not float(value) > 0 else f"{float(value):.0f}"


def _minutes(value: Any) -> str:
    return "?" if value is None else f"{float(value):.1f}"


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
    """`bertviz-lite reproduce` on the real dev sets, beside the paper's Table 2: one column
    per frozen head, the fine-tuned run, the paper's columns, the cost ratio of each head."""
    result = _load(runs, "reproduce")
    if result is None:
        return "No reproduction results committed (assets/runs/reproduce.json)."
    s = result.get("setup", {})
    rows = result.get("rows", [])
    heads = setup_heads(s, rows)
    head = (["task (dev set)", "metric"] + [f"ours frozen, {h}" for h in heads]
            + ["ours fine-tuned", "paper frozen", "paper fine-tuned"]
            + [f"cost ratio, {h}" for h in heads])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        by_head = row_heads(r)
        cells = [f"{r['task']} ({r['dataset']}, {r.get('eval_examples')} examples)", r["metric"]]
        cells += [_num(by_head.get(h, {}).get("value"), 1) for h in heads]
        cells += [_num(r.get("ours_finetune"), 1), _num(r.get("paper_frozen"), 1),
                  _num(r.get("paper_finetune"), 1)]
        cells += [_ratio(cost_ratio(r.get("finetune_wall_s"), by_head.get(h, {}).get("wall_s")))
                  for h in heads]
        lines.append("| " + " | ".join(cells) + " |")
    notes = "; ".join(f"{head_title(h)}: {frozen_setup_note(h)}" for h in heads)
    recipe = ", ".join(f"{k.replace('_', ' ')} {s[k]}" for k in
                       ("lr", "batch_size", "warmup", "weight_decay", "max_grad_norm") if k in s)
    lines += ["", f"Ours: {s.get('model')} ({s.get('layers')} layers, {s.get('hidden')} wide), "
              f"{s.get('max_train')} training examples per task (stratified subsample), "
              f"{s.get('epochs')} epochs, seed {s.get('seed')}, frozen heads "
              f"{', '.join(heads)}; fine-tuned: every layer + a linear layer"
              + (f" ({recipe})" if recipe else "") + f"; {s.get('hardware')}, precision "
              f"{s.get('precision', 'fp32')}; {_minutes(s.get('total_minutes'))} minutes of training in "
              f"all; recorded {s.get('date')}. All numbers on the 0-100 scale (Pearson r x 100). "
              f"Cost ratio: fine-tuned wall time / that frozen run's. Beside our frozen runs: "
              f"{notes}."]
    return "\n".join(lines)


TASK_LABEL = {"ner": "NER"}  # other tasks are named by their dataset (SST-2, MRPC, STS-B)


def _points(value: float) -> str:
    return f"{value:.1f}"


def task_model_gain(runs: Path) -> str:
    """What the paper's frozen setup (the task model) added over the scalar mix into a linear
    layer on the same features, and how much of our frozen model's distance to the paper's
    frozen column it closed. Every number is computed from the scores in reproduce.json and
    rounded once, when it is written."""
    result = _load(runs, "reproduce")
    if result is None:
        return "No reproduction results committed (assets/runs/reproduce.json)."
    gains, closed, above = [], [], []
    for r in result.get("rows", []):
        heads = row_heads(r)
        mix = heads.get("scalar-mix", {}).get("value")
        model = heads.get("task-model", {}).get("value")
        paper = r.get("paper_frozen")
        if mix is None or model is None or paper is None:
            continue
        name = TASK_LABEL.get(r["task"], r.get("dataset", r["task"]))
        mix, model, paper = float(mix), float(model), float(paper)
        gains.append((name, model - mix, mix, model))
        before, after = paper - mix, paper - model
        if after < 0:
            above.append((name, model, paper))
        elif before > 0:
            closed.append((name, (before - after) / before, before, after))
    if not gains:
        return "The reproduction has no task-model and scalar-mix runs side by side."
    first, *rest = gains
    text = (f"The task model against the scalar mix: {first[1]:+.1f} points on {first[0]} "
            f"({_points(first[2])} → {_points(first[3])})"
            + "".join(f", {g:+.1f} on {n}" for n, g, _, _ in rest) + ".")
    if closed:
        text += (" Of our frozen model's distance to the paper's frozen column it closed "
                 + " and ".join(f"{share:.0%} on {n} ({_points(b)} → {_points(a)} points)"
                                for n, share, b, a in closed) + ".")
    if above:
        text += (" On " + " and ".join(n for n, _, _ in above) + " our frozen model is now "
                 "above the paper's frozen BERT-base ("
                 + ", ".join(f"{_points(m)} vs {_points(p)}" for _, m, p in above) + ").")
    return text


def recipe_table(runs: Path) -> str:
    """The fine-tuning recipe's measurement (experiments/recipe.py): each candidate's dev score
    per seed, beside the no-learning baseline."""
    result = _load(runs, "recipe")
    if result is None:
        return "No recipe measurement committed (assets/runs/recipe.json)."
    s = result.get("setup", {})
    head = ["task, data (train / dev)", "recipe", "dev score per seed", "median", "lowest",
            "majority baseline", "CPU s (all seeds)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result.get("rows", []):
        per_seed = ", ".join(f"{_num(v, 3)} (seed {seed})"
                             for seed, v in zip(r.get("seeds", []), r.get("values", [])))
        recipe = str(r["recipe"])
        if r.get("head") == "task-model":
            recipe += f" ({head_title('task-model', str(r['task']))})"
        data = "bundled" if r.get("data") == "bundled" else Path(str(r.get("data", ""))).name
        cells = [f"{r['task']}, {data} ({r.get('train')} / {r.get('val')})", recipe,
                 per_seed, _num(r.get("median"), 3), _num(r.get("min"), 3),
                 _num(r.get("baseline"), 3), _cpu_seconds(r.get("cpu_s"))]
        lines.append("| " + " | ".join(cells) + " |")
    eng = s.get("engine", {})
    lines += ["", f"Fine-tuned rows: every layer + a linear head, learning rate {s.get('lr')}, "
              f"batch {s.get('batch_size')}, {s.get('epochs')} epochs, warm-up "
              f"{s.get('warmup')} of the steps, weight decay {s.get('weight_decay')}; frozen "
              f"rows: the encoder frozen, the same data, epochs and seeds; "
              f"{s.get('max_train')} training examples (a stratified subsample drawn with each "
              f"seed), the {s.get('split')}; precision {s.get('precision')}; engine "
              f"{eng.get('version')} (commit {eng.get('git_commit')}), "
              f"{eng.get('processor')}, {eng.get('cpu_count')} cores."]
    return "\n".join(lines)


def _metric_cell(row: dict[str, Any]) -> str:
    """A mode row's metric, x100, with its name: "80.8 (accuracy)"."""
    value = None if row.get("value") is None else 100 * float(row["value"])
    return f"{_num(value, 1)} ({row['metric']})"


def _trainable_cell(row: dict[str, Any]) -> str:
    """A mode row's trainable weights and their share: "605,954 (2.62%)"."""
    share = 100 * row["trainable"] / row["total"] if row.get("total") else 0.0
    return f"{row['trainable']:,} ({share:.3g}%)"


def modes_table(runs: Path) -> str:
    """Every mode on the bundled tasks (experiments/modes_bench.py): metric, trainable
    weights, step time, memory, optimizer state, checkpoint size, and the load it ran under."""
    result = _load(runs, "modes")
    if result is None:
        return "No modes measurement committed (assets/runs/modes.json)."
    s = result.get("setup", {})
    head = ["task", "mode", "metric (x100)", "trainable weights", "median step (s)",
            "peak memory (MB)", "optimizer state (MB)", "checkpoint (MB)", "load (1 min)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result.get("rows", []):
        cells = [str(r["task"]), str(r["label"]), _metric_cell(r), _trainable_cell(r),
                 _num(r.get("step_s"), 2),
                 _num(r.get("peak_mb"), 0), _num(r.get("optimizer_mb"), 2),
                 _num(r.get("checkpoint_mb"), 3),
                 f"{_num(r.get('load_before'), 1)} → {_num(r.get('load_after'), 1)}"]
        lines.append("| " + " | ".join(cells) + " |")
    eng = s.get("engine", {})
    lrs = ", ".join(f"{m} {lr:g}" for m, lr in s.get("mode_lr", {}).items())
    precisions = sorted({r["precision"] for r in result.get("rows", []) if r.get("precision")})
    precision = f"precision {' and '.join(precisions)}; " if precisions else ""
    lines += ["", f"{s.get('model')} ({s.get('layers')} layers, {s.get('hidden')} wide) on the "
              f"bundled data, {s.get('epochs')} epochs, batch {s.get('batch_size')}, seed "
              f"{s.get('seed')}; learning rate of the BERT-side weights {s.get('lr')} "
              f"({lrs}), head {s.get('head_lr')}; {precision}{s.get('cpu')}, "
              f"{s.get('cores')} cores, "
              f"engine {eng.get('version')}, {_recorded(s)}: {s.get('load_note')}. "
              f"Optimizer state: AdamW's two fp32 "
              f"moments per trainable weight; checkpoint: the fp32 weights `train "
              f"--save-model` writes for that mode."]
    return "\n".join(lines)


def modes_real_table(runs: Path) -> str:
    """Every mode on real data (experiments/modes_real.py): per task, training-set size and
    mode, the median metric over the seeds measured (with their range), trainable weights,
    the median step time, peak memory and checkpoint size."""
    result = _load(runs, "modes-real")
    if result is None:
        return "No measurement on real data committed (assets/runs/modes-real.json)."
    s = result.get("setup", {})
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for r in result.get("rows", []):  # the JSON keeps them ordered: task, size, mode, seed
        groups.setdefault((r["task"], int(r["size"]), r["mode"]), []).append(r)
    head = ["task (dev set)", "training examples", "mode", "metric (x100): median of seeds",
            "seeds", "trainable weights", "median step (s)", "peak memory (MB)",
            "checkpoint (MB)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (task, _size, _mode), rows in groups.items():
        values = sorted(100 * float(r["value"]) for r in rows if r.get("value") is not None)
        spread = f" [{values[0]:.1f}–{values[-1]:.1f}]" if len(values) > 1 else ""
        first = rows[0]
        cells = [f"{task} ({first.get('dataset')}, {first.get('eval_examples')})",
                 f"{first.get('train_examples'):,}", str(first["label"]),
                 f"{_num(statistics.median(values) if values else None, 1)}{spread} "
                 f"({first['metric']})",
                 ", ".join(str(r["seed"]) for r in rows), _trainable_cell(first),
                 _num(statistics.median(r["step_s"] for r in rows if r.get("step_s")), 2)
                 if any(r.get("step_s") for r in rows) else "–",
                 _num(max((r.get("peak_mb") or 0) for r in rows) or None, 0),
                 _num(first.get("checkpoint_mb"), 3)]
        lines.append("| " + " | ".join(cells) + " |")
    eng = s.get("engine", {})
    lrs = ", ".join(f"{m} {lr:g}" for m, lr in s.get("mode_lr", {}).items())
    lines += ["", f"{s.get('model')} ({s.get('layers')} layers, {s.get('hidden')} wide); "
              f"training examples: a stratified sample drawn with each seed from the train "
              f"file (all of it where the file is smaller), scored on the whole dev file; "
              f"{s.get('epochs')} epochs, batch {s.get('batch_size')}; learning rate of the "
              f"BERT-side weights {s.get('lr')} ({lrs}), head {s.get('head_lr')}; "
              f"{s.get('cpu')}, {s.get('cores')} cores, engine {eng.get('version')}, "
              f"{_recorded_real(s)}: {s.get('load_note')}. [a–b]: the lowest and highest "
              f"seed."]
    return "\n".join(lines)


def _recorded_real(setup: dict[str, Any]) -> str:
    """When the real-data rows were measured: each session's tasks, sizes and seeds."""
    return "recorded in {} session(s): {}".format(len(setup.get("sessions", [])), "; ".join(
        f"{', '.join(x.get('tasks', []))}, {', '.join(map(str, x.get('sizes', [])))} examples, seeds "
        f"{', '.join(map(str, x.get('seeds', [])))}, {', '.join(x.get('modes', []))} on "
        f"{x.get('date')} (commit {x.get('commit')})" for x in setup.get("sessions", [])))


def forgetting_table(runs: Path) -> str:
    """Each mode tuned on one task, then the pretraining skill measured on its encoder
    (experiments/forgetting_modes.py): the task's metric, zero-shot similarity before/after."""
    result = _load(runs, "forgetting-modes")
    if result is None:
        return "No forgetting measurement committed (assets/runs/forgetting-modes.json)."
    s = result.get("setup", {})
    head = ["mode", f"{s.get('task')} (x100)", "trainable weights",
            "zero-shot similarity after (Pearson r)", "lost"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result.get("rows", []):
        lines.append("| " + " | ".join([
            str(r["label"]), _metric_cell(r), _trainable_cell(r), _num(r.get("pearson_after"), 3),
            f"{float(r['drop']):+.3f}".replace("+-", "-")]) + " |")
    eng = s.get("engine", {})
    lines += ["", f"{s.get('model')} ({s.get('layers')} layers) tuned on the bundled "
              f"{s.get('task')} data ({s.get('train_examples')} examples, {s.get('epochs')} "
              f"epochs, seed {s.get('seed')}, the modes table's learning rates); the skill: "
              f"{s.get('skill')} ({s.get('pairs')} pairs), Pearson r "
              f"{_num(s.get('pearson_pretrained'), 3)} before any tuning; \"lost\": before "
              f"minus after. {s.get('cpu')}, {s.get('cores')} cores, engine "
              f"{eng.get('version')} (commit {eng.get('git_commit')}), recorded {s.get('date')}."]
    return "\n".join(lines)


def _recorded(setup: dict[str, Any]) -> str:
    """When the modes table's rows were measured: one session, or each of several."""
    sessions = setup.get("sessions") or [{"date": setup.get("date"),
                                          "commit": setup.get("engine", {}).get("git_commit")}]
    if len(sessions) == 1:
        return f"commit {sessions[0].get('commit')}, recorded {sessions[0].get('date')}"
    return "recorded in {} sessions: {}".format(len(sessions), "; ".join(
        f"{', '.join(x.get('modes', []))} on {x.get('date')} (commit {x.get('commit')})"
        for x in sessions))


TABLES: dict[str, Callable[[Path], str]] = {"lecture-runs": lecture_table,
                                            "reproduction": reproduction_table,
                                            "task-model": task_model_gain,
                                            "recipe": recipe_table,
                                            "modes": modes_table,
                                            "modes-real": modes_real_table,
                                            "forgetting-modes": forgetting_table}


def _block(name: str) -> re.Pattern[str]:
    n = re.escape(name)
    return re.compile(rf"(<!-- BEGIN {n} -->\n)(.*?)(<!-- END {n} -->)", re.S)


def render(doc: str, runs: Path) -> str:
    """The results page's text with every table block replaced by the table generated from
    `runs`."""
    for name, make in TABLES.items():
        pattern = _block(name)
        if not pattern.search(doc):
            raise ValueError(f"no <!-- BEGIN {name} --> ... <!-- END {name} --> block")
        table = make(runs)
        doc = pattern.sub(lambda m, t=table: m.group(1) + t + "\n" + m.group(3), doc)
    return doc


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with --check, compare) the result tables of docs/results.md."""
    ap = argparse.ArgumentParser(prog="python -m bertviz_lite.record.readme")
    ap.add_argument("--check", action="store_true", help="exit 1 if the page is out of date")
    ap.add_argument("--doc", "--readme", dest="doc", type=Path, default=results_doc(),
                    help="the page holding the tables (default docs/results.md)")
    ap.add_argument("--runs", type=Path, default=REPO / "assets" / "runs")
    args = ap.parse_args(argv)
    new = render(args.doc.read_text(encoding="utf-8"), args.runs)
    return write_or_check(args.doc, new, args.check, "python -m bertviz_lite.record.readme")


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(format="%(message)s")
    sys.exit(main())
