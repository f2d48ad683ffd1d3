"""Turning parsed rows into typed examples of a task, checking every label on the way."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bertviz_lite.data.examples import (
    DataError,
    Example,
    PairExample,
    SentenceExample,
    TokenExample,
)
from bertviz_lite.data.formats import (
    LABEL_COLUMNS,
    TEXT_B_COLUMNS,
    TEXT_COLUMNS,
    ColumnMap,
    Table,
    pick_column,
    to_bio,
)
from bertviz_lite.data.text import DEFAULT_LIMITS, Limits, check_field
from bertviz_lite.data.validate import (
    check_class_count,
    check_label_kinds,
    check_tag,
    is_class_number,
    label_text,
    refuse_pairs_for,
)

SIMILARITY_RANGE = (0.0, 5.0)  # the STS scale
MAX_CLASSES = 20
CLASS_LIMITS = {"paraphrase": 2, "sentiment": MAX_CLASSES}  # most classes a task can have


def _text(row: dict[str, object], col: str, name: str, line: int, limits: Limits) -> str:
    value = row.get(col)
    if not isinstance(value, str):
        raise DataError(f"column {col!r} should be text, got {value!r:.40}", file=name, line=line)
    return check_field(value, name, line, f"text in column {col!r}", limits)


def class_names(raw: Sequence[tuple[int, str]], known: Sequence[str] | None, name: str) -> list[str]:
    """Label names in index order, from `(line, label)` pairs.

    Integer labels must be exactly 0..K-1 and keep their numbers; other labels are sorted (so
    `negative` < `positive`). With `known` names (from the training split) they are returned
    as they are, and each row is checked against them later.
    """
    if known:
        return list(known)
    values = sorted({v for _, v in raw})
    if len(values) < 2:
        raise DataError(
            f"every example has the label {values[0] if values else ''!r}; training needs at "
            "least two classes",
            file=name,
        )
    if all(is_class_number(v) for v in values):
        ints = sorted(int(v) for v in values)
        if ints != list(range(len(ints))):
            expected = set(range(len(ints)))
            bad = next((ln, v) for ln, v in raw if int(v) not in expected)
            raise DataError(
                f"label {bad[1]!r} is outside the labels 0..{len(ints) - 1} "
                "(integer labels must be consecutive from 0)",
                file=name,
                line=bad[0],
            )
        values = [str(i) for i in ints]
    return values


def _class_index(text: str, names: list[str], name: str, line: int, known: bool) -> int:
    if text not in names:
        whose = "the training file's labels" if known else "the task's labels"
        raise DataError(f"label {text[:40]!r} is not one of {whose} {names}; the evaluation "
                        "file must use the same labels as the training file", file=name,
                        line=line)
    return names.index(text)


def class_labels(table: Table, label_col: str, task: str) -> list[tuple[int, str]]:
    """`(line, label)` of every row, normalised and checked: one kind, not too many classes."""
    raw = [(line, label_text(row.get(label_col), table.name, line)) for line, row in table.rows]
    check_label_kinds(raw, table.name)
    check_class_count(raw, CLASS_LIMITS.get(task, MAX_CLASSES), task, table.name)
    return raw


def classification_examples(
    table: Table,
    task: str,
    columns: ColumnMap,
    known_labels: Sequence[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[list[Example], list[str]]:
    """Rows -> sentence or pair examples with class indices, and the label names."""
    pair = task == "paraphrase"
    if not pair and columns.text_b is None:
        refuse_pairs_for(task, table.header, TEXT_B_COLUMNS, table.name)
    text_col = pick_column(table, columns.text, TEXT_COLUMNS, "text")
    b_col = pick_column(table, columns.text_b, TEXT_B_COLUMNS, "second sentence") if pair else ""
    label_col = pick_column(table, columns.label, LABEL_COLUMNS, "label")
    raw = class_labels(table, label_col, task)
    names = class_names(raw, known_labels or table.class_names.get(label_col), table.name)
    if task == "paraphrase" and len(names) != 2:
        raise DataError(
            f"paraphrase labels must be two classes (0 = different, 1 = paraphrase); found {names}",
            file=table.name,
        )
    examples: list[Example] = []
    for (line, row), (_, text) in zip(table.rows, raw):
        label = _class_index(text, names, table.name, line, bool(known_labels))
        a = _text(row, text_col, table.name, line, limits)
        if pair:
            examples.append(PairExample(a, _text(row, b_col, table.name, line, limits), label))
        else:
            examples.append(SentenceExample(a, label))
    return examples, names


def similarity_examples(
    table: Table, columns: ColumnMap, limits: Limits = DEFAULT_LIMITS
) -> list[Example]:
    """Rows -> pair examples with a similarity score in [0, 5]."""
    a_col = pick_column(table, columns.text, TEXT_COLUMNS, "first sentence")
    b_col = pick_column(table, columns.text_b, TEXT_B_COLUMNS, "second sentence")
    s_col = pick_column(table, columns.label, LABEL_COLUMNS, "similarity score")
    lo, hi = SIMILARITY_RANGE
    examples: list[Example] = []
    for line, row in table.rows:
        raw = row.get(s_col, "")
        try:
            score = float(str(raw).strip())
        except ValueError:
            raise DataError(f"score {str(raw)[:40]!r} is not a number", file=table.name,
                            line=line) from None
        if not math.isfinite(score) or not lo <= score <= hi:
            raise DataError(
                f"score {score} is outside the similarity scale [{lo:g}, {hi:g}]",
                file=table.name,
                line=line,
            )
        a = _text(row, a_col, table.name, line, limits)
        b = _text(row, b_col, table.name, line, limits)
        examples.append(PairExample(a, b, score))
    return examples


def tag_names(sentences: Sequence[tuple[int, list[str], list[str]]]) -> list[str]:
    """BIO tag names, `O` first, then grouped by entity type: B-X, I-X for each X."""
    kinds = sorted({t[2:] for _, _, tags in sentences for t in tags if t != "O"})
    names = ["O"]
    for kind in kinds:
        names += [f"B-{kind}", f"I-{kind}"]
    return names


def token_examples(
    sentences: Sequence[tuple[int, list[str], list[str]]],
    name: str,
    known_tags: Sequence[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    line_per_token: bool = True,
) -> tuple[list[Example], list[str]]:
    """CoNLL sentences -> token examples with tag indices, and the tag names.

    line_per_token: CoNLL has one token a line (errors name the token's line); JSONL has a
    sentence a line.
    """
    names = list(known_tags) if known_tags else tag_names(sentences)
    index = {t: i for i, t in enumerate(names)}
    examples: list[Example] = []
    for line, tokens, tags in sentences:
        for offset, (tok, tag) in enumerate(zip(tokens, tags)):
            where = line + offset if line_per_token else line
            if tag not in index:
                raise DataError(
                    f"tag {tag!r} does not occur in the training data (its tags are {names})",
                    file=name,
                    line=where,
                )
            check_field(tok, name, where, "token", limits, need_visible=False)
        examples.append(TokenExample(tuple(tokens), tuple(index[t] for t in tags)))
    if known_tags is None and len(names) < 3:
        raise DataError("no entity tags found: every token is tagged O", file=name)
    return examples, names


def jsonl_token_sentences(table: Table, columns: ColumnMap) -> list[tuple[int, list[str], list[str]]]:
    """JSONL rows with a token list and a tag list -> CoNLL-style sentences."""
    tok_col = pick_column(table, columns.text, ("tokens", "words"), "tokens")
    tag_col = pick_column(table, columns.label, ("ner_tags", "tags", "labels"), "tags")
    out: list[tuple[int, list[str], list[str]]] = []
    for line, row in table.rows:
        toks, tags = row.get(tok_col), row.get(tag_col)
        if not isinstance(toks, list) or not isinstance(tags, list):
            raise DataError(f"{tok_col!r} and {tag_col!r} must be lists", file=table.name, line=line)
        if not toks:
            raise DataError(f"the sentence has no tokens ({tok_col!r} is an empty list)",
                            file=table.name, line=line)
        if len(toks) != len(tags):
            raise DataError(f"{len(toks)} tokens but {len(tags)} tags; each token needs one tag",
                            file=table.name, line=line)
        words = [_token(t, table.name, line) for t in toks]
        out.append((line, words, to_bio([check_tag(t, table.name, line) for t in tags])))
    return out


def _token(value: object, name: str, line: int) -> str:
    """A JSONL token: text (a number is its text); null, lists and objects are refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise DataError(f"token {value!r:.40} is not text", file=name, line=line)
