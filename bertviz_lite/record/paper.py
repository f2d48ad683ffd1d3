"""The paper's numbers and the course slide's constant, in one place, and which of our runs
each number may stand beside.

Peters, Ruder & Smith (2019), "To Tune or Not to Tune?", Table 2 (BERT-base). Their frozen
column is one setup: a learned scalar mix of all layers fed into a task model (BiLSTM-CRF for
NER, BCN for sentiment, ESIM for the pairs); their fine-tuned column adapts every layer with a
softmax layer on top. They report no top-k runs. No torch here: the figures import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bertviz_lite.names import task_model_names

PAPER_CITATION = 'Peters, Ruder & Smith (2019), "To Tune or Not to Tune?", Table 2, BERT-base'

# Table 2, BERT-base, as on the course slide (0-100 scale: accuracy, span F1, Pearson r x 100).
PAPER_TABLE: dict[str, dict[str, float]] = {
    "ner": {"frozen": 92.2, "finetune": 92.4},
    "sentiment": {"frozen": 93.0, "finetune": 93.5},
    "paraphrase": {"frozen": 78.1, "finetune": 84.8},
    "similarity": {"frozen": 82.9, "finetune": 87.1},
}

# The course slide: frozen training costs about a tenth of fine-tuning.
SLIDE_COST_RATIO = 10.0

PAPER_FROZEN_SETUP = "a scalar mix of all layers into a task model"
NOT_PAPER_SETUP = f"not the paper's setup (the paper used {PAPER_FROZEN_SETUP})"
NO_NUMBER = "–"  # what a table shows where the paper has no number


@dataclass(frozen=True)
class PaperCell:
    """The paper's number for one of our runs.

    value: the paper's score on 0-100, or None where it reports none (top-k).
    column: "frozen", "finetune" or "" (none).
    matches: whether our run has the setup of that column (a frozen linear head does not).
    note: one line for a table or a legend: what the number is and how it relates to our run.
    """

    value: float | None
    column: str
    matches: bool
    note: str

    @property
    def shown(self) -> str:
        """The value as a table shows it: "93.0", or "–" where the paper has none."""
        return NO_NUMBER if self.value is None else f"{self.value:.1f}"


def paper_cell(task: str, mode: str, head: str = "linear") -> PaperCell:
    """The paper's number that goes beside a run of `task` in `mode` with a frozen `head`.

    frozen + task-model: the paper's frozen column (its setup: a scalar mix of all layers into
    a task model); frozen + another head: the same number, labelled as half (scalar-mix) or
    not (linear) the paper's setup; finetune: the fine-tuned column; top-k: none.
    """
    row = PAPER_TABLE.get(task, {})
    if mode == "finetune":
        return PaperCell(row.get("finetune"), "finetune", True, "the paper's fine-tuned column")
    if mode != "frozen":
        return PaperCell(None, "", False, f"the paper reports no {mode} runs")
    return PaperCell(row.get("frozen"), "frozen", head == "task-model",
                     frozen_setup_note(head, task))


def frozen_setup_note(head: str, task: str | None = None) -> str:
    """How a frozen run with `head` relates to the paper's frozen column, in one line (the
    task names the task model; without one, all of them are named)."""
    if head == "task-model":
        return ("the paper's frozen column, the same setup: a scalar mix of all layers into a "
                f"task model (ours a smaller {task_model_names(task)})")
    if head == "scalar-mix":
        return ("the paper's frozen column, half its setup: the scalar mix of all layers, but "
                "into a linear layer where the paper had a task model")
    return f"the paper's frozen column, {NOT_PAPER_SETUP}"


def frozen_head_words(head: str, task: str | None = None) -> str:
    """A frozen head in words for a sentence ("Frozen: ..."), saying how it relates to the
    paper's frozen setup."""
    if head == "task-model":
        return (f"a scalar mix of all layers into a task model ({task_model_names(task)}), "
                "as in the paper")
    if head == "scalar-mix":
        return ("a scalar mix of all layers into a linear layer (the paper put a task model "
                "after the mix)")
    return "a linear layer on the last layer (not the paper's setup)"


def cost_ratio(slow_seconds: float | None, fast_seconds: float | None) -> float | None:
    """How many times as long the slow run took: slow / fast wall time.

    The one cost ratio every view shows (fine-tuned / frozen); None without both times or
    with a fast time that is not positive.
    """
    if slow_seconds is None or fast_seconds is None:
        return None
    slow, fast = float(slow_seconds), float(fast_seconds)
    if not (math.isfinite(slow) and math.isfinite(fast)) or fast <= 0:
        return None
    return slow / fast
