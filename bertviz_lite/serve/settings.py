"""Server settings: what an instructor configures for a shared class server.

Read from a TOML file (`BERTVIZ_SETTINGS`, default `bertviz.toml` in the working folder) and
then from environment variables `BERTVIZ_<NAME>` (which win). Students never type a server
path: models and data folders are chosen from the allowlists here by name.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bertviz_lite.data.text import Limits
from bertviz_lite.paths import home_dir, recorded_runs_dir

if TYPE_CHECKING:
    from bertviz_lite.serve.backend import WorkerBackend

log = logging.getLogger(__name__)


DEFAULT_WORKER_NICE = 10  # training workers yield the CPU to the web server (see worker_nice)


class SettingsError(ValueError):
    """A settings file or variable that cannot be used; says which and why."""


@dataclass(frozen=True)
class Settings:
    """Limits and allowlists for one app deployment. Defaults suit a single student laptop."""

    models: dict[str, str] = field(default_factory=lambda: {"bundled": "bundled"})  # label -> model
    data_folders: dict[str, str] = field(default_factory=dict)  # label -> folder on the server
    max_jobs: int = 1  # training jobs running at once (worker processes)
    max_queue: int = 50  # jobs waiting beyond that
    max_steps: int = 2000  # optimizer steps per job
    max_examples: int = 20000  # training examples per job (subsampled above this)
    max_eval_examples: int = 2000  # validation examples per job
    max_length: int = 256  # word pieces per input
    max_batch_size: int = 64
    max_epochs: int = 20
    upload_mb: float = 10.0  # upload size limit (also set server.maxUploadSize)
    upload_rows: int = 50000  # examples per uploaded file
    threads_per_job: int | None = None  # torch threads in each worker (None: torch default)
    # Added to each training worker's CPU niceness (0-19; 0: same priority as the web server).
    # The default 10 lets the server draw a new visitor's page first while every slot trains;
    # training only takes the CPU time that is left (measured in the server load test).
    worker_nice: int = DEFAULT_WORKER_NICE
    allow_hub: bool = False  # may students load Hub models/datasets (needs the network)
    recorded_runs: str = ""  # folder of recorded runs ("" = the bundled assets/runs)
    cache_dir: str = ""  # shared run cache ("" = ~/.bertviz-lite/cache)
    abandon_after_s: float = 90.0  # a job nobody polls for this long is stopped
    live_refresh_s: float = 0.25  # how often a training page redraws its gradient chart
    require_login: bool = False  # st.login() with the [auth] section of secrets.toml
    instructors: tuple[str, ...] = ()  # emails allowed on the instructor page
    # The instructor's credential, given in the instructor's link (/instructor?token=...).
    # "" = a random token made once and kept in `instructor-token` beside the class poll
    # (shared by every app process); `bertviz-lite app` prints the link when it starts.
    instructor_token: str = ""
    # The address students open (the join link and its QR code), e.g. "https://bert.example.org"
    # behind a proxy; "" = the address the instructor's browser shows.
    public_url: str = ""
    # Where training jobs run: "local" (worker processes on this machine) or "ray" (actors on
    # a Ray cluster; pip install 'bertviz-lite[ray]'). With "ray", max_jobs is the limit for
    # the whole cluster, shared by every app replica, and cache_dir must be shared storage.
    backend: str = "local"
    ray_address: str = "auto"  # "auto", "HOST:6379" (the cluster's GCS) or "ray://HOST:10001"
    ray_num_cpus: float = 1.0  # CPUs each training actor asks the cluster for
    ray_num_gpus: float = -1.0  # GPUs each actor asks for; -1: 1 where the cluster has GPUs
    precision: str = "auto"  # the form's default: auto (bf16 autocast where the hardware has
    #   it natively, else fp32) | fp32 | bf16
    feature_cache_mb: float = 2048.0  # frozen features kept on disk (least recently used out)

    def offered_models(self) -> dict[str, str]:
        """The models students may pick: local ones always, Hub ids only with allow_hub."""
        out = {}
        for label, name in self.models.items():
            local = name == "bundled" or name.startswith(("/", ".", "~")) \
                or Path(name).expanduser().exists()
            if local or self.allow_hub:
                out[label] = name
            else:
                log.warning("model %r (%s) is a Hub id and allow_hub is off: not offered",
                            label, name)
        return out or {"bundled": "bundled"}

    def upload_limits(self) -> Limits:
        """Parsing limits for uploaded files."""
        return Limits(max_bytes=int(self.upload_mb * 1024 * 1024), max_rows=self.upload_rows,
                      max_chars_per_field=20_000)

    def recorded_runs_path(self) -> Path:
        """Folder of recorded runs to replay."""
        return Path(self.recorded_runs) if self.recorded_runs else recorded_runs_dir()

    def cache_path(self) -> Path:
        """Folder of the shared run cache."""
        return Path(self.cache_dir) if self.cache_dir else home_dir() / "cache"

    def job_backend(self) -> WorkerBackend:
        """Where the pool's workers run (see `serve.backend`)."""
        from bertviz_lite.serve.backend import RayOptions
        from bertviz_lite.serve.backend_choice import make_backend

        ray = RayOptions(address=self.ray_address, num_cpus=self.ray_num_cpus,
                         num_gpus=None if self.ray_num_gpus < 0 else self.ray_num_gpus,
                         max_jobs=self.max_jobs)
        return make_backend(self.backend, ray)

    def checkpoints_path(self) -> Path:
        """Folder where workers keep the trained models of sessions."""
        return self.cache_path().parent / "checkpoints"

    def poll_path(self) -> Path:
        """The class poll's SQLite database, beside the run cache (shared by app processes)."""
        return self.cache_path().parent / "class-poll.sqlite3"


def _coerce(name: str, raw: str, like: Any) -> Any:
    """An environment string -> the type of the default value."""
    if isinstance(like, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"BERTVIZ_{name.upper()} must be true or false, not {raw!r}")
    if isinstance(like, dict):  # label=path,label=path
        pairs = [p.split("=", 1) for p in raw.split(",") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise SettingsError(f"BERTVIZ_{name.upper()} must look like label=value,label=value")
        return {k.strip(): v.strip() for k, v in pairs}
    if isinstance(like, tuple):
        return tuple(x.strip() for x in raw.split(",") if x.strip())
    try:
        if isinstance(like, int) or name == "threads_per_job":
            return int(raw)
        if isinstance(like, float):
            return float(raw)
    except ValueError:
        raise SettingsError(f"BERTVIZ_{name.upper()} must be a number, not {raw!r}") from None
    return raw


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Defaults, then the TOML file (if present), then `BERTVIZ_*` environment variables."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    file = Path(path or env.get("BERTVIZ_SETTINGS", "bertviz.toml"))
    if file.is_file():
        try:
            values.update(tomllib.loads(file.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise SettingsError(f"{file}: {err}") from None
    defaults = Settings()
    names = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise SettingsError(f"{file}: unknown settings {unknown}; known: {sorted(names)}")
    for name in names:
        raw = env.get(f"BERTVIZ_{name.upper()}")
        if raw is not None:
            values[name] = _coerce(name, raw, getattr(defaults, name))
    if "instructors" in values:
        values["instructors"] = tuple(values["instructors"])
    settings = Settings(**values)
    _check(settings)
    return settings


def _check(s: Settings) -> None:
    if s.max_jobs < 1:
        raise SettingsError("max_jobs must be at least 1")
    if not 0 <= s.worker_nice <= 19:
        raise SettingsError(f"worker_nice must be between 0 and 19, not {s.worker_nice}")
    if not 0.1 <= s.live_refresh_s <= 10:
        raise SettingsError("live_refresh_s must be between 0.1 and 10 seconds")
    if s.backend not in ("local", "ray"):
        raise SettingsError(f"backend must be 'local' or 'ray', not {s.backend!r}")
    if s.ray_num_cpus <= 0:
        raise SettingsError("ray_num_cpus must be more than 0")
    if not s.models:
        raise SettingsError("models must list at least one model")
    if s.precision not in ("auto", "fp32", "bf16"):
        raise SettingsError(f"precision must be auto, fp32 or bf16, not {s.precision!r}")
    for label, folder in s.data_folders.items():
        if not Path(folder).is_dir():
            log.warning("data folder %r (%s) does not exist; it will not be offered", label,
                        folder)
