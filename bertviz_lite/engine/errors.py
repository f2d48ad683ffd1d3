"""The engine's error for a setting no run can use (below config and the mode registry, which
both raise it)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value that cannot work; the message says what to use instead."""
