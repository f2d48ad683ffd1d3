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
from bertviz_lite.serve import class_api
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
def test_the_route_lives_under_the_base_url(base, path):
    assert [r.path for r in class_api.routes(base)] == [path]


@pytest.mark.parametrize("script", [REPO / "app.py", launch.SERVER])
def test_streamlit_finds_the_server_with_the_route(script):
    from streamlit.web.server.app_discovery import discover_asgi_app

    found = discover_asgi_app(Path(script))
    assert found.is_asgi_app and found.import_string == f"{Path(script).stem}:app"
