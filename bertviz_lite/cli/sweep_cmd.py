"""`bertviz-lite sweep`: learning curves over training-set size and seeds.

Every (mode, size, seed) is one ordinary run; the sweep JSON is written after each point, so a
stopped sweep resumes where it stopped (run the same command again).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bertviz_lite.cli.args import echo
from bertviz_lite.engine.config import HEADS, ConfigError, RunConfig

if TYPE_CHECKING:
    from bertviz_lite.experiments.learning_curves import SweepProgress, SweepSpec
    from bertviz_lite.record.runcache import RunCache

log = logging.getLogger(__name__)


def add_sweep_parser(sub: argparse._SubParsersAction) -> None:
    """The `sweep` subcommand's options."""
    from bertviz_lite.engine.config import DEVICES, TASKS

    d = RunConfig()
    p = sub.add_parser("sweep", help="learning curves: metric vs training-set size, per mode "
                                     "and seed (resumable)")
    p.add_argument("--task", choices=TASKS, required=True)
    p.add_argument("--data", default="bundled",
                   help="bundled | folder (train/dev files or the shared/data layout) | file")
    p.add_argument("--model", default=d.model, help="bundled | local model folder | Hub id")
    p.add_argument("--sizes", default="25,50,100,200,400",
                   help="comma-separated training-set sizes (nested stratified subsamples)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--modes", default="frozen,finetune", help="e.g. frozen,top-2,finetune")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--frozen-head", choices=HEADS, default="linear",
                   help="head of the frozen points (the others use a linear head)")
    p.add_argument("--max-eval", type=int, help="evaluate every point on N validation examples")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--head-lr", type=float, default=d.head_lr)
    p.add_argument("--max-length", type=int, default=d.max_length)
    p.add_argument("--device", choices=DEVICES, default=d.device)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--cache-dir", help="run cache folder (default: the app's run cache)")
    p.add_argument("--no-cache", action="store_true", help="train every point again")
    p.add_argument("--out", required=True, help="the sweep JSON (resumed when it exists)")
    p.set_defaults(func=cmd_sweep)


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--{what} wants comma-separated whole numbers, e.g. 25,50,100; "
                          f"got {text!r}") from None
    if not values:
        raise ConfigError(f"--{what} is empty; give at least one number")
    return values


def spec_from_args(args: argparse.Namespace) -> SweepSpec:
    """Parsed options -> SweepSpec (validated)."""
    from bertviz_lite.experiments.learning_curves import SweepSpec

    base = RunConfig(task=args.task, model=args.model, data=args.data, epochs=args.epochs,
                     batch_size=args.batch_size, lr=args.lr, head_lr=args.head_lr, device=args.device,
                     max_length=args.max_length, max_eval=args.max_eval, threads=args.threads)
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    return SweepSpec(base, _ints(args.sizes, "sizes"), _ints(args.seeds, "seeds"), modes,
                     args.frozen_head)


def _cache(args: argparse.Namespace) -> RunCache | None:
    from bertviz_lite.record.runcache import RunCache
    from bertviz_lite.serve.settings import load_settings

    if args.no_cache:
        return None
    return RunCache(args.cache_dir or load_settings().cache_path())


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def progress_line(progress: SweepProgress) -> str:
    """One line per finished point: what, the score, the cost, and the ETA."""
    p = progress.point
    how = "cached" if p["cached"] else f"{p['wall_seconds']:.1f} s"
    val = p["value"] if p["value"] is not None else float("nan")
    train = p["train_value"] if p["train_value"] is not None else float("nan")
    return (f"[{progress.done}/{progress.total}] {p['mode']} n={p['size']} seed {p['seed']}: "
            f"{p['metric']} {val:.3f} (train {train:.3f}), {how}; "
            f"elapsed {_clock(progress.elapsed_s)}, ETA {_clock(progress.eta_s)}")


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run or resume the sweep, a line per point, then the summary."""
    from bertviz_lite.experiments.learning_curves import run_sweep
    from bertviz_lite.experiments.learning_summary import crossing_text, summary_row

    spec = spec_from_args(args)
    out = Path(args.out)
    result = run_sweep(spec, out, cache=_cache(args), on_point=lambda pr: echo(progress_line(pr)))
    for key, value in summary_row(out.stem, result).items():
        echo(f"{key}: {value}")
    for line in crossing_text(result["points"]) or ["the modes' medians do not cross"]:
        echo(line)
    echo(f"sweep: {out} ({len(result['points'])} points, "
         f"{'complete' if result['complete'] else 'incomplete: run again to resume'})")
    return 0
