"""The packaged app's server: `streamlit run <this file>` (what `bertviz-lite app` runs) serves
main.py, the app, with the class-state route beside Streamlit's own (serve/class_api.py).

Streamlit finds `app` here by reading this file and imports it once, to serve it; every page
view then runs main.py.
"""

import streamlit as st
from streamlit import config

from bertviz_lite.app.launch import MAIN
from bertviz_lite.serve.class_api import routes

app = st.App(MAIN, routes=routes(config.get_option("server.baseUrlPath") or ""))
