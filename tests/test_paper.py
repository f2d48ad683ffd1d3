"""The paper's column: every mode row of a comparison gets the paper's number of its own setup
(frozen + scalar mix: frozen column; frozen + linear: the same number, labelled as another
setup; finetune: fine-tuned column; top-k: none), in the Compare table, the bar chart, the CLI
and the reproduction; and one cost ratio everywhere."""

from __future__ import annotations

import html

import pytest

from bertviz_lite import figures as F
from bertviz_lite.cli.commands import comparison_table as cli_table
from bertviz_lite.experiments.compare import Comparison, comparison_table
from bertviz_lite.experiments.reproduce import _row
from bertviz_lite.record.paper import (
    NO_NUMBER,
    NOT_PAPER_SETUP,
    PAPER_TABLE,
    cost_ratio,
    paper_cell,
)
from bertviz_lite.record.runs import RunRecord

# Peters, Ruder & Smith (2019), Table 2, BERT-base: the reference, typed from the paper.
TABLE_2 = {"ner": (92.2, 92.4), "sentiment": (93.0, 93.5), "paraphrase": (78.1, 84.8),
           "similarity": (82.9, 87.1)}
# (mode, frozen head) -> (paper column, same setup as the paper)
EXPECTED = {("frozen", "task-model"): ("frozen", True), ("frozen", "scalar-mix"): ("frozen", False),
            ("frozen", "linear"): ("frozen", False),
            ("finetune", "linear"): ("finetune", True), ("top-2", "linear"): ("", False),
            ("top-1", "scalar-mix"): ("", False)}


def record(task: str, mode: str, head: str = "linear", wall: float = 1.0,
           value: float = 0.7) -> RunRecord:
    return RunRecord(config={"task": task, "mode": mode, "head": head, "seed": 0},
                     groups=["embeddings", "layer.0", "head"], frozen_groups=[],
                     trainable_params=10, total_params=100, device="cpu", status="completed",
                     final={"value": value}, baseline={"value": 0.5},
                     cost={"wall_seconds": wall})


def test_paper_table_is_table_2() -> None:
    assert {t: (v["frozen"], v["finetune"]) for t, v in PAPER_TABLE.items()} == TABLE_2


@pytest.mark.parametrize("task", list(TABLE_2))
@pytest.mark.parametrize("mode,head", list(EXPECTED))
def test_paper_cell_of_every_mode(task: str, mode: str, head: str) -> None:
    column, matches = EXPECTED[(mode, head)]
    cell = paper_cell(task, mode, head)
    assert cell.column == column and cell.matches is matches
    frozen, finetune = TABLE_2[task]
    assert cell.value == {"frozen": frozen, "finetune": finetune, "": None}[column]
    assert cell.shown == (NO_NUMBER if column == "" else f"{cell.value:.1f}")
    if (mode, head) == ("frozen", "linear"):
        assert NOT_PAPER_SETUP in cell.note and "scalar mix" in cell.note
    if (mode, head) == ("frozen", "scalar-mix"):
        assert "half its setup" in cell.note and "task model" in cell.note
    if (mode, head) == ("frozen", "task-model"):
        assert "the same setup" in cell.note and "scalar mix of all layers into a task model" \
            in cell.note


def comparison(task: str) -> Comparison:
    runs = [record(task, "frozen", "linear", 2.0, 0.70),
            record(task, "frozen", "scalar-mix", 2.5, 0.75),
            record(task, "top-2", "linear", 6.0, 0.78),
            record(task, "finetune", "linear", 19.0, 0.80)]
    return Comparison({r.label: r for r in runs})


@pytest.mark.parametrize("task", list(TABLE_2))
def test_every_mode_row_of_a_comparison(task: str) -> None:
    frozen, finetune = TABLE_2[task]
    rows = {r["mode"]: r for r in comparison(task).rows()}
    assert set(rows) == {"frozen", "frozen (scalar-mix)", "top-2", "finetune"}
    assert rows["frozen (scalar-mix)"]["paper"] == frozen and not rows["frozen (scalar-mix)"][
        "paper_matches"]
    assert rows["frozen"]["paper"] == frozen and not rows["frozen"]["paper_matches"]
    assert rows["top-2"]["paper"] is None and rows["top-2"]["paper_shown"] == NO_NUMBER
    assert rows["finetune"]["paper"] == finetune
    table = {r["mode"]: r for r in comparison_table(list(rows.values()))}
    assert table["top-2"]["paper"] == NO_NUMBER and table["finetune"]["paper"] == f"{finetune}"
    assert NOT_PAPER_SETUP in table["frozen"]["paper's number"]


def test_bar_chart_puts_each_rows_own_paper_number() -> None:
    rows = comparison("sentiment").rows()
    fig = F.compare_bars(rows, "accuracy", setup="bundled data, 480 examples",
                         model="tiny, 2 layers")
    ours, paper = fig.data
    assert list(ours.x) == ["frozen", "frozen (scalar-mix)", "top-2", "finetune"]
    assert list(paper.y) == [93.0, 93.0, None, 93.5]
    assert list(paper.text) == ["paper 93.0*", "paper 93.0*", "", "paper 93.5"]
    note = html.unescape(fig.layout.title.subtitle.text).replace("<br>", " ")  # wrapped
    assert "*frozen: not the paper's setup" in note and "top-2: no paper number" in note
    assert "frozen and fine-tuned only" not in note  # the old, wrong note
    assert ours.name == "ours (tiny, 2 layers, bundled data, 480 examples)"


def test_cli_compare_shows_each_rows_paper_number() -> None:
    lines = cli_table(comparison("paraphrase"))
    paper_line = next(line for line in lines if line.startswith("paper (MRPC"))
    assert paper_line.split()[-4:] == ["78.1", "78.1", NO_NUMBER, "84.8"]
    assert any(NOT_PAPER_SETUP in line for line in lines)
    assert any("cost ratio" in line and "9.5x" in line for line in lines)


def test_one_cost_ratio_everywhere() -> None:
    cmp = comparison("ner")
    assert cmp.cost_ratio() == pytest.approx(9.5) == cost_ratio(19.0, 2.0)
    fig = F.cost_figure(cmp.rows())
    assert any("9.5× frozen" in (a.text or "") for a in fig.layout.annotations)
    repro = _row("ner", record("ner", "frozen", "scalar-mix", 2.0), record("ner", "finetune",
                                                                          "linear", 19.0))
    assert repro["cost_ratio"] == 9.5 and repro["paper_frozen"] == 92.2
    assert repro["frozen_heads"]["scalar-mix"]["cost_ratio"] == 9.5
    assert cost_ratio(19.0, 0.0) is None and cost_ratio(None, 2.0) is None
    assert cost_ratio(float("nan"), 2.0) is None
