"""`bertviz-lite bench --quick` produces every figure (the app section is covered by the
end-to-end tests, which drive the same Chromium measurements)."""

from __future__ import annotations

import json

import pytest

from bertviz_lite.cli.main import main

pytestmark = pytest.mark.slow


def test_bench_quick_writes_report_and_table(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--no-app", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [(c["precision"], c["epochs"]) for c in report["cost"]] == [("fp32", 3), ("bf16", 3)]
    for c in report["cost"]:
        assert c["ratio_cold"] > 1 and c["ratio_warm"] > c["ratio_cold"]  # reuse is cheaper
        assert c["warm_features_reused"] > 0 and 0 < c["cold_of_bound_pct"]
    assert report["overhead"]["pairs"] == 3
    for eff in report["efficiency"].values():
        assert 0 < eff["rows"][0]["real_over_padded_tokens"] <= 1
    assert report["memory"]["job_peak_rss_mb"] > 100
    assert all(r["beats_baseline"] for r in report["lecture"])
    assert report["analysis"]["sides"] == ["computed", "memory"]  # cold, then warm
    cli = report["cli_frozen_from_disk"]
    assert cli["second_features_reused"] > 0 and cli["second_feature_cache_s"] == 0.0
    table = capsys.readouterr().out
    for needle in ("fine-tuned / frozen", "overhead", "matmul", "peak RSS", "lecture run",
                   "bf16", "from disk", "analysis of a bundled run"):
        assert needle in table


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
