"""The class's state over HTTP, for the students' pages: `GET <base>/api/class/<code>` answers
`{"code", "step", "open", "revealed"}` (lesson.poll.Poll.state) as JSON, never cached.

A student's Lesson page (the player, ui/class_player.py) fetches it twice a second and draws
the instructor's step when it changes; the app's own step, where the player cannot start,
reruns only when the state changed. A Streamlit fragment that polled instead re-rendered the
whole page in the browser every second (0.05 of a core per waiting student, measured in
Chromium), which 30 students on one computer could not afford.

The route is served beside Streamlit's own by `st.App` (serve/routes.py); every app process
behind a proxy reads the same SQLite poll, so any of them can answer.
"""

from __future__ import annotations

import logging
import re
import threading

from starlette.requests import Request
from starlette.responses import JSONResponse

from bertviz_lite.lesson.poll import Poll, PollUnavailable

log = logging.getLogger(__name__)

PATH = "/api/class/{code}"
READ_TIMEOUT_S = 0.5  # a reader waits at most this for a busy database (WAL readers rarely do)
CODE = re.compile(r"[A-Za-z0-9]{1,16}")
_polls: dict[str, Poll] = {}
_lock = threading.Lock()


def poll() -> Poll:
    """The poll of this server's settings (one per database file, made on first use)."""
    from bertviz_lite.serve.settings import load_settings

    path = load_settings().poll_path()
    with _lock:
        if str(path) not in _polls:
            _polls[str(path)] = Poll(path, timeout_s=READ_TIMEOUT_S)
        return _polls[str(path)]


def _answer(body: dict, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def class_state(request: Request) -> JSONResponse:
    """The class session's state, 404 for a code that does not exist, 503 when the poll's
    database cannot be read (the page then falls back to rerunning itself now and then)."""
    code = str(request.path_params.get("code", ""))
    if not CODE.fullmatch(code):
        return _answer({"error": "a class code is letters and digits"}, 404)
    try:
        state = poll().state(code)
    except PollUnavailable as err:
        log.warning("class state unavailable: %s", err)
        return _answer({"error": "the class poll is not available"}, 503)
    except Exception as err:  # a busy database: the page asks again in half a second
        log.warning("class state not read: %s", err)
        return _answer({"error": "try again"}, 503)
    if state is None:
        return _answer({"error": "no such class session"}, 404)
    return _answer(state)
