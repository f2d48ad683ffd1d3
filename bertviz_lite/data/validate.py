"""One validation point per kind of bad input: text, JSON, class labels, NER tags, file kinds.

Every loader calls these, so a problem is refused the same way whatever the file format, with
a message that names the file, the line and the value.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from bertviz_lite.data.examples import DataError

MAX_LABEL_DIGITS = 9  # a class number with more digits is not a class number
MAX_JSON_DEPTH = 64  # nesting beyond this is never a data row
_NUMBER = re.compile(r"^[+-]?(\d+)(?:\.(\d*))?$")
_FRACTION = re.compile(r"^[+-]?(\d+\.\d*|\.\d+)(e[+-]?\d+)?$", re.IGNORECASE)
_TAG = re.compile(r"^(O|[BIES]-\S+)$")
_WORDS = {2: "two", 3: "three"}
_INVISIBLE = ("Cf", "Cc", "Cs", "Zs", "Zl", "Zp", "Mn", "Me")


def _short(value: object, n: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "...'"


# -- text ---------------------------------------------------------------------------------
def text_problem(value: str, need_visible: bool = True) -> str | None:
    """Why a text cannot be tokenised, or None: a lone surrogate, or (for a sentence, not a
    single NER token, which may be an emoji's variation selector) no visible character."""
    for ch in value:
        if "\ud800" <= ch <= "\udfff":
            return (f"contains an unpaired surrogate (U+{ord(ch):04X}), which is not valid "
                    "Unicode text; fix that character (often a broken \\u escape) and try again")
    if need_visible and not any(unicodedata.category(ch) not in _INVISIBLE for ch in value):
        return "has no visible characters (only spaces or zero-width characters)"
    return None


def visible_words(text: str) -> list[str]:
    """Whitespace-split words, leaving out words made only of invisible characters."""
    return [w for w in text.split() if text_problem(w) is None]


# -- JSON -----------------------------------------------------------------------------------
def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dup = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
    if dup is not None:
        raise _DuplicateKey(dup)
    return dict(pairs)


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _depth(text: str) -> int:
    """Deepest bracket nesting outside strings (a cheap pre-check, linear in the text)."""
    depth = best = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
        elif ch in "]}":
            depth -= 1
    return best


def parse_json(text: str, name: str, line: int | None = None) -> Any:
    """JSON text -> value, or a one-line DataError (bad syntax, nesting, huge numbers, duplicate
    keys); never a RecursionError."""
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _depth(text) > MAX_JSON_DEPTH:
        raise DataError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep; a data row or a "
                        "result file is never that deep", file=name, line=line)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKey as err:
        raise DataError(f"key {err.key!r} appears twice in one JSON object; keep one",
                        file=name, line=line) from None
    except json.JSONDecodeError as err:
        where = line if line is not None else err.lineno
        raise DataError(f"not valid JSON ({err.msg})", file=name, line=where) from None
    except (ValueError, RecursionError) as err:  # a number of more than 4,300 digits
        problem = "a number has too many digits" if "digits" in str(err) else str(err)
        raise DataError(f"not usable JSON: {problem}", file=name, line=line) from None


# -- class labels -------------------------------------------------------------------------
def label_text(value: object, name: str, line: int) -> str:
    """One class label as text: `1`, `1.0` and `"1"` are the same class `1`; a null, a
    boolean, a list, a fraction or a number of many digits is refused."""
    if value is None:
        raise DataError("the label is null (empty); every example needs a label", file=name,
                        line=line)
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        raise DataError(f"label {_short(value)} is not a class; use a name or a whole number",
                        file=name, line=line)
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise _fraction(str(value), name, line)
        value = int(value)
    if isinstance(value, int):
        if abs(value) >= 10**MAX_LABEL_DIGITS:
            raise DataError(f"label {value:.3g} is too large to be a class number", file=name,
                            line=line)
        return str(value)
    text = str(value).strip()
    if not text:
        raise DataError("the label is empty; every example needs a label", file=name, line=line)
    m = _NUMBER.match(text)
    if m:
        digits, frac = m.group(1), m.group(2) or ""
        if len(digits.lstrip("0")) > MAX_LABEL_DIGITS:
            raise DataError(f"label {text[:12]!r}... has {len(digits):,} digits; that is not a "
                            "class number", file=name, line=line)
        if frac.strip("0"):
            raise _fraction(text, name, line)
        return str(int(digits) * (-1 if text.startswith("-") else 1))
    if _FRACTION.match(text):
        raise _fraction(text, name, line)
    return text


def _fraction(text: str, name: str, line: int) -> DataError:
    return DataError(f"label {text[:40]!r} is a fraction, not a class; classification labels "
                     "are names or whole numbers (the similarity task reads scores)",
                     file=name, line=line)


def is_class_number(text: str) -> bool:
    """Whether a normalised label is a class number like `0` (not a name like `pos`)."""
    return text.lstrip("-").isdigit()


def check_label_kinds(raw: Sequence[tuple[int, str]], name: str) -> None:
    """Refuse labels that mix numbers and names (`pos`, `neg`, `0`, `1` are not four classes)."""
    numbers = [(ln, v) for ln, v in raw if is_class_number(v)]
    names = [(ln, v) for ln, v in raw if not is_class_number(v)]
    if numbers and names:
        odd = min(numbers, names, key=len)[0]
        usual = max(numbers, names, key=len)[0]
        raise DataError(
            f"label {odd[1][:40]!r} mixes kinds: other lines use {'names' if odd in numbers else 'numbers'} "
            f"such as {usual[1][:40]!r} (line {usual[0]}); use one kind of label throughout",
            file=name, line=odd[0])


def check_class_count(raw: Sequence[tuple[int, str]], limit: int, task: str, name: str) -> None:
    """Refuse more distinct labels than the task can have; names the first one over."""
    seen: list[str] = []
    for line, value in raw:
        if value not in seen:
            seen.append(value)
            if len(seen) > limit:
                raise DataError(
                    f"label {value[:40]!r} is class number {len(seen)}, but {task} has at most "
                    f"{_WORDS.get(limit, str(limit))} classes (the others: {seen[:limit]}); is "
                    "the label column right?",
                    file=name, line=line)


# -- NER tags -------------------------------------------------------------------------------
def check_tag(tag: object, name: str, line: int) -> str:
    """One NER tag: a BIO/IOB1/IOBES tag name (`O`, `B-PER`, `I-LOC`), else a clear error."""
    if isinstance(tag, (int, float)) and not isinstance(tag, bool):
        raise DataError(
            f"tag {tag!r} is a number; give tag names such as O, B-PER, I-LOC (a dataset that "
            "stores tag ids needs them turned back into their names)", file=name, line=line)
    if not isinstance(tag, str) or not _TAG.match(tag.strip()):
        raise DataError(
            f"tag {_short(tag)} is not a BIO tag: use O, B-TYPE or I-TYPE (e.g. B-PER)",
            file=name, line=line)
    return tag.strip()


# -- which task a file belongs to ---------------------------------------------------------------
def looks_like_conll(text: str) -> bool:
    """Whether most of the first lines are `token ... TAG` columns (CoNLL NER data)."""
    lines = [ln for ln in text.split("\n")[:200] if ln.strip() and not ln.startswith("-DOCSTART-")]
    lines = lines[:30]
    if len(lines) < 2:
        return False
    tagged = sum(1 for ln in lines
                 if len(cols := ln.split()) >= 2 and _TAG.match(cols[-1]) is not None)
    return tagged >= 0.8 * len(lines)


def refuse_conll_for(task: str, text: str, name: str) -> None:
    """A CoNLL file given to a sentence or pair task: say which task reads it."""
    if looks_like_conll(text):
        raise DataError(f"this looks like a CoNLL file (one token and its tag per line); the "
                        f"ner task reads it, the {task} task needs a table with a header",
                        file=name, line=1)


def refuse_pairs_for(task: str, header: Sequence[str], pair_columns: Sequence[str],
                     name: str) -> None:
    """A file of sentence pairs given to a one-sentence task (e.g. MRPC for sentiment)."""
    lower = {h.lower(): h for h in header}
    col = next((lower[c] for c in pair_columns if c in lower), None)
    if col is not None:
        raise DataError(f"the file has a second-sentence column {col!r}: it holds sentence "
                        f"pairs (paraphrase or similarity data), but {task} reads one sentence "
                        "per example", file=name, line=1)
