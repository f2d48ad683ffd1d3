"""The forms: task, mode and data pickers, the training form, the example text boxes."""

from __future__ import annotations

import logging
import math

import streamlit as st

from bertviz_lite.data.examples import DataError, TaskData
from bertviz_lite.data.load import parse_upload
from bertviz_lite.engine.config import HEADS, TASKS, RunConfig, head_title
from bertviz_lite.engine.modes import FROZEN, all_modes, find_mode
from bertviz_lite.engine.tasks import EXAMPLE_INPUTS, TASK_SPECS
from bertviz_lite.ui.resources import _folder_data, bundled_train_size, facts, settings
from bertviz_lite.ui.state import QUERY

log = logging.getLogger("bertviz_lite.app")


# -- pickers -------------------------------------------------------------------------------
def task_picker(key: str = "task") -> str:
    """The task type, shared through the URL by every page that uses `key`.

    Bound widgets show their raw option names: the URL carries exactly what is shown
    (`?task=ner&mode=finetune`), so a shared link reads like the CLI.
    """
    task = str(st.selectbox("Task", TASKS, key=key, bind=QUERY))
    st.caption(TASK_SPECS[task].title + f", metric: {TASK_SPECS[task].metric_title}")
    return task


def mode_options() -> list[str]:
    """The picker's options: every registered mode's name, in registry order."""
    return [m.name for m in all_modes()]


def mode_picker(n_layers: int, key: str = "mode") -> str:
    """What learns (one option per registered mode) -> a RunConfig mode string."""
    modes = {m.name: m for m in all_modes()}
    choice = st.segmented_control(
        "What learns?", list(modes), key=key, bind=QUERY, default=FROZEN, required=True)
    mode = modes.get(str(choice), modes[FROZEN])
    st.caption(mode.summary)
    if mode.takes_k:
        if int(st.session_state.get("top_k", 0) or 0) > n_layers:  # another model had more
            st.session_state["top_k"] = n_layers
        k = st.slider("k: BERT layers that learn (from the top)", 1, n_layers, min(2, n_layers),
                      key="top_k",
                      bind=QUERY)
        return mode.spell(k)
    return mode.spell()


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
        except (DataError, ValueError, RecursionError) as err:  # one line beside the uploader
            cache[cache_key] = (None, str(err) if isinstance(err, ValueError) else
                                f"{up.name}: could not read the file ({type(err).__name__})")
            log.warning("upload refused: %s", err)
    data, problem = cache[cache_key]
    if problem:
        return "upload", None, problem
    st.success(data.read_summary())  # what was read, before anything trains
    return f"upload:{data.fingerprint()}", data, None


# -- the training form ---------------------------------------------------------------------
LRS = [1e-6, 1e-5, 2e-5, 5e-5, 1e-4, 3e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0]
HEAD_LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e6]


def _chosen_model(models: dict[str, str]) -> str:
    """The model label picked in the form (drawn further down; read from the session or the
    link first, so the top-k slider can offer exactly that model's layers)."""
    label = st.session_state.get("model") or st.query_params.get("model")
    return str(label) if label in models else next(iter(models))


def _encoder_fixed(mode: str) -> bool:
    """Whether no BERT weight trains in `mode` (its learning rate is then unused)."""
    entry = find_mode(mode)
    return entry is not None and entry.cache_features


# the form's whole-number widgets bound to the URL (?top_k=, ?epochs=, ?seed=)
URL_WHOLE_NUMBERS = ("top_k", "epochs", "seed")


def drop_infinite_url_numbers(keys: tuple[str, ...] = URL_WHOLE_NUMBERS) -> None:
    """Take out of the URL the values of `keys` that read as an infinite number (inf, 1e400):
    Streamlit (1.67) drops the other bad values of a bound number widget itself, but turning
    an infinite one into an int raised OverflowError, and the page stopped. The widgets read
    the URL as the run started, so the page runs again without them (their defaults shown)."""
    dropped = []
    for key in keys:
        raw = st.query_params.get(key)
        try:
            infinite = raw is not None and math.isinf(float(raw))
        except ValueError:  # not a number at all: Streamlit drops it
            infinite = False
        if infinite:
            del st.query_params[key]
            dropped.append(key)
    if dropped:
        log.info("dropped infinite URL values of %s", ", ".join(dropped))
        st.rerun()


def training_form() -> tuple[RunConfig | None, TaskData | None, str | None]:
    """Every choice of a training run; returns (config, uploaded data, problem)."""
    drop_infinite_url_numbers()
    s = settings()
    models = s.offered_models()
    task = task_picker()
    try:
        n_layers = facts(models[_chosen_model(models)]).layers
    except (ValueError, OSError, KeyError):  # a damaged model folder: its run says why
        n_layers = facts().layers
    mode = mode_picker(n_layers)
    data_label, data, problem = data_picker(task)
    c1, c2 = st.columns(2)
    # defaults within the server's limits (a max_epochs of 2 or a max_batch_size of 3 broke
    # every training page: a widget's default outside its range is an exception)
    epochs = c1.number_input("Epochs", 1, s.max_epochs, min(3, s.max_epochs), key="epochs",
                             bind=QUERY)
    sizes = sorted({b for b in (4, 8, 16, 32, 64) if b <= s.max_batch_size}
                   | {min(s.max_batch_size, 64)})
    batch = c2.select_slider("Batch size", sizes, min(16, sizes[-1]), key="batch", bind=QUERY)
    lr = c1.select_slider("Learning rate (BERT layers)", LRS, 5e-5, key="lr", bind=QUERY,
                          format_func=lambda v: f"{v:g}", disabled=_encoder_fixed(mode))
    head_lr = c2.select_slider("Learning rate (head)", HEAD_LRS, 3e-3, key="head_lr", bind=QUERY,
                               format_func=lambda v: f"{v:g}")
    seed = c1.number_input("Seed", 0, 10_000, 0, key="seed", bind=QUERY)
    device = c2.selectbox("Device", ["auto", "cpu", "cuda", "mps"], key="device", bind=QUERY)
    with st.expander("More options"):
        head = st.radio("Head", list(HEADS), key="head", bind=QUERY, horizontal=True,
                        format_func=lambda h: head_title(h, task),
                        help="scalar-mix: a learned weighted sum of all layers; task "
                             "model: that mix into a small BiLSTM task model on the cached "
                             "features (the paper's frozen setup; frozen only)")
        model_label = st.selectbox("Model", list(models), key="model", bind=QUERY)
        precision = st.radio("Precision", ["auto", "fp32", "bf16"], key="precision", bind=QUERY,
                             index=["auto", "fp32", "bf16"].index(s.precision), horizontal=True,
                             help="auto: bf16 autocast where this server's CPU (AMX, "
                                  "AVX512-BF16) or GPU runs it natively, else fp32. Weights "
                                  "and gradients stay fp32; the run record says which ran")
        if precision == "bf16" and device in ("auto", "cpu"):
            _say_if_bf16_is_emulated(str(device))
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
    n_train = len(data.train) if data else bundled_train_size(config.task)
    steps = -(-min(n_train, config.max_train or n_train) // config.batch_size) * config.epochs
    if steps > settings().max_steps:
        st.info(f"This server allows {settings().max_steps} steps per run; training stops there.")
        return config.replace(steps=settings().max_steps)
    return config


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


def _say_if_bf16_is_emulated(device: str) -> None:
    """One line under the precision choice where this server's CPU only emulates bf16."""
    from bertviz_lite.engine.models import pick_device
    from bertviz_lite.engine.precision import cpu_flags, detect_capabilities, emulated_bf16_note

    dev = pick_device(device)
    note = emulated_bf16_note("bf16", dev.type, detect_capabilities(dev.type), cpu_flags())
    if note:
        st.warning(note.replace("--precision auto or fp32", "Precision auto or fp32"),
                   icon=":material/slow_motion_video:")
