"""`bertviz-lite bench`: every section runs in the smallest form (`--smoke`: the full
`bench --quick` is a command people run, not a test), bf16 is timed only where this machine
runs it natively, and the figures say what they are (a negative overhead is noise)."""

from __future__ import annotations

import json

import pytest

from bertviz_lite.bench.measure import FORMS, cpu_model, overhead_verdict
from bertviz_lite.bench.precision import precisions_to_measure
from bertviz_lite.bench.readme import bench_lines
from bertviz_lite.cli.main import main
from bertviz_lite.engine.precision import Capabilities, emulated_bf16_note, vector_flags

AVX2_FLAGS = {"fpu", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c"}


@pytest.mark.slow
def test_bench_smoke_measures_every_section(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--smoke", "--no-app", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["form"] == "smoke" and report["precisions"][0] == "fp32"
    # bf16 is timed exactly where `--precision auto` picks it; elsewhere the report says why
    assert ("bf16" in report["precisions"]) == (report["auto_precision"] == "bf16")
    assert (report["bf16_not_measured"] is None) == (report["auto_precision"] == "bf16")
    assert [c["precision"] for c in report["cost"]] == report["precisions"]
    assert set(report["efficiency"]) == set(report["matmul_peaks"]) == set(report["precisions"])
    smoke = FORMS["smoke"]  # the form's limits reach every run (data given is used as it is)
    assert {(c["train_examples"], c["val_examples"]) for c in report["cost"]} == \
        {(smoke.max_train, smoke.max_eval)}
    assert {r["train_examples"] for r in report["lecture"]} == {smoke.max_train}
    for c in report["cost"]:
        assert c["warm_features_reused"] > 0 and c["ratio_warm"] > 0 and c["cold_bound"] > 1
    o = report["overhead"]
    assert o["pairs"] == 2 and o["overhead_pct_range"][0] <= o["overhead_pct"] \
        <= o["overhead_pct_range"][1]
    assert report["memory"]["job_peak_rss_mb"] > 100
    assert report["analysis"]["sides"] == ["computed", "memory"]  # cold, then warm
    cli = report["cli_frozen_from_disk"]
    # the first process computes the features and stores them; the second, a new process,
    # reads every one of them from disk and computes none, with the same result
    assert cli["first_features_reused"] == 0 and cli["first_feature_cache_s"] > 0
    assert cli["second_features_reused"] == smoke.max_train + smoke.max_eval
    assert cli["second_feature_cache_s"] == 0.0
    assert cli["metric_second"] == cli["metric_first"]
    m = report["machine"]
    assert m["cpu"] and m["cpu"] == cpu_model() and isinstance(m["cpu_flags"], list)
    assert "load_average_at_start" in m and "load_average_at_end" in m
    table = capsys.readouterr().out
    assert m["cpu"] in table and "vector flags" in table and "load average" in table
    for needle in ("fine-tuned / frozen", "overhead", "matmul", "peak RSS", "lecture run",
                   "from disk", "analysis of a bundled run"):
        assert needle in table
    assert ("bf16: not measured" in table) == ("bf16" not in report["precisions"])


def test_the_smoke_form_is_the_smallest():
    smoke, quick = FORMS["smoke"], FORMS["quick"]
    assert smoke.max_train is not None and smoke.max_train < 100
    assert smoke.overhead_steps <= quick.overhead_steps and len(smoke.epochs) == 1


@pytest.mark.parametrize("device_type,caps,expected", [
    ("cpu", Capabilities(), ("fp32",)),  # AVX2 only: bf16 would be emulated
    ("cpu", Capabilities(cpu_avx512_bf16=True), ("fp32", "bf16")),
    ("cpu", Capabilities(cpu_amx=True), ("fp32", "bf16")),
    ("cuda", Capabilities(cuda_bf16=True), ("fp32", "bf16")),
    ("cuda", Capabilities(cpu_amx=True), ("fp32",)),
    ("mps", Capabilities(True, True, True), ("fp32",)),
])
def test_bench_times_bf16_only_where_auto_would_pick_it(device_type, caps, expected):
    assert precisions_to_measure(device_type, caps) == expected


def test_emulated_bf16_is_said_in_one_line_with_the_flags_seen():
    note = emulated_bf16_note("bf16", "cpu", Capabilities(), AVX2_FLAGS)
    assert note is not None and "\n" not in note
    assert "emulated" in note and "avx2" in note and "fpu" not in note
    assert "--precision auto or fp32" in note
    assert emulated_bf16_note("bf16", "cpu", Capabilities(cpu_amx=True), AVX2_FLAGS) is None
    assert emulated_bf16_note("auto", "cpu", Capabilities(), AVX2_FLAGS) is None
    assert emulated_bf16_note("bf16", "cuda", Capabilities(), AVX2_FLAGS) is None
    assert vector_flags(AVX2_FLAGS) == ["avx", "avx2", "f16c", "fma", "sse4_1", "sse4_2"]


@pytest.mark.parametrize("ratios,within", [
    ([0.97, 0.99, 1.01], True),  # negative median: noise, never a negative cost
    ([0.999, 1.02, 1.04], True),  # a pair below zero: the spread reaches it
    ([1.02, 1.03, 1.05], False),
])
def test_overhead_is_a_cost_only_above_the_noise(ratios, within):
    v = overhead_verdict(ratios)
    assert v["within_noise"] is within
    assert v["overhead_pct_range"][0] <= v["overhead_pct"] <= v["overhead_pct_range"][1]


def _report(**over) -> dict:
    report = {
        "machine": {"cpu": "AMD EPYC 7B13", "cpu_flags": ["avx", "avx2", "fma"], "cores": 2,
                    "torch": "2.13.0", "torch_threads": 2, "gpu": None,
                    "load_average_at_start": 0.12, "load_average_at_end": 0.9},
        "form": "quick", "auto_precision": "fp32", "precisions": ["fp32"],
        "bf16_not_measured": "this CPU has no native bf16 (flags seen: avx, avx2, fma)",
        "cost": [], "efficiency": {}, "matmul_peaks": {"fp32": {"square_1024": 90.0,
                                                                "ffn_shaped": 80.0}},
        "overhead": {"pairs": 3, "steps": 8, "mean_step_with_s": 0.5,
                     "mean_step_without_s": 0.51, **overhead_verdict([0.98, 0.99, 1.01])},
        "memory": {"job_peak_rss_mb": 900}, "lecture": [
            {"task": "sentiment", "mode": "frozen", "metric": "accuracy", "baseline": 0.5,
             "precisions": ["fp32"], "fp32_wall_s": 1.2, "fp32_value": 0.8,
             "beats_baseline": True}]}
    report.update(over)
    return report


def test_the_table_says_the_cpu_the_load_and_why_bf16_is_missing():
    text = "\n".join(bench_lines(_report()))
    assert "AMD EPYC 7B13 (vector flags: avx, avx2, fma)" in text
    assert "load average 0.12 at the start, 0.9 at the end" in text
    assert "bf16: not measured, this CPU has no native bf16 (flags seen: avx, avx2, fma)" in text
    assert "within noise: pairs from -2.0% to +1.0%" in text
    assert "-1.0%" not in text.replace("pairs from -2.0% to +1.0%", "")  # no negative cost
    assert "1.2 s; accuracy 0.8 (baseline 0.5)" in text and "bf16 >=" not in text


def test_home_page_rows_show_each_priority_and_the_ratio():
    from bertviz_lite.bench.readme import _home_rows

    rows = []
    _home_rows({"slots": 2, "worker_nice_0": {"home_page_s": [9.0, 8.0, 7.5], "median_s": 8.0},
                "worker_nice_10": {"home_page_s": [2.0, 1.5, 1.9], "median_s": 1.9},
                "ratio_equal_over_lower_priority": 4.21},
               lambda name, value, target="": rows.append((name, value, target)))
    assert [r[0].rsplit("nice ", 1)[-1] for r in rows[:2]] == ["0)", "10)"]
    assert rows[0][1] == "median 8.0 s of [9.0, 8.0, 7.5]" and rows[1][2] == "< 5 s"
    assert rows[2][1] == "4.21x"


def test_the_cli_says_emulated_bf16_once_per_process(monkeypatch, caplog):
    import torch

    from bertviz_lite.engine import precision

    monkeypatch.setattr(precision, "detect_capabilities", lambda device_type: Capabilities())
    monkeypatch.setattr(precision, "cpu_flags", lambda: AVX2_FLAGS)
    precision._warn_once.cache_clear()
    with caplog.at_level("WARNING", logger="bertviz_lite.engine.precision"):
        for _ in range(3):  # a sweep or a compare resolves it once per run
            assert precision.resolve_precision("bf16", torch.device("cpu")) == "bf16"
        assert precision.resolve_precision("auto", torch.device("cpu")) == "fp32"
    said = [r.getMessage() for r in caplog.records if "emulated" in r.getMessage()]
    assert len(said) == 1 and "avx2" in said[0]
