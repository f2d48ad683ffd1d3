#!/usr/bin/env python3
"""Validate the bertviz-lite paraphrase data (GLUE MRPC format).

Usage: python3 check.py [DATA_DIR]   (defaults to the directory of this script)
Exits with status 0 if every check passes, 1 otherwise. Standard library only.
"""
import collections
import os
import sys

HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
EXPECTED = {"train.tsv": {"0": 240, "1": 240}, "dev.tsv": {"0": 60, "1": 60}}
MIN_WORDS, MAX_WORDS = 8, 35   # soft limits: reported as warnings
MAX_SENTENCE_REUSE = 2         # soft limit: a sentence may appear in at most this many pairs

errors, warnings = [], []


def err(msg):
    errors.append(msg)


def load(path):
    name = os.path.basename(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw.startswith(b"\xef\xbb\xbf"):
        err(f"{name}: starts with a UTF-8 BOM")
    if b"\r" in raw:
        err(f"{name}: contains CR characters (LF line endings required)")
    if not raw.endswith(b"\n"):
        err(f"{name}: last line is not terminated by LF")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        err(f"{name}: not valid UTF-8 ({e})")
        return []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != HEADER:
        err(f"{name}: bad header {lines[0]!r}" if lines else f"{name}: empty file")
        return []
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 5:
            err(f"{name}:{n}: expected 5 fields, got {len(fields)}")
            continue
        label, id1, id2, s1, s2 = fields
        if label not in ("0", "1"):
            err(f"{name}:{n}: label {label!r} not in {{0,1}}")
        for i in (id1, id2):
            if not (i.isdigit() and int(i) > 0 and not i.startswith("0")):
                err(f"{name}:{n}: id {i!r} is not a positive integer")
        for s in (s1, s2):
            if not s or s != s.strip():
                err(f"{name}:{n}: empty sentence or leading/trailing whitespace")
            if s.startswith('"') and s.endswith('"'):
                err(f"{name}:{n}: sentence looks quoted")
            w = len(s.split())
            if not MIN_WORDS <= w <= MAX_WORDS:
                warnings.append(f"{name}:{n}: sentence has {w} words: {s!r}")
        if s1 == s2:
            err(f"{name}:{n}: both sentences are identical")
        rows.append((name, n, label, id1, id2, s1, s2))
    return rows


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    data = {}
    for fname, want in EXPECTED.items():
        path = os.path.join(base, fname)
        if not os.path.isfile(path):
            err(f"missing file {path}")
            continue
        rows = load(path)
        data[fname] = rows
        counts = collections.Counter(r[2] for r in rows)
        if dict(counts) != want:
            err(f"{fname}: label counts {dict(counts)} != expected {want}")
        print(f"{fname}: {len(rows)} pairs, label counts {dict(sorted(counts.items()))}")

    all_rows = [r for rows in data.values() for r in rows]

    # ids: unique across both files, and one id per sentence text
    id_seen = {}
    for name, n, _, id1, id2, s1, s2 in all_rows:
        for i, s in ((id1, s1), (id2, s2)):
            if i in id_seen:
                err(f"{name}:{n}: id {i} reused (first at {id_seen[i]})")
            else:
                id_seen[i] = f"{name}:{n}"

    # duplicate pairs inside a file (either order), and overlap between files
    keys = {}
    for name, n, _, _, _, s1, s2 in all_rows:
        k = frozenset((s1.lower(), s2.lower()))
        if k in keys:
            other = keys[k]
            kind = "train/dev overlap" if other.split(":")[0] != name else "duplicate pair"
            err(f"{name}:{n}: {kind} with {other}")
        else:
            keys[k] = f"{name}:{n}"

    # sentence reuse (soft) and sentences shared between train and dev (hard)
    uses = collections.defaultdict(list)
    for name, n, _, _, _, s1, s2 in all_rows:
        for s in (s1, s2):
            uses[s.lower()].append(name)
    for s, where in uses.items():
        if len(where) > MAX_SENTENCE_REUSE:
            warnings.append(f"sentence used in {len(where)} pairs: {s!r}")
        if len(set(where)) > 1:
            err(f"sentence appears in both train and dev: {s!r}")

    for w in warnings:
        print("WARNING:", w)
    for e in errors:
        print("ERROR:", e)
    print(f"{len(errors)} error(s), {len(warnings)} warning(s)")
    print("PASS" if not errors else "FAIL")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
