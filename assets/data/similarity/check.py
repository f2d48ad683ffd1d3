#!/usr/bin/env python3
"""Validate the bertviz-lite similarity set (train.tsv, dev.tsv).

Standalone, standard library only.  Usage:

    python3 check.py [DATA_DIR]

DATA_DIR defaults to the folder this script lives in.  Prints a summary and a
score histogram per split; exits with status 1 if any check fails.
"""
import re
import sys
from collections import Counter
from pathlib import Path

HEADER = ["index", "genre", "filename", "year", "old_index",
          "source1", "source2", "sentence1", "sentence2", "score"]
GENRES = {"main-news", "main-captions", "main-forum"}
EXPECTED = {"train": 480, "dev": 120}
BUCKETS = ["[0,1)", "[1,2)", "[2,3)", "[3,4)", "[4,5]"]
TOLERANCE = 0.15          # each bucket within +-15% of count / 5
MIN_WORDS, MAX_WORDS = 5, 30
SCORE_RE = re.compile(r"^\d\.\d{3}$")

errors = []


def fail(msg):
    errors.append(msg)


def bucket(score):
    return min(int(score), 4)


def norm(sentence):
    return " ".join(sentence.lower().split())


def read_split(path, split):
    raw = path.read_bytes()
    if b"\r" in raw:
        fail(f"{path.name}: contains CR characters (line endings must be LF)")
    if not raw.endswith(b"\n"):
        fail(f"{path.name}: last line is not terminated by LF")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"{path.name}: not valid UTF-8 ({exc})")
        return []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        fail(f"{path.name}: empty file")
        return []
    if lines[0].split("\t") != HEADER:
        fail(f"{path.name}: bad header {lines[0]!r}")
    rows = []
    old_seen = set()
    for ln, line in enumerate(lines[1:], start=2):
        where = f"{path.name}:{ln}"
        fields = line.split("\t")
        if len(fields) != 10:
            fail(f"{where}: expected 10 fields, got {len(fields)}")
            continue
        idx, genre, fname, year, old, src1, src2, s1, s2, score = fields
        if idx != str(ln - 2):
            fail(f"{where}: index {idx!r}, expected {ln - 2}")
        if genre not in GENRES:
            fail(f"{where}: unknown genre {genre!r}")
        if fname != "bertviz-lite":
            fail(f"{where}: filename {fname!r}")
        if year != "2026":
            fail(f"{where}: year {year!r}")
        if not re.fullmatch(r"\d{4}", old):
            fail(f"{where}: old_index {old!r} is not a 4-digit counter")
        elif old in old_seen:
            fail(f"{where}: old_index {old} repeated")
        old_seen.add(old)
        if src1 != "none" or src2 != "none":
            fail(f"{where}: source1/source2 must be 'none'")
        for s in (s1, s2):
            if s != s.strip() or not s:
                fail(f"{where}: empty sentence or surrounding whitespace")
            if '"' in s:
                fail(f"{where}: double quote inside sentence")
            n = len(s.split())
            if not MIN_WORDS <= n <= MAX_WORDS:
                fail(f"{where}: sentence has {n} words: {s!r}")
        if norm(s1) == norm(s2):
            fail(f"{where}: sentence1 and sentence2 are identical")
        if not SCORE_RE.match(score):
            fail(f"{where}: score {score!r} is not written with 3 decimals")
        try:
            value = float(score)
        except ValueError:
            fail(f"{where}: score {score!r} is not a number")
            continue
        if not 0.0 <= value <= 5.0:
            fail(f"{where}: score {value} outside [0, 5]")
            continue
        rows.append({"where": where, "genre": genre, "old": old,
                     "s1": s1, "s2": s2, "score": value})
    if len(rows) != EXPECTED[split]:
        fail(f"{path.name}: {len(rows)} valid pairs, expected {EXPECTED[split]}")
    return rows


def check_split(split, rows):
    # duplicate pairs (order-insensitive, case/whitespace-insensitive)
    seen = {}
    for r in rows:
        key = frozenset((norm(r["s1"]), norm(r["s2"])))
        if key in seen:
            fail(f"{r['where']}: duplicate of pair at {seen[key]}")
        else:
            seen[key] = r["where"]
    # bucket balance
    counts = Counter(bucket(r["score"]) for r in rows)
    target = len(rows) / 5
    for b in range(5):
        if abs(counts[b] - target) > TOLERANCE * target:
            fail(f"{split}: bucket {BUCKETS[b]} has {counts[b]} pairs, "
                 f"expected {target:.0f} +- {TOLERANCE:.0%}")
    # all three genres present
    genres = Counter(r["genre"] for r in rows)
    for g in sorted(GENRES):
        if genres[g] == 0:
            fail(f"{split}: no pairs of genre {g}")
    return counts, genres, seen


def report(split, rows, counts, genres):
    print(f"{split}: {len(rows)} pairs, "
          + ", ".join(f"{g} {genres[g]}" for g in sorted(genres)))
    width = max(counts.values()) if counts else 1
    for b in range(5):
        bar = "#" * round(40 * counts[b] / width)
        print(f"  {BUCKETS[b]:>6} {counts[b]:4d} {bar}")
    scores = [r["score"] for r in rows]
    if scores:
        print(f"  mean {sum(scores) / len(scores):.3f}, "
              f"distinct values {len(set(scores))}")


def main():
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    results = {}
    for split in ("train", "dev"):
        path = data_dir / f"{split}.tsv"
        if not path.is_file():
            fail(f"missing {path}")
            continue
        rows = read_split(path, split)
        counts, genres, pairs = check_split(split, rows)
        results[split] = (rows, counts, genres, pairs)

    if len(results) == 2:
        train_rows, _, _, train_pairs = results["train"]
        dev_rows, _, _, dev_pairs = results["dev"]
        for key in set(train_pairs) & set(dev_pairs):
            fail(f"pair in both splits: {train_pairs[key]} and {dev_pairs[key]}")
        train_sents = {norm(s) for r in train_rows for s in (r["s1"], r["s2"])}
        for r in dev_rows:
            for s in (r["s1"], r["s2"]):
                if norm(s) in train_sents:
                    fail(f"{r['where']}: sentence also used in train: {s!r}")
        old_train = {r["old"] for r in train_rows}
        for r in dev_rows:
            if r["old"] in old_train:
                fail(f"{r['where']}: old_index {r['old']} also used in train")

    for split, (rows, counts, genres, _) in results.items():
        report(split, rows, counts, genres)

    if errors:
        print(f"\nFAILED: {len(errors)} problem(s)")
        for e in errors[:200]:
            print("  " + e)
        sys.exit(1)
    print("\nOK: all checks passed")


if __name__ == "__main__":
    main()
