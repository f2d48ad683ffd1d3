"""Finding and loading a task's data: bundled, a folder, a file, an upload or the Hub."""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from bertviz_lite.data.examples import DataError, Example, TaskData
from bertviz_lite.data.formats import (
    GUESS_COLUMNS,
    ColumnMap,
    Table,
    read_conll,
    read_delimited,
    read_jsonl,
    sniff_kind,
)
from bertviz_lite.data.labels import (
    classification_examples,
    jsonl_token_sentences,
    similarity_examples,
    token_examples,
)
from bertviz_lite.data.text import DEFAULT_LIMITS, Limits, decode_bytes, read_text
from bertviz_lite.data.validate import refuse_conll_for
from bertviz_lite.paths import bundled_data_dir

log = logging.getLogger(__name__)

# Folder names tried for each task inside a data directory (the layout of ../shared/data).
TASK_FOLDERS: dict[str, tuple[str, ...]] = {
    "sentiment": ("sst2", "SST-2", "sentiment"),
    "paraphrase": ("mrpc", "MRPC", "paraphrase"),
    "similarity": ("stsb", "STS-B", "similarity"),
    "ner": ("conll2003", "ner", "wnut17"),
}
TRAIN_NAMES = ("train",)
VAL_NAMES = ("dev", "valid", "validation", "val")
SUFFIXES = (".tsv", ".txt", ".csv", ".jsonl", ".conll")
HOLDOUT_FRACTION = 0.2
HOLDOUT_SEED = 0  # the held-out split does not move with the training seed


def parse_examples(
    text: str,
    name: str,
    task: str,
    columns: ColumnMap = GUESS_COLUMNS,
    known_labels: Sequence[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[list[Example], list[str]]:
    """Text of one file -> examples of `task` and their label names (see TaskData)."""
    kind = sniff_kind(text, name)
    if task == "ner":
        if kind == "jsonl":
            sentences = jsonl_token_sentences(read_jsonl(text, name, limits), columns)
        else:
            sentences = read_conll(text, name, limits)
        return token_examples(sentences, name, known_labels, limits, kind != "jsonl")
    refuse_conll_for(task, text, name)
    if kind == "conll":
        kind = "tsv" if "\t" in text.split("\n", 1)[0] else "csv"
    table = read_jsonl(text, name, limits) if kind == "jsonl" else read_delimited(text, name, kind, limits)
    return table_examples(table, task, columns, known_labels, limits)


def table_examples(
    table: Table,
    task: str,
    columns: ColumnMap = GUESS_COLUMNS,
    known_labels: Sequence[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[list[Example], list[str]]:
    """A parsed table -> examples of a sentence or pair task, and label names."""
    if task == "similarity":
        return similarity_examples(table, columns, limits), []
    return classification_examples(table, task, columns, known_labels, limits)


def load_file(
    path: str | Path,
    task: str,
    columns: ColumnMap = GUESS_COLUMNS,
    known_labels: Sequence[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[list[Example], list[str]]:
    """Read and parse one local file."""
    return parse_examples(read_text(path, limits), str(path), task, columns, known_labels, limits)


def load_bytes(
    raw: bytes,
    name: str,
    task: str,
    columns: ColumnMap = GUESS_COLUMNS,
    known_labels: Sequence[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[list[Example], list[str]]:
    """Parse an uploaded file's bytes (the app's upload path)."""
    return parse_examples(decode_bytes(raw, name, limits), name, task, columns, known_labels, limits)


def _find(folder: Path, stems: tuple[str, ...]) -> Path | None:
    for stem in stems:
        for suffix in SUFFIXES:
            p = folder / f"{stem}{suffix}"
            if p.is_file():
                return p
    return None


def find_split_files(folder: Path, task: str) -> tuple[Path, Path | None]:
    """Train and validation files of a task in `folder` or its task subfolder."""
    if not folder.is_dir():
        raise DataError("data folder not found", file=str(folder))
    candidates = [folder / sub for sub in TASK_FOLDERS[task]] + [folder]
    for cand in candidates:
        train = _find(cand, TRAIN_NAMES) if cand.is_dir() else None
        if train:
            return train, _find(cand, VAL_NAMES)
    raise DataError(
        f"no train file (train.tsv, train.txt, ...) for {task} here or in "
        f"{', '.join(TASK_FOLDERS[task])}/",
        file=str(folder),
    )


def holdout_split(examples: list[Example], fraction: float = HOLDOUT_FRACTION
                  ) -> tuple[list[Example], list[Example]]:
    """Split off a stratified validation part when a dataset has none."""
    n_val = max(1, int(round(len(examples) * fraction)))
    val = subsample(examples, n_val, HOLDOUT_SEED)
    chosen = {id(ex) for ex in val}
    return [ex for ex in examples if id(ex) not in chosen], val


def _stratum(ex: Example) -> object:
    """The stratum of an example: its class, its integer score bucket, or none (NER)."""
    label = getattr(ex, "label", None)
    if isinstance(label, float) and not label.is_integer():
        return min(int(label), 4)
    return label


def subsample(examples: Sequence[Example], n: int, seed: int) -> list[Example]:
    """`n` examples drawn without replacement, keeping class (or score bucket) proportions.

    Order of the result follows the original order, so a subsample is reproducible.
    """
    if n >= len(examples):
        return list(examples)
    rng = random.Random(seed)
    strata: dict[object, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        strata[_stratum(ex)].append(i)
    keys = sorted(strata, key=repr)
    quotas = {k: len(strata[k]) * n // len(examples) for k in keys}
    short = n - sum(quotas.values())
    by_remainder = sorted(keys, key=lambda k: -(len(strata[k]) * n % len(examples)))
    for k in by_remainder[:short]:
        quotas[k] += 1
    picked: list[int] = []
    for k in keys:
        picked += rng.sample(strata[k], quotas[k])
    return [examples[i] for i in sorted(picked)]


def stratified_order(examples: Sequence[Example], seed: int) -> list[int]:
    """Indices of all `examples` in an order whose every prefix is a stratified subsample.

    Each stratum (class or score bucket) is shuffled; position after position, the stratum
    furthest below its share of the prefix gives its next member. The first n indices then
    hold each stratum within one example of its share, and the first 25 are inside the first
    50 (nested subsamples for learning curves).
    """
    rng = random.Random(seed)
    strata: dict[object, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        strata[_stratum(ex)].append(i)
    keys = sorted(strata, key=repr)
    for k in keys:
        rng.shuffle(strata[k])
    tie = {k: rng.random() for k in keys}  # equal deficits: a seeded, fixed preference
    total, taken = len(examples), dict.fromkeys(keys, 0)
    order: list[int] = []
    for n in range(1, total + 1):
        k = max((k for k in keys if taken[k] < len(strata[k])),
                key=lambda k: (n * len(strata[k]) / total - taken[k], tie[k]))
        order.append(strata[k][taken[k]])
        taken[k] += 1
    return order


def nested_subsample(examples: Sequence[Example], n: int, seed: int) -> list[Example]:
    """The first `n` examples of `stratified_order`: stratified, and nested across `n`."""
    return [examples[i] for i in stratified_order(examples, seed)[:n]]


def resolve_files(task: str, data: str = "bundled", train_file: str | None = None,
                  eval_file: str | None = None) -> tuple[Path, Path | None, str]:
    """The files `load_task_data` reads for these settings, found without reading them: the
    training file, the validation file (None: a part of the training file is held out) and
    the source's name. Not for Hub data (`hub:NAME`); raises DataError when none is found."""
    if train_file is not None:
        train_path, val_path = Path(train_file), None
        source = train_path.name
    else:
        folder = bundled_data_dir(task) if data == "bundled" else Path(data)
        if data != "bundled" and folder.is_file():
            train_path, val_path, source = folder, None, folder.name
        else:
            train_path, val_path = find_split_files(folder, task)
            source = "bundled" if data == "bundled" else str(train_path.parent)
    if eval_file is not None:
        val_path = Path(eval_file)
    return train_path, val_path, source


def load_task_data(
    task: str,
    data: str = "bundled",
    train_file: str | None = None,
    eval_file: str | None = None,
    *,
    max_train: int | None = None,
    max_eval: int | None = None,
    seed: int = 0,
    columns: ColumnMap = GUESS_COLUMNS,
    limits: Limits = DEFAULT_LIMITS,
) -> TaskData:
    """Resolve a data source to train and validation examples.

    `data` is `bundled`, a folder (with train/dev files, or the `../shared/data` layout), a
    single file (a validation part is held out when no `eval_file` is given) or `hub:NAME`.
    `train_file` / `eval_file` override the files found from `data`.
    """
    notes: list[str] = []
    if train_file is None and data.startswith("hub:"):
        return _load_hub(task, data[4:], max_train, max_eval, seed, columns, limits)
    train_path, val_path, source = resolve_files(task, data, train_file, eval_file)
    train, names = load_file(train_path, task, columns, None, limits)
    if val_path is not None:
        val, _ = load_file(val_path, task, columns, names or None, limits)
    else:
        train, val = holdout_split(train)
        notes.append(f"no validation file: held out {len(val)} training examples for validation")
    return _finish(TaskData(task, train, val, names, source, notes), max_train, max_eval, seed)


def _load_hub(task: str, name: str, max_train: int | None, max_eval: int | None, seed: int,
              columns: ColumnMap, limits: Limits) -> TaskData:
    from bertviz_lite.data.hub import load_hub_tables

    train_t, val_t = load_hub_tables(name, limits.max_rows)
    if task == "ner":
        from bertviz_lite.data.labels import jsonl_token_sentences

        train, names = token_examples(jsonl_token_sentences(train_t, columns), train_t.name,
                                      None, limits, False)
        val = (token_examples(jsonl_token_sentences(val_t, columns), val_t.name, names, limits,
                              False)[0]
               if val_t else [])
    else:
        train, names = table_examples(train_t, task, columns, None, limits)
        val = table_examples(val_t, task, columns, names or None, limits)[0] if val_t else []
    notes = []
    if not val:
        train, val = holdout_split(train)
        notes.append(f"no validation split: held out {len(val)} training examples")
    return _finish(TaskData(task, train, val, names, f"hub:{name}", notes), max_train, max_eval, seed)


def _finish(data: TaskData, max_train: int | None, max_eval: int | None, seed: int) -> TaskData:
    """Apply the subsample limits and log the result."""
    if max_train is not None and max_train < len(data.train):
        data.notes.append(f"training on a stratified subsample of {max_train} of {len(data.train)}")
        data.train = subsample(data.train, max_train, seed)
    if max_eval is not None and max_eval < len(data.val):
        data.notes.append(f"validating on {max_eval} of {len(data.val)} examples")
        data.val = subsample(data.val, max_eval, HOLDOUT_SEED)
    if not data.train:
        raise DataError("no training examples left", file=data.source)
    log.info("%s", data.summary())
    return data


def parse_upload(task: str, name: str, raw: bytes, limits: Limits = DEFAULT_LIMITS) -> TaskData:
    """An uploaded file -> TaskData with a held-out validation part.

    The data's source never names the file: records (and a shared run cache) carry only the
    content's fingerprint, so nothing about one student's upload reaches another.
    """
    examples, labels = load_bytes(raw, name, task, limits=limits)
    if len(examples) < 5:
        raise DataError(f"only {len(examples)} examples; upload at least 5 (20% are held out "
                        "for validation)", file=name)
    train, val = holdout_split(examples)
    return TaskData(task, train, val, labels, source="uploaded file",
                    notes=[f"uploaded file: held out {len(val)} examples for validation"])
