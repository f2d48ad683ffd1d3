"""Token attributions (e.g. integrated gradients) as highlighted text and as bars.

Attributions are raw (in units of the explained number, e.g. a class's log-odds): positive
raises it, negative lowers it. The colour strength is |attribution| / the largest |attribution|
of the sentence, a colour scale only; the hover shows the raw value.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go

from bertviz_lite.figures.text import is_finite, safe_labels, token_axis
from bertviz_lite.figures.theme import BLUISH_GREEN, DEFAULT_THEME, VERMILLION, Theme, style

POSITIVE_RGB = (0, 158, 115)  # Okabe-Ito bluish green
NEGATIVE_RGB = (213, 94, 0)  # Okabe-Ito vermillion
MAX_ALPHA = 0.8  # the strongest highlight still leaves black text readable


def _check(tokens: Sequence[str], scores: Sequence[float]) -> None:
    if len(tokens) != len(scores):
        raise ValueError(f"{len(tokens)} tokens but {len(scores)} attribution scores")


def score_colour(score: float) -> str:
    """Background colour of a token: green for positive, red for negative, alpha by |score|.

    score: signed attribution, |score| <= 1 (larger is clipped); None/NaN is transparent.
    """
    if not is_finite(score):
        return "rgba(0, 0, 0, 0)"
    r, g, b = POSITIVE_RGB if score >= 0 else NEGATIVE_RGB
    alpha = min(1.0, abs(float(score))) * MAX_ALPHA
    return f"rgba({r}, {g}, {b}, {alpha:.3f})"


def _span(token: str, score: float, raw: float) -> str:
    """One token as an escaped <span> coloured by `score` (in -1 ... 1); the hover title
    shows the raw attribution. A word piece keeps its "##": each piece has its own colour, so
    "forget" "##table" must not read as two words "forget table"."""
    shown = token
    value = f"{float(raw):+.3f}" if is_finite(raw) else "n/a"
    tip = html.escape(f"{token}: {value}", quote=True)
    return (f'<span title="{tip}" style="background-color: {score_colour(score)}; '
            'color: #000000; '  # black on the strongest shade is still 7:1 (WCAG AA)
            f'padding: 0.1em 0.15em; border-radius: 0.2em;">{html.escape(shown, quote=True)}'
            "</span>")


def colour_scale(values: Sequence[float]) -> list[float]:
    """Raw attributions -> colour strengths in -1 ... 1: each divided by the largest |value|
    (non-finite values stay as they are and are drawn transparent)."""
    top = max((abs(float(v)) for v in values if is_finite(v)), default=0.0)
    return [float(v) / top if top > 0 and is_finite(v) else v for v in values]


def token_attribution_html(tokens: list[str], attributions: list[float], *, title: str = "",
                           legend: bool = True, towards: str = "the explained class",
                           away: str | None = None) -> str:
    """Inline HTML: each token in a <span> shaded by its attribution, a word's pieces side by
    side (the "##" marker kept, so a piece never reads as a word of its own).

    tokens: T word pieces (every one escaped; "##" pieces attach to the token before them,
    with no space and their "##" shown: "forget##table");
    attributions: T raw signed attributions (any scale; coloured relative to the largest,
    the hover shows the raw value); title: plain text above the tokens; legend: add a one-line
    key to the colours; towards: what a positive attribution pushes towards ("the explained
    class", "a higher score"); away: what a negative one pushes towards (the other class of
    a two-class task), else "away from it". No scripts, no external assets.
    """
    _check(tokens, attributions)
    scores = colour_scale(attributions)
    parts: list[str] = []
    for i, (tok, s, raw) in enumerate(zip(tokens, scores, attributions)):
        if i > 0 and not tok.startswith("##"):
            parts.append(" ")  # a word piece continues the previous word: no space before it
        parts.append(_span(tok, s, raw))
    body = f'<div style="line-height: 2.2; font-size: 1.1em;">{"".join(parts)}</div>'
    head = f'<div style="font-weight: 600;">{html.escape(title, quote=True)}</div>' if title else ""
    what = html.escape(towards, quote=True)
    key = ('<div style="font-size: 0.85em;">'  # no opacity: faded text fell below 4.5:1
           f'<span style="background-color: {score_colour(1.0)}; color: #000000; '
           'padding: 0 0.3em;">green</span>'
           f" pushes towards {what}, "
           f'<span style="background-color: {score_colour(-1.0)}; color: #000000; '
           'padding: 0 0.3em;">red</span>'
           + (f" towards {html.escape(away, quote=True)}" if away else " away from it")
           + "; stronger colour = larger attribution (relative to the largest here; hover "
           "for the value)</div>") if legend else ""
    return f'<div class="bvl-attribution">{head}{body}{key}</div>'


def attribution_bars(tokens: list[str], scores: list[float],
                     theme: Theme = DEFAULT_THEME) -> go.Figure:
    """Signed attribution per token as vertical bars (green positive, red negative).

    tokens: T word pieces (escaped; repeated tokens keep their own bar); scores: T values.
    """
    _check(tokens, scores)
    values = [float(s) if is_finite(s) else None for s in scores]
    top = max([abs(v) for v in values if v is not None] + [1e-6]) * 1.15
    fig = go.Figure(go.Bar(
        x=list(range(len(tokens))), y=values, customdata=safe_labels(tokens),
        marker={"color": [BLUISH_GREEN if (v or 0) >= 0 else VERMILLION for v in values]},
        hovertemplate="%{customdata}: %{y:+.3f}<extra></extra>", showlegend=False))
    fig.update_xaxes(**token_axis(tokens))
    fig.update_yaxes(range=[-top, top], zeroline=True, zerolinecolor=theme.text,
                     title_text="attribution (change of the explained output)")
    return style(fig, theme, title="Which tokens drove the prediction",
                 subtitle="green raises the explained output, red lowers it")
