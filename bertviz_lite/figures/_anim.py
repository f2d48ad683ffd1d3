"""Play/pause buttons and a slider for plotly animations (replay, sweep, layer stepping).

Frames use `redraw=False` (plotly then animates the traces instead of redrawing the whole
plot, which is smooth and cheap); that only works when every frame has the same traces in the
same order, so the figure builders always emit a fixed set of traces.
"""

from __future__ import annotations

from typing import Any

from bertviz_lite.figures.text import safe_text
from bertviz_lite.figures.theme import Theme


def _frame_args(duration_ms: int) -> dict[str, Any]:
    return {
        "frame": {"duration": duration_ms, "redraw": False},
        "transition": {"duration": 0},  # bars jump to the next value; tweening blurs steps
        "fromcurrent": True,
        "mode": "immediate",
    }


def _play_menu(duration_ms: int, theme: Theme) -> dict[str, Any]:
    """Play over Pause under the plot, at the left (stacked, so they stay narrow and the
    slider beside them never runs under them)."""
    buttons = [
        {"label": "▶ Play", "method": "animate", "args": [None, _frame_args(duration_ms)]},
        {"label": "❚❚ Pause", "method": "animate", "args": [[None], _frame_args(0)]},
    ]
    return {
        "type": "buttons", "direction": "down", "showactive": False, "buttons": buttons,
        "x": 0.0, "xanchor": "left", "y": 0.0, "yanchor": "top",
        "pad": {"t": theme.tick_size * 3 + theme.font_size * 3, "r": 10},
        "font": {"size": theme.font_size},
    }


def _slider(names: list[str], labels: list[str], prefix: str, theme: Theme) -> dict[str, Any]:
    """A slider with one step per frame, beside the buttons; it names the current frame."""
    steps = [
        {"label": safe_text(label), "method": "animate", "args": [[name], _frame_args(0)]}
        for name, label in zip(names, labels)
    ]
    slider: dict[str, Any] = {
        "active": 0, "steps": steps, "x": 0.34, "len": 0.66, "xanchor": "left", "y": 0.0,
        "yanchor": "top", "pad": {"t": theme.tick_size * 2 + theme.font_size * 3},
        "currentvalue": {"prefix": safe_text(prefix),
                         "font": {"size": theme.font_size, "color": theme.text}},
        "font": {"size": theme.tick_size},
    }
    if len(names) > 20 or theme.presenter:
        # A label under every one of hundreds of steps is an unreadable smear (and on the
        # stage, large labels run under the buttons): hide the step labels and ticks, the
        # current value above the slider still names the frame.
        slider["font"] = {"size": theme.tick_size, "color": "rgba(0,0,0,0)"}
        slider["ticklen"] = 0
        slider["minorticklen"] = 0
    return slider


def animation_controls(names: list[str], labels: list[str], *, duration_ms: int, theme: Theme,
                       prefix: str = "") -> dict[str, Any]:
    """Layout entries (`updatemenus`, `sliders`) for an animation over named frames.

    names: frame names, in order; labels: what the slider shows for each frame (plain text,
    escaped here); duration_ms: time per frame when playing; prefix: slider caption.
    """
    return {"updatemenus": [_play_menu(duration_ms, theme)],
            "sliders": [_slider(names, labels, prefix, theme)]}


def frame_duration(n_frames: int, total_ms: int = 8000) -> int:
    """Milliseconds per frame so a replay lasts about `total_ms`, within 40..400 ms a frame."""
    if n_frames <= 0:
        return 200
    return int(min(400, max(40, total_ms / n_frames)))
