"""`bertviz-lite bench`: the performance figures, each a ratio measured in one run.

Shared machines are noisy, so nothing here is compared with a stored number: every figure
sets two things side by side in the same process and run (frozen against fine-tuned, with
against without instrumentation, a training step against a plain matrix multiply).
"""

from __future__ import annotations

import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bertviz_lite.bench import precision as bp
from bertviz_lite.data.load import load_task_data
from bertviz_lite.engine.config import TASKS, RunConfig
from bertviz_lite.engine.cost import matmul_params
from bertviz_lite.engine.events import drain
from bertviz_lite.engine.features import FeatureStore
from bertviz_lite.engine.models import Backbone, load_backbone
from bertviz_lite.engine.training import Trainer
from bertviz_lite.record.runs import RunRecord

log = logging.getLogger(__name__)

Report = dict[str, Any]


def _run(config: RunConfig, backbone: Backbone, **kwargs: Any) -> RunRecord:
    return drain(Trainer(config, backbone=backbone, **kwargs).events())


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"python": platform.python_version(), "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(), "cores": _cores(),
            "torch_threads": torch.get_num_threads(), "gpu": gpu}


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def frozen_vs_finetune(backbone: Backbone, task: str = "sentiment", epochs: int = 3,
                       device: str = "auto") -> Report:
    """Wall time of frozen (features computed in the run, and reused from an earlier run)
    against fine-tuned, same task, data, epochs and batch size."""
    base = RunConfig(task=task, epochs=epochs, device=device)
    store = FeatureStore()
    cold = _run(base.replace(mode="frozen"), backbone, features=store)
    warm = _run(base.replace(mode="frozen", seed=1), backbone, features=store)
    fine = _run(base.replace(mode="finetune"), backbone)
    w = {name: r.cost["wall_seconds"] for name, r in
         (("frozen_cold", cold), ("frozen_warm", warm), ("finetune", fine))}
    return {"task": task, "epochs": epochs, **{f"{k}_s": round(v, 2) for k, v in w.items()},
            "frozen_cache_s": round(cold.cost["feature_cache_seconds"], 2),
            "finetune_eval_s": round(fine.cost["eval_seconds"], 2),
            "ratio_cold": round(w["finetune"] / w["frozen_cold"], 1),
            "ratio_warm": round(w["finetune"] / w["frozen_warm"], 1),
            "metric_frozen": cold.final["value"], "metric_finetune": fine.final["value"]}


def instrumentation_overhead(backbone: Backbone, pairs: int = 5, steps: int = 12,
                             device: str = "auto") -> Report:
    """The same fine-tuning steps with and without gradient-flow recording, interleaved
    A B A B ...; the median of the per-pair ratios of the time of all steps after the first
    two (so the steps that also measure update ratios count at their real frequency)."""
    ratios, on_s, off_s = [], [], []
    base = RunConfig(task="sentiment", mode="finetune", steps=steps, evals_per_epoch=0,
                     device=device)
    _run(base, backbone)  # warm-up: allocator, kernels
    for i in range(pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        secs = {}
        for flag in order:
            rec = _run(base.replace(grad_flow=flag), backbone)
            secs[flag] = sum(s.seconds for s in rec.steps[2:]) / len(rec.steps[2:])
        on_s.append(secs[True])
        off_s.append(secs[False])
        ratios.append(secs[True] / secs[False])
    return {"pairs": pairs, "steps": steps, "mean_step_with_s": round(statistics.median(on_s), 4),
            "mean_step_without_s": round(statistics.median(off_s), 4),
            "overhead_pct": round(100 * (statistics.median(ratios) - 1), 2)}


def hardware_efficiency(backbone: Backbone, batch_sizes: tuple[int, ...] = (16, 64),
                        steps: int = 10, device: str = "auto", precision: str = "fp32",
                        peaks: dict[str, float] | None = None) -> Report:
    """Fine-tuning FLOPs per second (6 x non-embedding weights x tokens) divided by the dense
    matmul throughput of this process *in the precision the steps ran in* (`peaks`:
    square_1024 and ffn_shaped GFLOP/s, measured now when not given), and the padding waste
    of the batching used."""
    from bertviz_lite.engine.models import pick_device

    dev = pick_device(device)
    hidden = backbone.hidden_size
    n = matmul_params(backbone.encoder.encoder) if hasattr(backbone.encoder, "encoder") \
        else matmul_params(backbone.encoder)
    if peaks is None:
        peaks = {"square_1024": bp.matmul_gflops(1024, 1024, 1024, dev, torch.float32),
                 "ffn_shaped": bp.matmul_gflops(1024, hidden, 4 * hidden, dev, torch.float32)}  # FFN-shaped
    peak_square, peak_model = peaks["square_1024"], peaks["ffn_shaped"]
    rows = []
    for bs in batch_sizes:
        rec = _run(RunConfig(task="sentiment", mode="finetune", batch_size=bs, evals_per_epoch=0,
                             steps=steps + 1, device=device, precision=precision), backbone)
        steps_ = rec.steps[1:]  # the first step allocates optimizer state
        secs = sum(s.seconds for s in steps_)
        padded = sum(s.tokens for s in steps_)
        real = sum(s.real_tokens for s in steps_)
        flops = 6 * n * padded
        rows.append({"batch_size": bs, "step_s": round(secs / len(steps_), 3),
                     "gflops": round(flops / secs / 1e9, 1),
                     "efficiency_vs_square_pct": round(100 * flops / secs / 1e9 / peak_square, 1),
                     "efficiency_vs_model_shaped_pct":
                         round(100 * flops / secs / 1e9 / peak_model, 1),
                     "real_over_padded_tokens": round(real / max(1, padded), 3)})
    return {"precision": precision, "matmul_gflops_square_1024": round(peak_square, 1),
            "matmul_gflops_ffn_shaped": round(peak_model, 1),
            "non_embedding_params": n, "rows": rows}


def job_memory(task: str = "sentiment") -> Report:
    """Peak RSS of one fine-tuning job in a fresh process (nothing else loaded).

    The peak is the kernel's high-water mark of the child's own address space (`VmHWM`,
    reset by exec). `ru_maxrss` is not: Linux carries it across fork and exec, so a child of
    this 1.4 GB benchmark process would report the parent's peak, not its own.
    """
    code = ("import bertviz_lite.engine.training as t, bertviz_lite.engine.config as c, bertviz_lite.bench.measure as b;"
            f"r = t.run_to_record(c.RunConfig(task={task!r}, mode='finetune', epochs=1));"
            "print(b.own_peak_rss_mb(), r.cost['peak_rss_mb'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=600).stdout.split()
    return {"job_peak_rss_mb": round(float(out[0]), 0),
            "job_peak_rss_sampled_mb": round(float(out[1]), 0)}


def own_peak_rss_mb() -> float:
    """This process's peak resident memory in MiB: `VmHWM` where /proc has it, else
    `ru_maxrss` (which on Linux may include a parent's peak from before exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return ru / 2**20 if sys.platform == "darwin" else ru / 1024  # bytes on macOS, KiB on Linux


def lecture_defaults(backbone: Backbone, tasks: tuple[str, ...] = TASKS,
                     device: str = "auto") -> list[Report]:
    """The default frozen and fine-tuned runs of each task on the bundled data."""
    rows = []
    for task in tasks:
        data = load_task_data(task)
        for mode in ("frozen", "finetune"):
            rec = _run(RunConfig(task=task, mode=mode, device=device), backbone, data=data)
            rows.append({"task": task, "mode": mode,
                         "wall_s": round(rec.cost["wall_seconds"], 2),
                         "metric": rec.final["metric"], "value": round(rec.final["value"], 3),
                         "baseline": round(rec.baseline["value"], 3),
                         "beats_baseline": rec.final["value"] > rec.baseline["value"]})
    return rows


def run_bench(quick: bool = False, device: str = "auto", with_app: bool = True,
              on_section: Callable[[str], None] | None = None) -> Report:
    """Every section of the benchmark; `quick` shrinks repetitions and task lists."""
    say = on_section or (lambda name: None)
    report: Report = {"machine": machine(), "quick": quick, "device": device}
    if hasattr(os, "getloadavg"):  # a shared machine: how busy it was, for reading the ratios
        report["machine"]["load_average_at_start"] = round(os.getloadavg()[0], 1)
    say("loading the bundled model")
    backbone = load_backbone("bundled")
    report["auto_precision"] = bp.auto_precision(device)
    say("matmul peaks, fp32 and bf16")
    peaks = report["matmul_peaks"] = bp.matmul_peaks(backbone.hidden_size, device)
    say("frozen (cold, features from disk) vs fine-tuned, fp32 and bf16")
    report["cost"] = bp.cost_by_precision(backbone, (3,) if quick else (1, 3), device=device)
    say("instrumentation overhead (interleaved)")
    report["overhead"] = instrumentation_overhead(backbone, pairs=3 if quick else 9,
                                                  steps=8 if quick else 52, device=device)
    say("hardware efficiency")
    report["efficiency"] = {p: hardware_efficiency(
        backbone, (16,) if quick else (16, 32, 64), steps=5 if quick else 10, device=device,
        precision=p, peaks=peaks[p]) for p in bp.MEASURED}
    say("memory of one fine-tuning job")
    report["memory"] = job_memory()
    say("default lecture runs")
    report["lecture"] = bp.lecture_by_precision(backbone, ("sentiment",) if quick else TASKS,
                                                device)
    say("inside-BERT analysis of a bundled fine-tuned run, cold and warm")
    from bertviz_lite.bench.analysis_cost import analysis_cost

    report["analysis"] = analysis_cost(backbone, device=device)
    say("a second frozen CLI process, features from disk")
    same = next(c for c in report["cost"] if c["precision"] == report["auto_precision"]
                and c["epochs"] == 3)
    report["cli_frozen_from_disk"] = bp.cli_frozen_from_disk(same, device)
    if with_app:
        from bertviz_lite.bench.browser import app_measurements

        say("the app in Chromium")
        report["app"] = app_measurements()
    report["rss_of_bench_process_mb"] = round(own_peak_rss_mb(), 0)
    return report
