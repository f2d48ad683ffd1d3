"""Instructor: the server's settings, its training queue and the shared run cache."""

import dataclasses
import os

import streamlit as st

from bertviz_lite import ui

ui.page_header("Instructor", "What this server allows, and what it is doing right now.")
if not ui.is_instructor():
    st.warning("This page is for the instructors listed in the server settings.")
    st.stop()

st.subheader("Training workers")
st.caption(f"App process {os.getpid()}")
st.json(ui.job_pool().stats())
st.subheader("Settings")
st.caption("From bertviz.toml (or BERTVIZ_SETTINGS) and BERTVIZ_* environment variables; "
           "restart the app to change them.")
st.json(dataclasses.asdict(ui.settings()))
st.subheader("Shared run cache")
st.write(f"{ui.run_cache_size()} runs cached in `{ui.settings().cache_path()}`.")
