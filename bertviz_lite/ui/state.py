"""This session's state: its id, its jobs and finished runs, sign-in, and the text helpers that
make user data safe to show (session keys and URL-bound widget keys live here)."""

from __future__ import annotations

import logging
import re
import uuid

import streamlit as st

from bertviz_lite.data.examples import DataError, TaskData
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.serve.pool import Job
from bertviz_lite.ui.resources import job_pool, settings

log = logging.getLogger("bertviz_lite.app")


QUERY = "query-params"


def require_login() -> None:
    """With `require_login` set, only signed-in users (st.login, OIDC) see the app."""
    if not settings().require_login:
        return
    if not getattr(st.user, "is_logged_in", False):
        st.title("bertviz-lite")
        st.write("This class server needs you to sign in.")
        st.button("Sign in", on_click=st.login, type="primary")
        st.stop()


def is_instructor() -> bool:
    """Signed in with an email the settings list as an instructor (or a local laptop)."""
    s = settings()
    if not s.require_login and not s.instructors:
        return True  # a single-user laptop: the user is their own instructor
    email = getattr(st.user, "email", None) if getattr(st.user, "is_logged_in", False) else None
    return bool(email) and email in s.instructors


def friendly_error(err: BaseException, doing: str) -> None:
    """A clear message for the student; the details go to the log for the instructor."""
    known = (DataError, ValueError, OSError)
    if isinstance(err, known):
        st.error(f"Could not {doing}: {safe(err)}")
    else:
        st.error(f"Could not {doing}: an unexpected {type(err).__name__}. "
                 "It was logged for the instructor; try again or change the settings.")
    log.warning("could not %s", doing, exc_info=err)


def session_id() -> str:
    """A random id for this browser session (owner of its jobs and uploads)."""
    if "_session_id" not in st.session_state:
        st.session_state["_session_id"] = uuid.uuid4().hex[:12]
    return str(st.session_state["_session_id"])


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def safe(text: object) -> str:
    """Any text that may hold user data (a file name, a label, a token), made inert for
    Streamlit's markdown: no links, no formatting, no HTML. Shown exactly as written."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def redact(text: str) -> str:
    """Server paths from the settings, replaced by the labels students see."""
    s = settings()
    for label, path in [*s.models.items(), *s.data_folders.items()]:
        if path and path != "bundled":
            text = text.replace(str(path), f"'{label}'")
    return text


def job_state(key: str) -> Job | None:
    """The job this session started under `key`, if any."""
    job = st.session_state.get(key)
    return job if isinstance(job, Job) else None


def start_job(key: str, config: RunConfig, data: TaskData | None, fresh: bool = False
              ) -> Job | None:
    """Submit a training job for this session; a clear message when the server is busy.

    fresh: train even when the shared run cache holds this configuration ("Train anyway").
    """
    st.session_state[f"{key}_data"] = data  # "Train anyway" submits the same data again
    try:
        job = job_pool().submit(config, data=data, owner=session_id(), save_model=True,
                                fresh=fresh)
    except Exception as err:  # QueueFull, bad data...: shown, logged, app keeps working
        friendly_error(err, "start training")
        return None
    st.session_state[key] = job
    return job


def remember_run(job: Job) -> None:
    """Keep a finished job's record and checkpoint in this session (Compare, Attention...)."""
    snap = job.snapshot()
    if snap.record is None or snap.state not in ("completed", "cached"):
        return
    runs = st.session_state.setdefault("_runs", {})
    runs[snap.record.key or job.id] = snap.record
    ckpt = getattr(job, "checkpoint", None)
    if ckpt:
        st.session_state.setdefault("_checkpoints", {})[(snap.record.task,
                                                         _mode_kind(snap.record.mode))] = str(ckpt)


def _mode_kind(mode: str) -> str:
    return "frozen" if mode == "frozen" else "finetune" if mode == "finetune" else "top-k"


def clamp_state(key: str, top: int) -> None:
    """Keep a remembered slider value within 0 ... top (another model may have fewer layers)."""
    value = st.session_state.get(key)
    if isinstance(value, int) and value > top:
        st.session_state[key] = top


def train_anyway(key: str) -> None:
    """on_click of "Train anyway": the cached job's configuration, trained again."""
    job = job_state(key)
    if job is not None:
        start_job(key, job.config, st.session_state.get(f"{key}_data"), fresh=True)
