"""Command line: `bertviz-lite train | compare | reproduce | bench | sweep | changes | app |
lesson export`.

Every subcommand runs the same `train()` as the app and writes the same run records.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Sequence

from bertviz_lite.cli.args import add_precision_arg, add_recipe_args, add_run_args, mode_help
from bertviz_lite.engine.config import (
    DEVICES,
    HEADS,
    PAPER_FROZEN_HEADS,
    ConfigError,
    RunConfig,
)

log = logging.getLogger("bertviz_lite")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    from bertviz_lite.cli import commands

    parser = argparse.ArgumentParser(
        prog="bertviz-lite",
        description="Watch backprop stop at the head (frozen) or flow through every BERT layer "
                    "(fine-tuned).")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one run and write its run record")
    add_run_args(p)
    p.add_argument("--out", required=True, help="where to write the run record (JSON)")
    p.add_argument("--save-model", metavar="DIR",
                   help="also save the trained model (safetensors; only the head when frozen)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=commands.cmd_train)

    p = sub.add_parser("compare", help="frozen vs fine-tuned on the same data and seed")
    add_run_args(p, mode=False)
    p.add_argument("--modes", default="frozen,finetune",
                   help="comma-separated modes to run, e.g. frozen,top-2,finetune; each one of "
                        + mode_help())
    p.add_argument("--out-dir", help="folder for the run records and compare.json")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.cmd_compare)

    p = sub.add_parser("reproduce", help="frozen vs fine-tuned on SST-2, MRPC, STS-B, CoNLL-2003")
    p.add_argument("--data-dir", required=True,
                   help="folder with sst2/, mrpc/, stsb/, conll2003/ (the layout of shared/data)")
    p.add_argument("--tasks", default="ner,sentiment,paraphrase,similarity")
    p.add_argument("--max-train", type=int, default=2000, help="training examples per task")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--frozen-head", default=",".join(PAPER_FROZEN_HEADS),
                   help=f"frozen head(s), comma-separated, each run and reported side by side "
                        f"(the first is the table's main one): {', '.join(HEADS)}; default "
                        f"{','.join(PAPER_FROZEN_HEADS)}, the paper's frozen setup")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-file", action="append", default=[], metavar="TASK=FILE",
                   help="evaluate a task on another file of the same format (repeatable)")
    p.add_argument("--model", default="bundled")
    p.add_argument("--batch-size", type=int, default=RunConfig().batch_size)
    p.add_argument("--lr", type=float, default=RunConfig().lr,
                   help="learning rate of the BERT layers (fine-tuned runs)")
    add_recipe_args(p)
    p.add_argument("--device", choices=DEVICES, default="auto")
    add_precision_arg(p)
    p.add_argument("--out", required=True, help="output folder (runs/, reproduce.json, .md)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.cmd_reproduce)

    p = sub.add_parser("bench", help="performance figures, each a ratio measured in one run")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--quick", dest="form", action="store_const", const="quick",
                      help="fewer repetitions, one task (minutes)")
    form.add_argument("--smoke", dest="form", action="store_const", const="smoke",
                      help="the smallest form, every section on a few examples (the tests')")
    p.set_defaults(form="full")
    p.add_argument("--no-app", action="store_true", help="skip the Chromium measurements")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--out", default="bench.json", help="where to write the JSON report")
    p.set_defaults(func=commands.cmd_bench)

    from bertviz_lite.cli.sweep_cmd import add_sweep_parser

    add_sweep_parser(sub)

    from bertviz_lite.cli.inside_bert_cmd import add_changes_parser

    add_changes_parser(sub)

    from bertviz_lite.cli.app_cmd import add_app_parser

    add_app_parser(sub)

    from bertviz_lite.cli.lesson_cmd import add_lesson_parser

    add_lesson_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bertviz-lite` console script; returns the exit status."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "app":  # only `app` passes options on (to streamlit)
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:
        args.streamlit_args = unknown
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from bertviz_lite.cli.outputs import OutputError
    from bertviz_lite.data.examples import DataError
    from bertviz_lite.engine.groups import ModelStructureError
    from bertviz_lite.engine.models import ModelError

    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ConfigError, DataError, ModelError, ModelStructureError, OutputError) as err:
        log.error("%s", err)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
