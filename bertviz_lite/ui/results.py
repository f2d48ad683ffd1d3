"""After a run: the results tabs and exports, the Compare page's records, the reproduction."""

from __future__ import annotations

from typing import Any

import streamlit as st

from bertviz_lite.engine.config import head_title
from bertviz_lite.engine.modes import FINETUNE, FROZEN, all_modes, find_mode, label_of
from bertviz_lite.record.runs import RunRecord
from bertviz_lite.ui.inspection import finetune_config
from bertviz_lite.ui.layout import plot, theme
from bertviz_lite.ui.live import ACTIVE, GRADIENTS_DIFFER, job_status, live_view
from bertviz_lite.ui.resources import recorded_runs, settings
from bertviz_lite.ui.state import (
    friendly_error,
    job_state,
    remember_run,
    safe,
    start_job,
)


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
    c1.download_button("The stack, animated (HTML)", lambda: _stack_export(record, th),
                       file_name=f"{name}-stack.html", mime="text/html", key=f"{key}_stack",
                       on_click="ignore", help="The animated stack beside the recorded runs of "
                       "the other modes: one file that plays offline")


def _stack_export(record: RunRecord, th: Any) -> str:
    """The animated stack of a run (and the recorded runs beside it) as one HTML file."""
    from bertviz_lite.figures.stack import recorded_panels, stack_data, stack_html
    from bertviz_lite.ui.live import companions

    panels = recorded_panels([record, *companions(record)], th)
    return stack_html(stack_data(panels, theme=th))


def results(record: RunRecord, key: str) -> None:
    """Replay, heatmap, backward sweep, update ratios and exports of a finished run."""
    from bertviz_lite import figures
    from bertviz_lite.figures import describe

    th = theme()
    views = ["Replay", "Layers x steps", "Backward sweep", "Update ratios", "Export"]
    # one view at a time (buttons, not tabs: a figure drawn in a hidden tab stays a thumbnail)
    view = st.segmented_control("View", views, default=views[0], key=f"{key}_view",
                                required=True, label_visibility="collapsed") or views[0]
    if view == "Replay":
        plot(figures.grad_flow_replay(record, max_frames=300, theme=th), key=f"{key}_replay",
             alt=describe.describe_replay(record))
        st.caption("Press play: one frame per recorded step. Frozen groups are empty rows "
                   "behind the wall for the whole run.")
    elif view == "Layers x steps":
        plot(figures.grad_heatmap(record, theme=th), key=f"{key}_heat",
             alt="layers x steps: " + describe.describe_replay(record))
    elif view == "Backward sweep":
        if record.sweeps:
            sweep = record.sweeps[-1]
            plot(figures.backward_sweep(record.groups, sweep["signal"], record.frozen_groups,
                                        theme=th), key=f"{key}_sweep",
                 alt=describe.describe_sweep(record.groups, sweep["signal"], record.frozen_groups,
                                      sweep["step"]))
            st.caption(f"The gradient at each group's output, ‖∂L/∂(output)‖, during step "
                       f"{sweep['step']}, travelling from the loss down the network. "
                       f"{GRADIENTS_DIFFER}")
        else:
            st.info("This run recorded no backward sweep.")
    elif view == "Update ratios":
        plot(figures.update_ratio_chart(record, theme=th), key=f"{key}_ratio",
             alt=describe.describe_update_ratios(record))
    else:
        exports(record, key)


# -- compare -------------------------------------------------------------------------------
def comparison_records(task: str, source: str) -> dict[str, RunRecord]:
    """Runs of `task` to compare: recorded, this session's, or run now (frozen + fine-tuned)."""
    if source == "recorded":
        found = {r.label: r for r in recorded_runs().values() if r.task == task}
    elif source == "session":
        for key in ("bp_job", *(f"cmp_{m}" for m in comparison_modes()), f"ft_{task}"):
            job = job_state(key)
            if job is not None:
                remember_run(job)
        found = {r.label: r for r in st.session_state.get("_runs", {}).values()
                 if r.task == task}
    else:
        found = _run_comparison(task)
    return dict(sorted(found.items(), key=lambda kv: _order(kv[0], task)))


def _order(label: str, task: str) -> tuple[int, int]:
    """Where a run's label sorts: by its mode's place in the registry (frozen first, then
    top-K, fine-tuned, ...), then linear, scalar-mix and task-model heads."""
    mode, _, _ = label.partition(" (")
    names = [m.name for m in all_modes()]
    entry = find_mode(mode)
    heads = ["", "scalar-mix", head_title("task-model", task)]
    head = label[len(mode):].strip(" ()")
    return (names.index(entry.name) if entry else len(names),
            heads.index(head) if head in heads else len(heads))


def comparison_modes() -> list[str]:
    """Every mode "Run the comparison now" offers: each registry entry (top-K as top-2)."""
    return [m.spell(2) for m in all_modes()]


def _run_comparison(task: str) -> dict[str, RunRecord]:
    """Submit runs of the chosen modes (frozen and fine-tuned by default) of the app's model
    on the bundled data (same seed); show progress."""
    seed = int(st.number_input("Seed", 0, 10_000, 0, key="cmp_seed"))
    chosen = [str(m) for m in st.multiselect(
        "Modes", comparison_modes(), default=[FROZEN, FINETUNE], key="cmp_modes",
        format_func=label_of, help="each trains once on the same data and seed")]
    if st.button("Run the comparison", type="primary", key="cmp_run", disabled=len(chosen) < 2):
        for mode in chosen:
            config = finetune_config(task).replace(mode=mode, seed=seed)
            start_job(f"cmp_{mode}", config, None)
        st.rerun()  # draws the new jobs, and any message start_job kept (a full queue)
    out: dict[str, RunRecord] = {}
    for mode in chosen:
        job = job_state(f"cmp_{mode}")
        if job is None:
            continue
        if job.config.task != task:
            continue
        st.caption(f"{label_of(mode)}:")
        live_view(f"cmp_{mode}") if job.snapshot().state in ACTIVE else job_status(job)
        record = job.snapshot().record
        if record is not None and record.status == "completed":
            out[mode] = record
            remember_run(job)
    return out


def reproduce_view() -> None:
    """Results of `bertviz-lite reproduce` (frozen vs fine-tuned on SST-2, MRPC, STS-B,
    CoNLL-2003): the shipped one, or an uploaded reproduce.json."""
    # from record/, not experiments/reproduce (which imports the training engine and torch)
    from bertviz_lite.record.repro_result import ReproduceResult
    from bertviz_lite.record.repro_table import result_markdown

    up = st.file_uploader("Load a reproduce.json written by `bertviz-lite reproduce`",
                          type=["json"], key="cmp_reproduce")
    shipped = settings().recorded_runs_path() / "reproduce.json"
    try:
        if up is not None:
            result = ReproduceResult.from_json(up.getvalue().decode("utf-8"), "the upload")
        elif shipped.is_file():
            result = ReproduceResult.load(shipped)
        else:
            st.caption("No reproduce results yet. Run `bertviz-lite reproduce --data-dir ...`.")
            return
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        friendly_error(err, "read the reproduce results")
        return
    st.markdown(result_markdown(result, cell=safe))  # values from the file: inert text


def run_origin(record: RunRecord, source: str) -> str:
    """Where a run's numbers come from, in one line: a recorded run says when, where and by
    which engine it was recorded; a run of this session says so (never "this machine" for a
    file made elsewhere)."""
    from bertviz_lite.record.provenance import provenance_line

    if source == "recorded":
        return provenance_line(record.created, record.device, record.engine,
                               record.config.get("threads"))
    version = (record.engine or {}).get("version", "?")
    return f"trained on this server in this session ({record.device}, engine {version})"
