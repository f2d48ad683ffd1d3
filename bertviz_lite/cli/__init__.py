"""The bertviz-lite command line."""
