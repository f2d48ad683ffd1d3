"""bertviz-lite bench: measured ratios, and the real Streamlit server + Chromium helpers the benchmark and the browser tests share."""
