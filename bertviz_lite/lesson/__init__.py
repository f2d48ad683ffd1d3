"""The guided lesson: predict, observe, explain (no Streamlit here).

A lesson is a TOML file in assets/lessons/ (format: `format.py`, documented in
assets/lessons/README.md). Each step's true answer is computed from a recorded artefact
(`answers.py`), drawn with the app's figures (`observe.py`) and compared with the student's
prediction in words that quote it (`explain.py`). `poll.py` keeps a class's predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from bertviz_lite.lesson.answers import COMPUTE, Answer
from bertviz_lite.lesson.artefacts import ArtefactStore, Changes, Sweep
from bertviz_lite.lesson.explain import Verdict, compare, explain
from bertviz_lite.lesson.format import KINDS, Lesson, LessonError, Step, load_lesson, parse_lesson
from bertviz_lite.lesson.observe import FIGURES, observation
from bertviz_lite.paths import assets_dir

__all__ = [
    "COMPUTE", "FIGURES", "KINDS", "Answer", "ArtefactStore", "Changes", "Lesson",
    "LessonError", "LessonFile", "Step", "Sweep", "Verdict", "answer_for", "check_lesson",
    "compare", "explain", "lessons_dir", "lessons_signature", "load_lesson", "missing_artefacts", "observation",
    "parse_lesson",
    "read_lessons",
]


def lessons_dir() -> Path:
    """The folder of shipped lessons: assets/lessons/."""
    return assets_dir() / "lessons"


def lessons_signature(folder: Path | None = None) -> tuple[tuple[str, float], ...]:
    """The lesson files and the artefacts they read, with their modification times: a cache
    keyed on it sees an edit at its next use."""
    folder = folder or lessons_dir()
    files = [*folder.glob("*.toml"), *(folder.parent / "sweeps").glob("*.json"),
             *(folder.parent / "changes").glob("*.json")]
    return tuple(sorted((str(p), p.stat().st_mtime) for p in files))


def answer_for(step: Step, store: ArtefactStore) -> Answer | None:
    """The true answer of a step, computed from its artefacts; LessonError (naming the step
    and the field) when an artefact is missing or lacks what the computation needs."""
    if step.answer is None:
        return None
    spec = COMPUTE[step.answer.compute]
    try:
        arts = [store.load(ref) for ref in step.answer.artefacts]
        return spec.fn(arts)
    except LessonError as err:
        raise LessonError(f"step {step.id!r}, field 'answer.artefacts': {err}") from None
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise LessonError(f"step {step.id!r}, field 'answer.compute': {step.answer.compute} "
                          f"cannot use {', '.join(step.answer.artefacts)}: {err}") from None


def missing_artefacts(step: Step, store: ArtefactStore) -> list[str]:
    """The step's artefact references whose files are not there (yet)."""
    refs = step.answer.artefacts if step.answer else ()
    return [r for r in refs if not store.exists(r)]


def check_lesson(lesson: Lesson, store: ArtefactStore) -> dict[str, Answer | None]:
    """Every step's answer (so a lesson with a bad artefact fails when loaded, not mid-class).

    Optional steps whose artefacts are not recorded yet are left out of the result.
    Raises LessonError prefixed with the file name.
    """
    out: dict[str, Answer | None] = {}
    name = Path(lesson.path).name or "<lesson>"
    for step in lesson.steps:
        if step.optional and missing_artefacts(step, store):
            continue
        try:
            out[step.id] = answer_for(step, store)
        except LessonError as err:
            raise LessonError(f"{name}: {err}") from None
    return out


@dataclass(frozen=True)
class LessonFile:
    """One file of the lessons folder: its lesson (the steps that can be shown), or the
    one-line reason it is unusable; `skipped`: optional steps waiting for an artefact."""

    path: Path
    lesson: Lesson | None
    error: str = ""
    skipped: tuple[str, ...] = ()


def read_lessons(folder: Path | None = None,
                 store: ArtefactStore | None = None) -> list[LessonFile]:
    """Every *.toml lesson in a folder, validated and checked against its artefacts."""
    folder = folder or lessons_dir()
    store = store or ArtefactStore()
    out = []
    for path in sorted(folder.glob("*.toml")):
        try:
            lesson = load_lesson(path)
            answers = check_lesson(lesson, store)
            shown = tuple(s for s in lesson.steps if s.id in answers)
            skipped = tuple(f"{s.id} (waits for {', '.join(missing_artefacts(s, store))})"
                            for s in lesson.steps if s.id not in answers)
            out.append(LessonFile(path, replace(lesson, steps=shown), skipped=skipped))
        except LessonError as err:
            out.append(LessonFile(path, None, str(err)))
    return out
