"""What the app needs at run time is in the repository, not only on the machine that made it.

A `.gitignore` pattern once hid the recorded runs in `assets/runs/`: every test passed on the
machine that recorded them and failed in a fresh clone. These checks fail on that machine too.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def in_git() -> None:
    if shutil.which("git") is None or _git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("not a git checkout (an installed copy): nothing to compare against")


def test_no_asset_is_git_ignored(in_git):
    assets = [str(p.relative_to(REPO)) for p in (REPO / "assets").rglob("*") if p.is_file()]
    assets = [a for a in assets if "__pycache__" not in a]
    ignored = _git("check-ignore", "--no-index", *assets).stdout.split()
    assert ignored == [], f"git would leave these out of a clone: {ignored[:5]}"


@pytest.mark.parametrize("folder", ["assets/runs", "assets/models", "assets/data",
                                    "assets/sweeps"])
def test_assets_the_app_reads_are_tracked(in_git, folder):
    on_disk = {str(p.relative_to(REPO)) for p in (REPO / folder).rglob("*") if p.is_file()}
    on_disk = {p for p in on_disk if "__pycache__" not in p}
    tracked = set(_git("ls-files", folder).stdout.split())
    assert on_disk, f"{folder} is empty"
    assert on_disk <= tracked, f"not committed: {sorted(on_disk - tracked)[:5]}"


def test_readme_images_are_committed(in_git):
    import re

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert images, "the README shows screenshots"
    tracked = set(_git("ls-files", "docs").stdout.split())
    missing = [i for i in images if i not in tracked]
    assert not missing, f"README shows images a clone would not have: {missing}"
