"""The class-state route that students' pages poll (serve/class_api.py), on a real SQLite
poll: its answers, its refusals, its path under a base URL, and that Streamlit finds the
server (st.App with the route) in app.py and in the packaged asgi.py. The route served by a
real `streamlit run`, read by real pages: tests/test_class_e2e.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.requests import Request

from bertviz_lite.app import launch
from bertviz_lite.lesson.poll import Poll
from bertviz_lite.serve import class_api, routes
from tests.conftest import REPO


@pytest.fixture()
def poll(tmp_path, monkeypatch) -> Poll:
    monkeypatch.setenv("BERTVIZ_HOME", str(tmp_path))
    class_api._polls.clear()
    from bertviz_lite.serve.settings import load_settings

    return Poll(load_settings().poll_path())


def _get(code: str) -> tuple[int, dict, dict]:
    request = Request({"type": "http", "method": "GET", "path": f"/api/class/{code}",
                       "headers": [], "path_params": {"code": code}})
    response = class_api.class_state(request)
    return response.status_code, json.loads(response.body), dict(response.headers)


def test_an_open_class_answers_its_step_and_reveals(poll):
    code = poll.start("9.3", steps=["flow", "cost"])
    poll.set_step(code, "flow")
    status, body, headers = _get(code)
    assert status == 200 and body == {"code": code, "step": "flow", "open": True,
                                      "revealed": []}
    assert headers["cache-control"] == "no-store"  # a proxy must not keep an old step
    poll.set_step(code, "cost")
    poll.reveal(code, "flow")
    assert _get(code.lower())[1] == {"code": code, "step": "cost", "open": True,
                                     "revealed": ["flow"]}
    poll.close_session(code)
    assert _get(code)[1]["open"] is False


@pytest.mark.parametrize("code", ["NOPE1", "x" * 17, "AB-CD", "../etc", "", "ÄBCDE"])
def test_unknown_and_malformed_codes_are_404_with_a_reason(poll, code):
    status, body, _ = _get(code)
    assert status == 404 and body["error"]


def test_a_damaged_poll_is_503_not_a_crash(poll):
    Path(poll.path).write_bytes(b"not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{poll.path}{suffix}").unlink(missing_ok=True)
    class_api._polls.clear()
    status, body, _ = _get("ABCDE")
    assert status == 503 and "not available" in body["error"]


@pytest.mark.parametrize(("base", "path"), [("", "/api/class/{code}"),
                                             ("bertviz", "/bertviz/api/class/{code}"),
                                             ("/course/bertviz/", "/course/bertviz/api/class/{code}")])
def test_the_routes_live_under_the_base_url(base, path):
    paths = [r.path for r in routes.routes(base)]
    assert paths[0] == path and len(paths) == 4
    assert all(p.startswith(path.removesuffix("api/class/{code}") + "api/") for p in paths)
    assert not routes.served()  # only the app's own server marks itself


# -- the lesson's player: its data, plotly.js, and the class's answers after the reveal --------
def _request(path: str, params: dict, query: str = "", gzip: bool = False) -> Request:
    headers = [(b"accept-encoding", b"gzip")] if gzip else []
    return Request({"type": "http", "method": "GET", "path": path, "query_string": query.encode(),
                    "headers": headers, "path_params": params})


def test_the_player_gets_the_lesson_in_the_page_theme(poll):
    import gzip

    from bertviz_lite.lesson import ArtefactStore, read_lessons
    from bertviz_lite.serve import lesson_api

    lesson = next(f.lesson for f in read_lessons(store=ArtefactStore()) if f.lesson)
    light = lesson_api.lesson(_request(f"/api/lesson/{lesson.id}", {"lesson_id": lesson.id}))
    data = json.loads(light.body)
    assert light.status_code == 200 and data["id"] == lesson.id
    assert [s["id"] for s in data["steps"]] == [s.id for s in lesson.steps]
    dark = lesson_api.lesson(_request(f"/api/lesson/{lesson.id}", {"lesson_id": lesson.id},
                                      "dark=1", gzip=True))
    assert dark.headers["content-encoding"] == "gzip"
    dark_data = json.loads(gzip.decompress(dark.body))
    figures = [(v["figure"]["layout"], w["figure"]["layout"])
               for s, t in zip(data["steps"], dark_data["steps"])
               for v, w in zip(s["views"], t["views"]) if v.get("figure")]
    assert figures and all(a.get("paper_bgcolor") != b.get("paper_bgcolor") for a, b in figures)
    for bad in ("nope", "../etc", "a" * 65):
        assert lesson_api.lesson(_request("/api/lesson/x", {"lesson_id": bad})).status_code == 404


def test_plotly_js_is_served_and_nothing_else(poll):
    from bertviz_lite.lesson.export import plotly_js
    from bertviz_lite.serve import lesson_api

    ok = lesson_api.asset(_request("/api/lesson-assets/plotly.min.js", {"name": "plotly.min.js"}))
    assert ok.status_code == 200 and ok.body == plotly_js().read_bytes()
    assert "max-age" in ok.headers["cache-control"]
    for bad in ("lesson.js", "../../pyproject.toml", "plotly.min.js.map"):
        assert lesson_api.asset(_request("/x", {"name": bad})).status_code == 404


def test_students_read_the_class_answers_only_after_the_reveal(poll):
    from bertviz_lite.lesson import ArtefactStore, read_lessons
    from bertviz_lite.serve import lesson_api

    lesson = next(f.lesson for f in read_lessons(store=ArtefactStore()) if f.lesson)
    step = next(s for s in lesson.steps if s.prediction.kind == "layers")
    code = poll.start(lesson.id, steps=[s.id for s in lesson.steps])
    for voter, vote in (("a", ["head"]), ("b", ["head"]), ("c", ["layer.5", "head"])):
        poll.vote(code, step.id, voter, vote)

    def get(code_: str, step_id: str):
        r = lesson_api.answers(_request("/x", {"code": code_, "step": step_id}))
        return r.status_code, json.loads(r.body)

    status, body = get(code, step.id)
    assert status == 403 and "after the reveal" in body["error"]  # no peeking before
    poll.reveal(code, step.id)
    status, body = get(code, step.id)
    assert status == 200 and body["votes"] == 3
    bars = body["figure"]["data"][0]
    counts = dict(zip(bars["y"], bars["x"]))  # the app's poll figure: a bar per group
    assert counts["head ✔"] == 3 and counts["layer.5"] == 1  # ✔: what was measured
    assert get("NOPE1", step.id)[0] == 404 and get(code, "no-such-step")[0] in (403, 404)
    assert get("../x", step.id)[0] == 404


@pytest.mark.parametrize("script", [REPO / "app.py", launch.SERVER])
def test_streamlit_finds_the_server_with_the_route(script):
    from streamlit.web.server.app_discovery import discover_asgi_app

    found = discover_asgi_app(Path(script))
    assert found.is_asgi_app and found.import_string == f"{Path(script).stem}:app"


def test_a_lesson_warmed_ahead_is_answered_from_the_cache(poll):
    from bertviz_lite.lesson import ArtefactStore, read_lessons
    from bertviz_lite.serve import lesson_api

    lesson = next(f.lesson for f in read_lessons(store=ArtefactStore()) if f.lesson)
    lesson_api._lesson_body.cache_clear()
    lesson_api.warm_in_background(lesson.id).join(timeout=120)
    assert lesson_api._lesson_body.cache_info().currsize == 2  # light and dark
    lesson_api.lesson(_request("/x", {"lesson_id": lesson.id}, "dark=1"))
    assert lesson_api._lesson_body.cache_info().hits >= 1
