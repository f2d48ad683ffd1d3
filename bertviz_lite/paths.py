"""Where bertviz-lite finds its bundled assets and keeps its runs."""

from __future__ import annotations

import functools
import os
import site
import sysconfig
from importlib import metadata
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Where a wheel puts the assets (its data files, pyproject's [tool.setuptools.data-files]),
# under the prefix of the environment it is installed into.
INSTALLED_ASSETS = ("share", "bertviz-lite", "assets")


def assets_dir() -> Path:
    """The `assets/` folder: `$BERTVIZ_ASSETS`, else the one beside the package in a checkout,
    else the one an installed wheel brought (`<prefix>/share/bertviz-lite/assets`)."""
    env = os.environ.get("BERTVIZ_ASSETS")
    if env:
        return Path(env)
    checkout = PACKAGE_DIR.parent / "assets"
    if (PACKAGE_DIR.parent / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    return installed_assets_dir() or checkout


@functools.cache
def installed_assets_dir() -> Path | None:
    """The assets installed with the package's wheel, or None (not installed from a wheel).

    Found from the distribution's own file list (any install scheme: a virtual environment,
    `--user`, the system), else under this environment's and the user's data prefixes."""
    try:
        files = metadata.distribution("bertviz-lite").files or []
    except metadata.PackageNotFoundError:
        files = []
    n = len(INSTALLED_ASSETS)
    for file in files:
        parts = file.parts
        for i in range(len(parts) - n):
            if parts[i:i + n] == INSTALLED_ASSETS:
                return Path(file.locate().parents[len(parts) - i - n - 1]).resolve()
    prefixes = [sysconfig.get_path("data"), site.getuserbase()]
    for prefix in prefixes:
        folder = Path(prefix, *INSTALLED_ASSETS)
        if folder.is_dir():
            return folder
    return None


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
