"""Who this browser session is: the instructor (the token of the instructor's link, a listed
e-mail after sign-in, or the user of a single-user laptop) or a student; and the class poll
with its rules (`lesson.classroom.Classroom`: every instructor action checks the credential).

The token arrives once in the URL (`/instructor?token=...` or `/lesson?token=...`); it is
taken out of the address bar at once (the instructor projects the screen), kept for the
session, and in a cookie of this browser so a reload stays the instructor's.
"""

from __future__ import annotations

import logging

import streamlit as st

import bertviz_lite.ui.browser_store as browser_store
from bertviz_lite.lesson.classroom import Classroom, Credential, Roles
from bertviz_lite.lesson.poll import Poll
from bertviz_lite.serve.instructor import server_token, single_user
from bertviz_lite.ui.resources import settings

log = logging.getLogger("bertviz_lite.app")

TOKEN_PARAM = "token"
TOKEN_KEY = "_instructor_token"
TOKEN_COOKIE = "bertviz_instructor"


@st.cache_resource
def instructor_token() -> str:
    """The server's instructor token (the setting, or the one kept beside the class poll);
    logged with the link the first time a page is drawn (`bertviz-lite app` prints it at
    start)."""
    token = server_token(settings())
    log.warning("instructor's link: <this server's address>/instructor?token=%s", token)
    return token


@st.cache_resource
def class_poll() -> Poll:
    """The server's poll database (SQLite in the data folder, shared by app processes)."""
    return Poll(settings().poll_path())


def roles() -> Roles:
    """Who is an instructor for this visitor (the laptop rule depends on where they are)."""
    s = settings()
    ip = st.context.ip_address
    ip = ip if isinstance(ip, str) else None  # (AppTest has no connection: a local visitor)
    everyone = single_user(s, st.get_option("server.address"), ip)
    return Roles(token=instructor_token(), instructors=s.instructors, everyone=everyone)


def classroom() -> Classroom:
    """The class poll behind its rules (instructor actions need `credential()`)."""
    return Classroom(class_poll(), roles())


def credential() -> Credential:
    """What this session presents: its remembered token, and a signed-in user's e-mail."""
    logged_in = getattr(st.user, "is_logged_in", False)
    email = str(getattr(st.user, "email", "") or "") if logged_in else ""
    token = st.session_state.get(TOKEN_KEY) or browser_store.cookie(TOKEN_COOKIE) or ""
    return Credential(token=str(token), email=email)


def is_instructor() -> bool:
    """Whether this session holds the instructor's credential (or is a laptop's user)."""
    return roles().is_instructor(credential())


def take_token() -> None:
    """A `?token=` in the URL: checked, removed from the address bar, and remembered for the
    session (and this browser) when it is the instructor's; one line when it is not."""
    raw = st.query_params.get(TOKEN_PARAM)
    if raw is None:
        return
    del st.query_params[TOKEN_PARAM]
    if roles().is_instructor(Credential(token=raw)) and not roles().everyone:
        st.session_state[TOKEN_KEY] = raw
        st.session_state["_instructor_cookie"] = raw
    elif not roles().everyone:
        st.session_state["_token_refused"] = True


def token_notes() -> None:
    """After `take_token`: the line for a refused token; the cookie that keeps a good one."""
    if st.session_state.pop("_token_refused", False):
        st.warning("That instructor link's token is not this server's: you are a student here. "
                   "Use the link printed when the server started.")
    if token := st.session_state.pop("_instructor_cookie", None):
        browser_store.set_cookie(TOKEN_COOKIE, token)
