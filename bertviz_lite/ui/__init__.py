"""The one library module that talks to Streamlit: shared resources, widgets and layout.

Pages stay thin: they read widgets from here, call one or two `bertviz_lite` functions and
render figures with `plot()`. Widgets whose value belongs in a shareable link are bound to
the URL query string (`bind="query-params"`); their keys are the parameter names.
"""

from __future__ import annotations

import atexit
import inspect
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from bertviz_lite.data.examples import DataError, TaskData
from bertviz_lite.data.load import parse_upload
from bertviz_lite.engine.config import TASKS, RunConfig
from bertviz_lite.engine.models import Backbone, load_backbone
from bertviz_lite.engine.tasks import EXAMPLE_INPUTS, TASK_SPECS
from bertviz_lite.figures import DEFAULT_THEME, PRESENTER_THEME, Theme
from bertviz_lite.record.runcache import RunCache
from bertviz_lite.record.runs import RunRecord
from bertviz_lite.serve.pool import Job, JobPool
from bertviz_lite.serve.settings import Settings, load_settings

log = logging.getLogger("bertviz_lite.app")

QUERY = "query-params"
PRESENTER_CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 22px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.25rem; }
h1 { font-size: 3rem !important; } h2 { font-size: 2.3rem !important; }
h3 { font-size: 1.8rem !important; }
label, [data-testid="stWidgetLabel"] p { font-size: 1.15rem !important; font-weight: 600; }
[data-testid="stAppViewContainer"] { background: #ffffff; color: #000000; }
</style>
"""


# -- shared, read-only resources (one per server process) ---------------------------------
@st.cache_resource
def settings() -> Settings:
    """The deployment's settings (bertviz.toml and BERTVIZ_* variables)."""
    return load_settings()


@st.cache_resource(show_spinner="Loading the pretrained BERT (once per server)...")
def backbone(name: str = "bundled") -> Backbone:
    """A pretrained model shared read-only by every session; jobs and views copy it."""
    return load_backbone(name)


@st.cache_resource
def tokenizer_lock(name: str = "bundled") -> threading.Lock:
    """Fast tokenizers are not thread-safe: sessions take this lock to tokenize."""
    return threading.Lock()


@st.cache_resource
def job_pool() -> JobPool:
    """The worker pool (started with the app, weights loaded, waiting for jobs)."""
    s = settings()
    pool = JobPool(
        s.max_jobs,
        warm_models=tuple(s.models.values())[:1],
        threads_per_job=s.threads_per_job,
        max_queue=s.max_queue,
        abandon_after_s=s.abandon_after_s,
        cache=RunCache(s.cache_path()),
        checkpoint_dir=s.checkpoints_path(),
    )
    pool.start()
    atexit.register(pool.shutdown)
    return pool


@st.cache_resource
def bundled_layers() -> int:
    """Transformer layers of the bundled model, read from its config (no weights loaded)."""
    import json

    from bertviz_lite.engine.models import bundled_model_dir

    cfg = json.loads((bundled_model_dir() / "config.json").read_text(encoding="utf-8"))
    return int(cfg["num_hidden_layers"])


def bundled_groups() -> list[str]:
    """Layer groups of the bundled model with a task head, input to output."""
    return ["embeddings", *[f"layer.{i}" for i in range(bundled_layers())], "head"]


def require_login() -> None:
    """With `require_login` set, only signed-in users (st.login, OIDC) see the app."""
    if not settings().require_login:
        return
    if not getattr(st.user, "is_logged_in", False):
        st.title("bertviz-lite")
        st.write("This class server needs you to sign in.")
        st.button("Sign in", on_click=st.login, type="primary")
        st.stop()


def is_instructor() -> bool:
    """Signed in with an email the settings list as an instructor (or a local laptop)."""
    s = settings()
    if not s.require_login and not s.instructors:
        return True  # a single-user laptop: the user is their own instructor
    email = getattr(st.user, "email", None) if getattr(st.user, "is_logged_in", False) else None
    return bool(email) and email in s.instructors


# -- page frame --------------------------------------------------------------------------
def presenter() -> bool:
    """Whether presenter mode (large type, high contrast) is on for this session."""
    return bool(st.session_state.get("presenter", False))


def theme() -> Theme:
    """The figure theme that matches presenter mode."""
    return PRESENTER_THEME if presenter() else DEFAULT_THEME


def sidebar() -> None:
    """Controls shared by every page: presenter mode, and what the server is doing."""
    with st.sidebar:
        st.toggle("Presenter mode", key="presenter", bind=QUERY,
                  help="Large type and high contrast for a projector")
        pool = st.session_state.get("_pool_stats")
        if pool:
            st.caption(pool)


def mark_entrypoint() -> None:
    """Called by app.py on every run: the pages know they run inside st.navigation."""
    st.session_state["_via_app"] = True


def _ensure_entrypoint() -> None:
    """A deep link as the very first request of a fresh server runs the page without app.py
    (Streamlit's legacy pages/ mode until some run calls st.navigation). Switch that mode off
    and rerun, so app.py builds the navigation and the same page runs inside it."""
    if st.session_state.get("_via_app"):
        return
    try:
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
    except (ImportError, AttributeError):  # a future Streamlit without the legacy mode
        return
    st.rerun()


def page_header(title: str, lead: str) -> None:
    """Title and one-paragraph lead of a page; presenter CSS when on."""
    _ensure_entrypoint()
    if presenter():
        st.html(PRESENTER_CSS)
    st.title(title)
    st.markdown(lead)


def plot(fig: Any, key: str | None = None) -> None:
    """Show a plotly figure full width; the modebar camera saves it as PNG."""
    config = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
    st.plotly_chart(fig, key=key, config=config, theme=None)


def show_code(*funcs: Callable[..., Any], key: str = "") -> None:
    """ "Show the code": the real bertviz_lite functions behind a view."""
    with st.expander("Show the code"):
        for func in funcs:
            st.caption(f"`{func.__module__}.{func.__qualname__}`")
            st.code(inspect.getsource(func), language="python")


def friendly_error(err: BaseException, doing: str) -> None:
    """A clear message for the student; the details go to the log for the instructor."""
    known = (DataError, ValueError, OSError)
    if isinstance(err, known):
        st.error(f"Could not {doing}: {safe(err)}")
    else:
        st.error(f"Could not {doing}: an unexpected {type(err).__name__}. "
                 "It was logged for the instructor; try again or change the settings.")
    log.warning("could not %s", doing, exc_info=err)


def session_id() -> str:
    """A random id for this browser session (owner of its jobs and uploads)."""
    if "_session_id" not in st.session_state:
        st.session_state["_session_id"] = uuid.uuid4().hex[:12]
    return str(st.session_state["_session_id"])


# -- pickers -------------------------------------------------------------------------------
def task_picker(key: str = "task") -> str:
    """The task type, shared through the URL by every page that uses `key`.

    Bound widgets show their raw option names: the URL carries exactly what is shown
    (`?task=ner&mode=finetune`), so a shared link reads like the CLI.
    """
    task = str(st.selectbox("Task", TASKS, key=key, bind=QUERY))
    st.caption(TASK_SPECS[task].title + f", metric: {TASK_SPECS[task].metric_title}")
    return task


def mode_picker(n_layers: int, key: str = "mode") -> str:
    """frozen / fine-tuned / unfreeze the top k layers -> a RunConfig mode string."""
    choice = st.segmented_control(
        "What learns?", ["frozen", "top-k", "finetune"], key=key, bind=QUERY, default="frozen",
        required=True)
    st.caption({"frozen": "Only the task head learns; BERT's weights stay fixed.",
                "top-k": "The top k BERT layers and the head learn; the rest stay fixed.",
                "finetune": "Every BERT layer and the head learn."}.get(str(choice), ""))
    if choice == "top-k":
        k = st.slider("k: BERT layers that learn (from the top)", 1, n_layers, 2, key="top_k",
                      bind=QUERY)
        return f"top-{k}"
    return str(choice or "frozen")


def recorded_runs() -> dict[str, RunRecord]:
    """Run records shipped for lectures (and the instructor's folder), by file stem."""
    folder = settings().recorded_runs_path()
    return _load_recorded(str(folder))


@st.cache_data(show_spinner=False)
def _load_recorded(folder: str) -> dict[str, RunRecord]:
    out: dict[str, RunRecord] = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            out[path.stem] = RunRecord.load(path)
        except (ValueError, TypeError, KeyError, OSError) as err:
            log.warning("skipping recorded run %s: %s", path, err)
    return out


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def safe(text: object) -> str:
    """Any text that may hold user data (a file name, a label, a token), made inert for
    Streamlit's markdown: no links, no formatting, no HTML. Shown exactly as written."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def redact(text: str) -> str:
    """Server paths from the settings, replaced by the labels students see."""
    s = settings()
    for label, path in [*s.models.items(), *s.data_folders.items()]:
        if path and path != "bundled":
            text = text.replace(str(path), f"'{label}'")
    return text


def job_state(key: str) -> Job | None:
    """The job this session started under `key`, if any."""
    job = st.session_state.get(key)
    return job if isinstance(job, Job) else None


def start_job(key: str, config: RunConfig, data: TaskData | None) -> Job | None:
    """Submit a training job for this session; a clear message when the server is busy."""
    try:
        job = job_pool().submit(config, data=data, owner=session_id(), save_model=True)
    except Exception as err:  # QueueFull, bad data...: shown, logged, app keeps working
        friendly_error(err, "start training")
        return None
    st.session_state[key] = job
    return job


# -- data --------------------------------------------------------------------------------
UPLOAD_TYPES = ["tsv", "csv", "jsonl", "json", "txt", "conll"]


def data_picker(task: str) -> tuple[str, TaskData | None, str | None]:
    """Where the training data comes from: bundled, an instructor's folder, or an upload.

    Returns (label for the run config, loaded data or None for bundled, problem message).
    """
    folders = settings().data_folders
    options = ["bundled", *folders, "upload"]
    choice = st.selectbox("Dataset", options, key="data", bind=QUERY,
                          help="bundled: the mini dataset written for this app; upload: your own "
                               "file; other names: folders your instructor provides")
    if choice == "bundled":
        return "bundled", None, None
    if choice == "upload":
        return _upload(task)
    try:
        return f"folder:{choice}", _folder_data(task, folders[choice]), None
    except DataError as err:
        return str(choice), None, str(err)


@st.cache_data(show_spinner="Reading the dataset...", max_entries=32)
def _folder_data(task: str, folder: str) -> TaskData:
    from bertviz_lite.data import load_task_data

    return load_task_data(task, folder, max_train=settings().max_examples,
                          max_eval=settings().max_eval_examples)


def _upload(task: str) -> tuple[str, TaskData | None, str | None]:
    """An uploaded file, parsed with the server's limits; a validation part is held out."""
    limits = settings().upload_limits()
    st.caption(f"TSV/CSV with a header, JSONL, or CoNLL columns for NER; at most "
               f"{settings().upload_mb:g} MB and {limits.max_rows:,} rows. 20% is held out for "
               "validation.")
    up = st.file_uploader("Training file", type=UPLOAD_TYPES, key=f"upload_{task}",
                          max_upload_size=max(1, int(settings().upload_mb)))
    if up is None:
        return "upload", None, "Choose a file to upload."
    cache = st.session_state.setdefault("_uploads", {})
    cache_key = (task, up.file_id)
    if cache_key not in cache:
        cache.clear()  # keep one parsed upload per session
        try:
            cache[cache_key] = (parse_upload(task, up.name, up.getvalue(), limits), None)
        except DataError as err:
            cache[cache_key] = (None, str(err))
    data, problem = cache[cache_key]
    if problem:
        return "upload", None, problem
    return f"upload:{data.fingerprint()}", data, None


# -- the training form ---------------------------------------------------------------------
LRS = [1e-6, 1e-5, 2e-5, 5e-5, 1e-4, 3e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0]
HEAD_LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e6]


def training_form(n_layers: int) -> tuple[RunConfig | None, TaskData | None, str | None]:
    """Every choice of a training run; returns (config, uploaded data, problem)."""
    s = settings()
    task = task_picker()
    mode = mode_picker(n_layers)
    data_label, data, problem = data_picker(task)
    c1, c2 = st.columns(2)
    epochs = c1.number_input("Epochs", 1, s.max_epochs, 3, key="epochs", bind=QUERY)
    batch = c2.select_slider("Batch size", [b for b in (4, 8, 16, 32, 64) if b <= s.max_batch_size],
                             16, key="batch", bind=QUERY)
    lr = c1.select_slider("Learning rate (BERT layers)", LRS, 5e-5, key="lr", bind=QUERY,
                          format_func=lambda v: f"{v:g}", disabled=mode == "frozen")
    head_lr = c2.select_slider("Learning rate (head)", HEAD_LRS, 3e-3, key="head_lr", bind=QUERY,
                               format_func=lambda v: f"{v:g}")
    seed = c1.number_input("Seed", 0, 10_000, 0, key="seed", bind=QUERY)
    device = c2.selectbox("Device", ["auto", "cpu", "cuda", "mps"], key="device", bind=QUERY)
    with st.expander("More options"):
        head = st.radio("Head", ["linear", "scalar-mix"], key="head", bind=QUERY, horizontal=True,
                        help="scalar-mix: a learned weighted sum of all layers (the paper's "
                             "frozen setup)")
        models = s.offered_models()
        model_label = st.selectbox("Model", list(models), key="model", bind=QUERY)
        precision = st.radio("Precision", ["auto", "fp32", "bf16"], key="precision", bind=QUERY,
                             index=["auto", "fp32", "bf16"].index(s.precision), horizontal=True,
                             help="auto: bf16 autocast where this server's CPU (AMX, "
                                  "AVX512-BF16) or GPU runs it natively, else fp32. Weights "
                                  "and gradients stay fp32; the run record says which ran")
    if problem:
        return None, None, problem
    try:
        config = RunConfig(task=task, mode=mode, model=models[model_label], data=data_label,
                           epochs=int(epochs), batch_size=int(batch), lr=float(lr),
                           head_lr=float(head_lr), seed=int(seed), device=str(device),
                           head=str(head), precision=str(precision), max_train=s.max_examples,
                           max_eval=s.max_eval_examples, max_length=min(128, s.max_length))
    except ValueError as err:
        return None, None, str(err)
    return _cap_steps(config, data), data, None


def _cap_steps(config: RunConfig, data: TaskData | None) -> RunConfig:
    """Respect the server's step limit (a class server caps each job)."""
    n_train = len(data.train) if data else 480
    steps = -(-min(n_train, config.max_train or n_train) // config.batch_size) * config.epochs
    if steps > settings().max_steps:
        st.info(f"This server allows {settings().max_steps} steps per run; training stops there.")
        return config.replace(steps=settings().max_steps)
    return config


# -- live training view ----------------------------------------------------------------------
ACTIVE = ("queued", "starting", "running")
# How often the live gradient chart refreshes while a job runs (fragment intervals are fixed
# when this module is imported, so this reads the settings once, here).
LIVE_SECONDS = load_settings().live_refresh_s
CURVE_SECONDS = 1.0  # how often the loss and metric curves refresh
QUEUED_SECONDS = 2.0  # how often a queued job checks whether its turn has come


def live_record(job: Job) -> RunRecord | None:
    """The job's run so far as a (partial) RunRecord, or the final one."""
    snap = job.snapshot()
    if snap.record is not None:
        return snap.record
    if not snap.ready:
        return None
    return RunRecord.partial(job.config.to_dict(), snap.ready, snap.steps, snap.evals)


def job_status(job: Job) -> None:
    """Queue position, progress bar with ETA, or how the run ended."""
    from bertviz_lite.figures import live_progress

    snap = job.snapshot()
    if snap.state == "queued":
        eta = job.eta_seconds()
        wait = f", about {eta:.0f} s" if eta else ""
        st.info(f"Waiting for a free trainer: position {snap.queue_position} in the queue{wait}.")
    elif snap.state in ("starting", "running"):
        total = int(snap.total_steps or (snap.ready or {}).get("steps_total") or 0)
        done = snap.last_step
        p = snap.progress
        if p is not None and p.phase == "cache" and not done:
            st.progress(p.done / max(1, p.total), text=f"Computing frozen features once: "
                        f"{p.done} / {p.total} examples")
        elif not total:
            st.progress(0.0, text="Preparing: copying the model, reading and tokenising data")
        else:
            elapsed = time.time() - (snap.started or time.time())
            info = live_progress(done, total, elapsed)
            st.progress(min(1.0, info["fraction"]), text=info["text"])
    elif snap.state == "failed":
        st.error("Training failed: " + safe(redact(snap.error or "unknown error")))
    elif snap.state == "diverged":
        st.warning(safe(snap.record.reason if snap.record else "The loss became NaN."))
    elif snap.state == "stopped":
        st.info(safe(snap.record.reason if snap.record and snap.record.reason else "Stopped."))
    elif snap.state == "cached":
        st.success("Someone already ran exactly this configuration: replayed from the shared "
                   "cache, no training needed.")


def _memo_figure(key: str, signature: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """Rebuild a live figure only when its data changed (the fragment reruns 4 times a second;
    building plotly figures is the costly part, re-sending one is cheap)."""
    memo = st.session_state.setdefault("_live_figs", {})
    hit = memo.get(key)
    if hit is not None and hit[0] == signature:
        return hit[1]
    fig = build()
    memo[key] = (signature, fig)
    return fig


def flow_chart(record: RunRecord, key: str, run_id: str = "") -> None:
    """The gradient flow of the latest step (run_id: the job that drew it, so a new run
    never reuses the previous run's figure)."""
    from bertviz_lite.figures import grad_flow_bars

    th = theme()
    last = record.steps[-1] if record.steps else None
    sig = (run_id, last.step if last else 0, th.presenter, tuple(record.groups))
    plot(_memo_figure(f"{key}_flow", sig, lambda: grad_flow_bars(
        record.groups, last.grad_norm if last else {}, record.frozen_groups,
        step=last.step if last else None, x_range=(-5.0, 2.0), theme=th)), key=f"{key}_flow")


def curve_charts(record: RunRecord, key: str, run_id: str = "") -> None:
    """Loss and validation/training metric curves of a run so far, side by side."""
    from bertviz_lite.figures import loss_curve, metric_curves

    th = theme()
    sig = (run_id, len(record.steps), len(record.evals), th.presenter)
    left, right = st.columns(2)
    if record.steps:
        with left:
            plot(_memo_figure(f"{key}_loss", sig, lambda: loss_curve(record, theme=th)),
                 key=f"{key}_loss")
    if record.evals:
        with right:
            plot(_memo_figure(f"{key}_metric", sig, lambda: metric_curves(record, theme=th)),
                 key=f"{key}_metric")


@st.fragment(run_every=LIVE_SECONDS)
def _live_flow(job_key: str) -> None:
    """Four times a second: status, progress and the gradient flow of the newest step."""
    job = job_state(job_key)
    if job is None:
        return
    job_status(job)
    record = live_record(job)
    if record is not None:
        flow_chart(record, job_key, job.id)
    if job.snapshot().state not in ACTIVE:
        st.rerun(scope="app")  # the run ended: redraw the whole page with the results


@st.fragment(run_every=QUEUED_SECONDS)
def _live_queued(job_key: str) -> None:
    """Every two seconds while the job waits for a free trainer: its place in the queue.
    (Waiting sessions poll slowly, so a full class queueing costs the server little.)"""
    job = job_state(job_key)
    if job is None:
        return
    job_status(job)
    if job.snapshot().state != "queued":
        st.rerun(scope="app")  # its turn: switch to the fast live view


@st.fragment(run_every=CURVE_SECONDS)
def _live_curves(job_key: str) -> None:
    """Once a second: the loss and metric curves (they change slowly; each redraw costs the
    browser and the server CPU that the training worker would rather have)."""
    job = job_state(job_key)
    record = live_record(job) if job is not None else None
    if record is not None:
        curve_charts(record, job_key, job.id)  # type: ignore[union-attr]


def live_view(job_key: str) -> None:
    """While the job runs: the polling fragments; afterwards: a static status and charts.

    The gradient flow takes the full width (it is the lesson); the curves sit below it.
    """
    job = job_state(job_key)
    if job is None:
        return
    state = job.snapshot().state
    if state == "queued":
        _live_queued(job_key)
        return
    if state in ACTIVE:
        _live_flow(job_key)
        _live_curves(job_key)
        return
    job_status(job)
    record = live_record(job)
    if record is not None:
        flow_chart(record, job_key, job.id)
        curve_charts(record, job_key, job.id)


def stop_job(job_key: str) -> None:
    """on_click of the Stop button: ask the worker to stop between two steps."""
    job = job_state(job_key)
    if job is not None:
        job.stop()


# -- after training ------------------------------------------------------------------------------
def exports(record: RunRecord, key: str) -> None:
    """Download the run record (JSON), the per-step table (CSV), the replay (HTML)."""
    import json

    from bertviz_lite.figures import figure_html, grad_flow_replay, steps_table

    name = f"{record.task}-{record.mode}"
    c1, c2, c3 = st.columns(3)
    th = theme()
    # Callables: each file is built only when its button is clicked (the HTML is ~4 MB).
    c1.download_button("Run record (JSON)", lambda: json.dumps(record.to_dict(), indent=1),
                       file_name=f"{name}.json", mime="application/json", key=f"{key}_json",
                       on_click="ignore")
    c2.download_button("Steps table (CSV)", lambda: steps_table(record).to_csv(index=False),
                       file_name=f"{name}-steps.csv", mime="text/csv", key=f"{key}_csv",
                       on_click="ignore")
    c3.download_button("Replay animation (HTML)",
                       lambda: figure_html(grad_flow_replay(record, max_frames=300, theme=th)),
                       file_name=f"{name}-replay.html", mime="text/html", key=f"{key}_html",
                       on_click="ignore")


def results(record: RunRecord, key: str) -> None:
    """Replay, heatmap, backward sweep, update ratios and exports of a finished run."""
    from bertviz_lite import figures

    th = theme()
    tabs = st.tabs(["Replay", "Layers x steps", "Backward sweep", "Update ratios", "Export"])
    with tabs[0]:
        plot(figures.grad_flow_replay(record, max_frames=300, theme=th), key=f"{key}_replay")
        st.caption("Press play: one frame per recorded step. Frozen groups stay behind the "
                   "no-gradient wall for the whole run.")
    with tabs[1]:
        plot(figures.grad_heatmap(record, theme=th), key=f"{key}_heat")
    with tabs[2]:
        if record.sweeps:
            sweep = record.sweeps[-1]
            plot(figures.backward_sweep(record.groups, sweep["signal"], record.frozen_groups,
                                        theme=th), key=f"{key}_sweep")
            st.caption(f"The gradient of the loss reaching each group's output during step "
                       f"{sweep['step']}, travelling from the loss down the network.")
        else:
            st.info("This run recorded no backward sweep.")
    with tabs[3]:
        plot(figures.update_ratio_chart(record, theme=th), key=f"{key}_ratio")
    with tabs[4]:
        exports(record, key)


# -- trained models for the inspection pages -------------------------------------------------
def example_inputs(task: str, prefix: str) -> tuple[str, str | None]:
    """Text box(es) for one example of the task, prefilled with a good default."""
    a, b = EXAMPLE_INPUTS[task]
    help_ner = "Words are split on spaces; put spaces around punctuation." if task == "ner" else None
    text = st.text_input("Sentence" if b is None else "Sentence A", a, key=f"{prefix}_{task}_a",
                         max_chars=2000, help=help_ner)
    text_b = None
    if b is not None:
        text_b = st.text_input("Sentence B", b, key=f"{prefix}_{task}_b", max_chars=2000)
    return text, text_b


@st.cache_resource(max_entries=8, show_spinner="Loading the trained model...")
def _trained(folder: str, model_name: str) -> Any:
    from bertviz_lite.engine.checkpoints import load_task_model

    return load_task_model(folder, backbone(model_name))


@st.cache_resource(max_entries=64)
def _model_lock(folder: str) -> threading.Lock:
    """One inference at a time per shared model (attribution toggles requires_grad)."""
    return threading.Lock()


def shipped_model(task: str) -> Path | None:
    """The frozen head shipped in assets/models for instant demos (a few KB)."""
    from bertviz_lite.paths import assets_dir

    folder = assets_dir() / "models" / f"{task}-frozen"
    return folder if (folder / "task.json").is_file() else None


def remember_run(job: Job) -> None:
    """Keep a finished job's record and checkpoint in this session (Compare, Attention...)."""
    snap = job.snapshot()
    if snap.record is None or snap.state not in ("completed", "cached"):
        return
    runs = st.session_state.setdefault("_runs", {})
    runs[snap.record.key or job.id] = snap.record
    ckpt = getattr(job, "checkpoint", None)
    if ckpt:
        st.session_state.setdefault("_checkpoints", {})[(snap.record.task,
                                                         _mode_kind(snap.record.mode))] = str(ckpt)


def _mode_kind(mode: str) -> str:
    return "frozen" if mode == "frozen" else "finetune" if mode == "finetune" else "top-k"


def model_for(task: str, mode: str) -> tuple[Any, threading.Lock] | None:
    """(TrainedModel, its lock) for a task: this session's run of `mode`, or for frozen the
    shipped head; None when there is none yet."""
    for key in [k for k in ("bp_job", f"ft_{task}", "cmp_frozen", "cmp_finetune")]:
        job = job_state(key)
        if job is not None:
            remember_run(job)
    folder = st.session_state.get("_checkpoints", {}).get((task, mode))
    if folder is None and mode == "frozen":
        shipped = shipped_model(task)
        folder = str(shipped) if shipped else None
    if folder is None or not Path(folder).is_dir():
        return None
    try:
        import json

        name = json.loads((Path(folder) / "task.json").read_text())["config"]["model"]
        return _trained(folder, name), _model_lock(folder)
    except Exception as err:
        friendly_error(err, "load the trained model")
        return None


def model_source(task: str, prefix: str) -> tuple[Any, threading.Lock] | None:
    """Pick the frozen or the fine-tuned model of this task for a view."""
    available = {m: model_for(task, m) for m in ("frozen", "finetune")}
    options = [m for m, v in available.items() if v is not None]
    if not options:
        st.warning("No trained head for this task yet: train one on the Backprop page.")
        return None
    choice = st.segmented_control(
        "Model", options, default=options[0], required=True, key=f"{prefix}_model_{task}",
        format_func={"frozen": "Frozen BERT + trained head",
                     "finetune": "Fine-tuned in this session"}.get)
    if "finetune" not in options:
        st.caption("Fine-tune a model on the Backprop page to compare it here.")
    return available[str(choice)]


def finetune_offer(task: str, prefix: str) -> None:
    """No fine-tuned model yet: offer to fine-tune one on the bundled data now."""
    key = f"ft_{task}"
    job = job_state(key)
    if job is None:
        st.info("No fine-tuned model in this session yet.")
        if st.button("Fine-tune one now (bundled data, about 20 s)", key=f"{prefix}_ft_{task}"):
            start_job(key, RunConfig(task=task, mode="finetune"), None)
            st.rerun()
        return
    live_view(key)
    remember_run(job)


def finetuned_attention(task: str, text: str, text_b: str | None) -> Any:
    """Attention maps of this session's fine-tuned encoder, or None."""
    from bertviz_lite.inspect import attention_maps

    found = model_for(task, "finetune")
    if found is None:
        return None
    trained, lock = found
    with lock:
        return attention_maps(trained.model.encoder, backbone(trained.config.model).tokenizer,
                              text, text_b)


# -- small renderers -----------------------------------------------------------------------
def token_chips(tokens: list[str], segments: list[int]) -> None:
    """Word pieces as escaped chips; sentence B tinted."""
    from bertviz_lite.figures import token_chips_html

    st.html(token_chips_html(tokens, segments))


def prediction_view(trace: Any) -> None:
    """The prediction in words: class, score, or one tag per word."""
    if trace.word_tags:
        st.dataframe([{"word": w, "tag": t} for w, t in trace.word_tags], hide_index=True)
    elif isinstance(trace.prediction, float):
        st.metric("Predicted similarity (0-5)", f"{trace.prediction:.2f}")
    else:
        st.metric("Prediction", str(trace.prediction))


# -- compare -------------------------------------------------------------------------------
def comparison_records(task: str, source: str) -> dict[str, RunRecord]:
    """Runs of `task` to compare: recorded, this session's, or run now (frozen + fine-tuned)."""
    if source == "recorded":
        found = {r.label: r for r in recorded_runs().values() if r.task == task}
    elif source == "session":
        for key in ("bp_job", "cmp_frozen", "cmp_finetune", f"ft_{task}"):
            job = job_state(key)
            if job is not None:
                remember_run(job)
        found = {r.label: r for r in st.session_state.get("_runs", {}).values()
                 if r.task == task}
    else:
        found = _run_comparison(task)
    order = {"frozen": 0, "frozen (scalar-mix)": 1, "finetune": 9}
    return dict(sorted(found.items(), key=lambda kv: order.get(kv[0], 5)))


def _run_comparison(task: str) -> dict[str, RunRecord]:
    """Submit frozen and fine-tuned runs of the bundled data (same seed); show progress."""
    seed = int(st.number_input("Seed", 0, 10_000, 0, key="cmp_seed"))
    if st.button("Run frozen and fine-tuned", type="primary", key="cmp_run"):
        for mode in ("frozen", "finetune"):
            start_job(f"cmp_{mode}", RunConfig(task=task, mode=mode, seed=seed), None)
    out: dict[str, RunRecord] = {}
    for mode in ("frozen", "finetune"):
        job = job_state(f"cmp_{mode}")
        if job is None:
            continue
        if job.config.task != task:
            continue
        st.caption(f"{mode}:")
        live_view(f"cmp_{mode}") if job.snapshot().state in ACTIVE else job_status(job)
        record = job.snapshot().record
        if record is not None and record.status == "completed":
            out[mode] = record
            remember_run(job)
    return out


def reproduce_view() -> None:
    """Results of `bertviz-lite reproduce` (frozen vs fine-tuned on SST-2, MRPC, STS-B,
    CoNLL-2003): the shipped one, or an uploaded reproduce.json."""
    import json

    from bertviz_lite.experiments.reproduce import ReproduceResult, result_markdown

    up = st.file_uploader("Load a reproduce.json written by `bertviz-lite reproduce`",
                          type=["json"], key="cmp_reproduce")
    shipped = settings().recorded_runs_path() / "reproduce.json"
    try:
        if up is not None:
            result = ReproduceResult.from_dict(json.loads(up.getvalue().decode("utf-8")))
        elif shipped.is_file():
            result = ReproduceResult.load(shipped)
        else:
            st.caption("No reproduce results yet. Run `bertviz-lite reproduce --data-dir ...`.")
            return
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        friendly_error(err, "read the reproduce results")
        return
    st.markdown(escape_markdown(result_markdown(result)))


def escape_markdown(text: str) -> str:
    """Markdown we generated ourselves, with any HTML from data neutralised."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def run_cache_size() -> int:
    """Number of runs in the shared cache."""
    return len(RunCache(settings().cache_path()))
