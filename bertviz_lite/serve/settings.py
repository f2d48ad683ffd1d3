"""Server settings: what an instructor configures for a shared class server.

Read from a TOML file (`BERTVIZ_SETTINGS`, default `bertviz.toml` in the working folder) and
then from environment variables `BERTVIZ_<NAME>` (which win). Students never type a server
path: models and data folders are chosen from the allowlists here by name.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bertviz_lite.data.text import Limits
from bertviz_lite.engine.config import AT_MOST
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
    # A run that has trained this long is stopped (its steps so far are kept): max_steps
    # alone let one fine-tune hold a slot for about 25 minutes on a CPU.
    job_time_limit_s: float = 900.0
    # Runs one student may have queued or training at once: per signed-in user with
    # require_login, else per browser (all its tabs; a private window counts apart).
    max_jobs_per_session: int = 3
    # how often a training page asks its job for news (the fragment's pause between runs).
    # The stack plays one pulse per 1.3 s at least, so 0.5 s loses it nothing; polling every
    # 0.2 s sent each step two or three times and cost, per training page, 0.18 of a core on
    # the server and 0.53 in Chromium's renderer, against 0.08 and 0.38 at 0.5 s (2 AVX2
    # cores, measured in Chromium with the stage's Backprop page)
    live_refresh_s: float = 0.5
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

    def interrupted_path(self) -> Path:
        """Runs a restart cut short, kept for their owners (serve.interrupted)."""
        return self.cache_path().parent / "interrupted"

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
        if isinstance(like, float) and math.isfinite(float(raw)):
            return float(raw)
        if isinstance(like, float):
            raise ValueError(raw)
    except ValueError:
        raise SettingsError(f"BERTVIZ_{name.upper()} must be a number, not {raw!r}") from None
    return raw


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Defaults, then the TOML file (if present), then `BERTVIZ_*` environment variables.

    The file is checked as a whole before anything uses it: an unknown key, a value of the
    wrong type, or a setting that TOML put inside a table (every key after a `[table]` line
    belongs to that table) is a SettingsError of one line naming the key."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    file = Path(path or env.get("BERTVIZ_SETTINGS", "bertviz.toml"))
    if file.exists() and not file.is_file():
        raise SettingsError(f"{file}: a folder, not a settings file; name the TOML file itself")
    if file.is_file():
        try:  # utf-8-sig: Windows Notepad starts a UTF-8 file with a byte-order mark
            values.update(tomllib.loads(file.read_text(encoding="utf-8-sig")))
        except tomllib.TOMLDecodeError as err:
            raise SettingsError(f"{file}: not valid TOML ({err})") from None
        except UnicodeDecodeError:
            raise SettingsError(f"{file}: not UTF-8 text (UTF-16?); save it as UTF-8") from None
        check_file_values(values, str(file))
    defaults = Settings()
    for name in FIELD_TYPES:
        raw = env.get(f"BERTVIZ_{name.upper()}")
        if raw is not None:
            values[name] = _coerce(name, raw, getattr(defaults, name))
    if "instructors" in values:
        values["instructors"] = tuple(values["instructors"])
    settings = Settings(**values)
    _check(settings)
    return settings


FIELD_TYPES: dict[str, Any] = typing.get_type_hints(Settings)
TABLES = ("models", "data_folders")  # the settings that are TOML tables: label -> text


def _type_problem(value: Any, hint: Any) -> str | None:
    """What is wrong with a TOML value for a field of type `hint` (None: nothing)."""
    if hint is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if hint is int or hint == (int | None):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "must be a whole number (no quotes, no decimals)"
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value)
        return None if ok else "must be a number (no quotes)"
    if hint is str:
        return None if isinstance(value, str) else "must be text in quotes"
    if typing.get_origin(hint) is tuple:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return None if ok else 'must be a list of texts, e.g. ["a@uni.edu"]'
    if typing.get_origin(hint) is dict:
        return None if isinstance(value, dict) else "must be a table of label = \"text\""
    return None


def check_file_values(values: dict[str, Any], file: str) -> None:
    """Refuse, in one line naming the key, what a settings file holds that cannot be used."""
    unknown = sorted(set(values) - set(FIELD_TYPES))
    if unknown:
        raise SettingsError(f"{file}: unknown setting {unknown[0]!r}; known settings: "
                            f"{', '.join(sorted(FIELD_TYPES))}")
    for name, value in values.items():
        if name in TABLES and isinstance(value, dict):
            _check_table(name, value, file)
            continue
        problem = _type_problem(value, FIELD_TYPES[name])
        if problem:
            raise SettingsError(f"{file}: {name} {problem}, not {value!r:.60}")


def _check_table(table: str, entries: dict[str, Any], file: str) -> None:
    """A [models] or [data_folders] table: label = "text" only. A setting's name inside it
    means the setting was written after the table's header line (TOML reads it as part of
    the table, so the server would run without that limit)."""
    for label, value in entries.items():
        if label in FIELD_TYPES and label not in TABLES:
            raise SettingsError(
                f"{file}: {label} is inside the [{table}] table (every key after a [table] "
                f"line belongs to it); move {label} and the other settings above the first "
                "[table] line")
        if not isinstance(value, str):
            raise SettingsError(f"{file}: [{table}] {label} must be text in quotes (a "
                                f"{'model folder or Hub id' if table == 'models' else 'folder'}"
                                f"), not {value!r:.60}")


# settings that must be at least this (whole numbers and numbers alike)
MINIMUM: dict[str, float] = {
    "max_jobs": 1, "max_queue": 0, "max_steps": 1, "max_examples": 1, "max_eval_examples": 1,
    "max_length": 8, "max_batch_size": 1, "max_epochs": 1, "upload_rows": 1,
    "threads_per_job": 1, "max_jobs_per_session": 1, "feature_cache_mb": 0}
POSITIVE = ("upload_mb", "abandon_after_s", "job_time_limit_s")


def _check(s: Settings) -> None:
    for name, low in MINIMUM.items():
        value = getattr(s, name)
        if value is not None and value < low:
            raise SettingsError(f"{name} must be at least {low:g}, not {value!r}")
    for name, field_ in (("max_batch_size", "batch_size"), ("max_epochs", "epochs"),
                         ("max_steps", "steps")):
        if getattr(s, name) > AT_MOST[field_]:  # no run could use the rest
            raise SettingsError(f"{name} must be at most {AT_MOST[field_]:,}, not "
                                f"{getattr(s, name):,}")
    for name in POSITIVE:
        if not getattr(s, name) > 0:
            raise SettingsError(f"{name} must be more than 0, not {getattr(s, name)!r}")
    if s.max_length > 512:
        raise SettingsError(f"max_length must be at most 512 word pieces, not {s.max_length}")
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
    _check_class_server(s)
    for label, folder in s.data_folders.items():
        if not Path(folder).is_dir():
            log.warning("data folder %r (%s) does not exist; it will not be offered", label,
                        folder)


MAX_JOBS = 64  # job slots: each is a process that trains a BERT
TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~-]{12,}")  # it goes in the instructor's link
PUBLIC_URL = re.compile(r"https?://[^\s/?#]+(/\S*)?")


def _check_class_server(s: Settings) -> None:
    """What a careless settings file can get wrong for a class: a pool of a billion
    processes, a guessable or unlinkable instructor token, a join link that is no web
    address (the QR code would carry it), folders that cannot be used. (The limits that no
    run could use are checked beside the minimums, in `_check`.)"""
    if s.max_jobs > MAX_JOBS:
        raise SettingsError(f"max_jobs must be at most {MAX_JOBS} (each job slot is a "
                            f"training process), not {s.max_jobs}")
    if s.instructor_token and not TOKEN_CHARS.fullmatch(s.instructor_token):
        raise SettingsError("instructor_token must be at least 12 letters, digits or . _ ~ - "
                            "(it goes in the instructor's link; students must not guess it), "
                            "or left out for a random one")
    if s.public_url and not PUBLIC_URL.fullmatch(s.public_url):
        raise SettingsError(f"public_url must be a web address that starts with http:// or "
                            f"https:// (e.g. https://bert.example.org), not {s.public_url!r:.60}")
    if s.recorded_runs and not Path(s.recorded_runs).is_dir():
        raise SettingsError(f"recorded_runs must be a folder of run records; "
                            f"{s.recorded_runs!r:.80} is not a folder")
    if s.cache_dir and not _can_write_folder(Path(s.cache_dir)):
        raise SettingsError(f"cache_dir must be a folder this server can write (or create); "
                            f"{s.cache_dir!r:.80} is not")


def _can_write_folder(folder: Path) -> bool:
    """Whether `folder` is a writable folder, or could be made in a writable one (nothing is
    created here)."""
    if folder.exists():
        return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)
    parent = folder.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.resolve().parts[1:2] in (("proc",), ("sys",), ("dev",)):
        return False  # the kernel's folders: writable to root, useless for files
    return parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)


def main() -> int:
    """`python -m bertviz_lite.serve.settings`: check the settings file and the BERTVIZ_
    variables as the app will read them (the start scripts run it first); exit status 2 and
    one line when they cannot be used."""
    logging.basicConfig(format="%(message)s")
    try:
        s = load_settings()
    except SettingsError as err:
        log.error("bertviz-lite settings: %s", err)
        return 2
    log.warning("bertviz-lite settings: fine (max_jobs %d, max_queue %d, "
                "max_jobs_per_session %d, job_time_limit_s %g)", s.max_jobs, s.max_queue,
                s.max_jobs_per_session, s.job_time_limit_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
