"""Streamlit helpers of the Lesson page: the step frame, the prediction widgets, the reveal,
presenter mode in the URL (?present=1), the stage layout, and the class poll views.

Progress lives in the URL (`/lesson?step=4`); Back and Next answer PageUp / PageDown (what a
presentation clicker sends) and are ordinary focusable buttons for Tab + Enter.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import streamlit as st

from bertviz_lite import lesson as L
from bertviz_lite import ui
from bertviz_lite.lesson.answers import FACT_NAMES, Answer, facts
from bertviz_lite.lesson.explain import number
from bertviz_lite.lesson.format import Step
from bertviz_lite.lesson.poll import Poll, PollError, normalise

log = logging.getLogger("bertviz_lite.app")

ON = ("1", "true", "on", "yes")
# Room for a figure on the stage below the step header of a 720-pixel-high screen. Bar
# charts are drawn that high; figures that cannot be squeezed (BERT's stacked boxes, the
# four cost panels) are drawn whole and zoomed to fit (CSS zoom: re-laid out, never cropped).
STAGE_ROOM_PX = 450
STAGE_ROOM_1080_PX = 800
UNSQUEEZABLE = ("diagram", "diagram-forward", "cost", "train-val")
STAGE_CSS = """<style>
.block-container { padding-top: 3.1rem !important; padding-bottom: 1rem !important;
  max-width: none !important; padding-left: 2.2rem !important; padding-right: 2.2rem !important; }
[data-testid="stHeader"] { background: transparent !important; }  /* no band over the title */
h1 { font-size: 1.9rem !important; margin: 0 !important; padding: 0 0 .2rem 0 !important; }
h2 { font-size: 1.6rem !important; } h3 { font-size: 1.4rem !important; padding: .2rem 0 !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li {
  font-size: .95rem !important; line-height: 1.45 !important; }
[data-testid="stAlert"] [data-testid="stMarkdownContainer"] p { font-size: .9rem !important; }
[data-testid="stAlertContainer"] { padding: .6rem .9rem !important; }
[data-testid="stVerticalBlock"] { gap: .45rem; }
/* a 720-px-high projector: the live gradient chart drawn at 3/4 size, nothing clipped */
@media (max-height: 800px) { .st-key-bp_job_flow { zoom: 0.74; } }

</style>"""


# -- presenter mode in the URL ---------------------------------------------------------------
def present_from_url() -> None:
    """Before the sidebar toggle is drawn: `?present=1` (or 0) in a new URL switches presenter
    mode on (off). Only a change of the URL counts, so the toggle still works afterwards."""
    value = st.query_params.get("present")
    if value != st.session_state.get("_present_seen"):
        st.session_state["_present_seen"] = value
        if value is not None:
            st.session_state["presenter"] = value.lower() in ON
    if st.session_state.get("presenter"):  # the stage needs the whole width
        st.set_page_config(initial_sidebar_state="collapsed")


def present_to_url() -> None:
    """After the toggle: keep `present=1` in the URL while presenter mode is on, so links
    and bookmarks open in it."""
    want = "1" if ui.presenter() else None
    if st.query_params.get("present") != want:
        if want:
            st.query_params["present"] = want
        else:
            st.query_params.pop("present", None)
        st.session_state["_present_seen"] = want


def stage() -> bool:
    """The stage layout (presenter mode): everything that matters on one projector screen."""
    return ui.presenter()


LESSON_CSS = """<style>
[class*="st-key-lesson_pred_"] [data-testid="stButtonGroup"] div {
  flex-wrap: wrap !important; overflow-x: visible !important; }
</style>"""


def stage_frame(hide_title: bool = False) -> None:
    """Compact headings and spacing on the stage (the page title hidden where the step
    header names the page)."""
    if stage():
        st.html(STAGE_CSS + ("<style>h1 { display: none !important; }</style>"
                             if hide_title else ""))


@contextlib.contextmanager
def folded(label: str) -> Iterator[None]:
    """On the stage: an expander, closed; elsewhere: in place."""
    if stage():
        with st.expander(label, expanded=False):
            yield
    else:
        yield


def fit(fig: Any, key: str, name: str = "") -> Any:
    """On the stage, the figure drawn under `key` made to fit the room the screen has."""
    if not stage():
        return fig
    height = float(fig.layout.height or 450)
    if name not in UNSQUEEZABLE:
        fig.update_layout(height=min(height, STAGE_ROOM_PX))
        return fig
    small, big = STAGE_ROOM_PX / height, min(1.0, STAGE_ROOM_1080_PX / height)
    st.html(f"<style>@media (max-height: 800px) {{ .st-key-{key} {{ zoom: {small:.3f}; }} }}"
            f"@media (min-height: 1000px) {{ .st-key-{key} {{ zoom: {big:.3f}; }} }}</style>")
    return fig


def stage_mode_buttons() -> None:
    """The setting that matters in a demo, as two big buttons: frozen or fine-tuned."""
    c1, c2 = st.columns(2)
    for col, (mode, label) in zip((c1, c2), [("frozen", "Frozen"), ("finetune", "Fine-tune")]):
        col.button(label, key=f"bp_stage_{mode}", width="stretch",
                   type="primary" if st.session_state.get("mode", "frozen") == mode else "secondary",
                   on_click=lambda m=mode: st.session_state.update(mode=m))


# -- lessons and artefacts -------------------------------------------------------------------
def _signature(folder: Path) -> tuple[tuple[str, float], ...]:
    """Lesson files and artefacts with their modification times: edits show on next run."""
    files = [*folder.glob("*.toml"), *(L.lessons_dir().parent / "sweeps").glob("*.json"),
             *(L.lessons_dir().parent / "changes").glob("*.json")]
    return tuple(sorted((str(p), p.stat().st_mtime) for p in files))


@st.cache_resource(max_entries=4)
def _lessons(folder: str, runs: str, signature: tuple[tuple[str, float], ...]
             ) -> tuple[list[L.LessonFile], L.ArtefactStore]:
    del signature  # only part of the cache key
    store = L.ArtefactStore(runs=runs)
    return L.read_lessons(Path(folder), store), store


def lessons() -> tuple[list[L.LessonFile], L.ArtefactStore]:
    """Every lesson file (validated) and the artefact store they read."""
    folder = L.lessons_dir()
    return _lessons(str(folder), str(ui.settings().recorded_runs_path()), _signature(folder))


def lesson_picker() -> tuple[L.Lesson | None, L.ArtefactStore]:
    """The lesson of `?lesson=` (or the first usable one); one error line per bad file."""
    files, store = lessons()
    for f in files:
        if f.error:
            st.error(f"Lesson file not loaded: {ui.safe(f.error)}")
    usable = [f for f in files if f.lesson is not None]
    if not usable:
        st.info("No usable lesson in assets/lessons/.")
        return None, store
    wanted = st.query_params.get("lesson")
    chosen = next((f for f in usable if f.lesson.id == wanted), usable[0])
    st.session_state["lesson_skipped"] = chosen.skipped
    return chosen.lesson, store


def step_index(lesson: L.Lesson) -> int:
    """0-based step from `?step=` (1-based); out of range or not a number: the first step."""
    raw = st.query_params.get("step", "1")
    try:
        n = int(raw)
    except ValueError:
        n = 1
    return min(max(n, 1), len(lesson.steps)) - 1


def _go(n: int) -> None:
    st.query_params["step"] = str(n)


def nav(lesson: L.Lesson, i: int, where: Any) -> None:
    """Back / progress / Next; PageUp and PageDown from the keyboard or a clicker."""
    c1, c2, c3 = where.columns([1.4, 3, 1.4], vertical_alignment="center")
    c1.button("Back", key="lesson_back", on_click=_go, args=(i,), disabled=i == 0,
              shortcut="PageUp", width="stretch")
    c2.progress((i + 1) / len(lesson.steps),
                text=f"{lesson.title} · step {i + 1} of {len(lesson.steps)}")
    c3.button("Next", key="lesson_next", on_click=_go, args=(i + 2,), type="primary",
              disabled=i + 1 >= len(lesson.steps), shortcut="PageDown", width="stretch")


def facts_text(text: str, step: Step, store: L.ArtefactStore) -> str:
    """A step's text or question with its setup facts ({layers}, ...) filled in."""
    refs = step.answer.artefacts if step.answer else ()
    found = facts([store.load(r) for r in refs])
    return text.format_map({k: found.get(k, "?") for k in FACT_NAMES})


# -- the prediction ----------------------------------------------------------------------------
def log_values(low: float, high: float) -> list[float]:
    """Slider stops 1, 2, 3, 5, 10, 20, ... between low and high (inclusive)."""
    out = []
    for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        out += [m * 10.0 ** k for m in (1, 2, 3, 5) if low <= m * 10.0 ** k <= high]
    return out


def _layers_widget(step: Step, answer: Answer, key: str, disabled: bool) -> list[str]:
    """One toggle per group of the recorded model, input (left) to output (right)."""
    picked = st.pills("Groups that receive a gradient", answer.options, selection_mode="multi",
                      key=key, disabled=disabled, label_visibility="collapsed")
    return [g for g in answer.options if g in (picked or [])]


def prediction_widget(step: Step, answer: Answer | None, disabled: bool) -> tuple[Any, bool]:
    """The widget of the step's prediction kind -> (prediction, complete)."""
    p, key = step.prediction, f"lesson_pred_{step.id}"
    if p.kind == "none" or answer is None:
        return None, True
    if p.kind == "layers":
        st.caption("Click each group that will get a gradient (input left, head right).")
        return _layers_widget(step, answer, key, disabled), True
    if p.kind == "log-number":
        values = log_values(p.low, p.high)
        v = st.select_slider("Your prediction (log scale)", values, key=key, disabled=disabled,
                             value=values[len(values) // 2], label_visibility="collapsed",
                             format_func=lambda x: f"{number(x)}{p.unit}")
        return float(v), True
    if p.kind == "choice":
        v = st.radio("Your prediction", answer.options, index=None, key=key, disabled=disabled,
                     format_func=lambda o: answer.labels.get(o, o))
        return v, v is not None
    order = st.multiselect("Pick the groups in order, most changed first", answer.options,
                           key=key, disabled=disabled, placeholder="most changed first ...")
    return list(order), len(order) == len(answer.options)


# -- reveal, observation, explanation ---------------------------------------------------------
def revealed() -> dict[str, Any]:
    """{step id: the prediction it was revealed with} for this browser session."""
    return st.session_state.setdefault("lesson_revealed", {})


def _reveal(step_id: str, prediction: Any, code: str | None) -> None:
    revealed()[step_id] = prediction
    if code:
        class_poll().reveal(code, step_id)


def observe(step: Step, store: L.ArtefactStore) -> float:
    """Draw the step's figures from its artefacts; returns the seconds it took (server)."""
    t0 = time.perf_counter()
    arts = [store.load(r) for r in (step.answer.artefacts if step.answer else ())]
    try:
        figs = L.observation(step.figures, arts, ui.theme())
    except (ValueError, KeyError, TypeError) as err:
        ui.friendly_error(err, "draw this step's recorded artefact")
        return 0.0
    from bertviz_lite.lesson.observe import LABELS

    tabs = st.tabs([LABELS.get(n, n) for n, _ in figs]) if len(figs) > 1 else [st.container()]
    for tab, (name, fig) in zip(tabs, figs):
        with tab:
            key = f"lesson_fig_{step.id}_{name}"
            ui.plot(fit(fig, key, name), key=key)
    seconds = time.perf_counter() - t0
    st.session_state.setdefault("lesson_draw_s", {})[step.id] = seconds
    return seconds


def explanation(step: Step, prediction: Any, answer: Answer) -> None:
    """Right or not, in words that quote the prediction; then how the answer was computed."""
    verdict = L.explain(step, prediction, answer)
    box = st.success if verdict.right else st.warning
    box(verdict.text.replace("<", "&lt;").replace(">", "&gt;"))  # no HTML from a lesson file
    st.caption("Measured: " + ui.safe(answer.how) + ".")


def try_it(step: Step) -> None:
    """ "Run it yourself": a link to the page that trains or shows this, with its settings."""
    if not step.try_it:
        return
    page, _, query = step.try_it.partition("?")
    params = dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv)
    st.page_link(f"pages/{page}.py", label="Run it yourself", icon="▶️", query_params=params)


def summary(lesson: L.Lesson, store: L.ArtefactStore) -> None:
    """The student's predictions, step by step: right or not."""
    rows = []
    for s in lesson.steps:
        if s.id not in revealed() or s.answer is None:
            continue
        v = L.explain(s, revealed()[s.id], L.answer_for(s, store))
        rows.append({"step": s.title, "you predicted": v.fields.get("prediction", ""),
                     "measured": v.fields.get("answer", ""), "right": "yes" if v.right
                     else "no"})
    if rows:
        right = sum(r["right"] == "yes" for r in rows)
        st.metric("Your predictions", f"{right} of {len(rows)} right")
        st.dataframe(rows, hide_index=True, width="stretch")
    else:
        st.caption("Reveal some steps first: your predictions are compared here.")


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


def _results_chart(code: str, step: Step, answer: Answer | None, instructor: bool) -> None:
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
    _results_chart(code, step, answer, instructor=True)


@st.fragment(run_every=2.0)
def _wait_for_reveal(code: str, step_id: str, prediction: Any) -> None:
    """A student's view polls until the instructor reveals the step."""
    if class_poll().revealed(code, step_id):
        sent = class_poll().my_vote(code, step_id, ui.session_id())
        revealed()[step_id] = sent if sent is not None else prediction
        st.rerun(scope="app")
    st.caption("Waiting for your instructor to reveal this step...")


def instructor_panel(lesson: L.Lesson, step: Step, answer: Answer | None, code: str | None
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


# -- one step ---------------------------------------------------------------------------------
def run_step(lesson: L.Lesson, store: L.ArtefactStore) -> None:
    """The current step: text and prediction on the left; observation and explanation on the
    right once revealed; the class poll below."""
    i = step_index(lesson)
    step = lesson.steps[i]
    answer = L.answer_for(step, store)
    code, instructor = class_code(), ui.is_instructor()
    nav(lesson, i, st.container())
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
        prediction, complete = prediction_widget(step, answer, disabled=shown)
        reveal_controls(step, prediction, complete, code, instructor)
        if shown and answer is not None:
            explanation(step, revealed()[step.id], answer)
        try_it(step)
    with right:
        if step.answer is None:
            summary(lesson, store)
        elif shown:
            observe(step, store)
            if code and not instructor:
                _results_chart(code, step, answer, instructor=False)
        else:
            st.info("Make your prediction, then press **Reveal**: the recorded result "
                    "appears here.")
    if instructor:
        instructor_panel(lesson, step, answer, code)
