"""bertviz-lite: watch backprop stop at the head (frozen BERT) or flow through every layer."""

import streamlit as st

from bertviz_lite import ui

st.set_page_config(page_title="bertviz-lite: to tune or not to tune?", layout="wide")
ui.mark_entrypoint()
ui.require_login()
page = st.navigation([
    st.Page("pages/home.py", title="To tune or not to tune?", url_path="home", default=True),
    st.Page("pages/forward.py", title="Forward pass", url_path="forward"),
    st.Page("pages/backprop.py", title="Backprop: train live", url_path="backprop"),
    st.Page("pages/compare.py", title="Compare frozen vs fine-tuned", url_path="compare"),
    st.Page("pages/attention.py", title="Attention", url_path="attention"),
    st.Page("pages/attribution.py", title="Attribution", url_path="attribution"),
    st.Page("pages/changes.py", title="What changed inside BERT?", url_path="changes"),
    st.Page("pages/instructor.py", title="Instructor", url_path="instructor"),
])
ui.job_pool()  # the first visit starts the workers: the weights load while people read
ui.sidebar()
page.run()
