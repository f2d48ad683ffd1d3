"""The class through AppTest on a class server (an instructor token set): the token from the
instructor's link is taken out of the URL and makes the instructor; a student (no token, or a
forged one in the URL or in the session) sees no instructor control and changes nothing;
a student follows the instructor's step, looks back and returns; the Instructor page is the
class page for the instructor only, its token never shown."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.conftest import REPO, app_settings, page_path  # noqa: E402

TOKEN = "class-test-token-0123456789"
CONTROLS = ("lesson_class_start", "lesson_class_close", "class_start", "class_close")


@pytest.fixture(scope="module", autouse=True)
def class_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("classhome")
    env = {"BERTVIZ_HOME": str(home), "BERTVIZ_CACHE_DIR": str(home / "cache"),
           "BERTVIZ_MAX_JOBS": "1", "BERTVIZ_INSTRUCTOR_TOKEN": TOKEN}
    with app_settings(env):
        yield


def page(name: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.first_warnings = [w.value for w in at.warning]  # the start page's run read the URL
    at.switch_page(page_path(name)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button if b.key}


def test_instructor_link_student_forgery_and_following():
    from bertviz_lite.ui.roles import class_poll

    teacher = page("lesson", step="2", token=TOKEN)
    assert "token" not in teacher.query_params  # not left in the projected address bar
    teacher.button(key="lesson_class_start").click().run()
    code = teacher.query_params["class"]
    assert class_poll().session(code).step == "frozen-backward"
    assert any(code in c.value for c in teacher.code)  # the full join link

    student = page("lesson", step="2", token="forged", **{"class": code})
    assert any("not this server's" in w for w in student.first_warnings)
    student.session_state["_instructor_token"] = "forged-in-the-session"
    student.run()
    assert not keys(student) & {*CONTROLS, "lesson_reveal_frozen-backward"}
    assert "lesson_send_frozen-backward" in keys(student)
    assert not class_poll().revealed(code, "frozen-backward")
    assert class_poll().members(code) == 1

    teacher.button(key="lesson_next").click().run()  # the class moves with the instructor
    assert class_poll().session(code).step == "finetune-backward"
    student.run()
    assert student.query_params["step"] == "3"
    student.button(key="lesson_back").click().run()  # looks back ...
    assert student.query_params["step"] == "2"
    student.button(key="lesson_back_to_class").click().run()  # ... and returns
    assert student.query_params["step"] == "3"

    other = page("instructor", **{"class": code})
    assert any("for the instructor" in w.value for w in other.warning)
    assert not keys(other) & set(CONTROLS)
    host = page("instructor", token=TOKEN, **{"class": code})
    assert "class_close" in keys(host)
    host.selectbox(key="class_move").set_value(0).run()  # move the class from the class page
    assert class_poll().session(code).step == "frozen-forward"
    assert any(m.label == "Joined" and m.value == "1" for m in host.metric)
    shown = [str(d.value) for d in host.dataframe]
    assert not any(TOKEN in s for s in shown)


def test_a_student_page_is_the_lesson_player_where_the_routes_are_served(monkeypatch):
    """With the class routes served (the app's own server), a student's Lesson page is the
    player: one component holding the class code, the class's step and this browser's sent
    predictions; no Streamlit step, no instructor control. Without them (above): the app's
    own step, which reruns."""
    import json

    from bertviz_lite.serve import routes
    from bertviz_lite.ui.roles import class_poll

    teacher = page("lesson", step="2", token=TOKEN)
    teacher.button(key="lesson_class_start").click().run()
    code = teacher.query_params["class"]
    class_poll().vote(code, "frozen-backward", "another-browser", ["head"])
    monkeypatch.setattr(routes, "_served", True)
    student = page("lesson", step="5", **{"class": code})
    players = [e for e in student.main if getattr(e, "key", "") == "class_player"]
    assert len(players) == 1
    data = json.loads(players[0].proto.json)
    assert data["code"] == code and data["lesson"] == "9.3"
    assert data["step"] == "frozen-backward"  # the class's step, not the link's ?step=5
    assert data["sent"] == {}  # another browser's vote is not this one's
    assert "BertvizLesson(" in players[0].proto.js_content  # the export's player
    assert not keys(student) & {*CONTROLS, "lesson_send_frozen-backward",
                                "lesson_reveal_frozen-backward", "lesson_next"}
