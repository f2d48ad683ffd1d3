"""The stack: BERT drawn as its layer groups (input at the bottom, the loss at the top), alive.

Each step the forward pass rises through the stack, then the backward pass travels down from
the loss; each group lights up by its weight-gradient norm ‖∂L/∂W‖ (log scale, the number
beside it). At the topmost frozen group the pulse hits a drawn wall and stops; the groups below
stay dark (drawn as nothing, never as a bar). Several runs (frozen, top-k, fine-tuned) stand
side by side in one frame and show the same step.

The animation runs in the browser (`stack_player.js`, requestAnimationFrame, SVG): Python only
builds its data. The same data drives the app (a Streamlit component, `bertviz_lite.ui.stack`),
a notebook (`stack_html` through IPython.display) and an exported HTML file; nothing is loaded
from a network. Pure functions: records in, JSON-able dicts and HTML strings out.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from importlib import resources
from typing import Any

from bertviz_lite.figures._steps import field, norms_of
from bertviz_lite.figures.text import fmt_num, is_finite
from bertviz_lite.figures.theme import DEFAULT_THEME, Theme, mode_colour
from bertviz_lite.record.runs import RunRecord

LIVE_STEPS = 400  # a live panel carries at most this many recent steps (sent at every poll)
MODE_TITLES = {"frozen": "Frozen", "finetune": "Fine-tuned"}


def mode_title(mode: str) -> str:
    """A run's mode as a panel title: "Frozen", "Fine-tuned", "Top-2", and the registry's
    label for the others ("LoRA", "BitFit", "Adapters"; an unknown mode as named)."""
    from bertviz_lite.engine.modes import find_mode, label_of

    if mode in MODE_TITLES:
        return MODE_TITLES[mode]
    entry = find_mode(mode)
    if entry is None or entry.takes_k:
        return mode[:1].upper() + mode[1:]
    label = label_of(mode)
    return label[:1].upper() + label[1:]


def _norm(value: Any) -> float | None:
    """A recorded norm as a finite float, or None (NaN, inf, missing)."""
    return float(value) if is_finite(value) else None


def stack_panel(record: RunRecord, *, title: str | None = None, source: str = "recorded",
                theme: Theme = DEFAULT_THEME, index: int = 0,
                max_steps: int | None = None) -> dict[str, Any]:
    """One column of the stack: a run's groups, frozen groups and per-step norms.

    record: a (possibly partial) RunRecord with G groups and S steps; title: the panel's
    heading (default: the mode, "Frozen"); source: "recorded", "live" or "replay" (said under
    the title); index: the panel's position among the top-k panels (a distinct colour each); max_steps: keep only
    the last that many steps (live panels). Returns {"groups": [G], "frozen": [...],
    "steps": [S], "seconds": [S], "loss": [S], "norms": [S][G] (None: not finite), ...}.
    """
    steps = record.steps[-max_steps:] if max_steps else record.steps
    mode = record.mode
    return {
        "title": title or mode_title(mode),
        "mode": mode,
        "colour": mode_colour(mode, theme, index),
        "source": source,
        "task": record.task,
        "groups": list(record.groups),
        "frozen": [g for g in record.groups if g in set(record.frozen_groups)],
        "steps": [int(field(s, "step")) for s in steps],
        "seconds": [float(field(s, "seconds") or 0.0) for s in steps],
        "loss": [_norm(field(s, "loss")) for s in steps],
        "norms": [[_norm((field(s, "grad_norm") or {}).get(g)) for g in record.groups]
                  for s in steps],
        "status": record.status,
    }


def stack_range(panels: Sequence[dict[str, Any]]) -> tuple[float, float]:
    """Shared log10 bounds of the lit intensity: whole decades around every positive norm.

    panels: `stack_panel` dicts. Returns (lo, hi); (-4, 1) when nothing is positive yet.
    """
    values = [v for p in panels for row in p["norms"] for v in row if v is not None and v > 0]
    if not values:
        return (-4.0, 1.0)
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    return (float(min(lo, hi - 1)), float(hi))


def _theme_colours(theme: Theme) -> dict[str, Any]:
    """The colours and line widths the player draws with (the figures' theme, so a dark room
    and presenter mode look the same in the stack as in the charts)."""
    return {"background": theme.background, "text": theme.text, "grid": theme.grid,
            "unlit": theme.unlit, "frozen": theme.frozen, "frozen_fill": theme.frozen_fill,
            "forward": theme.forward, "backward": theme.backward, "alert": theme.alert,
            "font": theme.font_family, "dark": theme.dark, "presenter": theme.presenter}


def stack_data(panels: Sequence[dict[str, Any]], *, theme: Theme = DEFAULT_THEME,
               live: bool = False, autoplay: bool = True, fit_screen: bool | None = None,
               note: str = "", norm_range: tuple[float, float] | None = None,
               reserve_rem: float = 0.0) -> dict[str, Any]:
    """Everything the player needs, JSON-able.

    panels: `stack_panel` dicts, left to right (they share the step clock: step i of each);
    live: follow the newest step as it arrives (the app polls the job every `live_refresh_s`, 0.5 s)
    instead of replaying at the recorded pace; autoplay: start playing on load; fit_screen:
    size the stack to the rest of the screen below it (default: in presenter mode); note: one
    line under the controls ("Replay of a cached run ..."); norm_range: fixed log10 bounds
    (default: `stack_range`, a live page passes a fixed one so the colours do not jump);
    reserve_rem: room the page needs under the stack when it fits the screen (rem units).
    """
    lo, hi = norm_range or stack_range(panels)
    return {"version": 1, "panels": list(panels), "range": [lo, hi], "live": live,
            "autoplay": autoplay, "note": note, "theme": _theme_colours(theme),
            "fit": theme.presenter if fit_screen is None else fit_screen,
            "reserve_rem": reserve_rem}


def stack_text(data: dict[str, Any], step_index: int | None = None) -> str:
    """The stack in words, for screen readers and the back row (one line per panel).

    step_index: which step of each panel (default: the last). "Frozen, step 90: head 0.866;
    the gradient stops above layer.5 (embeddings to layer.5 frozen, no gradient)".
    """
    lines = []
    for p in data["panels"]:
        if not p["steps"]:
            lines.append(f"{p['title']}: no step yet")
            continue
        i = len(p["steps"]) - 1 if step_index is None else min(step_index, len(p["steps"]) - 1)
        frozen = set(p["frozen"])
        lit = [f"{g} {fmt_num(v)}" for g, v in zip(p["groups"], p["norms"][i])
               if g not in frozen][::-1]
        line = f"{p['title']}, step {p['steps'][i]}: " + ", ".join(lit)
        if frozen:
            lowest_lit = next((g for g in p["groups"] if g not in frozen), None)
            below = [g for g in p["groups"] if g in frozen]
            line += (f"; the gradient stops at {lowest_lit}, {below[0]} to {below[-1]} frozen, "
                     "no gradient" if lowest_lit else "; every group frozen")
        lines.append(line)
    return ". ".join(lines)


def player_js() -> str:
    """The player's JavaScript (no imports, no network): defines `BertvizStack`."""
    return resources.files("bertviz_lite.figures").joinpath("stack_player.js").read_text("utf-8")


def player_css() -> str:
    """The player's style sheet (class names prefixed `bvs-`)."""
    return resources.files("bertviz_lite.figures").joinpath("stack_player.css").read_text("utf-8")


def _json_for_script(data: dict[str, Any]) -> str:
    """JSON safe inside a <script> element (no "</script>" can close it early)."""
    return (json.dumps(data, allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026"))


def stack_fragment(data: dict[str, Any], element_id: str = "bvs-stack") -> str:
    """The stack as an HTML fragment (a div, its style and script): a notebook cell shows it
    with IPython.display.HTML; it loads nothing from a network."""
    eid = html.escape(element_id, quote=True)
    return (f"<style>{player_css()}</style>\n<div id=\"{eid}\" class=\"bvs-root\" role=\"img\" "
            f"aria-label=\"{html.escape(stack_text(data), quote=True)}\"></div>\n"
            # in a function: a notebook shows many stacks in one page, and a second top-level
            # `class BertvizStack` in the same page would be a SyntaxError
            f"<script>(function () {{\n{player_js()}\n"
            f"new BertvizStack(document.getElementById({json.dumps(eid)}), "
            f"{_json_for_script(data)});\n}})();</script>")


def stack_html(data: dict[str, Any], title: str = "The gradient flowing down BERT") -> str:
    """A complete HTML page with the animated stack: opens from file://, offline."""
    bg = html.escape(str(data["theme"]["background"]), quote=True)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title>"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"</head><body style=\"margin:1rem;background:{bg}\">\n"
            f"{stack_fragment(data)}\n</body></html>\n")


def recorded_panels(records: Sequence[RunRecord], theme: Theme = DEFAULT_THEME
                    ) -> list[dict[str, Any]]:
    """Recorded runs as panels ordered frozen, top-k (fewest layers first), fine-tuned."""
    def order(r: RunRecord) -> tuple[int, int]:
        if r.mode == "frozen":
            return (0, 0)
        if r.mode == "finetune":
            return (2, 0)
        return (1, int(r.mode.rpartition("-")[2] or 0) if r.mode.rpartition("-")[2].isdigit()
                else 0)

    ordered = sorted(records, key=order)
    out, top_k = [], 0
    for r in ordered:
        out.append(stack_panel(r, theme=theme, index=top_k))
        top_k += r.mode not in ("frozen", "finetune")
    return out


def norms_range_of(records: Sequence[Any]) -> tuple[float, float]:
    """`stack_range` over any records, steps or {group: norm} dicts (see `norms_of`)."""
    values = [float(v) for r in records for v in norms_of(r) if is_finite(v) and v > 0]
    if not values:
        return (-4.0, 1.0)
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    return (float(min(lo, hi - 1)), float(hi))
