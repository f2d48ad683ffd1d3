"""The class's rules without a browser: who is an instructor (the token, the e-mail list, a
single-user laptop), every instructor action refused without the credential (the poll
unchanged), the token shared through its file, and the join link's QR code decoded back."""

from __future__ import annotations

import io
import os
import stat

import pytest

from bertviz_lite.lesson.classroom import Classroom, Credential, NotInstructor, Roles
from bertviz_lite.lesson.join import base_url, join_url, qr_png, qr_svg
from bertviz_lite.lesson.poll import Poll, PollError
from bertviz_lite.serve.instructor import (
    TOKEN_FILE,
    instructor_link,
    is_loopback,
    server_token,
    single_user,
    token_path,
)
from bertviz_lite.serve.settings import Settings, load_settings

TOKEN = "s3cret-token"
TEACHER = Credential(token=TOKEN)
FORGED = [Credential(), Credential(token="guess"), Credential(token=TOKEN[:-1]),
          Credential(token=TOKEN + "x"), Credential(email="student@example.org")]


@pytest.fixture()
def room(tmp_path) -> Classroom:
    return Classroom(Poll(tmp_path / "poll.sqlite3"),
                     Roles(token=TOKEN, instructors=("lecturer@example.org",)))


def test_instructor_by_token_or_listed_email(room):
    assert room.roles.is_instructor(TEACHER)
    assert room.roles.is_instructor(Credential(email="lecturer@example.org"))
    assert not any(room.roles.is_instructor(c) for c in FORGED)
    assert Roles(token=TOKEN, everyone=True).is_instructor(Credential())


@pytest.mark.parametrize("forged", FORGED)
def test_a_forged_instructor_action_changes_nothing(room, forged):
    code = room.start(TEACHER, "9.3", "frozen-forward")
    room.vote(code, "frozen-backward", "student-1", ["head"])
    with pytest.raises(NotInstructor):
        room.start(forged, "9.3")
    with pytest.raises(NotInstructor):
        room.move(forged, code, "frozen-backward")
    with pytest.raises(NotInstructor):
        room.reveal(forged, code, "frozen-backward")
    with pytest.raises(NotInstructor):
        room.close(forged, code)
    with pytest.raises(PollError):  # the class's answers before the reveal
        room.answers(forged, code, "frozen-backward")
    sess = room.session(code)
    assert (sess.step, sess.open) == ("frozen-forward", True)
    assert not room.revealed(code, "frozen-backward")
    assert room.poll._conn().execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 1
    room.reveal(TEACHER, code, "frozen-backward")
    assert room.answers(forged, code, "frozen-backward") == [["head"]]  # after the reveal


def test_the_instructor_moves_reveals_and_closes(room):
    code = room.start(TEACHER, "9.3")
    room.move(TEACHER, code, "top-k")
    for member in ("a", "b", "a"):
        room.join(code, member)
    assert room.session(code).step == "top-k" and room.members(code) == 2
    room.close(TEACHER, code)
    assert not room.session(code).open


def test_the_token_is_made_once_and_shared(tmp_path):
    s = Settings(cache_dir=str(tmp_path / "cache"))
    first = server_token(s)
    assert len(first) >= 32 and server_token(s) == first  # a second process reads the same
    assert stat.S_IMODE(os.stat(token_path(s)).st_mode) == 0o600
    assert server_token(Settings(cache_dir=str(tmp_path / "cache"),
                                 instructor_token="set-here")) == "set-here"
    env = {"BERTVIZ_INSTRUCTOR_TOKEN": "from-env-0123456789", "BERTVIZ_SETTINGS": str(tmp_path / "none")}
    assert load_settings(env=env).instructor_token == "from-env-0123456789"
    assert instructor_link("http://h:8501/", "a b") == "http://h:8501/instructor?token=a+b"


def test_a_laptop_user_is_their_own_instructor_a_class_server_needs_the_token():
    laptop = Settings()
    assert single_user(laptop, "127.0.0.1", None)  # bertviz-lite app (loopback)
    assert single_user(laptop, None, None)  # streamlit run app.py, visited from this computer
    assert not single_user(laptop, None, "192.168.1.20")  # ... from another computer
    assert not single_user(laptop, "0.0.0.0", None)  # Docker, --host 0.0.0.0
    assert not single_user(Settings(instructor_token="t"), "127.0.0.1", None)
    assert not single_user(Settings(instructors=("a@b.c",)), "127.0.0.1", None)
    assert is_loopback("localhost") and is_loopback("::1") and not is_loopback("10.0.0.1")


def test_the_join_link_is_a_full_address_and_its_qr_code_decodes_to_it():
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    url = join_url(base_url("http://10.1.2.3:8501/instructor"), "K7QX2")
    assert url == "http://10.1.2.3:8501/lesson?class=K7QX2"
    assert base_url("http://h/x", public_url="https://bert.example.org/") == \
        "https://bert.example.org"
    assert base_url("http://h:1/app/instructor", base_path="app") == "http://h:1/app"
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png(url))))
    assert [r.text for r in found] == [url]
    assert qr_svg(url).startswith("<svg")


def test_bertviz_lite_app_prints_the_instructors_link(tmp_path, monkeypatch):
    from bertviz_lite.cli.app_cmd import instructor_line

    monkeypatch.setenv("BERTVIZ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BERTVIZ_SETTINGS", str(tmp_path / "none.toml"))
    line = instructor_line("127.0.0.1", 8600)
    token = (tmp_path / TOKEN_FILE).read_text().strip()
    assert line.endswith(f"http://127.0.0.1:8600/instructor?token={token}")
    assert instructor_line("127.0.0.1", 8600) == line  # the same token at every start
