"""Every number a lesson step reveals is true, and the steps do not contradict each other.

Walks every step of every shipped lesson through its reveal (the explanation for a right and a
wrong prediction, and its figures) and checks classes of error, not single instances:
- a number in the words that is within 5% of a number in the step's figures is that number at
  the same rounding (no "12x" beside a chart that says 11.5x);
- no head title inside itself ("task model (task model (...))");
- no step's figures or words give away a later step's answer;
- two "order" steps about the same run agree;
- a sweep's "winner" is named only when its lead exceeds the seeds' spread.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterator
from typing import Any

import pytest

from bertviz_lite.lesson import (
    COMPUTE,
    ArtefactStore,
    Step,
    check_lesson,
    explain,
    lessons_dir,
    load_lesson,
    observation,
)
from bertviz_lite.lesson.answers import FACT_NAMES, TIE, Answer, facts
from bertviz_lite.lesson.artefacts import Sweep
from bertviz_lite.paths import assets_dir

NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")
LESSONS = sorted(lessons_dir().glob("*.toml"))


def numbers(text: str) -> list[str]:
    """The numbers written in a text, as written ("29,307", "+2.8", "11.5")."""
    return [m.group(0).rstrip(",") for m in NUMBER.finditer(text)]


def value(n: str) -> float:
    return float(n.replace(",", ""))


def figure_text(fig: Any) -> str:
    """Every string a figure shows: title, subtitle, axis titles, tick and bar labels, legend."""
    parts = [str(fig.layout.title.text or ""),
             str(fig.layout.title.subtitle.text or "").replace("<br>", " ")]  # wrapped lines
    for trace in fig.data:
        parts.append(str(trace.name or ""))
        text = getattr(trace, "text", None)
        if isinstance(text, (list, tuple)):
            parts += [str(t) for t in text if t is not None]
        elif text:
            parts.append(str(text))
    for ax in ("xaxis", "yaxis"):
        axis = fig.layout[ax]
        parts.append(str(axis.title.text or ""))
        parts += [str(t) for t in (axis.ticktext or ())]
    parts += [str(a.text or "") for a in fig.layout.annotations]
    return "\n".join(parts)


def predictions(step: Step, answer: Answer) -> list[Any]:
    """A right and a wrong prediction of each kind (log-number: close, far off)."""
    kind = step.prediction.kind
    if kind == "log-number":
        return [answer.value, answer.value / 1.9, answer.value * 40]
    if kind == "choice":
        return [answer.value, next(o for o in answer.options if o != answer.value)]
    if kind == "layers":
        return [list(answer.value), list(answer.value)[1:]]
    return [list(answer.value), list(reversed(answer.value))]


def walk(path) -> Iterator[tuple[int, Step, Answer | None, str, str]]:
    """(index, step, answer, everything its words say, everything its figures say)."""
    lesson, store = load_lesson(path), ArtefactStore()
    answers = check_lesson(lesson, store)
    for i, step in enumerate(s for s in lesson.steps if s.id in answers):
        arts = [store.load(r) for r in (step.answer.artefacts if step.answer else ())]
        found = facts(arts)
        fill = {k: found.get(k, "?") for k in FACT_NAMES}
        words = [step.text.format_map(fill)]
        answer = answers[step.id]
        if answer is not None:
            words += [step.prediction.question.format_map(fill), answer.how]
            words += [explain(step, p, answer).text for p in predictions(step, answer)]
        figs = "\n".join(figure_text(f) for _, f in observation(step.figures, arts))
        yield i, step, answer, "\n".join(words), figs


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_numbers_in_the_words_are_the_figures_numbers(path):
    for _, step, _, words, figs in walk(path):
        shown = [value(n) for n in numbers(figs)]
        for n in numbers(words):
            v = value(n)
            if v == 0 or v in shown:
                continue
            near = [f for f in shown if f and abs(f - v) / max(abs(f), abs(v)) <= 0.05]
            assert not near, (f"step {step.id!r} says {n} where its figure shows "
                              f"{near[0]:g}: the same number at another rounding")


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_no_title_inside_itself(path):
    doubled = re.compile(r"\b([\w-]+(?: [\w-]+)?) \(\1\b")
    for _, step, _, words, figs in walk(path):
        for text in (words, figs):
            m = doubled.search(text)
            assert not m, f"step {step.id!r}: {m.group(0)!r} names a thing inside itself"


def deciding_numbers(answer: Answer) -> set[float]:
    """The non-integer numbers an answer's detail quotes: what decides it."""
    return {value(n) for text in answer.detail.values() for n in numbers(text)
            if value(n) != int(value(n))}


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_no_reveal_gives_away_a_later_answer(path):
    steps = list(walk(path))
    for i, step, _, words, figs in steps:
        shown = {value(n) for n in numbers(words + "\n" + figs)}
        for _, later, answer, *_ in steps[i + 1:]:
            if answer is None:
                continue
            decide = deciding_numbers(answer)
            assert len(decide) < 2 or not decide <= shown, (
                f"step {step.id!r} already shows what answers step {later.id!r} "
                f"({sorted(decide)})")


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_order_steps_about_one_model_agree(path):
    """Two steps that rank the groups of the same fine-tuned model give one ranking."""
    orders: dict[str, tuple[str, list[str]]] = {}
    for _, step, answer, *_ in walk(path):
        if answer is None or step.prediction.kind != "order":
            continue
        run = step.answer.artefacts[0].split("/", 1)[1]
        for other_id, other in [orders[run]] if run in orders else []:
            common = [g for g in answer.value if g in other]
            assert common == [g for g in other if g in common], (
                f"steps {other_id!r} and {step.id!r} rank the groups of {run} differently")
        orders.setdefault(run, (step.id, list(answer.value)))


def test_update_ratios_of_a_run_are_not_a_change_ranking():
    """A run measures update ratios at a few steps only: no computation ranks groups by them."""
    assert "update_order" not in COMPUTE
    with pytest.raises(ValueError, match="inside-BERT analysis"):
        observation(["change"], [ArtefactStore().load("runs/sentiment-finetune")])


@pytest.mark.parametrize("path", sorted((assets_dir() / "sweeps").glob("*.json")),
                         ids=lambda p: p.stem)
def test_a_winner_only_beyond_the_seed_spread(path):
    sweep = ArtefactStore().load(f"sweeps/{path.stem}")
    assert isinstance(sweep, Sweep)
    answer = COMPUTE["sweep_winner"].fn([sweep])
    size = sweep.sizes()[0]
    vals = {m: sweep.values(m, size) for m in sweep.modes()}
    med = sorted((statistics.median(v) for v in vals.values()), reverse=True)
    spread = max(max(v) - min(v) for v in vals.values())
    if answer.value == TIE:
        assert med[0] - med[1] <= spread
    else:
        assert med[0] - med[1] > spread
        assert statistics.median(vals[answer.value]) == med[0]
