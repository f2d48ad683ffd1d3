"""Streamlit helpers of the Lesson page: the lesson files, the step (text, prediction widget,
reveal, observation, explanation) and the summary. The stage and presenter mode live in
`lesson_frame`, the class poll in `lesson_poll`; their public names are re-exported here.

Progress lives in the URL (`/lesson?step=4`) and in this browser (`lesson_progress`: the
predictions and reveals survive a reload); Back and Next answer PageUp / PageDown (what a
presentation clicker sends) and are ordinary focusable buttons for Tab + Enter. In a class
(`?class=CODE`) a student follows the instructor's step (`lesson_poll`).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.lesson import (
    ArtefactStore,
    Lesson,
    LessonFile,
    answer_for,
    explain,
    lessons_dir,
    lessons_signature,
    observation,
    read_lessons,
)
from bertviz_lite.lesson.answers import FACT_NAMES, Answer, facts
from bertviz_lite.lesson.explain import number
from bertviz_lite.lesson.format import Step, log_values
from bertviz_lite.ui import class_player
from bertviz_lite.ui.lesson_frame import (
    LESSON_CSS,
    fit,
    folded,
    order_widget,
    revealed,
    shown_figure,
    stage,
    stage_frame,
    stage_mode_buttons,
)
from bertviz_lite.ui.lesson_poll import (
    back_button,
    class_code,
    class_poll,
    follow_class,
    instructor_panel,
    lead_class,
    moved,
    poll_available,
    results_chart,
    reveal_controls,
    student_watch,
)
from bertviz_lite.ui.lesson_progress import restore, save, start_over
from bertviz_lite.ui.navigation import page_link_target

__all__ = ["LESSON_CSS", "class_poll", "fit", "folded", "lesson_picker", "run_step", "stage", "stage_frame", "stage_mode_buttons",
           "step_index"]
log = logging.getLogger("bertviz_lite.app")


# -- lessons and artefacts -------------------------------------------------------------------
@st.cache_resource(max_entries=4)
def _lessons(folder: str, runs: str, signature: tuple[tuple[str, float], ...]
             ) -> tuple[list[LessonFile], ArtefactStore]:
    del signature  # only part of the cache key
    store = ArtefactStore(runs=runs)
    return read_lessons(Path(folder), store), store


def lessons() -> tuple[list[LessonFile], ArtefactStore]:
    """Every lesson file (validated) and the artefact store they read."""
    folder = lessons_dir()
    return _lessons(str(folder), str(ui.settings().recorded_runs_path()), lessons_signature(folder))


def lesson_picker() -> tuple[Lesson | None, ArtefactStore]:
    """The lesson of `?lesson=` (or the first usable one). A broken lesson file is the
    instructor's to fix: one error line per bad file for instructors (and in the log);
    students see the lessons that work."""
    files, store = lessons()
    instructor = ui.is_instructor()
    for f in files:
        if f.error:
            log.warning("lesson file not loaded: %s", f.error)
            if instructor:
                st.error(f"Lesson file not loaded (only instructors see this): "
                         f"{ui.safe(f.error)}")
    usable = [f for f in files if f.lesson is not None]
    if not usable:
        st.info("No usable lesson in assets/lessons/." if instructor else
                "No lesson is available right now; your instructor has been told.")
        return None, store
    wanted = st.query_params.get("lesson")
    chosen = next((f for f in usable if f.lesson.id == wanted), usable[0])
    st.session_state["lesson_skipped"] = chosen.skipped
    return chosen.lesson, store


def step_index(lesson: Lesson) -> int:
    """0-based step from `?step=` (1-based); out of range or not a number: the first step."""
    raw = st.query_params.get("step", "1")
    try:
        n = int(raw)
    except ValueError:
        n = 1
    return min(max(n, 1), len(lesson.steps)) - 1


def _go(n: int) -> None:
    st.query_params["step"] = str(n)
    moved(n)


def nav(lesson: Lesson, i: int, where: Any) -> None:
    """Back / progress / Next; PageUp and PageDown from the keyboard or a clicker."""
    c1, c2, c3 = where.columns([1.4, 3, 1.4], vertical_alignment="center")
    c1.button("Back", key="lesson_back", on_click=_go, args=(i,), disabled=i == 0,
              shortcut="PageUp", width="stretch")
    c2.progress((i + 1) / len(lesson.steps),
                text=f"{lesson.title} · step {i + 1} of {len(lesson.steps)}")
    c3.button("Next", key="lesson_next", on_click=_go, args=(i + 2,), type="primary",
              disabled=i + 1 >= len(lesson.steps), shortcut="PageDown", width="stretch")


def facts_text(text: str, step: Step, store: ArtefactStore) -> str:
    """A step's text or question with its setup facts ({layers}, ...) filled in."""
    refs = step.answer.artefacts if step.answer else ()
    found = facts([store.load(r) for r in refs])
    return ui.glossary_links(text.format_map({k: found.get(k, "?") for k in FACT_NAMES}))


# -- the prediction ----------------------------------------------------------------------------
def _layers_widget(step: Step, answer: Answer, key: str, disabled: bool) -> list[str]:
    """One toggle per group of the recorded model, input (left) to output (right)."""
    picked = st.pills("Groups that receive a gradient", answer.options, selection_mode="multi",
                      key=key, disabled=disabled, label_visibility="collapsed")
    return [g for g in answer.options if g in (picked or [])]


def _restore_widget(step: Step, key: str, saved: Any) -> None:
    """Put a prediction made earlier (a revealed step, come back to) into its widget, whose own
    state Streamlit dropped while another step was shown: the widget shows what was predicted,
    not its default."""
    if saved is None or key in st.session_state:
        return
    if step.prediction.kind == "log-number":
        values = log_values(step.prediction.low, step.prediction.high)
        if isinstance(saved, (int, float)) and saved > 0:
            st.session_state[key] = min(values, key=lambda x: abs(math.log(x / saved)))
    elif step.prediction.kind == "order":
        st.session_state.setdefault(f"{key}_order", list(saved))
    else:
        st.session_state[key] = saved


def prediction_widget(step: Step, answer: Answer | None, disabled: bool,
                      saved: Any = None) -> tuple[Any, bool]:
    """The widget of the step's prediction kind -> (prediction, complete); `saved`: the
    prediction already made (a revealed step), shown in the widget."""
    p, key = step.prediction, f"lesson_pred_{step.id}"
    if p.kind == "none" or answer is None:
        return None, True
    _restore_widget(step, key, saved)
    if p.kind == "layers":
        st.caption("Click each group that will get a gradient (input left, head right).")
        return _layers_widget(step, answer, key, disabled), True
    if p.kind == "log-number":
        values = log_values(p.low, p.high)
        start = {} if key in st.session_state else {"value": values[len(values) // 2]}
        v = st.select_slider("Your prediction (log scale)", values, key=key, disabled=disabled,
                             **start, label_visibility="collapsed",
                             format_func=lambda x: f"{number(x)}{p.unit}")
        return float(v), True
    if p.kind == "choice":
        v = st.radio("Your prediction", answer.options, index=None, key=key, disabled=disabled,
                     format_func=lambda o: answer.labels.get(o, o))
        return v, v is not None
    st.caption("Click the groups in order, the most changed first.")
    order = order_widget(list(answer.options), key, disabled)
    return order, len(order) == len(answer.options)


# -- reveal, observation, explanation ---------------------------------------------------------
def observe(step: Step, store: ArtefactStore) -> float:
    """Draw the step's figures from its artefacts; returns the seconds it took (server)."""
    t0 = time.perf_counter()
    arts = [store.load(r) for r in (step.answer.artefacts if step.answer else ())]
    try:
        figs = observation(step.figures, arts, ui.theme())
    except (ValueError, KeyError, TypeError) as err:
        ui.friendly_error(err, "draw this step's recorded artefact")
        return 0.0
    shown_figure(step, figs, arts)
    seconds = time.perf_counter() - t0
    st.session_state.setdefault("lesson_draw_s", {})[step.id] = seconds
    return seconds


def explanation(step: Step, prediction: Any, answer: Answer) -> None:
    """Right or not, in words that quote the prediction; then how the answer was computed."""
    verdict = explain(step, prediction, answer)
    box = st.success if verdict.right else st.warning
    text = verdict.text.replace("<", "&lt;").replace(">", "&gt;")  # no HTML from a lesson file
    why = step.explain.why.format(**verdict.fields).replace("<", "&lt;").replace(">", "&gt;")
    if why and text.endswith(why):  # the glossary linked from the "why", the verdict kept as is
        text = text[:-len(why)] + ui.glossary_links(why)
    box(text)
    st.caption("Measured: " + ui.safe(answer.how) + ".")


def try_it(step: Step) -> None:
    """ "Run it yourself": a link to the page that trains or shows this, with its settings."""
    if not step.try_it:
        return
    page, _, query = step.try_it.partition("?")
    params = dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv)
    st.page_link(page_link_target(page), label="Run it yourself", icon="▶️",
                 query_params={**params, **ui.presenter_params()})  # the stage stays on


def summary(lesson: Lesson, store: ArtefactStore) -> None:
    """The student's predictions, step by step: right or not."""
    rows = []
    for n, s in enumerate(lesson.steps, 1):
        if s.id not in revealed() or s.answer is None:
            continue
        v = explain(s, revealed()[s.id], answer_for(s, store))
        rows.append({"step": n, "you predicted": v.fields.get("prediction", ""),
                     "measured": v.fields.get("answer", ""), "right": "yes" if v.right
                     else "no"})
    if rows:
        right = sum(r["right"] == "yes" for r in rows)
        score, again = st.columns([3, 1], vertical_alignment="bottom")  # one row: the stage
        score.metric("Your predictions", f"{right} of {len(rows)} right")  # fits its screen
        again.button("Start over", key="lesson_start_over", on_click=start_over,
                     args=(lesson,), help="Forget every prediction of this lesson in this "
                     "browser")
        st.dataframe(rows, hide_index=True, width="stretch")
        if not stage():  # on the projector the button says enough
            st.caption("Kept in this browser: a reload or a return tomorrow keeps them.")
    else:
        st.caption("Reveal some steps first: your predictions are compared here.")


# -- one step ---------------------------------------------------------------------------------
def run_step(lesson: Lesson, store: ArtefactStore) -> None:
    """The current step: text and prediction on the left; observation and explanation on the
    right once revealed; the class poll below."""
    restore(lesson, store)
    instructor = ui.is_instructor()
    in_class = instructor or bool(st.query_params.get("class"))
    poll_on = poll_available(instructor) if in_class else False
    code = class_code() if poll_on else None
    student = code is not None and not instructor
    at = follow_class(lesson, code) if student else None
    if student and class_player.available():  # the browser draws each step: no rerun per move
        class_player.class_player(lesson, code, lesson.steps[at].id if at is not None else "")
        return
    i = step_index(lesson)
    step = lesson.steps[i]
    if code is not None and instructor:
        lead_class(code, step)
    answer = answer_for(step, store)
    nav(lesson, i, st.container())
    if student:
        back_button(at, i)
    st.subheader(f"{i + 1}. {step.title}")
    left, right = st.columns([1, 1] if stage() else [2, 3], gap="medium")
    shown = step.id in revealed() or step.answer is None
    with left:
        if stage() and shown and step.answer is not None:  # read already: room for the result
            with st.expander("The step's text"):
                st.markdown(facts_text(step.text, step, store))
        else:
            st.markdown(facts_text(step.text, step, store))
        if step.answer is not None:
            st.markdown(f"**Predict:** {facts_text(step.prediction.question, step, store)}")
        prediction, complete = prediction_widget(step, answer, disabled=shown,
                                                 saved=revealed().get(step.id))
        reveal_controls(step, prediction, complete, code, instructor)
        if student:
            student_watch(code, step, prediction)
        if shown and answer is not None:
            explanation(step, revealed()[step.id], answer)
        try_it(step)
    with right:
        if step.answer is None:
            summary(lesson, store)
        elif shown:
            observe(step, store)
            if code and not instructor:
                results_chart(code, step, answer, instructor=False)
        else:
            st.info("Make your prediction, then press **Reveal**: the recorded result "
                    "appears here.")
    if instructor and poll_on:
        instructor_panel(lesson, step, answer, code)
    save(lesson, i)
