#!/usr/bin/env python3
"""Validate the bertviz-lite sentiment dataset (train.tsv and dev.tsv).

The files must follow the GLUE SST-2 layout: UTF-8, LF line endings, a
``sentence<TAB>label`` header, then one ``<sentence><TAB><label>`` line per
example with label 0 (negative) or 1 (positive).

Checks:
  * header is exactly ``sentence\\tlabel``
  * every line has exactly 2 tab-separated fields (so no tabs inside fields)
  * no CR characters, no empty sentences, no leading/trailing whitespace
  * labels are in {0, 1}
  * train.tsv has 480 examples (240 per label), dev.tsv has 120 (60 per label)
  * no duplicate sentences within a split, and no sentence in both splits

Usage: python3 check.py [DATA_DIR]   (defaults to this script's directory)
Exit status is 0 when every check passes, 1 otherwise.
"""
import sys
from collections import Counter
from pathlib import Path

EXPECTED = {"train.tsv": (480, 240), "dev.tsv": (120, 60)}
HEADER = "sentence\tlabel"


def load(path, errors):
    """Read one split, appending problems to ``errors``; return the sentences with labels."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        errors.append(f"{path.name}: not valid UTF-8 ({exc})")
        return []
    if "\r" in text:
        errors.append(f"{path.name}: contains CR characters (must use LF line endings)")
    if not text.endswith("\n"):
        errors.append(f"{path.name}: last line is not terminated by a newline")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != HEADER:
        errors.append(f"{path.name}: header must be {HEADER!r}, got {lines[0] if lines else ''!r}")
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 2:
            errors.append(f"{path.name}:{lineno}: expected 2 tab-separated fields, got {len(fields)}")
            continue
        sentence, label = fields
        if not sentence.strip():
            errors.append(f"{path.name}:{lineno}: empty sentence")
        elif sentence != sentence.strip():
            errors.append(f"{path.name}:{lineno}: leading/trailing whitespace in sentence")
        if label not in ("0", "1"):
            errors.append(f"{path.name}:{lineno}: label must be 0 or 1, got {label!r}")
        rows.append((lineno, sentence, label))
    return rows


def main():
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    errors = []
    splits = {}
    for name, (total, per_label) in EXPECTED.items():
        path = data_dir / name
        if not path.is_file():
            errors.append(f"{name}: missing")
            continue
        rows = load(path, errors)
        splits[name] = rows
        counts = Counter(label for _, _, label in rows)
        if len(rows) != total:
            errors.append(f"{name}: expected {total} examples, got {len(rows)}")
        for label in ("0", "1"):
            if counts[label] != per_label:
                errors.append(f"{name}: expected {per_label} examples with label {label}, got {counts[label]}")
        seen = {}
        for lineno, sentence, _ in rows:
            if sentence in seen:
                errors.append(f"{name}:{lineno}: duplicate of line {seen[sentence]}: {sentence!r}")
            else:
                seen[sentence] = lineno
        print(f"{name}: {len(rows)} examples, label 0: {counts['0']}, label 1: {counts['1']}")

    if "train.tsv" in splits and "dev.tsv" in splits:
        train = {s for _, s, _ in splits["train.tsv"]}
        for lineno, sentence, _ in splits["dev.tsv"]:
            if sentence in train:
                errors.append(f"dev.tsv:{lineno}: also in train.tsv: {sentence!r}")

    if errors:
        for err in errors:
            print("ERROR:", err)
        print(f"FAILED: {len(errors)} problem(s)")
        return 1
    print("OK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
