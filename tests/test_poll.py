"""The class poll on a real SQLite file: concurrent voters, re-votes, restarts, two processes,
and the rules of who may vote and see results."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import uuid

import pytest

from bertviz_lite.lesson.poll import CODE_LENGTH, Poll, PollError, normalise


@pytest.fixture()
def poll(tmp_path):
    return Poll(tmp_path / "poll.sqlite3")


def test_wal_mode_and_code(poll):
    code = poll.start("9.3")
    assert len(code) == CODE_LENGTH and code == normalise(code.lower())
    mode = sqlite3.connect(poll.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert poll.session(f" {code.lower()} ").code == code


def _voters(poll: Poll, code: str, voters: list[str], answer_of) -> list[BaseException]:
    """Each voter in its own thread, all released at once; returns the errors raised."""
    errors: list[BaseException] = []
    gate = threading.Barrier(len(voters))

    def run(voter: str) -> None:
        try:
            gate.wait()
            poll.vote(code, "frozen-backward", voter, answer_of(voter))
        except BaseException as err:  # collected, asserted below
            errors.append(err)
        finally:
            poll.close()

    threads = [threading.Thread(target=run, args=(v,)) for v in voters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_thirty_concurrent_voters_are_counted_exactly(poll):
    code = poll.start("9.3")
    voters = [uuid.uuid4().hex[:12] for _ in range(30)]
    errors = _voters(poll, code, voters,
                     lambda v: ["head"] if int(v, 16) % 3 else ["layer.5", "head"])
    assert not errors, errors
    counts = poll.tally(code, "frozen-backward", instructor=True)
    assert sum(counts.values()) == 30
    expected = sum(1 for v in voters if int(v, 16) % 3)
    assert counts['["head"]'] == expected


def test_a_revote_replaces_the_first(poll):
    code = poll.start("9.3")
    poll.vote(code, "cost", "s1", 5.0)
    poll.vote(code, "cost", "s2", 5.0)
    poll.vote(code, "cost", "s1", 30.0)
    assert poll.tally(code, "cost", instructor=True) == {"5.0": 1, "30.0": 1}
    assert poll.my_vote(code, "cost", "s1") == 30.0


def test_restart_midway_loses_nothing(tmp_path):
    path = tmp_path / "poll.sqlite3"
    first = Poll(path)
    code = first.start("9.3")
    errors = _voters(first, code, [f"a{i}" for i in range(15)], lambda v: "finetune")
    first.close()
    del first  # the "server" goes away; a new one opens the same file
    second = Poll(path)
    errors += _voters(second, code, [f"b{i}" for i in range(15)], lambda v: "frozen")
    assert not errors
    assert second.tally(code, "frozen-backward", instructor=True) == {'"finetune"': 15,
                                                                      '"frozen"': 15}


VOTER = """
import sys
from bertviz_lite.lesson.poll import Poll
path, code, prefix, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
poll = Poll(path)
for i in range(n):
    poll.vote(code, "cost", f"{prefix}{i}", float(i % 4 + 1))
"""


def test_two_processes_share_the_database(tmp_path):
    """Two separate Python processes (as two app servers behind a proxy) vote at once."""
    path = tmp_path / "poll.sqlite3"
    poll = Poll(path)
    code = poll.start("9.3")
    procs = [subprocess.Popen([sys.executable, "-c", VOTER, str(path), code, p, "20"])
             for p in "xy"]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    counts = poll.tally(code, "cost", instructor=True)
    assert sum(counts.values()) == 40
    assert counts["1.0"] == 10  # 5 of each process's 20 votes


def test_reveal_closes_voting_and_opens_results(poll):
    code = poll.start("9.3")
    poll.vote(code, "cost", "s1", 8.0)
    with pytest.raises(PollError, match="after the reveal"):
        poll.tally(code, "cost", instructor=False)
    poll.reveal(code, "cost")
    with pytest.raises(PollError, match="revealed"):
        poll.vote(code, "cost", "s1", 9.0)
    assert poll.tally(code, "cost", instructor=False) == {"8.0": 1}
    assert poll.answers(code, "cost", instructor=False) == [8.0]
    poll.vote(code, "other-step", "s1", 1.0)  # other steps stay open


def test_closed_and_unknown_sessions_refuse_votes(poll):
    code = poll.start("9.3")
    poll.close_session(code)
    assert not poll.session(code).open
    with pytest.raises(PollError, match="closed"):
        poll.vote(code, "cost", "s1", 1.0)
    with pytest.raises(PollError, match="no class session"):
        poll.vote("NOPE1", "cost", "s1", 1.0)


def test_state_is_what_a_students_page_follows(poll):
    assert poll.state("NOPE1") is None
    code = poll.start("9.3", steps=["flow", "cost", "probe"])
    assert poll.state(code) == {"code": code, "step": "", "open": True, "revealed": []}
    poll.set_step(code, "cost")
    poll.reveal(code, "probe")
    poll.reveal(code, "cost")
    assert poll.state(code.lower()) == {"code": code, "step": "cost", "open": True,
                                        "revealed": ["cost", "probe"]}
    poll.close_session(code)
    assert poll.state(code)["open"] is False
