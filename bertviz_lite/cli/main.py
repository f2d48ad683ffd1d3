"""Command line: `bertviz-lite train | compare | reproduce | bench`.

Every subcommand runs the same `train()` as the app and writes the same run records.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bertviz_lite.engine.config import (
    DEVICES,
    HEADS,
    PAIR_ENCODINGS,
    POOLINGS,
    PRECISIONS,
    TASKS,
    ConfigError,
    RunConfig,
)

log = logging.getLogger("bertviz_lite")


def echo(text: str = "") -> None:
    """Write a line of the command's own output (tables, summaries) to stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def add_run_args(p: argparse.ArgumentParser, *, mode: bool = True) -> None:
    """The options shared by train and compare (they map 1:1 onto RunConfig fields)."""
    d = RunConfig()
    p.add_argument("--task", choices=TASKS, required=True)
    if mode:
        p.add_argument("--mode", default="frozen",
                       help="frozen | finetune | top-K (the top K layers and the head train)")
    p.add_argument("--model", default=d.model, help="bundled | local model folder | Hub id")
    p.add_argument("--data", default=d.data,
                   help="bundled | folder (train/dev files or the shared/data layout) | file | "
                        "hub:NAME")
    p.add_argument("--train-file", help="training file (GLUE TSV, CoNLL, CSV, TSV or JSONL)")
    p.add_argument("--eval-file", help="validation file in the same format")
    p.add_argument("--max-train", type=int, help="stratified subsample of N training examples")
    p.add_argument("--max-eval", type=int, help="evaluate on N validation examples")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--epochs", type=int, default=d.epochs)
    g.add_argument("--steps", type=int, help="exact number of optimizer steps")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate of the BERT layers")
    p.add_argument("--head-lr", type=float, default=d.head_lr, help="learning rate of the head")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", choices=DEVICES, default=d.device)
    p.add_argument("--max-length", type=int, default=d.max_length, help="word pieces per input")
    p.add_argument("--head", choices=HEADS, default=d.head,
                   help="linear on the last layer, or scalar-mix of all layers (Peters et al.)")
    p.add_argument("--pooling", choices=POOLINGS, default=d.pooling)
    p.add_argument("--pair-encoding", choices=PAIR_ENCODINGS, default=d.pair_encoding)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    add_precision_arg(p)


def add_precision_arg(p: argparse.ArgumentParser) -> None:
    """--precision auto | fp32 | bf16 (train, compare, reproduce)."""
    p.add_argument("--precision", choices=PRECISIONS, default=RunConfig().precision,
                   help="auto: bf16 autocast where the CPU (AMX, AVX512-BF16) or GPU runs it "
                        "natively, else fp32; weights and gradients stay fp32")


def config_from_args(a: argparse.Namespace, mode: str | None = None) -> RunConfig:
    """Parsed options -> RunConfig (validation errors surface as ConfigError)."""
    return RunConfig(
        task=a.task, mode=mode or a.mode, model=a.model, data=a.data, train_file=a.train_file,
        eval_file=a.eval_file, max_train=a.max_train, max_eval=a.max_eval, epochs=a.epochs or 1,
        steps=a.steps, batch_size=a.batch_size, lr=a.lr, head_lr=a.head_lr, seed=a.seed,
        device=a.device, max_length=a.max_length, head=a.head, pooling=a.pooling,
        pair_encoding=a.pair_encoding, threads=a.threads,
        precision=getattr(a, "precision", RunConfig().precision),
    )


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
                   help="comma-separated modes to run, e.g. frozen,top-2,finetune")
    p.add_argument("--out-dir", help="folder for the run records and compare.json")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.cmd_compare)

    p = sub.add_parser("reproduce", help="frozen vs fine-tuned on SST-2, MRPC, STS-B, CoNLL-2003")
    p.add_argument("--data-dir", required=True,
                   help="folder with sst2/, mrpc/, stsb/, conll2003/ (the layout of shared/data)")
    p.add_argument("--tasks", default="ner,sentiment,paraphrase,similarity")
    p.add_argument("--max-train", type=int, default=2000, help="training examples per task")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--frozen-head", choices=HEADS, default="scalar-mix",
                   help="the paper's scalar mix of all layers, or linear on the last layer")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-file", action="append", default=[], metavar="TASK=FILE",
                   help="evaluate a task on another file of the same format (repeatable)")
    p.add_argument("--model", default="bundled")
    p.add_argument("--batch-size", type=int, default=RunConfig().batch_size)
    p.add_argument("--device", choices=DEVICES, default="auto")
    add_precision_arg(p)
    p.add_argument("--out", required=True, help="output folder (runs/, reproduce.json, .md)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.cmd_reproduce)

    p = sub.add_parser("bench", help="performance figures, each a ratio measured in one run")
    p.add_argument("--quick", action="store_true", help="fewer repetitions, one task (minutes)")
    p.add_argument("--no-app", action="store_true", help="skip the Chromium measurements")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--out", default="bench.json", help="where to write the JSON report")
    p.set_defaults(func=commands.cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bertviz-lite` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from bertviz_lite.data.examples import DataError
    from bertviz_lite.engine.groups import ModelStructureError
    from bertviz_lite.engine.models import ModelError

    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ConfigError, DataError, ModelError, ModelStructureError) as err:
        log.error("%s", err)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


def _ensure_parent(path: str) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
