"""Where bertviz-lite finds its bundled assets and keeps its runs."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def assets_dir() -> Path:
    """The `assets/` folder: `$BERTVIZ_ASSETS`, else the one beside the package (a checkout)."""
    env = os.environ.get("BERTVIZ_ASSETS")
    if env:
        return Path(env)
    return PACKAGE_DIR.parent / "assets"


def bundled_data_dir(task: str) -> Path:
    """The bundled mini dataset of a task: `assets/data/<task>/`."""
    return assets_dir() / "data" / task


def recorded_runs_dir() -> Path:
    """Run records shipped for lectures (replay without training)."""
    env = os.environ.get("BERTVIZ_RECORDED_RUNS")
    return Path(env) if env else assets_dir() / "runs"


def home_dir() -> Path:
    """Per-user working folder for cached runs: `$BERTVIZ_HOME`, else `~/.bertviz-lite`."""
    env = os.environ.get("BERTVIZ_HOME")
    return Path(env) if env else Path.home() / ".bertviz-lite"


def feature_cache_dir() -> Path:
    """Frozen features kept between processes: `$BERTVIZ_FEATURE_CACHE`, else
    `<home_dir()>/cache/features`."""
    env = os.environ.get("BERTVIZ_FEATURE_CACHE")
    return Path(env) if env else home_dir() / "cache" / "features"


def results_doc() -> Path:
    """`docs/results.md` of the checkout: where the generated result tables live (between
    `<!-- BEGIN name -->` and `<!-- END name -->` markers)."""
    return PACKAGE_DIR.parent / "docs" / "results.md"
