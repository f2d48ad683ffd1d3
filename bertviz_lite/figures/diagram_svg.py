"""The start page's picture of BERT as a stack, as one inline SVG: the same boxes, arrows and
words as `bert_diagram`, without plotly. The start page is the first thing a class sees, and
plotly's script (about 4.7 MB) took most of a new session's wait there; an SVG draws at once.

The drawing scales with its column (viewBox), so its type grows with the screen: at the
start page's half width on a 1280-pixel projector a label is about the theme's size.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from bertviz_lite.figures.diagram import _diagram_title, _weights
from bertviz_lite.figures.theme import DEFAULT_THEME, Theme

WIDTH = 600  # viewBox units across; the drawing is as wide as its column
BOX = (130, 470)  # left and right edge of every box
FORWARD_X, BACKWARD_X = 175, 425  # the arrows, in the gaps between boxes


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def bert_diagram_svg(groups: Sequence[str], frozen_groups: Sequence[str], *,
                     group_params: Mapping[str, int] | None = None,
                     theme: Theme = DEFAULT_THEME) -> str:
    """BERT as stacked boxes (input at the bottom, loss on top), forward arrows up on the left,
    backward arrows down on the right to the first frozen box, where a wall and "gradient
    stops" mark the end; frozen boxes are dotted and grey with a lock.

    groups: G names, input to output (embeddings, layer.0 ..., pooler, head); frozen_groups:
    the groups that receive no gradient. Returns one `<svg>` element (role img, with a title
    and a description: the text alternative `diagram_words` gives).
    """
    frozen = set(frozen_groups)
    n = len(groups)
    font = theme.font_size
    row = int(font * 4)  # one box and one gap
    box_h = int(row * 0.5)
    top = int(font * 4.6)  # title and subtitle
    height = top + row * (n + 1) + int(font * 2.6)

    def y(i: int) -> int:  # centre of row i (0: embeddings, n: the loss)
        return top + row * (n - i) + row // 2

    stop = next((j for j in range(n - 1, -1, -1) if groups[j] in frozen), -1)
    title, _, subtitle = _diagram_title(list(groups), stop, True).partition(": ")
    parts = [_defs(theme), _text(WIDTH / 2, font * 1.6, title, theme.text, font * 1.3, bold=True)]
    if subtitle:
        parts.append(_text(WIDTH / 2, font * 3.2, subtitle, theme.text, font))
    for i, g in enumerate(groups):
        parts.append(_group(g, y(i), box_h, g in frozen, group_params, theme))
    parts.append(_rect(y(n), box_h, theme.background, theme.text, "solid"))
    parts.append(_text(WIDTH / 2, y(n) + font * 0.4, "loss", theme.text, font * 1.1, bold=True))
    parts += _forward_arrows(n, y, box_h, theme)
    parts += _backward_arrows(groups, frozen, y, box_h, row, theme)
    parts.append(_text(65, y(n) - font * 0.2, "forward", theme.forward, font))
    parts.append(_text(65, y(n) + font * 1.0, "pass ↑", theme.forward, font))
    parts.append(_text(535, y(n) - font * 0.2, "backward", theme.backward, font))
    parts.append(_text(535, y(n) + font * 1.0, "pass ↓", theme.backward, font))
    words = diagram_words(groups, frozen_groups)
    return (f'<svg class="bv-diagram" role="img" viewBox="0 0 {WIDTH} {height}" '
            f'width="100%" preserveAspectRatio="xMidYMin meet" '
            f'style="max-width:{WIDTH * 2}px;font-family:{_esc(theme.font_family)};'
            f'background:{theme.background}" aria-label="{_esc(words)}">'
            f"<title>{_esc(title)}</title>{''.join(parts)}</svg>")


def diagram_words(groups: Sequence[str], frozen_groups: Sequence[str]) -> str:
    """The diagram in one sentence: what trains, and where the gradient stops."""
    frozen = set(frozen_groups)
    stop = next((j for j in range(len(groups) - 1, -1, -1) if groups[j] in frozen), -1)
    title = _diagram_title(list(groups), stop, True)
    trained = [g for g in groups if g not in frozen]
    where = (f"the gradient comes down from the loss and stops above {groups[stop]}"
             if stop >= 0 else "the gradient comes down from the loss to the embeddings")
    return (f"{title}. Boxes from the input up: {', '.join(groups)}, then the loss. "
            f"Trainable: {', '.join(trained) if trained else 'nothing'}; "
            f"frozen: {', '.join(g for g in groups if g in frozen) or 'nothing'}. "
            f"The forward pass goes up through every box; {where}.")


def _defs(theme: Theme) -> str:
    """Arrow heads in the forward and backward colours."""
    return "<defs>" + "".join(
        f'<marker id="bv-{name}" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="5" '
        f'markerHeight="5" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{colour}"/></marker>'
        for name, colour in (("fwd", theme.forward), ("bwd", theme.backward))) + "</defs>"


def _text(x: float, y: float, text: str, colour: str, size: float, bold: bool = False) -> str:
    weight = ' font-weight="700"' if bold else ""
    return (f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="middle" font-size="{size:.0f}" '
            f'fill="{colour}"{weight}>{_esc(text)}</text>')


def _rect(cy: int, h: int, fill: str, line: str, dash: str) -> str:
    dashes = ' stroke-dasharray="4 4"' if dash == "dot" else ""
    return (f'<rect x="{BOX[0]}" y="{cy - h // 2}" width="{BOX[1] - BOX[0]}" height="{h}" '
            f'rx="6" fill="{fill}" stroke="{line}" stroke-width="2"{dashes}/>')


def _group(name: str, cy: int, h: int, is_frozen: bool,
           group_params: Mapping[str, int] | None, theme: Theme) -> str:
    """One group's box: blue and "trainable", or dotted grey with a lock and "frozen"."""
    size = f" · {_weights(group_params[name])}" if group_params and name in group_params else ""
    font = theme.font_size
    if is_frozen:
        box = _rect(cy, h, theme.frozen_fill, theme.frozen, "dot") + _lock(BOX[0] + 26, cy,
                                                                           theme.frozen)
        label, colour = f"frozen{size}", theme.text
    else:
        box = _rect(cy, h, theme.trainable, theme.trainable, "solid")
        label, colour = f"trainable{size}", "#FFFFFF"
    return (box + f'<text x="{WIDTH / 2:.0f}" y="{cy + font * 0.4:.0f}" text-anchor="middle" '
            f'font-size="{font * 1.1:.0f}" fill="{colour}"><tspan font-weight="700">'
            f'{_esc(name)}</tspan><tspan font-size="{font * 0.8:.0f}"> · {_esc(label)}'
            f"</tspan></text>")


def _lock(cx: int, cy: int, colour: str) -> str:
    """A padlock of two shapes (an emoji may be an empty box where no emoji font exists)."""
    return (f'<rect x="{cx - 7}" y="{cy - 3}" width="14" height="11" rx="2" fill="{colour}"/>'
            f'<path d="M{cx - 4},{cy - 3} v-4 a4,4 0 0 1 8,0 v4" fill="none" '
            f'stroke="{colour}" stroke-width="2"/>')


def _arrow(x: int, y_from: float, y_to: float, marker: str, colour: str, width: float) -> str:
    return (f'<line x1="{x}" y1="{y_from:.0f}" x2="{x}" y2="{y_to:.0f}" stroke="{colour}" '
            f'stroke-width="{width}" marker-end="url(#bv-{marker})"/>')


def _forward_arrows(n: int, y, box_h: int, theme: Theme) -> list[str]:
    """Input tokens into the embeddings, then up through every box into the loss."""
    half, font = box_h / 2, theme.font_size
    out = [_text(FORWARD_X, y(0) + box_h + font * 1.6, "input tokens", theme.forward, font),
           _arrow(FORWARD_X, y(0) + box_h + font * 0.4, y(0) + half + 2, "fwd", theme.forward,
                  theme.line_width)]
    for i in range(n):
        out.append(_arrow(FORWARD_X, y(i) - half, y(i + 1) + half + 2, "fwd", theme.forward,
                          theme.line_width))
    return out


def _backward_arrows(groups: Sequence[str], frozen: set[str], y, box_h: int, row: int,
                     theme: Theme) -> list[str]:
    """Arrows down from the loss into each trainable box; at the first frozen box a wall
    across the gap and "gradient stops"; or "reaches the embeddings" below the stack."""
    half, font = box_h / 2, theme.font_size
    out = []
    for j in range(len(groups) - 1, -1, -1):
        upper, lower = y(j + 1) + half, y(j) - half
        if groups[j] in frozen:
            mid = (upper + lower) / 2  # the gap above the frozen box: a wall on the gradient's
            # side (the forward pass on the left still goes through), the words above it
            out.append(f'<line class="bv-wall" x1="{FORWARD_X + 60}" y1="{mid + font * 0.45:.0f}" '
                       f'x2="{BOX[1] + 20}" y2="{mid + font * 0.45:.0f}" stroke="{theme.alert}" '
                       f'stroke-width="4"/>')
            out.append(_text(BACKWARD_X - 40, mid + font * 0.05, "✕ gradient stops",
                             theme.alert, font * 1.05, bold=True))
            return out
        out.append(_arrow(BACKWARD_X, upper, lower - 2, "bwd", theme.backward, theme.line_width))
    out.append(_text(BACKWARD_X, y(0) + box_h + font * 1.6, "✓ reaches the embeddings",
                     theme.backward, font))
    return out
