"""A class's predictions for one step, summarised as bars (one per option) for the poll view.

Pure: votes in (decoded JSON values), (labels, counts, marked labels) out. `marked` are the
labels that agree with the measured answer (empty before the reveal).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bertviz_lite.lesson.answers import Answer


def _decade(x: float) -> str:
    lo = 10 ** math.floor(math.log10(x))
    return f"{lo:,.0f}–{lo * 10:,.0f}" if lo >= 1 else f"{lo:g}–{lo * 10:g}"


def _decades(low: float, high: float) -> list[str]:
    k0, k1 = math.floor(math.log10(low)), math.ceil(math.log10(high))
    return [_decade(10.0 ** k) for k in range(k0, max(k1, k0 + 1))]


def distribution(kind: str, votes: Sequence[Any], answer: Answer | None,
                 low: float = 1.0, high: float = 1000.0) -> tuple[list[str], list[int], set[str]]:
    """Bars for the poll chart.

    layers: how many students ticked each group; choice: votes per option; log-number: votes
    per decade of the slider; order: which group students put first.
    """
    if kind == "layers":
        labels = list(answer.options) if answer else sorted({g for v in votes for g in v})
        counts = Counter(g for v in votes for g in (v or []))
        marked = set(answer.value) if answer else set()
    elif kind == "choice":
        labels = list(answer.options) if answer else sorted({str(v) for v in votes})
        counts = Counter(str(v) for v in votes)
        shown = {o: answer.labels.get(o, o) for o in labels} if answer else {o: o for o in labels}
        return ([shown[o] for o in labels], [counts[o] for o in labels],
                {shown[str(answer.value)]} if answer else set())
    elif kind == "log-number":
        labels = _decades(low, high)
        counts = Counter(_decade(float(v)) for v in votes if v and float(v) > 0)
        marked = {_decade(float(answer.value))} if answer else set()
    elif kind == "order":
        labels = list(answer.options) if answer else sorted({v[0] for v in votes if v})
        counts = Counter(v[0] for v in votes if v)
        marked = {answer.value[0]} if answer else set()
    else:
        return [], [], set()
    return labels, [counts[o] for o in labels], marked
