"""This session's state: its id, its jobs and finished runs, sign-in, and the text helpers that
make user data safe to show (session keys and URL-bound widget keys live here)."""

from __future__ import annotations

import hashlib
import logging
import re
import uuid

import streamlit as st

from bertviz_lite.data.examples import DataError, TaskData
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.modes import find_mode
from bertviz_lite.record.runs import RunRecord
from bertviz_lite.serve.pool import Job
from bertviz_lite.serve.settings import SettingsError
from bertviz_lite.ui.resources import job_pool, settings

log = logging.getLogger("bertviz_lite.app")


QUERY = "query-params"
FLASH = "_flash"  # messages kept for the next script run (a page's st.rerun() drops others)


def check_settings() -> None:
    """Stop every page with one line when the settings file or variables cannot be used (the
    server then never runs without the limits its instructor wrote)."""
    try:
        settings()
    except SettingsError as err:
        log.error("the settings cannot be used: %s", err)
        st.error(f"This server's settings cannot be used: {safe(err)}. The instructor fixes "
                 "the settings file (bertviz.toml) or the BERTVIZ_ variables and restarts the "
                 "app.")
        st.stop()


def flash(message: str, kind: str = "error") -> None:
    """Keep `message` for the next script run, where the app's entry shows it: a page that
    calls st.rerun() right after (Train, then a rerun to draw the job) would otherwise throw
    an st.error away before anyone saw it."""
    st.session_state.setdefault(FLASH, []).append((kind, message))


def show_flash() -> None:
    """The messages `flash` kept, once each (the app's entry calls it before the page)."""
    for kind, message in st.session_state.pop(FLASH, []):
        {"error": st.error, "warning": st.warning}.get(kind, st.info)(message)


def require_login() -> None:
    """With `require_login` set, only signed-in users (st.login, OIDC) see the app."""
    if not settings().require_login:
        return
    if not getattr(st.user, "is_logged_in", False):
        st.title("bertviz-lite")
        st.write("This class server needs you to sign in.")
        st.button("Sign in", on_click=st.login, type="primary")
        st.stop()


def error_text(err: BaseException, doing: str) -> str:
    """The one line a student sees for `err` (markdown-safe)."""
    from bertviz_lite.serve.job import QueueFull

    if isinstance(err, (DataError, ValueError, OSError, QueueFull)):
        return f"Could not {doing}: {safe(err)}"
    return (f"Could not {doing}: an unexpected {type(err).__name__}. "
            "It was logged for the instructor; try again or change the settings.")


def friendly_error(err: BaseException, doing: str) -> None:
    """A clear message for the student; the details go to the log for the instructor."""
    st.error(error_text(err, doing))
    log.warning("could not %s", doing, exc_info=err)


def owner_id() -> str:
    """Who a job belongs to, for the per-student limit: the signed-in user; else this
    browser (its Streamlit XSRF cookie, which every tab shares, hashed); else this session."""
    if getattr(st.user, "is_logged_in", False) and getattr(st.user, "email", None):
        return f"user:{st.user.email}"
    try:
        cookie = st.context.cookies.get("_streamlit_xsrf")
    except Exception:  # no browser (AppTest), or an older Streamlit
        cookie = None
    browser = browser_owner(cookie) if cookie else None
    return browser or "session:" + session_id()


def browser_owner(xsrf_cookie: str) -> str | None:
    """A browser's owner id from its Streamlit XSRF cookie, the same in all its tabs: the
    cookie is "2|mask|masked token|time" and the server masks the token anew on every page
    load, so the token is unmasked first, then hashed (never kept). None when unreadable."""
    parts = xsrf_cookie.split("|")
    try:
        if len(parts) == 4 and parts[0] == "2":
            mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
            token = bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked))
        elif len(parts) == 1 and parts[0]:  # version 1: the token itself
            token = parts[0].encode("utf-8")
        else:
            return None
    except (ValueError, ZeroDivisionError):
        return None
    return "browser:" + hashlib.sha256(token).hexdigest()[:12] if token else None


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
        job = job_pool().submit(config, data=data, owner=owner_id(), save_model=True,
                                fresh=fresh)
    except Exception as err:  # QueueFull, bad data...: shown after the page's rerun, logged
        flash(error_text(err, "start training"))
        log.warning("could not start training", exc_info=err)
        return None
    st.session_state[key] = job
    return job


def interrupted_runs() -> list[RunRecord]:
    """Runs of this student (browser or sign-in) that a server restart cut short, taken
    once per session from the pool's folder (serve.interrupted) and kept in the session."""
    if "_interrupted" not in st.session_state:
        from bertviz_lite.serve.interrupted import take

        st.session_state["_interrupted"] = take(settings().interrupted_path(), owner_id())
    return list(st.session_state["_interrupted"])


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
    """The registry entry's name of a mode string ("top-2" -> "top-k")."""
    entry = find_mode(mode)
    return entry.name if entry is not None else mode


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
