"""Compare page, "Against training-set size": recorded learning-curve sweeps (instant) and a
small live sweep through the job pool, the figure filling point by point as runs finish."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.data.load import load_task_data
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.tasks import TASK_SPECS
from bertviz_lite.experiments.learning_summary import crossing_text, mode_name, spread
from bertviz_lite.figures import learning_curve_figure
from bertviz_lite.paths import assets_dir
from bertviz_lite.record.paper import PAPER_TABLE

if TYPE_CHECKING:  # the live sweep imports torch: only when a student starts one
    from bertviz_lite.experiments.live_sweep import LiveSweep

log = logging.getLogger("bertviz_lite.app")

LIVE_KEY = "cmp_lc_live"
LIVE_SIZES = (10, 25, 50, 100, 200)
LIVE_POLL_S = 1.0
LEAD = ("One run cannot show the slide's three claims (frozen is competitive, fine-tuned can be "
        "better, small data overfits): they depend on how much data there is and on luck. "
        "Each point is one training run on a nested stratified subsample; every seed's point "
        "is drawn, the line is their median, and every point is scored on the same validation "
        "examples.")


def sweeps_dir() -> Path:
    """Recorded sweeps shipped with the app: `assets/sweeps/`."""
    return assets_dir() / "sweeps"


@st.cache_data(show_spinner=False)
def _load_sweeps(folder: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            sweep = json.loads(path.read_text(encoding="utf-8"))
            if sweep.get("kind") == "learning-curves":
                out[path.stem] = sweep
        except (OSError, ValueError) as err:
            log.warning("skipping recorded sweep %s: %s", path, err)
    return out


def recorded_sweeps(task: str) -> dict[str, dict[str, Any]]:
    """The recorded sweeps of `task`, by file stem (bundled data first)."""
    found = {k: v for k, v in _load_sweeps(str(sweeps_dir())).items()
             if v.get("setup", {}).get("task") == task}
    return dict(sorted(found.items(), key=lambda kv: "bundled" not in kv[0]))


def _data_label(sweep: dict[str, Any]) -> str:
    st_ = sweep.get("setup", {})
    data = str(st_.get("data", "?")).rstrip("/").rsplit("/", 1)[-1]
    return f"{data} data, up to {max(st_.get('sizes') or [0])} examples"


def sweep_figure(sweep: dict[str, Any], task: str, key: str) -> None:
    """The figure of a (possibly partial) sweep and what it shows, in words."""
    spec = TASK_SPECS[task]
    fig = learning_curve_figure(sweep, paper=PAPER_TABLE.get(task), dataset=spec.paper_dataset,
                                metric_title=spec.metric_title, theme=ui.theme())
    ui.plot(fig, key=key)
    pts = sweep.get("points", [])
    for line in crossing_text(pts):
        st.markdown(f"**Measured:** {ui.safe(line)} (medians over seeds).")
    _spread_table(sweep, f"{key}_table")


def _spread_table(sweep: dict[str, Any], key: str) -> None:
    pts = sweep.get("points", [])
    sizes = sorted({int(p["size"]) for p in pts})
    modes = list(dict.fromkeys(p["mode"] for p in pts))
    rows = []
    for m in modes:
        for s in sizes:
            sp = spread(pts, m, s)
            if sp["n"]:
                rows.append({"mode": mode_name(m), "examples": s, "seeds": sp["n"],
                             "median": round(sp["median"], 3), "min": round(sp["min"], 3),
                             "max": round(sp["max"], 3), "spread (max-min)": round(sp["range"], 3)})
    if rows:
        st.dataframe(rows, hide_index=True, key=key)


def _setup_caption(sweep: dict[str, Any]) -> None:
    s, e = sweep.get("setup", {}), sweep.get("engine", {})
    minutes = float(sweep.get("elapsed_seconds", 0.0)) / 60
    st.caption(
        f"Setup: model {ui.safe(s.get('model'))}, {ui.safe(_data_label(sweep))}, sizes "
        f"{s.get('sizes')}, seeds {s.get('seeds')}, {s.get('epochs')} epochs, batch "
        f"{s.get('batch_size')}, frozen head {s.get('frozen_head')}, evaluated on "
        f"{s.get('eval_size')} validation examples. Engine: bertviz-lite {e.get('bertviz_lite')}, "
        f"torch {e.get('torch')}, {e.get('device') or '?'} ({e.get('cores')} cores); the whole "
        f"sweep took {minutes:.1f} min.")


def recorded_view(task: str) -> None:
    """Pick a recorded sweep of the task and draw it."""
    sweeps = recorded_sweeps(task)
    if not sweeps:
        st.info("No recorded sweep of this task yet: run `bertviz-lite sweep` or "
                "scripts/record-sweeps.sh, or run a small one live.")
        return
    by_label = {_data_label(sw): sw for sw in sweeps.values()}  # what is shown is the value
    label = st.selectbox("Recorded sweep", list(by_label), key="cmp_lc_sweep")
    sweep = by_label[str(label)]
    sweep_figure(sweep, task, key="cmp_lc_recorded_fig")
    _setup_caption(sweep)


def _live_spec(task: str) -> Any:
    from bertviz_lite.experiments.learning_curves import SweepSpec

    c1, c2, c3 = st.columns(3)
    sizes = c1.multiselect("Training-set sizes", LIVE_SIZES, default=[25, 50, 100],
                           key="cmp_lc_sizes")
    seeds = int(c2.number_input("Seeds", 1, 3, 2, key="cmp_lc_seeds"))
    epochs = int(c3.number_input("Epochs", 1, 5, 3, key="cmp_lc_epochs"))
    if len(sizes) < 2:
        st.warning("Pick at least two sizes to draw a curve.")
        return None
    label, model = next(iter(ui.settings().models.items()))  # the model the workers keep warm
    st.caption(f"Model: {ui.safe(label)}; bundled data; frozen and fine-tuned; every point "
               "scored on the same validation examples.")
    base = RunConfig(task=task, model=model, epochs=epochs)
    return SweepSpec(base, tuple(sorted(int(s) for s in sizes)), tuple(range(seeds)),
                     ("frozen", "finetune"))


def _submit(config: RunConfig, data: Any) -> Any:
    try:
        return ui.job_pool().submit(config, data=data, owner=ui.owner_id())
    except Exception as err:  # QueueFull and friends: shown, the sweep waits
        ui.friendly_error(err, "queue the next point")
        return None


@st.fragment(run_every=LIVE_POLL_S)
def _live_progress(task: str) -> None:
    """Once a second: collect a finished point, queue the next, redraw the figure."""
    live: LiveSweep | None = st.session_state.get(LIVE_KEY)
    if live is None:
        return
    live.advance(_submit)
    if live.current is not None and live.job is not None:
        mode, size, seed = live.current
        st.caption(f"Point {len(live.points) + 1} of {live.total}: {mode_name(mode)}, "
                   f"{size} examples, seed {seed}")
        ui.job_status(live.job)
    sweep_figure(live.result(), task, key="cmp_lc_live_fig")
    if live.done:
        st.rerun(scope="app")


def live_view(task: str) -> None:
    """Start, watch and stop a small sweep on the bundled data."""
    spec = _live_spec(task)
    live: LiveSweep | None = st.session_state.get(LIVE_KEY)
    if live is not None and live.spec.base.task != task:
        live = None
    c1, c2 = st.columns(2)
    if c1.button("Run the sweep", type="primary", key="cmp_lc_run", disabled=spec is None
                 or (live is not None and not live.done)):
        from bertviz_lite.experiments.live_sweep import LiveSweep

        pool = load_task_data(task, "bundled")
        live = LiveSweep.create(spec, pool)
        st.session_state[LIVE_KEY] = live
    if c2.button("Stop the sweep", key="cmp_lc_stop", disabled=live is None or live.done):
        live.stop()  # type: ignore[union-attr]
    if live is None:
        st.caption("Each point is an ordinary training job: it waits in the queue like any "
                   "other, a point someone already ran comes from the shared cache.")
        return
    if live.done:
        if live.problem:
            st.warning(f"The sweep stopped: {ui.safe(live.problem)}")
        elif live.stopped:
            st.info(f"Stopped after {len(live.points)} of {live.total} points.")
        sweep_figure(live.result(), task, key="cmp_lc_live_fig")
        return
    _live_progress(task)


def learning_curves_section(task: str) -> None:
    """The Compare page's section: recorded sweeps, or a live one."""
    st.header("Against training-set size")
    st.markdown(LEAD)
    source = st.segmented_control("Sweep", ["recorded", "live"], default="recorded",
                                  required=True, key="cmp_lc_source",
                                  format_func={"recorded": "Recorded sweeps (instant)",
                                               "live": "Run a small sweep now"}.get)
    if source == "live":
        live_view(task)
    else:
        recorded_view(task)
