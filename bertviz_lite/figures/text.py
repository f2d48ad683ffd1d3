"""Escaping for text that plotly renders.

Plotly draws a subset of HTML in every text field (titles, tick labels, hover, annotations,
legend names), so a token such as `<b>` or `<a href=...>` from user data would become markup.
Every string that comes from user data goes through `safe_text` before it reaches a figure.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Sequence
from typing import TypeGuard


def safe_text(s: object) -> str:
    """Escape a user-supplied string so plotly shows it literally.

    s: any value (converted with str). `&`, `<`, `>`, `"` and `'` become entities; `"` becomes
    the numeric `&#34;` because plotly's entity table has no `&quot;`.
    """
    return html.escape(str(s), quote=True).replace("&quot;", "&#34;")


def safe_labels(labels: Sequence[object]) -> list[str]:
    """Escape a list of labels (tokens, class names, group names), order kept.

    labels: length N. Returns N escaped strings (duplicates stay duplicates: callers that need
    distinct columns position them numerically, see `token_axis`).
    """
    return [safe_text(x) for x in labels]


def short(s: object, limit: int = 16) -> str:
    """Plain text cut to `limit` characters with "…" (before escaping, so no entity is cut)."""
    text = str(s)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def wrap_words(text: str, width: int) -> list[str]:
    """Lines of at most `width` characters, broken between words (a longer word keeps its
    own line)."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return lines


def token_axis(tokens: Sequence[str]) -> dict[str, object]:
    """Axis settings that show tokens at integer positions 0..T-1.

    tokens: length T. Positions, not categories, so a repeated token ("the" ... "the") keeps
    its own column; a category axis would merge the two. Long tokens are shortened in the tick
    labels (hover text shows them whole); a long sentence's labels stand upright (-90°: a
    label needs only its line height across, where -45° slanted neighbours into each other)
    and a few long tokens slant.
    """
    n = len(tokens)
    longest = max((len(str(t)) for t in tokens), default=0)
    return {
        "tickmode": "array",
        "tickvals": list(range(n)),
        "ticktext": [safe_text(short(t)) for t in tokens],
        "range": [-0.5, n - 0.5],
        "tickangle": -90 if n > 12 else (-45 if longest > 8 else 0),
        "showgrid": False,
    }


def is_finite(x: object) -> TypeGuard[float]:
    """True for a real, finite number (False for None, NaN, inf and non-numbers)."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return False
    return math.isfinite(float(x))


def fmt_num(x: object, digits: int = 3) -> str:
    """A number in `digits` significant figures, or "n/a" for a missing/non-finite value."""
    return f"{x:.{digits}g}" if is_finite(x) else "n/a"


def capitalise(s: str) -> str:
    """First letter upper-cased, the rest kept ("span F1" -> "Span F1", not "Span f1")."""
    return s[:1].upper() + s[1:]


def plain_number(x: float) -> str:
    """A positive number as people read it, the one rounding a lesson's words and its charts
    share: 29,307 · 11.5 · 2.93 · 0.031 (at most three significant digits below 100)."""
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def fmt_human(x: object) -> str:
    """A count or size for people: "22.6M", "1,086", "11.3", "0.0421"; "n/a" if missing."""
    if not is_finite(x):
        return "n/a"
    v = float(x)  # type: ignore[arg-type]
    if abs(v) >= 1e9:
        return f"{v / 1e9:.1f}G"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.1f}M"
    if abs(v) >= 1e3:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def token_chips_html(tokens: Sequence[str], segments: Sequence[int]) -> str:
    """Word pieces as inline HTML chips (escaped), sentence B tinted differently."""
    chips = "".join(
        f"<span style='display:inline-block;margin:2px;padding:2px 6px;border-radius:6px;"
        f"background:{'#cde4f7' if seg == 0 else '#f9dcc4'};font-family:monospace'>"
        f"{html.escape(str(tok))}</span>" for tok, seg in zip(tokens, segments))
    return f"<div>{chips}</div>"
