"""Instructor: the server's settings, its training queue and the shared run cache."""

import dataclasses
import os

import streamlit as st

from bertviz_lite import ui

ui.page_header("Instructor", "What this server allows, and what it is doing right now.")
if not ui.is_instructor():
    st.warning("This page is for the instructors listed in the server settings.")
    st.stop()

stats = ui.job_pool().stats()
st.subheader("Training workers")
cols = st.columns(6)
for col, (label, value, help_) in zip(cols, [
    ("Training now", f"{stats['running']} / {stats['max_workers']}", "runs training / max_jobs"),
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
st.caption(f"{stats['workers_alive']} of {stats['max_workers']} worker processes alive · {stats['threads_per_job']} torch thread(s) per job · "
           f"{stats['completed']} completed, {stats['stopped']} stopped, "
           f"{stats['abandoned']} abandoned (tab closed), {stats['diverged']} diverged")
st.caption(f"Jobs run on the {ui.safe(stats['backend'])} backend "
           f"(workers at CPU niceness {stats['worker_nice']}).")
with st.expander("Every counter (JSON)", expanded=True):  # text values are named above
    st.json({k: v for k, v in stats.items() if not isinstance(v, str)}, expanded=1)

st.subheader("Settings")
st.caption("From bertviz.toml (or BERTVIZ_SETTINGS) and BERTVIZ_* environment variables; "
           "restart the app to change them.")
rows = [{"setting": k, "value": str(v)} for k, v in dataclasses.asdict(ui.settings()).items()]
st.dataframe(rows, hide_index=True, width="stretch")
st.subheader("Shared run cache")
st.write(f"{ui.run_cache_size()} runs cached in `{ui.settings().cache_path()}`.")
