"""The class poll on the Lesson page: an instructor's session code and live distribution of
the class's predictions; a student's Send, and the wait for the instructor's reveal."""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.lesson import Lesson
from bertviz_lite.lesson.answers import Answer
from bertviz_lite.lesson.format import Step
from bertviz_lite.lesson.poll import Poll, PollError, PollUnavailable, normalise, set_aside
from bertviz_lite.ui.lesson_frame import fit, revealed


def _reveal(step_id: str, prediction: Any, code: str | None) -> None:
    revealed()[step_id] = prediction
    if code:
        try:
            class_poll().reveal(code, step_id)
        except PollUnavailable as err:  # the reveal still happens on this screen
            st.session_state[POLL_DOWN] = str(err)


log = logging.getLogger("bertviz_lite.app")

# -- the class poll ---------------------------------------------------------------------------
POLL_DOWN = "lesson_poll_down"  # why the poll could not be used in this run of the page


@st.cache_resource
def class_poll() -> Poll:
    """The server's poll database (SQLite in the data folder, shared by app processes);
    PollUnavailable (not cached: tried again on the next run) when it cannot be used."""
    return Poll(ui.settings().poll_path())


def poll_available(instructor: bool) -> bool:
    """Whether the class poll can be used now. When its database is damaged the lesson goes
    on without it: students read one line; instructors read what happened and what to do,
    with a button that sets the damaged file aside and starts an empty poll."""
    problem = st.session_state.pop(POLL_DOWN, None)
    if problem is None:
        try:
            class_poll().check()
            return True
        except PollUnavailable as err:
            problem = str(err)
    log.error("class poll unavailable: %s", problem)
    if not instructor:
        st.warning("The class poll is not available right now: the lesson goes on without "
                   "it, and your predictions stay in this browser.")
        return False
    st.error(f"The class poll is off: {ui.safe(problem)}. The lesson goes on without it. "
             "To start an empty poll, press **Set the damaged poll database aside** (it is "
             "kept beside the new one, renamed .damaged-DATE; the votes in it are lost to the "
             "poll), then start a new class session.")
    st.button("Set the damaged poll database aside", key="lesson_poll_repair",
              on_click=_set_aside)
    return False


def _set_aside() -> None:
    kept = set_aside(ui.settings().poll_path())
    class_poll.clear()
    st.query_params.pop("class", None)
    st.session_state["lesson_poll_note"] = f"The damaged poll database was kept as {kept.name}."


def class_code() -> str | None:
    """The class session of `?class=` if it exists and is open, else None (with a note)."""
    raw = st.query_params.get("class")
    if not raw:
        return None
    sess = class_poll().session(raw) if len(raw) <= 64 else None
    if sess is None or not sess.open:
        shown = normalise(raw)[:12] + ("..." if len(normalise(raw)) > 12 else "")
        st.warning(f"Class session {ui.safe(shown)} is "
                   f"{'closed' if sess else 'unknown'}: you are working on your own.")
        return None
    return sess.code


def _start_class(lesson_id: str, steps: list[str]) -> None:
    try:
        st.query_params["class"] = class_poll().start(lesson_id, steps)
    except PollUnavailable as err:
        st.session_state[POLL_DOWN] = str(err)


def _close_class(code: str) -> None:
    class_poll().close_session(code)
    st.query_params.pop("class", None)


def _send(code: str, step_id: str, prediction: Any) -> None:
    try:
        class_poll().vote(code, step_id, ui.session_id(), prediction)
    except PollError as err:
        st.session_state["lesson_poll_error"] = str(err)
    except PollUnavailable as err:
        st.session_state[POLL_DOWN] = str(err)


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
    try:
        results_chart(code, step, answer, instructor=True)
    except PollUnavailable as err:
        st.warning(f"The class poll stopped working: {ui.safe(err)}. Reload the page.")


@st.fragment(run_every=2.0)
def _wait_for_reveal(code: str, step_id: str, prediction: Any) -> None:
    """A student's view polls until the instructor reveals the step."""
    try:
        shown = class_poll().revealed(code, step_id)
    except PollUnavailable:
        st.caption("The class poll is not available: reveal the step yourself.")
        return
    if shown:
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
                      on_click=_start_class, args=(lesson.id, [s.id for s in lesson.steps]))
            if note := st.session_state.pop("lesson_poll_note", None):
                st.caption(ui.safe(note))
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
