"""The modes measurement's own words: what its load note says is measured, not typed in."""

from __future__ import annotations

from bertviz_lite.experiments.modes_bench import load_note


def test_a_quiet_measurement_says_so_with_its_highest_load():
    rows = [{"load_before": 0.4, "load_after": 1.6}, {"load_before": 1.5, "load_after": 1.9}]
    note = load_note(rows, cores=2)
    assert note.startswith("a quiet machine") and "at most 1.9 on 2 cores" in note
    # the runs' own two threads keep a 2-core machine's load near 2 to 3
    assert load_note([{"load_before": 2.6, "load_after": 2.1}], cores=2).startswith("a quiet")


def test_a_loaded_measurement_says_its_times_are_what_the_load_allowed():
    rows = [{"load_before": 0.4, "load_after": 1.6}, {"load_before": 5.6, "load_after": 34.2}]
    note = load_note(rows, cores=2)
    assert note.startswith("taken under load") and "up to 34.2 on 2 cores" in note
    assert "the metrics do not depend on it" in note


def test_no_loads_recorded_is_said_plainly():
    assert load_note([{"task": "ner"}], cores=2) == "load not recorded"


def test_a_merged_measurement_keeps_the_other_rows_and_says_when_each_was_measured():
    from bertviz_lite.experiments.modes_bench import _ordered, _sessions, kept_rows
    from bertviz_lite.record.readme import _recorded

    earlier = {"setup": {"date": "2026-12-07 06:55 UTC", "engine": {"git_commit": "abc"}},
               "rows": [{"task": t, "mode": m} for t in ("sentiment", "ner")
                        for m in ("frozen", "lora", "adapters")]}
    kept = kept_rows(earlier, ["sentiment", "ner"], ["adapters"])
    assert [(r["task"], r["mode"]) for r in kept] == [
        ("sentiment", "frozen"), ("sentiment", "lora"), ("ner", "frozen"), ("ner", "lora")]
    assert all(r["date"] == "2026-12-07 06:55 UTC" and r["commit"] == "abc" for r in kept)
    new = {"task": "sentiment", "mode": "adapters", "date": "later", "commit": "def"}
    rows = _ordered([*kept, new])
    assert [(r["task"], r["mode"]) for r in rows][:3] == [
        ("sentiment", "frozen"), ("sentiment", "lora"), ("sentiment", "adapters")]
    sessions = _sessions(earlier) + [{"date": "later", "commit": "def", "modes": ["adapters"]}]
    assert sessions[0]["modes"] == ["frozen", "lora", "adapters"]
    words = _recorded({"sessions": sessions})
    assert words.startswith("recorded in 2 sessions") and "adapters on later (commit def)" in words
    assert _recorded(earlier["setup"]) == "commit abc, recorded 2026-12-07 06:55 UTC"
