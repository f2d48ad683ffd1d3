"""bertviz-lite: watch backprop stop at the head (frozen BERT) or flow through every layer."""

import streamlit as st

from bertviz_lite import ui

st.set_page_config(page_title="bertviz-lite: to tune or not to tune?", layout="wide")
ui.mark_entrypoint()
ui.require_login()
page = ui.navigation()  # every page of bertviz_lite.app.registry, and the /home alias
ui.job_pool()  # the first visit starts the workers: the weights load while people read
ui.sidebar()  # presenter mode: ?present=1 opens in it and stays in the URL
page.run()
