"""What each CLI subcommand does: run the engine, show progress, print a summary."""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from bertviz_lite.cli.args import config_from_args, echo
from bertviz_lite.cli.outputs import check_output_dir, check_output_file, save_with_fallback
from bertviz_lite.engine.checkpoints import save_task_model
from bertviz_lite.engine.config import ConfigError, parse_modes
from bertviz_lite.engine.events import Event, drain
from bertviz_lite.engine.features import FeatureStore
from bertviz_lite.engine.tasks import TASK_SPECS
from bertviz_lite.engine.training import Trainer
from bertviz_lite.experiments.compare import Comparison, compare
from bertviz_lite.record.paper import PAPER_CITATION, SLIDE_COST_RATIO
from bertviz_lite.record.runs import EvalRecord, Progress, RunRecord, StepRecord

log = logging.getLogger(__name__)


def disk_feature_store() -> FeatureStore:
    """Frozen features kept in the per-user cache folder: a later frozen run on the same data
    and model reads them instead of running the encoder."""
    from bertviz_lite.engine.feature_disk import default_feature_disk

    return FeatureStore(disk=default_feature_disk())


class ProgressPrinter:
    """Turns engine events into a tqdm bar on stderr (one bar per phase)."""

    def __init__(self, label: str = "", enabled: bool = True) -> None:
        self.label = label
        self.enabled = enabled
        self.bar: tqdm | None = None
        self.phase = ""
        self.last_metric = ""

    def _bar(self, phase: str, total: int, desc: str) -> tqdm:
        if self.bar is None or self.phase != phase:
            self.close()
            self.phase = phase
            self.bar = tqdm(total=total, desc=f"{self.label}{desc}", unit="step" if
                            phase == "train" else "ex", leave=False, dynamic_ncols=True)
        return self.bar

    def __call__(self, event: Event) -> None:
        if not self.enabled:
            return
        if isinstance(event, Progress) and event.phase == "cache":
            bar = self._bar("cache", event.total, "caching frozen features")
            bar.n = event.done
            bar.refresh()
        elif isinstance(event, Progress) and event.phase == "train":
            self._bar("train", event.total, "training")
        elif isinstance(event, StepRecord) and self.bar is not None:
            self.bar.set_postfix_str(f"loss {event.loss:.3f}{self.last_metric}", refresh=False)
            self.bar.update(1)
        elif isinstance(event, EvalRecord) and event.split == "val":
            self.last_metric = f", val {event.metric} {event.value:.3f}"

    def close(self) -> None:
        """Remove the current bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def fmt(value: object, digits: int = 3) -> str:
    """Numbers for tables: floats rounded, None as an em dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def pct(value: object) -> str:
    """A 0-1 metric on the paper's 0-100 scale, one decimal."""
    return fmt(100 * value, 1) if isinstance(value, (int, float)) else "-"


def summary_lines(r: RunRecord) -> list[str]:
    """A short human summary of a finished run."""
    spec = TASK_SPECS[r.task]
    c = r.cost
    lines = [
        f"{spec.title}, mode {r.mode}, model {r.model.get('name')} "
        f"({r.model.get('layers')} layers, width {r.model.get('hidden')}), device {r.device}"
        f"{', precision ' + r.precision if r.precision else ''}",
        f"data: {r.data.get('source')}: {r.data.get('train')} train / {r.data.get('val')} "
        "validation examples",
        f"trainable parameters: {r.trainable_params:,} of {r.total_params:,} "
        f"({100 * r.trainable_params / max(1, r.total_params):.3f}%); frozen groups: "
        f"{', '.join(r.frozen_groups) or 'none'}",
        f"validation {spec.metric_title}: {fmt(r.final.get('value'))} "
        f"(baseline, {r.baseline.get('name')}: {fmt(r.baseline.get('value'))})",
        f"time: {c['wall_seconds']:.1f} s wall ({c['train_seconds']:.1f} s in {len(r.steps)} "
        f"steps, {c['feature_cache_seconds']:.1f} s caching features, {c['eval_seconds']:.1f} s "
        f"evaluating); peak memory {c['peak_rss_mb']:.0f} MB",
    ]
    if c.get("features_reused"):
        lines.append(f"frozen features of {c['features_reused']:.0f} examples read from the "
                     "feature cache, not computed")
    if r.status != "completed":
        lines.append(f"status: {r.status}: {r.reason}")
    lines += [f"note: {n}" for n in r.notes]
    return lines


def run_with_progress(events: Iterable[Event], printer: ProgressPrinter) -> RunRecord:
    """Drive an event iterator, feeding the progress printer; return the final record."""
    try:
        return drain(events, printer)
    finally:
        printer.close()


def cmd_train(args: argparse.Namespace) -> int:
    """`bertviz-lite train`: one run, a progress bar, a summary, a JSON record."""
    config = config_from_args(args)
    out = check_output_file(args.out, "--out")  # before any training: nothing is lost later
    if args.save_model:
        check_output_dir(args.save_model, "--save-model")
    printer = ProgressPrinter(enabled=not args.quiet)
    trainer = Trainer(config, features=disk_feature_store())
    record = run_with_progress(trainer.events(), printer)
    stem = f"{config.task}-{config.mode}"
    path, problem = save_with_fallback(record.save, out, stem)
    problems = [problem]
    if args.save_model and record.status == "completed":
        folder, problem = save_with_fallback(
            lambda f: save_task_model(trainer.model, config, trainer.data.label_names, f),
            args.save_model, f"{stem}-model", "model")
        problems.append(problem)
        echo(f"model: {folder}")
    for line in summary_lines(record):
        echo(line)
    echo(f"run record: {path}")
    return report_problems(problems) or (0 if record.status != "diverged" else 1)


def report_problems(problems: list[str | None]) -> int:
    """Log each saving problem as one line; 2 if there was any, else 0."""
    real = [p for p in problems if p]
    for p in real:
        log.error("%s", p)
    return 2 if real else 0


def comparison_table(cmp: Comparison) -> list[str]:
    """The side-by-side table printed by `compare`."""
    rows = cmp.rows()
    head = ["", *[str(r["mode"]) for r in rows]]
    first = next(iter(cmp.records.values()))
    spec = TASK_SPECS[first.task]
    lines_src: list[tuple[str, list[str]]] = [
        (f"validation {spec.metric_title} (x100)", [pct(r["value"]) for r in rows]),
        ("baseline, input ignored (x100)", [pct(r["baseline"]) for r in rows]),
        ("wall time (s)", [fmt(r["wall_s"], 1) for r in rows]),
        ("  of which feature caching (s)", [fmt(r["cache_s"], 1) for r in rows]),
        ("time per epoch (s)", [fmt(r["s_per_epoch"], 2) for r in rows]),
        ("trainable parameters", [fmt(r["trainable"]) for r in rows]),
        ("checkpoint (MB)", [fmt(r.get("checkpoint_mb"), 3) for r in rows]),
        ("peak memory (MB)", [fmt(r["peak_mb"], 0) for r in rows]),
        ("estimated GFLOPs", [fmt(r["gflops"], 0) for r in rows]),
        (f"paper ({spec.paper_dataset}, BERT-base)", [str(r["paper_shown"]) for r in rows]),
    ]
    width = max(len(label) for label, _ in lines_src) + 2
    col = 14
    out = ["".ljust(width) + "".join(h.rjust(col) for h in head[1:])]
    out += [label.ljust(width) + "".join(v.rjust(col) for v in values)
            for label, values in lines_src]
    ratio = cmp.cost_ratio()
    if ratio is not None:
        out.append(f"cost ratio, fine-tuned / frozen wall time: {ratio:.1f}x "
                   f"(the course slide says about {SLIDE_COST_RATIO:.0f}x)")
    out.append(f"paper row: {PAPER_CITATION} (their numbers, not ours)")
    out += [f"  {r['mode']}: {r['paper_note']}" for r in rows if r["paper_note"]]
    return out


def cmd_compare(args: argparse.Namespace) -> int:
    """`bertviz-lite compare`: the same config in several modes, side by side."""
    modes = parse_modes(args.modes)
    base = config_from_args(args, mode=modes[0])
    for m in modes:
        base.replace(mode=m)  # validates every mode before any training starts
    out = check_output_dir(args.out_dir, "--out-dir") if args.out_dir else None
    printers = {m: ProgressPrinter(label=f"[{m}] ", enabled=not args.quiet) for m in modes}

    def on_event(mode: str, event: Event) -> None:
        printers[mode](event)
        if isinstance(event, RunRecord):
            printers[mode].close()

    cmp = compare(base, modes, on_event=on_event)
    for line in comparison_table(cmp):
        echo(line)
    if out is None:
        return 0
    problems = []
    for mode, record in cmp.records.items():
        problems.append(save_with_fallback(record.save, out / f"{base.task}-{mode}.json",
                                           f"{base.task}-{mode}")[1])
    summary = json.dumps({"rows": cmp.rows(), "cost_ratio": cmp.cost_ratio()}, indent=2)
    problems.append(save_with_fallback(lambda p: _write_text(p, summary), out / "compare.json",
                                       f"{base.task}-compare", "comparison")[1])
    echo(f"records written to {out}/")
    return report_problems(problems)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _eval_files(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        task, sep, path = pair.partition("=")
        if not sep or task not in TASK_SPECS:
            raise ConfigError(f"--eval-file wants TASK=FILE with TASK one of {list(TASK_SPECS)}; "
                              f"got {pair!r}")
        out[task] = path
    return out


REPRODUCE_FLAGS = {"frozen_head": "--frozen-head", "eval_files": "--eval-file",
                   "tasks": "--tasks", "max_train": "--max-train", "out_dir": "--out"}


def cmd_reproduce(args: argparse.Namespace) -> int:
    """`bertviz-lite reproduce`: the paper's four tasks on real data, frozen vs fine-tuned."""
    from bertviz_lite.engine.config import OptionError, RunConfig
    from bertviz_lite.experiments.reproduce import reproduce
    from bertviz_lite.record.repro_table import result_markdown

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASK_SPECS]
    if unknown:
        raise ConfigError(f"unknown tasks {unknown}; choose from {list(TASK_SPECS)}")
    if not tasks:
        raise ConfigError(f"--tasks names no task ({args.tasks!r}); give e.g. sentiment,ner")
    check_output_dir(Path(args.out) / "runs", "--out")
    printers: dict[tuple[str, str], ProgressPrinter] = {}

    def on_event(task: str, mode: str, event: Event) -> None:
        printer = printers.setdefault((task, mode), ProgressPrinter(f"[{task} {mode}] ",
                                                                   enabled=not args.quiet))
        printer(event)
        if isinstance(event, Progress) and event.phase == "reused":
            echo(f"[{task} {mode}] already finished: reused {event.message}")
        if isinstance(event, RunRecord):
            printer.close()
            echo(f"[{task} {mode}] {event.status}: validation {event.final.get('metric')} "
                 f"{fmt(event.final.get('value'))} in {event.cost['wall_seconds']:.0f} s")

    base = RunConfig(model=args.model, batch_size=args.batch_size, device=args.device,
                     precision=args.precision, lr=args.lr, warmup=args.warmup,
                     weight_decay=args.weight_decay, max_grad_norm=args.max_grad_norm)
    try:
        result = reproduce(args.data_dir, args.out, tasks=tasks, max_train=args.max_train,
                           epochs=args.epochs, frozen_head=args.frozen_head, seed=args.seed,
                           eval_files=_eval_files(args.eval_file), base=base, on_event=on_event)
    except OptionError as err:  # the library names its parameters; say the flags
        raise ConfigError(err.worded(REPRODUCE_FLAGS)) from None
    echo(result_markdown(result))
    if result.problems:
        return report_problems(list(result.problems))
    echo(f"written: {args.out}/reproduce.json, {args.out}/reproduce.md, {args.out}/runs/")
    return 0


def bench_table(report: dict) -> list[str]:
    """The benchmark report as the table the README shows (bench/readme.py)."""
    from bertviz_lite.bench.readme import bench_lines

    return bench_lines(report)


def cmd_bench(args: argparse.Namespace) -> int:
    """`bertviz-lite bench`: measure, print the table, write the JSON report."""
    from bertviz_lite.bench.measure import run_bench

    t0 = time.perf_counter()
    report = run_bench(form=args.form, device=args.device, with_app=not args.no_app,
                       on_section=lambda name: log.warning("bench: %s", name))
    report["bench_seconds"] = round(time.perf_counter() - t0, 1)
    Path(args.out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    for line in bench_table(report):
        echo(line)
    echo(f"report: {args.out}")
    return 0
