"""What the heads are called wherever one is named (forms, run labels, tables, figures).

A bottom-layer module: the engine (`engine.config`, `engine.task_models`) and the records
(`record.runs`, `record.paper`, `record.readme`) both read these names, and it imports nothing
of the package, so the records never need the engine.
"""

from __future__ import annotations

TASK_MODEL_TITLES: dict[str, str] = {  # engine/task_models.py builds them
    "ner": "BiLSTM-CRF", "sentiment": "BiLSTM max/mean pool", "paraphrase": "ESIM-lite",
    "similarity": "ESIM-lite"}


def head_title(head: str, task: str | None = None) -> str:
    """What a head is called wherever one is named (forms, run labels, tables, figures):
    "linear", "scalar-mix", or "task model: BiLSTM-CRF" (NER), "task model: BiLSTM max/mean
    pool" (sentiment), "task model: ESIM-lite" (pairs); without a task, all three."""
    if head != "task-model":
        return head
    if task in TASK_MODEL_TITLES:
        return f"task model: {task_model_names(task)}"
    return f"task model ({task_model_names()})"


def task_model_names(task: str | None = None) -> str:
    """The frozen task model of a task without the words "task model" (for a sentence that
    says them already): "BiLSTM-CRF"; without a task, all three joined by " / "."""
    if task in TASK_MODEL_TITLES:
        return TASK_MODEL_TITLES[task]
    return " / ".join(dict.fromkeys(TASK_MODEL_TITLES.values()))
