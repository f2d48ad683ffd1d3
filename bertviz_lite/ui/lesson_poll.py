"""The class on the Lesson page: the instructor's session (start, move the class by moving
through the lesson, reveal to the class, close), the join link and QR code, the live
distribution of the class's predictions; a student's Send, following the instructor's step
("Back to the class" after looking back) and the wait for the instructor's reveal.

Every instructor action goes through `lesson.classroom.Classroom`, which refuses it without
the instructor's credential; the buttons are only drawn for the instructor.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import streamlit as st

import bertviz_lite.ui.browser_store as browser_store
from bertviz_lite import ui
from bertviz_lite.lesson import Lesson
from bertviz_lite.lesson.answers import Answer
from bertviz_lite.lesson.format import Step
from bertviz_lite.lesson.join import base_url, join_url, qr_png
from bertviz_lite.lesson.poll import Poll, PollError, PollUnavailable, normalise, set_aside
from bertviz_lite.ui.lesson_frame import fit, revealed
from bertviz_lite.ui.roles import class_poll, classroom, credential

__all__ = ["Poll", "class_code", "class_page", "class_poll", "class_step", "follow_class",
           "following", "instructor_panel", "join_box", "lead_class", "poll_available",
           "results_chart", "reveal_controls", "start_class"]
log = logging.getLogger("bertviz_lite.app")
FOLLOW_KEY = "lesson_following"  # a student follows the instructor's step (until they look back)
CLASS_STEP_KEY = "lesson_class_step"  # the class's step id when this page was drawn
POLL_DOWN = "lesson_poll_down"  # why the poll could not be used in this run of the page


def _refused(err: PollError) -> None:
    st.session_state["lesson_poll_error"] = str(err)


def _reveal(step_id: str, prediction: Any, code: str | None) -> None:
    if code:
        try:
            classroom().reveal(credential(), code, step_id)
        except PollUnavailable as err:  # the reveal still happens on this screen
            st.session_state[POLL_DOWN] = str(err)
        except PollError as err:
            _refused(err)
            return
    revealed()[step_id] = prediction


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


# -- the class session ------------------------------------------------------------------------
def class_code() -> str | None:
    """The class session of `?class=` if it exists and is open, else None (with a note).
    A student who opens it joins (counted once per browser)."""
    raw = st.query_params.get("class")
    if not raw:
        return None
    sess = class_poll().session(raw) if len(raw) <= 64 else None
    if sess is None or not sess.open:
        shown = normalise(raw)[:12] + ("..." if len(normalise(raw)) > 12 else "")
        st.warning(f"Class session {ui.safe(shown)} is "
                   f"{'closed' if sess else 'unknown'}: you are working on your own.")
        return None
    if not ui.is_instructor() and st.session_state.get("_joined") != sess.code:
        browser_store.keep_browser_id()  # one id per browser: a reload is not a new student
        class_poll().join(sess.code, browser_store.browser_id())
        st.session_state["_joined"] = sess.code
    return sess.code


def start_class(lesson_id: str, step_id: str, steps: tuple[str, ...] = ()) -> None:
    try:
        st.query_params["class"] = classroom().start(credential(), lesson_id, step_id, steps)
    except PollUnavailable as err:
        st.session_state[POLL_DOWN] = str(err)
        return
    except PollError as err:
        _refused(err)
        return
    from bertviz_lite.serve import lesson_api
    from bertviz_lite.serve.routes import served

    if served():  # students' players will ask for the lesson: built while the QR code shows
        lesson_api.warm_in_background(lesson_id)


def _close_class(code: str) -> None:
    try:
        classroom().close(credential(), code)
    except PollUnavailable as err:
        st.session_state[POLL_DOWN] = str(err)
    except PollError as err:
        _refused(err)
        return
    st.query_params.pop("class", None)


def _send(code: str, step_id: str, prediction: Any) -> None:
    try:
        classroom().vote(code, step_id, browser_store.browser_id(), prediction)
    except PollUnavailable as err:
        st.session_state[POLL_DOWN] = str(err)
    except PollError as err:
        _refused(err)


def join_link(code: str, lesson_id: str = "") -> str:
    """The full address students open for this class session."""
    try:
        page = st.context.url
    except (AttributeError, RuntimeError):
        page = None
    base = base_url(page, ui.settings().public_url, st.get_option("server.baseUrlPath") or "")
    return join_url(base or "http://localhost:8501", code, lesson_id)


def join_box(code: str, lesson_id: str = "", qr_width: int = 220) -> str:
    """The join link in full and as a QR code (drawn here, offline); returns the link."""
    url = join_link(code, lesson_id)
    st.markdown(f"Class code **{code}**: students open")
    st.code(url, language=None, wrap_lines=True)
    with st.container(key="class_join_qr"):
        st.image(qr_png(url), caption="Scan to join", width=qr_width)
    return url


# -- following the instructor -----------------------------------------------------------------
def following() -> bool:
    """Whether this student follows the instructor's step (False after looking back)."""
    return bool(st.session_state.get(FOLLOW_KEY, True))


def class_step(lesson: Lesson, code: str) -> int | None:
    """The class's step (0-based) in this lesson, or None before the instructor picked one."""
    sess = class_poll().session(code)
    if sess is None or not sess.step:
        return None
    try:
        return lesson.index_of(sess.step)
    except ValueError:
        return None


def follow_class(lesson: Lesson, code: str) -> int | None:
    """A following student's page goes to the class's step; returns the class's step."""
    at = class_step(lesson, code)
    st.session_state[CLASS_STEP_KEY] = lesson.steps[at].id if at is not None else ""
    if at is not None and following():
        st.query_params["step"] = str(at + 1)
    return at


def lead_class(code: str, step: Step) -> None:
    """The instructor shows `step`: the class moves there (first thing on the page, so
    students follow while the instructor's page is still drawing)."""
    sess = class_poll().session(code)
    if sess is not None and sess.step != step.id:
        try:
            classroom().move(credential(), code, step.id)
        except PollError as err:
            _refused(err)


def moved(n: int) -> None:
    """A student moved to step `n` (1-based) themselves: following again only at the class's."""
    at = st.session_state.get("lesson_class_at")
    st.session_state[FOLLOW_KEY] = at is None or n - 1 == at


def _back_to_class(n: int) -> None:
    st.session_state[FOLLOW_KEY] = True
    st.query_params["step"] = str(n)


def back_button(at: int | None, i: int) -> None:
    """'Back to the class' while a student looks at another step than the class's."""
    st.session_state["lesson_class_at"] = at
    if at is not None and at != i:
        st.button(f"Back to the class (step {at + 1})", key="lesson_back_to_class",
                  on_click=_back_to_class, args=(at + 1,), type="primary", icon="↩️")


# A student's page asks the server for the class's state (serve/class_api.py) twice a second
# from this script and reruns only when it changed: no Streamlit rerun while nothing happens
# (a fragment that polled every second re-rendered the whole page in the browser, 0.05 of a
# core per waiting student). Where the route does not answer (an app served without it), the
# page reruns every few seconds instead and reads the class from the poll itself.
_WATCH_JS = """
export default function (component) {
  // Streamlit calls this at every rerun that changes `data` and calls the cleanup only when
  // the element goes: one watcher per element, which reads the newest data at each tick
  const { data, setTriggerValue, parentElement } = component;
  let w = parentElement.__bvClassWatch;
  if (!w) {
    w = parentElement.__bvClassWatch = { timer: null, sent: "", last_rerun: Date.now() };
    const sign = (s) => [s.step, s.open,
                         w.data.waiting && s.revealed.includes(w.data.watch)].join("|");
    const rerun = (why) => { w.last_rerun = Date.now(); w.trigger("changed", why); };
    const ask = async () => {
      const d = w.data, root = window.location.pathname.replace(/\\/[^/]*$/, "/");
      try {
        const r = await fetch(root + "api/class/" + encodeURIComponent(d.code),
                              { cache: "no-store", credentials: "same-origin" });
        const json = (r.headers.get("content-type") || "").includes("application/json");
        const s = json ? await r.json() : null;
        if (r.ok && s) {  // rerun once for each state this page does not show
          const now = sign(s), drawn = [d.step, true, false].join("|");
          if (now !== drawn && now !== w.sent) { w.sent = now; rerun(now); }
        } else if (r.status === 404 && s) {
          if (w.sent !== "gone") { w.sent = "gone"; rerun("gone"); }
        } else throw new Error("no class state");
      } catch (err) {  // no such route, or the poll busy: the page reads the class itself
        if (Date.now() - w.last_rerun >= d.fallback_ms) rerun("fallback " + Date.now());
      }
      if (w.timer !== null) w.timer = setTimeout(ask, document.hidden ? d.hidden_ms : d.every_ms);
    };
    w.timer = setTimeout(ask, data.every_ms);
    w.shown = () => {  // back from another tab: ask now, not at the slow pace's next tick
      if (!document.hidden && w.timer !== null) { clearTimeout(w.timer); w.timer = setTimeout(ask, 0); }
    };
    document.addEventListener("visibilitychange", w.shown);
  }
  w.data = data;
  w.trigger = setTriggerValue;
  return () => { clearTimeout(w.timer); w.timer = null;
                 document.removeEventListener("visibilitychange", w.shown);
                 delete parentElement.__bvClassWatch; };
}
"""
_WATCH: Any = None
WATCH_EVERY_S = 0.5  # how often a student's page asks for the class's state
WATCH_FALLBACK_S = 5.0  # without the route: a rerun this often
WATCH_HIDDEN_S = 5.0  # a page in a background tab asks this seldom


def _show_reveal(code: str, step_id: str, prediction: Any) -> None:
    """The instructor revealed the step this student waits on: it shows the result of their
    sent vote if any, else of the prediction on screen."""
    try:
        sent = class_poll().my_vote(code, step_id, browser_store.browser_id())
    except PollUnavailable as err:
        st.session_state[POLL_DOWN] = str(err)
        return
    revealed()[step_id] = sent if sent is not None else prediction


def _on_class_changed(code: str, step_id: str, waiting: bool, prediction: Any) -> None:
    """Before the rerun the watcher asked for: a reveal of the step this student waits on."""
    try:
        if waiting and class_poll().revealed(code, step_id):
            _show_reveal(code, step_id, prediction)
    except PollUnavailable as err:
        st.session_state[POLL_DOWN] = str(err)


def student_watch(code: str, step: Step, prediction: Any) -> None:
    """A student in a class: watch the class's step, whether it is open, and this step's
    reveal, and rerun the page when one of them changes (see _WATCH_JS)."""
    global _WATCH
    if _WATCH is None:
        _WATCH = st.components.v2.component("bertviz_class_watch", js=_WATCH_JS)
    waiting = step.answer is not None and step.id not in revealed()
    data = {"code": code, "step": st.session_state.get(CLASS_STEP_KEY, ""), "watch": step.id,
            "waiting": waiting, "every_ms": int(WATCH_EVERY_S * 1000),
            "fallback_ms": int(WATCH_FALLBACK_S * 1000),
            "hidden_ms": int(WATCH_HIDDEN_S * 1000)}
    st.html("<style>.st-key-class_watch_box { display: none; }</style>")
    with st.container(key="class_watch_box"):
        _WATCH(key="class_watch", data=data, height="content",
               on_changed_change=functools.partial(_on_class_changed, code, step.id, waiting,
                                                   prediction))
    try:  # revealed meanwhile, seen by a reload, a click or the 5-s fallback: shown now
        shown = waiting and class_poll().revealed(code, step.id)
    except PollUnavailable:
        st.caption("The class poll is not available: reveal the step yourself.")
        return
    if shown:
        _show_reveal(code, step.id, prediction)
        st.rerun()
    if waiting:
        st.caption("Waiting for your instructor to reveal this step...")


# -- the class's answers ----------------------------------------------------------------------
def results_chart(code: str, step: Step, answer: Answer | None, instructor: bool) -> None:
    """The class's predictions for a step as bars (students: after the reveal)."""
    from bertviz_lite.figures.lesson import poll_bars
    from bertviz_lite.lesson.tally import distribution

    shown = class_poll().revealed(code, step.id)
    try:
        votes = classroom().answers(credential(), code, step.id)
    except PollError:
        return
    labels, counts, marked = distribution(step.prediction.kind, votes,
                                          answer if shown else None, step.prediction.low,
                                          step.prediction.high)
    key = f"lesson_poll_{step.id}"
    ui.plot(fit(poll_bars(labels, counts, marked, len(votes), theme=ui.theme()), key), key=key)


@st.fragment(run_every=2.0)
def _live_results(code: str, step: Step, answer: Answer | None) -> None:
    """Every two seconds: the class's predictions for this step, and who joined."""
    try:
        st.caption(f"{class_poll().members(code)} joined")
        results_chart(code, step, answer, instructor=True)
    except PollUnavailable as err:
        st.warning(f"The class poll stopped working: {ui.safe(err)}. Reload the page.")


def instructor_panel(lesson: Lesson, step: Step, answer: Answer | None, code: str | None
                     ) -> None:
    """Start / close a class session, the join link, and the live distribution. The class
    moves with the instructor: the step shown here is the class's step."""
    with st.expander("Class poll (instructor)", expanded=code is not None):
        if skipped := st.session_state.get("lesson_skipped"):
            st.caption("Steps waiting for a recorded artefact: " + ui.safe("; ".join(skipped)))
        if err := st.session_state.pop("lesson_poll_error", None):
            st.warning(ui.safe(err))
        if code is None:
            st.button("Start a class session", key="lesson_class_start",
                      on_click=start_class,
                      args=(lesson.id, step.id, tuple(s.id for s in lesson.steps)))
            if note := st.session_state.pop("lesson_poll_note", None):
                st.caption(ui.safe(note))
            st.caption("Students who open the join link follow your steps and send their "
                       "predictions; you see the class's answers here, live.")
            return
        join_box(code, qr_width=160)
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
        mine = class_poll().my_vote(code, step.id, browser_store.browser_id())
        if err := st.session_state.pop("lesson_poll_error", None):
            st.warning(ui.safe(err))
        st.caption("Sent; you can change it until the reveal." if mine is not None else
                   "Your answer is anonymous; you can change it until the reveal.")
        return
    label = "Reveal to the class" if code else "Reveal"
    st.button(label, key=f"lesson_reveal_{step.id}", type="primary", disabled=not complete,
              on_click=_reveal, args=(step.id, prediction, code))


# -- the instructor's class page ----------------------------------------------------------------
@st.fragment(run_every=2.0)
def _class_status(code: str, lesson: Lesson) -> None:
    """Every two seconds: how many joined, and the step the class is on."""
    at = class_step(lesson, code)
    c1, c2 = st.columns(2)
    c1.metric("Joined", class_poll().members(code), help="browsers that opened the join link")
    c2.metric("The class is at", f"step {at + 1} of {len(lesson.steps)}" if at is not None
              else "not started", help="the step you show in the lesson; students follow it")
    if at is not None:
        st.caption(f"{at + 1}. {ui.safe(lesson.steps[at].title)}")


def _move_to(code: str, lesson: Lesson) -> None:
    try:
        classroom().move(credential(), code, lesson.steps[int(st.session_state["class_move"])].id)
    except PollError as err:
        _refused(err)


def class_page(code: str, lessons: list[Lesson], store: Any) -> None:
    """The Instructor page with a class session open: join link and QR code, who joined,
    the current step, the class's answers of each step, and Close."""
    from bertviz_lite.lesson import LessonError, answer_for
    from bertviz_lite.ui.navigation import page_link_target

    sess = class_poll().session(code)
    lesson = next((x for x in lessons if sess is not None and x.id == sess.lesson), lessons[0])
    left, right = st.columns([1, 1], gap="large")
    with left:
        join_box(code, qr_width=320)
    with right:
        _class_status(code, lesson)
        titles = [f"{n}. {s.title}" for n, s in enumerate(lesson.steps, 1)]
        st.selectbox("Move the class to", range(len(titles)), index=class_step(lesson, code) or 0,
                     format_func=titles.__getitem__, key="class_move", on_change=_move_to,
                     args=(code, lesson))
        st.page_link(page_link_target("lesson"), label="Open the lesson: the class follows you",
                     icon="▶️", query_params={"class": code, "present": "1"})
        st.button("Close the class session", key="class_close", on_click=_close_class,
                  args=(code,))
    st.subheader("The class's answers, step by step")
    for n, step in enumerate(lesson.steps, 1):
        if step.answer is None:
            continue
        try:
            answer = answer_for(step, store)
        except LessonError:
            continue
        shown = "revealed" if class_poll().revealed(code, step.id) else "not revealed yet"
        with st.expander(f"{n}. {step.title} ({shown})", expanded=sess is not None
                         and step.id == sess.step):
            results_chart(code, step, answer, instructor=True)
