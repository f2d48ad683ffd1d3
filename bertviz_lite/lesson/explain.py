"""Comparing a student's prediction with the computed answer, and the words that say how.

`compare()` returns whether the prediction was right and the fields the explanation
templates may use ({prediction}, {answer}, {missed}, ...); `explain()` fills the step's
template ("you expected the gradient to reach layer.3; it stopped at {stop} because ...").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bertviz_lite.figures.text import plain_number
from bertviz_lite.lesson.answers import Answer
from bertviz_lite.lesson.format import Step


@dataclass(frozen=True)
class Verdict:
    """right: the prediction matched; text: the filled explanation; fields: what filled it."""

    right: bool
    text: str
    fields: dict[str, str]


def _names(items: Sequence[str]) -> str:
    return ", ".join(items) if items else "nothing"


def _layers(pred: Sequence[str], answer: Sequence[str]) -> tuple[bool, dict[str, str]]:
    missed = [g for g in answer if g not in pred]
    extra = [g for g in pred if g not in answer]
    return not missed and not extra, {"prediction": _names(pred), "answer": _names(answer),
                                      "missed": _names(missed), "extra": _names(extra)}


def _log_number(pred: float, answer: float, tolerance: float) -> tuple[bool, dict[str, str]]:
    """Right means within a factor `tolerance` of the answer, and the words say so ("within a
    factor 3 of it"): a prediction 2.9 times off is close, not exact."""
    factor = max(pred, answer) / min(pred, answer)
    within = factor <= tolerance
    if factor < 1.05:
        direction = "spot on"
    elif within:
        direction = f"close: within a factor {number(tolerance)}, counted as right"
    else:
        direction = "too high" if pred > answer else "too low"
    return within, {"prediction": number(pred), "answer": number(answer),
                    "factor": number(factor), "direction": direction,
                    "tolerance": number(tolerance)}


def number(x: float) -> str:
    """A positive number as people read it: 29,307 · 16 · 11.5 · 2.93 · 0.031 (the rounding
    of the lesson's charts, `figures.text.plain_number`)."""
    return plain_number(x)


def spearman(a: Sequence[str], b: Sequence[str]) -> float:
    """Spearman rank correlation of two orderings of the same items (1 = identical)."""
    n = len(b)
    if n < 2 or sorted(a) != sorted(b):
        return float("nan")
    rank = {g: i for i, g in enumerate(b)}
    d2 = sum((i - rank[g]) ** 2 for i, g in enumerate(a))
    return 1 - 6 * d2 / (n * (n * n - 1))


def _order(pred: Sequence[str], answer: Sequence[str]) -> tuple[bool, dict[str, str]]:
    rho = spearman(pred, answer)
    right = math.isfinite(rho) and rho >= 0.8 and bool(pred) and pred[0] == answer[0]
    return right, {"prediction": " > ".join(pred), "answer": " > ".join(answer),
                   "predicted_most": pred[0] if pred else "nothing",
                   "rho": f"{rho:.2f}" if math.isfinite(rho) else "n/a"}


def compare(kind: str, prediction: Any, answer: Answer,
            tolerance: float = 2.0) -> tuple[bool, dict[str, str]]:
    """(right, template fields) for one prediction against its answer."""
    if kind == "layers":
        right, fields = _layers(list(prediction or []), list(answer.value))
    elif kind == "log-number":
        right, fields = _log_number(float(prediction), float(answer.value), tolerance)
    elif kind == "choice":
        say = answer.labels.get
        right = prediction == answer.value
        fields = {"prediction": say(str(prediction), str(prediction)),
                  "answer": say(str(answer.value), str(answer.value))}
    elif kind == "order":
        right, fields = _order(list(prediction or []), list(answer.value))
    else:
        return True, {}
    return right, fields


def explain(step: Step, prediction: Any, answer: Answer) -> Verdict:
    """The step's explanation with the student's prediction and the answer filled in."""
    tol = step.answer.tolerance if step.answer else 2.0
    right, fields = compare(step.prediction.kind, prediction, answer, tol)
    fields = {**answer.detail, **fields, "score": "right" if right else "not quite"}
    template = step.explain.right if right else step.explain.wrong
    parts = [t.format(**fields) for t in (template, step.explain.why) if t]
    return Verdict(right, " ".join(parts), fields)
