"""The animated stack in the app: a Streamlit custom component (v2) around the same player
the notebook and the exported HTML use (`bertviz_lite.figures.stack`).

Why a v2 component: it mounts in the page itself (no iframe), so a live run's new data (twice
a second) reaches the running player, which merges it without restarting its animation
(an `st.components.v1.html` iframe would reload on every refresh, and a Streamlit rerun per
frame cannot be smooth). Its JavaScript and CSS ship inside the package: nothing from a CDN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from bertviz_lite.figures.stack import (
    player_css,
    player_js,
    recorded_panels,
    stack_data,
    stack_panel,
    stack_text,
)
from bertviz_lite.figures.theme import Theme
from bertviz_lite.record.runs import RunRecord

# The player keeps its state on its own element: a new `data` is merged by `update`, and the
# element is only left when it is no longer in the page (the player stops itself then).
_ADAPTER = """
export default function (component) {
  const { data, parentElement } = component;
  let root = parentElement.querySelector(".bvs-root");
  if (!root) {
    root = document.createElement("div");
    parentElement.appendChild(root);
  }
  if (root.__bvs) root.__bvs.update(data); else new BertvizStack(root, data);
  return () => { if (!root.isConnected && root.__bvs) root.__bvs.destroy(); };
}
"""

_COMPONENT: Any = None


def _component() -> Any:
    """The registered component (registered once per process)."""
    global _COMPONENT
    if _COMPONENT is None:
        _COMPONENT = st.components.v2.component(
            "bertviz_stack", css=player_css(), js=player_js() + _ADAPTER, isolate_styles=False)
    return _COMPONENT


def stack_view(data: dict[str, Any], key: str, instance: str = "", words: bool = True) -> None:
    """Mount the animated stack with `data` (from `stack_data`) in a container keyed `key`
    (CSS class st-key-<key>); the same key and instance keep the same player, so new data
    updates it in place, and a new instance (a new run) starts a fresh one. words: the text
    alternative under it."""
    with st.container(key=key):
        _component()(key=f"{key}_player{instance}", data=data, height="content",
                     width="stretch")
    if words and not data.get("fit"):  # on the stage the picture's aria-label carries them
        st.caption(f"Stack in words: {stack_text(data)}")


def recorded_stack(records: Sequence[RunRecord], key: str, theme: Theme, *,
                   autoplay: bool = True, note: str = "", reserve_rem: float = 0.0) -> None:
    """Recorded runs side by side (frozen, top-k, fine-tuned), replayed at their recorded
    pace (reserve_rem: room the page needs under it on the stage)."""
    data = stack_data(recorded_panels(records, theme), theme=theme, autoplay=autoplay,
                      note=note, reserve_rem=reserve_rem)
    stack_view(data, key)


def live_stack(record: RunRecord, companions: Sequence[RunRecord], key: str, theme: Theme, *,
               live: bool, source: str = "live", note: str = "", instance: str = "",
               norm_range: tuple[float, float] | None = None, reserve_rem: float = 0.0
               ) -> None:
    """A run as it trains (live=True: the player follows its newest step), beside recorded
    runs of the same task and model, which show the same step numbers."""
    from bertviz_lite.figures.stack import LIVE_STEPS

    own = stack_panel(record, source=source, theme=theme,
                      title=f"{'Live' if source == 'live' else 'Replay'}: "
                            f"{_mode_title(record.mode)}",
                      max_steps=LIVE_STEPS if live else None)
    others = recorded_panels([c for c in companions if c.groups == record.groups
                              and c.mode != record.mode], theme)
    panels = _ordered([own, *others])
    data = stack_data(panels, theme=theme, live=live, autoplay=not live and source == "replay",
                      note=note, norm_range=norm_range, reserve_rem=reserve_rem)
    stack_view(data, key, instance)


def _mode_title(mode: str) -> str:
    from bertviz_lite.figures.stack import mode_title

    return mode_title(mode)


def _ordered(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Frozen on the left, fine-tuned on the right, top-k between."""
    rank = {"frozen": 0, "finetune": 2}
    return sorted(panels, key=lambda p: rank.get(p["mode"], 1))
