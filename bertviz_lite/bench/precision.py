"""The benchmark's precision sections: fp32, and bf16 beside it where this machine runs bf16
natively (`measured_precisions`), measured in one run. On a CPU without AMX or AVX512-BF16,
bf16 autocast is emulated and many times slower, so the bench does not time it there: the
report says why (`bf16_not_measured`), and the bench's cost does not depend on the CPU.

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

from bertviz_lite.data.examples import TaskData
from bertviz_lite.data.load import load_task_data
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.feature_disk import FeatureDisk
from bertviz_lite.engine.features import FeatureStore
from bertviz_lite.engine.models import Backbone, pick_device
from bertviz_lite.engine.precision import (
    CPU_BF16_ENV,
    Capabilities,
    choose_precision,
    cpu_bf16_turned_off,
    cpu_flags,
    detect_capabilities,
    resolve_precision,
    vector_flags,
)
from bertviz_lite.engine.training import Trainer
from bertviz_lite.record.runs import RunRecord

Report = dict[str, Any]
FORWARDS_PER_TRAINING_EXAMPLE = 3  # forward + backward (about two forwards' worth of matmuls)


def limited_data(task: str, limits: dict[str, int] | None) -> TaskData:
    """The bundled examples of `task`, cut to `limits` (max_train / max_eval) exactly as a run
    that loads its own data would cut them: data given to a run is used as it is, so a
    form's limits must be applied here or its runs would train on the whole bundled set."""
    lim = limits or {}
    return load_task_data(task, max_train=lim.get("max_train"), max_eval=lim.get("max_eval"))


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


def precisions_to_measure(device_type: str, caps: Capabilities) -> tuple[str, ...]:
    """("fp32", "bf16") where `--precision auto` would pick bf16 (native bf16 on the CPU, or
    a CUDA GPU with bf16), else ("fp32",): emulated bf16 is not timed. Pure."""
    auto = choose_precision("auto", device_type, caps)
    return ("fp32", "bf16") if auto == "bf16" else ("fp32",)


def measured_precisions(device: str = "auto") -> tuple[str, ...]:
    """The precisions the bench times on this machine (`precisions_to_measure`)."""
    dev = pick_device(device)
    return precisions_to_measure(dev.type, detect_capabilities(dev.type))


def bf16_not_measured(device: str = "auto") -> str | None:
    """Why the bench leaves bf16 out on this machine (None where it measures it)."""
    if "bf16" in measured_precisions(device):
        return None
    dev = pick_device(device)
    if dev.type == "cpu":
        seen = ", ".join(vector_flags(cpu_flags())) or "none reported"
        if cpu_bf16_turned_off():
            return f"{CPU_BF16_ENV}=0 turns native bf16 off on this CPU (flags seen: {seen})"
        return f"this CPU has no native bf16 (flags seen: {seen})"
    return f"this {dev.type} device has no bf16 the engine uses"


def matmul_peaks(hidden: int, device: str = "auto",
                 precisions: tuple[str, ...] = ("fp32",)) -> Report:
    """{precision: {square_1024, ffn_shaped}} GFLOP/s, each precision in this process."""
    dev = pick_device(device)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    return {p: {"square_1024": round(matmul_gflops(1024, 1024, 1024, dev, dtypes[p]), 1),
                "ffn_shaped": round(matmul_gflops(1024, hidden, 4 * hidden, dev, dtypes[p]), 1)}
            for p in precisions}


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
            "train_examples": fine.data["train"], "val_examples": fine.data["val"],
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
                      task: str = "sentiment", device: str = "auto",
                      precisions: tuple[str, ...] = ("fp32",),
                      limits: dict[str, int] | None = None) -> list[Report]:
    """Frozen cold / frozen warm from disk / fine-tuned, for each precision and epoch count
    (`limits`: RunConfig's max_train / max_eval, for the smoke form)."""
    rows = []
    data = limited_data(task, limits)
    for precision in precisions:
        for e in epochs:
            base = RunConfig(task=task, epochs=e, device=device, precision=precision,
                             **(limits or {}))
            with tempfile.TemporaryDirectory() as folder:
                cold = _run(base, backbone, data=data, features=FeatureStore(
                    disk=FeatureDisk(folder)))
                warm = _run(base.replace(head_lr=base.head_lr * 2), backbone, data=data,
                            features=FeatureStore(disk=FeatureDisk(folder)))  # a new process
            fine = _run(base.replace(mode="finetune"), backbone, data=data)
            rows.append(_cost_row(cold, warm, fine, precision, e))
    return rows


def lecture_by_precision(backbone: Backbone, tasks: tuple[str, ...], device: str = "auto",
                         precisions: tuple[str, ...] = ("fp32",),
                         limits: dict[str, int] | None = None) -> list[Report]:
    """The default frozen and fine-tuned run of each task in each precision; with bf16
    measured too, its speed-up and metric gap against fp32."""
    rows = []
    for task in tasks:
        data = limited_data(task, limits)
        for mode in ("frozen", "finetune"):
            recs = {p: _run(RunConfig(task=task, mode=mode, device=device, precision=p,
                                      **(limits or {})), backbone, data=data)
                    for p in precisions}
            rows.append(_lecture_row(task, mode, recs))
    return rows


def _lecture_row(task: str, mode: str, recs: dict[str, RunRecord]) -> Report:
    """One lecture row: wall time and metric per precision, bf16 against fp32 where both ran."""
    first = next(iter(recs.values()))
    row: Report = {"task": task, "mode": mode, "metric": first.final["metric"],
                   "train_examples": first.data["train"],
                   "baseline": round(first.baseline["value"], 3),
                   "precisions": list(recs)}
    for p, rec in recs.items():
        row[f"{p}_wall_s"] = round(rec.cost["wall_seconds"], 2)
        row[f"{p}_value"] = round(rec.final["value"], 3)
    if {"fp32", "bf16"} <= set(recs):
        row["speedup_bf16"] = round(row["fp32_wall_s"] / row["bf16_wall_s"], 2)
        row["bf16_minus_fp32_points"] = round(100 * (row["bf16_value"] - row["fp32_value"]), 1)
    row["beats_baseline"] = all(r.final["value"] > r.baseline["value"] for r in recs.values())
    return row


def _cli_train(home: str, out: Path, extra: list[str]) -> tuple[dict[str, Any], float]:
    """One `bertviz-lite train` process; (its run record, the process's wall seconds)."""
    env = {**os.environ, "BERTVIZ_HOME": home}
    env.pop("BERTVIZ_FEATURE_CACHE", None)  # the features go to <home>/cache/features
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bertviz_lite.cli.main", "train", "--task",
                    "sentiment", "--quiet", "--out", str(out), *extra], check=True, env=env,
                   capture_output=True, timeout=900)
    return json.loads(out.read_text(encoding="utf-8")), time.perf_counter() - t0


def cli_frozen_from_disk(finetune: Report, device: str = "auto",
                         limits: dict[str, int] | None = None) -> Report:
    """Two frozen CLI processes with the lecture defaults (`--precision auto`); the second
    reads the first's features from disk. Compared with `finetune`, the cost row of the
    same precision and epochs (wall time of the run, model load excluded, like the CLI's);
    the processes' own wall time (Python start, imports, model load) is reported too."""
    with tempfile.TemporaryDirectory() as home:
        args = ["--mode", "frozen", "--device", device, "--epochs", str(finetune["epochs"]),
                *[arg for k, v in (limits or {}).items()
                  for arg in (f"--{k.replace('_', '-')}", str(v))]]
        first, first_p = _cli_train(home, Path(home) / "a.json", args)
        second, second_p = _cli_train(home, Path(home) / "b.json", args)
    w_first, w_second = first["cost"]["wall_seconds"], second["cost"]["wall_seconds"]
    return {"precision": second.get("precision"), "epochs": finetune["epochs"],
            "frozen_first_s": round(w_first, 2), "frozen_second_s": round(w_second, 3),
            "finetune_s": finetune["finetune_s"],
            "first_features_reused": int(first["cost"]["features_reused"]),
            "first_feature_cache_s": round(first["cost"]["feature_cache_seconds"], 3),
            "second_features_reused": int(second["cost"]["features_reused"]),
            "second_feature_cache_s": second["cost"]["feature_cache_seconds"],
            "ratio_finetune_over_second": round(finetune["finetune_s"] / w_second, 1),
            "process_s": {"frozen_first": round(first_p, 1), "frozen_second": round(second_p, 1)},
            "metric_first": first["final"]["value"], "metric_second": second["final"]["value"]}


def auto_precision(device: str = "auto") -> str:
    """What `--precision auto` picks on this machine."""
    return resolve_precision("auto", pick_device(device))
