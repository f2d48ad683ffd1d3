"""A student's lesson progress kept in this browser: the step, and each revealed step with
the prediction it was revealed with. It survives a reload and a return the next day (a
cookie per lesson, nothing on the server); "Start over" forgets it.

The stored form is `{"step": n (1-based), "revealed": {step id: prediction}}`; a prediction
that no longer fits its widget (the lesson changed) is kept for the summary but not put back
into the widget.
"""

from __future__ import annotations

import math
import re
from typing import Any

import streamlit as st

import bertviz_lite.ui.browser_store as browser_store
from bertviz_lite.lesson import ArtefactStore, Lesson, LessonError, answer_for
from bertviz_lite.ui.lesson_frame import revealed

SAVED_KEY = "_lesson_saved"  # what this session last wrote to the cookie
RESTORED_KEY = "_lesson_restored"  # lessons this session has read back


def cookie_name(lesson_id: str) -> str:
    """The cookie of one lesson's progress (letters, digits, _ and - only)."""
    return "bertviz_lesson_" + re.sub(r"[^A-Za-z0-9_-]", "_", lesson_id)


def fits(kind: str, value: Any, options: tuple[str, ...], low: float, high: float) -> bool:
    """Whether a stored prediction can be put back into the step's widget."""
    if kind in ("layers", "order"):
        return isinstance(value, list) and all(v in options for v in value)
    if kind == "choice":
        return value in options
    if kind == "log-number":
        return isinstance(value, int | float) and math.isfinite(value) and low <= value <= high
    return False


def restore(lesson: Lesson, store: ArtefactStore) -> None:
    """Once per session: this browser's progress in the lesson, back into the page (the
    revealed steps, their widgets, and the step when the URL names none)."""
    done = st.session_state.setdefault(RESTORED_KEY, set())
    if lesson.id in done:
        return
    done.add(lesson.id)
    saved = browser_store.decode(browser_store.cookie(cookie_name(lesson.id)))
    if not isinstance(saved, dict):
        return
    steps = {s.id: s for s in lesson.steps}
    for step_id, value in (saved.get("revealed") or {}).items():
        step = steps.get(step_id)
        if step is None or step.answer is None:
            continue
        revealed()[step_id] = value
        try:
            answer = answer_for(step, store)
        except LessonError:
            continue
        p = step.prediction
        if answer is not None and fits(p.kind, value, answer.options, p.low, p.high):
            st.session_state[f"lesson_pred_{step_id}"] = value
    step = saved.get("step")
    if "step" not in st.query_params and isinstance(step, int) and 1 <= step <= len(lesson.steps):
        st.query_params["step"] = str(step)
    st.session_state[SAVED_KEY] = browser_store.encode(_progress(saved.get("step", 1)))


def _progress(step: int) -> dict[str, Any]:
    return {"step": step, "revealed": dict(revealed())}


def save(lesson: Lesson, i: int) -> None:
    """Keep the progress in this browser when it changed since this session last kept it."""
    blob = browser_store.encode(_progress(i + 1))
    if st.session_state.get(SAVED_KEY) != blob:
        st.session_state[SAVED_KEY] = blob
        browser_store.set_cookie(cookie_name(lesson.id), blob)


def start_over(lesson: Lesson) -> None:
    """Forget every prediction and reveal of this lesson (here and in the browser)."""
    for step in lesson.steps:
        revealed().pop(step.id, None)
        st.session_state.pop(f"lesson_pred_{step.id}", None)
    st.session_state.pop("lesson_draw_s", None)
    st.query_params["step"] = "1"
