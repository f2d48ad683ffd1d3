"""A student's Lesson page in a class, drawn by the lesson's player in the browser.

The page mounts one v2 component (no iframe) holding the same player as the static export
(`lesson/static/lesson.js`). It loads the lesson's data once (`serve/lesson_api.py`), asks the
class's state twice a second (`serve/class_api.py`), and when the instructor moves, it draws
the new step itself: no Streamlit rerun. Sending a prediction is the one thing that reaches
the server through Streamlit (a trigger: the poll records it under this browser's id).

Why: a page that reran for each move cost its browser 0.15-0.25 s of a core to redraw, so 30
students on the instructor's two cores took 3-7 s to follow; the player draws a step in a few
milliseconds. Where the player cannot start (no route, a lesson the route cannot build), it
says so and the page falls back to the app's own step (`ui.lesson.run_step`), which reruns.
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

import bertviz_lite.ui.browser_store as browser_store
from bertviz_lite.figures.stack import player_js
from bertviz_lite.lesson import Lesson
from bertviz_lite.lesson.export import STATIC
from bertviz_lite.lesson.poll import PollError, PollUnavailable
from bertviz_lite.ui.layout import presenter
from bertviz_lite.ui.lesson_progress import cookie_name
from bertviz_lite.ui.roles import class_poll, classroom
from bertviz_lite.ui.viewport import screen

log = logging.getLogger("bertviz_lite.app")

KEY = "class_player"
OFF_KEY = "class_player_off"  # why the player could not start in this session (then: reruns)
ERROR_KEY = "class_player_error"  # a sent prediction the poll refused
EVERY_S = 0.5  # how often the player asks for the class's state
HIDDEN_S = 5.0  # in a background tab

# The adapter: one player per element, kept across Streamlit's calls (a new `data` only
# updates it). The lesson's data and plotly.js come from the app's own routes.
_ADAPTER = r"""
function bvLoadPlotly(base) {  // plotly.js once per page, when a figure is first needed
  if (window.Plotly) return Promise.resolve();
  if (!window.__bvPlotly) window.__bvPlotly = new Promise((ok, no) => {
    const s = document.createElement("script");
    s.src = base + "api/lesson-assets/plotly.min.js";
    s.onload = ok;
    s.onerror = () => { window.__bvPlotly = null; no(new Error("plotly.js not loaded")); };
    document.head.appendChild(s);
  });
  return window.__bvPlotly;
}

export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  let box = parentElement.__bvLesson;
  if (!box) {
    box = parentElement.__bvLesson = { player: null, theme: null, main: null };
    box.main = document.createElement("div");
    box.main.setAttribute("aria-live", "polite");
    box.main.textContent = "Loading the lesson...";
    parentElement.appendChild(box.main);
  }
  box.data = data;
  box.trigger = setTriggerValue;
  if (box.player) box.player.update(data);
  // the figures are drawn in the page's theme (read here, as the viewport reporter reads it):
  // start again when it changes (the dark menu, presenter mode)
  const theme = bvTheme(data);
  box.main.className = "bv-lesson bv-in-app" + (theme.dark ? " bv-dark" : "") +
                       (data.present ? " bv-present" : "");
  if (theme.query !== box.theme) bvStart(box, theme.query);
  return () => setTimeout(() => {  // gone from the page: stop asking
    if (!parentElement.isConnected && box.player) box.player.destroy();
  }, 0);
}

function bvTheme(data) {  // {dark, query}: the page's brightness, presenter mode's window size
  let el = document.querySelector("[data-testid='stApp']") || document.body, rgb = null;
  for (; el && !rgb; el = el.parentElement) {  // the first painted background from the app up
    const v = (getComputedStyle(el).backgroundColor.match(/[\d.]+/g) || []).map(Number);
    if (v.length >= 3 && (v.length < 4 || v[3] > 0)) rgb = v;
  }
  const dark = rgb ? (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) < 110 : !!data.dark;
  const w = Math.round(window.innerWidth / 40) * 40, h = Math.round(window.innerHeight / 40) * 40;
  return { dark, query: "dark=" + (dark ? 1 : 0) + (data.present ? "&present=1&w=" + w + "&h=" + h : "") };
}

function bvStart(box, theme) {
  const data = box.data, base = window.location.pathname.replace(/\/[^/]*$/, "/");
  const code = encodeURIComponent(data.code);
  box.theme = theme;
  fetch(base + "api/lesson/" + encodeURIComponent(data.lesson) + "?" + theme,
        { credentials: "same-origin" })
    .then(r => (r.ok ? r.json() : Promise.reject(new Error("the lesson's data: HTTP " + r.status))))
    .then(L => {
      if (box.theme !== theme) return;  // a newer theme asked meanwhile
      if (box.player) box.player.destroy();
      box.main.textContent = "";
      box.player = BertvizLesson(box.main, L, {
        store: cookieStore(data.cookie, data.keep_days),
        ready: () => bvLoadPlotly(base),
        tryLink: t => base + t + (data.present ? (t.includes("?") ? "&" : "?") + "present=1" : ""),
        klass: {
          code: data.code, step: data.step, sent: data.sent,
          stateUrl: base + "api/class/" + code,
          answersUrl: id => base + "api/class/" + code + "/answers/" + encodeURIComponent(id) + "?" + theme,
          every_ms: data.every_ms, hidden_ms: data.hidden_ms,
          send: (step, prediction) => box.trigger("vote", { step, prediction, at: Date.now() }),
        },
      });
      box.player.update(box.data);
      const later = window.requestIdleCallback || (f => setTimeout(f, 1500));
      later(() => bvLoadPlotly(base).catch(() => {}));  // ready before the first reveal
    })
    .catch(err => { box.main.textContent = ""; box.trigger("unavailable", String(err)); });
}
"""
_COMPONENT: Any = None


def _component() -> Any:
    """The registered component (once per process): stack player + lesson player + adapter."""
    global _COMPONENT
    if _COMPONENT is None:
        from bertviz_lite.figures.stack import player_css

        js = "\n".join([player_js(), (STATIC / "lesson.js").read_text("utf-8"), _ADAPTER])
        css = player_css() + "\n" + (STATIC / "lesson.css").read_text("utf-8")
        _COMPONENT = st.components.v2.component("bertviz_class_player", js=js, css=css,
                                                isolate_styles=False)
    return _COMPONENT


def available() -> bool:
    """Whether a student's page can use the player: this process serves the routes, and the
    player has not failed in this session."""
    from bertviz_lite.serve.routes import served

    return served() and not st.session_state.get(OFF_KEY)


def _sent(code: str, lesson: Lesson) -> dict[str, Any]:
    """This browser's predictions in the class session, by step id."""
    me, poll = browser_store.browser_id(), class_poll()
    mine = {s.id: poll.my_vote(code, s.id, me) for s in lesson.steps if s.answer is not None}
    return {k: v for k, v in mine.items() if v is not None}


def _on_vote(code: str) -> None:
    """A prediction sent from the player: recorded under this browser's id."""
    got = st.session_state.get(KEY) or {}
    vote = got.get("vote") if hasattr(got, "get") else None
    if not isinstance(vote, dict) or not isinstance(vote.get("step"), str):
        return
    try:
        classroom().vote(code, vote["step"], browser_store.browser_id(), vote.get("prediction"))
    except PollUnavailable as err:
        st.session_state[ERROR_KEY] = f"The class poll is not available right now ({err}): " \
                                      "your prediction stays on your screen."
    except PollError as err:
        st.session_state[ERROR_KEY] = f"Your prediction was not sent: {err}."


def _on_unavailable() -> None:
    got = st.session_state.get(KEY) or {}
    why = got.get("unavailable") if hasattr(got, "get") else None
    log.warning("the lesson player did not start (%s): this page reruns instead", why)
    st.session_state[OFF_KEY] = str(why or "unknown")


def class_player(lesson: Lesson, code: str, class_step_id: str) -> None:
    """Draw the student's lesson with the player: it follows the class's step
    (`class_step_id`, '' before one), sends predictions, shows the reveals."""
    from bertviz_lite import ui

    if err := st.session_state.pop(ERROR_KEY, None):
        st.warning(ui.safe(err))
    try:
        sent = _sent(code, lesson)
    except PollUnavailable:
        sent = {}
    data = {"code": code, "lesson": lesson.id, "step": class_step_id, "sent": sent,
            "dark": screen().dark, "present": presenter(),
            "cookie": cookie_name(lesson.id), "keep_days": browser_store.KEEP_DAYS,
            "every_ms": int(EVERY_S * 1000), "hidden_ms": int(HIDDEN_S * 1000)}
    _component()(key=KEY, data=data, height="content",
                 on_vote_change=lambda: _on_vote(code), on_unavailable_change=_on_unavailable)
