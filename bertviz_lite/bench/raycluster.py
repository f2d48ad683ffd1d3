"""A local Ray cluster on loopback, for the Ray backend's tests and the benchmark.

    with LocalRayCluster(num_cpus=2) as address:   # ray start --head on 127.0.0.1
        settings: backend = "ray", ray_address = address
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bertviz_lite.bench.browser import free_port

# Ray swaps 127.0.0.1 for the machine's interface address unless told otherwise; this keeps
# every address on loopback (read when ray is imported, so it goes into each process's env).
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
REPO = Path(__file__).resolve().parents[2]


def ray_cli() -> str | None:
    """The `ray` command of this environment, or None."""
    found = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    return found if Path(found).exists() else None


def cluster_env() -> dict[str, str]:
    """The environment for a cluster and its drivers: loopback only, this checkout importable."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, **LOOPBACK_ENV, "PYTHONPATH": path}


class LocalRayCluster:
    """`ray start --head` on 127.0.0.1 with `num_cpus` CPUs; `ray stop` on exit."""

    def __init__(self, num_cpus: int = 2, env: dict[str, str] | None = None) -> None:
        """env: variables for the cluster's processes (its actors), e.g. a BERTVIZ_HOME of
        their own so their run cache and frozen features start empty."""
        self.num_cpus = num_cpus
        self.env = dict(env or {})
        self.address = ""
        self._temp = tempfile.mkdtemp(prefix="bertviz-ray-")

    def start(self, timeout: float = 180.0) -> str:
        cli = ray_cli()
        if cli is None:
            raise RuntimeError("the `ray` command is missing: pip install 'bertviz-lite[ray]'")
        port = free_port()
        cmd = [cli, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
               "--num-cpus", str(self.num_cpus), "--include-dashboard", "false",
               "--disable-usage-stats", f"--temp-dir={self._temp}"]
        out = subprocess.run(cmd, env={**cluster_env(), **self.env}, capture_output=True,
                             text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"ray start failed: {out.stderr[-2000:]}")
        self.address = f"127.0.0.1:{port}"
        return self.address

    def stop(self) -> None:
        cli = ray_cli()
        if cli is not None:
            subprocess.run([cli, "stop", "--force"], env=cluster_env(), capture_output=True,
                           timeout=120)
        shutil.rmtree(self._temp, ignore_errors=True)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
