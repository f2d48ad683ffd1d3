"""The four task types: what the head outputs, which metric is primary, and the baseline a
trained model has to beat."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bertviz_lite.data.examples import Example
from bertviz_lite.engine import metrics


@dataclass(frozen=True)
class TaskSpec:
    """Static facts about a task type."""

    name: str
    title: str  # for people: "Sentiment (one sentence)"
    metric: str  # primary metric name, as in the run record
    metric_title: str  # "accuracy", "span F1"
    regression: bool = False
    pair: bool = False
    tokens: bool = False
    paper_dataset: str = ""  # what Peters et al. (2019) used


TASK_SPECS: dict[str, TaskSpec] = {
    "sentiment": TaskSpec("sentiment", "Sentiment (one sentence)", "accuracy", "accuracy",
                          paper_dataset="SST-2"),
    "paraphrase": TaskSpec("paraphrase", "Paraphrase (sentence pair)", "accuracy", "accuracy",
                           pair=True, paper_dataset="MRPC"),
    "similarity": TaskSpec("similarity", "Similarity (sentence pair, score 0-5)", "pearson",
                           "Pearson r", regression=True, pair=True, paper_dataset="STS-B"),
    "ner": TaskSpec("ner", "Named entities (per token)", "span_f1", "span F1", tokens=True,
                    paper_dataset="CoNLL-2003"),
}

# A good first example of each task for the inspection pages: (sentence, second sentence).
EXAMPLE_INPUTS: dict[str, tuple[str, str | None]] = {
    "sentiment": ("The trailer promised a lot, but the film itself was a slow, forgettable mess.",
                  None),
    "paraphrase": ("The company said its profits rose 5 percent in the third quarter.",
                   "Third-quarter profits at the company were up 5 percent, it said."),
    "similarity": ("A man is playing a guitar on stage.",
                   "A man plays the guitar in front of a crowd."),
    "ner": ("Maria Lopez flew from Madrid to Toronto to join Shopify in March .", None),
}

READABLE_BINARY = {"sentiment": ["negative", "positive"],
                   "paraphrase": ["not a paraphrase", "paraphrase"]}


def readable_labels(task: str, label_names: Sequence[str]) -> list[str]:
    """Label names for people: GLUE's 0/1 become negative/positive or (not) paraphrase."""
    if list(label_names) == ["0", "1"] and task in READABLE_BINARY:
        return list(READABLE_BINARY[task])
    return list(label_names)


def n_outputs(task: str, label_names: Sequence[str]) -> int:
    """Width of the head's output: classes, tags, or 1 score."""
    return 1 if TASK_SPECS[task].regression else len(label_names)


def evaluate(task: str, preds: Sequence[object], examples: Sequence[Example],
             label_names: Sequence[str]) -> dict[str, float]:
    """All metrics of a task for predictions aligned with examples.

    preds: class ids (sentiment, paraphrase), scores in [0, 5] (similarity) or one tag-id list
    per sentence (NER).
    """
    if task == "ner":
        gold = [[label_names[t] for t in ex.tags] for ex in examples]  # type: ignore[union-attr]
        pred = [[label_names[t] for t in p] for p in preds]  # type: ignore[union-attr]
        prf = metrics.span_prf(pred, gold)
        return {"span_f1": prf["f1"], "precision": prf["precision"], "recall": prf["recall"]}
    gold_l = [ex.label for ex in examples]  # type: ignore[union-attr]
    if task == "similarity":
        p = [float(x) for x in preds]  # type: ignore[arg-type]
        return {"pearson": metrics.pearson(p, gold_l), "spearman": metrics.spearman(p, gold_l)}
    out = {"accuracy": metrics.accuracy(preds, gold_l)}  # type: ignore[arg-type]
    if task == "paraphrase":
        out["f1"] = metrics.binary_f1(preds, gold_l)  # type: ignore[arg-type]
    return out


def baseline(task: str, train: Sequence[Example], val: Sequence[Example],
             label_names: Sequence[str]) -> dict[str, float | str]:
    """The score of a model that ignores the input: the majority class, a constant score, or
    tagging every word `O`. A trained model must beat it to have learned anything."""
    spec = TASK_SPECS[task]
    if task == "ner":
        preds: list[object] = [[0] * len(ex.tokens) for ex in val]  # type: ignore[union-attr]
        name = "every word O"
    elif spec.regression:
        mean = sum(float(ex.label) for ex in train) / max(1, len(train))  # type: ignore[union-attr]
        preds = [mean] * len(val)
        name = f"constant score {mean:.2f}"
    else:
        major = Counter(int(ex.label) for ex in train).most_common(1)[0][0]  # type: ignore[union-attr]
        preds = [major] * len(val)
        name = f"majority class {readable_labels(task, label_names)[major]!r}"
    scores = evaluate(task, preds, val, label_names)
    return {"name": name, "metric": spec.metric, "value": scores[spec.metric]}

