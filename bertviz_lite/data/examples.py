"""Example types, the dataset container and the error every loader raises."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field


class DataError(ValueError):
    """A data file that cannot be used; the message names the file, the line and the problem."""

    def __init__(self, problem: str, *, file: str | None = None, line: int | None = None) -> None:
        self.problem = problem
        self.file = file
        self.line = line
        where = ""
        if file is not None:
            where = f"{file}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + problem)


@dataclass(frozen=True)
class SentenceExample:
    """One sentence with a class label (sentiment)."""

    text: str
    label: int


@dataclass(frozen=True)
class PairExample:
    """Two sentences with a class label (paraphrase) or a score (similarity)."""

    text_a: str
    text_b: str
    label: float  # class index for paraphrase, score for similarity


@dataclass(frozen=True)
class TokenExample:
    """A sentence as word tokens with one tag index per word (NER)."""

    tokens: tuple[str, ...]
    tags: tuple[int, ...]


Example = SentenceExample | PairExample | TokenExample


@dataclass
class TaskData:
    """Train and validation examples of one task, with the label names they index into.

    `label_names` is empty for similarity (a regression target); for NER it holds the BIO
    tags, `O` first.
    """

    task: str
    train: list[Example]
    val: list[Example]
    label_names: list[str] = field(default_factory=list)
    source: str = ""  # human-readable origin, e.g. "bundled" or a file name
    notes: list[str] = field(default_factory=list)  # warnings worth showing (truncation...)

    def fingerprint(self) -> str:
        """Content hash of the examples and labels (a cache key that ignores file names)."""
        h = hashlib.sha256()
        h.update(json.dumps([self.task, self.label_names]).encode())
        for split in (self.train, self.val):
            for ex in split:
                h.update(repr(ex).encode("utf-8"))
            h.update(b"|")
        return h.hexdigest()[:16]

    def read_summary(self) -> str:
        """What was read, in one sentence for the student before Train: examples per split
        and the classes with their counts (tags for NER, the score range for similarity)."""
        from collections import Counter

        n_train, n_val = len(self.train), len(self.val)
        head = (f"Read {n_train + n_val:,} examples: {n_train:,} to train on, {n_val:,} held "
                f"out for validation")
        if self.task == "ner":
            tags = Counter(t for ex in self.train for t in getattr(ex, "tags", []))
            names = {i: n for i, n in enumerate(self.label_names)}
            top = ", ".join(f"{names.get(k, k)} {v:,}" for k, v in tags.most_common(6))
            return f"{head}; word tags in training: {top}."
        labels = [ex.label for ex in self.train]  # type: ignore[union-attr]
        if not self.label_names:  # similarity: a score
            if not labels:
                return head + "."
            return (f"{head}; scores from {min(labels):g} to {max(labels):g} "
                    f"(mean {sum(labels) / len(labels):.2f}).")
        counts = Counter(int(v) for v in labels)
        classes = ", ".join(f"{self.label_names[k] if k < len(self.label_names) else k} "
                            f"{counts.get(k, 0):,}" for k in range(len(self.label_names)))
        return f"{head}; classes in training: {classes}."

    def summary(self) -> str:
        """One line: task, sizes, source."""
        return f"{self.task}: {len(self.train)} train / {len(self.val)} validation ({self.source})"
