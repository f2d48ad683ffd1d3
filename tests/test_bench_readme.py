"""The bench table of docs/results.md is generated from the committed report, and says both
precisions; the frozen cold-ratio bound is counted in forward passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertviz_lite.bench.precision import forward_bound
from bertviz_lite.bench.readme import BEGIN, END, bench_json_path, bench_lines, updated_readme
from bertviz_lite.record.runs import EvalRecord, RunRecord

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results.md"


def committed() -> dict:
    return json.loads(bench_json_path().read_text(encoding="utf-8"))


def test_results_bench_section_matches_the_committed_json():
    text = RESULTS.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert updated_readme(text, committed()) == text, \
        "run: python -m bertviz_lite.bench.readme"


def test_committed_report_measures_bf16_only_where_it_is_native():
    report = committed()
    measured = report.get("precisions") or ["fp32", "bf16"]
    assert [c["precision"] for c in report["cost"]] == measured
    assert set(report["efficiency"]) == set(measured)
    assert ("bf16" in measured) == (report["auto_precision"] == "bf16")
    for p, eff in report["efficiency"].items():  # each against the peak of its own precision
        assert eff["matmul_gflops_square_1024"] == report["matmul_peaks"][p]["square_1024"]
    for r in report["lecture"]:
        if "speedup_bf16" in r:
            assert r["speedup_bf16"] == pytest.approx(r["fp32_wall_s"] / r["bf16_wall_s"],
                                                      abs=0.01)
    lines = "\n".join(bench_lines(report))
    for needle in ("fp32", "features read from disk", "bound", "second `train",
                   report["machine"]["cpu"], "load average"):
        assert needle in lines
    assert ("bf16: not measured" in lines) == ("bf16" not in measured)


def test_committed_report_was_taken_on_a_quiet_machine_and_reports_no_negative_cost():
    report = committed()
    m = report["machine"]
    assert m["load_average_at_start"] < 1.0 * m["cores"], "re-run the bench on an idle machine"
    o = report["overhead"]
    assert o["within_noise"] or o["overhead_pct"] > 0


def test_updated_readme_replaces_only_the_marked_section():
    report = committed()
    text = f"# Title\n\nbefore\n{BEGIN}\nold table\n{END}\nafter\n"
    new = updated_readme(text, report)
    assert new.startswith("# Title\n\nbefore\n" + BEGIN) and new.endswith(END + "\nafter\n")
    assert "old table" not in new and bench_lines(report)[0] in new
    with pytest.raises(ValueError, match="exactly one"):
        updated_readme("no markers", report)


def _record(n_train: int, n_val: int, epochs: float, n_evals: int) -> RunRecord:
    evals = [EvalRecord(i, float(i), "val", "accuracy", 0.5, 0.7, {}) for i in range(n_evals)]
    return RunRecord(config={"train_eval_size": 128}, groups=[], frozen_groups=[],
                     trainable_params=0, total_params=0, device="cpu", evals=evals,
                     cost={"epochs": epochs}, data={"train": n_train, "val": n_val})


def test_forward_bound_counts_passes():
    fine, frozen = _record(480, 120, 3.0, 4), _record(480, 120, 3.0, 4)
    # fine-tuned: 3 x 3 x 480 training passes + 4 evaluations x (120 + 128); frozen: 600
    assert forward_bound(fine, frozen) == pytest.approx((4320 + 4 * 248) / 600)
