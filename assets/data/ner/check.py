#!/usr/bin/env python3
"""Validate the bertviz-lite NER data (train.txt, dev.txt). Standard library only.

Usage:  python3 check.py            (looks next to this script)
        python3 check.py DIR        (looks in DIR)
Exit status 0 when every check passes, 1 otherwise.
"""
import sys
from collections import Counter
from pathlib import Path

TYPES = ("PER", "LOC", "ORG", "MISC")
TAGS = {"O"} | {p + t for t in TYPES for p in ("B-", "I-")}
EXPECTED = {"train.txt": 480, "dev.txt": 120}
MIN_LEN, MAX_LEN = 6, 35

errors = []


def err(msg):
    errors.append(msg)


def read(path):
    """Return a list of sentences; each is a list of (token, tag, line_no)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        err("%s: not valid UTF-8 (%s)" % (path.name, e))
        return []
    if text.startswith("\ufeff"):
        err("%s: starts with a byte-order mark" % path.name)
    if "\r" in text:
        err("%s: contains CR characters (line endings must be LF)" % path.name)
    if not text.endswith("\n") or text.endswith("\n\n"):
        err("%s: must end with exactly one newline after the last token line" % path.name)
    if text.startswith("\n"):
        err("%s: starts with a blank line" % path.name)
    sents, cur = [], []
    prev_blank = False
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line == "":
            if prev_blank:
                err("%s:%d: more than one blank line between sentences" % (path.name, n))
            if cur:
                sents.append(cur)
            cur = []
            prev_blank = True
            continue
        prev_blank = False
        fields = line.split("\t")
        if len(fields) != 2:
            err("%s:%d: expected TOKEN<TAB>TAG, got %d field(s): %r" % (path.name, n, len(fields), line))
            continue
        tok, tag = fields
        if tok == "" or tok != tok.strip() or any(c.isspace() for c in tok):
            err("%s:%d: empty token or token with whitespace: %r" % (path.name, n, tok))
        if tok.startswith("-DOCSTART-"):
            err("%s:%d: -DOCSTART- lines are not allowed" % (path.name, n))
        if tag not in TAGS:
            err("%s:%d: unknown tag %r" % (path.name, n, tag))
        cur.append((tok, tag, n))
    if cur:
        sents.append(cur)
    return sents


def check_bio(name, sent):
    prev = "O"
    for tok, tag, n in sent:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            err("%s:%d: %s after %s (IOB2 violation) at token %r" % (name, n, tag, prev, tok))
        prev = tag


def mentions(sent):
    return [tag[2:] for _, tag, _ in sent if tag.startswith("B-")]


def main():
    base = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    keys = {}
    per_file = {}
    for name, want in EXPECTED.items():
        path = base / name
        if not path.is_file():
            err("%s: missing" % path)
            continue
        sents = read(path)
        per_file[name] = sents
        if len(sents) != want:
            err("%s: %d sentences, expected %d" % (name, len(sents), want))
        seen = {}
        for s in sents:
            check_bio(name, s)
            if not MIN_LEN <= len(s) <= MAX_LEN:
                err("%s:%d: sentence has %d tokens (allowed %d-%d)"
                    % (name, s[0][2], len(s), MIN_LEN, MAX_LEN))
            key = " ".join(t for t, _, _ in s)
            if key in seen:
                err("%s:%d: duplicate of sentence at line %d" % (name, s[0][2], seen[key]))
            else:
                seen[key] = s[0][2]
        keys[name] = seen
    if len(keys) == 2:
        both = set(keys["train.txt"]) & set(keys["dev.txt"])
        for k in sorted(both):
            err("sentence in both train.txt (line %d) and dev.txt (line %d): %s"
                % (keys["train.txt"][k], keys["dev.txt"][k], k))

    # report
    total = Counter()
    for name, sents in per_file.items():
        c = Counter()
        has = Counter()
        empty = 0
        for s in sents:
            m = mentions(s)
            c.update(m)
            has.update(set(m))
            empty += not m
        total.update(c)
        n = max(len(sents), 1)
        ntok = sum(len(s) for s in sents)
        print("%s: %d sentences, %d tokens, %d mentions, %d sentences without entities (%.1f%%)"
              % (name, len(sents), ntok, sum(c.values()), empty, 100.0 * empty / n))
        for t in TYPES:
            print("  %-4s %4d mentions (%4.1f%%)  in %4.1f%% of sentences"
                  % (t, c[t], 100.0 * c[t] / max(sum(c.values()), 1), 100.0 * has[t] / n))
    print("all:  " + ", ".join("%s %d" % (t, total[t]) for t in TYPES)
          + ", total %d" % sum(total.values()))

    if errors:
        for e in errors[:50]:
            print("ERROR:", e)
        if len(errors) > 50:
            print("... and %d more errors" % (len(errors) - 50))
        print("FAILED (%d errors)" % len(errors))
        return 1
    print("OK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
