"""The app's own HTTP routes beside Streamlit's: the class's state (class_api.py) and the
lesson's player (lesson_api.py), under Streamlit's `server.baseUrlPath`.

app.py and bertviz_lite/app/asgi.py give `app_routes()` to `st.App`; a process that serves
them draws a student's Lesson page with the player (ui/class_player.py), which needs them.
"""

from __future__ import annotations

from starlette.routing import Route

from bertviz_lite.serve import class_api, lesson_api

_served = False  # set by app_routes(): this process serves them beside Streamlit


def routes(base_url_path: str = "") -> list[Route]:
    """The class-state route and the lesson player's (serve/lesson_api.py) under Streamlit's
    `server.baseUrlPath` ('' for the root).

    Plain (not async) endpoints: Starlette runs them in its thread pool, so a slow disk never
    holds the server's event loop."""
    base = base_url_path.strip("/")
    at = ("/" + base if base else "")
    return [Route(at + class_api.PATH, class_api.class_state, methods=["GET"]),
            Route(at + lesson_api.ANSWERS_PATH, lesson_api.answers, methods=["GET"]),
            Route(at + lesson_api.LESSON_PATH, lesson_api.lesson, methods=["GET"]),
            Route(at + lesson_api.ASSET_PATH, lesson_api.asset, methods=["GET"])]


def app_routes(base_url_path: str = "") -> list[Route]:
    """`routes` for the app's own server (app.py, app/asgi.py), marking this process as
    serving them: a student's Lesson page then draws the lesson with the player."""
    global _served
    _served = True
    return routes(base_url_path)


def served() -> bool:
    """Whether this process serves the routes (app.py and app/asgi.py register them; AppTest
    and a bare `streamlit run` of the page script do not)."""
    return _served
