"""The class poll: students' predictions for a lesson step, counted for the instructor.

SQLite (standard library) in WAL mode in the server's data folder, so a restart loses no
vote and several app processes behind one proxy share the same class. One connection per
thread, short transactions (`BEGIN IMMEDIATE` ... `COMMIT`), a busy timeout for the moments
when two writers meet.

Rules: an instructor starts a session (a short code) and closes it; a student (an anonymous
random id per browser session) has one vote per step, which a new vote replaces until the
step is revealed; the tally of a step is for the instructor at any time and for students
only after the reveal. Who is an instructor is decided by the app (the instructors setting).
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read from a slide
CODE_LENGTH = 5
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    code TEXT PRIMARY KEY, lesson TEXT NOT NULL, step TEXT NOT NULL DEFAULT '',
    open INTEGER NOT NULL DEFAULT 1, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS reveals (
    code TEXT NOT NULL, step TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (code, step));
CREATE TABLE IF NOT EXISTS steps (
    code TEXT NOT NULL, step TEXT NOT NULL, PRIMARY KEY (code, step));
CREATE TABLE IF NOT EXISTS votes (
    code TEXT NOT NULL, step TEXT NOT NULL, voter TEXT NOT NULL, answer TEXT NOT NULL,
    at REAL NOT NULL, PRIMARY KEY (code, step, voter));
"""
# Who joined a class session (an anonymous browser id): the instructor's "how many joined".
MEMBERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS members (
    code TEXT NOT NULL, member TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (code, member));
"""


MAX_ANSWER_CHARS = 4096  # a prediction as JSON: a number, a choice, a list of group names
MAX_ID_CHARS = 128  # a step id or a voter id


class PollError(ValueError):
    """A vote or request the poll refuses; the message says why, for the student."""


class PollUnavailable(RuntimeError):
    """The poll's database cannot be used (damaged, not a database, unreadable): the lesson
    goes on without the poll; `set_aside` moves the file away for a fresh one."""


T = TypeVar("T")


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """SQLite's errors other than a busy database -> PollUnavailable, naming the file."""
    @functools.wraps(method)
    def run(self: Poll, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as err:
            if "locked" in str(err) or "busy" in str(err):
                raise
            self.close()
            raise PollUnavailable(f"the class poll's database {self.path.name} cannot be "
                                  f"used ({err})") from None
    return run


@dataclass(frozen=True)
class ClassSession:
    """A class session: its code, lesson, the instructor's current step, whether open."""

    code: str
    lesson: str
    step: str
    open: bool


class Poll:
    """The poll database at `path`; safe to share between threads (one connection each)."""

    def __init__(self, path: str | Path, timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._create()

    @_guarded
    def _create(self) -> None:
        self._conn().executescript(SCHEMA)  # (executescript commits by itself)
        self._conn().executescript(MEMBERS_SCHEMA)

    @_guarded
    def check(self) -> None:
        """Raise PollUnavailable when the database cannot be read (a cheap query on every
        table, for the page to find out once, before it shows anything of the poll)."""
        db = self._conn()
        for table in ("sessions", "reveals", "steps", "votes"):
            db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608 - fixed names

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable across app crashes in WAL
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction (rolled back on error)."""
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- the instructor ------------------------------------------------------------------
    @_guarded
    def start(self, lesson: str, steps: Collection[str] = ()) -> str:
        """A new open session of `lesson`; returns its short code. steps: the lesson's step
        ids (votes for any other step are refused); empty: any step."""
        for _ in range(20):
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            with self._tx() as db:
                if db.execute("SELECT 1 FROM sessions WHERE code=?", (code,)).fetchone():
                    continue
                db.execute("INSERT INTO sessions (code, lesson, created) VALUES (?, ?, ?)",
                           (code, lesson, time.time()))
                db.executemany("INSERT OR IGNORE INTO steps (code, step) VALUES (?, ?)",
                               [(code, str(s)) for s in steps])
                return code
        raise PollError("could not find a free class code; try again")

    @_guarded
    def close_session(self, code: str) -> None:
        """No more votes in this session (its results stay)."""
        with self._tx() as db:
            db.execute("UPDATE sessions SET open=0 WHERE code=?", (code,))

    @_guarded
    def set_step(self, code: str, step: str) -> None:
        """The step the instructor shows now."""
        with self._tx() as db:
            db.execute("UPDATE sessions SET step=? WHERE code=?", (step, code))

    @_guarded
    def reveal(self, code: str, step: str) -> None:
        """Reveal a step: its votes are final, students may see the aggregate."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO reveals (code, step, at) VALUES (?, ?, ?)",
                       (code, step, time.time()))

    # -- everyone ------------------------------------------------------------------------
    @_guarded
    def session(self, code: str) -> ClassSession | None:
        """The session with this code (case-insensitive), or None."""
        row = self._conn().execute("SELECT code, lesson, step, open FROM sessions WHERE code=?",
                                   (normalise(code),)).fetchone()
        return ClassSession(row[0], row[1], row[2], bool(row[3])) if row else None

    @_guarded
    def state(self, code: str) -> dict[str, Any] | None:
        """What a student's page follows, as JSON-ready values: {"code", "step" (the
        instructor's step id, '' before one), "open", "revealed" (the revealed step ids,
        sorted)}; None for an unknown code. Two indexed reads: cheap enough to answer every
        student's page twice a second."""
        sess = self.session(code)
        if sess is None:
            return None
        rows = self._conn().execute("SELECT step FROM reveals WHERE code=? ORDER BY step",
                                    (sess.code,)).fetchall()
        return {"code": sess.code, "step": sess.step, "open": sess.open,
                "revealed": [r[0] for r in rows]}

    @_guarded
    def revealed(self, code: str, step: str) -> bool:
        """Whether the instructor has revealed this step."""
        return self._conn().execute("SELECT 1 FROM reveals WHERE code=? AND step=?",
                                    (code, step)).fetchone() is not None

    @_guarded
    def vote(self, code: str, step: str, voter: str, answer: Any) -> None:
        """Record (or replace) one student's prediction; PollError when no longer allowed, for
        a step the session's lesson does not have, or for an answer that is too long or not
        a value JSON can store (a number, a text, a list of texts)."""
        for what, value in (("step", step), ("voter", voter)):
            if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS:
                raise PollError(f"the {what} must be an id of 1 to {MAX_ID_CHARS} characters")
        blob = answer_json(answer)
        with self._tx() as db:
            row = db.execute("SELECT open FROM sessions WHERE code=?", (code,)).fetchone()
            if row is None:
                raise PollError(f"there is no class session {code!r}; check the code")
            if not row[0]:
                raise PollError("this class session is closed")
            known = [r[0] for r in db.execute("SELECT step FROM steps WHERE code=?", (code,))]
            if known and step not in known:
                raise PollError(f"this lesson has no step {step[:40]!r}; reload the lesson")
            if db.execute("SELECT 1 FROM reveals WHERE code=? AND step=?",
                          (code, step)).fetchone():
                raise PollError("this step is revealed: predictions are closed")
            db.execute("INSERT INTO votes (code, step, voter, answer, at) VALUES (?, ?, ?, ?, ?)"
                       " ON CONFLICT (code, step, voter) DO UPDATE SET answer=excluded.answer,"
                       " at=excluded.at", (code, step, voter, blob, time.time()))

    @_guarded
    def my_vote(self, code: str, step: str, voter: str) -> Any:
        """This student's current prediction for the step, or None."""
        row = self._conn().execute("SELECT answer FROM votes WHERE code=? AND step=? AND voter=?",
                                   (code, step, voter)).fetchone()
        return json.loads(row[0]) if row else None

    @_guarded
    def tally(self, code: str, step: str, *, instructor: bool) -> Counter[str]:
        """{answer as JSON: count} of a step; students only once it is revealed."""
        if not instructor and not self.revealed(code, step):
            raise PollError("the class results appear after the reveal")
        rows = self._conn().execute("SELECT answer, COUNT(*) FROM votes WHERE code=? AND step=?"
                                    " GROUP BY answer", (code, step)).fetchall()
        return Counter({a: int(n) for a, n in rows})

    def answers(self, code: str, step: str, *, instructor: bool) -> list[Any]:
        """Every vote of a step, decoded (for numbers and orders); same rule as `tally`."""
        counts = self.tally(code, step, instructor=instructor)
        return [json.loads(a) for a, n in counts.items() for _ in range(n)]

    # -- who joined ----------------------------------------------------------------------
    def join(self, code: str, member: str) -> None:
        """A student's browser (an anonymous id) opened the class session; once per member."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO members (code, member, at) VALUES (?, ?, ?)",
                       (code, member, time.time()))

    def members(self, code: str) -> int:
        """How many browsers joined the session."""
        row = self._conn().execute("SELECT COUNT(*) FROM members WHERE code=?",
                                   (code,)).fetchone()
        return int(row[0])


def set_aside(path: str | Path) -> Path:
    """Move a damaged poll database (and its -wal and -shm files) aside, renamed
    NAME.damaged-DATE, so the next `Poll(path)` starts an empty one; returns the new name."""
    path = Path(path)
    kept = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        src = path.with_name(path.name + suffix)
        if src.exists():
            src.replace(kept.with_name(kept.name + suffix))
    log.warning("class poll database set aside as %s; the next start makes a new one", kept)
    return kept


def answer_json(answer: Any) -> str:
    """A prediction as the JSON the poll stores; PollError for what cannot be stored."""
    try:
        blob = json.dumps(answer, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise PollError(f"a prediction must be a finite number, a text or a list of texts; "
                        f"{answer!r:.30} ({type(answer).__name__}) cannot be stored") from None
    if len(blob) > MAX_ANSWER_CHARS:
        raise PollError(f"this prediction is {len(blob):,} characters long; at most "
                        f"{MAX_ANSWER_CHARS:,} are kept")
    return blob


def normalise(code: str) -> str:
    """What a student typed -> a code: upper case, no spaces."""
    return "".join(str(code).split()).upper()
