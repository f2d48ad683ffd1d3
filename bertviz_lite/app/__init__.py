"""The app as it ships: the page registry (`registry`) and the README's page table
(`readme`). Nothing here imports streamlit."""
