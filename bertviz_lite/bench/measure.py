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
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bertviz_lite.bench import precision as bench_precision
from bertviz_lite.engine.config import TASKS, RunConfig
from bertviz_lite.engine.cost import matmul_params
from bertviz_lite.engine.events import drain
from bertviz_lite.engine.models import Backbone, load_backbone
from bertviz_lite.engine.precision import cpu_flags, vector_flags
from bertviz_lite.engine.training import Trainer
from bertviz_lite.record.runs import RunRecord

log = logging.getLogger(__name__)

Report = dict[str, Any]


def _run(config: RunConfig, backbone: Backbone, **kwargs: Any) -> RunRecord:
    return drain(Trainer(config, backbone=backbone, **kwargs).events())


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name as the kernel reports it (platform's name where it does not)."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(("model name", "Model", "Hardware")):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> float | None:
    """The 1-minute load average (None where the system has none): how busy the machine was."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU model and vector flags, cores, threads, GPU."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"python": platform.python_version(), "torch": torch.__version__,
            "cpu": cpu_model(), "cpu_flags": vector_flags(cpu_flags()),
            "cpu_capability": _torch_capability(), "cores": _cores(),
            "torch_threads": torch.get_num_threads(), "gpu": gpu}


def _torch_capability() -> str | None:
    """torch's name for the CPU kernels it dispatches to (AVX2, AVX512, ...), where it has one."""
    get = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    return str(get()) if get else None


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def instrumentation_overhead(backbone: Backbone, pairs: int = 5, steps: int = 12,
                             device: str = "auto", limits: dict[str, int] | None = None) -> Report:
    """The same fine-tuning steps with and without gradient-flow recording, interleaved
    A B A B ...; the median of the per-pair ratios of the time of all steps after the first
    two (so the steps that also measure update ratios count at their real frequency), and
    the spread of the pairs: an overhead inside that spread is "within noise", never a
    negative cost."""
    ratios, on_s, off_s = [], [], []
    base = RunConfig(task="sentiment", mode="finetune", steps=steps, evals_per_epoch=0,
                     device=device, **(limits or {}))
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
            **overhead_verdict(ratios)}


def overhead_verdict(ratios: list[float]) -> Report:
    """Median overhead and the pairs' spread, in percent; `within_noise` when the spread
    reaches zero or below (then the median is no measured cost, whatever its sign).

    ratios: with / without, one per interleaved pair.
    """
    pct = [100 * (r - 1) for r in ratios]
    median = statistics.median(pct)
    low, high = min(pct), max(pct)
    return {"overhead_pct": round(median, 2), "overhead_pct_range": [round(low, 2), round(high, 2)],
            "within_noise": low <= 0 or median <= 0}


def hardware_efficiency(backbone: Backbone, batch_sizes: tuple[int, ...] = (16, 64),
                        steps: int = 10, device: str = "auto", precision: str = "fp32",
                        peaks: dict[str, float] | None = None) -> Report:
    """Fine-tuning FLOPs per second (6 x non-embedding weights x tokens) divided by the dense
    matmul throughput of this process *in the precision the steps ran in* (`peaks`:
    square_1024 and ffn_shaped GFLOP/s, measured now when not given), and the padding waste
    of the batching used."""
    hidden = backbone.hidden_size
    n = matmul_params(backbone.encoder.encoder) if hasattr(backbone.encoder, "encoder") \
        else matmul_params(backbone.encoder)
    if peaks is None:
        peaks = bench_precision.matmul_peaks(hidden, device, (precision,))[precision]
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


def job_memory(task: str = "sentiment", limits: dict[str, int] | None = None) -> Report:
    """Peak RSS of one fine-tuning job in a fresh process (nothing else loaded).

    The peak is the kernel's high-water mark of the child's own address space (`VmHWM`,
    reset by exec). `ru_maxrss` is not: Linux carries it across fork and exec, so a child of
    this 1.4 GB benchmark process would report the parent's peak, not its own.
    """
    code = ("import bertviz_lite.engine.training as t, bertviz_lite.engine.config as c, bertviz_lite.bench.measure as b;"
            f"r = t.run_to_record(c.RunConfig(task={task!r}, mode='finetune', epochs=1, "
            f"**{limits or {}!r}));"
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


@dataclass(frozen=True)
class BenchForm:
    """How much a bench measures: `smoke` (the tests' form: seconds to a minute), `quick`
    (minutes), `full`. Every form measures every section; they differ in repetitions, data
    and task lists, never in what a figure means."""

    name: str
    epochs: tuple[int, ...]  # epoch counts of the frozen vs fine-tuned cost rows
    overhead_pairs: int  # interleaved with/without-recording pairs
    overhead_steps: int  # fine-tuning steps in each run of a pair
    batch_sizes: tuple[int, ...]  # hardware-efficiency rows
    efficiency_steps: int  # steps timed in each efficiency row
    lecture_tasks: tuple[str, ...]  # default lecture runs
    max_train: int | None = None  # training examples (None: the bundled set)
    max_eval: int | None = None  # validation examples (None: the bundled set)
    lecture_epochs: int | None = None  # the lecture runs' epochs (None: the lecture's default)

    @property
    def limits(self) -> dict[str, int]:
        """The RunConfig fields that cap the data of every run of this form."""
        return {k: v for k, v in (("max_train", self.max_train), ("max_eval", self.max_eval))
                if v is not None}


FORMS = {
    "smoke": BenchForm("smoke", (1,), 2, 3, (8,), 2, ("sentiment",), max_train=32,
                       max_eval=24, lecture_epochs=1),
    "quick": BenchForm("quick", (3,), 3, 8, (16,), 5, ("sentiment",)),
    "full": BenchForm("full", (1, 3), 9, 52, (16, 32, 64), 10, TASKS),
}


def run_bench(form: str = "full", device: str = "auto", with_app: bool = True,
              on_section: Callable[[str], None] | None = None) -> Report:
    """Every section of the benchmark, in the given form (see `FORMS`).

    bf16 is measured beside fp32 only where `--precision auto` picks it (native bf16);
    elsewhere the report's `bf16_not_measured` says why, so the cost is the same on any CPU.
    """
    f = FORMS[form]
    clock = SectionClock(on_section)
    say = clock.start
    report: Report = {"machine": machine(), "form": form, "quick": form != "full",
                      "device": device}
    report["machine"]["load_average_at_start"] = load_average()
    say("loading the bundled model")
    backbone = load_backbone("bundled")
    report["auto_precision"] = bench_precision.auto_precision(device)
    precisions = bench_precision.measured_precisions(device)
    report["precisions"] = list(precisions)
    report["bf16_not_measured"] = bench_precision.bf16_not_measured(device)
    if report["bf16_not_measured"]:
        clock.note(f"bf16: not measured, {report['bf16_not_measured']}")
    say(f"matmul peaks, {' and '.join(precisions)}")
    peaks = report["matmul_peaks"] = bench_precision.matmul_peaks(backbone.hidden_size, device,
                                                                  precisions)
    say(f"frozen (cold, features from disk) vs fine-tuned, {' and '.join(precisions)}")
    report["cost"] = bench_precision.cost_by_precision(backbone, f.epochs, device=device,
                                                       precisions=precisions,
                                                       limits=f.limits)
    say("instrumentation overhead (interleaved)")
    report["overhead"] = instrumentation_overhead(backbone, pairs=f.overhead_pairs,
                                                  steps=f.overhead_steps, device=device,
                                                  limits=f.limits)
    say("hardware efficiency")
    report["efficiency"] = {p: hardware_efficiency(
        backbone, f.batch_sizes, steps=f.efficiency_steps, device=device, precision=p,
        peaks=peaks[p]) for p in precisions}
    say("memory of one fine-tuning job")
    report["memory"] = job_memory(limits=f.limits)
    say("default lecture runs")
    lecture_limits = {**f.limits, **({"epochs": f.lecture_epochs} if f.lecture_epochs else {})}
    report["lecture"] = bench_precision.lecture_by_precision(
        backbone, f.lecture_tasks, device, precisions=precisions, limits=lecture_limits)
    say("inside-BERT analysis of a bundled fine-tuned run, cold and warm")
    from bertviz_lite.bench.analysis_cost import analysis_cost

    report["analysis"] = analysis_cost(backbone, device=device, limits=f.limits)
    say("a second frozen CLI process, features from disk")
    same = next(c for c in report["cost"] if c["precision"] == report["auto_precision"]
                and c["epochs"] == f.epochs[-1])
    report["cli_frozen_from_disk"] = bench_precision.cli_frozen_from_disk(
        same, device, limits=f.limits)
    if with_app:
        from bertviz_lite.bench.browser import app_measurements

        say("the app in Chromium")
        report["app"] = app_measurements()
    report["rss_of_bench_process_mb"] = round(own_peak_rss_mb(), 0)
    report["machine"]["load_average_at_end"] = load_average()
    report["section_seconds"] = clock.finish()
    return report


class SectionClock:
    """Wall seconds of each bench section (a section ends where the next one starts)."""

    def __init__(self, on_section: Callable[[str], None] | None = None) -> None:
        self._say = on_section or (lambda name: None)
        self._marks: list[tuple[str, float]] = []

    def start(self, name: str) -> None:
        """Begin section `name` (and tell `on_section`)."""
        self._marks.append((name, time.perf_counter()))
        self._say(name)

    def note(self, text: str) -> None:
        """Tell `on_section` something that is no section of its own."""
        self._say(text)

    def finish(self) -> dict[str, float]:
        """{section: seconds}, in the order they ran."""
        ends = [t for _, t in self._marks[1:]] + [time.perf_counter()]
        return {name: round(end - t0, 1) for (name, t0), end in zip(self._marks, ends)}
