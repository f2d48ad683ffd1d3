"""bertviz-lite: watch backprop stop at the head (frozen BERT) or flow through every layer."""

import streamlit as st

from bertviz_lite import ui

st.set_page_config(page_title="bertviz-lite: to tune or not to tune?", layout="wide")
ui.mark_entrypoint()
ui.require_login()
# The default page is served at "/" but reserves its own pathname, which then answers "page
# not found": give it one nobody types, and serve /home as an alias of "/".
home = st.Page("pages/home.py", title="To tune or not to tune?", url_path="start", default=True)


def _home_alias() -> None:
    """/home: the home page's own address is "/", so send /home there (no "page not found")."""
    st.switch_page(home)


page = st.navigation([
    home,
    st.Page(_home_alias, title="Home", url_path="home", visibility="hidden"),
    st.Page("pages/forward.py", title="Forward pass", url_path="forward"),
    st.Page("pages/lesson.py", title="Lesson: predict, observe, explain", url_path="lesson"),
    st.Page("pages/backprop.py", title="Backprop: train live", url_path="backprop"),
    st.Page("pages/compare.py", title="Compare frozen vs fine-tuned", url_path="compare"),
    st.Page("pages/attention.py", title="Attention", url_path="attention"),
    st.Page("pages/attribution.py", title="Attribution", url_path="attribution"),
    st.Page("pages/changes.py", title="What changed inside BERT?", url_path="changes"),
    st.Page("pages/instructor.py", title="Instructor", url_path="instructor"),
])
ui.job_pool()  # the first visit starts the workers: the weights load while people read
ui.sidebar()  # presenter mode: ?present=1 opens in it and stays in the URL
page.run()
