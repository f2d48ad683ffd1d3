"""bertviz-lite: the Streamlit app (pages arrive with the app issue)."""

import streamlit as st

st.set_page_config(page_title="bertviz-lite", layout="wide")
st.title("bertviz-lite")
st.write("To tune or not to tune? The app is under construction; use the CLI: `bertviz-lite --help`.")
