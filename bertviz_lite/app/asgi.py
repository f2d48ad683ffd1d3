"""The packaged app's server: `streamlit run <this file>` (what `bertviz-lite app` runs) serves
main.py, the app, with the app's routes beside Streamlit's own (serve/routes.py).

Streamlit finds `app` here by reading this file and imports it once, to serve it; every page
view then runs main.py.
"""

import streamlit as st
from streamlit import config

from bertviz_lite.app.launch import MAIN
from bertviz_lite.serve.routes import app_routes

app = st.App(MAIN, routes=app_routes(config.get_option("server.baseUrlPath") or ""))
