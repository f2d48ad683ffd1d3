"""The bench's "analysis of a bundled run" figure: one inside-BERT analysis of a fine-tuned
bundled run, cold (nothing of the pretrained side kept: it is computed) and warm (a second
analysis in the same process, as in a warm worker: the pretrained side comes from memory).
Measured numbers only; nothing is compared with a stored value."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bertviz_lite.engine.checkpoints import save_task_model
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.events import drain
from bertviz_lite.engine.models import Backbone
from bertviz_lite.engine.training import Trainer


def _timed(fn: Any) -> tuple[Any, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def analysis_cost(backbone: Backbone, task: str = "sentiment", device: str = "auto",
                  limits: dict[str, int] | None = None) -> dict[str, Any]:
    """Train the default fine-tuned run of `task` on its bundled data, then analyse it twice.

    Returns wall and CPU seconds of the cold and the warm analysis, their phases, and the
    torch threads they ran on. The pretrained side is kept in a temporary folder (so "cold"
    is cold whatever an earlier analysis left in the user's cache).
    """
    from bertviz_lite.experiments import inside_bert_cache
    from bertviz_lite.experiments.inside_bert import analyse_changes

    config = RunConfig(task=task, mode="finetune", device=device, **(limits or {}))
    with tempfile.TemporaryDirectory(prefix="bertviz-bench-changes-") as tmp:
        trainer = Trainer(config, backbone=backbone)
        record = drain(trainer.events())
        folder = save_task_model(trainer.model, config, trainer.data.label_names,
                                 Path(tmp) / "model")
        old = os.environ.get("BERTVIZ_FEATURE_CACHE")
        os.environ["BERTVIZ_FEATURE_CACHE"] = str(Path(tmp) / "features")
        inside_bert_cache.reset()
        try:
            cold, cold_s, cold_cpu = _timed(lambda: analyse_changes(record, folder,
                                                                    backbone=backbone))
            warm, warm_s, warm_cpu = _timed(lambda: analyse_changes(record, folder,
                                                                    backbone=backbone))
        finally:
            if old is None:
                os.environ.pop("BERTVIZ_FEATURE_CACHE", None)
            else:
                os.environ["BERTVIZ_FEATURE_CACHE"] = old
            inside_bert_cache.reset()
    return {"task": task, "mode": "finetune", "threads": torch.get_num_threads(),
            "precision": cold.setup["precision"],
            "cold_s": round(cold_s, 2), "cold_cpu_s": round(cold_cpu, 2),
            "warm_s": round(warm_s, 2), "warm_cpu_s": round(warm_cpu, 2),
            "cold_phases": cold.seconds, "warm_phases": warm.seconds,
            "sides": [cold.setup["pretrained_side"], warm.setup["pretrained_side"]]}
