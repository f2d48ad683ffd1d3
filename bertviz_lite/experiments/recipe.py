"""Choosing the fine-tuning recipe by measurement: candidate settings x seeds on dev sets.

The BERT paper's recipe (Devlin et al. 2019, appendix A.3): AdamW, learning rate 5e-5, 3e-5
or 2e-5, batch 16 or 32, 2-4 epochs, linear warm-up over the first 10% of the steps then
linear decay, weight decay 0.01 (not on biases and LayerNorm), gradient clipping at 1.0.
`run_recipe` trains each candidate (a few of those settings) on each task's training
subsample with several seeds, scores it on the dev split (never a test set), and keeps every
record, so a second call resumes. `recipe.json` holds the table the README shows
(record/readme.py, block `recipe`).

    python -m bertviz_lite.experiments.recipe --data-dir ../shared/data --out DIR
    cp DIR/recipe.json assets/runs/recipe.json
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertviz_lite.engine.config import RunConfig, config_hash, run_key
from bertviz_lite.record.provenance import engine_info
from bertviz_lite.record.runs import RunRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """One recipe: a file-name slug, words for the table, the RunConfig fields it sets (the
    rest are the defaults)."""

    slug: str
    name: str
    changes: tuple[tuple[str, Any], ...]

    def config(self, base: RunConfig) -> RunConfig:
        """The base config with this candidate's settings."""
        return base.replace(**dict(self.changes))


# What was compared (every one: AdamW, warm-up over 10% of the steps then linear decay,
# weight decay 0.01 except biases and LayerNorm, learning rate 5e-5, batch 16, 3 epochs)
CANDIDATES: tuple[Candidate, ...] = (
    Candidate("noclip", "no clipping, head lr 3e-3", (("max_grad_norm", None), ("head_lr", 3e-3))),
    Candidate("clip", "clipped at 1.0, head lr 3e-3 (the default)",
              (("max_grad_norm", 1.0), ("head_lr", 3e-3))),
    Candidate("clipone", "clipped at 1.0, head lr = BERT's 5e-5",
              (("max_grad_norm", 1.0), ("head_lr", 5e-5))),
    Candidate("separate", "clipped at 1.0, sentences encoded separately (bi-encoder)",
              (("max_grad_norm", 1.0), ("head_lr", 3e-3), ("pair_encoding", "separate"))),
    # what fine-tuning has to beat: the frozen encoder, same data and seeds
    Candidate("frozen-linear", "frozen, linear head", (("mode", "frozen"), ("head", "linear"))),
    Candidate("frozen-task-model", "frozen, task model",
              (("mode", "frozen"), ("head", "task-model"))),
)


def _path(out: Path, task: str, cand: Candidate, seed: int, data: str = "") -> Path:
    where = "-bundled" if data == "bundled" else ""
    return out / f"{cand.slug}-{task}{where}-s{seed}.json"


def existing(base: RunConfig, cand: Candidate, seed: int, out: Path) -> RunRecord | None:
    """The finished record of (candidate, seed) in `out` when its key is this setup's."""
    from bertviz_lite.data.load import load_task_data

    config = cand.config(base).replace(seed=seed)
    path = _path(out, config.task, cand, seed, config.data)
    if not path.is_file():
        return None
    key = run_key(config)  # the files' bytes, never parsed
    if key is None:  # Hub data: known once read
        data = load_task_data(config.task, config.data, max_train=config.max_train,
                              max_eval=config.max_eval, seed=seed)
        key = config_hash(config, data.fingerprint())
    old = RunRecord.load(path)
    ok = old.key == key and old.status == "completed"
    return old if ok else None


def run_candidate(base: RunConfig, cand: Candidate, seed: int, out: Path) -> RunRecord:
    """Train one (candidate, seed), or reuse its finished record with the same key."""
    from bertviz_lite.engine.events import drain
    from bertviz_lite.engine.training import train

    old = existing(base, cand, seed, out)
    if old is not None:
        return old
    config = cand.config(base).replace(seed=seed)
    record = drain(train(config))
    out.mkdir(parents=True, exist_ok=True)
    record.save(_path(out, config.task, cand, seed, config.data))
    log.info("%s %s seed %d: %.4f", config.task, cand.name, seed, record.final["value"])
    return record


def _cpu_seconds(records: Sequence[RunRecord]) -> float | None:
    """The CPU seconds of all the records, or None when any of them did not record its CPU
    time (a sum that left a run out, or a 0 for nothing measured, would read as a cost)."""
    cpu = [r.cost.get("cpu_seconds") for r in records]
    if any(c is None for c in cpu):
        return None
    return float(sum(cpu))


def summarise(task: str, cand: Candidate, records: Sequence[RunRecord]) -> dict[str, Any]:
    """One row: every seed's dev score, their median and minimum, wall and CPU seconds."""
    values = [float(r.final["value"]) for r in records]
    return {"task": task, "recipe": cand.name, "slug": cand.slug,
            "mode": records[0].config.get("mode"), "head": records[0].config.get("head"),
            "settings": dict(cand.changes),
            "seeds": [int(r.config["seed"]) for r in records], "values": values,
            "median": statistics.median(values), "min": min(values),
            "baseline": records[0].baseline.get("value"),
            "wall_s": sum(r.cost.get("wall_seconds", 0.0) for r in records),
            "cpu_s": _cpu_seconds(records),
            "train": records[0].data.get("train"), "val": records[0].data.get("val"),
            "data": records[0].config.get("data"),
            "metric": records[0].final.get("metric")}


def run_recipe(tasks: dict[str, str], out: Path, *, max_train: int, seeds: Sequence[int],
               candidates: Sequence[Candidate] = CANDIDATES, epochs: int = 3,
               train_missing: bool = True) -> dict[str, Any]:
    """Every candidate x seed on every task (task -> data folder); writes out/recipe.json.
    train_missing=False only summarises the records already in `out`."""
    rows = []
    for name, data in tasks.items():
        task = name.partition("@")[0]
        base = RunConfig(task=task, mode="finetune", data=data,
                         max_train=None if data == "bundled" else max_train, epochs=epochs)
        for cand in candidates:
            recs = [run_candidate(base, cand, s, out) if train_missing
                    else existing(base, cand, s, out) for s in seeds]
            done = [r for r in recs if r is not None]
            if done:
                rows.append(summarise(task, cand, done))
    d = RunConfig()
    result = {"setup": {"mode": "finetune", "max_train": max_train, "epochs": epochs,
                        "seeds": list(seeds), "lr": d.lr, "batch_size": d.batch_size,
                        "warmup": d.warmup, "weight_decay": d.weight_decay,
                        "precision": d.precision, "data": dict(tasks),
                        "split": "dev split (validation; no test set is used)",
                        "engine": engine_info()},
              "rows": rows}
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: the recipe measurement on MRPC and SST-2 dev sets (and the bundled paraphrase)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="folder with mrpc/ and sst2/")
    p.add_argument("--out", required=True)
    p.add_argument("--max-train", type=int, default=1000)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--tasks", default="paraphrase",
                   help="paraphrase (MRPC), sentiment (SST-2); TASK@bundled for the bundled data")
    p.add_argument("--existing-only", action="store_true",
                   help="summarise the records already in --out, train nothing")
    p.add_argument("--train", default="",
                   help="with --existing-only: still train these candidates (slugs, "
                        "comma-separated)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = Path(args.data_dir)
    folders = {"paraphrase": "mrpc", "sentiment": "sst2"}
    tasks: dict[str, str] = {}
    for item in filter(None, args.tasks.split(",")):
        task, _, data = item.partition("@")  # paraphrase (real MRPC), paraphrase@bundled
        tasks[item] = data if data else str(root / folders[task])
    seeds = [int(s) for s in args.seeds.split(",")]
    wanted = {slug for slug in args.train.split(",") if slug}
    if args.existing_only and wanted:
        run_recipe(tasks, Path(args.out), max_train=args.max_train, seeds=seeds,
                   candidates=[c for c in CANDIDATES if c.slug in wanted])
    run_recipe(tasks, Path(args.out), max_train=args.max_train, seeds=seeds,
               train_missing=not args.existing_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
