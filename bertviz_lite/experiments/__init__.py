"""Experiments built on the engine: frozen vs fine-tuned comparisons and the real-data reproduction."""
