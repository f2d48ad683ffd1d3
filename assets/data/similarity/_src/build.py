#!/usr/bin/env python3
"""Build train.tsv / dev.tsv for the bertviz-lite similarity set from the
hand-written pair lists in this folder.

Source line format:  KIND SCORE || sentence1 || sentence2
  KIND: p = paraphrase with low word overlap, o = high word overlap but a
  changed meaning, n = ordinary pair.  Lines starting with '#' are comments.
The kind tag is only used for the data card statistics; it is not exported.
"""
import random
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent
GENRES = {"captions": "main-captions", "news": "main-news", "forum": "main-forum"}
HEADER = ["index", "genre", "filename", "year", "old_index",
          "source1", "source2", "sentence1", "sentence2", "score"]
SEED = 2026


def load(split):
    rows = []
    for key, genre in GENRES.items():
        path = HERE / f"{split}_{key}.txt"
        for ln, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            head, s1, s2 = [x.strip() for x in line.split("||")]
            kind, score = head.split()
            assert kind in "pon", (path, ln)
            rows.append(dict(genre=genre, kind=kind, score=float(score),
                             s1=s1, s2=s2, where=f"{path.name}:{ln}"))
    return rows


def words(s):
    return len(s.split())


def main():
    problems = []
    splits = {s: load(s) for s in ("train", "dev")}
    sentences = {}
    for split, rows in splits.items():
        seen = set()
        sents = Counter()
        for r in rows:
            for s in (r["s1"], r["s2"]):
                if not 5 <= words(s) <= 30:
                    problems.append(f"{r['where']}: {words(s)} words: {s}")
                if "\t" in s or '"' in s:
                    problems.append(f"{r['where']}: tab or double quote: {s}")
                sents[s.lower()] += 1
            key = frozenset((r["s1"].lower(), r["s2"].lower()))
            if key in seen:
                problems.append(f"{r['where']}: duplicate pair")
            seen.add(key)
            if r["s1"].lower() == r["s2"].lower():
                problems.append(f"{r['where']}: identical sentences")
            if not 0 <= r["score"] <= 5:
                problems.append(f"{r['where']}: score out of range")
        for s, c in sents.items():
            if c > 1:
                problems.append(f"{split}: sentence used {c} times: {s}")
        sentences[split] = set(sents)
    for s in sentences["train"] & sentences["dev"]:
        problems.append(f"sentence in both splits: {s}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)

    old = 0
    for split in ("train", "dev"):
        rows = splits[split]
        for r in rows:
            r["old"] = old
            old += 1
        rng = random.Random(f"{SEED}-{split}")
        rng.shuffle(rows)
        with open(OUT / f"{split}.tsv", "w", encoding="utf-8", newline="\n") as f:
            f.write("\t".join(HEADER) + "\n")
            for i, r in enumerate(rows):
                f.write("\t".join([str(i), r["genre"], "bertviz-lite", "2026",
                                   f"{r['old']:04d}", "none", "none",
                                   r["s1"], r["s2"], f"{r['score']:.3f}"]) + "\n")
        buckets = Counter(min(int(r["score"]), 4) for r in rows)
        kinds = Counter(r["kind"] for r in rows)
        genres = Counter(r["genre"] for r in rows)
        print(split, len(rows), "buckets", [buckets[b] for b in range(5)],
              "kinds", dict(kinds), "genres", dict(genres),
              "tricky %.1f%%" % (100 * (kinds["p"] + kinds["o"]) / len(rows)))
        for g in GENRES.values():
            gb = Counter(min(int(r["score"]), 4) for r in rows if r["genre"] == g)
            print("   ", g, [gb[b] for b in range(5)])


if __name__ == "__main__":
    main()
