"""Which mode forgets less? Each mode tuned on one task, then the bundled model's pretraining
skill measured on the tuned encoder (docs/results.md's forgetting table, from the JSON this
writes).

The skill is the one `experiments/forgetting.py` measures for "What changed inside BERT?":
zero-shot sentence similarity (the cosine of two mean-pooled sentence vectors against the gold
scores of the bundled similarity dev set, Pearson r), which the bundled MiniLM was trained
for and which no mode here trains. Biderman et al. (2024, "LoRA Learns Less and Forgets
Less") report that LoRA keeps more of what the base model could do than full fine-tuning;
this measures the same question on this model, one task, one seed. A frozen run cannot forget:
its encoder is the pretrained one, and its row shows the measurement's own reading of that.

    python -m bertviz_lite.experiments.forgetting_modes --out assets/runs/forgetting-modes.json
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.modes import label_of
from bertviz_lite.experiments.modes_bench import MODE_LR, MODES, cpu_model, load_average
from bertviz_lite.record.jsonfile import write_json
from bertviz_lite.record.provenance import engine_info

log = logging.getLogger(__name__)


def forgetting_row(mode: str, task_value: float | None, metric: str, trainable: int,
                   total: int, before: float, after: float) -> dict[str, Any]:
    """One row: the task's metric and the zero-shot similarity before and after tuning
    (`drop`: before - after, in Pearson r; positive: skill lost)."""
    return {"mode": mode, "label": label_of(mode), "value": task_value, "metric": metric,
            "trainable": trainable, "total": total, "pearson_before": before,
            "pearson_after": after, "drop": before - after}


def measure(task: str, modes: list[str], epochs: int, seed: int, out: Path,
            model: str = "bundled", max_train: int | None = None) -> dict[str, Any]:
    """Tune each mode on `task` (bundled data), measure zero-shot similarity on its encoder;
    the JSON at `out` is rewritten after every mode."""
    from bertviz_lite.data.load import load_task_data
    from bertviz_lite.engine.models import load_backbone
    from bertviz_lite.engine.tasks import TASK_SPECS
    from bertviz_lite.engine.training import Trainer
    from bertviz_lite.experiments.compare import _copy, release_memory
    from bertviz_lite.experiments.forgetting import similarity_sets, zero_shot_similarity

    backbone = load_backbone(model)
    skill = similarity_sets()[0]
    before = float(zero_shot_similarity(backbone.encoder.eval(), backbone.tokenizer,
                                        skill)["pearson"])
    data = load_task_data(task, "bundled", seed=seed, max_train=max_train)
    result: dict[str, Any] = {"setup": {
        "model": backbone.name, "layers": backbone.num_layers, "task": task,
        "data": "bundled", "train_examples": len(data.train), "epochs": epochs, "seed": seed,
        "lr": RunConfig().lr, "mode_lr": MODE_LR, "skill": skill.name, "pairs": len(skill.pairs),
        "pearson_pretrained": before, "cpu": cpu_model(), "cores": os.cpu_count(),
        "engine": engine_info(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": load_average()}, "rows": []}
    for mode in modes:
        release_memory()
        lr = MODE_LR.get(mode, RunConfig().lr)
        config = RunConfig(task=task, mode=mode, model=model, epochs=epochs, seed=seed, lr=lr)
        trainer = Trainer(config, backbone=backbone, data=_copy(data))
        rec = list(trainer.events())[-1]
        after = float(zero_shot_similarity(trainer.model.encoder.eval(), backbone.tokenizer,
                                           skill)["pearson"])
        result["rows"].append(forgetting_row(mode, rec.final.get("value"),
                                             TASK_SPECS[task].metric_title,
                                             rec.trainable_params, rec.total_params, before,
                                             after))
        log.info("%s: %s %.3f; zero-shot similarity %.3f -> %.3f", mode, task,
                 rec.final.get("value") or float("nan"), before, after)
        del trainer
        write_json(out, result)
    result["setup"]["load_end"] = load_average()
    write_json(out, result)
    return result


def main(argv: list[str] | None = None) -> int:
    """Measure each mode's forgetting and write the JSON the results page's table reads."""
    ap = argparse.ArgumentParser(prog="python -m bertviz_lite.experiments.forgetting_modes")
    ap.add_argument("--task", default="sentiment")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--epochs", type=int, default=3)  # as the lecture runs
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--max-train", type=int, default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    measure(args.task, [m for m in args.modes.split(",") if m], args.epochs, args.seed,
            args.out, model=args.model, max_train=args.max_train)
    return 0


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
