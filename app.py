"""bertviz-lite from a checkout: `streamlit run app.py` (or `bash scripts/app.sh`).

The app ships in the package (bertviz_lite/app/main.py, its pages in bertviz_lite/app/pages/);
an installed copy starts with `bertviz-lite app`.

This file has two roles. `streamlit run app.py` imports it once to find `app`, the server:
Streamlit's own, with the app's routes beside it (bertviz_lite/serve/routes.py). Every
page view then runs this file as the app's script (`__main__`), which calls `main()`; so does
Streamlit's AppTest."""

import streamlit as st

if __name__ == "__main__":
    from bertviz_lite.app.main import main

    main()
else:
    from streamlit import config

    from bertviz_lite.serve.routes import app_routes

    app = st.App(__file__, routes=app_routes(config.get_option("server.baseUrlPath") or ""))
