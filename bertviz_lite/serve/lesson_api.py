"""The lesson's player over HTTP, for a student's page in a class (ui/class_player.py):

    GET <base>/api/lesson/<id>?dark=1&present=1&w=1280&h=720
        the lesson's data for the player (export.lesson_data: steps, answers, figures as
        plotly JSON, the stack), in the figure theme the page asks for
    GET <base>/api/lesson-assets/plotly.min.js
        plotly.js of the installed plotly package, for the figures (loaded once per browser)
    GET <base>/api/class/<code>/answers/<step>?dark=1
        the class's predictions of a revealed step, as the app's poll figure; 403 before the
        instructor reveals it (students see the class's answers only after the reveal)

With the player, a student's page follows the instructor by drawing the next step itself:
no Streamlit rerun, so 30 students moving at once cost their browsers a few milliseconds each
instead of a page's redraw (0.15-0.25 s of a core each, measured in Chromium).

Each answer is built once and kept (the lesson: until a lesson file or artefact changes),
compressed when the browser accepts gzip. Plain endpoints: Starlette runs them in its thread
pool, never on the server's event loop.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bertviz_lite.figures.theme import DEFAULT_THEME, PRESENTER_THEME, Theme, dark, presenter_theme
from bertviz_lite.lesson.poll import PollUnavailable

log = logging.getLogger(__name__)

LESSON_PATH = "/api/lesson/{lesson_id}"
ASSET_PATH = "/api/lesson-assets/{name}"
ANSWERS_PATH = "/api/class/{code}/answers/{step}"
ASSETS = ("plotly.min.js",)
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_lock = threading.Lock()


@dataclass(frozen=True)
class Body:
    """An answer's bytes, plain and gzipped."""

    raw: bytes
    gz: bytes

    @classmethod
    def of(cls, raw: bytes) -> Body:
        return cls(raw, gzip.compress(raw, compresslevel=6))


def _send(request: Request, body: Body, media: str, cache: str) -> Response:
    zipped = "gzip" in request.headers.get("accept-encoding", "")
    headers = {"Cache-Control": cache, "Vary": "Accept-Encoding"}
    if zipped:
        headers["Content-Encoding"] = "gzip"
    return Response(body.gz if zipped else body.raw, media_type=media, headers=headers)


def _error(text: str, status: int) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status, headers={"Cache-Control": "no-store"})


def theme_of(request: Request) -> Theme:
    """The figure theme a page asks for: dark or light, presenter type sized from its window."""
    q = request.query_params
    base = DEFAULT_THEME
    if q.get("present") == "1":
        try:
            w, h = int(q.get("w", "1280")), int(q.get("h", "720"))
        except ValueError:
            w, h = 1280, 720
        base = presenter_theme(min(max(w, 320), 8000), min(max(h, 240), 5000), PRESENTER_THEME)
    return dark(base) if q.get("dark") == "1" else base


# -- the lessons ---------------------------------------------------------------------------------
def _signature() -> tuple[tuple[str, float], ...]:
    from bertviz_lite.lesson import lessons_signature

    return lessons_signature()


@lru_cache(maxsize=2)
def _lessons(signature: tuple[tuple[str, float], ...]) -> tuple[dict[str, Any], Any]:
    """{lesson id: Lesson} of the usable lesson files, and their artefact store."""
    from bertviz_lite.lesson import ArtefactStore, read_lessons
    from bertviz_lite.serve.settings import load_settings

    del signature  # only the cache's key
    store = ArtefactStore(runs=str(load_settings().recorded_runs_path()))
    return {f.lesson.id: f.lesson for f in read_lessons(store=store) if f.lesson}, store


def lessons() -> tuple[dict[str, Any], Any]:
    """The usable lessons and their store, read again when a file changed."""
    return _lessons(_signature())


@lru_cache(maxsize=8)
def _lesson_body(lesson_id: str, theme: Theme, signature: tuple[tuple[str, float], ...]
                 ) -> Body | None:
    from bertviz_lite.lesson.export import lesson_data

    found, store = _lessons(signature)  # the same files' lessons: one look at the disk
    if lesson_id not in found:
        return None
    data = lesson_data(found[lesson_id], store, theme)
    return Body.of(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())


def lesson(request: Request) -> Response:
    """The lesson's data for the player (1-2 s to build the first time, then kept)."""
    lesson_id = str(request.path_params.get("lesson_id", ""))
    if not _ID.fullmatch(lesson_id):
        return _error("a lesson id is letters, digits, '.', '_' and '-'", 404)
    try:
        with _lock:  # 30 students asking at once build it once
            body = _lesson_body(lesson_id, theme_of(request), _signature())
    except Exception:  # a lesson that cannot be drawn: the page falls back to the app's
        log.exception("lesson %s not built for the player", lesson_id)
        return _error("the lesson could not be built: the server's log says why", 500)
    if body is None:
        return _error("no such lesson", 404)
    return _send(request, body, "application/json", "no-cache")


def warm_in_background(lesson_id: str) -> threading.Thread:
    """Build the lesson's data for the player in both brightnesses, in a thread: a class's
    first students then get it at once (building it takes 1-2 s of a core)."""
    def warm() -> None:
        for theme in (DEFAULT_THEME, dark(DEFAULT_THEME)):
            try:
                with _lock:
                    _lesson_body(lesson_id, theme, _signature())
            except Exception:  # the route reports it when a student asks
                log.exception("lesson %s not built ahead for the player", lesson_id)
                return

    thread = threading.Thread(target=warm, name=f"warm-lesson-{lesson_id}", daemon=True)
    thread.start()
    return thread


# -- plotly.js -----------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _plotly() -> Body:
    from bertviz_lite.lesson.export import plotly_js

    return Body.of(Path(plotly_js()).read_bytes())


def asset(request: Request) -> Response:
    """plotly.min.js, kept by the browser for a day (the installed version's file)."""
    name = str(request.path_params.get("name", ""))
    if name not in ASSETS:
        return _error("no such file", 404)
    with _lock:
        body = _plotly()
    return _send(request, body, "text/javascript", "public, max-age=86400")


# -- the class's answers of a revealed step -------------------------------------------------------
def _step_and_answer(lesson_id: str, step_id: str) -> tuple[Any, Any] | None:
    """The step of a class's lesson and its measured answer (None: no such step, or its
    artefact is missing)."""
    from bertviz_lite.lesson import LessonError, answer_for

    found, store = lessons()
    lesson_ = found.get(lesson_id)
    step = next((s for s in lesson_.steps if s.id == step_id), None) if lesson_ else None
    if step is None:
        return None
    try:
        return step, answer_for(step, store)
    except LessonError:
        return None


def answers(request: Request) -> Response:
    """{"votes": n, "figure": plotly JSON} of a revealed step of a class session."""
    from bertviz_lite.figures.lesson import poll_bars
    from bertviz_lite.lesson.export import figure_json
    from bertviz_lite.lesson.tally import distribution
    from bertviz_lite.serve.class_api import CODE, poll

    code, step_id = (str(request.path_params.get(k, "")) for k in ("code", "step"))
    if not CODE.fullmatch(code) or not _ID.fullmatch(step_id):
        return _error("no such class session or step", 404)
    try:
        sess = poll().session(code)
        if sess is None:
            return _error("no such class session", 404)
        if not poll().revealed(sess.code, step_id):
            return _error("the class's answers appear after the reveal", 403)
        votes = poll().answers(sess.code, step_id, instructor=False)
    except PollUnavailable as err:
        log.warning("class answers unavailable: %s", err)
        return _error("the class poll is not available", 503)
    found = _step_and_answer(sess.lesson, step_id)
    if found is None:
        return _error("no such step (with a recorded answer) in the class's lesson", 404)
    step, answer = found
    p = step.prediction
    labels, counts, marked = distribution(p.kind, votes, answer, p.low, p.high)
    fig = poll_bars(labels, counts, marked, len(votes), theme=theme_of(request))
    return JSONResponse({"votes": len(votes), "figure": figure_json(fig)},
                        headers={"Cache-Control": "no-store"})
