"""The app as it ships: the page registry (`registry`), the README's page table (`readme`),
and the launcher behind `bertviz-lite app` (`launch`). None of these import streamlit; the
entry script (`main.py`) and the page scripts (`pages/`) that do are run by streamlit."""
