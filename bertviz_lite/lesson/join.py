"""How a student joins a class: the full join link and its QR code (drawn offline by segno).

Pure functions: text in, text or image bytes out (no Streamlit, no network).
"""

from __future__ import annotations

import io
from urllib.parse import urlencode, urlsplit

import segno

QR_ERROR = "m"  # medium error correction: still reads from a projector with some glare


def base_url(page_url: str | None, public_url: str = "", base_path: str = "") -> str:
    """The server's address as students should open it: the `public_url` setting, else the
    scheme and host of the address the instructor's browser shows (+ Streamlit's base path).

    page_url: e.g. "http://10.0.0.5:8501/instructor" (st.context.url), None when unknown."""
    if public_url:
        return public_url.rstrip("/")
    if not page_url:
        return ""
    parts = urlsplit(page_url)
    path = "/" + base_path.strip("/") if base_path.strip("/") else ""
    return f"{parts.scheme}://{parts.netloc}{path}"


def join_url(base: str, code: str, lesson: str = "") -> str:
    """The link students open: `<base>/lesson?class=CODE` (and the lesson, when named)."""
    query = {"class": code, **({"lesson": lesson} if lesson else {})}
    return f"{base.rstrip('/')}/lesson?{urlencode(query)}"


def qr_png(text: str, scale: int = 8) -> bytes:
    """A QR code of `text` as PNG bytes (`scale` pixels a module, the quiet zone included)."""
    buf = io.BytesIO()
    segno.make(text, error=QR_ERROR).save(buf, kind="png", scale=scale, border=4)
    return buf.getvalue()


def qr_svg(text: str, scale: int = 8) -> str:
    """The same QR code as an inline SVG element (for a static page)."""
    return segno.make(text, error=QR_ERROR).svg_inline(scale=scale, border=4)
