"""`bertviz-lite changes`: what fine-tuning changed inside BERT, layer by layer, for one run."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from bertviz_lite.cli.args import echo
from bertviz_lite.engine.config import ConfigError

log = logging.getLogger(__name__)


def add_changes_parser(sub: argparse._SubParsersAction) -> None:
    """Register the `changes` subcommand."""
    p = sub.add_parser("changes", help="what changed inside BERT: CKA, weight change and "
                                       "probes per layer, and zero-shot similarity forgotten")
    p.add_argument("--run", required=True, help="the run record (JSON) written by `train --out`")
    p.add_argument("--checkpoint", metavar="DIR",
                   help="the folder `train --save-model DIR` wrote (not needed for frozen runs)")
    p.add_argument("--max-examples", type=int,
                   help="use at most N training and N validation examples")
    p.add_argument("--stsb", metavar="DIR",
                   help="also measure zero-shot similarity on STS-B dev (a folder with dev.tsv)")
    p.add_argument("--out", required=True, help="where to write the analysis (JSON)")
    p.set_defaults(func=cmd_changes)


def read_record(path: str):  # noqa: ANN201 - RunRecord, imported lazily
    """Load a run record, or raise ConfigError saying what is wrong with the file."""
    from bertviz_lite.record.runs import RunRecord, record_problem

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"run record {path} not found: write one with `bertviz-lite train "
                          "--out RUN.json`")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, RecursionError, OSError) as err:  # JSON, UTF-8, a deep nest
        raise ConfigError(f"{path} is not a run record written by `bertviz-lite train` "
                          f"({type(err).__name__}: {str(err)[:200]})") from None
    problem = record_problem(d)
    if problem:
        raise ConfigError(f"{path} cannot be analysed: {problem}")
    try:
        return RunRecord.from_dict(d)
    except (TypeError, KeyError, ValueError) as err:
        raise ConfigError(f"{path} is not a run record written by `bertviz-lite train` "
                          f"({type(err).__name__}: {str(err)[:200]})") from None


def cmd_changes(args: argparse.Namespace) -> int:
    """Analyse one run, print the per-layer table, write the JSON."""
    from bertviz_lite.experiments.inside_bert import analyse_changes
    from bertviz_lite.experiments.inside_bert_result import seconds_text, table_lines

    record = read_record(args.run)
    if args.checkpoint is not None and not (Path(args.checkpoint) / "task.json").is_file():
        raise ConfigError(f"{args.checkpoint} is not a saved model: it has no task.json (write "
                          "one with `bertviz-lite train --save-model DIR`)")
    if args.checkpoint is not None:  # its task.json, checked before any model loads
        from bertviz_lite.engine.checkpoints import read_meta

        read_meta(Path(args.checkpoint))
    result = analyse_changes(record, args.checkpoint, max_examples=args.max_examples,
                             stsb_dir=args.stsb,
                             on_progress=lambda what, d, n: log.info("%s %d/%d", what, d, n))
    s = result.setup
    echo(f"what changed inside BERT: {s['task']} {s['mode']}, model {s['model']} "
         f"({s['layers']} layers), data {s['data']}: {s['examples']['train']} train / "
         f"{s['examples']['val']} validation examples; {result.seconds['total']:.1f} s "
         f"({seconds_text(result)}; pretrained side: {s['pretrained_side']})")
    for line in table_lines(result):
        echo(line)
    path = result.save(args.out)
    echo(f"analysis: {path}")
    return 0
