"""The browser's screen as the pages see it: its size (presenter mode sizes type and figures
from it) and whether the app is drawn dark (the operating system's dark mode or Streamlit's
dark theme; the figures follow it).

A small custom component (v2, no iframe, nothing loaded from a network) reports
`innerWidth x innerHeight` (rounded to 40 px, so a scrollbar does not rerun the page) and the
app's background brightness; a change reruns the script once. Off the stage (presenter mode)
only the brightness is worth a rerun: the size is reported when the stage needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

KEY = "_viewport"
_JS = """
export default function (component) {
  const { data, setStateValue } = component;
  const read = () => {
    // the first painted background from the app up (a transparent one, as before the
    // theme's styles apply, reads as rgba(0, 0, 0, 0): not black); none: the system's choice
    let el = document.querySelector("[data-testid='stApp']") || document.body, rgb = null;
    for (; el && !rgb; el = el.parentElement) {
      const v = (getComputedStyle(el).backgroundColor.match(/[\\d.]+/g) || []).map(Number);
      if (v.length >= 3 && (v.length < 4 || v[3] > 0)) rgb = v;
    }
    const dark = rgb ? (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) < 110
                     : window.matchMedia("(prefers-color-scheme: dark)").matches;
    const w = Math.round(window.innerWidth / 40) * 40, h = Math.round(window.innerHeight / 40) * 40;
    return w + "x" + h + (dark ? "d" : "l");
  };
  // off the stage only the brightness changes what the page draws: a new size alone is not
  // worth a rerun (a new session's first page then runs once, not twice)
  const seen_as = (v) => (data.size ? v : v.slice(-1));
  const report = () => {
    const v = read();
    if (seen_as(v) !== seen_as(data.current || "1280x720l")) setStateValue("screen", v);
  };
  report();
  let timer = null;
  const later = () => { clearTimeout(timer); timer = setTimeout(report, 250); };
  window.addEventListener("resize", later);
  const watch = window.matchMedia("(prefers-color-scheme: dark)");
  watch.addEventListener("change", later);
  const seen = new MutationObserver(later);  // Streamlit's theme menu restyles the app
  const app = document.querySelector("[data-testid='stApp']");
  if (app) seen.observe(app, { attributes: true, attributeFilter: ["class", "style"] });
  return () => { window.removeEventListener("resize", later);
                 watch.removeEventListener("change", later); seen.disconnect(); };
}
"""
_COMPONENT: Any = None


@dataclass(frozen=True)
class Screen:
    """The browser window: width and height in CSS pixels, and whether the app is dark."""

    width: int = 1280
    height: int = 720
    dark: bool = False
    known: bool = False  # False until the browser has reported (the first run of a session)


def parse(value: object) -> Screen:
    """"1280x720l" / "1920x1080d" (what the component reports) -> Screen; anything else:
    the default 1280x720, light."""
    text = str(value or "")
    try:
        size, mode = text[:-1], text[-1]
        w, h = (int(v) for v in size.split("x"))
    except (ValueError, IndexError):
        return Screen()
    if w <= 0 or h <= 0 or mode not in "dl":
        return Screen()
    return Screen(w, h, mode == "d", True)


def report(size_matters: bool = True) -> None:
    """Mount the reporter (invisible); a new brightness reruns the page, and so does a new
    size where `size_matters` (presenter mode sizes its type and figures from the window)."""
    global _COMPONENT
    if _COMPONENT is None:
        _COMPONENT = st.components.v2.component("bertviz_viewport", js=_JS)
    current = st.session_state.get("_screen", "")
    st.html("<style>.st-key-_viewport_box { display: none; }</style>")
    with st.container(key="_viewport_box"):
        result = _COMPONENT(key=KEY, data={"current": current, "size": size_matters},
                            height="content", on_screen_change=_changed)
    value = getattr(result, "screen", None) if result is not None else None
    if value and value != current:
        st.session_state["_screen"] = value


def _changed() -> None:
    value = st.session_state.get(KEY, {})
    screen = value.get("screen") if isinstance(value, dict) else getattr(value, "screen", None)
    if screen:
        st.session_state["_screen"] = screen


def screen() -> Screen:
    """The browser window as last reported (the defaults before the first report)."""
    return parse(st.session_state.get("_screen"))
