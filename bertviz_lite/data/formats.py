"""Parsers for the file formats students bring: GLUE TSV, CSV, JSONL and CoNLL columns.

Each parser turns text into raw rows, `(line_number, fields)`, without interpreting labels;
`bertviz_lite.data.labels` turns rows into typed examples for a task.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from bertviz_lite.data.examples import DataError
from bertviz_lite.data.text import DEFAULT_LIMITS, Limits, check_rows
from bertviz_lite.data.validate import check_tag, parse_json

csv.field_size_limit(2**31 - 1)

# Header names we recognise, most specific first. GLUE: SST-2 `sentence`/`label`,
# MRPC `#1 String`/`#2 String`/`Quality`, STS-B `sentence1`/`sentence2`/`score`.
TEXT_COLUMNS = ("sentence", "text", "sentence1", "#1 string", "question1", "premise", "review",
                "content", "tokens", "words")
TEXT_B_COLUMNS = ("sentence2", "#2 string", "question2", "hypothesis", "text_b", "text2")
LABEL_COLUMNS = ("label", "score", "quality", "similarity", "sentiment", "ner_tags", "tags",
                 "labels", "target")


@dataclass(frozen=True)
class ColumnMap:
    """Which columns hold the text, the second text (pairs) and the label.

    None means: guess from the header (GLUE names and common names are known).
    """

    text: str | None = None
    text_b: str | None = None
    label: str | None = None


GUESS_COLUMNS = ColumnMap()  # guess every column from the header


@dataclass
class Table:
    """Rows of a tabular file with the 1-based file line of each row."""

    name: str
    header: list[str]
    rows: list[tuple[int, dict[str, object]]]
    class_names: dict[str, list[str]] = field(default_factory=dict)  # declared label order


def sniff_kind(text: str, name: str) -> str:
    """`jsonl`, `tsv`, `csv` or `conll` from the extension, then from the first line."""
    lower = name.lower()
    first = next((ln for ln in text.split("\n") if ln.strip()), "")
    if lower.endswith((".jsonl", ".json", ".ndjson")) or first.lstrip().startswith("{"):
        return "jsonl"
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".tsv"):
        return "tsv"
    if lower.endswith((".conll", ".txt", ".iob", ".bio")):
        return "conll"
    return "tsv" if "\t" in first else "csv"


def read_delimited(text: str, name: str, kind: str, limits: Limits = DEFAULT_LIMITS) -> Table:
    """CSV (RFC 4180 quoting) or TSV (GLUE style: no quoting) with a header line."""
    if kind == "tsv":
        reader = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError("file is empty", file=name) from None
    except csv.Error as err:
        raise DataError(f"malformed {kind.upper()} header: {err}", file=name, line=1) from None
    if len(header) < 2 or any(not h for h in header):
        raise DataError(
            f"the first line should be a header naming at least two columns; got {header!r}. "
            f"{'Is this really tab-separated?' if kind == 'tsv' else 'Is this really a CSV file?'}",
            file=name,
            line=1,
        )
    _refuse_duplicate_columns(header, name)
    rows: list[tuple[int, dict[str, object]]] = []
    try:
        for fields in reader:
            line = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise DataError(
                    f"expected {len(header)} fields like the header, found {len(fields)}",
                    file=name,
                    line=line,
                )
            rows.append((line, dict(zip(header, fields))))
            check_rows(len(rows), name, limits)
    except csv.Error as err:
        raise DataError(f"malformed {kind.upper()}: {err}", file=name, line=reader.line_num) from None
    if not rows:
        raise DataError("the file has a header but no examples", file=name)
    return Table(name, header, rows)


def _refuse_duplicate_columns(header: list[str], name: str) -> None:
    """A header naming one column twice would silently use only one of them."""
    lower = [h.lower() for h in header]
    dup = next((i for i, h in enumerate(lower) if h in lower[:i]), None)
    if dup is not None:
        first = lower.index(lower[dup])
        raise DataError(f"column {header[dup]!r} appears twice in the header (columns "
                        f"{first + 1} and {dup + 1}); rename or remove one", file=name, line=1)


def read_jsonl(text: str, name: str, limits: Limits = DEFAULT_LIMITS) -> Table:
    """One JSON object per line; the header is the union of keys in file order."""
    rows: list[tuple[int, dict[str, object]]] = []
    header: dict[str, None] = {}
    for i, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        obj = parse_json(line, name, i)
        if not isinstance(obj, dict):
            raise DataError("each line must be a JSON object like {\"text\": ..., \"label\": ...}",
                            file=name, line=i)
        header.update(dict.fromkeys(obj))
        rows.append((i, obj))
        check_rows(len(rows), name, limits)
    if not rows:
        raise DataError("file has no JSON lines", file=name)
    return Table(name, list(header), rows)


def pick_column(table: Table, wanted: str | None, candidates: tuple[str, ...], role: str) -> str:
    """The header name for a role: the one asked for, else the first known name present."""
    by_lower = {h.lower(): h for h in table.header}
    if wanted is not None:
        if wanted in table.header:
            return wanted
        if wanted.lower() in by_lower:
            return by_lower[wanted.lower()]
        raise DataError(
            f"no column named {wanted!r} for the {role}; the columns are {table.header}",
            file=table.name,
            line=1,
        )
    for cand in candidates:
        if cand in by_lower:
            return by_lower[cand]
    raise DataError(
        f"cannot tell which column holds the {role}: the columns are {table.header}. "
        f"Name it {candidates[0]!r} or choose the column mapping explicitly",
        file=table.name,
        line=1,
    )


def read_conll(text: str, name: str, limits: Limits = DEFAULT_LIMITS
               ) -> list[tuple[int, list[str], list[str]]]:
    """CoNLL columns -> `(first_line, tokens, tags)` per sentence.

    The token is the first column and the tag the last; columns are split on tabs when the
    line has one (WNUT-17), else on whitespace (CoNLL-2003). `-DOCSTART-` lines are skipped.
    IOB1 tags (an `I-` that starts an entity) are converted to BIO.
    """
    sentences: list[tuple[int, list[str], list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = 0

    def flush() -> None:
        nonlocal tokens, tags
        if tokens:
            sentences.append((start, tokens, to_bio(tags)))
            check_rows(len(sentences), name, limits)
        tokens, tags = [], []

    for i, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            flush()
            continue
        if line.startswith("-DOCSTART-"):
            flush()
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        cols = [c.strip() for c in cols]
        if len(cols) < 2 or not cols[0] or not cols[-1]:
            raise DataError(
                f"expected a token and a tag separated by a tab or spaces, got {line[:60]!r}",
                file=name,
                line=i,
            )
        tag = check_tag(cols[-1], name, i)
        if not tokens:
            start = i
        tokens.append(cols[0])
        tags.append(tag)
    flush()
    if not sentences:
        raise DataError("no sentences found (expected one token and tag per line)", file=name)
    return sentences


def to_bio(tags: list[str]) -> list[str]:
    """Convert IOB1/IOBES tags to BIO (IOB2); BIO input comes back unchanged."""
    out: list[str] = []
    prev = "O"
    for tag in tags:
        if tag == "O":
            out.append(tag)
        else:
            prefix, kind = tag[0], tag[2:]
            if prefix in ("S", "B"):
                out.append("B-" + kind)
            elif prefix == "E":
                out.append(("I-" if prev[2:] == kind and prev != "O" else "B-") + kind)
            else:  # I
                out.append(("I-" if prev != "O" and prev[2:] == kind else "B-") + kind)
        prev = out[-1]
    return out
