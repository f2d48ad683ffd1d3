"""A class session's instructor actions, allowed only with the instructor's credential.

The app's pages hide the instructor's buttons from students, but the rule lives here: every
instructor action (start a session, move the class to a step, reveal a step to the class,
read the class's answers before the reveal, close) takes the caller's `Credential` and is
refused with `NotInstructor` unless `Roles` accepts it. A student's browser can send any URL
or widget value it likes; without the token it changes nothing.

Students' actions (join, vote, see the class's answers after the reveal, read the step the
class is on) need no credential.
"""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from bertviz_lite.lesson.poll import ClassSession, Poll, PollError


class NotInstructor(PollError):
    """An instructor action without the instructor's credential."""


@dataclass(frozen=True)
class Credential:
    """What a browser session presents: the token from the instructor's link, and the
    e-mail of a signed-in user (from st.login, verified by the identity provider)."""

    token: str = ""
    email: str = ""


@dataclass(frozen=True)
class Roles:
    """Who is an instructor on this server.

    token: the server's instructor token; instructors: e-mails allowed when signed in;
    everyone: a single-user laptop (its user is the instructor of their own machine).
    """

    token: str
    instructors: tuple[str, ...] = ()
    everyone: bool = False

    def is_instructor(self, cred: Credential) -> bool:
        """Whether this credential is an instructor's (the token compared in constant time)."""
        if self.everyone:
            return True
        if cred.token and self.token and hmac.compare_digest(cred.token.encode(),
                                                             self.token.encode()):
            return True
        # e-mail addresses compare without case: "A.Lecturer@Uni.edu" in the list is the same
        # person as the provider's "a.lecturer@uni.edu"
        return bool(cred.email) and cred.email.lower() in {e.lower() for e in self.instructors}

    def check(self, cred: Credential) -> None:
        """NotInstructor unless the credential is an instructor's."""
        if not self.is_instructor(cred):
            raise NotInstructor("only the instructor can do this: open the instructor's link "
                                "(printed when the server started)")


class Classroom:
    """The class poll with its rules of who may do what (see the module docstring)."""

    def __init__(self, poll: Poll, roles: Roles) -> None:
        self.poll = poll
        self.roles = roles

    # -- the instructor ------------------------------------------------------------------
    def start(self, cred: Credential, lesson: str, step: str = "",
              steps: Collection[str] = ()) -> str:
        """A new open session of `lesson` at `step`; returns its code. steps: the lesson's
        step ids (votes for any other step are refused)."""
        self.roles.check(cred)
        code = self.poll.start(lesson, steps)
        if step:
            self.poll.set_step(code, step)
        return code

    def move(self, cred: Credential, code: str, step: str) -> None:
        """Move the class to a step (students who follow go there)."""
        self.roles.check(cred)
        self.poll.set_step(code, step)

    def reveal(self, cred: Credential, code: str, step: str) -> None:
        """Reveal a step to the class: votes are final, students see the class's answers."""
        self.roles.check(cred)
        self.poll.reveal(code, step)

    def close(self, cred: Credential, code: str) -> None:
        """End the session: no more votes (the results stay)."""
        self.roles.check(cred)
        self.poll.close_session(code)

    def answers(self, cred: Credential, code: str, step: str) -> list[Any]:
        """Every vote of a step: the instructor at any time, anyone after the reveal."""
        return self.poll.answers(code, step, instructor=self.roles.is_instructor(cred))

    def tally(self, cred: Credential, code: str, step: str) -> Counter[str]:
        """{answer as JSON: count}; same rule as `answers`."""
        return self.poll.tally(code, step, instructor=self.roles.is_instructor(cred))

    # -- everyone ------------------------------------------------------------------------
    def session(self, code: str) -> ClassSession | None:
        """The session with this code, or None."""
        return self.poll.session(code)

    def join(self, code: str, member: str) -> None:
        """A student's browser joined the session."""
        self.poll.join(code, member)

    def members(self, code: str) -> int:
        """How many browsers joined."""
        return self.poll.members(code)

    def revealed(self, code: str, step: str) -> bool:
        """Whether the instructor revealed this step."""
        return self.poll.revealed(code, step)

    def vote(self, code: str, step: str, voter: str, answer: Any) -> None:
        """A student's prediction (replaced by a later one until the reveal)."""
        self.poll.vote(code, step, voter, answer)

    def my_vote(self, code: str, step: str, voter: str) -> Any:
        """This student's current prediction for the step, or None."""
        return self.poll.my_vote(code, step, voter)
