"""The lesson's headline picture: BERT as a stack of boxes, activations going up on the left,
gradients coming down on the right, stopping at the first frozen box.

Drawn with shapes and annotations on a blank axis (no images), so it scales to any screen
and to the presenter theme.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from bertviz_lite.figures.text import safe_text
from bertviz_lite.figures.theme import DEFAULT_THEME, Theme, style

BOX_X = (2.0, 8.0)  # left and right edge of every box; the axis runs 0..10
BOX_HALF = 0.26  # half a box's height; boxes sit one unit apart, so the gaps hold the arrows
FORWARD_X = 3.0  # forward arrows, in the left part of the gaps
BACKWARD_X = 7.0  # backward arrows, in the right part of the gaps


def _weights(n: int) -> str:
    """ "1.8M weights", "770 weights": a group's size for a box label."""
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M weights"
    if n >= 10_000:
        return f"{n / 1e3:.0f}k weights"
    return f"{n} weights"


def _box(fig: go.Figure, y: float, label: str, fill: str, line: str, text_colour: str,
         theme: Theme, dash: str = "solid") -> None:
    """One rounded-looking box (a rectangle) centred at height y with a centred label."""
    fig.add_shape(type="rect", x0=BOX_X[0], x1=BOX_X[1], y0=y - BOX_HALF, y1=y + BOX_HALF,
                  fillcolor=fill, line={"color": line, "width": 2, "dash": dash}, layer="below")
    fig.add_annotation(x=sum(BOX_X) / 2, y=y, text=label, showarrow=False,
                       font={"color": text_colour, "size": int(theme.font_size * 1.1)})


def _lock(fig: go.Figure, y: float, colour: str) -> None:
    """A padlock drawn with two shapes at the left of the box at height y (a glyph such as
    U+1F512 is an empty box where no emoji font is installed)."""
    x, w = BOX_X[0] + 0.4, 0.13  # centre and half width, in axis units
    fig.add_shape(type="rect", x0=x - w, x1=x + w, y0=y - 0.15, y1=y + 0.01, fillcolor=colour,
                  line={"color": colour, "width": 1}, name="lock")
    shackle = (f"M {x - 0.08},{y + 0.01} L {x - 0.08},{y + 0.07} "
               f"Q {x - 0.08},{y + 0.16} {x},{y + 0.16} Q {x + 0.08},{y + 0.16} {x + 0.08},{y + 0.07} "
               f"L {x + 0.08},{y + 0.01}")
    fig.add_shape(type="path", path=shackle, line={"color": colour, "width": 2}, name="lock")


def _arrow(fig: go.Figure, x: float, y_from: float, y_to: float, colour: str,
           theme: Theme) -> None:
    """A straight arrow from (x, y_from) to (x, y_to), in data coordinates."""
    fig.add_annotation(x=x, y=y_to, ax=x, ay=y_from, xref="x", yref="y", axref="x", ayref="y",
                       text="", showarrow=True, arrowhead=2, arrowsize=1.0,
                       arrowwidth=theme.line_width, arrowcolor=colour)


def _status(text: str, theme: Theme) -> str:
    """The "· frozen" / "· trainable" part of a box label: in large (presenter) type a size
    smaller than the group's name, so the label stays inside a half-slide-wide box."""
    if theme.font_size < 18:
        return text
    return f'<span style="font-size:{int(theme.font_size * 0.7)}px">{text}</span>'


def _group_boxes(fig: go.Figure, groups: Sequence[str], frozen: set[str],
                 group_params: Mapping[str, int] | None, theme: Theme) -> None:
    """Boxes for the groups (embeddings at y=0, upward) and the loss on top."""
    for i, g in enumerate(groups):
        size = f" · {_weights(group_params[g])}" if group_params and g in group_params else ""
        if g in frozen:
            label = f"<b>{safe_text(g)}</b> {_status('· frozen' + size, theme)}"
            _box(fig, i, label, theme.frozen_fill, theme.frozen, theme.text, theme, dash="dot")
            _lock(fig, i, theme.frozen)
        else:
            label = f"<b>{safe_text(g)}</b> {_status('· trainable' + size, theme)}"
            _box(fig, i, label, theme.trainable, theme.trainable, theme.on_trainable, theme)
    _box(fig, len(groups), "<b>loss</b>", theme.background, theme.text, theme.text, theme)


def _forward(fig: go.Figure, n: int, theme: Theme) -> None:
    """Input tokens into the embeddings, then up through every box into the loss."""
    fig.add_annotation(x=FORWARD_X, y=-1.0, text="input tokens", showarrow=False,
                       font={"color": theme.forward})
    _arrow(fig, FORWARD_X, -0.75, -BOX_HALF, theme.forward, theme)
    for i in range(n):
        _arrow(fig, FORWARD_X, i + BOX_HALF, i + 1 - BOX_HALF, theme.forward, theme)


def _backward(fig: go.Figure, groups: Sequence[str], frozen: set[str], theme: Theme) -> int:
    """Arrows down from the loss into each trainable box; a stop mark at the first frozen box.

    Returns the index of the group where the gradient stops, or -1 if it reaches the bottom.
    """
    for j in range(len(groups) - 1, -1, -1):
        top, bottom = j + 1 - BOX_HALF, j + BOX_HALF
        if groups[j] in frozen:
            # In the gap where the next arrow would be, so it never runs off the right edge.
            fig.add_annotation(x=BACKWARD_X, y=(top + bottom) / 2, showarrow=False,
                               text="<b>✕ gradient stops</b>",
                               font={"color": theme.alert, "size": int(theme.font_size * 1.1)})
            return j
        _arrow(fig, BACKWARD_X, top, bottom, theme.backward, theme)
    fig.add_annotation(x=BACKWARD_X, y=-1.0, showarrow=False,
                       text="✓ reaches the embeddings", font={"color": theme.backward})
    return -1


def _side_labels(fig: go.Figure, n: int, show_backward: bool, theme: Theme) -> None:
    """Captions naming the two directions, either side of the loss box (row n), clear of the
    "gradient stops" marks, which sit lower down beside the boxes."""
    fig.add_annotation(x=BOX_X[0] / 2, y=n, text="forward<br>pass ↑", showarrow=False,
                       font={"color": theme.forward, "size": theme.font_size})
    if show_backward:
        fig.add_annotation(x=(BOX_X[1] + 10) / 2, y=n, text="backward<br>pass ↓",
                           showarrow=False,
                           font={"color": theme.backward, "size": theme.font_size})


def _diagram_title(groups: Sequence[str], stop: int, show_backward: bool) -> str:
    if not show_backward:
        return "The forward pass: input at the bottom, loss at the top"
    if stop == -1:
        return "Fine-tuning: the gradient reaches every layer"
    if stop == len(groups) - 1:
        return "Nothing trains: the gradient stops at the loss"
    if all(not g.startswith("layer.") for g in groups[stop + 1:]):
        return "Frozen BERT: the gradient stops at the head"
    k = sum(g.startswith("layer.") for g in groups[stop + 1:])
    return f"Top {k} layer{'s' if k != 1 else ''} train: the gradient stops before {groups[stop]}"


def bert_diagram(groups: list[str], frozen_groups: list[str], *, show_backward: bool = True,
                 group_params: dict[str, int] | None = None,
                 theme: Theme = DEFAULT_THEME) -> go.Figure:
    """BERT as stacked boxes with forward arrows up and backward arrows down to the first
    frozen group.

    groups: G names, input to output (embeddings, layer.0 ..., pooler, head); frozen_groups:
    drawn grey with a lock; show_backward: draw the gradients too; group_params: optional
    {group: weight count} printed in the boxes.
    """
    frozen = set(frozen_groups)
    n = len(groups)
    fig = go.Figure()
    _group_boxes(fig, groups, frozen, group_params, theme)
    _forward(fig, n, theme)
    stop = _backward(fig, groups, frozen, theme) if show_backward else -1
    _side_labels(fig, n, show_backward, theme)
    hidden = {"visible": False, "fixedrange": True}
    fig.update_xaxes(range=[0, 10], **hidden)
    fig.update_yaxes(range=[-1.35, n + 0.6], **hidden)
    fig.update_layout(showlegend=False, dragmode=False)
    unit = int(theme.font_size * 4.2)  # pixels per box: room for the label and an arrow
    # Title and subtitle, not one long line (plotly titles never wrap): half a slide wide in
    # presenter type, both still fit.
    title, _, subtitle = _diagram_title(groups, stop, show_backward).partition(": ")
    return style(fig, theme, title=title, subtitle=subtitle or None,
                 height=unit * (n + 2) + 7 * theme.font_size)
