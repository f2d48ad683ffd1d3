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
    """The setting that matters in a demo, as two big buttons: frozen or fine-tuned (their
    labels from the mode registry)."""
    c1, c2 = st.columns(2)
    for col, mode in zip((c1, c2), (FROZEN, FINETUNE)):
        col.button(mode_of(mode).label.capitalize(), key=f"bp_stage_{mode}", width="stretch",
                   type="primary" if st.session_state.get("mode", FROZEN) == mode else "secondary",
                   on_click=lambda m=mode: st.session_state.update(mode=m))



def revealed() -> dict[str, Any]:
    """{step id: the prediction it was revealed with} for this browser session."""
    return st.session_state.setdefault("lesson_revealed", {})
