"""The page frame: header, presenter mode, sidebar, plots, "Show the code", small renderers."""

from __future__ import annotations

import html
import inspect
from collections.abc import Callable
from typing import Any

import streamlit as st

from bertviz_lite.figures import DEFAULT_THEME, PRESENTER_THEME, Theme

# Type sized from the screen: 18 px at 720 px high, 27 px at 1080, 54 px on a 4K projector
# (Streamlit sizes its widgets in rem, so they grow with it). Colours stay the theme's, so a
# dark theme (the operating system's, or Streamlit's menu) stays dark and readable.
PRESENTER_CSS = """
<style>
html { font-size: clamp(18px, 2.5vh, 64px) !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.1rem; }
h1 { font-size: 2.4rem !important; } h2 { font-size: 1.9rem !important; }
h3 { font-size: 1.5rem !important; }
label, [data-testid="stWidgetLabel"] p { font-size: 1.05rem !important; font-weight: 600; }
</style>
"""


# -- page frame --------------------------------------------------------------------------
def presenter() -> bool:
    """Whether presenter mode (large type, high contrast) is on for this session."""
    return bool(st.session_state.get("presenter", False))


def theme() -> Theme:
    """The figure theme of this screen: presenter mode's type sized from the browser window,
    dark where the app is drawn dark (the operating system's dark mode, Streamlit's menu)."""
    from bertviz_lite.figures.theme import dark, presenter_theme
    from bertviz_lite.ui.viewport import screen

    s = screen()
    base = presenter_theme(s.width, s.height, PRESENTER_THEME) if presenter() else DEFAULT_THEME
    return dark(base) if s.dark else base


PRESENT_PARAM = "present"  # ?present=1: presenter mode, kept in every page's URL


def presenter_params() -> dict[str, str]:
    """Query parameters that keep presenter mode in a link ({} when it is off)."""
    return {PRESENT_PARAM: "1"} if presenter() else {}


PRESENTER_TOGGLE = "presenter_toggle"  # the sidebar widget; "presenter" is the plain state


def _toggled() -> None:
    st.session_state["presenter"] = bool(st.session_state[PRESENTER_TOGGLE])


def sidebar() -> None:
    """Controls shared by every page: presenter mode, kept in the URL as ?present=1 so a
    shared link or a bookmark opens in it and it survives moving between pages.

    Only a change of the URL's `present` counts (a new link opened), so the toggle still
    works afterwards. On the stage the sidebar starts collapsed: it needs the whole width.
    The mode lives in a plain session key (not the widget's), so it holds on every page run.
    """
    value = st.query_params.get(PRESENT_PARAM)
    if value != st.session_state.get("_present_seen") or "presenter" not in st.session_state:
        st.session_state["_present_seen"] = value
        st.session_state["presenter"] = str(value).lower() in ("1", "true", "yes", "on")
    if presenter():
        st.set_page_config(initial_sidebar_state="collapsed")
    st.session_state[PRESENTER_TOGGLE] = presenter()
    with st.sidebar:
        st.toggle("Presenter mode", key=PRESENTER_TOGGLE, on_change=_toggled,
                  help="Large type and high contrast for a projector")
    want = "1" if presenter() else None
    if want:
        st.query_params[PRESENT_PARAM] = want
    elif PRESENT_PARAM in st.query_params:
        del st.query_params[PRESENT_PARAM]
    st.session_state["_present_seen"] = want


def mark_entrypoint() -> None:
    """Called by app.py on every run: the pages know they run inside st.navigation."""
    st.session_state["_via_app"] = True


def _ensure_entrypoint() -> None:
    """A deep link as the very first request of a fresh server runs the page without app.py
    (Streamlit's legacy pages/ mode until some run calls st.navigation). Switch that mode off
    and rerun, so app.py builds the navigation and the same page runs inside it."""
    if st.session_state.get("_via_app"):
        return
    try:
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
    except (ImportError, AttributeError):  # a future Streamlit without the legacy mode
        return
    st.rerun()


# WCAG AA (4.5:1) for the text Streamlit draws faded: captions (#828180 by default, 3.9:1),
# the selected option of a segmented control (4.47:1) and labels of disabled widgets (2.3:1;
# exempt for inactive controls, made readable anyway), st.json's coloured values (numbers,
# booleans and nulls below 4.5:1), and the keyboard hint on a primary button (the lesson's
# Next: PageDown, 2.8:1; white on the button's red is 5.2:1). Checked by axe in
# tests/test_a11y.py.
A11Y_CSS = """
<style>
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { color: #595959 !important; opacity: 1 !important; }
button[data-selected="true"] [data-testid="stMarkdownContainer"] p { color: #A3172A !important; }
label[data-testid="stWidgetLabel"][disabled] p { color: #6B6B6B !important; }
[data-testid="stJson"] .variable-value, [data-testid="stJson"] .variable-value * { color: #1F3A93 !important; }
button[kind="primary"] kbd { color: #FFFFFF !important; opacity: 1 !important; }
.bv-sr-only { position: absolute !important; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }
</style>
"""

# The mode picker lists every registered mode: its buttons wrap onto more lines instead of
# running out of the form's column (with eight modes, four were cut off at 1400 px).
WRAP_CSS = """<style>
.st-key-mode [data-testid="stButtonGroup"] div {
  flex-wrap: wrap !important; overflow-x: visible !important; }
</style>"""

# Off the stage, the wide layout's side margins (5rem each) shrink to 2.5rem: two charts side
# by side (Attention, What changed inside BERT?) are then each more than a third of a 1400-px
# window with the sidebar open, as the audit asks (they were 462 px of 1400).
NORMAL_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-left: 2.5rem !important;
  padding-right: 2.5rem !important; }
</style>"""

# The same on a dark background (the greys lightened to >= 4.5:1 on #0E1117).
A11Y_DARK_CSS = """
<style>
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { color: #C8C8C8 !important; opacity: 1 !important; }
button[data-selected="true"] [data-testid="stMarkdownContainer"] p { color: #FF9AA8 !important; }
label[data-testid="stWidgetLabel"][disabled] p { color: #A8A8A8 !important; }
[data-testid="stJson"] .variable-value, [data-testid="stJson"] .variable-value * { color: #9CC3FF !important; }
button[kind="primary"] kbd { color: #FFFFFF !important; opacity: 1 !important; }
.bv-sr-only { position: absolute !important; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }
</style>
"""


def page_header(title: str, lead: str) -> None:
    """Title and one-paragraph lead of a page; presenter CSS when on."""
    _ensure_entrypoint()
    from bertviz_lite.ui.viewport import report, screen

    report(size_matters=presenter())
    st.html((A11Y_CSS if not screen().dark else A11Y_DARK_CSS) + WRAP_CSS)
    st.html(PRESENTER_CSS if presenter() else NORMAL_CSS)
    st.title(title)
    st.markdown(glossary_links(lead))


def glossary_links(markdown: str) -> str:
    """Markdown with the first mention of each glossary term linked to /glossary (the
    definition as the link's tooltip)."""
    from bertviz_lite.lesson.glossary import link_terms

    return link_terms(markdown)


def built_once(builder: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`builder(*args, **kwargs)`, built once per server and shown by every session: for the
    figures and tables that do not depend on a session (the start page's diagrams, the paper's
    table). The result is shared, so nothing may change it after this (`plot` only reads it).
    Arguments must be hashable values (tuples, not lists)."""
    return _built_once(f"{builder.__module__}.{builder.__qualname__}", builder, args, kwargs)


@st.cache_resource(max_entries=64, show_spinner=False)
def _built_once(name: str, _builder: Callable[..., Any], args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
    """The cache behind `built_once`, keyed by the builder's name and its arguments."""
    return _builder(*args, **kwargs)


def plot(fig: Any, key: str | None = None, alt: str | None = None) -> None:
    """Show a plotly figure full width; the modebar camera saves it as PNG.

    alt: the chart's text alternative (bertviz_lite.figures.describe), shown under it for
    screen readers and the back row; default: a generic one from the figure's title and data.
    """
    from bertviz_lite.figures.describe import describe_figure

    config = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
    st.plotly_chart(fig, key=key, config=config, theme=None)
    words = f"Chart in words: {alt if alt is not None else describe_figure(fig)}"
    if presenter():  # for screen readers, without taking the projector's room
        st.html(f'<div class="bv-sr-only">{html.escape(words)}</div>')
    else:
        st.caption(words)


def svg_figure(svg: str, alt: str) -> None:
    """An inline SVG figure (drawn by the browser at once, no chart script to load) with its
    text alternative under it, as `plot` gives a plotly figure."""
    # st.html's sanitizer drops SVG; the SVG is our own markup, every text in it escaped
    st.markdown(f'<figure style="margin:0">{svg}</figure>', unsafe_allow_html=True)
    st.caption(f"Chart in words: {alt}")


def show_code(*targets: Callable[..., Any] | str, folded: bool = True) -> None:
    """ "Show the code": the real bertviz_lite functions behind a view. A target is the function
    itself, or its name as "package.module:Qualified.name" (read without importing the module,
    so a page that trains in the workers need not load torch to show how). folded=False: in
    place, under a heading, e.g. inside another expander, which cannot hold one."""
    if not folded:
        st.subheader("The code")
        _code(targets)
        return
    with st.expander("Show the code"):
        _code(targets)


def _code(targets: tuple[Callable[..., Any] | str, ...]) -> None:
    from bertviz_lite.source_code import source_of

    for target in targets:
        if isinstance(target, str):
            st.caption(f"`{target.replace(':', '.')}`")
            st.code(source_of(target), language="python")
        else:
            st.caption(f"`{target.__module__}.{target.__qualname__}`")
            st.code(inspect.getsource(target), language="python")


# -- small renderers -----------------------------------------------------------------------
def token_chips(tokens: list[str], segments: list[int]) -> None:
    """Word pieces as escaped chips; sentence B tinted."""
    from bertviz_lite.figures import token_chips_html

    st.html(token_chips_html(tokens, segments))


def prediction_view(trace: Any) -> None:
    """The prediction in words: class, score, or one tag per word."""
    if trace.word_tags:
        st.dataframe([{"word": w, "tag": t} for w, t in trace.word_tags], hide_index=True)
    elif isinstance(trace.prediction, float):
        st.metric("Predicted similarity (0-5)", f"{trace.prediction:.2f}")
    else:
        st.metric("Prediction", str(trace.prediction))
