"""bertviz-lite: watch backprop stop at the head (frozen BERT) or flow through every layer.

The app's entry script, as it ships in the package: `bertviz-lite app` runs it with streamlit
(from any folder, no checkout needed); `streamlit run app.py` in a checkout calls `main()`.
Every page comes from the page registry (bertviz_lite/app/registry.py)."""

# pandas once, when the server starts: imported lazily by two threads at once (plotly's
# validators in a script run, Streamlit's serialisation in another), one of them saw the module
# half-initialised ("partially initialized module 'pandas' has no attribute 'Series'") and
# the Compare page showed an exception
import pandas  # noqa: F401
import streamlit as st

from bertviz_lite import ui


def main() -> None:
    """One run of the app: page settings, sign-in, the navigation, then the chosen page."""
    st.set_page_config(page_title="bertviz-lite: to tune or not to tune?", layout="wide")
    ui.mark_entrypoint()
    ui.check_settings()  # a settings file that cannot be used: one line, and nothing else
    ui.require_login()
    ui.take_token()  # ?token= of the instructor's link: remembered, removed from the URL
    page = ui.navigation()  # every page of the registry, and the /home alias
    ui.sidebar()  # presenter mode: ?present=1 opens in it and stays in the URL
    ui.show_flash()  # what the last run said before its st.rerun() (a full queue, ...)
    ui.token_notes()
    try:
        page.run()
    finally:
        # after the page: the first visit's page is drawn first, then the workers start and
        # load the weights (at a lower priority) while people read; a page that trains starts
        # them itself
        ui.job_pool()


if __name__ == "__main__":  # streamlit runs this file as __main__
    main()
