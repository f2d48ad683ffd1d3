"""The class poll on the Lesson page: an instructor's session code and live distribution of
the class's predictions; a student's Send, and the wait for the instructor's reveal."""

from __future__ import annotations

from typing import Any

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.lesson import Lesson
from bertviz_lite.lesson.answers import Answer
from bertviz_lite.lesson.format import Step
from bertviz_lite.lesson.poll import Poll, PollError, normalise
from bertviz_lite.ui.lesson_frame import fit, revealed


def _reveal(step_id: str, prediction: Any, code: str | None) -> None:
    revealed()[step_id] = prediction
    if code:
        class_poll().reveal(code, step_id)


# -- the class poll ---------------------------------------------------------------------------
@st.cache_resource
def class_poll() -> Poll:
    """The server's poll database (SQLite in the data folder, shared by app processes)."""
    return Poll(ui.settings().poll_path())


def class_code() -> str | None:
    """The class session of `?class=` if it exists and is open, else None (with a note)."""
    raw = st.query_params.get("class")
    if not raw:
        return None
    sess = class_poll().session(raw)
    if sess is None or not sess.open:
        st.warning(f"Class session {ui.safe(normalise(raw))} is "
                   f"{'closed' if sess else 'unknown'}: you are working on your own.")
        return None
    return sess.code


def _start_class(lesson_id: str) -> None:
    st.query_params["class"] = class_poll().start(lesson_id)


def _close_class(code: str) -> None:
    class_poll().close_session(code)
    st.query_params.pop("class", None)


def _send(code: str, step_id: str, prediction: Any) -> None:
    try:
        class_poll().vote(code, step_id, ui.session_id(), prediction)
    except PollError as err:
        st.session_state["lesson_poll_error"] = str(err)


def results_chart(code: str, step: Step, answer: Answer | None, instructor: bool) -> None:
    from bertviz_lite.figures.lesson import poll_bars
    from bertviz_lite.lesson.tally import distribution

    poll = class_poll()
    shown = poll.revealed(code, step.id)
    votes = poll.answers(code, step.id, instructor=instructor)
    labels, counts, marked = distribution(step.prediction.kind, votes,
                                          answer if shown else None, step.prediction.low,
                                          step.prediction.high)
    key = f"lesson_poll_{step.id}"
    ui.plot(fit(poll_bars(labels, counts, marked, len(votes), theme=ui.theme()), key), key=key)


@st.fragment(run_every=2.0)
def _live_results(code: str, step: Step, answer: Answer | None) -> None:
    """Every two seconds: the class's predictions for this step (instructors only)."""
    results_chart(code, step, answer, instructor=True)


@st.fragment(run_every=2.0)
def _wait_for_reveal(code: str, step_id: str, prediction: Any) -> None:
    """A student's view polls until the instructor reveals the step."""
    if class_poll().revealed(code, step_id):
        sent = class_poll().my_vote(code, step_id, ui.session_id())
        revealed()[step_id] = sent if sent is not None else prediction
        st.rerun(scope="app")
    st.caption("Waiting for your instructor to reveal this step...")


def instructor_panel(lesson: Lesson, step: Step, answer: Answer | None, code: str | None
                     ) -> None:
    """Start / close a class session, the join code, and the live distribution."""
    with st.expander("Class poll (instructor)", expanded=code is not None):
        if skipped := st.session_state.get("lesson_skipped"):
            st.caption("Steps waiting for a recorded artefact: " + ui.safe("; ".join(skipped)))
        if code is None:
            st.button("Start a class session", key="lesson_class_start",
                      on_click=_start_class, args=(lesson.id,))
            st.caption("Students who open this lesson with the code send their predictions; "
                       "you see the class's answers here, live.")
            return
        if class_poll().session(code).step != step.id:
            class_poll().set_step(code, step.id)
        st.markdown(f"Class code **{code}**: students open `/lesson?class={code}`.")
        if step.answer is not None:
            _live_results(code, step, answer)
        st.button("Close the class session", key="lesson_class_close", on_click=_close_class,
                  args=(code,))


def reveal_controls(step: Step, prediction: Any, complete: bool, code: str | None,
                    instructor: bool) -> None:
    """Reveal (alone, or an instructor for the class), or a student's Send in a class."""
    if step.id in revealed() or step.answer is None:
        return
    if code and not instructor:
        st.button("Send my prediction", key=f"lesson_send_{step.id}", type="primary",
                  disabled=not complete, on_click=_send, args=(code, step.id, prediction))
        mine = class_poll().my_vote(code, step.id, ui.session_id())
        if err := st.session_state.pop("lesson_poll_error", None):
            st.warning(ui.safe(err))
        st.caption("Sent; you can change it until the reveal." if mine is not None else
                   "Your answer is anonymous; you can change it until the reveal.")
        _wait_for_reveal(code, step.id, prediction)
        return
    label = "Reveal to the class" if code else "Reveal"
    st.button(label, key=f"lesson_reveal_{step.id}", type="primary", disabled=not complete,
              on_click=_reveal, args=(step.id, prediction, code))
