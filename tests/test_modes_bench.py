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
