"""The server's internals for the instructor: workers and queue, the run cache, the settings
(the instructor's token never shown)."""

from __future__ import annotations

import dataclasses
import os

import streamlit as st

from bertviz_lite.ui.resources import job_pool, run_cache_size, settings
from bertviz_lite.ui.state import safe

SECRET_SETTINGS = ("instructor_token",)


def settings_rows() -> list[dict[str, str]]:
    """The settings as rows for a table; secrets shown as set or not, never their value."""
    rows = []
    for k, v in dataclasses.asdict(settings()).items():
        if k in SECRET_SETTINGS:
            shown = "(set)" if v else "(generated, kept beside the class poll)"
        else:
            shown = str(v)
        rows.append({"setting": k, "value": shown})
    return rows


def server_status() -> None:
    """Training workers, the queue, counters, the settings and the shared run cache."""
    stats = job_pool().stats()
    st.subheader("Training workers")
    cols = st.columns(6)
    for col, (label, value, help_) in zip(cols, [
        ("Training now", f"{stats['running']} / {stats['max_workers']}",
         "runs training / max_jobs"),
        ("Queued", stats["queued"], "submissions waiting for a free worker"),
        ("Runs trained", stats["training_runs"], "runs that needed a worker (not cache hits)"),
        ("Cache hits", stats["cache_hits"] + stats["shared"],
         "identical configurations replayed from the cache or following a running twin"),
        ("Most at once", stats["peak_running"], "the most runs that trained at the same time"),
        ("Failed", stats["failed"] + stats["worker_restarts"],
         "failed runs and restarted workers; details are in the server log"),
    ]):
        col.metric(label, value, help=help_)
    st.caption(f"App process {os.getpid()}")
    st.caption(f"{stats['workers_alive']} of {stats['max_workers']} worker processes alive · "
               f"{stats['threads_per_job']} torch thread(s) per job · "
               f"{stats['completed']} completed, {stats['stopped']} stopped, "
               f"{stats['abandoned']} abandoned (tab closed), {stats['diverged']} diverged")
    st.caption(f"Jobs run on the {safe(stats['backend'])} backend "
               f"(workers at CPU niceness {stats['worker_nice']}).")
    st.markdown("**Every counter (JSON)**")
    st.json({k: v for k, v in stats.items() if not isinstance(v, str)}, expanded=1)
    st.subheader("Settings")
    st.caption("From bertviz.toml (or BERTVIZ_SETTINGS) and BERTVIZ_* environment variables; "
               "restart the app to change them.")
    st.dataframe(settings_rows(), hide_index=True, width="stretch")
    st.subheader("Shared run cache")
    st.write(f"{run_cache_size()} runs cached in `{settings().cache_path()}`.")
