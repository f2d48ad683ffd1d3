"""The lesson file format: a TOML file in assets/lessons/ read into frozen dataclasses.

A lesson is a list of steps. Each step has a text, an optional prediction (made before the
reveal), an answer (which recorded artefact reveals the step and which named computation
turns it into the true answer: never a typed-in value), the figures of the observation and
explanation templates that quote the student's prediction. The full format, field by field,
is documented in assets/lessons/README.md.

Every problem is a `LessonError` whose message is one line naming the file, the step and
the field, and saying what to do.
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bertviz_lite.lesson.errors import LessonError

KINDS = ("layers", "log-number", "choice", "order", "none")


@dataclass(frozen=True)
class Prediction:
    """What the student is asked before the reveal.

    kind: layers | log-number | choice | order | none; question: the prompt; low/high: the
    log slider's range (log-number only); unit: shown after the number ("x", ...).
    """

    kind: str
    question: str = ""
    low: float = 1.0
    high: float = 1000.0
    unit: str = ""


@dataclass(frozen=True)
class AnswerSpec:
    """Where the true answer comes from: artefact references ("runs/sentiment-frozen") and the
    name of the computation in `bertviz_lite.lesson.answers.COMPUTE`."""

    compute: str
    artefacts: tuple[str, ...] = ()
    tolerance: float = 2.0  # log-number: within this factor counts as right


def log_values(low: float, high: float) -> list[float]:
    """Slider stops 1, 2, 3, 5, 10, 20, ... between low and high (inclusive)."""
    out = []
    for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        out += [m * 10.0 ** k for m in (1, 2, 3, 5) if low <= m * 10.0 ** k <= high]
    return out


@dataclass(frozen=True)
class Explain:
    """Templates ({name} placeholders filled from the prediction and the answer)."""

    right: str = ""
    wrong: str = ""
    why: str = ""  # always shown after the comparison


@dataclass(frozen=True)
class Step:
    """One step of the lesson: text, prediction, observation, explanation."""

    id: str
    title: str
    text: str
    prediction: Prediction
    answer: AnswerSpec | None
    figures: tuple[str, ...] = ()  # observation figures, by name (lesson.observe.FIGURES)
    explain: Explain = field(default_factory=Explain)
    try_it: str = ""  # "run it yourself": a page and query string, e.g. "backprop?mode=frozen"
    optional: bool = False  # skipped (with a note) while its artefact is not recorded yet


@dataclass(frozen=True)
class Lesson:
    """A whole lesson, as read from one file."""

    id: str
    title: str
    intro: str
    steps: tuple[Step, ...]
    path: str = ""

    def index_of(self, step_id: str) -> int:
        """Position (0-based) of a step by id; ValueError if absent."""
        return [s.id for s in self.steps].index(step_id)


MAX_DECADES_RATIO = 1e12  # a log slider from 1e-3 to 1e9 at most (each decade is 4 stops)


def _finite(value: Any) -> bool:
    """A TOML number that is finite (TOML also writes inf and nan; bool is not a number)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _where(file: str, step: str | None, name: str) -> str:
    where = f"{file}: step {step!r}" if step else file
    return f"{where}, field {name!r}"


def _text(table: dict[str, Any], name: str, where: tuple[str, str | None],
          required: bool = True) -> str:
    """A string field; LessonError when missing (if required) or not a string."""
    if name not in table:
        if required:
            raise LessonError(f"{_where(*where, name)}: missing; add {name} = \"...\"")
        return ""
    value = table[name]
    if not isinstance(value, str):
        raise LessonError(f"{_where(*where, name)}: must be text, not {type(value).__name__}")
    return value


def _prediction(raw: Any, where: tuple[str, str | None]) -> Prediction:
    if raw is None:
        return Prediction("none")
    if not isinstance(raw, dict):
        raise LessonError(f"{_where(*where, 'prediction')}: must be a table [steps.prediction]")
    kind = _text(raw, "kind", where)
    if kind not in KINDS:
        raise LessonError(f"{_where(*where, 'prediction.kind')}: unknown prediction kind "
                          f"{kind!r}; use one of {', '.join(KINDS)}")
    low, high = raw.get("low", 1.0), raw.get("high", 1000.0)
    if kind == "log-number" and not (_finite(low) and _finite(high) and 0 < low < high):
        raise LessonError(f"{_where(*where, 'prediction.low')}: a log slider needs "
                          f"0 < low < high (finite numbers), got low={low!r} high={high!r}")
    if kind == "log-number" and high / low > MAX_DECADES_RATIO:
        raise LessonError(f"{_where(*where, 'prediction.high')}: a log slider spans at most "
                          f"{math.log10(MAX_DECADES_RATIO):.0f} powers of ten; got low={low!r} "
                          f"high={high!r}")
    question = _check_text(_text(raw, "question", where, required=kind != "none"), where,
                           "prediction.question")
    return Prediction(kind, question, float(low), float(high), str(raw.get("unit", "")))


def _answer(raw: Any, kind: str, where: tuple[str, str | None]) -> AnswerSpec | None:
    from bertviz_lite.lesson.answers import COMPUTE

    if raw is None:
        if kind != "none":
            raise LessonError(f"{_where(*where, 'answer')}: missing; a prediction needs "
                              "[steps.answer] with compute and artefacts")
        return None
    if not isinstance(raw, dict):
        raise LessonError(f"{_where(*where, 'answer')}: must be a table [steps.answer]")
    compute = _text(raw, "compute", where)
    if compute not in COMPUTE:
        raise LessonError(f"{_where(*where, 'answer.compute')}: unknown computation "
                          f"{compute!r}; use one of {', '.join(sorted(COMPUTE))}")
    spec = COMPUTE[compute]
    if kind != "none" and spec.kind != kind:
        raise LessonError(f"{_where(*where, 'answer.compute')}: {compute!r} answers a "
                          f"{spec.kind!r} prediction, not {kind!r}")
    arts = raw.get("artefacts", [])
    if isinstance(arts, str):
        arts = [arts]
    extra = arts[spec.n_artefacts:] if isinstance(arts, list) else []
    if not isinstance(arts, list) or not all(isinstance(a, str) for a in arts) \
            or not spec.n_artefacts <= len(arts) <= spec.n_artefacts + spec.extra_runs \
            or not all(a.startswith("runs/") for a in extra):
        more = f", then up to {spec.extra_runs} run(s) like \"runs/sentiment-finetune\"" \
            if spec.extra_runs else ""
        raise LessonError(f"{_where(*where, 'answer.artefacts')}: {compute!r} needs "
                          f"{spec.n_artefacts} artefact name(s) like \"{spec.example}\"{more}")
    tol = raw.get("tolerance", 2.0)
    if not _finite(tol) or tol <= 1:
        raise LessonError(f"{_where(*where, 'answer.tolerance')}: must be a factor above 1")
    return AnswerSpec(compute, tuple(arts), float(tol))


def _explain(raw: Any, answer: AnswerSpec | None, where: tuple[str, str | None]) -> Explain:
    from bertviz_lite.lesson.answers import COMPUTE, placeholders

    raw = raw or {}
    if not isinstance(raw, dict):
        raise LessonError(f"{_where(*where, 'explain')}: must be a table [steps.explain]")
    out = Explain(*(_text(raw, n, where, required=False) for n in ("right", "wrong", "why")))
    allowed = placeholders(COMPUTE[answer.compute]) if answer else {"score"}
    for name in ("right", "wrong", "why"):
        try:
            used = {f for _, f, _, _ in string.Formatter().parse(getattr(out, name)) if f}
        except ValueError as err:
            raise LessonError(f"{_where(*where, 'explain.' + name)}: {err}") from None
        unknown = sorted(used - allowed)
        if unknown:
            raise LessonError(f"{_where(*where, 'explain.' + name)}: unknown placeholder "
                              f"{{{unknown[0]}}}; use one of {sorted(allowed)}")
    return out


def _check_text(text: str, where: tuple[str, str | None], name: str = "text") -> str:
    """Step text may quote setup facts ({layers}, ...) and nothing else."""
    from bertviz_lite.lesson.answers import FACT_NAMES

    try:
        used = {f for _, f, _, _ in string.Formatter().parse(text) if f}
    except ValueError as err:
        raise LessonError(f"{_where(*where, name)}: {err}") from None
    unknown = sorted(used - FACT_NAMES)
    if unknown:
        raise LessonError(f"{_where(*where, name)}: unknown placeholder {{{unknown[0]}}}; "
                          f"use one of {sorted(FACT_NAMES)} (write {{{{ for a brace)")
    return text


def _step(raw: Any, n: int, file: str) -> Step:
    from bertviz_lite.lesson.observe import FIGURES

    if not isinstance(raw, dict):
        raise LessonError(f"{file}: step {n}: each step must be a [[steps]] table")
    sid = _text(raw, "id", (file, f"#{n}"))
    where = (file, sid)
    pred = _prediction(raw.get("prediction"), where)
    answer = _answer(raw.get("answer"), pred.kind, where)
    figures = raw.get("figures", [])
    if not isinstance(figures, list) or any(f not in FIGURES for f in figures):
        bad = [f for f in figures if f not in FIGURES] if isinstance(figures, list) else figures
        raise LessonError(f"{_where(*where, 'figures')}: unknown figure {bad!r}; use any of "
                          f"{', '.join(FIGURES)}")
    try_it = _text(raw, "try_it", where, required=False)
    if try_it and not re.fullmatch(r"[a-z]+(\?[A-Za-z0-9_.=&-]*)?", try_it):
        raise LessonError(f"{_where(*where, 'try_it')}: must look like backprop?mode=frozen "
                          "(a page name, then an optional query string)")
    optional = raw.get("optional", False)
    if not isinstance(optional, bool):
        raise LessonError(f"{_where(*where, 'optional')}: must be true or false")
    text = _check_text(_text(raw, "text", where), where)
    return Step(sid, _text(raw, "title", where), text, pred, answer,
                tuple(figures), _explain(raw.get("explain"), answer, where), try_it, optional)


def parse_lesson(text: str, file: str = "<lesson>") -> Lesson:
    """A lesson from TOML text; LessonError (one line: file, step, field) when malformed."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise LessonError(f"{file}: not valid TOML ({err}); check quotes and brackets") from None
    head = raw.get("lesson")
    if not isinstance(head, dict):
        raise LessonError(f"{file}, field 'lesson': missing; start the file with [lesson]")
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise LessonError(f"{file}, field 'steps': missing; add at least one [[steps]] table")
    steps = tuple(_step(s, n, file) for n, s in enumerate(steps_raw, 1))
    seen: set[str] = set()
    for s in steps:
        if s.id in seen:
            raise LessonError(f"{_where(file, s.id, 'id')}: duplicate step id; ids must be "
                              "unique")
        seen.add(s.id)
    where = (file, None)
    return Lesson(_text(head, "id", where), _text(head, "title", where),
                  _text(head, "intro", where, required=False), steps, file)


def load_lesson(path: str | Path) -> Lesson:
    """Read and validate one lesson file (UTF-8 TOML)."""
    path = Path(path)
    try:  # utf-8-sig: Windows Notepad starts a UTF-8 file with a byte-order mark
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise LessonError(f"{path.name}: not UTF-8 text (UTF-16?); save it as UTF-8") from None
    except OSError as err:
        raise LessonError(f"{path.name}: cannot be read ({err})") from None
    lesson = parse_lesson(text, path.name)
    return Lesson(lesson.id, lesson.title, lesson.intro, lesson.steps, str(path))
