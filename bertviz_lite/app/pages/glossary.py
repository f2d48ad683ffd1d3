"""Glossary: the words a student can look up, each with its own address (/glossary#cka)."""

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.lesson.glossary import TERMS, WHY_GROW

ui.page_header("Glossary", "The words the lesson and the pages use, as this app means them. "
                           "Every mention of one elsewhere links here.")
for term in TERMS:
    st.subheader(term.name, anchor=term.id)
    st.markdown(term.text)
    if term.id == "gradient-norm":
        st.info(WHY_GROW)
