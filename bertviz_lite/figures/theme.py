"""Fonts, colours and layout shared by every figure, for laptops and for a lecture hall.

Colours come from the Okabe-Ito palette (Okabe & Ito 2008), which stays distinguishable under
the common colour-vision deficiencies; meaning never rests on colour alone (frozen groups are
also hatched and labelled, the paper's bars are also patterned).
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go

from bertviz_lite.engine.modes import find_mode
from bertviz_lite.figures.text import safe_text, wrap_words

# Okabe-Ito, by name.
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
BLACK = "#000000"

# Okabe-Ito hues darkened (CAM02 lightness lowered, hue kept) so that lines and text in them
# reach WCAG AA contrast on white (>= 4.5:1; *_7: >= 7:1, AAA, for presenter mode); two very
# dark modes tell frozen/fine-tuned/top-K apart by lightness too, which survives colour-blindness.
# tests/test_palette.py checks contrast and CVD distinctness of every pair that shares a figure.
SKY_BLUE_AA, SKY_BLUE_7 = "#167DAD", "#0E5E83"
VERMILLION_AA, VERMILLION_7 = "#C0570B", "#8F430F"
GREEN_AA, GREEN_7 = "#028661", "#17644A"
ORANGE_AA, ORANGE_7 = "#9A6D18", "#75520E"
BLUE_7 = "#0D5C8E"
DARK_GREEN_AA, DARK_GREEN_7 = "#004D38", "#00382A"
PLUM_AA, PLUM_7 = "#5B2A4E", "#45203D"


@dataclass(frozen=True)
class Theme:
    """Everything about a figure's look that is not data. Frozen: usable as a cache key."""

    font_size: int = 14  # base text: axis titles, annotations, legend
    title_size: int = 18  # figure title
    tick_size: int = 12  # tick labels (tokens, group names)
    line_width: float = 3.0  # main curves, arrows, box outlines
    thin_line: float = 1.5  # raw per-step curves under a smoothed one
    marker_size: int = 8  # markers of evaluations and events
    font_family: str = "Helvetica Neue, Helvetica, Arial, sans-serif"
    trainable: str = BLUE  # a group that learns
    frozen: str = "#767676"  # a group that receives no gradient: hatch lines, lock labels
    frozen_fill: str = "#E3E3E3"  # the fill behind the hatch of a frozen group
    forward: str = GREEN_AA  # activations going up
    backward: str = VERMILLION_AA  # gradients coming down
    train_curve: str = ORANGE_AA  # anything measured on the training split
    val_curve: str = BLUE  # anything measured on the validation split
    paper: str = REDDISH_PURPLE  # Peters et al. (2019): never the colour of our own numbers
    #   (a bar fill under a hatch of `text`: needs 3:1, WCAG 1.4.11 non-text contrast)
    ours: str = BLUE  # numbers measured by this app
    alert: str = VERMILLION_AA  # NaN loss, diverged run
    background: str = "#FFFFFF"
    text: str = "#1A1A1A"
    grid: str = "#E6E6E6"
    unlit: str = "#F2F2F2"  # a group the backward sweep has not reached (yet)
    presenter: bool = False  # large type and thick lines for a projector
    dark: bool = False  # light text on a dark background (a dark room, the OS's dark mode)
    on_trainable: str = "#FFFFFF"  # text written on a filled trainable box
    # frozen, finetune, then top-K modes in turn (the lecture's modes; every mode's colours,
    # these included, come from its registry entry: engine/modes.py, read by mode_colour)
    mode_palette: tuple[str, ...] = (SKY_BLUE_AA, VERMILLION_AA, DARK_GREEN_AA, PLUM_AA)


DEFAULT_THEME = Theme()

# Readable from the back of a lecture hall: big type, thick lines, black on white, darker
# greys and colours (projectors wash out light ones): text and lines >= 7:1 on white.
PRESENTER_THEME = Theme(
    font_size=24,
    title_size=32,
    tick_size=22,
    line_width=6.0,
    thin_line=3.0,
    marker_size=16,
    frozen="#595959",
    frozen_fill="#D0D0D0",
    trainable=BLUE_7,
    ours=BLUE_7,
    val_curve=BLUE_7,
    train_curve=ORANGE_7,
    forward=GREEN_7,
    backward=VERMILLION_7,
    alert=VERMILLION_7,
    mode_palette=(SKY_BLUE_7, VERMILLION_7, DARK_GREEN_7, PLUM_7),
    text=BLACK,
    grid="#C8C8C8",
    unlit="#E6E6E6",
    presenter=True,
)


# A dark room (or the operating system's dark mode): light text on Streamlit's dark
# background; the original Okabe-Ito hues (lightened where needed) reach >= 4.5:1 on it.
_DARK = {
    "background": "#0E1117",
    "text": "#F5F5F5",
    "grid": "#2F3542",
    "unlit": "#1B2029",
    "frozen": "#A6A6A6",
    "frozen_fill": "#2B2F38",
    "trainable": SKY_BLUE,
    "ours": SKY_BLUE,
    "val_curve": SKY_BLUE,
    "train_curve": ORANGE,
    "forward": "#2FC79B",
    "backward": "#FF8A3D",
    "alert": "#FF8A3D",
    "paper": REDDISH_PURPLE,
    "mode_palette": (SKY_BLUE, "#FF8A3D", "#00EE88", YELLOW),
    "on_trainable": BLACK,
    "dark": True,
}


def dark(theme: Theme) -> Theme:
    """The same theme (sizes kept) for a dark background: a dark room's projector, or the
    operating system's dark mode."""
    from dataclasses import replace

    return replace(theme, **_DARK)  # type: ignore[arg-type]


DARK_THEME = dark(DEFAULT_THEME)
PRESENTER_DARK_THEME = dark(PRESENTER_THEME)


def presenter_theme(width: int, height: int, base: Theme = PRESENTER_THEME) -> Theme:
    """Presenter type sized from the screen (CSS pixels): chart text at least 19 px on a
    1280x720 projector, 28 px on 1920x1080, and larger again on a 4K one (the figure grows
    with the screen; a font fixed in pixels would shrink to a third of the wall)."""
    from dataclasses import replace

    s = max(1.0, min(height / 720, width / 1280, 4.0))
    return replace(base, font_size=round(20 * s), title_size=round(26 * s),
                   tick_size=round(19 * s), line_width=round(5 * s, 1),
                   thin_line=round(2.5 * s, 1), marker_size=round(13 * s))


def mode_colour(mode: str, theme: Theme = DEFAULT_THEME, index: int = 0) -> str:
    """The colour of a mode, the same on every figure: its registry entry's (engine/modes.py;
    the darker variant in presenter mode).

    mode: a mode string ("frozen", "top-2", ...); index: the mode's position among the modes
    shown, used to pick a distinct colour for each mode of one family (top-2 beside top-4).
    An unknown mode (an old record's) gets the top-K colours in turn.
    """
    entry = find_mode(mode) or find_mode("top-1")
    if entry is None:
        return theme.mode_palette[2 + index % 2]
    if theme.dark:  # the dark themes' own palette for the lecture's modes, the registry's
        if entry.name in ("frozen", "finetune", "top-k"):  # dark colour, else lightened
            lecture = {"frozen": 0, "finetune": 1}.get(entry.name, 2 + index % 2)
            return theme.mode_palette[lecture]
        if entry.dark is not None:
            return entry.dark
        return readable_on(entry.colour(theme.presenter, index), theme.background,
                           7.0 if theme.presenter else 4.5)
    return entry.colour(theme.presenter, index)


def _luminance(hex_colour: str) -> float:
    """WCAG 2.x relative luminance of an sRGB colour "#RRGGBB"."""
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(int(hex_colour[i:i + 2], 16) / 255) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def readable_on(colour: str, background: str, need: float) -> str:
    """`colour` mixed towards white in steps of 5% until its WCAG contrast with a dark
    `background` is at least `need` (the same hue, lighter: a mode keeps its colour's family
    in a dark room)."""
    base = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    bg = _luminance(background)
    for step in range(21):
        t = step / 20
        mixed = "#" + "".join(f"{round(c + (255 - c) * t):02X}" for c in base)
        if (_luminance(mixed) + 0.05) / (bg + 0.05) >= need:
            return mixed
    return "#FFFFFF"


SUBTITLE_CHARS = 80  # off the stage: a subtitle's line (about 560 px at 14 px) before it wraps


def style(fig: go.Figure, theme: Theme = DEFAULT_THEME, title: str | None = None,
          height: int | None = None, *, subtitle: str | None = None,
          subtitle_chars: int | None = None) -> go.Figure:
    """Apply the theme's fonts, colours and margins to a figure (in place) and return it.

    fig: any plotly figure; title, subtitle: plain text (escaped here, so user data is safe);
    height: pixels, or None to leave the height to the caller/container (a wrapped subtitle
    adds its lines); subtitle_chars: the subtitle wraps at this many characters (default
    SUBTITLE_CHARS off the stage; a chart half a page wide passes fewer). Plotly never wraps
    a subtitle: a long one ran out of its figure.
    """
    lines = _subtitle_lines(subtitle, theme, subtitle_chars)
    font = {"family": theme.font_family, "size": theme.font_size, "color": theme.text}
    layout: dict[str, object] = {
        "template": "plotly_dark" if theme.dark else "plotly_white",
        "font": font,
        "paper_bgcolor": theme.background,
        "plot_bgcolor": theme.background,
        "margin": _margins(theme, title is not None, len(lines)),
        "legend": {"font": {"size": theme.font_size}},
        "hoverlabel": {"font": {"size": theme.font_size, "family": theme.font_family}},
    }
    if fig.layout.uirevision is None:
        layout["uirevision"] = "bertviz-lite"  # live redraws keep the user's zoom
    if title is not None:
        layout["title"] = _title(title, lines, theme)
    if height is not None:
        layout["height"] = height + int(theme.font_size * 1.3) * max(0, len(lines) - 1)
    fig.update_layout(**layout)
    axis = {
        "tickfont": {"size": theme.tick_size},
        "title": {"font": {"size": theme.font_size}},
        "gridcolor": theme.grid,
        "linecolor": theme.text,
        "linewidth": 2 if theme.presenter else 1,
        "showline": True,
        "automargin": True,  # long token/group labels push the plot area instead of clipping
    }
    fig.update_xaxes(**axis)
    fig.update_yaxes(**axis)
    return fig


def _subtitle_lines(subtitle: str | None, theme: Theme, chars: int | None) -> list[str]:
    """The subtitle's lines, escaped: wrapped at `chars` (default: SUBTITLE_CHARS, but not on
    the stage, whose wide figures and audited layout keep one line)."""
    if not subtitle:
        return []
    width = chars if chars is not None else (None if theme.presenter else SUBTITLE_CHARS)
    return [safe_text(line) for line in
            (wrap_words(subtitle, width) if width is not None else [subtitle])]


def _title(title: str, lines: list[str], theme: Theme) -> dict[str, object]:
    """Layout title dict; plotly draws the subtitle under the title in a smaller size."""
    out: dict[str, object] = {
        "text": safe_text(title),
        "font": {"size": theme.title_size},
        "x": 0.01,
        "xanchor": "left",
        # pinned to the figure's top: plotly's "auto" centres the title block in the top
        # margin, so a subtitle of several lines hung down into the plot
        "yref": "container",
        "y": 1,
        "yanchor": "top",
        "pad": {"t": 10},
    }
    if lines:
        out["subtitle"] = {"text": "<br>".join(lines), "font": {"size": theme.font_size}}
    return out


def _margins(theme: Theme, has_title: bool, subtitle_lines: int) -> dict[str, int]:
    """Margins that leave room for the title, the subtitle's lines and the (larger)
    presenter tick labels."""
    top = 20
    if has_title:
        top += int(theme.title_size * 1.8)
    if subtitle_lines:
        top += int(theme.font_size * 1.6) + int(theme.font_size * 1.3) * (subtitle_lines - 1)
    side = int(theme.tick_size * 1.5)
    return {"l": side + 20, "r": side, "t": top, "b": int(theme.tick_size * 3) + 10}
