"""Small values kept in this browser across reloads and days: cookies, read from the page's
first request (`st.context.cookies`) and written by a line of JavaScript.

Used for a student's lesson progress and predictions (no account, nothing on the server), the
instructor's token and an anonymous browser id for the class's "how many joined".
Values are URL-safe base64 of JSON where they are structured; cookies stay under 4 KB.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from typing import Any

import streamlit as st

log = logging.getLogger("bertviz_lite.app")

KEEP_DAYS = 60
MAX_COOKIE = 3800  # bytes of one cookie's value (browsers keep at least 4096 per cookie)
BROWSER_COOKIE = "bertviz_browser"
STORE_CSS = '<style>[class*="st-key-bertviz_store_"] { display: none !important; }</style>'


def cookie(name: str) -> str | None:
    """A cookie of this browser as the page's first request sent it (None: absent)."""
    try:
        value = st.context.cookies.get(name)
    except (AttributeError, RuntimeError):  # no browser (AppTest, bare mode)
        return None
    return value if isinstance(value, str) and value else None  # (AppTest: not a str)


def set_cookie(name: str, value: str, days: float = KEEP_DAYS) -> None:
    """Keep `value` in this browser (the next page load sends it); 0 days deletes it."""
    if len(value) > MAX_COOKIE:
        log.warning("cookie %s not kept: %d bytes is more than %d", name, len(value), MAX_COOKIE)
        return
    line = f"{name}={value}; Max-Age={int(days * 86400)}; Path=/; SameSite=Lax"
    # one hidden container holds the style that hides it and the script: nothing takes room
    # on the page (a projected lesson step must fit its screen)
    with st.container(key=f"bertviz_store_{name}"):
        st.html(STORE_CSS + f"<script>document.cookie = {json.dumps(line)};</script>",
                unsafe_allow_javascript=True)


def encode(obj: Any) -> str:
    """JSON -> a cookie-safe string."""
    raw = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str | None) -> Any:
    """What `encode` wrote, or None for anything else (a damaged or foreign cookie)."""
    if not text:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError):
        return None


def browser_id() -> str:
    """An anonymous id of this browser: its cookie, else one made for this session (written
    to the cookie by `keep_browser_id`, so a reload keeps it)."""
    return cookie(BROWSER_COOKIE) or st.session_state.setdefault("_browser_id",
                                                                   uuid.uuid4().hex[:16])


def keep_browser_id() -> None:
    """Write this session's browser id to the cookie once (call it in the page's flow)."""
    if cookie(BROWSER_COOKIE) is None and not st.session_state.get("_browser_id_kept"):
        st.session_state["_browser_id_kept"] = True
        set_cookie(BROWSER_COOKIE, browser_id())
