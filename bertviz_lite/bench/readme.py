"""The bench table: printed by `bertviz-lite bench` and written into docs/results.md from
the committed report (`assets/bench/bench.json`), between `<!-- BEGIN bench -->` and
`<!-- END bench -->`.

    python -m bertviz_lite.bench.readme            # rewrite the bench table of docs/results.md
    python -m bertviz_lite.bench.readme --check    # exit 1 when that page is out of date
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from bertviz_lite.paths import assets_dir, results_doc
from bertviz_lite.record.generated import write_or_check

BEGIN, END = "<!-- BEGIN bench -->", "<!-- END bench -->"
Report = dict[str, Any]


def bench_json_path() -> Path:
    """The committed benchmark report."""
    return assets_dir() / "bench" / "bench.json"


def _machine(report: Report) -> str:
    m = report["machine"]
    gpu = f", GPU {m['gpu']}" if m.get("gpu") else ""
    flags = ", ".join(m.get("cpu_flags") or []) or "not recorded"
    load = [m.get("load_average_at_start"), m.get("load_average_at_end")]
    load_text = "; load average " + " at the start, ".join(
        "?" if v is None else str(v) for v in load) + " at the end" if any(
        v is not None for v in load) else ""
    if load_text and report.get("app") and "skipped" not in report["app"]:
        load_text += " (the app section's own training jobs and browser)"
    form = report.get("form") or ("quick" if report.get("quick") else "full")
    forms = {"quick": "; `bench --quick` (one task, fewer repetitions)",
             "smoke": "; `bench --smoke` (a few examples: shows every section, not the speeds)"}
    return (f"machine: {m['cpu']} (vector flags: {flags}), {m['cores']} cores, "
            f"torch {m['torch']} ({m['torch_threads']} threads){gpu}{load_text}; "
            f"`--precision auto` picks {report.get('auto_precision', '?')} here"
            f"{forms.get(form, '')}")


def _precision_line(report: Report) -> list[str]:
    """The line that says bf16 was left out, and why (empty where it was measured)."""
    why = report.get("bf16_not_measured")
    return [f"bf16: not measured, {why}. `--precision bf16` still runs by hand, emulated "
            "and many times slower than fp32."] if why else []


def _cost_rows(report: Report, row: Any) -> None:
    for c in report["cost"]:
        e, p = c["epochs"], c["precision"]
        ep = f"{e} epoch{'s' * (e > 1)}, {p}"
        row(f"fine-tuned / frozen wall time, {ep} (features computed in the run)",
            f"{c['ratio_cold']}x ({c['finetune_s']} s / {c['frozen_cold_s']} s); bound "
            f"{c['cold_bound']}x in forward passes: {c['cold_of_bound_pct']:.0f}% of it",
            ">= 20x at 3 epochs" if e == 3 else "")
        row(f"fine-tuned / frozen, {ep}, features read from disk (a new store)",
            f"{c['ratio_warm']}x ({c['frozen_warm_s']} s frozen, "
            f"{c['warm_features_reused']} examples read)")
        row(f"validation {c['metric']}, {ep}: frozen cold / frozen warm / fine-tuned",
            f"{c['metric_frozen_cold']:.3f} / {c['metric_frozen_warm']:.3f} / "
            f"{c['metric_finetune']:.3f}")


def _efficiency_rows(report: Report, row: Any) -> None:
    peaks = report.get("matmul_peaks", {})
    if peaks:
        names = list(peaks)
        row(f"dense matmul peak, 1024^3 (FFN-shaped), {' / '.join(names)}",
            " / ".join(f"{peaks[p]['square_1024']} ({peaks[p]['ffn_shaped']})" for p in names)
            + " GFLOP/s")
    for p, eff in report["efficiency"].items():
        for r in eff["rows"]:
            row(f"fine-tuning FLOP/s / {p} matmul FLOP/s, batch {r['batch_size']}",
                f"{r['efficiency_vs_square_pct']}% of {eff['matmul_gflops_square_1024']} "
                f"GFLOP/s ({r['efficiency_vs_model_shaped_pct']}% of FFN-shaped "
                f"{eff['matmul_gflops_ffn_shaped']}); step {r['step_s']} s; real/padded "
                f"tokens {r['real_over_padded_tokens']}", ">= 50%")


def _lecture_rows(report: Report, row: Any) -> None:
    for r in report["lecture"]:
        names = r.get("precisions") or ["fp32", "bf16"]
        target = "< 3 s" if r["mode"] == "frozen" else "< 30 s"
        value = " / ".join(f"{r[f'{p}_wall_s']} s" for p in names)
        if "speedup_bf16" in r:
            target += "; bf16 >= 1.3x faster" if r["mode"] != "frozen" else ""
            value += (f" ({r['speedup_bf16']}x); {r['metric']} {r['fp32_value']} / "
                      f"{r['bf16_value']} ({r['bf16_minus_fp32_points']:+} points; "
                      f"baseline {r['baseline']})")
        else:
            value += f"; {r['metric']} {r[f'{names[0]}_value']} (baseline {r['baseline']})"
        row(f"default lecture run: {r['task']} {r['mode']}, {' / '.join(names)}", value, target)
    cli = report.get("cli_frozen_from_disk")
    if cli:
        row(f"second `train --mode frozen` process, features from disk ({cli['precision']})",
            f"{cli['frozen_second_s']} s run ({cli['process_s']['frozen_second']} s process), "
            f"first {cli['frozen_first_s']} s; fine-tuned {cli['finetune_s']} s: "
            f"{cli['ratio_finetune_over_second']}x", ">= 20x cheaper")


def _overhead_row(o: Report, row: Any) -> None:
    """The recording overhead: a cost where it is above the pairs' noise, else "within noise"
    with the spread (a negative overhead is noise, never a result)."""
    spread = o.get("overhead_pct_range")
    steps = f"{o['mean_step_with_s']} s vs {o['mean_step_without_s']} s a step"
    if spread is None:  # a report from before the spread was kept
        value = (f"within noise ({steps})" if o["overhead_pct"] <= 0
                 else f"{o['overhead_pct']}% ({steps})")
    elif o.get("within_noise"):
        value = (f"within noise: pairs from {spread[0]:+}% to {spread[1]:+}% "
                 f"({o['pairs']} pairs; {steps})")
    else:
        value = (f"{o['overhead_pct']}% (pairs {spread[0]:+}% to {spread[1]:+}%; {steps})")
    row("gradient-flow recording overhead (median of interleaved pairs)", value, "<= 3%")


def _app_rows(app: Report, row: Any) -> None:
    if "skipped" in app:
        row("app in Chromium", f"skipped: {app['skipped']}")
        return
    cs = app["cold_start"]
    row("cold start: streamlit run -> first page drawn", f"{cs['first_page_drawn_s']} s", "< 5 s")
    _page_rows(app.get("pages"), row)
    for mode in ("frozen", "finetune"):
        a = app[mode]
        row(f"Train -> first gradient bar ({mode})", f"{a['first_bar_s']} s", "< 3 s")
        row(f"live chart updates while training ({mode})",
            f"{a['updates_per_s']}/s, median gap {a['median_gap_s']} s",
            "a new step at every poll (live_refresh_s 0.5 s) when steps are faster")
    sr = app["step_app_vs_cli"]
    row("fine-tuning step in the app / same step from the CLI",
        f"{sr['ratio_vs_cli_same_threads']}x vs CLI on {sr['app_worker_threads']} "
        f"thread(s), {sr['ratio_vs_cli_all_cores']}x vs CLI on all cores", "<= 1.3x")
    mem = app["memory_with_one_job_done"]
    row("app with one job: app process + workers",
        f"{mem['app_rss_mb']:.0f} MB + {mem['workers_rss_mb']:.0f} MB")
    _home_rows(app.get("home_page_while_training") or {}, row)


def _page_rows(pages: Report | None, row: Any) -> None:
    """Rows of the page times (a new browser session, navigation to a finished page)."""
    if not pages:  # a report from before pages were timed
        return
    row("first visit of a started server: start page", f"{pages['first_visit_s']} s", "< 3 s")
    row("new session, a new visitor (nothing cached): start page",
        f"median {pages['new_session_home_median_s']} s of {pages['new_session_home_s']}",
        "< 2 s")
    if pages.get("new_tab_home_s"):
        row("new session, a new tab of a browser that has been here: start page",
            f"median {pages['new_tab_home_median_s']} s of {pages['new_tab_home_s']}", "< 2 s")
    row("new session: Backprop page", f"median {pages['new_session_backprop_median_s']} s of "
        f"{pages['new_session_backprop_s']}", "< 3 s")


def _home_rows(home: Report, row: Any) -> None:
    """Rows of the new-visitor Home page measurement while both job slots train."""
    for key, value in home.items():
        if key.startswith("worker_nice_"):
            nice = key.removeprefix("worker_nice_")
            row("new visitor's Home page while both job slots train (their pages in the "
                f"same Chromium; workers at nice {nice})",
                f"median {value['median_s']} s of {value['home_page_s']}", "< 5 s")
            if value.get("new_tab_home_page_s"):
                row(f"a new tab's Home page (browser has been here) while both job slots "
                    f"train (workers at nice {nice})",
                    f"median {value['new_tab_median_s']} s of {value['new_tab_home_page_s']}",
                    "< 5 s")
    if home.get("ratio_equal_over_lower_priority"):
        row("Home page wait, workers at the server's priority / at lower priority",
            f"{home['ratio_equal_over_lower_priority']}x")


def bench_lines(report: Report) -> list[str]:
    """The benchmark report as a markdown table (plus the machine line above it)."""
    out = [_machine(report), *_precision_line(report), "", "| figure | measured | target |",
           "|---|---|---|"]

    def row(name: str, value: object, target: str = "") -> None:
        out.append(f"| {name} | {value} | {target} |")

    _cost_rows(report, row)
    _overhead_row(report["overhead"], row)
    _efficiency_rows(report, row)
    row("peak RSS of one fine-tuning job", f"{report['memory']['job_peak_rss_mb']:.0f} MB",
        "< 1.5 GB")
    _lecture_rows(report, row)
    if report.get("analysis"):
        a = report["analysis"]
        row(f"analysis of a bundled run ({a['task']} {a['mode']}, What changed inside BERT?)",
            f"cold {a['cold_s']:.1f} s, warm {a['warm_s']:.1f} s ({a['cold_cpu_s']:.1f} / "
            f"{a['warm_cpu_s']:.1f} CPU s, {a['threads']} thread(s)"
            + (f"; measured on its own, {a['measured']}" if a.get("measured") else "") + ")",
            "< 10 s")
    if report.get("app"):
        _app_rows(report["app"], row)
    if report.get("bench_seconds"):
        out += ["", f"The whole bench took {report['bench_seconds'] / 60:.1f} minutes."]
    return out


def readme_section(report: Report) -> str:
    """What goes between the markers."""
    return "\n".join([BEGIN, *bench_lines(report), END])


def updated_readme(text: str, report: Report) -> str:
    """The page's text with its bench section replaced (the markers must be there once)."""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if len(pattern.findall(text)) != 1:
        raise ValueError(f"the page must hold exactly one {BEGIN} ... {END} section")
    return pattern.sub(lambda _: readme_section(report), text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or --check) the bench table of docs/results.md from the committed JSON."""
    p = argparse.ArgumentParser(prog="python -m bertviz_lite.bench.readme")
    p.add_argument("--check", action="store_true")
    p.add_argument("--doc", "--readme", dest="doc", default=str(results_doc()),
                   help="the page holding the table (default docs/results.md)")
    p.add_argument("--json", default=str(bench_json_path()))
    args = p.parse_args(argv)
    page = Path(args.doc)
    new = updated_readme(page.read_text(encoding="utf-8"),
                         json.loads(Path(args.json).read_text(encoding="utf-8")))
    return write_or_check(page, new, args.check, "python -m bertviz_lite.bench.readme")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
