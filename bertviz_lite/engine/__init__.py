"""The engine: models, layer groups, heads, freeze policy, encoding, the training loop and its instrumentation (no streamlit, no plotting)."""
