"""The benchmark's precision sections: fp32 and bf16 side by side, measured in one run.

- `matmul_peaks`: dense matmul GFLOP/s of each precision (the peak each run is compared with);
- `cost_by_precision`: frozen (cold: features computed; warm: features read from disk by a
  new store, as a later process does) against fine-tuned, with the validation metric of each
  run and the cold ratio against its bound;
- `lecture_by_precision`: the default lecture runs in both precisions (speed-up, metric gap);
- `cli_frozen_from_disk`: two `bertviz-lite train --mode frozen` processes on the same data:
  the second reads its features from disk; compared with the fine-tuned run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bertviz_lite.data.load import load_task_data
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.feature_disk import FeatureDisk
from bertviz_lite.engine.features import FeatureStore
from bertviz_lite.engine.models import Backbone, pick_device
from bertviz_lite.engine.precision import resolve_precision
from bertviz_lite.engine.training import Trainer
from bertviz_lite.record.runs import RunRecord

Report = dict[str, Any]
MEASURED = ("fp32", "bf16")
FORWARDS_PER_TRAINING_EXAMPLE = 3  # forward + backward (about two forwards' worth of matmuls)


def _run(config: RunConfig, backbone: Backbone, **kwargs: Any) -> RunRecord:
    trainer = Trainer(config, backbone=backbone, **kwargs)
    for _ in trainer.events():
        pass
    return trainer.record


def matmul_gflops(m: int, k: int, n: int, device: torch.device, dtype: torch.dtype,
                  seconds: float = 1.0) -> float:
    """Dense (m x k) @ (k x n) throughput in `dtype`, measured here."""
    a = torch.randn(m, k, device=device).to(dtype)
    b = torch.randn(k, n, device=device).to(dtype)
    for _ in range(3):
        a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * m * k * n * reps / (time.perf_counter() - t0) / 1e9


def matmul_peaks(hidden: int, device: str = "auto") -> Report:
    """{precision: {square_1024, ffn_shaped}} GFLOP/s, both precisions in this process."""
    dev = pick_device(device)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    return {p: {"square_1024": round(matmul_gflops(1024, 1024, 1024, dev, dt), 1),
                "ffn_shaped": round(matmul_gflops(1024, hidden, 4 * hidden, dev, dt), 1)}
            for p, dt in dtypes.items()}


def forward_bound(fine: RunRecord, frozen: RunRecord) -> float:
    """Best possible fine-tuned / frozen cold ratio, in forward passes of the encoder.

    Fine-tuned: 3 per training example per epoch, plus one per example of every evaluation
    (validation and the training subset re-scored). Frozen: one per training and validation
    example (features computed once; the head costs next to nothing).
    """
    n_train, n_val = fine.data["train"], fine.data["val"]
    evals = fine.eval_curve("val")
    train_eval = min(int(fine.config["train_eval_size"]), n_train)
    fine_fw = FORWARDS_PER_TRAINING_EXAMPLE * fine.cost["epochs"] * n_train \
        + len(evals) * (n_val + train_eval)
    return fine_fw / max(1, frozen.data["train"] + frozen.data["val"])


def _cost_row(cold: RunRecord, warm: RunRecord, fine: RunRecord, precision: str,
              epochs: int) -> Report:
    w = {"frozen_cold": cold.cost["wall_seconds"], "frozen_warm": warm.cost["wall_seconds"],
         "finetune": fine.cost["wall_seconds"]}
    bound = forward_bound(fine, cold)
    ratio_cold = w["finetune"] / w["frozen_cold"]
    steps = fine.steps[1:] or fine.steps
    return {"precision": precision, "epochs": epochs,
            **{f"{k}_s": round(v, 2) for k, v in w.items()},
            "frozen_cache_s": round(cold.cost["feature_cache_seconds"], 2),
            "finetune_step_s": round(sum(s.seconds for s in steps) / len(steps), 4),
            "ratio_cold": round(ratio_cold, 1),
            "ratio_warm": round(w["finetune"] / w["frozen_warm"], 1),
            "cold_bound": round(bound, 1), "cold_of_bound_pct": round(100 * ratio_cold / bound, 0),
            "warm_features_reused": int(warm.cost["features_reused"]),
            "metric": fine.final["metric"], "metric_frozen_cold": cold.final["value"],
            "metric_frozen_warm": warm.final["value"], "metric_finetune": fine.final["value"]}


def cost_by_precision(backbone: Backbone, epochs: tuple[int, ...] = (1, 3),
                      task: str = "sentiment", device: str = "auto") -> list[Report]:
    """Frozen cold / frozen warm from disk / fine-tuned, for each precision and epoch count."""
    rows = []
    data = load_task_data(task)
    for precision in MEASURED:
        for e in epochs:
            base = RunConfig(task=task, epochs=e, device=device, precision=precision)
            with tempfile.TemporaryDirectory() as folder:
                cold = _run(base, backbone, data=data, features=FeatureStore(
                    disk=FeatureDisk(folder)))
                warm = _run(base.replace(head_lr=base.head_lr * 2), backbone, data=data,
                            features=FeatureStore(disk=FeatureDisk(folder)))  # a new process
            fine = _run(base.replace(mode="finetune"), backbone, data=data)
            rows.append(_cost_row(cold, warm, fine, precision, e))
    return rows


def lecture_by_precision(backbone: Backbone, tasks: tuple[str, ...],
                         device: str = "auto") -> list[Report]:
    """The default frozen and fine-tuned run of each task, fp32 and bf16, and their gap."""
    rows = []
    for task in tasks:
        data = load_task_data(task)
        for mode in ("frozen", "finetune"):
            recs = {p: _run(RunConfig(task=task, mode=mode, device=device, precision=p),
                            backbone, data=data) for p in MEASURED}
            row: Report = {"task": task, "mode": mode, "metric": recs["fp32"].final["metric"],
                           "baseline": round(recs["fp32"].baseline["value"], 3)}
            for p, rec in recs.items():
                row[f"{p}_wall_s"] = round(rec.cost["wall_seconds"], 2)
                row[f"{p}_value"] = round(rec.final["value"], 3)
            row["speedup_bf16"] = round(row["fp32_wall_s"] / row["bf16_wall_s"], 2)
            row["bf16_minus_fp32_points"] = round(100 * (row["bf16_value"] - row["fp32_value"]), 1)
            row["beats_baseline"] = all(r.final["value"] > r.baseline["value"]
                                        for r in recs.values())
            rows.append(row)
    return rows


def _cli_train(home: str, out: Path, extra: list[str]) -> tuple[dict[str, Any], float]:
    """One `bertviz-lite train` process; (its run record, the process's wall seconds)."""
    env = {**os.environ, "BERTVIZ_HOME": home}
    env.pop("BERTVIZ_FEATURE_CACHE", None)  # the features go to <home>/cache/features
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bertviz_lite.cli.main", "train", "--task",
                    "sentiment", "--quiet", "--out", str(out), *extra], check=True, env=env,
                   capture_output=True, timeout=900)
    return json.loads(out.read_text(encoding="utf-8")), time.perf_counter() - t0


def cli_frozen_from_disk(finetune: Report, device: str = "auto") -> Report:
    """Two frozen CLI processes with the lecture defaults (`--precision auto`); the second
    reads the first's features from disk. Compared with `finetune`, the cost row of the
    same precision and epochs (wall time of the run, model load excluded, like the CLI's);
    the processes' own wall time (Python start, imports, model load) is reported too."""
    with tempfile.TemporaryDirectory() as home:
        args = ["--mode", "frozen", "--device", device]
        first, first_p = _cli_train(home, Path(home) / "a.json", args)
        second, second_p = _cli_train(home, Path(home) / "b.json", args)
    w_first, w_second = first["cost"]["wall_seconds"], second["cost"]["wall_seconds"]
    return {"precision": second.get("precision"), "epochs": finetune["epochs"],
            "frozen_first_s": round(w_first, 2), "frozen_second_s": round(w_second, 3),
            "finetune_s": finetune["finetune_s"],
            "second_features_reused": int(second["cost"]["features_reused"]),
            "second_feature_cache_s": second["cost"]["feature_cache_seconds"],
            "ratio_finetune_over_second": round(finetune["finetune_s"] / w_second, 1),
            "process_s": {"frozen_first": round(first_p, 1), "frozen_second": round(second_p, 1)},
            "metric_first": first["final"]["value"], "metric_second": second["final"]["value"]}


def auto_precision(device: str = "auto") -> str:
    """What `--precision auto` picks on this machine."""
    return resolve_precision("auto", pick_device(device))
