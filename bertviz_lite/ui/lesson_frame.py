"""The frame of the Lesson page and the stage: presenter mode in the URL (?present=1), the
stage layout (compact headings, figures fitted to a 720- or 1080-pixel-high projector,
settings folded away) and the session's record of revealed steps."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.engine.modes import FINETUNE, FROZEN, mode_of

ON = ("1", "true", "on", "yes")
# Room for a figure on the stage below the step header, as a share of the screen's height
# (type grows with the screen, so the header does too): 450 px of a 720-px projector.
STAGE_ROOM = 0.62
STAGE_CSS = """<style>
.block-container { padding-top: 2.6rem !important; padding-bottom: .2rem !important;
  max-width: none !important; padding-left: 2.2rem !important; padding-right: 2.2rem !important; }
[data-testid="stHeader"] { background: transparent !important; }  /* no band over the title */
h1 { font-size: 1.9rem !important; margin: 0 !important; padding: 0 0 .2rem 0 !important; }
h2 { font-size: 1.6rem !important; } h3 { font-size: 1.4rem !important; padding: .2rem 0 !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li {
  font-size: .95rem !important; line-height: 1.45 !important; }
[data-testid="stAlert"] [data-testid="stMarkdownContainer"] p { font-size: .9rem !important; }
[data-testid="stAlertContainer"] { padding: .6rem .9rem !important; }
[data-testid="stVerticalBlock"] { gap: .45rem; }

</style>"""


# -- presenter mode in the URL ---------------------------------------------------------------
def stage() -> bool:
    """The stage layout (presenter mode): everything that matters on one projector screen."""
    return ui.presenter()


LESSON_CSS = """<style>
[class*="st-key-lesson_pred_"] [data-testid="stButtonGroup"] div {
  flex-wrap: wrap !important; overflow-x: visible !important; }
/* a narrow window (a laptop's half screen): Back and Next keep their words, not the key's
   name beside them (at 900 px "Next" was cut to "N.."); PageUp and PageDown still work */
@media (max-width: 1100px) {
  .st-key-lesson_back kbd, .st-key-lesson_next kbd { display: none !important; } }
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
    """On the stage, the figure made to fit the room the screen has: its height set from
    the screen (plotly lays it out again at that size; nothing is scaled down, so its type
    stays as large as the theme made it)."""
    if not stage():
        return fig
    from bertviz_lite.ui.viewport import screen

    room = int(screen().height * STAGE_ROOM)
    fig.update_layout(height=room)
    return fig


def stage_mode(mode: str) -> str:
    """A run's mode as one of the stage's three buttons: frozen, top-k or finetune."""
    return mode if mode in (FROZEN, FINETUNE) else "top-k"


def stage_mode_buttons() -> None:
    """The setting that matters in a demo, as big buttons: frozen, top-k or fine-tuned (the
    labels of frozen and fine-tuned from the mode registry).

    The mode is the settings' own ("mode", bound to the URL): before the settings' widget
    has run, the URL's ?mode= is what it will show, so the buttons read that first.
    """
    current = stage_mode(str(st.session_state.get("mode") or st.query_params.get("mode")
                             or FROZEN))
    k = st.session_state.get("top_k") or st.query_params.get("top_k") or 2
    cols = st.columns(3)
    for col, (mode, label) in zip(cols, [(FROZEN, mode_of(FROZEN).label.capitalize()),
                                         ("top-k", f"Top-{k}"),
                                         (FINETUNE, mode_of(FINETUNE).label.capitalize())]):
        col.button(label, key=f"bp_stage_{mode}", width="stretch",
                   type="primary" if current == mode else "secondary",
                   on_click=lambda m=mode: st.session_state.update(mode=m))


def order_widget(options: list[str], key: str, disabled: bool) -> list[str]:
    """An order predicted by clicking the items one after another (most first): each click
    numbers its item, Undo takes the last back. Nothing scrolls away, unlike a multiselect.

    options: the items (group names); key: the container's key (CSS class st-key-<key>).
    Returns the items clicked so far, in click order.
    """
    store = f"{key}_order"
    picked = [o for o in st.session_state.get(store, []) if o in options]
    st.session_state[store] = picked

    def pick(item: str) -> None:
        st.session_state[store] = [*st.session_state.get(store, []), item]

    def undo() -> None:
        st.session_state[store] = list(st.session_state.get(store, []))[:-1]

    with st.container(key=key, horizontal=True):
        for i, item in enumerate(options):
            n = picked.index(item) + 1 if item in picked else None
            st.button(f"{n}. {item}" if n else item, key=f"{key}_pick_{i}",
                      type="primary" if n else "secondary", disabled=disabled or n is not None,
                      on_click=pick, args=(item,))
        st.button("Undo", key=f"{key}_undo", icon=":material/undo:",
                  disabled=disabled or not picked, on_click=undo)
    return picked


STACK = "stack"  # the animated stack, shown first where a step has the gradient per group
STACK_PANELS = 3  # runs side by side in the lesson's column: readable at 1280x720
BESIDE_FIRST = {"frozen": 0, "finetune": 1}  # earlier runs shown beside: the lecture's two first


def step_views(names: list[str]) -> list[str]:
    """The views a step offers, in order: the animated stack first wherever the step shows
    the gradient per group (the bars stay, as the exact numbers)."""
    return ([STACK] if "grad-flow" in names else []) + list(names)


def shown_figure(step: Any, figs: list[tuple[str, Any]], arts: list[Any]) -> None:
    """One of the step's figures at a time, picked with a row of buttons (not tabs: a plotly
    figure drawn in a hidden tab never learns its width and stays a thumbnail)."""
    from bertviz_lite.lesson.observe import LABELS
    from bertviz_lite.record.runs import RunRecord
    from bertviz_lite.ui.stack import recorded_stack

    by_name = dict(figs)
    names = step_views([n for n, _ in figs])
    labels = {STACK: "The gradient flowing down", **LABELS,
              "grad-flow": "Exact numbers"}
    choice = names[0]
    if len(names) > 1:
        choice = st.segmented_control(
            "View", names, default=names[0], key=f"lesson_view_{step.id}", required=True,
            format_func=lambda n: labels.get(n, n), label_visibility="collapsed") or names[0]
    key = f"lesson_fig_{step.id}_{choice}"
    if choice == STACK:
        runs = [a for a in arts if isinstance(a, RunRecord)]
        # beside this step's run: the runs of the same task already revealed in earlier steps
        # (frozen, then fine-tuned...): the contrast in one frame, and nothing spoiled
        seen = st.session_state.setdefault("_lesson_stack_runs", {})
        earlier = list({r.mode: r for sid, r in seen.items() if sid != step.id and runs
                        and r.task == runs[0].task and r.groups == runs[0].groups
                        and r.mode not in {x.mode for x in runs}}.values())
        earlier.sort(key=lambda r: BESIDE_FIRST.get(r.mode, len(BESIDE_FIRST)))
        earlier = earlier[:max(0, STACK_PANELS - len(runs))]
        for r in runs:
            seen.setdefault(step.id, r)
        recorded_stack([*runs, *earlier], key, ui.theme(),
                       note="Recorded runs: this step's" + (", beside those revealed before."
                                                             if earlier else "."),
                       reserve_rem=1.0 if stage() else 0.0)  # the note's second line
        return
    ui.plot(fit(by_name[choice], key, choice), key=key)


def revealed() -> dict[str, Any]:
    """{step id: the prediction it was revealed with} for this browser session."""
    return st.session_state.setdefault("lesson_revealed", {})
