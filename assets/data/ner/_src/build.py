#!/usr/bin/env python3
"""Build train.txt / dev.txt (CoNLL columns) from hand-annotated sources.

Source format: one sentence per line, entities marked inline as
[TYPE words of the entity], e.g.
    [PER Maria Fernanda Lopez] moved to [LOC New York] .
Lines starting with '#' and blank lines are ignored.
Tokenization follows CoNLL/PTB habits: punctuation split off, possessive
's and contractions (n't, 're, ...) split, hyphenated words kept whole.
"""
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent
TYPES = ("PER", "LOC", "ORG", "MISC")
ENT = re.compile(r"\[(PER|LOC|ORG|MISC) ([^\[\]]+)\]")
ABBR = {"Mr.", "Mrs.", "Ms.", "Dr.", "St.", "Jr.", "Sr.", "Inc.", "Co.",
        "Corp.", "Ltd.", "vs.", "No.", "Mt.", "Prof.", "Gen.", "etc."}
INITIALS = re.compile(r"^(?:[A-Za-z]\.)+$")
LEAD = set('"([{$£€')
TRAIL = set('",.;:!?)]}')
SUFFIXES = ("'s", "'m", "'re", "'ve", "'ll", "'d")


def is_abbr(w):
    return w in ABBR or bool(INITIALS.match(w))


def tokenize(text):
    out = []
    for w in text.split():
        lead = []
        while len(w) > 1 and w[0] in LEAD:
            lead.append(w[0])
            w = w[1:]
        trail = []
        while w and w[-1] in TRAIL and not is_abbr(w):
            if len(w) == 1:
                break
            trail.append(w[-1])
            w = w[:-1]
        core = [w] if w else []
        low = w.lower()
        if low.endswith("n't") and len(w) > 3:
            core = [w[:-3], w[-3:]]
        else:
            for s in SUFFIXES:
                if low.endswith(s) and len(w) > len(s):
                    core = [w[:-len(s)], w[-len(s):]]
                    break
            else:
                if w.endswith("s'") and len(w) > 2:
                    core = [w[:-1], "'"]
        out.extend(lead + core + trail[::-1])
    return out


def parse(line):
    toks, tags = [], []
    pos = 0
    for m in ENT.finditer(line):
        for t in tokenize(line[pos:m.start()]):
            toks.append(t); tags.append("O")
        et = tokenize(m.group(2))
        if not et:
            raise ValueError("empty entity")
        for i, t in enumerate(et):
            toks.append(t); tags.append(("B-" if i == 0 else "I-") + m.group(1))
        pos = m.end()
    for t in tokenize(line[pos:]):
        toks.append(t); tags.append("O")
    for t in toks:
        if "[" in t or "]" in t or "\u2019" in t or "\t" in t:
            raise ValueError("bad token %r" % t)
    return toks, tags


def load(prefix):
    sents = []
    for f in sorted(HERE.glob(prefix + "_*.src")):
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                sents.append((parse(line), "%s:%d" % (f.name, n)))
            except ValueError as e:
                sys.exit("%s:%d: %s" % (f.name, n, e))
    return sents


def mentions(tags):
    res = []
    for i, t in enumerate(tags):
        if t.startswith("B-"):
            res.append(t[2:])
    return res


def spans(toks, tags):
    res, cur = [], None
    for t, g in zip(toks, tags):
        if g.startswith("B-"):
            if cur: res.append(cur)
            cur = [g[2:], [t]]
        elif g.startswith("I-"):
            cur[1].append(t)
        else:
            if cur: res.append(cur)
            cur = None
    if cur: res.append(cur)
    return [(k, " ".join(v)) for k, v in res]


def stats(name, sents):
    n = len(sents)
    ntok = sum(len(s[0][0]) for s in sents)
    c = Counter(); has = Counter(); none = 0; dist = Counter()
    for (toks, tags), where in sents:
        ms = mentions(tags)
        c.update(ms); has.update(set(ms)); dist[len(ms)] += 1
        if not ms: none += 1
        if not 6 <= len(toks) <= 35:
            print("  LENGTH %d at %s: %s" % (len(toks), where, " ".join(toks)))
    tot = sum(c.values())
    print("%s: %d sentences, %d tokens, %d mentions, no-entity %d (%.1f%%)"
          % (name, n, ntok, tot, none, 100.0 * none / max(n, 1)))
    for t in TYPES:
        print("  %-4s %4d mentions (%.1f%%), in %.1f%% of sentences"
              % (t, c[t], 100.0 * c[t] / max(tot, 1), 100.0 * has[t] / max(n, 1)))
    print("  mentions/sentence:", dict(sorted(dist.items())))


def write(path, sents):
    blocks = ["\n".join("%s\t%s" % p for p in zip(toks, tags))
              for (toks, tags), _ in sents]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8", newline="\n")


def main():
    train, dev = load("train"), load("dev")
    key = lambda s: " ".join(s[0][0])
    seen = {}
    for s in train + dev:
        k = key(s)
        if k in seen:
            print("DUPLICATE:", s[1], seen[k], k)
        seen[k] = s[1]
    stats("train", train)
    stats("dev", dev)
    stats("all", train + dev)
    tr_names = Counter(sp for s in train for sp in spans(*s[0]))
    dv = [sp for s in dev for sp in spans(*s[0])]
    unseen = sum(1 for sp in dv if sp not in tr_names)
    print("dev mentions whose (type, string) never occurs in train: %d/%d (%.0f%%)"
          % (unseen, len(dv), 100.0 * unseen / max(len(dv), 1)))
    if "-v" in sys.argv:
        print("most frequent train mentions:", tr_names.most_common(25))
    write(OUT / "train.txt", train)
    write(OUT / "dev.txt", dev)


if __name__ == "__main__":
    main()
