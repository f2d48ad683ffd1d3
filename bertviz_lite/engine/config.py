"""Run configuration: one frozen dataclass that names everything a run depends on.

A `RunConfig` is hashable and JSON-serialisable, so it is both the cache key of a run
(`config_hash`) and the `config` object inside a run record.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bertviz_lite.engine import modes as _modes
from bertviz_lite.engine.errors import ConfigError as ConfigError

# re-exported for callers that know them from here; they live in bertviz_lite.names
from bertviz_lite.names import TASK_MODEL_TITLES as TASK_MODEL_TITLES
from bertviz_lite.names import head_title as head_title
from bertviz_lite.names import task_model_names as task_model_names

TASKS: tuple[str, ...] = ("sentiment", "paraphrase", "similarity", "ner")
HEADS: tuple[str, ...] = ("linear", "scalar-mix", "task-model")
PAPER_FROZEN_HEADS: tuple[str, ...] = ("task-model",)  # reproduce's default: the paper's setup
POOLINGS: tuple[str, ...] = ("mean", "cls", "pooler")
PAIR_ENCODINGS: tuple[str, ...] = ("auto", "separate", "joint")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")

if TYPE_CHECKING:
    from bertviz_lite.data.examples import TaskData
    from bertviz_lite.data.source import Upload
    from bertviz_lite.data.text import Limits

class OptionError(ConfigError):
    """A value of a library function's option that cannot work, said in neutral words.

    template: the message with each option it mentions written `{name}` (the function's
    parameter name); str(err) spells them so, and `worded` as a front end calls them (the CLI
    passes its flags: {"max_train": "--max-train"}). Other braces are doubled.
    """

    def __init__(self, template: str, *options: str) -> None:
        self.template, self.options = template, options
        super().__init__(self.worded({}))

    def worded(self, names: dict[str, str]) -> str:
        """The message with each option called by `names` (its parameter name otherwise)."""
        return self.template.format_map({o: names.get(o, o) for o in self.options})


def literal(value: object) -> str:
    """A value written into an OptionError template (its braces doubled)."""
    return str(value).replace("{", "{{").replace("}", "}}")


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a training run (and nothing that does not)."""

    task: str = "sentiment"  # sentiment | paraphrase | similarity | ner
    mode: str = _modes.FROZEN  # a spelling of a registered mode (engine/modes.py): frozen |
    #   finetune | top-K (the top K encoder layers train) | ...
    model: str = "bundled"  # bundled | local directory | Hub id
    data: str = "bundled"  # bundled | directory | file | hub:NAME
    train_file: str | None = None  # explicit training file (overrides `data`)
    eval_file: str | None = None  # explicit validation file
    max_train: int | None = None  # stratified subsample of the training split
    max_eval: int | None = None  # subsample of the validation split
    epochs: int = 3  # passes over the training data (ignored when `steps` is set)
    steps: int | None = None  # exact number of optimizer steps
    batch_size: int = 16  # examples per step
    lr: float = 5e-5  # AdamW learning rate of the BERT layers that train
    head_lr: float = 3e-3  # AdamW learning rate of the task head (random init)
    weight_decay: float = 0.01  # AdamW decoupled weight decay (not on biases, LayerNorm)
    warmup: float = 0.1  # fraction of steps with linear warm-up, then linear decay
    layer_lr_decay: float = 1.0  # discriminative learning rates: a layer d below the top one
    #   learns at lr * decay**d, the embeddings at lr * decay**L (1.0: off; 0.8-0.95 is usual)
    max_grad_norm: float | None = 1.0  # clip the global gradient norm of the trainable
    #   weights to this before each update (BERT's recipe); None: no clipping. Recorded
    #   gradient norms are the ones backward computed, before clipping
    seed: int = 0  # seeds head init, dropout and data order
    device: str = "auto"  # auto picks cuda, then mps, then cpu
    max_length: int = 128  # word pieces per sequence, longer inputs are truncated
    head: str = "linear"  # linear on the last layer | scalar-mix of all layers (Peters et al.)
    #   | task-model: the scalar mix into a small BiLSTM task model (frozen encoder only)
    pooling: str = "mean"  # sentence vector: mean of tokens | [CLS] | BERT pooler
    pair_encoding: str = "auto"  # pairs: separate (each sentence alone) | joint | auto: separate
    #   when the encoder is frozen (cacheable sentence features), joint when any layer trains
    evals_per_epoch: int = 1  # validation passes per epoch (plus one before training)
    train_eval_size: int = 128  # training examples re-scored at each eval (overfitting curve)
    cache_features: bool = True  # frozen layers run once per example, outputs reused
    grad_flow: bool = True  # record per-group gradient norms and update ratios
    threads: int | None = None  # torch CPU threads (None: torch's default)
    precision: str = "auto"  # auto: bf16 autocast where the device runs bf16 natively (CUDA
    #   with bf16 support; a CPU with AMX or AVX512-BF16), fp32 elsewhere, so a laptop without
    #   bf16 is never slowed down or changed. Weights, gradients, optimizer state: always fp32
    # options of one mode each (left out of other modes' run keys: they change nothing there)
    lora_rank: int = 8  # LoRA: rank r of each weight update B @ A (Hu et al. 2021)
    lora_alpha: int = 16  # LoRA: the update is scaled by alpha / r
    lora_dropout: float = 0.1  # LoRA: dropout on the adapters' input (0.1 as Hu et al.)
    lora_targets: tuple[str, ...] = ("query", "value")  # LoRA: names of the projections it
    #   sits beside, in every layer (BERT's attention query and value, as Hu et al.)
    adapter_size: int = 64  # adapters: the bottleneck's width (Houlsby et al. 2019 used 8-256)
    lp_fraction: float = 0.5  # LP-FT: fraction of the steps the head trains alone on the
    #   frozen encoder before everything trains (Kumar et al. 2022)
    extra: tuple[tuple[str, Any], ...] = field(default_factory=tuple)  # free-form tags

    def __post_init__(self) -> None:
        if isinstance(self.lora_targets, list):  # JSON, a notebook: a list is meant as a tuple
            object.__setattr__(self, "lora_targets", tuple(self.lora_targets))
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field."""
        d = dataclasses.asdict(self)
        d["extra"] = dict(self.extra)
        d["lora_targets"] = list(self.lora_targets)  # as JSON gives it back, in every process
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Inverse of `to_dict`; unknown keys are an error that names them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}; known keys are {sorted(names)}")
        d = dict(d)
        if "extra" in d:
            d["extra"] = tuple(sorted(dict(d["extra"]).items()))
        if isinstance(d.get("lora_targets"), list):
            d["lora_targets"] = tuple(d["lora_targets"])
        return cls(**d)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (validated again); an unknown name is an error."""
        check_names(changes)
        return dataclasses.replace(self, **changes)

    @classmethod
    def make(cls, **fields: Any) -> RunConfig:
        """A RunConfig from keyword fields; an unknown name is a ConfigError naming it (the
        notebook API's `config` and `train` build theirs here)."""
        check_names(fields)
        return cls(**fields)

    @property
    def separate_pairs(self) -> bool:
        """Whether the two sentences of a pair are encoded separately (see pair_encoding)."""
        if self.pair_encoding == "auto":
            return _modes.mode_of(self.mode).cache_features
        return self.pair_encoding == "separate"

    @property
    def trainable_top(self) -> int | None:
        """How many top encoder layers train whole: 0 = frozen, K = top-K, None = every
        layer (or part of every layer, or a schedule: see the mode's registry entry)."""
        return parse_mode(self.mode)


_FIELD_TYPES: dict[str, Any] = typing.get_type_hints(RunConfig)


def parse_mode(mode: str) -> int | None:
    """Check a mode string against the registry (ConfigError naming every spelling when it
    is none of them): `frozen` -> 0, `top-K` -> K, every other mode -> None."""
    return _modes.top_layers(mode)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _check_positive(name: str, value: float | int | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or not value > 0:
        raise ConfigError(f"{name} must be a positive number; got {value!r}")


MAX_SEED = 2**32 - 1  # what every generator in the stack accepts (numpy's limit)
MAX_THREADS = 1024


def _check_seed_threads(config: RunConfig) -> None:
    if isinstance(config.seed, bool) or not isinstance(config.seed, int) or not 0 <= config.seed <= MAX_SEED:
        raise ConfigError(f"seed must be a whole number from 0 to {MAX_SEED:,}; got {config.seed!r:.40}")
    if config.threads is not None and (isinstance(config.threads, bool) or not isinstance(config.threads, int)
                                  or not 1 <= config.threads <= MAX_THREADS):
        raise ConfigError(f"threads must be a whole number from 1 to {MAX_THREADS} (or left "
                          f"out for torch's default); got {config.threads!r:.40}")


def parse_modes(text: str) -> list[str]:
    """`frozen,top-2,finetune` -> the modes, each checked; an empty or repeated list is an error."""
    modes = [m.strip() for m in text.split(",") if m.strip()]
    if not modes:
        raise ConfigError(f"--modes names no mode ({text!r}); give e.g. frozen,finetune")
    for mode in modes:
        parse_mode(mode)
    dup = next((m for i, m in enumerate(modes) if m in modes[:i]), None)
    if dup is not None:
        raise ConfigError(f"mode {dup!r} is listed twice in {text!r}; each mode runs once")
    return modes


def check_names(fields: dict[str, Any]) -> None:
    """Refuse a keyword that is not a RunConfig field, naming it and the closest field."""
    import difflib

    names = [f.name for f in dataclasses.fields(RunConfig)]
    for name in fields:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"unknown setting {name!r}; {hint}the settings are "
                              f"{', '.join(names)}")


# what a text field holds, for the message when it holds something else
TEXT_EXAMPLES = {
    "task": "'sentiment', 'paraphrase', 'similarity' or 'ner'",
    "mode": "'frozen', 'finetune' or 'top-K' (e.g. 'top-2')",
    "model": "'bundled', a model folder or a Hub id",
    "data": "'bundled', a folder, a file or 'hub:NAME'",
}


def _type_problem(value: Any, hint: Any) -> str | None:
    """What a field of type `hint` needs when `value` is not that (None: it is). bool is not
    a number here (True would be 1 step), and a fraction is not a whole number (3.7 steps)."""
    args = typing.get_args(hint)
    if value is None and type(None) in args:
        return None
    if typing.get_origin(hint) is tuple:  # tuple[str, ...]: a tuple of that element type
        if not isinstance(value, tuple):
            return "must be a list"
        bad = [v for v in value if _type_problem(v, args[0])]
        kinds = {str: "texts", int: "whole numbers", float: "numbers", bool: "True or False"}
        return f"must be a list of {kinds.get(args[0], args[0])}" if bad else None
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    if base is bool:
        return None if isinstance(value, bool) else "must be True or False"
    if isinstance(value, bool) and base in (int, float):
        return "must be a number, not True or False"
    if base is int:
        return None if isinstance(value, numbers.Integral) else "must be a whole number"
    if base is float:
        return None if isinstance(value, numbers.Real) else "must be a number"
    if base is str:
        return None if isinstance(value, str) else "must be text"
    return None


def _check_types(config: RunConfig) -> None:
    """One type check for every field, whoever built the config (notebook, CLI, app): the
    message names the field, what it needs and what it got."""
    for f in dataclasses.fields(config):
        if f.name == "extra":
            continue
        value = getattr(config, f.name)
        problem = _type_problem(value, _FIELD_TYPES[f.name])
        if problem:
            example = f" such as {TEXT_EXAMPLES[f.name]}" if f.name in TEXT_EXAMPLES else ""
            optional = " (or None)" if type(None) in typing.get_args(_FIELD_TYPES[f.name]) \
                else ""
            raise ConfigError(f"{f.name} {problem}{example}{optional}; got {value!r:.40} "
                              f"({type(value).__name__})")


# Beyond these a run is a typing slip, not a plan: 10**30 steps ran until interrupted, and a
# batch of 2**40 examples asked for the whole dataset's activations at once.
AT_MOST = {"batch_size": 65_536, "epochs": 10_000, "steps": 10_000_000}


def _check_at_most(config: RunConfig) -> None:
    for name, most in AT_MOST.items():
        value = getattr(config, name)
        if value is not None and value > most:
            raise ConfigError(f"{name} must be at most {most:,}; got {value:,}")


def validate(config: RunConfig) -> None:
    """Raise ConfigError with a fix-it message for values no run can use."""
    _check_types(config)
    _check_choice("task", config.task, TASKS)
    parse_mode(config.mode)
    _check_choice("head", config.head, HEADS)
    if config.head == "task-model" and not _modes.mode_of(config.mode).cache_features:
        raise ConfigError(f"the task-model head trains on cached frozen features: use mode "
                          f"frozen with it, or head linear or scalar-mix for {config.mode!r}")
    _check_choice("pooling", config.pooling, POOLINGS)
    _check_choice("pair_encoding", config.pair_encoding, PAIR_ENCODINGS)
    _check_choice("device", config.device, DEVICES)
    _check_choice("precision", config.precision, PRECISIONS)
    if not isinstance(config.batch_size, int) or config.batch_size < 1:
        raise ConfigError(f"batch size must be a whole number of at least 1; got {config.batch_size!r}")
    if not isinstance(config.epochs, int) or config.epochs < 1:
        raise ConfigError(f"epochs must be a whole number of at least 1; got {config.epochs!r}")
    _check_positive("steps", config.steps, allow_none=True)
    _check_at_most(config)
    _check_positive("max_train", config.max_train, allow_none=True)
    _check_positive("max_eval", config.max_eval, allow_none=True)
    _check_seed_threads(config)
    for name in ("lr", "head_lr"):
        value = getattr(config, name)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{name} (learning rate) must be a positive number; got {value!r}")
    if (isinstance(config.weight_decay, bool) or not isinstance(config.weight_decay, (int, float))
            or not math.isfinite(config.weight_decay) or config.weight_decay < 0):
        raise ConfigError(f"weight_decay must be 0 or a positive number (BERT uses 0.01); "
                          f"got {config.weight_decay!r:.40}")
    if config.max_grad_norm is not None and (
            isinstance(config.max_grad_norm, bool) or not isinstance(config.max_grad_norm, (int, float))
            or not math.isfinite(config.max_grad_norm) or config.max_grad_norm <= 0):
        raise ConfigError("max_grad_norm (gradient clipping) must be a positive number, or "
                          f"left out for no clipping; got {config.max_grad_norm!r:.40}")
    if (isinstance(config.layer_lr_decay, bool)
            or not isinstance(config.layer_lr_decay, (int, float))
            or not 0 < config.layer_lr_decay <= 1):
        raise ConfigError("layer_lr_decay (each layer down learns at this fraction of the one "
                          f"above) must be in (0, 1]; got {config.layer_lr_decay!r:.40}")
    if not 0 <= config.warmup < 1:
        raise ConfigError(f"warmup is a fraction of the steps in [0, 1); got {config.warmup!r}")
    if not 8 <= config.max_length <= 512:
        raise ConfigError(f"max_length must be between 8 and 512 word pieces; got {config.max_length}")
    if config.evals_per_epoch < 0:
        raise ConfigError("evals_per_epoch must be 0 or more")
    _check_mode_options(config)


def _check_mode_options(config: RunConfig) -> None:
    """LoRA's, the adapters' and LP-FT's options (checked whichever mode runs: a bad value is a typo)."""
    for name, top in (("lora_rank", 1024), ("lora_alpha", 4096), ("adapter_size", 4096)):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise ConfigError(f"{name} must be a whole number from 1 to {top}; got {value!r:.40}")
    if (isinstance(config.lora_dropout, bool) or not isinstance(config.lora_dropout, (int, float))
            or not 0 <= config.lora_dropout < 1):
        raise ConfigError(f"lora_dropout is a probability in [0, 1); got {config.lora_dropout!r:.40}")
    targets = config.lora_targets
    if (not isinstance(targets, tuple) or not targets
            or not all(isinstance(t, str) and t.strip() for t in targets)):
        raise ConfigError("lora_targets names the projections LoRA sits beside, e.g. "
                          f"('query', 'value'); got {targets!r:.60}")
    if (isinstance(config.lp_fraction, bool) or not isinstance(config.lp_fraction, (int, float))
            or not 0 < config.lp_fraction < 1):
        raise ConfigError("lp_fraction (LP-FT: the share of steps that train the head alone) "
                          f"must be between 0 and 1; got {config.lp_fraction!r:.40}")


NEUTRAL = {"layer_lr_decay": 1.0}  # fields whose value here changes nothing in a run


def config_hash(config: RunConfig, data_fingerprint: str = "") -> str:
    """Stable 16-hex-digit key of a configuration (plus the data's content fingerprint and the
    engine version, so a changed engine never replays an old run as new)."""
    from bertviz_lite.record.provenance import engine_version

    d = config.to_dict()
    d.pop("threads", None)  # thread count changes speed, not results
    for name, off in NEUTRAL.items():  # a switch left off: the key runs had before it existed
        if d.get(name) == off:
            d.pop(name)
    own = set(_modes.mode_of(config.mode).options)
    for mode in _modes.all_modes():  # another mode's options change nothing in this run
        for name in set(mode.options) - own:
            d.pop(name, None)
    payload = json.dumps(d, sort_keys=True) + "|" + data_fingerprint + "|" + engine_version()
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]



def run_key(config: RunConfig, data: TaskData | Upload | None = None,
            limits: Limits | None = None) -> str | None:
    """A run's content key, known before any data is parsed (milliseconds; the page's thread
    may call it): the config plus `data.source.data_fingerprint` of `data` (an `Upload`,
    examples in memory, or None: the files the config names). None for Hub data, known only
    once downloaded. Raises DataError when a file the config names is missing."""
    from bertviz_lite.data.source import data_fingerprint
    from bertviz_lite.data.text import DEFAULT_LIMITS

    fingerprint = data_fingerprint(config.task, config.data, config.train_file, config.eval_file, data,
                                   limits or DEFAULT_LIMITS)
    return None if fingerprint is None else config_hash(config, fingerprint)
