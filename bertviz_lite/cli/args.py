"""The options shared by the subcommands, and the command's own output (no subcommand logic).

`main` builds the parser from these; `commands` turns parsed options into a RunConfig with
`config_from_args` and prints through `echo`.
"""

from __future__ import annotations

import argparse
import sys

from bertviz_lite.engine.config import (
    DEVICES,
    HEADS,
    PAIR_ENCODINGS,
    POOLINGS,
    PRECISIONS,
    TASKS,
    RunConfig,
    head_title,
)
from bertviz_lite.engine.modes import FROZEN, all_modes, cli_spellings


def echo(text: str = "") -> None:
    """Write a line of the command's own output (tables, summaries) to stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def add_run_args(p: argparse.ArgumentParser, *, mode: bool = True) -> None:
    """The options shared by train and compare (they map 1:1 onto RunConfig fields)."""
    d = RunConfig()
    p.add_argument("--task", choices=TASKS, required=True)
    if mode:
        p.add_argument("--mode", default=FROZEN, help=mode_help())
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
    add_recipe_args(p)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", choices=DEVICES, default=d.device)
    p.add_argument("--max-length", type=int, default=d.max_length, help="word pieces per input")
    p.add_argument("--head", choices=HEADS, default=d.head,
                   help="linear on the last layer, scalar-mix of all layers (Peters et al.), or "
                        "task-model: the mix into a small task model on cached frozen features "
                        "(" + "; ".join(f"{t}: {head_title('task-model', t)}" for t in TASKS)
                        + "; frozen mode only)")
    p.add_argument("--pooling", choices=POOLINGS, default=d.pooling)
    p.add_argument("--pair-encoding", choices=PAIR_ENCODINGS, default=d.pair_encoding)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    add_precision_arg(p)
    add_mode_option_args(p)


def add_mode_option_args(p: argparse.ArgumentParser) -> None:
    """The options of one mode each (LoRA's, the adapters', LP-FT's); other modes ignore
    them."""
    d = RunConfig()
    g = p.add_argument_group("mode options")
    g.add_argument("--lora-rank", type=int, default=d.lora_rank,
                   help=f"LoRA: rank r of each weight update (default {d.lora_rank})")
    g.add_argument("--lora-alpha", type=int, default=d.lora_alpha,
                   help=f"LoRA: the update is scaled by alpha / r (default {d.lora_alpha})")
    g.add_argument("--lora-dropout", type=float, default=d.lora_dropout,
                   help=f"LoRA: dropout on the LoRA matrices' input (default {d.lora_dropout:g})")
    g.add_argument("--lora-targets", type=targets_arg, default=d.lora_targets,
                   help="LoRA: comma-separated projections it sits beside in every layer "
                        f"(default {','.join(d.lora_targets)}; e.g. query,key,value,dense)")
    g.add_argument("--layer-lr-decay", type=float, default=d.layer_lr_decay,
                   help="discriminative learning rates: a layer d below the top one learns "
                        "at lr * decay**d, the embeddings at lr * decay**L (default "
                        f"{d.layer_lr_decay:g}: off; e.g. 0.9)")
    g.add_argument("--adapter-size", type=int, default=d.adapter_size,
                   help="adapters: width of each bottleneck (default "
                        f"{d.adapter_size})")
    g.add_argument("--lp-fraction", type=float, default=d.lp_fraction,
                   help="LP-FT: share of the steps that train the head alone before "
                        f"everything trains (default {d.lp_fraction:g})")


def targets_arg(text: str) -> tuple[str, ...]:
    """--lora-targets value: comma-separated module names -> a tuple."""
    return tuple(t.strip() for t in text.split(",") if t.strip())


def mode_help() -> str:
    """--mode's help: every registered mode's CLI spelling (engine/modes.py)."""
    return " | ".join(cli_spellings()) + " (what trains)"


def clip_arg(text: str) -> float | None:
    """--max-grad-norm value: a positive number, or `none` / `off` / `0` for no clipping."""
    if text.strip().lower() in ("none", "off", "0", "0.0"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive number or 'none' (no clipping), got {text!r}") from None


def add_recipe_args(p: argparse.ArgumentParser) -> None:
    """The fine-tuning recipe's knobs beyond the learning rates (BERT's defaults)."""
    d = RunConfig()
    p.add_argument("--warmup", type=float, default=d.warmup,
                   help=f"fraction of the steps with linear warm-up, then linear decay to 0 "
                        f"(default {d.warmup:g})")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay,
                   help=f"AdamW weight decay, not on biases or LayerNorm (default "
                        f"{d.weight_decay:g})")
    p.add_argument("--max-grad-norm", type=clip_arg, default=d.max_grad_norm,
                   help=f"clip the gradient's global norm to this before each update "
                        f"(default {d.max_grad_norm:g}); 'none' turns clipping off")


def add_precision_arg(p: argparse.ArgumentParser) -> None:
    """--precision auto | fp32 | bf16 (train, compare, reproduce)."""
    p.add_argument("--precision", choices=PRECISIONS, default=RunConfig().precision,
                   help="auto: bf16 autocast where the CPU (AMX, AVX512-BF16) or GPU runs it "
                        "natively, else fp32; weights and gradients stay fp32")


def config_from_args(args: argparse.Namespace, mode: str | None = None) -> RunConfig:
    """Parsed options -> RunConfig (validation errors surface as ConfigError)."""
    return RunConfig(
        task=args.task, mode=mode or args.mode, model=args.model, data=args.data, train_file=args.train_file,
        eval_file=args.eval_file, max_train=args.max_train, max_eval=args.max_eval, epochs=epochs_arg(args),
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, head_lr=args.head_lr, seed=args.seed,
        device=args.device, max_length=args.max_length, head=args.head, pooling=args.pooling,
        pair_encoding=args.pair_encoding, threads=args.threads,
        precision=getattr(args, "precision", RunConfig().precision),
        warmup=getattr(args, "warmup", RunConfig().warmup),
        weight_decay=getattr(args, "weight_decay", RunConfig().weight_decay),
        max_grad_norm=getattr(args, "max_grad_norm", RunConfig().max_grad_norm),
        layer_lr_decay=getattr(args, "layer_lr_decay", RunConfig().layer_lr_decay),
        **{name: getattr(args, name) for mode in all_modes() for name in mode.options
           if hasattr(args, name)},
    )


def epochs_arg(args: argparse.Namespace) -> int:
    """--epochs as given (0 is refused by RunConfig, never turned into 1); the default when
    --steps is used instead."""
    return RunConfig().epochs if args.epochs is None else args.epochs
